"""`podpy unshare` as real root: no user namespace, the command simply runs (like podman unshare)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TREE = Path(__file__).resolve().parents[3]


@pytest.mark.skipif(
    os.geteuid() != 0, reason="as root only; the rootless case is in tests/integration/rootless"
)
def test_as_root_runs_the_command_in_the_host_namespace(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PODPY_ROOTLESS"}
    env["PYTHONPATH"] = str(TREE)
    root, run = tmp_path / "root", tmp_path / "run"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "podpy",
            "--root",
            str(root),
            "--runroot",
            str(run),
            "unshare",
            "sh",
            "-c",
            'id -u; readlink /proc/self/ns/user; echo "$CONTAINERS_GRAPHROOT $CONTAINERS_RUNROOT"; exit 3',
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert r.returncode == 3, r.stderr
    assert r.stdout.splitlines() == ["0", os.readlink("/proc/self/ns/user"), f"{root} {run}"]
    assert not (run / "pause.pid").exists()
