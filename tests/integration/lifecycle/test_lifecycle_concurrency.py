"""Many podpy processes on one state DB at once: parallel ``run --rm``, ``run -d``, ``ps`` loops and
``rm -f``; no "database is locked", no error, and a consistent final state. Also ``kill -9`` of the
CLI in the middle of ``run -d``: the container it leaves is either running and recorded or gone."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

IMG = "127.0.0.1:5000/busybox:latest"


@pytest.fixture
def podpy(podpy_cli, testenv: dict[str, Any]):  # type: ignore[no-untyped-def]
    r = podpy_cli("load", "-i", testenv["archives"]["busybox-docker-archive"]["path"])
    assert r.returncode == 0, r.stderr
    yield podpy_cli
    podpy_cli("rm", "-f", "-a", "-t", "0")


def test_parallel_run_ps_rm(podpy) -> None:  # type: ignore[no-untyped-def]
    detached = [podpy("container", "run", "-d", "--name", f"bg{i}", IMG, "sleep", "1000") for i in range(4)]
    assert all(r.returncode == 0 for r in detached), [r.stderr for r in detached]

    def job(i: int) -> subprocess.CompletedProcess[str]:
        if i < 20:
            return podpy("run", "--rm", "--name", f"p{i}", IMG, "sh", "-c", f"echo {i}")
        if i < 24:
            return podpy("rm", "-f", "-t", "0", f"bg{i - 20}")
        return podpy("ps", "-a")

    with ThreadPoolExecutor(max_workers=16) as ex:
        results = list(ex.map(job, range(34)))
    for i, r in enumerate(results):
        assert r.returncode == 0, (i, r.stderr)
        assert "locked" not in r.stderr
        if i < 20:
            assert r.stdout == f"{i}\n"
    assert podpy("ps", "-a", "-q").stdout == ""  # every --rm and rm -f done, nothing half-removed


def test_kill9_cli_during_detached_run(podpy, podpy_root) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import _podpy_command

    env = dict(os.environ, PYTHONPATH=os.getcwd(), XDG_CONFIG_HOME=str(podpy_root.config_home))
    for delay in (0.05, 0.15, 0.3):
        p = subprocess.Popen([*_podpy_command(), *podpy_root.args, "container", "run", "-d", IMG, "sleep", "1000"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)  # fmt: skip
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        p.wait()
    time.sleep(0.5)
    r = podpy("ps", "-a", "--format", "{{.ID}} {{.Status}}")
    assert r.returncode == 0, r.stderr
    for line in r.stdout.splitlines():  # running (monitor alive), or created/exited; a half-made one is gone
        assert line.split(" ", 1)[1].startswith(("Up ", "Created", "Exited")), line
    r = podpy("rm", "-f", "-a", "-t", "0")
    assert r.returncode == 0, r.stderr
    assert podpy("ps", "-a", "-q").stdout == ""
