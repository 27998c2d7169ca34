"""How `podpy push` talks to a real registry: chunked uploads, mounts under bearer auth, and interop.

Every claim is checked in the registry's own access log (or the token issuer's counters), not in
podpy's output: a PATCH that podpy says it sent but the registry never saw would fail here.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.system.transfer.conftest import Run

pytestmark = [pytest.mark.rootless, pytest.mark.registry]


def _repo() -> str:
    return f"ha/{uuid.uuid4().hex[:10]}"


def _requests(testenv: dict[str, Any], registry: str, repository: str) -> list[tuple[str, str, int]]:
    """(method, path, status) of every request for ``/v2/REPOSITORY/blobs/`` in the registry's access log."""
    log = Path(testenv["root"]) / "registries" / f"{registry}.log"
    pat = re.compile(rf'"([A-Z]+) (/v2/{re.escape(repository)}/blobs/[^ ]*) HTTP/1\.1" (\d+)')
    return [
        (m.group(1), m.group(2), int(m.group(3)))
        for line in log.read_text(errors="replace").splitlines()
        if (m := pat.search(line))
    ]


def _log_lines(testenv: dict[str, Any], registry: str, method: str, repository: str) -> list[str]:
    """Access-log request lines of the registry ``registry`` for ``method /v2/REPOSITORY/blobs/uploads``."""
    return [
        f'"{m} {path} HTTP/1.1" {status}'
        for m, path, status in _requests(testenv, registry, repository)
        if m == method and path.startswith(f"/v2/{repository}/blobs/uploads/")
    ]


def _layer_sizes(skopeo: Run, ref: str, *creds: str) -> list[int]:
    raw = skopeo("inspect", "--raw", "--tls-verify=false", *creds, f"docker://{ref}").stdout
    return [layer["size"] for layer in json.loads(raw)["layers"]]


def test_chunked_upload_is_used_above_the_threshold_and_readable_by_everyone(
    podpy_cli: Run,
    imported: str,
    testenv: dict[str, Any],
    skopeo: Run,
    podman: Run,
    second_root: list[str],
    tmp_path: Path,
) -> None:
    host = testenv["registries"]["open"]["host"]
    chunk = 256 * 1024
    env = {"PODPY_PUSH_MONOLITHIC_LIMIT": str(64 * 1024), "PODPY_PUSH_CHUNK_SIZE": str(chunk)}
    repository = _repo()
    ref = f"{host}/{repository}:chunked"
    dfile = tmp_path / "digest"
    podpy_cli("push", "-q", "--tls-verify=false", "--digestfile", dfile, "bb:1", ref, env=env, check=True)
    (size,) = _layer_sizes(skopeo, ref)
    assert size > 64 * 1024  # the layer is above the threshold, the config (a few hundred bytes) below
    patches = _log_lines(testenv, "open", "PATCH", repository)
    assert len(patches) == math.ceil(size / chunk) >= 2
    assert all(line.endswith('" 202') for line in patches)
    puts = _log_lines(testenv, "open", "PUT", repository)
    assert len(puts) == 2 and all("digest=sha256" in p and p.endswith('" 201') for p in puts)
    # every blob was looked for (HEAD, 404) before its upload started
    seen = _requests(testenv, "open", repository)
    heads = [i for i, (m, _, status) in enumerate(seen) if m == "HEAD" and status == 404]
    posts = [i for i, (m, _, _) in enumerate(seen) if m == "POST"]
    assert len(heads) == len(posts) == 2 and heads[0] < posts[0] and heads[1] < posts[1]
    # skopeo, podman and podpy (in another store) all read what was pushed in chunks
    assert json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{ref}").stdout)["Digest"] == (
        dfile.read_text()
    )
    podman("pull", "-q", "--tls-verify=false", ref)
    assert podman("image", "inspect", "--format", "{{.Id}}", ref).stdout.strip() == imported
    p = podpy_cli(*second_root, "pull", "-q", "--tls-verify=false", ref, check=True)
    assert p.stdout.strip() == imported

    # below the threshold (the default is 32 MiB): one monolithic PUT per blob, no PATCH at all
    plain = _repo()
    podpy_cli("push", "-q", "--tls-verify=false", "bb:1", f"{host}/{plain}:1", check=True)
    assert _log_lines(testenv, "open", "PATCH", plain) == []
    assert len(_log_lines(testenv, "open", "PUT", plain)) == 2


def test_mount_from_another_repository_under_bearer_auth(
    podpy_cli: Run, busybox_tar: Path, testenv: dict[str, Any], token_issuer: Any, skopeo: Run
) -> None:
    reg = testenv["registries"]["token"]
    creds = f"{reg['username']}:{reg['password']}"
    src, dst = _repo(), _repo()
    podpy_cli("import", "-q", str(busybox_tar), f"{reg['host']}/{src}:1", check=True)
    podpy_cli("push", "-q", "--tls-verify=false", "--creds", creds, f"{reg['host']}/{src}:1", check=True)
    token_issuer.reset()
    p = podpy_cli(
        "push", "--tls-verify=false", "--creds", creds, f"{reg['host']}/{src}:1", f"{reg['host']}/{dst}:1"
    )
    assert p.returncode == 0, p.stderr
    mounts = _log_lines(testenv, "token", "POST", dst)
    assert len(mounts) == 2 and all("mount=sha256" in m and m.endswith('" 201') for m in mounts)
    assert _log_lines(testenv, "token", "PUT", dst) == [] and _log_lines(testenv, "token", "PATCH", dst) == []
    scopes = token_issuer.stats()["by_scope"]
    assert scopes.get(f"repository:{dst}:pull,push") and scopes.get(f"repository:{src}:pull"), scopes
    c = ("--creds", creds)
    assert _layer_sizes(skopeo, f"{reg['host']}/{dst}:1", *c) == _layer_sizes(
        skopeo, f"{reg['host']}/{src}:1", *c
    )


# (not layered-docker-archive: skopeo 1.9 copies its uncompressed layer as "tar+gzip" once its blob
# cache has seen that digest, a manifest no client can read)
@pytest.mark.parametrize("archive", ["busybox-oci-archive", "layered-oci-archive"])
def test_podpy_pulls_what_skopeo_pushed(
    podpy_cli: Run, testenv: dict[str, Any], skopeo: Run, archive: str
) -> None:
    arch = testenv["archives"][archive]
    ref = f"{testenv['registries']['open']['host']}/{_repo()}:1"
    skopeo("copy", "-q", "--dest-tls-verify=false", f"{arch['format']}:{arch['path']}", f"docker://{ref}")
    p = podpy_cli("pull", "-q", "--tls-verify=false", ref, check=True)
    assert p.stdout.strip() == arch["image_id"]
    digest = json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{ref}").stdout)["Digest"]
    info = json.loads(podpy_cli("image", "inspect", ref, check=True).stdout)[0]
    assert f"{ref.rsplit(':', 1)[0]}@{digest}" in info["RepoDigests"]


def test_push_errors_are_one_podman_like_line(podpy_cli: Run, imported: str, testenv: dict[str, Any]) -> None:
    p = podpy_cli("push", "--tls-verify=false", "bb:1", "127.0.0.1:1/ha/x:1")
    assert p.returncode == 125
    assert p.stderr.strip().splitlines()[-1] == (
        'Error: pinging container registry 127.0.0.1:1: Get "http://127.0.0.1:1/v2/": '
        "dial tcp 127.0.0.1:1: connect: connection refused"
    )
    for key in ("basic", "token"):
        host = testenv["registries"][key]["host"]
        p = podpy_cli(
            "push", "-q", "--tls-verify=false", "--creds", "testuser:wrong", "bb:1", f"{host}/ha/x:1"
        )
        assert p.returncode == 125
        lines = p.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: ") and "invalid username/password" in lines[0]
        assert not re.search(r"\b(\w+): \1\b", lines[0].lower()), lines[0]  # no "unauthorized: unauthorized"
        assert "Errno" not in lines[0] and "(" + "'" not in lines[0]
