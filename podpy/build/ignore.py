""".containerignore / .dockerignore: which context files a build may see.

The rules of moby's ``patternmatcher`` (what Docker and Buildah use): one pattern a line, ``#``
comments, blank lines skipped; patterns are cleaned paths relative to the context (a leading ``/``
is dropped); ``*`` and ``?`` do not cross ``/``, ``**`` matches any number of directories,
``[...]`` classes, ``\\`` escapes; ``!pattern`` re-includes; the last matching pattern wins; a
pattern also matches every path below what it names (``build`` excludes ``build/x/y``).
"""

from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass
from pathlib import Path

IGNORE_FILES = (".containerignore", ".dockerignore")


@dataclass(frozen=True)
class _Pattern:
    text: str
    regex: re.Pattern[str]
    depth: int
    exclusion: bool


def _compile(pattern: str) -> re.Pattern[str]:
    out = ["^"]
    i = 0
    n = len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            if i + 1 < n and pattern[i + 1] == "*":
                i += 1
                if i + 1 < n and pattern[i + 1] == "/":
                    i += 1
                out.append(".*" if i + 1 >= n else "(.*/)?")
            else:
                out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "\\" and i + 1 < n:
            i += 1
            out.append(re.escape(pattern[i]))
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                out.append(re.escape(c))
            else:
                cls = pattern[i + 1 : end]
                if cls.startswith("!"):
                    cls = "^" + cls[1:]
                out.append("[" + cls.replace("\\", "\\\\") + "]")
                i = end
        else:
            out.append(re.escape(c))
        i += 1
    out.append("$")
    return re.compile("".join(out))


def parse_patterns(text: str) -> list[str]:
    """The patterns of an ignore file's text, cleaned, in order."""
    out: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        neg = line.startswith("!")
        if neg:
            line = line[1:].strip()
        if not line:
            continue
        line = posixpath.normpath(line.lstrip("/")) if line.lstrip("/") else "."
        out.append(("!" if neg else "") + line)
    return out


class IgnoreRules:
    """Compiled ignore patterns; ``excluded(rel)`` answers for a context-relative path."""

    def __init__(self, patterns: list[str]) -> None:
        self.patterns: list[_Pattern] = []
        for p in patterns:
            neg = p.startswith("!")
            text = p[1:] if neg else p
            if text in (".", ""):
                continue
            self.patterns.append(_Pattern(text, _compile(text), text.count("/") + 1, neg))
        self.has_exclusions = any(p.exclusion for p in self.patterns)

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def excluded(self, rel: str) -> bool:
        rel = posixpath.normpath(rel.strip("/"))
        if rel == "." or not self.patterns:
            return False
        parts = rel.split("/")
        matched = False
        for p in self.patterns:
            if p.exclusion != matched:
                continue  # cannot change the outcome
            hit = bool(p.regex.match(rel))
            if not hit and len(parts) > p.depth:
                hit = bool(p.regex.match("/".join(parts[: p.depth])))
            if hit:
                matched = not p.exclusion
        return matched

    def may_include_below(self, rel: str) -> bool:
        """Whether an excluded directory can still hold re-included files (an exception below it)."""
        if not self.has_exclusions:
            return False
        prefix = rel.strip("/") + "/"
        for p in self.patterns:
            if p.exclusion and (p.text.startswith(prefix) or not re.match(r"^[^*?\[\\]*$", p.text)):
                return True
        return False


def load_rules(context: Path, ignorefile: str | None = None) -> IgnoreRules:
    """The context's rules: ``--ignorefile``, else ``.containerignore``, else ``.dockerignore``."""
    if ignorefile:
        return IgnoreRules(parse_patterns(Path(ignorefile).read_text()))
    for name in IGNORE_FILES:
        f = context / name
        if f.is_file():
            return IgnoreRules(parse_patterns(f.read_text()))
    return IgnoreRules([])


def walk(root: Path, rules: IgnoreRules, start: str = "") -> list[str]:
    """Context-relative paths under ``start`` (itself included) that the rules let through, sorted;
    a directory is listed when it is not excluded or holds re-included entries."""
    out: list[str] = []

    def visit(rel: str) -> bool:
        full = root / rel if rel else root
        ex = rules.excluded(rel) if rel else False
        is_dir = full.is_dir() and not full.is_symlink()
        kept_child = False
        if is_dir and (not ex or rules.may_include_below(rel)):
            for name in sorted(os.listdir(full)):
                child = f"{rel}/{name}" if rel else name
                kept_child = visit(child) or kept_child
        if not ex or kept_child:
            out.append(rel)
            return True
        return False

    visit(start.strip("/"))
    return sorted(out)
