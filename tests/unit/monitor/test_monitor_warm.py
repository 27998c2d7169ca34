"""The monitor's warm runtime (``podpy.monitor.spawn``): the client passes argv and stdio to the warm
server, which runs podpy's runtime CLI in a forked worker; one request only, then the client falls
back to the real runtime command. And a ``PendingMonitor`` cannot be used twice."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

from podpy.monitor.spawn import PendingMonitor, warm_runtime_argv, warm_runtime_server
from podpy.util.errors import PodpyError

ENTRY = "podpy.runtime.oci_cli:main"
FALLBACK = ["/bin/sh", "-c", 'echo "fallback $*"; exit 7', "sh"]


def test_client_server_one_request_then_fallback(tmp_path: Path) -> None:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    srv, cli = a.detach(), b.detach()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the warm server
        os.close(cli)
        warm_runtime_server(srv, ENTRY)
    os.close(srv)
    try:
        args = ["--root", str(tmp_path), "state", "nosuch"]
        argv = warm_runtime_argv(cli, FALLBACK) + args
        r = subprocess.run(argv, pass_fds=(cli,), capture_output=True, text=True, cwd=tmp_path, timeout=60)
        # podpy's runtime ran in the server's worker, writing to the client's stderr
        assert (r.returncode, r.stdout) == (1, ""), r.stderr
        assert r.stderr == "podpy-runtime: container nosuch does not exist\n"
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0  # served one request and left
        r = subprocess.run(argv, pass_fds=(cli,), capture_output=True, text=True, timeout=60)
        assert (r.returncode, r.stdout) == (7, f"fallback {' '.join(args)}\n")
    finally:
        os.close(cli)


def test_server_exits_when_nobody_asks() -> None:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    srv, cli = a.detach(), b.detach()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the warm server
        os.close(cli)
        warm_runtime_server(srv, ENTRY)
    os.close(srv)
    os.close(cli)  # the monitor went away: EOF
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_pending_monitor_cancel_then_start_refused(tmp_path: Path) -> None:
    from podpy.monitor.spawn import MonitorConfig

    pm = PendingMonitor()
    pm.cancel()
    pm.cancel()  # idempotent
    cfg = MonitorConfig(container_id="c", bundle=str(tmp_path), state_dir=str(tmp_path / "s")).resolved()
    with pytest.raises(PodpyError, match="already started or cancelled"):
        pm.start(cfg)
