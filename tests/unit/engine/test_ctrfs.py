"""Unit tests of ``engine.ctrfs``: argument splitting, confined tar extraction, the lower-layer lookup."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from podpy.engine import ctrfs
from podpy.util.errors import InvalidInput


def _tar(*members: tuple[str, str, str]) -> io.BytesIO:
    """(name, kind, data-or-linkname) -> an in-memory tar stream."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, kind, data in members:
            ti = tarfile.TarInfo(name)
            ti.mode = 0o644
            if kind == "file":
                ti.size = len(data)
                tf.addfile(ti, io.BytesIO(data.encode()))
            elif kind == "dir":
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                tf.addfile(ti)
            elif kind == "sym":
                ti.type, ti.linkname = tarfile.SYMTYPE, data
                tf.addfile(ti)
            elif kind == "link":
                ti.type, ti.linkname = tarfile.LNKTYPE, data
                tf.addfile(ti)
            else:
                ti.type = tarfile.CHRTYPE
                tf.addfile(ti)
    buf.seek(0)
    return buf


@pytest.mark.parametrize(
    ("arg", "want"),
    [
        ("c1:/etc", ("c1", "/etc")),
        ("c1:", ("c1", "/")),
        ("/abs:x", (None, "/abs:x")),
        ("./rel:x", (None, "./rel:x")),
        ("plain", (None, "plain")),
        ("-", (None, "-")),
    ],
)
def test_split_arg(arg: str, want: tuple[str | None, str]) -> None:
    assert ctrfs.split_arg(arg) == want


def test_extract_never_leaves_the_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    (root / "etc").mkdir(parents=True)
    outside.mkdir()
    (outside / "keep").write_text("host\n")
    os.symlink("/", root / "up")
    os.symlink(str(outside / "keep"), root / "etc" / "keep")  # a link at a host file, in the way
    own = (os.getuid(), os.getgid())
    stream = _tar(
        ("up/" + str(outside).lstrip("/") + "/new", "file", "a\n"),
        ("../../../" + str(outside).lstrip("/") + "/new2", "file", "b\n"),
        ("etc/keep", "file", "replaced\n"),
        ("d", "dir", ""),
        ("d/h", "link", "etc/keep"),
        ("d/s", "sym", "/etc/keep"),
    )
    ctrfs.extract_into(str(root), "/", stream, own)
    assert sorted(os.listdir(outside)) == ["keep"] and (outside / "keep").read_text() == "host\n"
    assert (root / str(outside).lstrip("/") / "new").read_text() == "a\n"
    assert (root / str(outside).lstrip("/") / "new2").read_text() == "b\n"
    assert not (root / "etc" / "keep").is_symlink() and (root / "etc" / "keep").read_text() == "replaced\n"
    assert os.stat(root / "d" / "h").st_ino == os.stat(root / "etc" / "keep").st_ino
    assert os.readlink(root / "d" / "s") == "/etc/keep"


def test_extract_refuses_devices_and_garbage(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="device files"):
        ctrfs.extract_into(str(tmp_path), "/", _tar(("dev", "chr", "")), None)
    with pytest.raises(InvalidInput, match="invalid tar stream"):
        ctrfs.extract_into(str(tmp_path), "/", io.BytesIO(b"not a tar" * 100), None)


def test_in_lower_follows_whiteouts_and_opaque_dirs(tmp_path: Path) -> None:
    base, top = tmp_path / "l0", tmp_path / "l1"
    for p in ("etc/passwd", "etc/group", "opt/a/x", "var/y"):
        (base / p).parent.mkdir(parents=True, exist_ok=True)
        (base / p).write_text("")
    (top / "etc").mkdir(parents=True)
    (top / "etc" / ".wh.group").write_text("")
    (top / "opt" / "a").mkdir(parents=True)
    (top / "opt" / "a" / ".wh..wh..opq").write_text("")
    layers = [base, top]
    assert ctrfs._in_lower(layers, "etc/passwd")
    assert not ctrfs._in_lower(layers, "etc/group")
    assert not ctrfs._in_lower(layers, "opt/a/x")
    assert ctrfs._in_lower(layers, "opt/a") and ctrfs._in_lower(layers, "var/y")
    assert not ctrfs._in_lower(layers, "nope/x")


def test_diff_json_shape() -> None:
    chs = [ctrfs.Change("C", "/etc"), ctrfs.Change("A", "/etc/n"), ctrfs.Change("D", "/etc/g")]
    assert ctrfs.diff_json(chs) == {"changed": ["/etc"], "added": ["/etc/n"], "deleted": ["/etc/g"]}
    assert ctrfs.diff_json([]) == {}
