"""The argument shapes the click-free fast paths answer (``images``, ``ps``): anything else is click's.

No imports: ``podpy images`` and ``podpy ps`` run before click (or most of podpy) is loaded.
"""

from __future__ import annotations


def parse_fast(
    args: list[str], commands: tuple[tuple[str, ...], ...], flags: dict[str, str]
) -> tuple[dict[str, str], dict[str, bool]] | None:
    """``[--root R] [--runroot R] COMMAND [boolean flags]`` -> (``{"root"/"runroot": value}``,
    ``{flag name: given?}``) when ``args`` start with one of ``commands`` and every later word is a
    key of ``flags``; None for any other shape (click then parses it and reports errors)."""
    glob: dict[str, str] = {}
    i = 0
    while i < len(args):
        key, eq, val = args[i].partition("=")
        if key not in ("--root", "--runroot"):
            break
        if not eq:
            if i + 1 >= len(args) or args[i + 1].startswith("-"):
                return None
            i += 1
            val = args[i]
        glob[key[2:]] = val
        i += 1
    rest = args[i:]
    cmd = next((c for c in commands if tuple(rest[: len(c)]) == c), None)
    if cmd is None:
        return None
    given = dict.fromkeys(flags.values(), False)
    for a in rest[len(cmd) :]:
        if a not in flags:
            return None
        given[flags[a]] = True
    return glob, given
