"""Start-up import budget (issue 3): the commands a user types most must not load the heavy libraries.

``python -X importtime`` lists every module a run imported; requests, rich and pyroute2 (and
click for the fast paths) must be absent. No timing is asserted here: bench/bench_startup.py and
bench/bench_images.py compare the wall times with podman's.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PodpyRoot

HEAVY = ("requests", "rich", "pyroute2", "urllib3", "yaml")


def _imported(
    args: list[str], root: PodpyRoot | None = None
) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    glob = ["--root", str(root.root), "--runroot", str(root.runroot)] if root else []
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[3]))
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "podpy", *glob, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    mods = set()
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            mods.add(line.rsplit("|", 1)[1].strip())
    assert "podpy" in mods, proc.stderr[-2000:]
    return proc, mods


def _top(mods: set[str]) -> set[str]:
    return {m.split(".")[0] for m in mods}


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["images", "--help"], ["image", "--help"]])
def test_help_and_version_import_no_heavy_library(args: list[str]) -> None:
    proc, mods = _imported(args)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert not _top(mods) & set(HEAVY), sorted(_top(mods) & set(HEAVY))


def test_version_fast_path_skips_click() -> None:
    proc, mods = _imported(["--version"])
    assert proc.stdout == "podpy version 0.1.0\n"
    assert "click" not in _top(mods)
    assert "logging" not in mods


def test_help_does_not_set_up_logging_or_paths() -> None:
    proc, mods = _imported(["--help"])
    assert "Available Commands" in proc.stdout
    assert "logging" not in mods and "podpy.util.paths" not in mods


@pytest.mark.parametrize("args", [["images"], ["images", "-q"], ["image", "ls", "--digests", "--no-trunc"]])
def test_images_lists_through_the_image_db_only(podpy_root: PodpyRoot, args: list[str]) -> None:
    """``images`` opens only the image database: no click, no store machinery, no registry code."""
    proc, mods = _imported(args, podpy_root)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert not _top(mods) & set(HEAVY)
    for mod in ("click", "podpy.store.store", "podpy.store.blobs", "podpy.store.layers", "podpy.registry"):
        assert mod not in mods, f"{mod} imported by podpy {' '.join(args)}"
    assert (podpy_root.root / "storage" / "images.db").exists()
    assert (podpy_root.root / "storage").stat().st_mode & 0o777 == 0o700  # private, as Store makes it
    assert not (podpy_root.root / "storage" / "locks").exists()  # no store-wide locking or cleanup


@pytest.mark.parametrize("args", [["ps"], ["ps", "-a"], ["ps", "-a", "-q"], ["image", "exists", "nosuch"]])
def test_listing_commands_import_no_heavy_library(podpy_root: PodpyRoot, args: list[str]) -> None:
    proc, mods = _imported(args, podpy_root)
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    assert not _top(mods) & set(HEAVY), sorted(_top(mods) & set(HEAVY))


def test_images_with_a_filter_still_avoids_registry_libraries(podpy_root: PodpyRoot) -> None:
    proc, mods = _imported(["images", "--filter", "dangling=true", "--format", "{{.ID}}"], podpy_root)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert not _top(mods) & set(HEAVY)


def test_run_with_a_local_image_imports_no_registry_code(
    podpy_cli, podpy_root: PodpyRoot, testenv: dict
) -> None:  # type: ignore[no-untyped-def]
    """``run`` with a stored, fully named image: no pull machinery, no registries.conf, no ps view."""
    assert podpy_cli("load", "-i", testenv["archives"]["busybox-docker-archive"]["path"]).returncode == 0
    for _ in range(2):  # the second run reads storage.conf's parse from the cache
        proc, mods = _imported(["run", "--rm", "--network", "none", "127.0.0.1:5000/busybox:latest", "true"],
                               podpy_root)  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-2000:]
    assert not _top(mods) & set(HEAVY)
    for mod in ("podpy.engine.pull", "podpy.registry", "podpy.cli.psview", "podpy.runtime.oci_cli", "argparse",
                "secrets", "logging", "hashlib", "click", "tomllib", "typing", "inspect", "ast", "socket", "ipaddress", "podpy.engine.images"):
        assert mod not in mods, f"{mod} imported by podpy run"


def test_exec_imports_no_click(podpy_cli, podpy_root: PodpyRoot, testenv: dict) -> None:  # type: ignore[no-untyped-def]
    """``exec`` reads its flags without click, as ``run`` does; its errors are click's (``--help`` too)."""
    assert podpy_cli("load", "-i", testenv["archives"]["busybox-docker-archive"]["path"]).returncode == 0
    cid = podpy_cli("run", "-d", "--network", "none", "127.0.0.1:5000/busybox:latest", "sleep", "60").stdout.strip()
    try:
        proc, mods = _imported(["exec", "-e", "A=1", cid, "sh", "-c", "echo $A; exit 3"], podpy_root)
        assert (proc.returncode, proc.stdout) == (3, "1\n"), proc.stderr[-2000:]
        for mod in ("click", "typing", "inspect", "podpy.engine.images", "dataclasses"):
            assert mod not in mods, f"{mod} imported by podpy exec"
        proc, mods = _imported(["exec", "--preserve-fds", "-1", cid, "true"], podpy_root)
        assert proc.returncode == 125 and "Invalid value for '--preserve-fds'" in proc.stderr
        assert "click" in _top(mods)
    finally:
        podpy_cli("rm", "-f", "-t", "0", cid)


def test_ps_fast_path_and_no_ps_view_elsewhere(podpy_root: PodpyRoot) -> None:
    proc, mods = _imported(["ps", "-a"], podpy_root)
    assert proc.returncode == 0 and "click" not in _top(mods)
    proc, mods = _imported(["images"], podpy_root)
    assert proc.returncode == 0 and "podpy.cli.psview" not in mods
