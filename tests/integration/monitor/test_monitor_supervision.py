"""The monitor's restart policy and health-check timer, driving runc without the engine.

The hooks (``restarted``, ``health_cmd``) are shell scripts writing to files, so what the monitor
runs, when and with which arguments is checked directly. As the unprivileged user.
"""

from __future__ import annotations

import os
from pathlib import Path

from podpy.monitor import exitfile, liveness
from tests.integration.monitor.conftest import Env, wait_for


def _exit(cfg: dict) -> dict:  # type: ignore[type-arg]
    return wait_for(
        lambda: exitfile.read_exit_file(os.path.join(cfg["state_dir"], "exit")), 30, what="exit file"
    )


def test_on_failure_restarts_n_times_and_reports_each(env: Env, tmp_path: Path) -> None:
    hook = tmp_path / "restarted"
    b = env.bundle(["sh", "-c", "echo run; exit 3"])
    cfg = env.config(b, "onfail", restart_policy="on-failure", restart_max=2,
                     restarted=["sh", "-c", f'echo "$@" >> {hook}', "hook"])  # fmt: skip
    h = env.spawn(cfg)
    assert _exit(cfg)["exit_code"] == 3
    calls = [ln.split() for ln in hook.read_text().splitlines()]
    assert [c[1] for c in calls] == ["1", "2"]  # PID COUNT STARTED_NS EXIT_CODE EXITED_NS, once per restart
    assert [c[3] for c in calls] == ["3", "3"] and all(int(c[4]) <= int(c[2]) for c in calls)
    assert all(int(c[0]) > 0 and int(c[0]) != h["pid"] for c in calls)
    log = (Path(cfg["state_dir"]) / "ctr.log").read_text()
    assert [ln.split(" ", 3)[3] for ln in log.splitlines()] == ["run", "run", "run"]  # one log for all runs


def test_restart_count_before_this_monitor_counts(env: Env) -> None:
    b = env.bundle(["sh", "-c", "exit 1"])
    cfg = env.config(b, "counted", restart_policy="on-failure", restart_max=2, restart_count=2)
    env.spawn(cfg)
    assert _exit(cfg)["exit_code"] == 1
    diag = Path(cfg["state_dir"]) / "monitor.log"
    assert not diag.exists() or "restart" not in diag.read_text()  # the limit was reached before


def test_stop_marker_prevents_the_restart(env: Env) -> None:
    b = env.bundle(["sleep", "1000"])
    cfg = env.config(b, "marked", restart_policy="always")
    h = env.spawn(cfg)
    Path(cfg["state_dir"], "stopped-by-user").touch()  # what `podpy stop`/`kill` leave before the signal
    env.runc("kill", "marked", "KILL")
    assert _exit(cfg)["exit_code"] == 137
    wait_for(lambda: not liveness.is_alive(h["monitor_pid"], h["monitor_start"]), what="monitor exit")


def test_a_new_monitor_clears_an_old_stop_marker(env: Env) -> None:
    b = env.bundle(["sh", "-c", "exit 0"])
    cfg = env.config(b, "cleared", restart_policy="on-failure", restart_max=1)
    marker = Path(cfg["state_dir"], "stopped-by-user")
    marker.touch()
    env.spawn(cfg)
    _exit(cfg)
    assert not marker.exists()


def test_health_timer_runs_the_check_until_the_container_exits(env: Env, tmp_path: Path) -> None:
    ticks = tmp_path / "ticks"
    b = env.bundle(["sleep", "1000"])
    cfg = env.config(b, "health", health_cmd=["sh", "-c", f"echo tick >> {ticks}"], health_interval=0.2)
    h = env.spawn(cfg)
    wait_for(lambda: ticks.exists() and len(ticks.read_text().splitlines()) >= 3, 30, what="3 health checks")
    env.runc("kill", "health", "KILL")
    _exit(cfg)
    # a pending check does not keep the monitor: it exits with its container
    wait_for(lambda: not liveness.is_alive(h["monitor_pid"], h["monitor_start"]), what="monitor exit")
