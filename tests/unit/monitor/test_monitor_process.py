"""The monitor process end to end against the fake OCI runtime of conftest.py (a shell script): no
namespaces needed. Real runc runs in tests/integration/monitor.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from podpy.monitor import exitfile, liveness, logread
from podpy.monitor.spawn import MonitorError, spawn_monitor
from podpy.util.errors import PodpyError


def _wait(pred, timeout: float = 15):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_success_reports_pid_logs_exit_and_cleanup(fake, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    marker = tmp_path / "cleanup-ran"
    cfg = fake("echo hello; echo -n partial; echo bad >&2; exit 5", cleanup=["touch", str(marker)])
    h = spawn_monitor(cfg)
    assert h.pid > 0 and h.monitor_pid > 0 and h.monitor_pid != os.getpid()
    ex = _wait(lambda: exitfile.read_exit_file(h.exit_file))
    assert ex["exit_code"] == 5
    _wait(lambda: not h.monitor_alive())
    assert marker.exists()
    msgs = [(s, t) for _, s, t in logread.read_messages(h.config.log_path)]
    assert ("stdout", b"hello\n") in msgs and ("stderr", b"bad\n") in msgs and ("stdout", b"partial") in msgs
    calls = (fake.root / "calls").read_text().splitlines()
    assert calls[0].startswith("create --bundle ") and calls[0].endswith(
        f"--pid-file {h.config.state_dir}/pidfile c1"
    )
    assert calls[1] == "start c1"
    assert (Path(h.config.state_dir) / "monitor.json").exists()


def test_create_error_comes_back_as_monitor_error(fake) -> None:  # type: ignore[no-untyped-def]
    cfg = fake("exit 0")
    Path(cfg.bundle, "fail").write_text(
        'container_linux.go:380: starting container process caused: exec: "x": not found'
    )
    with pytest.raises(MonitorError) as e:
        spawn_monitor(cfg)
    assert (
        e.value.message == 'container_linux.go:380: starting container process caused: exec: "x": not found'
    )
    assert e.value.exit_code == 125
    assert not Path(cfg.state_dir, "attach").exists()
    assert exitfile.read_exit_file(os.path.join(cfg.state_dir, "exit")) is None


def test_start_error_deletes_the_container(fake) -> None:  # type: ignore[no-untyped-def]
    cfg = fake("sleep 30", cid="c2")
    Path(cfg.bundle, "failstart").write_text("no way")
    with pytest.raises(MonitorError, match="cannot start container c2: no way"):
        spawn_monitor(cfg)
    calls = (fake.root / "calls").read_text().splitlines()
    assert calls[-1] == "delete --force c2"


def test_start_false_leaves_start_to_the_caller(fake) -> None:  # type: ignore[no-untyped-def]
    h = spawn_monitor(fake("exit 0", cid="c3", start=False))
    _wait(lambda: exitfile.read_exit_file(h.exit_file))
    assert [c.split()[0] for c in (fake.root / "calls").read_text().splitlines()] == ["create"]


def test_missing_runtime_and_bad_driver(fake) -> None:  # type: ignore[no-untyped-def]
    cfg = fake("exit 0", cid="c4")
    cfg.runtime = ["/nonexistent/runtime"]
    with pytest.raises(MonitorError, match="cannot run the OCI runtime '/nonexistent/runtime'"):
        spawn_monitor(cfg)
    cfg = fake("exit 0", cid="c5", log_driver="journald")
    with pytest.raises(PodpyError, match="invalid log driver 'journald'"):
        spawn_monitor(cfg)


def test_sigterm_to_the_monitor_is_forwarded(fake) -> None:  # type: ignore[no-untyped-def]
    h = spawn_monitor(fake("trap 'exit 42' TERM; while :; do sleep 0.1; done", cid="c6"))
    time.sleep(0.3)
    os.kill(h.monitor_pid, 15)
    assert _wait(lambda: exitfile.read_exit_file(h.exit_file))["exit_code"] == 42
    _wait(lambda: not liveness.is_alive(h.monitor_pid, h.monitor_start))


def test_spawn_timeout_kills_a_hanging_monitor(fake, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cfg = fake("exit 0", cid="c7")
    cfg.runtime = ["sh", "-c", "sleep 4", "hang"]  # a runtime that never returns from create
    t = time.monotonic()
    with pytest.raises(MonitorError, match="did not report within 1s"):
        spawn_monitor(cfg, timeout=1)
    assert time.monotonic() - t < 10
    mpid = liveness.read_pid_file(os.path.join(cfg.state_dir, "monitor.pid"))
    assert mpid and _wait(lambda: not liveness.is_alive(mpid))


def test_monitor_process_imports_stay_light() -> None:
    """Every module the monitor imports costs resident memory in every container's monitor."""
    import subprocess
    import sys

    from podpy.monitor.spawn import _ROOT

    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import podpy.monitor.main; "
        "print(' '.join(sorted(sys.modules)))"
    )
    r = subprocess.run(
        [sys.executable, "-S", "-E", "-c", code, _ROOT], capture_output=True, text=True, check=True
    )
    loaded = set(r.stdout.split())
    heavy = {"json", "re", "socket", "signal", "enum", "dataclasses", "subprocess", "typing", "collections",
             "logging", "click", "rich", "podpy.util.errors", "podpy.monitor.spawn", "ctypes"}  # fmt: skip
    assert loaded & heavy == set()
    assert "podpy.monitor.main" in loaded
