"""The images bullet of issue 2, flag by flag, against podman 4.3 on the same images.

Each check runs the same command line on podpy and podman (each with its own fresh store) and
compares exit code, stdout and stderr; GraphDriver paths (store layouts differ) are left out.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from typing import Any

Run = Callable[..., "subprocess.CompletedProcess[str]"]
Img = Callable[[str], dict[str, Any]]


def _same(podpy_cli: Run, podman: Run, *args: str) -> None:
    ours, theirs = podpy_cli(*args), podman(*args, check=False)
    assert (ours.returncode, ours.stdout) == (theirs.returncode, theirs.stdout), (args, ours.stderr)
    assert ours.stderr == theirs.stderr, args


def _pull_both(podpy_cli: Run, podman: Run, *refs: str) -> None:
    for ref in refs:
        podpy_cli("pull", "-q", "--tls-verify=false", ref, check=True)
        podman("pull", "-q", "--tls-verify=false", ref)


def _no_paths(doc: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for d in doc:
        d.pop("GraphDriver", None)
    return doc


def test_one_image_pulled_through_two_manifests(podpy_cli: Run, podman: Run, img: Img) -> None:
    """busybox:latest (v2s2) and busybox:oci share a config: one image, two names, two digests.

    Row order (a pull puts its name first), Digest (the first pull's), Size (both manifests count),
    RepoDigests and NamesHistory all as podman shows them.
    """
    _pull_both(podpy_cli, podman, img("busybox")["ref"], img("busybox-oci")["ref"])
    for args in (["images"], ["images", "--digests"], ["images", "--history"], ["images", "--no-trunc"], ["images", "-q"], ["images", "--format", "json"]):  # fmt: skip
        _same(podpy_cli, podman, *args)
    ours = _no_paths(json.loads(podpy_cli("image", "inspect", img("busybox")["ref"], check=True).stdout))
    theirs = _no_paths(json.loads(podman("image", "inspect", img("busybox")["ref"]).stdout))
    assert ours == theirs


def test_sort_and_filters_like_podman(podpy_cli: Run, podman: Run, img: Img) -> None:
    refs = [img(n)["ref"] for n in ("busybox", "layered-v2s2", "layered-oci", "multiarch-oci", "special")]
    _pull_both(podpy_cli, podman, *refs)
    fmt = "{{.Repository}}:{{.Tag}} {{.ID}} {{.Size}}"
    for sort in ("created", "id", "repository", "size", "tag"):
        _same(podpy_cli, podman, "images", "--sort", sort)
        _same(podpy_cli, podman, "images", "--sort", sort, "--format", fmt)
    for flt in ("reference=*layered*", "reference=layered", "reference=127.0.0.1:5000/busybox:latest", "dangling=false", "dangling=true", "label=nosuch", "label=podpy.test", f"before={refs[-1]}", f"since={refs[0]}"):  # fmt: skip
        _same(podpy_cli, podman, "images", "--filter", flt)
    _same(podpy_cli, podman, "images", "layered")
    _same(podpy_cli, podman, "images", "-a", "-n", "--format", "table {{.ID}}\t{{.Tag}}")
    ours, theirs = podpy_cli("images", "--sort", "nosuch"), podman("images", "--sort", "nosuch", check=False)
    assert ours.returncode == theirs.returncode == 125
    # podman lists the fields in Go map order (random): compare the set
    head = 'Error: "nosuch" is not a valid field for sorting. Choose from: '
    assert ours.stderr.startswith(head) and theirs.stderr.startswith(head)
    assert sorted(ours.stderr[len(head) :].strip().split(", ")) == sorted(
        theirs.stderr[len(head) :].strip().split(", ")
    )


def test_dangling_image_json_and_prune(podpy_cli: Run, podman: Run, img: Img) -> None:
    _pull_both(podpy_cli, podman, img("busybox")["ref"], img("layered-oci")["ref"])
    for args in (("untag", img("layered-oci")["ref"]), ("images", "--format", "json"), ("images", "-a"), ("images", "--filter", "dangling=true", "--format", "{{.ID}} {{.Dangling}} {{.Names}}"), ("image", "prune", "-f"), ("images", "-a", "-q"), ("image", "prune", "-a", "-f"), ("images", "-a", "-q")):  # fmt: skip
        _same(podpy_cli, podman, *args)


def test_error_texts_like_podman(podpy_cli: Run, podman: Run, img: Img) -> None:
    _pull_both(podpy_cli, podman, img("busybox")["ref"])
    ref = img("busybox")["ref"]
    for args in (("rmi", "nosuch"), ("rmi", "nosuch", "other"), ("rmi", "-i", "nosuch"), ("rmi",), ("rmi", "-a", ref), ("tag", ref, "BAD"), ("tag", "nosuch", "x"), ("untag", "nosuch"), ("image", "exists", "nosuch"), ("image", "inspect", "nosuch"), ("inspect", "--type", "image", "nosuch"), ("history", "nosuch"), ("history", "-H=false", ref), ("history", "--format", "{{.ID}} {{.Size}}", ref)):  # fmt: skip
        _same(podpy_cli, podman, *args)


def test_image_used_by_a_container_needs_force(podpy_cli: Run, img: Img) -> None:
    """A container created from the image (ROOT/state.db) blocks rmi and prune; rmi -f removes both."""
    ref, iid = img("busybox")["ref"], img("busybox")["image_id"]
    podpy_cli("pull", "-q", "--tls-verify=false", ref, check=True)
    run = podpy_cli("run", "--name", "user1", ref, "true")
    assert run.returncode == 0, run.stderr
    assert podpy_cli("images", "--format", "{{.Containers}}", check=True).stdout == "1\n"
    assert podpy_cli("images", "--filter", "containers=true", "-q", check=True).stdout == iid[:12] + "\n"

    refused = podpy_cli("rmi", ref)
    assert refused.returncode == 2
    assert refused.stderr.startswith("Error: image used by ")
    assert refused.stderr.rstrip().endswith(
        "image is in use by a container: consider listing external containers and force-removing image"
    )
    assert podpy_cli("image", "prune", "-a", "-f", check=True).stdout == ""
    assert podpy_cli("images", "-q", check=True).stdout == iid[:12] + "\n"

    forced = podpy_cli("rmi", "-f", ref, check=True)
    assert forced.stdout == f"Untagged: {ref}\nDeleted: {iid}\n"
    assert podpy_cli("images", "-a", "-q", check=True).stdout == ""
    assert podpy_cli("run", "--name", "user1", "--rm", ref, "true").returncode != 0  # image gone
    # the container went with the image: its name is free again once the image is back
    podpy_cli("pull", "-q", "--tls-verify=false", ref, check=True)
    again = podpy_cli("run", "--name", "user1", "--rm", ref, "true")
    assert again.returncode == 0, again.stderr
