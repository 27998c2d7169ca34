"""`podpy save`, `load` and `import` as a user types them, and interop with podman/skopeo both ways."""

from __future__ import annotations

import gzip
import io
import json
import os
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

from tests.system.transfer.conftest import Run, store_is_empty, tar_json

pytestmark = pytest.mark.rootless


def podpy_pipe(podpy_root: Any, args: list[str], data: bytes) -> subprocess.CompletedProcess[bytes]:
    """Run podpy with binary stdin (the podpy_cli fixture is text-only)."""
    env = dict(os.environ)
    tree = Path(__file__).resolve().parents[3]
    env["PYTHONPATH"] = str(tree)
    env["XDG_CONFIG_HOME"] = str(podpy_root.config_home)
    cmd = ["python", "-m", "podpy", *podpy_root.args, *args]
    return subprocess.run(cmd, input=data, capture_output=True, env=env, timeout=300)


def test_import_with_changes_gives_matching_config(
    podpy_cli: Run, imported: str, tmp_path: Path, skopeo: Run
) -> None:
    out = tmp_path / "bb.tar"
    podpy_cli("save", "-q", "-o", out, "bb:1", check=True)
    manifest = tar_json(out, "manifest.json")
    assert manifest[0]["RepoTags"] == ["localhost/bb:1"]
    assert manifest[0]["Config"] == f"{imported}.json"
    cfg = json.loads(skopeo("inspect", "--config", f"docker-archive:{out}").stdout)
    assert cfg["config"]["Cmd"] == ["/bin/sh"]
    assert cfg["config"]["Env"] == ["A=1"]
    assert cfg["os"] == "linux" and cfg["architecture"]
    assert cfg["history"][0]["comment"] == "imported from tarball"


def test_import_from_stdin_and_compressed(podpy_root: Any, busybox_tar: Path, podpy_cli: Run) -> None:
    data = gzip.compress(busybox_tar.read_bytes(), compresslevel=1)
    proc = podpy_pipe(podpy_root, ["import", "-q", "-m", "from stdin", "-", "piped"], data)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode().startswith("sha256:")
    # the same layer content as the plain file: one layer whose diff ID is the plain tar's sha256
    out = podpy_root.root.parent / "piped.tar"
    podpy_cli("save", "-q", "-o", out, "piped", check=True)
    entry = tar_json(out, "manifest.json")[0]
    assert entry["RepoTags"] == ["localhost/piped:latest"]
    import hashlib

    assert entry["Layers"] == [hashlib.sha256(busybox_tar.read_bytes()).hexdigest() + ".tar"]


def test_import_refuses_url_and_missing_file(podpy_cli: Run) -> None:
    p = podpy_cli("import", "http://example.com/rootfs.tar")
    assert p.returncode == 125
    assert "URL" in p.stderr and "not supported" in p.stderr
    p = podpy_cli("import", "/nonexistent/rootfs.tar")
    assert p.returncode == 125 and "no such file" in p.stderr
    p = podpy_cli("import", "--change", "FOO bar", "/nonexistent/rootfs.tar")
    assert p.returncode == 125 and "unsupported instruction FOO" in p.stderr


@pytest.mark.parametrize("fmt", ["docker-archive", "oci-archive"])
def test_save_load_round_trip(
    podpy_cli: Run, imported: str, tmp_path: Path, fmt: str, second_root: list[str]
) -> None:
    out = tmp_path / "a.tar"
    podpy_cli("save", "-q", "--format", fmt, "-o", out, "bb:1", check=True)
    other = second_root
    p = podpy_cli(*other, "load", "-i", out, check=True)
    assert p.stdout.splitlines() == ["Loaded image: localhost/bb:1"]
    assert "Copying blob" in p.stderr and "Writing manifest to image destination" in p.stderr
    # loading again into the same store is idempotent; and the ID is the same as saved
    p = podpy_cli(*other, "save", "-q", "-o", tmp_path / "again.tar", "localhost/bb:1", check=True)
    assert tar_json(tmp_path / "again.tar", "manifest.json")[0]["Config"] == f"{imported}.json"
    p = podpy_cli(*other, "load", "-q", "-i", out, check=True)
    assert p.stderr == ""


def test_multi_image_archive(
    podpy_cli: Run, imported: str, busybox_tar: Path, tmp_path: Path, second_root: list[str]
) -> None:
    podpy_cli("import", "-q", "-m", "second", str(busybox_tar), "other:2", check=True)
    out = tmp_path / "m.tar"
    p = podpy_cli("save", "-q", "-o", out, "bb:1", "other:2")
    assert p.returncode == 125 and "-m" in p.stderr
    assert not out.exists()
    podpy_cli("save", "-q", "-m", "-o", out, "bb:1", "other:2", check=True)
    entries = tar_json(out, "manifest.json")
    assert [e["RepoTags"] for e in entries] == [["localhost/bb:1"], ["localhost/other:2"]]
    other = second_root
    p = podpy_cli(*other, "load", "-i", out, check=True)
    assert p.stdout.splitlines() == ["Loaded image: localhost/bb:1", "Loaded image: localhost/other:2"]


def test_save_to_stdout_and_load_from_stdin(
    podpy_root: Any, podpy_cli: Run, imported: str, tmp_path: Path, second_root: list[str]
) -> None:
    proc = podpy_pipe(podpy_root, ["save", "-q", "bb:1"], b"")
    assert proc.returncode == 0, proc.stderr
    with tarfile.open(fileobj=io.BytesIO(proc.stdout)) as tf:
        assert "manifest.json" in tf.getnames()
    root2 = type(podpy_root)(Path(second_root[1]), Path(second_root[3]), podpy_root.config_home)
    proc = podpy_pipe(root2, ["load"], gzip.compress(proc.stdout, compresslevel=1))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode().splitlines() == ["Loaded image: localhost/bb:1"]


def test_save_refuses_unsupported(podpy_cli: Run, imported: str, tmp_path: Path) -> None:
    p = podpy_cli("save", "--format", "docker-dir", "-o", tmp_path / "d", "bb:1")
    assert p.returncode == 125 and "docker-dir is not supported" in p.stderr
    p = podpy_cli("save", "--compress", "-o", tmp_path / "d", "bb:1")
    assert p.returncode == 125 and "--compress" in p.stderr
    p = podpy_cli("save", "-o", tmp_path / "x.tar", "nosuchimage")
    assert p.returncode == 125 and "image not known" in p.stderr
    assert not (tmp_path / "x.tar").exists()


@pytest.mark.parametrize("fmt", ["docker-archive", "oci-archive"])
def test_podpy_archives_load_in_podman_and_skopeo(
    podpy_cli: Run, imported: str, tmp_path: Path, fmt: str, podman: Run, skopeo: Run
) -> None:
    out = tmp_path / "a.tar"
    podpy_cli("save", "-q", "--format", fmt, "-o", out, "bb:1", check=True)
    info = json.loads(skopeo("inspect", f"{fmt}:{out}").stdout)
    assert info["Layers"] and info["Os"] == "linux"
    p = podman("load", "-i", str(out))
    assert "Loaded image: localhost/bb:1" in p.stdout
    assert podman("image", "inspect", "--format", "{{.Id}}", "localhost/bb:1").stdout.strip() == imported


def test_podpy_oci_dir_reads_in_skopeo(podpy_cli: Run, imported: str, tmp_path: Path, skopeo: Run) -> None:
    out = tmp_path / "layout"
    podpy_cli("save", "-q", "--format", "oci-dir", "-o", out, "bb:1", check=True)
    cfg = json.loads(skopeo("inspect", "--config", f"oci:{out}:localhost/bb:1").stdout)
    assert cfg["config"]["Cmd"] == ["/bin/sh"]


@pytest.mark.parametrize("fmt", ["docker-archive", "oci-archive"])
def test_podman_archives_load_in_podpy(
    podpy_cli: Run, busybox_tar: Path, tmp_path: Path, fmt: str, podman: Run
) -> None:
    podman("import", "-q", "--change", 'CMD ["/bin/sh"]', str(busybox_tar), "localhost/frompodman:1")
    pid = podman("image", "inspect", "--format", "{{.Id}}", "localhost/frompodman:1").stdout.strip()
    out = tmp_path / "pm.tar"
    podman("save", "--format", fmt, "-o", str(out), "localhost/frompodman:1")
    p = podpy_cli("load", "-i", out, check=True)
    assert p.stdout.splitlines() == ["Loaded image: localhost/frompodman:1"]
    p = podpy_cli("save", "-q", "-o", tmp_path / "back.tar", "frompodman:1", check=True)
    assert tar_json(tmp_path / "back.tar", "manifest.json")[0]["Config"] == f"{pid}.json"


@pytest.mark.parametrize(
    "name", ["busybox-docker-archive", "layered-docker-archive", "busybox-oci-archive", "layered-oci-archive"]
)
def test_testenv_archives_load(podpy_cli: Run, testenv: dict[str, Any], name: str, tmp_path: Path) -> None:
    arch = testenv["archives"][name]
    p = podpy_cli("load", "-q", "-i", arch["path"], check=True)
    (line,) = p.stdout.splitlines()
    loaded = line.removeprefix("Loaded image: ")
    want = arch["name"] if "/" in arch["name"] else f"localhost/{arch['name']}:latest"
    assert loaded == want
    podpy_cli("save", "-q", "-o", tmp_path / "x.tar", loaded, check=True)
    assert tar_json(tmp_path / "x.tar", "manifest.json")[0]["Config"] == f"{arch['image_id']}.json"


# ------------------------------------------------------------------------------- hostile archives


def _tar(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in members.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def _hostile(kind: str, good: Path) -> bytes:
    with tarfile.open(good) as tf:
        members = {m.name: tf.extractfile(m).read() for m in tf.getmembers() if m.isfile()}  # type: ignore[union-attr]
    if kind == "dotdot":
        members["../x"] = b"escape"
    elif kind == "digest":
        for name in members:
            if name.endswith(".tar"):
                members[name] = _tar({"etc/evil": b"not the layer the config names"})
    elif kind == "huge":
        members["manifest.json"] = b"[" + b" " * (5 * 1024 * 1024) + b"]"
    return _tar(members)


@pytest.mark.parametrize(
    ("kind", "message"),
    [("dotdot", "escapes the archive"), ("digest", "does not match its diff ID"), ("huge", "byte limit")],
)
def test_hostile_archive_clear_error_nothing_stored(
    podpy_cli: Run,
    podpy_root: Any,
    imported: str,
    tmp_path: Path,
    kind: str,
    message: str,
    second_root: list[str],
) -> None:
    good = tmp_path / "good.tar"
    podpy_cli("save", "-q", "-o", good, "bb:1", check=True)
    bad = tmp_path / "bad.tar"
    bad.write_bytes(_hostile(kind, good))
    other = second_root
    p = podpy_cli(*other, "load", "-i", bad)
    assert p.returncode == 125
    assert message in p.stderr
    assert len(p.stderr.strip().splitlines()[-1]) < 400
    assert p.stderr.strip().splitlines()[-1].startswith("Error: ")
    root2 = Path(second_root[1])
    assert store_is_empty(root2)
    assert not list((root2 / "tmp").glob("archive-*"))


def test_load_of_garbage_and_empty(podpy_cli: Run, tmp_path: Path) -> None:
    (tmp_path / "junk").write_bytes(b"\x1f\x8bnot really gzip" * 10)
    p = podpy_cli("load", "-i", tmp_path / "junk")
    assert p.returncode == 125 and p.stderr.startswith("Error: ")
    (tmp_path / "empty").write_bytes(b"")
    p = podpy_cli("load", "-i", tmp_path / "empty")
    assert p.returncode == 125 and "empty" in p.stderr
    p = podpy_cli("load", "-i", tmp_path / "missing")
    assert p.returncode == 125 and "no such file" in p.stderr
