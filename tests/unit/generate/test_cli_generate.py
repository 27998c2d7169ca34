"""The CLI's part of ``generate systemd``: ``run``'s own option table splits a recorded create command."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from podpy.cli.generate import podpy_argv, run_takes_value
from podpy.generate.systemd import parse_run_args


def test_run_option_table() -> None:
    takes = run_takes_value()
    for opt in ("--name", "-p", "--publish", "-e", "-v", "--label", "-l", "--restart", "--sdnotify", "--cidfile",
                "--read-only-tmpfs", "-h", "-w", "--pod"):  # fmt: skip
        assert takes(opt), opt
    for opt in ("-d", "--detach", "--rm", "-i", "-t", "--replace", "--privileged", "--init", "-P"):
        assert not takes(opt), opt
    p = parse_run_args(["-it", "--rm", "-p", "80:80", "--read-only-tmpfs", "false", "img", "--rm"], takes)
    assert p.positional == ["img", "--rm"] and p.has("--rm") and p.values("--read-only-tmpfs") == ["false"]


def test_podpy_argv_is_the_running_program(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = tmp_path / "podpy"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["podpy", "generate"])  # found in the cwd: made absolute
    assert podpy_argv() == [str(script)]
    monkeypatch.setattr(sys, "argv", [str(tmp_path / "__main__.py")])  # python -m podpy
    assert podpy_argv() == [sys.executable, "-m", "podpy"]
