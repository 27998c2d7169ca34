"""A container rootfs from a real image inside podpy's namespace, with each storage driver.

The `layered` test image has whiteouts, an opaque dir, hard links, setuid files and files owned by
uid 1000 and 65534: every driver must show exactly the tree env.json describes, with owners as the
namespace sees them, and writes must never reach the image's layers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from podpy.util.paths import Paths

TREE = Path(__file__).resolve().parents[3]

# Runs as the user: join podpy's namespace, mount the rootfs, describe it, write into it, unmount.
SCRIPT = r"""
import hashlib, json, os, stat, sys
from pathlib import Path
from podpy.engine import images
from podpy.rootless.userns import ensure_userns
from podpy.store.rootfs import mount_rootfs, unmount_rootfs
from podpy.util.paths import Paths

root, runroot, ref, driver, cdir = sys.argv[1:6]
paths = Paths(Path(root), Path(runroot))
ensure_userns(paths)
store = images.open_store(paths)
rec = images.lookup(store, ref)
m = mount_rootfs(store.layer_dirs(rec), Path(cdir), None if driver == "auto" else driver)
files, inodes = {}, {}
for dirpath, dirs, names in os.walk(m.path):
    for n in dirs + names:
        p = os.path.join(dirpath, n)
        st = os.lstat(p)
        rel = os.path.relpath(p, m.path)
        kind = {stat.S_IFDIR: "dir", stat.S_IFREG: "file", stat.S_IFLNK: "symlink", stat.S_IFIFO: "fifo",
                stat.S_IFCHR: "chardev"}.get(stat.S_IFMT(st.st_mode), "other")
        info = {"type": kind, "uid": st.st_uid, "gid": st.st_gid}
        if kind != "symlink":
            info["mode"] = stat.S_IMODE(st.st_mode)
        if kind == "file":
            info["sha256"] = hashlib.sha256(Path(p).read_bytes()).hexdigest()
            if st.st_nlink > 1:
                inodes.setdefault(st.st_ino, []).append(rel)
        if kind == "symlink":
            info["target"] = os.readlink(p)
        files[rel] = info
Path(m.path, "data/hello.txt").write_text("written by the container\n")
os.unlink(Path(m.path, "data/replaced.txt"))
findmnt = os.popen(f"findmnt -n -o FSTYPE {m.path}").read().strip()
unmount_rootfs(m)
layer_hello = [str(d / "data/hello.txt") for d in store.layer_dirs(rec) if (d / "data/hello.txt").exists()]
print(json.dumps({"driver": m.driver, "files": files, "links": sorted(sorted(v) for v in inodes.values()),
                  "fstype": findmnt, "layer_hello": [Path(p).read_text() for p in layer_hello],
                  "still_mounted": os.path.ismount(m.path)}))
"""


def fuse_usable() -> bool:
    try:
        os.close(os.open("/dev/fuse", os.O_RDWR))
        return True
    except OSError:
        return False


def mount_and_describe(paths: Paths, ref: str, driver: str, cdir: Path) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=str(TREE))
    r = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(paths.root), str(paths.runroot), ref, driver, str(cdir)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.fixture
def layered(podpy_cli: Any, user_paths: Paths, testenv: dict[str, Any]) -> dict[str, Any]:
    img = testenv["images"]["layered-v2s2"]
    podpy_cli("pull", "-q", "--tls-verify=false", img["ref"], check=True)
    return img


@pytest.mark.parametrize(
    "driver",
    [
        "overlay",
        "vfs",
        "auto",
        pytest.param(
            "fuse-overlayfs",
            marks=[
                pytest.mark.allow_skip,
                pytest.mark.skipif(not fuse_usable(), reason="/dev/fuse is not accessible to the user here"),
            ],
        ),
    ],
)
def test_each_driver_shows_the_image_exactly(
    driver: str, layered: dict[str, Any], user_paths: Paths, tmp_path: Path
) -> None:
    out = mount_and_describe(user_paths, layered["ref"], driver, user_paths.root / "containers" / driver)
    assert out["driver"] == ("overlay" if driver == "auto" else driver)
    assert (
        out["fstype"]
        == {"overlay": "overlay", "auto": "overlay", "vfs": "", "fuse-overlayfs": "fuse.fuse-overlayfs"}[
            driver
        ]
    )
    files = out["files"]
    for path, want in layered["files"].items():
        got = files.get(path)
        assert got is not None, f"{path} missing"
        for key in ("type", "uid", "gid", "mode", "sha256", "target"):
            if key in want:
                assert got[key] == want[key], f"{path}: {key} {got[key]!r} != {want[key]!r}"
    for path in layered["absent"]:
        assert path not in files, f"{path} should be hidden by a whiteout or an opaque dir"
    assert ["data/hardlink-src.txt", "data/hardlink.txt", "data/sub/hardlink2.txt"] in out["links"]
    assert files["data/owned-1000.txt"]["uid"] == 1000 and files["data/owned-nobody.txt"]["uid"] == 65534
    # the container's writes stay in the container
    assert out["layer_hello"] and "written by the container" not in "".join(out["layer_hello"])
    assert out["still_mounted"] is False


def test_overlay_and_vfs_trees_are_identical(layered: dict[str, Any], user_paths: Paths) -> None:
    base = user_paths.root / "containers"
    a = mount_and_describe(user_paths, layered["ref"], "overlay", base / "a")["files"]
    b = mount_and_describe(user_paths, layered["ref"], "vfs", base / "b")["files"]
    assert a == b
