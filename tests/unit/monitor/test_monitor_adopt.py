"""The adopting monitor (``spawn_monitor(adopt=...)``): forked from the caller, it creates the
container with the runtime entry point loaded in the caller (here a function that runs the fake OCI
runtime of conftest.py), reports, and re-executes as the small monitor interpreter, which
carries on with the same container, pipes and attach socket. And a ``PendingMonitor`` cannot be used
twice."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from podpy.monitor import exitfile, liveness, logread
from podpy.monitor.spawn import MonitorConfig, MonitorError, PendingMonitor, spawn_monitor
from podpy.util.errors import PodpyError
from tests.unit.monitor.test_monitor_process import _wait

_RUNTIME = {"path": ""}
ENTRY = f"{__name__}:fake_entry"


def fake_entry(argv: list[str]) -> int:
    """The runtime's CLI entry point, in-process: here it runs the fake runtime with our stdio."""
    return subprocess.call([_RUNTIME["path"], *argv])


def _adopting(cfg: MonitorConfig) -> MonitorConfig:
    """The fake runtime runs through ``fake_entry``; the argv would fail if the monitor used it."""
    _RUNTIME["path"] = cfg.runtime[0]
    cfg.runtime = ["/nonexistent/not-used-for-create"]
    return cfg


def _cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().rstrip("\0").split("\0")


def test_adopted_container_is_logged_and_its_exit_recorded(fake, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    marker, go = tmp_path / "cleanup-ran", tmp_path / "go"
    cfg = fake(f"while [ ! -e {go} ]; do sleep 0.02; done; echo hello; echo bad >&2; exit 5",
               cleanup=["touch", str(marker)])  # fmt: skip
    h = spawn_monitor(_adopting(cfg), adopt=ENTRY)
    assert h.pid > 0 and h.monitor_pid not in (0, os.getpid())
    # the monitor that created the container is now the small interpreter, resumed (same process)
    argv = _wait(lambda: (a := _cmdline(h.monitor_pid))[-1] == "resume" and a)
    assert "-S" in argv and liveness.is_alive(h.monitor_pid, h.monitor_start)
    assert exitfile.read_exit_file(h.exit_file) is None
    assert Path(h.attach_path).exists()
    go.touch()  # the container goes on only now: its output reaches the resumed monitor
    ex = _wait(lambda: exitfile.read_exit_file(h.exit_file))
    assert ex["exit_code"] == 5
    _wait(lambda: not h.monitor_alive())
    assert marker.exists()
    msgs = [(s, t) for _, s, t in logread.read_messages(h.config.log_path)]
    assert ("stdout", b"hello\n") in msgs and ("stderr", b"bad\n") in msgs
    calls = (fake.root / "calls").read_text().splitlines()
    assert [c.split()[0] for c in calls] == ["create", "start"]  # both in-process, none from the argv


def test_adopted_container_that_exits_at_once_keeps_its_code(fake) -> None:  # type: ignore[no-untyped-def]
    """It may be gone before the fresh interpreter installs its SIGCHLD handler: reaped anyway."""
    h = spawn_monitor(_adopting(fake("exit 7", cid="a2")), adopt=ENTRY)
    assert _wait(lambda: exitfile.read_exit_file(h.exit_file))["exit_code"] == 7


def test_adopting_create_error_comes_back_as_monitor_error(fake) -> None:  # type: ignore[no-untyped-def]
    cfg = fake("exit 0", cid="a3")
    Path(cfg.bundle, "fail").write_text("exec: \"x\": executable file not found in $PATH")
    t = time.monotonic()
    with pytest.raises(MonitorError) as e:
        spawn_monitor(_adopting(cfg), adopt=ENTRY)
    assert e.value.message == 'exec: "x": executable file not found in $PATH'
    assert e.value.exit_code == 127
    assert time.monotonic() - t < 10
    assert not Path(cfg.state_dir, "attach").exists()


def test_pending_monitor_cancel_then_start_refused(tmp_path: Path) -> None:
    pm = PendingMonitor()
    pm.cancel()
    pm.cancel()  # idempotent
    cfg = MonitorConfig(container_id="c", bundle=str(tmp_path), state_dir=str(tmp_path / "s")).resolved()
    with pytest.raises(PodpyError, match="already started or cancelled"):
        pm.start(cfg)


def test_the_monitor_keeps_none_of_the_callers_fds(fake, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """An fd the CLI inherited from its shell (inheritable) or opened must not live on in the monitor."""
    stray = tmp_path / "stray"
    stray.write_text("")
    fd = os.open(stray, os.O_RDONLY)
    os.set_inheritable(fd, True)
    try:
        h = spawn_monitor(_adopting(fake("sleep 30", cid="a4")), adopt=ENTRY)
        _wait(lambda: _cmdline(h.monitor_pid)[-1] == "resume")
        held = [os.readlink(f"/proc/{h.monitor_pid}/fd/{n}") for n in os.listdir(f"/proc/{h.monitor_pid}/fd")]
        assert str(stray) not in held, held
        assert any(p.endswith("/ctl") for p in held) and any(p.startswith("socket:") for p in held)
    finally:
        os.close(fd)
    os.kill(h.pid, 9)
    assert _wait(lambda: exitfile.read_exit_file(h.exit_file))["exit_code"] == 137


def test_early_adopting_monitor_creates_once_configured(fake) -> None:  # type: ignore[no-untyped-def]
    """``run -d`` forks the adopting monitor before the bundle exists (``PendingMonitor(adopt=...)``):
    it loads the runtime meanwhile and creates the container once handed the configuration."""
    pm = PendingMonitor(adopt=ENTRY)
    cfg = _adopting(fake("echo early; exit 3", cid="e1"))  # the bundle is written after the fork
    h = spawn_monitor(cfg, pending=pm, adopt=ENTRY)
    assert h.pid > 0 and h.monitor_pid not in (0, os.getpid())
    assert _wait(lambda: exitfile.read_exit_file(h.exit_file))["exit_code"] == 3
    assert ("stdout", b"early\n") in [(s, t) for _, s, t in logread.read_messages(h.config.log_path)]
    calls = (fake.root / "calls").read_text().splitlines()
    assert [c.split()[0] for c in calls] == ["create", "start"]


def _early_monitors() -> set[int]:
    """Forks of this process in a session of their own: the early monitors it started."""
    me = Path("/proc/self/cmdline").read_bytes()
    session = os.getsid(0)
    found = set()
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            stat = (d / "stat").read_text().rsplit(")", 1)[1].split()
            if (d / "cmdline").read_bytes() == me and int(stat[3]) != session and stat[0] not in "ZX":
                found.add(int(d.name))
        except (OSError, IndexError, ValueError):
            continue
    return found


def test_cancelled_early_adopting_monitor_exits_doing_nothing(fake) -> None:  # type: ignore[no-untyped-def]
    """The container is not created after all (a failed ``create``): the early monitor goes away and
    runs nothing."""
    before = _early_monitors()
    pm = PendingMonitor(adopt=ENTRY)
    early = _wait(lambda: _early_monitors() - before)
    pm.cancel()
    _wait(lambda: not (_early_monitors() & early))
    assert not (fake.root / "calls").exists()


def test_pending_monitor_of_the_wrong_kind_is_replaced(fake) -> None:  # type: ignore[no-untyped-def]
    """A monitor started early for runc is not used for podpy's runtime (nor the other way): it is
    cancelled and the right one started."""
    pm = PendingMonitor()  # the exec'd monitor interpreter, as for runc
    h = spawn_monitor(_adopting(fake("exit 4", cid="e3")), pending=pm, adopt=ENTRY)
    assert _wait(lambda: exitfile.read_exit_file(h.exit_file))["exit_code"] == 4
    with pytest.raises(PodpyError, match="already started or cancelled"):
        pm.start(h.config)
