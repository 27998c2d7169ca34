"""The monitor's restart decision (Podman's handleRestartPolicy) and the stop marker."""

from __future__ import annotations

from pathlib import Path

import pytest

from podpy.monitor import restart


@pytest.mark.parametrize(
    ("policy", "limit", "status", "count", "expected"),
    [
        ("", 0, 1, 0, False),
        ("no", 0, 1, 0, False),
        ("always", 0, 0, 100, True),
        ("unless-stopped", 0, 0, 0, True),
        ("on-failure", 0, 0, 0, False),  # a success is not a failure
        ("on-failure", 0, 3, 50, True),  # no limit
        ("on-failure", 2, 3, 1, True),
        ("on-failure", 2, 3, 2, False),
        ("always", 0, None, 0, False),  # still running
    ],
)
def test_should_restart(policy: str, limit: int, status: int | None, count: int, expected: bool) -> None:
    cfg = {"restart_policy": policy, "restart_max": limit, "stop_marker": ""}
    assert restart.should_restart(cfg, status, count) is expected


def test_stopped_by_user_wins_until_cleared(tmp_path: Path) -> None:
    marker = tmp_path / "stopped-by-user"
    cfg = {"restart_policy": "always", "restart_max": 0, "stop_marker": str(marker)}
    marker.touch()
    assert restart.stopped_by_user(cfg) and not restart.should_restart(cfg, 0, 0)
    restart.clear_marker(cfg)
    restart.clear_marker(cfg)  # idempotent
    assert not restart.stopped_by_user(cfg) and restart.should_restart(cfg, 0, 0)
