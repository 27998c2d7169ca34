"""`podpy push` against the real test registries, read back with skopeo and podman."""

from __future__ import annotations

import base64
import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.system.transfer.conftest import Run

pytestmark = [pytest.mark.rootless, pytest.mark.registry]

ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"


def repo(prefix: str = "h6") -> str:
    return f"{prefix}/{uuid.uuid4().hex[:10]}"


def raw_manifest(skopeo: Run, ref: str, *creds: str) -> dict[str, Any]:
    return json.loads(skopeo("inspect", "--raw", "--tls-verify=false", *creds, f"docker://{ref}").stdout)


def uploads_in_log(testenv: dict[str, Any], name: str, repository: str) -> int:
    log = Path(testenv["root"]) / "registries" / f"{name}.log"
    pat = re.compile(rf'"(?:PUT|POST|PATCH) /v2/{re.escape(repository)}/blobs/uploads')
    return sum(1 for line in log.read_text(errors="replace").splitlines() if pat.search(line))


def test_push_open_registry_digestfile_and_interop(
    podpy_cli: Run, imported: str, testenv: dict[str, Any], tmp_path: Path, skopeo: Run, podman: Run
) -> None:
    host = testenv["registries"]["open"]["host"]
    ref = f"{host}/{repo()}:1"
    dfile = tmp_path / "digest"
    p = podpy_cli("push", "--tls-verify=false", "--digestfile", dfile, "bb:1", ref, check=True)
    assert p.stderr.splitlines()[0] == "Getting image source signatures"
    assert "Writing manifest to image destination" in p.stderr
    info = json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{ref}").stdout)
    assert dfile.read_text() == info["Digest"]
    podman("pull", "-q", "--tls-verify=false", f"{ref.rsplit(':', 1)[0]}@{info['Digest']}")
    assert (
        podman(
            "image", "inspect", "--format", "{{.Id}}", ref.rsplit(":", 1)[0] + "@" + info["Digest"]
        ).stdout.strip()
        == imported
    )


@pytest.mark.parametrize(
    ("fmt", "media_type", "layer_type"),
    [
        ("oci", "application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.layer.v1.tar+gzip"),
        (
            "v2s2",
            "application/vnd.docker.distribution.manifest.v2+json",
            "application/vnd.docker.image.rootfs.diff.tar.gzip",
        ),
    ],
)
def test_push_format(
    podpy_cli: Run,
    imported: str,
    testenv: dict[str, Any],
    skopeo: Run,
    fmt: str,
    media_type: str,
    layer_type: str,
) -> None:
    ref = f"{testenv['registries']['open']['host']}/{repo()}:{fmt}"
    podpy_cli("push", "-q", "--tls-verify=false", "--format", fmt, "bb:1", ref, check=True)
    m = raw_manifest(skopeo, ref)
    assert m["mediaType"] == media_type
    assert [layer["mediaType"] for layer in m["layers"]] == [layer_type]
    assert m["config"]["digest"] == f"sha256:{imported}"


def test_push_zstd_reads_back_with_skopeo(
    podpy_cli: Run, imported: str, testenv: dict[str, Any], skopeo: Run, tmp_path: Path
) -> None:
    ref = f"{testenv['registries']['open']['host']}/{repo()}:zstd"
    podpy_cli("push", "-q", "--tls-verify=false", "--compression-format", "zstd", "bb:1", ref, check=True)
    m = raw_manifest(skopeo, ref)
    assert m["mediaType"] == "application/vnd.oci.image.manifest.v1+json"
    assert [layer["mediaType"] for layer in m["layers"]] == [ZSTD]
    skopeo("copy", "--src-tls-verify=false", f"docker://{ref}", f"oci:{tmp_path / 'copy'}:x")
    blob = tmp_path / "copy" / "blobs" / "sha256" / m["layers"][0]["digest"].split(":")[1]
    assert blob.read_bytes()[:4] == b"\x28\xb5\x2f\xfd"
    p = podpy_cli(
        "push", "--tls-verify=false", "--format", "v2s2", "--compression-format", "zstd", "bb:1", ref
    )
    assert p.returncode == 125 and "--format oci" in p.stderr


def test_push_twice_uploads_nothing_the_second_time(
    podpy_cli: Run, imported: str, testenv: dict[str, Any]
) -> None:
    repository = repo()
    ref = f"{testenv['registries']['open']['host']}/{repository}:1"
    first = podpy_cli("push", "--tls-verify=false", "bb:1", ref, check=True)
    assert re.search(r"Copying blob sha256:[0-9a-f]{64} done", first.stderr)
    before = uploads_in_log(testenv, "open", repository)
    assert before > 0
    second = podpy_cli("push", "--tls-verify=false", "bb:1", ref, check=True)
    blob_lines = [line for line in second.stderr.splitlines() if line.startswith("Copying blob")]
    assert blob_lines and all(line.endswith("skipped: already exists") for line in blob_lines)
    assert uploads_in_log(testenv, "open", repository) == before


def test_push_basic_auth(
    podpy_cli: Run, imported: str, testenv: dict[str, Any], skopeo: Run, tmp_path: Path
) -> None:
    reg = testenv["registries"]["basic"]
    ref = f"{reg['host']}/{repo()}:1"
    creds = f"{reg['username']}:{reg['password']}"
    p = podpy_cli("push", "-q", "--tls-verify=false", "bb:1", ref)
    assert p.returncode == 125 and "podpy login" in p.stderr
    p = podpy_cli("push", "-q", "--tls-verify=false", "--creds", f"{reg['username']}:wrong", "bb:1", ref)
    assert p.returncode == 125 and "invalid username/password" in p.stderr
    podpy_cli("push", "-q", "--tls-verify=false", "--creds", creds, "bb:1", ref, check=True)
    assert raw_manifest(skopeo, ref, "--creds", creds)["config"]["digest"] == f"sha256:{imported}"
    # the same credentials from an auth file
    authfile = tmp_path / "auth.json"
    authfile.write_text(
        json.dumps({"auths": {reg["host"]: {"auth": base64.b64encode(creds.encode()).decode()}}})
    )
    ref2 = f"{reg['host']}/{repo()}:2"
    podpy_cli("push", "-q", "--tls-verify=false", "--authfile", authfile, "bb:1", ref2, check=True)
    assert raw_manifest(skopeo, ref2, "--creds", creds)["config"]["digest"] == f"sha256:{imported}"


def test_push_token_auth_and_podman_pull(
    podpy_cli: Run, imported: str, testenv: dict[str, Any], skopeo: Run, podman: Run, tmp_path: Path
) -> None:
    reg = testenv["registries"]["token"]
    ref = f"{reg['host']}/{repo()}:1"
    creds = f"{reg['username']}:{reg['password']}"
    p = podpy_cli("push", "-q", "--tls-verify=false", "bb:1", ref)
    assert p.returncode == 125 and "denied" in p.stderr
    dfile = tmp_path / "d"
    podpy_cli(
        "push", "-q", "--tls-verify=false", "--creds", creds, "--digestfile", dfile, "bb:1", ref, check=True
    )
    podman("pull", "-q", "--tls-verify=false", "--creds", creds, ref)
    got = podman("image", "inspect", "--format", "{{.Id}} {{.Digest}}", ref).stdout.split()
    assert got == [imported, dfile.read_text()]


def test_push_refusals(podpy_cli: Run, imported: str) -> None:
    p = podpy_cli("push", "--format", "v2s1", "bb:1", "127.0.0.1:5000/x:1")
    assert p.returncode == 125 and "v2s1" in p.stderr
    p = podpy_cli("push", "bb:1")  # localhost/bb:1 has no registry to go to
    assert p.returncode == 125 and "local-only" in p.stderr
    p = podpy_cli("push", "--sign-by", "me", "bb:1", "127.0.0.1:5000/x:1")
    assert p.returncode != 0 and "sign-by" in p.stderr
    p = podpy_cli("push", "--tls-verify=false", "nosuch:image", "127.0.0.1:5000/x:1")
    assert p.returncode == 125 and "image not known" in p.stderr


def test_push_mounts_blobs_from_a_known_source_repository(
    podpy_cli: Run, busybox_tar: Path, testenv: dict[str, Any], skopeo: Run
) -> None:
    host = testenv["registries"]["open"]["host"]
    src, dst = repo(), repo()
    podpy_cli("import", "-q", str(busybox_tar), f"{host}/{src}:1", check=True)
    podpy_cli("push", "-q", "--tls-verify=false", f"{host}/{src}:1", check=True)  # DESTINATION = its own name
    p = podpy_cli("push", "--tls-verify=false", f"{host}/{src}:1", f"{host}/{dst}:1", check=True)
    log = (Path(testenv["root"]) / "registries" / "open.log").read_text(errors="replace")
    assert re.search(rf'"POST /v2/{re.escape(dst)}/blobs/uploads/\?(?:from=[^ ]*&)?mount=sha256', log)
    assert not re.search(
        rf'"PUT /v2/{re.escape(dst)}/blobs/uploads', log.split(f"/v2/{dst}/blobs/uploads/?", 1)[1]
    )
    assert "skipped: already exists" in p.stderr
    assert raw_manifest(skopeo, f"{host}/{dst}:1") == raw_manifest(skopeo, f"{host}/{src}:1")


def test_push_to_archive_transports(podpy_cli: Run, imported: str, tmp_path: Path, skopeo: Run) -> None:
    podpy_cli("push", "-q", "bb:1", f"oci-archive:{tmp_path / 'o.tar'}", check=True)
    podpy_cli("push", "-q", "bb:1", f"docker-archive:{tmp_path / 'd.tar'}", check=True)
    for t in ("oci-archive", "docker-archive"):
        path = tmp_path / ("o.tar" if t == "oci-archive" else "d.tar")
        cfg = json.loads(skopeo("inspect", "--config", f"{t}:{path}").stdout)
        assert cfg["rootfs"]["diff_ids"]
    p = podpy_cli("push", "bb:1", "dir:/tmp/x")
    assert p.returncode == 125 and "unsupported destination" in p.stderr


def test_push_v2s2_recompresses_zstd_and_uncompressed_layers(
    podpy_cli: Run, testenv: dict[str, Any], skopeo: Run, podman: Run
) -> None:
    arch = testenv["archives"]["layered-oci-archive"]
    image = testenv["images"][arch["image"]]
    assert {layer["compression"] for layer in image["layers"]} >= {"zstd", "none"}
    podpy_cli("load", "-q", "-i", arch["path"], check=True)
    ref = f"{testenv['registries']['open']['host']}/{repo()}:v2s2"
    podpy_cli("push", "-q", "--tls-verify=false", "--format", "v2s2", "localhost/layered", ref, check=True)
    m = raw_manifest(skopeo, ref)
    assert m["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert {layer["mediaType"] for layer in m["layers"]} == {
        "application/vnd.docker.image.rootfs.diff.tar.gzip"
    }
    assert m["layers"][0]["digest"] == image["layers"][0]["digest"]  # gzip layer pushed as stored
    podman("pull", "-q", "--tls-verify=false", ref)
    assert podman("image", "inspect", "--format", "{{.Id}}", ref).stdout.strip() == arch["image_id"]
