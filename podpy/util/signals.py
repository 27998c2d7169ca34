"""The signals podpy passes on to a container (``--sig-proxy``), and passing them on.

One table for the runtime (foreground run, exec), the attach client and the monitor. ``_signal``
rather than ``signal``: the monitor imports this and ``signal`` would bring ``enum`` with it.
"""

from __future__ import annotations

import _signal
import os

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs the monitor ~5 ms
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

PROXIED_SIGNALS = (
    _signal.SIGINT,
    _signal.SIGTERM,
    _signal.SIGHUP,
    _signal.SIGQUIT,
    _signal.SIGUSR1,
    _signal.SIGUSR2,
)


def proxy_signals(pid_of: Callable[[], int]) -> dict[int, Any]:
    """Forward the signals a user sends us to the process ``pid_of()`` names at that moment;
    returns the previous handlers (put them back with :func:`restore_handlers`)."""

    def forward(signum: int, _frame: Any) -> None:
        try:
            os.kill(pid_of(), signum)
        except OSError:  # gone (or no longer ours): nothing to pass it to
            pass

    return {s: _signal.signal(s, forward) for s in PROXIED_SIGNALS}


def restore_handlers(old: dict[int, Any]) -> None:
    for s, h in old.items():
        _signal.signal(s, h)
