"""The argument shapes the click-free fast paths answer (``images``, ``ps``, ``run``): anything else is click's.

No imports: these commands run before click (or most of podpy) is loaded. Every parser here returns
None for a shape it does not know, and click then parses the line (and words its errors).
"""

from __future__ import annotations


def parse_fast(
    args: list[str], commands: tuple[tuple[str, ...], ...], flags: dict[str, str]
) -> tuple[dict[str, str], dict[str, bool]] | None:
    """``[--root R] [--runroot R] COMMAND [boolean flags]`` -> (``{"root"/"runroot": value}``,
    ``{flag name: given?}``) when ``args`` start with one of ``commands`` and every later word is a
    key of ``flags``; None for any other shape (click then parses it and reports errors)."""
    split = split_global(args)
    if split is None:
        return None
    glob, rest = split
    cmd = next((c for c in commands if tuple(rest[: len(c)]) == c), None)
    if cmd is None:
        return None
    given = dict.fromkeys(flags.values(), False)
    for a in rest[len(cmd) :]:
        if a not in flags:
            return None
        given[flags[a]] = True
    return glob, given


def split_global(args: list[str]) -> tuple[dict[str, str], list[str]] | None:
    """``[--root R] [--runroot R] REST`` -> (``{"root"/"runroot": value}``, REST); None for other global flags."""
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
    return glob, args[i:]


_TRUE = ("1", "true", "t", "yes", "y", "on")
_FALSE = ("0", "false", "f", "no", "n", "off")


def _convert(kind: str | None, value: str) -> object:
    """click's BOOL and int conversions; ValueError for what click would refuse."""
    if kind == "bool":
        v = value.strip().lower()
        if v in _TRUE or v in _FALSE:
            return v in _TRUE
        raise ValueError(value)
    return int(value) if kind == "int" else value


def parse_options(
    args: list[str], options: tuple[tuple[str, tuple[str, ...], dict[str, object]], ...], arguments: tuple[str, str]
) -> dict[str, object] | None:
    """click's reading of ``[OPTIONS] ARG [REST...]`` (options stop at the first positional word) for a
    table of ``(name, flags, click.option keywords)`` rows: the keyword arguments click would pass to
    the command, or None for anything unusual (``--help``, unknown or malformed flags, a bad value)."""
    by_flag = {f: row for row in options for f in row[1]}
    kw: dict[str, object] = {}
    for name, _, o in options:
        kw[name] = () if o.get("multiple") else (False if o.get("is_flag") else o.get("default"))
    i = 0

    def give(row: tuple[str, tuple[str, ...], dict[str, object]], value: str) -> None:
        name, _, o = row
        v = _convert(o.get("type"), value)  # type: ignore[arg-type]
        kw[name] = (*kw[name], v) if o.get("multiple") else v  # type: ignore[misc]

    try:
        while i < len(args):
            a = args[i]
            if a == "--":
                i += 1
                break
            if len(a) < 2 or a[0] != "-":
                break
            i += 1
            if a.startswith("--"):
                key, eq, val = a.partition("=")
                row = by_flag.get(key)
                if row is None:
                    return None
                if row[2].get("is_flag"):
                    if eq:
                        return None
                    kw[row[0]] = True
                    continue
                if not eq:
                    if i >= len(args):
                        return None
                    val, i = args[i], i + 1
                give(row, val)
                continue
            for j in range(1, len(a)):  # -it, -eK=V, -e K=V
                row = by_flag.get("-" + a[j])
                if row is None:
                    return None
                if row[2].get("is_flag"):
                    kw[row[0]] = True
                    continue
                val = a[j + 1 :]
                if not val:
                    if i >= len(args):
                        return None
                    val, i = args[i], i + 1
                give(row, val)
                break
    except ValueError:
        return None
    if i >= len(args):
        return None  # the required first argument is missing: click says so
    kw[arguments[0]] = args[i]
    kw[arguments[1]] = tuple(args[i + 1 :])
    return kw
