"""Closing every inherited file descriptor but a few, before a process hands itself over."""

from __future__ import annotations

import os


def close_all_but(keep: tuple[int, ...] | list[int], low: int = 3) -> None:
    """Close every fd from ``low`` up except those in ``keep`` (closerange over the gaps)."""
    for k in sorted(fd for fd in set(keep) if fd >= low):
        os.closerange(low, k)
        low = k + 1
    os.closerange(low, 1 << 20)
