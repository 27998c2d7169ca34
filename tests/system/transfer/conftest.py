"""Fixtures for the transfer tests: a podman/skopeo with private storage, and an imported busybox."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

Run = Callable[..., "subprocess.CompletedProcess[str]"]


def _run(cmd: list[str], check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    return proc


@pytest.fixture
def podman(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """`podman` as the test user with its own --root/--runroot (vfs: no overlay state to clean up)."""
    base = Path(tmp_path_factory.mktemp("podman"))
    root, runroot = base / "root", base / "run"

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = ["podman", "--root", str(root), "--runroot", str(runroot), "--storage-driver", "vfs", *args]
        return _run(cmd, check=check)

    yield run
    if root.exists():
        subprocess.run(
            [
                "podman",
                "--root",
                str(root),
                "--runroot",
                str(runroot),
                "--storage-driver",
                "vfs",
                "unshare",
                "rm",
                "-rf",
                str(root),
            ],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def second_root(tmp_path: Path) -> Iterator[list[str]]:
    """Global flags selecting a second private store (for save in one, load in another).

    Put them first in the podpy_cli args: click keeps the last --root/--runroot given. Its pause
    process and files are removed afterwards, like the podpy_root fixture does for its own.
    """
    import tempfile

    from tests.conftest import _remove_tree, _stop_pause

    root = tmp_path / "r2"
    runroot = Path(tempfile.mkdtemp(prefix="podpy-rr2-"))
    args = ["--root", str(root), "--runroot", str(runroot)]
    try:
        yield args
    finally:
        _remove_tree(root, args)
        _stop_pause(root, runroot)
        _remove_tree(runroot)


@pytest.fixture
def skopeo() -> Run:
    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return _run(["skopeo", *args], check=check)

    return run


@pytest.fixture
def busybox_tar(testenv: dict[str, Any]) -> Path:
    p = Path(testenv["busybox_rootfs_tar"])
    assert p.is_file(), p
    return p


@pytest.fixture
def imported(podpy_cli: Run, busybox_tar: Path) -> str:
    """`podpy import` of the busybox rootfs as localhost/bb:1; returns the image ID (hex)."""
    proc = podpy_cli(
        "import",
        "-q",
        "--change",
        'CMD ["/bin/sh"]',
        "--change",
        "ENV A=1",
        str(busybox_tar),
        "bb:1",
        check=True,
    )
    out = proc.stdout.strip()
    assert out.startswith("sha256:") and len(out) == 71, out
    return out.removeprefix("sha256:")


def store_is_empty(root: Path) -> bool:
    """No blob, no unpacked layer, no image record file content in podpy's store under ``root``."""
    storage = root / "storage"
    blobs = list((storage / "blobs").rglob("*")) if (storage / "blobs").exists() else []
    layers = [p for p in (storage / "overlay").iterdir()] if (storage / "overlay").exists() else []
    return not [b for b in blobs if b.is_file()] and not layers


def tar_json(path: Path, member: str) -> Any:
    import tarfile

    with tarfile.open(path) as tf:
        f = tf.extractfile(member)
        assert f is not None
        return json.load(f)


__all__ = ["os", "store_is_empty", "tar_json"]
