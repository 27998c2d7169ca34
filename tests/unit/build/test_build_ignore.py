""".containerignore rules (moby patternmatcher semantics) and the context walk."""

from __future__ import annotations

from pathlib import Path

import pytest

from podpy.build.ignore import IgnoreRules, load_rules, parse_patterns, walk


def rules(text: str) -> IgnoreRules:
    return IgnoreRules(parse_patterns(text))


@pytest.mark.parametrize(
    ("patterns", "path", "excluded"),
    [
        ("*.log", "a.log", True),
        ("*.log", "d/a.log", False),
        ("**/*.log", "d/e/a.log", True),
        ("**/*.log", "a.log", True),
        ("build", "build/x/y", True),
        ("/build/", "build/x", True),
        ("d/*", "d/x/y", True),
        ("d/?.txt", "d/ab.txt", False),
        ("[ab].txt", "b.txt", True),
        ("*\n!keep.log", "keep.log", False),
        ("*\n!keep.log", "other", True),
        ("!keep\n*", "keep", True),  # the last matching pattern wins
        ("# comment\n\n  x  ", "x", True),
        ("logs\n!logs/keep.log", "logs/keep.log", False),
        ("logs\n!logs/keep.log", "logs/drop.log", True),
        ("a/**", "a/b/c", True),
        ("a/**/z", "a/z", True),
        ("a/**/z", "a/b/c/z", True),
    ],
)
def test_patterns(patterns: str, path: str, excluded: bool) -> None:
    assert rules(patterns).excluded(path) is excluded


def test_walk_keeps_exceptions_inside_excluded_dirs(tmp_path: Path) -> None:
    for p in ("logs/keep.log", "logs/drop.log", "src/a.py", "src/b.key", "top.txt"):
        f = tmp_path / p
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(p)
    (tmp_path / ".containerignore").write_text("logs\n!logs/keep.log\n**/*.key\n")
    (tmp_path / ".dockerignore").write_text("*\n")  # .containerignore wins
    r = load_rules(tmp_path)
    assert walk(tmp_path, r) == [
        "",
        ".containerignore",
        ".dockerignore",
        "logs",
        "logs/keep.log",
        "src",
        "src/a.py",
        "top.txt",
    ]
    assert walk(tmp_path, r, "src") == ["src", "src/a.py"]
    alt = tmp_path / "alt.ignore"
    alt.write_text("src\n")
    assert "src" not in walk(tmp_path, load_rules(tmp_path, str(alt)))
