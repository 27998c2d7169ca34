"""Fixtures for the image system tests: podman as the peer (own storage), env image lookups."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

Run = Callable[..., "subprocess.CompletedProcess[str]"]


@pytest.fixture
def podman(tmp_path: Path) -> Iterator[Run]:
    """`podman` as the test user with its own --root/--runroot (overlay, like a real user setup)."""
    root = tmp_path / "podman-root"
    runroot = Path(tempfile.mkdtemp(prefix="h5pm-"))  # podman refuses runroots longer than 50 chars

    def run(*args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        cmd = ["podman", "--root", str(root), "--runroot", str(runroot), *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        if check and proc.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
        return proc

    yield run
    subprocess.run(
        ["podman", "--root", str(root), "--runroot", str(runroot), "unshare", "rm", "-rf", str(root)],
        capture_output=True,
        check=False,
    )
    shutil.rmtree(runroot, ignore_errors=True)


@pytest.fixture
def img(testenv: dict[str, Any]) -> Callable[[str], dict[str, Any]]:
    def get(name: str) -> dict[str, Any]:
        return testenv["images"][name]

    return get


@pytest.fixture
def pull(podpy_cli: Run) -> Callable[..., str]:
    """`podpy pull --tls-verify=false REF...`: returns the image ID printed on stdout; fails on error."""

    def run(ref: str, *extra: str) -> str:
        p = podpy_cli("pull", "--tls-verify=false", *extra, ref)
        assert p.returncode == 0, p.stderr
        return p.stdout.strip().splitlines()[-1]

    return run
