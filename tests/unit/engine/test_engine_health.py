"""Pure parts of podpy.engine.health: Test -> argv, Podman's timestamps, inspect shapes."""

from __future__ import annotations

import os
import time
from types import SimpleNamespace

import pytest

from podpy.engine import health
from podpy.util.gotime import rfc3339_nano


def test_health_argv() -> None:
    assert health.health_argv(["CMD", "ls", "-l"]) == ["ls", "-l"]
    assert health.health_argv(["CMD-SHELL", "ls -l"]) == ["/bin/sh", "-c", "ls -l"]


def test_rfc3339nano_drops_trailing_zeros(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    try:
        assert rfc3339_nano(1_700_000_000_120_000_000) == "2023-11-14T22:13:20.12Z"
        assert rfc3339_nano(1_700_000_000_000_000_000) == "2023-11-14T22:13:20Z"
        monkeypatch.setenv("TZ", "Europe/Berlin")
        time.tzset()
        assert rfc3339_nano(1_700_000_000_000_000_001) == "2023-11-14T23:13:20.000000001+01:00"
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def _rec(config: dict, state: str = "running") -> SimpleNamespace:  # type: ignore[type-arg]
    return SimpleNamespace(id="c" * 64, state=state, config=config)


def test_inspect_shapes() -> None:
    rec = _rec({"spec": {"restart_policy": "on-failure", "restart_max": 2, "log_max_size": 10_000,
                         "health_on_failure": "kill"},
                "log_driver": "none", "healthcheck": {"Test": ["CMD", "x"], "Interval": 1, "StartPeriod": 0}})  # fmt: skip
    assert health.restart_policy(rec) == {"Name": "on-failure", "MaximumRetryCount": 2}
    assert health.log_config(rec, "/p") == {
        "Type": "none",
        "Config": None,
        "Path": "",
        "Tag": "",
        "Size": "10kB",
    }
    assert health.inspect_healthcheck(rec) == {"Test": ["CMD", "x"], "Interval": 1}
    assert health.inspect_config_extras(rec)["HealthcheckOnFailureAction"] == "kill"
    assert health.inspect_health(rec) == {"Status": "", "FailingStreak": 0, "Log": None}  # no file yet


def test_health_status_reads_the_file(tmp_path: os.PathLike[str]) -> None:
    path = os.path.join(tmp_path, "healthcheck.log")
    rec = _rec({"health_log": path, "healthcheck": {"Test": ["CMD", "x"]}})
    assert health.health_status(rec) == ""
    health.set_starting(rec)
    assert health.health_status(rec) == "starting"
    assert (
        health.health_status(_rec(rec.config, state="exited")) == "starting"
    )  # kept after the exit, as podman


def test_stop_marker(tmp_path: os.PathLike[str]) -> None:
    health.mark_stopped_by_user(tmp_path)
    assert os.path.exists(health.stopped_marker(tmp_path))
    health.mark_stopped_by_user(os.path.join(tmp_path, "gone"))  # no state dir: nothing to mark, no error


def _kw(**over: object) -> dict[str, object]:
    kw: dict[str, object] = {"log_opt": (), "log_driver": "k8s-file", "restart": "", "health_cmd": "",
                             "health_interval": "30s", "health_retries": 3, "health_timeout": "30s",
                             "health_start_period": "0s", "health_on_failure": "none", "no_healthcheck": False,
                             "sdnotify": "container", "detach": True}  # fmt: skip
    kw.update(over)
    return kw


def test_cli_options_sdnotify_container_binds_the_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", "/run/user/1/systemd/notify")
    mounts: list[object] = []
    env: dict[str, str] = {}
    out = health.cli_monitor_options(_kw(), mounts, env)
    assert out["sdnotify"] == "container" and env == {"NOTIFY_SOCKET": "/run/notify/notify.sock"}
    assert [(m.destination, m.source) for m in mounts] == [
        ("/run/notify/notify.sock", "/run/user/1/systemd/notify")
    ]  # type: ignore[attr-defined]
    mounts.clear()
    health.cli_monitor_options(_kw(sdnotify="conmon"), mounts, {})
    assert mounts == []  # conmon/ignore: the container is not told
    monkeypatch.setenv("NOTIFY_SOCKET", "@abstract")
    with pytest.raises(health.UsageError, match="abstract socket"):
        health.cli_monitor_options(_kw(), [], {})


def test_cli_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    out = health.cli_monitor_options(_kw(restart="always", detach=False), [], {})
    assert out["restart_policy"] == "always"  # a foreground run carries it out under the monitor
    out = health.cli_monitor_options(_kw(log_opt=("max-size=2k",), restart="on-failure:4"), [], {})
    assert (out["log_max_size"], out["restart_policy"], out["restart_max"]) == (2000, "on-failure", 4)
