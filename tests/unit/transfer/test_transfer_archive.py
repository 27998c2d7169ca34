"""Archive reading/writing without a store: round trips and hostile archives."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from podpy.spec import mediatypes as mt
from podpy.store.archive import ImageToWrite, LayerToWrite, read_archive, write_archive
from podpy.util.errors import InvalidInput


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def make_layer(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def make_image(
    tmp_path: Path, names: list[str], content: bytes = b"hello", compress: bool = True
) -> ImageToWrite:
    tar = make_layer({"etc/hello": content})
    blob = gzip.compress(tar, mtime=0) if compress else tar
    p = tmp_path / f"blob-{hashlib.sha256(blob).hexdigest()[:8]}"
    p.write_bytes(blob)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["sh"]},
            "rootfs": {"type": "layers", "diff_ids": [sha(tar)]},
        }
    ).encode()
    layer = LayerToWrite(
        sha(blob),
        len(blob),
        mt.DOCKER_LAYER_GZIP if compress else mt.DOCKER_LAYER,
        sha(tar),
        lambda: open(p, "rb"),  # noqa: SIM115
    )
    return ImageToWrite(names=names, config=config, layers=[layer])


@pytest.mark.parametrize("fmt", ["docker-archive", "oci-archive", "oci-dir"])
def test_round_trip_keeps_ids_and_names(tmp_path: Path, fmt: str) -> None:
    a = make_image(tmp_path, ["docker.io/library/a:1"], b"a")
    b = make_image(tmp_path, ["localhost/b:latest"], b"b", compress=False)
    out = tmp_path / "out"
    write_archive([a, b], fmt, out, tmp_path / "tmp")
    with read_archive(out, tmp_path / "tmp") as arch:
        assert arch.format == ("oci-dir" if fmt == "oci-dir" else fmt)
        got = {tuple(i.names): i for i in arch.images}
        assert set(got) == {("docker.io/library/a:1",), ("localhost/b:latest",)}
        ia = got[("docker.io/library/a:1",)]
        assert ia.config_digest == a.config_digest
        assert [layer.diff_id for layer in ia.layers] == [a.layers[0].diff_id]
        if fmt == "docker-archive":  # docker-archive layers are uncompressed tars named by diff ID
            assert ia.layers[0].compression == "none"
            assert ia.manifest_media_type == mt.DOCKER_MANIFEST
        else:
            assert ia.layers[0].digest == a.layers[0].digest
            assert json.loads(ia.manifest)["mediaType"] == mt.OCI_MANIFEST


def test_docker_archive_layout_matches_podman(tmp_path: Path) -> None:
    img = make_image(tmp_path, ["localhost/x:1"])
    out = tmp_path / "x.tar"
    write_archive([img], "docker-archive", out, tmp_path)
    with tarfile.open(out) as tf:
        names = set(tf.getnames())
        manifest = json.load(tf.extractfile("manifest.json"))  # type: ignore[arg-type]
        repos = json.load(tf.extractfile("repositories"))  # type: ignore[arg-type]
    chex = img.config_digest.split(":")[1]
    lhex = img.layers[0].diff_id.split(":")[1]
    assert names == {"manifest.json", "repositories", f"{chex}.json", f"{lhex}.tar"}
    assert manifest == [{"Config": f"{chex}.json", "RepoTags": ["localhost/x:1"], "Layers": [f"{lhex}.tar"]}]
    assert repos == {"localhost/x": {"1": lhex}}


def test_gzip_compressed_archive_loads(tmp_path: Path) -> None:
    img = make_image(tmp_path, ["localhost/x:1"])
    out = tmp_path / "x.tar"
    write_archive([img], "oci-archive", out, tmp_path)
    gz = tmp_path / "x.tar.gz"
    gz.write_bytes(gzip.compress(out.read_bytes()))
    with read_archive(gz, tmp_path / "t") as arch:
        assert arch.images[0].config_digest == img.config_digest


def test_stream_from_stdin_like_pipe(tmp_path: Path) -> None:
    img = make_image(tmp_path, ["localhost/x:1"])
    out = tmp_path / "x.tar"
    write_archive([img], "docker-archive", out, tmp_path)

    class Pipe(io.RawIOBase):  # no seek, no peek: like sys.stdin.buffer on a pipe
        def __init__(self, data: bytes) -> None:
            self.b = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, buf: bytearray) -> int:  # type: ignore[override]
            n = self.b.readinto(buf)
            return n

    with read_archive(Pipe(out.read_bytes()), tmp_path / "t") as arch:  # type: ignore[arg-type]
        assert arch.images[0].names == ["localhost/x:1"]


def test_write_to_stream(tmp_path: Path) -> None:
    img = make_image(tmp_path, ["localhost/x:1"])
    buf = io.BytesIO()
    write_archive([img], "docker-archive", None, tmp_path, stream=buf)
    buf.seek(0)
    with read_archive(buf, tmp_path / "t") as arch:
        assert arch.images[0].config_digest == img.config_digest


def test_failed_write_leaves_nothing(tmp_path: Path) -> None:
    img = make_image(tmp_path, ["localhost/x:1"])
    bad = LayerToWrite(
        "sha256:" + "0" * 64,
        10,
        mt.DOCKER_LAYER_GZIP,
        "sha256:" + "1" * 64,
        lambda: open(tmp_path / "missing", "rb"),  # noqa: SIM115
    )
    img.layers.append(bad)
    out = tmp_path / "out" / "x.tar"
    with pytest.raises(FileNotFoundError):
        write_archive([img], "docker-archive", out, tmp_path)
    assert not out.parent.exists() or list(out.parent.iterdir()) == []
    with pytest.raises(FileNotFoundError):
        write_archive([img], "oci-dir", tmp_path / "dir", tmp_path)
    assert not (tmp_path / "dir").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".dir.")]


# ------------------------------------------------------------------------------- hostile archives


def tar_of(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for ti, data in members:
            if data is not None:
                ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def reg(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), data


def docker_archive(tmp_path: Path) -> bytes:
    img = make_image(tmp_path, ["localhost/x:1"])
    out = tmp_path / "good.tar"
    write_archive([img], "docker-archive", out, tmp_path)
    return out.read_bytes()


def read_bytes(tmp_path: Path, data: bytes) -> None:
    p = tmp_path / "in.tar"
    p.write_bytes(data)
    read_archive(p, tmp_path / "work").cleanup()


@pytest.mark.parametrize("name", ["../x", "a/../../x", "/etc/passwd"])
def test_escaping_member_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(InvalidInput, match="escapes|absolute"):
        read_bytes(tmp_path, tar_of([reg(name, b"x")]))
    assert list((tmp_path / "work").iterdir()) == []


def test_escaping_symlink_refused(tmp_path: Path) -> None:
    ti = tarfile.TarInfo("manifest.json")
    ti.type = tarfile.SYMTYPE
    ti.linkname = "../../etc/passwd"
    with pytest.raises(InvalidInput, match="escapes"):
        read_bytes(tmp_path, tar_of([(ti, None)]))


def test_device_member_refused(tmp_path: Path) -> None:
    ti = tarfile.TarInfo("dev")
    ti.type = tarfile.CHRTYPE
    with pytest.raises(InvalidInput, match="not a regular file"):
        read_bytes(tmp_path, tar_of([(ti, None)]))


def test_huge_manifest_refused(tmp_path: Path) -> None:
    big = b"[" + b" " * (4 * 1024 * 1024) + b"]"
    with pytest.raises(InvalidInput, match="over the 4194304 byte limit"):
        read_bytes(tmp_path, tar_of([reg("manifest.json", big)]))


def test_layer_diff_id_mismatch_refused(tmp_path: Path) -> None:
    good = docker_archive(tmp_path)
    members = []
    with tarfile.open(fileobj=io.BytesIO(good)) as tf:
        for m in tf.getmembers():
            data = tf.extractfile(m).read()  # type: ignore[union-attr]
            if m.name.endswith(".tar"):
                data = make_layer({"etc/hello": b"evil!"})
            members.append(reg(m.name, data))
    with pytest.raises(InvalidInput, match="does not match its diff ID"):
        read_bytes(tmp_path, tar_of(members))


def test_oci_blob_digest_mismatch_refused(tmp_path: Path) -> None:
    img = make_image(tmp_path, ["localhost/x:1"])
    d = tmp_path / "layout"
    write_archive([img], "oci-dir", d, tmp_path)
    blob = d / "blobs" / "sha256" / img.layers[0].digest.split(":")[1]
    data = bytearray(blob.read_bytes())
    data[-9] ^= 0xFF  # same size, other bytes
    blob.chmod(0o644)
    blob.write_bytes(bytes(data))
    with pytest.raises(InvalidInput, match="does not match its content"):
        read_archive(d, tmp_path / "w")


def test_oci_descriptor_size_lie_refused(tmp_path: Path) -> None:
    img = make_image(tmp_path, ["localhost/x:1"])
    d = tmp_path / "layout"
    write_archive([img], "oci-dir", d, tmp_path)
    index = json.loads((d / "index.json").read_text())
    index["manifests"][0]["size"] += 1
    (d / "index.json").chmod(0o644)
    (d / "index.json").write_text(json.dumps(index))
    with pytest.raises(InvalidInput, match="descriptor says"):
        read_archive(d, tmp_path / "w")


@pytest.mark.parametrize("digest", ["sha256:../../etc", "sha256:" + "A" * 64])
def test_bad_digest_strings_refused(tmp_path: Path, digest: str) -> None:
    index = {"schemaVersion": 2, "manifests": [{"mediaType": mt.OCI_MANIFEST, "digest": digest, "size": 2}]}
    data = tar_of(
        [reg("oci-layout", b'{"imageLayoutVersion": "1.0.0"}'), reg("index.json", json.dumps(index).encode())]
    )
    with pytest.raises(InvalidInput, match="invalid digest"):
        read_bytes(tmp_path, data)


def test_garbage_and_truncated_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput):
        read_bytes(tmp_path, b"this is not a tar file at all" * 100)
    good = gzip.compress(docker_archive(tmp_path))
    with pytest.raises(InvalidInput):
        read_bytes(tmp_path, good[: len(good) // 2])


def test_duplicate_member_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="twice"):
        read_bytes(tmp_path, tar_of([reg("manifest.json", b"[]"), reg("./manifest.json", b"[]")]))


def test_not_an_image_archive(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="neither a docker-archive"):
        read_bytes(tmp_path, tar_of([reg("etc/passwd", b"root:x:0:0")]))


def test_stale_workdirs_of_dead_readers_are_removed(tmp_path: Path) -> None:
    import os
    import subprocess

    p = subprocess.Popen(["true"])
    p.wait()
    stale = tmp_path / f"archive-{p.pid}-abc"
    live = tmp_path / f"archive-{os.getpid()}-def"
    stale.mkdir()
    live.mkdir()
    (stale / "m1").write_bytes(b"x")
    img = make_image(tmp_path, ["localhost/x:1"])
    write_archive([img], "docker-archive", tmp_path / "a.tar", tmp_path)
    read_archive(tmp_path / "a.tar", tmp_path).cleanup()
    assert not stale.exists()
    assert live.exists()
    assert not [d for d in tmp_path.iterdir() if d.name.startswith("archive-") and d != live]
