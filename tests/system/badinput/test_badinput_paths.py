"""A --root podpy may not create: one ``Error:`` line naming the path, exit 125, no traceback."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import _podpy_command, _stop_pause


@pytest.mark.parametrize("args", [["images"], ["ps", "-a"], ["run", "--rm", "--tls-verify=false", "127.0.0.1:5000/busybox", "true"], ["volume", "ls"]])
def test_unwritable_root_is_a_one_line_error(tmp_path, args: list[str]) -> None:  # type: ignore[no-untyped-def]
    assert os.getuid() != 0, "run as the unprivileged test user (root may create anything)"
    assert not os.access("/root", os.W_OK | os.X_OK)  # root's home: not the test user's to create in
    try:
        r = subprocess.run([*_podpy_command(), "--root", "/root/podpy-test-root", "--runroot", str(tmp_path / "rr"),
                            *args], capture_output=True, text=True, timeout=60)  # fmt: skip
    finally:  # the runroot was writable: a pause process may have started there
        _stop_pause(Path("/root/podpy-test-root"), tmp_path / "rr")
    assert r.returncode == 125, r.stderr
    assert r.stderr.startswith("Error: ") and "permission denied" in r.stderr, r.stderr
    assert len(r.stderr.splitlines()) == 1 and "Traceback" not in r.stderr
