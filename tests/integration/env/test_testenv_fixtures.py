"""The shared fixtures do what tests/conftest.py promises."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import podpy


def test_podpy_cli_runs_this_tree_with_a_private_root(podpy_cli: Any, podpy_root: Any) -> None:
    proc = podpy_cli("--version", check=True)
    assert proc.stdout.strip() == f"podpy version {podpy.__version__}"
    assert podpy_root.root.is_dir() and podpy_root.runroot.is_dir()
    assert podpy_root.args == ["--root", str(podpy_root.root), "--runroot", str(podpy_root.runroot)]
    assert len(str(podpy_root.runroot)) < 40  # leaves room for unix socket names (108 bytes)


def test_podpy_cli_reports_failure_without_raising(podpy_cli: Any) -> None:
    proc = podpy_cli("no-such-command")
    assert proc.returncode != 0
    assert proc.stderr


def test_podpy_cli_env_overrides(podpy_cli: Any, tmp_path: Path) -> None:
    # A Python-level probe: PYTHONSTARTUP is ignored by -m, so observe the env through a sitecustomize.
    probe = tmp_path / "probe"
    probe.mkdir()
    (probe / "sitecustomize.py").write_text(
        "import os\nopen(os.environ['PROBE_OUT'], 'w').write(os.environ.get('XDG_CONFIG_HOME', '-'))\n"
    )
    out = tmp_path / "out"
    podpy_cli(
        "--version",
        env={"PYTHONPATH": f"{probe}{os.pathsep}{podpy.__path__[0]}/..", "PROBE_OUT": str(out)},
        check=True,
    )
    assert out.read_text().endswith("/config")
