"""images / inspect / history / tag / untag / rmi / prune / exists, compared with podman's output."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from typing import Any

Run = Callable[..., "subprocess.CompletedProcess[str]"]


def _cols(header: str) -> list[str]:
    return re.split(r"\s{2,}", header.strip())


def test_images_inspect_history_like_podman(
    podpy_cli: Run, podman: Run, img: Callable[[str], dict[str, Any]]
) -> None:
    i = img("layered-v2s2")
    podpy_cli("pull", "-q", "--tls-verify=false", i["ref"], check=True)
    podman("pull", "-q", "--tls-verify=false", i["ref"])

    for args in (["images"], ["images", "--digests"], ["images", "--no-trunc"], ["images", "--format", "{{.ID}} {{.Repository}} {{.Tag}} {{.Digest}} {{.Size}} {{.Created}}"], ["images", "--format", "table {{.ID}}\t{{.Repository}}\t{{.Size}}"], ["images", "-q"], ["images", "--format", "{{.Names}} {{.Dangling}} {{.Labels}}"]):  # fmt: skip
        ours, theirs = podpy_cli(*args, check=True).stdout, podman(*args).stdout
        assert ours == theirs, args

    ours = json.loads(podpy_cli("image", "inspect", i["ref"], check=True).stdout)[0]
    theirs = json.loads(podman("image", "inspect", i["ref"]).stdout)[0]
    assert list(ours) == list(theirs)
    for k in ("Id", "Digest", "RepoTags", "RepoDigests", "Created", "Config", "Author", "Architecture", "Os", "Size", "VirtualSize", "RootFS", "Labels", "Annotations", "ManifestType", "User", "History", "NamesHistory", "Comment", "Version", "Parent"):  # fmt: skip
        assert ours[k] == theirs[k], k
    assert ours["GraphDriver"]["Name"] == "overlay"

    fmt = (
        '{{.Id}} {{.Config.Cmd}} {{.Config.Volumes}} {{index .Labels "podpy.test"}} {{.Os}}/{{.Architecture}}'
    )
    assert (
        podpy_cli("inspect", "--format", fmt, i["ref"], check=True).stdout
        == podman("inspect", "--format", fmt, i["ref"]).stdout
    )
    # raw JSON text identical apart from GraphDriver paths
    o = podpy_cli("image", "inspect", i["ref"], check=True).stdout.splitlines()
    t = podman("image", "inspect", i["ref"]).stdout.splitlines()
    assert [x for x in o if 'Dir"' not in x] == [x for x in t if 'Dir"' not in x]

    for args in (["history"], ["history", "--no-trunc"], ["history", "-q"], ["history", "--human=false"], ["history", "--format", "json"], ["history", "--format", "{{.ID}}|{{.CreatedBy}}|{{.Size}}|{{.Comment}}"]):  # fmt: skip
        ours_h, theirs_h = podpy_cli(*args, i["ref"], check=True).stdout, podman(*args, i["ref"]).stdout
        assert ours_h == theirs_h, args


def test_tag_untag_rmi_prune_exists_like_podman(
    podpy_cli: Run, podman: Run, img: Callable[[str], dict[str, Any]]
) -> None:
    i = img("busybox")
    for tool in (podpy_cli, podman):
        tool("pull", "-q", "--tls-verify=false", i["ref"], check=True)
    script: list[tuple[str, ...]] = [
        ("tag", i["ref"], "a", "quay.io/x/b:2"),
        ("images", "--format", "{{.Repository}} {{.Tag}}"),
        ("image", "exists", "a"),
        ("image", "exists", "nope"),
        ("untag", i["ref"], "a"),
        ("untag", i["ref"], "a"),
        ("tag", i["ref"]),
        ("rmi", i["image_id"]),
        ("rmi", "quay.io/x/b:2"),
        ("rmi", "nope"),
        ("untag", i["ref"]),
        ("images", "--format", "{{.Repository}} {{.Tag}} {{.Dangling}}"),
        ("images", "--filter", "dangling=true", "-q"),
        ("image", "prune", "-f"),
        ("images", "-q"),
    ]
    for cmd in script:
        ours = podpy_cli(*cmd)
        theirs = podman(*cmd, check=False)
        assert (ours.returncode, ours.stdout) == (theirs.returncode, theirs.stdout), cmd
        assert ours.stderr.strip() == theirs.stderr.strip(), cmd


def test_rmi_all_messages(podpy_cli: Run, img: Callable[[str], dict[str, Any]]) -> None:
    a, b = img("busybox"), img("layered-oci")
    podpy_cli("pull", "-q", "--tls-verify=false", a["ref"], check=True)
    podpy_cli("pull", "-q", "--tls-verify=false", b["ref"], check=True)
    out = podpy_cli("rmi", "-a", check=True).stdout.splitlines()
    assert sorted(out) == sorted(
        [
            f"Untagged: {a['ref']}",
            f"Untagged: {b['ref']}",
            f"Deleted: {a['image_id']}",
            f"Deleted: {b['image_id']}",
        ]
    )
    assert podpy_cli("images", "-q", check=True).stdout == ""


def test_index_pull_digest_like_podman(
    podpy_cli: Run, podman: Run, img: Callable[[str], dict[str, Any]]
) -> None:
    m = img("multiarch-oci")
    podpy_cli("pull", "-q", "--tls-verify=false", m["ref"], check=True)
    podman("pull", "-q", "--tls-verify=false", m["ref"])
    fmt = "{{.Id}} {{.Digest}} {{.RepoDigests}} {{.Size}} {{.Architecture}}"
    ours = podpy_cli("image", "inspect", "--format", fmt, m["ref"], check=True).stdout
    assert ours == podman("image", "inspect", "--format", fmt, m["ref"]).stdout
    assert m["manifest_digest"] in ours.split()[1]  # the index digest, as podman reports it
    args = ("images", "--digests", "--format", "{{.Digest}} {{.Size}} {{.ID}}")
    assert podpy_cli(*args, check=True).stdout == podman(*args).stdout
