"""``--filter KEY=VALUE`` flags as ``ps``, ``pod ps`` and ``secret ls`` take them (Podman's errors)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from podpy.util.errors import UsageError


def key_values(filters: Iterable[str], allowed: Iterable[str],
               check: Callable[[str, str], None] | None = None) -> dict[str, list[str]]:  # fmt: skip
    """KEY -> the VALUEs given for it, in order. A filter without ``=`` or with an unknown KEY is an
    error; ``check(key, value)`` raises for a value the command refuses (each filter in turn)."""
    keys = set(allowed)
    out: dict[str, list[str]] = {}
    for f in filters:
        key, eq, val = f.partition("=")
        if not eq:
            raise UsageError(f"invalid filter {f!r}: use key=value")
        if key not in keys:
            raise UsageError(f"{key} is an invalid filter")
        if check is not None:
            check(key, val)
        out.setdefault(key, []).append(val)
    return out
