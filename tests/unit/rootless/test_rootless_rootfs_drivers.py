"""The rootfs driver order: kernel overlay, fuse-overlayfs when the kernel refuses, vfs last.

The kernel is replaced by the recording syscalls fake and fuse-overlayfs by a script that logs
its arguments; the real mounts are exercised in tests/integration/rootless.
"""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from podpy.store import rootfs
from podpy.util import syscalls
from podpy.util.errors import StoreError
from podpy.util.syscalls import RecordingSyscalls


@pytest.fixture
def layers(tmp_path: Path) -> list[Path]:
    base, top = tmp_path / "l1", tmp_path / "l2"
    (base / "etc").mkdir(parents=True)
    (base / "etc/os").write_text("base\n")
    (base / "data").write_text("shared\n")
    os.link(base / "data", base / "data-link")
    (top / "etc").mkdir(parents=True)
    (top / "etc/os").write_text("top\n")
    return [base, top]


def fake_fuse(tmp_path: Path, rc: int = 0) -> Path:
    exe = tmp_path / "bin" / "fuse-overlayfs"
    exe.parent.mkdir(exist_ok=True)
    exe.write_text(
        f'#!/bin/sh\necho "$@" >> {tmp_path}/fuse.log\necho "fuse: device not found" >&2\nexit {rc}\n'
    )
    exe.chmod(0o755)
    return exe


def fuse_calls(tmp_path: Path) -> list[str]:
    log = tmp_path / "fuse.log"
    return log.read_text().splitlines() if log.exists() else []


def test_kernel_overlay_first_with_userxattr_and_top_layer_first(tmp_path: Path, layers: list[Path]) -> None:
    with syscalls.use(RecordingSyscalls()) as fake:
        m = rootfs.mount_rootfs(layers, tmp_path / "c")
    [call] = fake.of("mount")
    src, target, fstype, flags, data = call.args
    assert (src, target, fstype, flags) == ("overlay", str(tmp_path / "c/merged"), "overlay", 0)
    assert (
        data
        == f"lowerdir={layers[1]}:{layers[0]},upperdir={tmp_path}/c/diff,workdir={tmp_path}/c/work,userxattr"
    )
    assert (m.driver, m.path) == ("overlay", tmp_path / "c/merged")
    assert json.loads((tmp_path / "c/driver").read_text()) == {"driver": "overlay"}


def test_overlay_refused_falls_back_to_fuse_overlayfs(
    tmp_path: Path, layers: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_fuse(tmp_path)
    monkeypatch.setenv("PATH", f"{tmp_path}/bin:{os.environ['PATH']}")
    for driver in (None, "overlay"):
        with syscalls.use(RecordingSyscalls(fail={"mount": errno.EPERM})):
            m = rootfs.mount_rootfs(layers, tmp_path / f"c-{driver}", driver)
        assert m.driver == "fuse-overlayfs"
    [line, _] = fuse_calls(tmp_path)
    assert (
        line
        == f"-o lowerdir={layers[1]}:{layers[0]},upperdir={tmp_path}/c-None/diff,workdir={tmp_path}/c-None/work {tmp_path}/c-None/merged"
    )


def test_mount_program_is_used_and_kernel_overlay_not_tried(tmp_path: Path, layers: list[Path]) -> None:
    exe = fake_fuse(tmp_path)
    with syscalls.use(RecordingSyscalls()) as fake:
        m = rootfs.mount_rootfs(layers, tmp_path / "c", "overlay", mount_program=str(exe))
    assert (m.driver, fake.of("mount")) == ("fuse-overlayfs", [])
    assert len(fuse_calls(tmp_path)) == 1


def test_automatic_ends_with_a_vfs_copy_but_explicit_overlay_does_not(
    tmp_path: Path, layers: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_fuse(tmp_path, rc=1)
    monkeypatch.setenv("PATH", f"{tmp_path}/bin:{os.environ['PATH']}")
    with syscalls.use(RecordingSyscalls(fail={"mount": errno.EPERM})):
        with pytest.raises(StoreError) as ei:
            rootfs.mount_rootfs(layers, tmp_path / "explicit", "overlay")
        m = rootfs.mount_rootfs(layers, tmp_path / "auto")
    assert (
        "overlay: " in ei.value.message
        and "fuse-overlayfs: fuse-overlayfs: fuse: device not found" in ei.value.message
    )
    assert "\n" not in ei.value.message
    assert m.driver == "vfs"
    merged = tmp_path / "auto/merged"
    assert (merged / "etc/os").read_text() == "top\n"
    assert os.stat(merged / "data").st_ino == os.stat(merged / "data-link").st_ino  # hard link kept
    assert os.stat(merged / "data").st_ino != os.stat(layers[0] / "data").st_ino  # a copy


def test_vfs_copy_is_made_once_and_the_container_keeps_vfs(tmp_path: Path, layers: list[Path]) -> None:
    c = tmp_path / "c"
    m = rootfs.mount_rootfs(layers, c, "vfs")
    (m.path / "etc/os").write_text("changed in the container\n")
    rootfs.unmount_rootfs(m)
    with syscalls.use(RecordingSyscalls()) as fake:
        m2 = rootfs.mount_rootfs(layers, c)  # automatic: still vfs, nothing mounted
        assert fake.of("mount") == []
        with pytest.raises(StoreError, match="created with the vfs storage driver"):
            rootfs.mount_rootfs(layers, c, "overlay")
    assert m2.driver == "vfs"
    assert (m2.path / "etc/os").read_text() == "changed in the container\n"


def test_interrupted_vfs_copy_is_redone(tmp_path: Path, layers: list[Path]) -> None:
    c = tmp_path / "c"
    rootfs.mount_rootfs(layers, c, "vfs")
    (c / "merged/etc/os").unlink()  # as if killed mid-copy
    (c / "vfs.partial").touch()
    (c / "driver").unlink()
    m = rootfs.mount_rootfs(layers, c, "vfs")
    assert (m.path / "etc/os").read_text() == "top\n"
    assert not (c / "vfs.partial").exists()


def test_unknown_driver(tmp_path: Path, layers: list[Path]) -> None:
    with pytest.raises(StoreError, match="unknown storage driver 'btrfs'"):
        rootfs.mount_rootfs(layers, tmp_path / "c", "btrfs")
