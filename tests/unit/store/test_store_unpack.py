"""Layer unpacking into overlay form: what ends up on disk (run as root here; the owner mapping in a
user namespace is covered by tests/integration/store)."""

from __future__ import annotations

import os
import stat
import threading

import pytest

from podpy.store import Store
from tests.unit.store.layerkit import entry, layer, unpack

MT = 1_600_000_000
ROOT = os.geteuid() == 0
UID, GID = (1000, 1001) if ROOT else (os.geteuid(), os.getegid())  # foreign owners need root (or a userns)
DGID = 42 if ROOT else os.getegid()
BIG = os.urandom(3 * 1024 * 1024 + 7)  # spans several decompressor chunks


def _basic_layer(kind: str):  # type: ignore[no-untyped-def]
    return layer(
        entry("./", "dir", mode=0o755),
        entry("etc", "dir", mode=0o750, gid=DGID),
        entry("etc/hello", data=b"hello\n", mode=0o640, uid=UID, gid=GID),
        entry("etc/link", "hardlink", link="etc/hello"),
        entry("etc/abs", "symlink", link="/etc/passwd"),
        entry("etc/rel", "symlink", link="../usr/bin/thing"),
        entry("usr/bin/su", data=b"#!suid\n", mode=0o4755),
        entry("usr/bin/sg", data=b"#!sgid\n", mode=0o2755),
        entry("tmp", "dir", mode=0o1777),
        entry("run/fifo", "fifo", mode=0o600),
        entry("etc/attr", data=b"x", xattrs={"user.podpy": b"value\x00\xff"}),
        entry("big", data=BIG),
        kind=kind,
    )


@pytest.mark.parametrize("kind", ["gzip", "zstd", "none"])
def test_unpack_preserves_everything(store: Store, kind: str) -> None:
    lay = _basic_layer(kind)
    info = unpack(store, lay)
    root = info.path
    assert info.diff_id == lay.diff_id and info.size == len(lay.raw)
    assert root == store.root / "overlay" / lay.diff_id.split(":")[1] / "diff"
    assert store.has_layer(lay.diff_id) and store.layer_dir(lay.diff_id) == root

    st = os.lstat(root / "etc/hello")
    assert (root / "etc/hello").read_bytes() == b"hello\n"
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_mtime) == (0o640, UID, GID, MT)
    assert st.st_nlink == 2 and os.lstat(root / "etc/link").st_ino == st.st_ino
    assert os.readlink(root / "etc/abs") == "/etc/passwd"
    assert os.readlink(root / "etc/rel") == "../usr/bin/thing"
    assert os.lstat(root / "etc/abs").st_mtime == MT
    assert stat.S_IMODE(os.lstat(root / "usr/bin/su").st_mode) == 0o4755
    assert stat.S_IMODE(os.lstat(root / "usr/bin/sg").st_mode) == 0o2755
    st = os.lstat(root / "tmp")
    assert stat.S_IMODE(st.st_mode) == 0o1777 and st.st_mtime == MT
    st = os.lstat(root / "etc")
    assert (stat.S_IMODE(st.st_mode), st.st_gid, st.st_mtime) == (0o750, DGID, MT)  # dir fixed up at the end
    assert stat.S_ISFIFO(os.lstat(root / "run/fifo").st_mode)
    assert os.getxattr(root / "etc/attr", "user.podpy") == b"value\x00\xff"
    assert (root / "big").read_bytes() == BIG
    # implied parent dirs exist
    assert os.path.isdir(root / "usr/bin") and os.path.isdir(root / "run")


def test_whiteouts_and_opaque_dirs_are_in_overlay_form(store: Store) -> None:
    lay = layer(
        entry("etc", "dir"),
        entry("etc/.wh.passwd"),
        entry("var/cache", "dir"),
        entry("var/cache/.wh..wh..opq"),
        entry("var/cache/new", data=b"n"),
        entry("var/.wh..wh.plnk", "dir"),
    )
    root = unpack(store, lay).path
    st = os.lstat(root / "etc/passwd")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    assert not (root / "etc/.wh.passwd").exists()
    assert os.getxattr(root / "var/cache", "user.overlay.opaque") == b"y"
    assert os.listdir(root / "var/cache") == ["new"]
    assert not (root / "var/.wh..wh.plnk").exists()
    if os.geteuid() == 0:  # real root also gets the trusted. form for rootful overlay mounts
        assert os.getxattr(root / "var/cache", "trusted.overlay.opaque") == b"y"


def test_device_nodes_become_nodes_or_are_skipped(store: Store) -> None:
    lay = layer(entry("dev/null", "chr", mode=0o666, major=1, minor=3), entry("dev/ok", data=b"k"))
    root = unpack(store, lay).path
    if os.geteuid() == 0:
        st = os.lstat(root / "dev/null")
        assert stat.S_ISCHR(st.st_mode) and os.major(st.st_rdev) == 1 and os.minor(st.st_rdev) == 3
        assert stat.S_IMODE(st.st_mode) == 0o666
    assert (root / "dev/ok").read_bytes() == b"k"


def test_later_members_replace_earlier_ones(store: Store) -> None:
    lay = layer(
        entry("a", "dir"),
        entry("a/child", data=b"1"),
        entry("a", "symlink", link="/elsewhere"),  # a dir replaced by a symlink
        entry("f", data=b"old"),
        entry("f", data=b"new"),
        entry("d", "dir", mode=0o700),
        entry("d", "dir", mode=0o755),  # dir over dir keeps the dir, takes the new metadata
        entry("d/x", data=b"x"),
    )
    root = unpack(store, lay).path
    assert os.readlink(root / "a") == "/elsewhere"
    assert (root / "f").read_bytes() == b"new"
    assert stat.S_IMODE(os.lstat(root / "d").st_mode) == 0o755 and (root / "d/x").exists()


def test_unpack_is_idempotent(store: Store) -> None:
    lay = layer(entry("f", data=b"1"))
    a = unpack(store, lay)
    b = unpack(store, lay)
    assert a == b
    assert os.listdir(store.root / "overlay") == [lay.diff_id.split(":")[1]]


def test_concurrent_unpacks_of_one_layer_share_one_copy(store: Store) -> None:
    lay = layer(*[entry(f"d{i}/f{j}", data=os.urandom(2000)) for i in range(20) for j in range(20)])
    from tests.unit.store.layerkit import add_blob

    path = add_blob(store, lay.blob)
    results, errors = [], []

    def work() -> None:
        try:
            results.append(store.unpack_layer(path, lay.media_type, lay.diff_id))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 6 and len(set(results)) == 1
    assert os.listdir(store.root / "overlay") == [lay.diff_id.split(":")[1]]
    assert len(os.listdir(results[0].path)) == 20


def test_concurrent_unpacks_from_processes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Two processes (fresh interpreters) unpack the same layer at once: both succeed, one copy."""
    import subprocess
    import sys

    lay = layer(*[entry(f"d{i}/f{j}", data=os.urandom(5000)) for i in range(30) for j in range(30)])
    st = Store(tmp_path / "storage")
    from tests.unit.store.layerkit import add_blob

    path = add_blob(st, lay.blob)
    code = (
        "import sys; from pathlib import Path; from podpy.store import Store;"
        "s = Store(Path(sys.argv[1])); i = s.unpack_layer(Path(sys.argv[2]), sys.argv[3], sys.argv[4]);"
        "print(i.path)"
    )
    args = [sys.executable, "-c", code, str(st.root), str(path), lay.media_type, lay.diff_id]
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    procs = [
        subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env) for _ in range(3)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert len({o[0] for o in outs}) == 1
    assert os.listdir(st.root / "overlay") == [lay.diff_id.split(":")[1]]


@pytest.mark.parametrize("kind", ["gzip", "zstd"])
def test_multi_member_streams_and_zero_padding(store: Store, kind: str) -> None:
    """pigz/zstd may write several members/frames; trailing zero padding is tolerated."""
    from tests.unit.store.layerkit import Layer, compress, make_tar

    raw = make_tar(entry("a", data=os.urandom(300_000)), entry("b", data=b"b" * 100_000))
    cut = len(raw) // 3
    blob = compress(raw[:cut], kind) + compress(raw[cut:], kind) + b"\0" * 4096
    lay = Layer(blob, raw, kind)
    root = unpack(store, lay).path
    assert (root / "b").read_bytes() == b"b" * 100_000
