"""Restart policies as the monitor applies them (Podman's ``handleRestartPolicy``); builtins only.

``no``/"": never. ``always``/``unless-stopped``: after every exit. ``on-failure[:N]``: after a non-zero
exit, at most N times in the container's life (N = 0: no limit; the count is not reset by a start, as
in Podman). Never after ``podpy stop``/``kill`` (the engine leaves the stop marker first).
"""

from __future__ import annotations

import os


def should_restart(cfg: dict, status: int | None, restart_count: int) -> bool:  # type: ignore[type-arg]
    policy = cfg.get("restart_policy") or ""
    if policy in ("", "no") or status is None:
        return False
    marker = cfg.get("stop_marker") or ""
    if marker and os.path.exists(marker):
        return False
    if policy == "on-failure":
        if status == 0:
            return False
        limit = int(cfg.get("restart_max") or 0)
        return limit <= 0 or restart_count < limit
    return policy in ("always", "unless-stopped")


def clear_marker(cfg: dict) -> None:  # type: ignore[type-arg]
    """A new start: an earlier ``stop`` no longer counts."""
    marker = cfg.get("stop_marker") or ""
    if marker:
        try:
            os.unlink(marker)
        except FileNotFoundError:
            pass


def stopped_by_user(cfg: dict) -> bool:  # type: ignore[type-arg]
    marker = cfg.get("stop_marker") or ""
    return bool(marker) and os.path.exists(marker)
