"""The vfs rootfs driver applies overlay-form layers (whiteouts, opaque dirs) like overlayfs would."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from podpy.store.rootfs import mount_rootfs, unmount_rootfs


def _layer(base: Path, files: dict[str, str]) -> Path:
    base.mkdir(parents=True)
    for name, content in files.items():
        p = base / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(content)
    return base


@pytest.mark.skipif(
    os.geteuid() != 0, reason="creating 0/0 whiteout devices outside a user namespace needs root"
)
def test_vfs_whiteouts_and_opaque(tmp_path: Path) -> None:
    l1 = _layer(tmp_path / "l1", {"keep.txt": "1", "gone.txt": "1", "dir/old.txt": "1", "over.txt": "1"})
    l2 = _layer(tmp_path / "l2", {"dir/new.txt": "2", "over.txt": "2"})
    os.mknod(l2 / "gone.txt", 0o600 | 0o020000, os.makedev(0, 0))
    os.setxattr(l2 / "dir", "user.overlay.opaque", b"y")
    os.symlink("keep.txt", l2 / "link")
    m = mount_rootfs([l1, l2], tmp_path / "ctr", driver="vfs")
    assert m.driver == "vfs"
    root = m.path
    assert (root / "keep.txt").read_text() == "1"
    assert not (root / "gone.txt").exists()
    assert sorted(os.listdir(root / "dir")) == ["new.txt"]
    assert (root / "over.txt").read_text() == "2"
    assert os.readlink(root / "link") == "keep.txt"
    unmount_rootfs(m)  # a no-op for vfs


def test_unknown_driver_and_missing_layer(tmp_path: Path) -> None:
    from podpy.util.errors import StoreError

    with pytest.raises(StoreError, match="unknown storage driver"):
        mount_rootfs([], tmp_path / "c", driver="btrfs")
    with pytest.raises(StoreError, match="incomplete"):
        mount_rootfs([tmp_path / "missing"], tmp_path / "c2", driver="vfs")
