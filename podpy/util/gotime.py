"""Timestamps (nanoseconds since the epoch) as Go prints ``time.Time`` in Podman's JSON."""

from __future__ import annotations

import time

ZERO = "0001-01-01T00:00:00Z"  # Go's zero time


def rfc3339_nano(ns: int) -> str:
    """``time.RFC3339Nano`` in local time: trailing zeros of the fraction dropped, ``Z`` for UTC."""
    secs, frac = divmod(ns, 1_000_000_000)
    lt = time.localtime(secs)
    off = lt.tm_gmtoff or 0
    zone = "Z" if off == 0 else f"{'+' if off > 0 else '-'}{abs(off) // 3600:02d}:{abs(off) % 3600 // 60:02d}"
    digits = f"{frac:09d}".rstrip("0")
    return time.strftime("%Y-%m-%dT%H:%M:%S", lt) + (f".{digits}" if digits else "") + zone


def rfc3339_utc(ns: int) -> str:
    """UTC with all nine fraction digits (container and pod inspect); Go's zero time for 0."""
    if not ns:
        return ZERO
    secs, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"
