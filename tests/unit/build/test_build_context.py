"""COPY/ADD source selection in a context dir and the content hash the layer cache keys on."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from podpy.build.builder import _go_duration, _ports, read_containerfile
from podpy.build.context import find_sources, hash_sources, open_context
from podpy.build.parser import Instruction, ParseError
from podpy.util.errors import PodpyError, UsageError


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    for rel in ("a.conf", "b.conf", "d/x.txt", "d/e/y.txt", "d/skip.key", "logs/keep.log", "logs/drop.log"):
        f = tmp_path / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(rel)
    (tmp_path / ".containerignore").write_text("**/*.key\nlogs\n!logs/keep.log\n")
    return tmp_path


def test_sources_globs_dirs_and_ignore(ctx: Path) -> None:
    c = open_context(str(ctx))
    assert [s.rel for s in find_sources(str(c.root), "*.conf", c.rules, "ctx")] == ["a.conf", "b.conf"]
    (d,) = find_sources(str(c.root), "d/", c.rules, "ctx")
    assert d.is_dir and d.entries == ("e", "e/y.txt", "x.txt")
    (logs,) = find_sources(str(c.root), "./logs", c.rules, "ctx")
    assert logs.entries == ("keep.log",)
    with pytest.raises(PodpyError, match=r'copier: stat: "/d/skip.key": no such file or directory'):
        find_sources(str(c.root), "d/skip.key", c.rules, "ctx")
    with pytest.raises(PodpyError, match="possible escaping context directory"):
        find_sources(str(c.root), "../x", c.rules, "ctx")
    with pytest.raises(PodpyError, match='no items matching glob "\\*.none"'):
        find_sources(str(c.root), "*.none", c.rules, "ctx")


def test_hash_follows_content_not_ignored_files(ctx: Path) -> None:
    c = open_context(str(ctx))

    def h() -> str:
        return hash_sources(find_sources(str(c.root), ".", c.rules, "ctx"))

    first = h()
    (ctx / "logs" / "drop.log").write_text("changed but ignored")
    (ctx / "d" / "skip.key").write_text("changed but ignored")
    assert h() == first
    (ctx / "d" / "e" / "y.txt").write_text("changed")
    assert h() != first


def test_context_tar_on_stdin(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        data = b"FROM x\n"
        ti = tarfile.TarInfo("Containerfile")
        ti.size = len(data)
        tf.addfile(ti, io.BytesIO(data))
        evil = tarfile.TarInfo("../evil")
        tf.addfile(evil, io.BytesIO(b""))
    buf.seek(0)
    c = open_context("-", buf)
    try:
        assert read_containerfile(c.root, None) == ("FROM x\n", str(c.root / "Containerfile"))
        assert not (c.root.parent / "evil").exists()
    finally:
        c.close()
    assert not c.root.exists()


def test_containerfile_then_dockerfile(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM d\n")
    assert read_containerfile(tmp_path, None)[0] == "FROM d\n"
    (tmp_path / "Containerfile").write_text("FROM c\n")
    assert read_containerfile(tmp_path, None)[0] == "FROM c\n"
    assert read_containerfile(tmp_path, "-", io.BytesIO(b"FROM s\n")) == ("FROM s\n", "-")
    with pytest.raises(UsageError, match="no Containerfile or Dockerfile"):
        read_containerfile(tmp_path / "nothing", None)


def test_expose_and_durations() -> None:
    ins = Instruction("EXPOSE", "", "EXPOSE", 3, "Cf")
    assert _ports(ins, "80") == ["80/tcp"]
    assert _ports(ins, "53/UDP") == ["53/udp"]
    assert _ports(ins, "8000-8002") == ["8000/tcp", "8001/tcp", "8002/tcp"]
    with pytest.raises(ParseError, match="Cf:3: EXPOSE x: invalid port"):
        _ports(ins, "x")
    assert _go_duration("1m30s", "--interval") == 90 * 10**9
    assert _go_duration("500ms", "--timeout") == 5 * 10**8
    with pytest.raises(UsageError):
        _go_duration("5 s", "--interval")
