"""The build context: a directory (or a tar read from stdin, unpacked to a temp dir), its ignore
rules, source selection for COPY/ADD (globs, directories) and the content hash the cache keys use."""

from __future__ import annotations

import hashlib
import os
import posixpath
import shutil
import stat
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from podpy.build.ignore import IgnoreRules, _compile, load_rules, walk
from podpy.util.errors import PodpyError, UsageError

GLOB_CHARS = "*?["


@dataclass
class Context:
    root: Path
    rules: IgnoreRules = field(default_factory=lambda: IgnoreRules([]))
    temp: bool = False  # unpacked from stdin: removed by close()

    def close(self) -> None:
        if self.temp:
            shutil.rmtree(self.root, ignore_errors=True)


def open_context(path: str, stdin: IO[bytes] | None = None, ignorefile: str | None = None) -> Context:
    """``path`` a directory, or ``-`` for a tar (optionally compressed) on stdin."""
    if path == "-":
        if stdin is None:
            raise UsageError("no build context on stdin")
        tmp = Path(tempfile.mkdtemp(prefix="podpy-build-ctx-"))
        try:
            _extract_context(stdin, tmp)
        except (tarfile.TarError, OSError, UsageError) as e:
            shutil.rmtree(tmp, ignore_errors=True)
            raise UsageError(f"reading the build context from stdin: {e}") from None
        return Context(tmp, load_rules(tmp, ignorefile), temp=True)
    if "://" in path or path.startswith("git@"):
        raise UsageError(f"build context {path!r}: only a local directory or - (a tar on stdin) is supported")
    root = Path(path)
    if not root.is_dir():
        raise UsageError(f"context must be a directory: {os.path.abspath(path)!r} is not one")
    try:
        rules = load_rules(root.resolve(), ignorefile)
    except OSError as e:
        raise UsageError(f"reading the ignore file: {e.strerror or e}") from None
    return Context(root.resolve(), rules)


def _extract_context(stream: IO[bytes], dest: Path) -> None:
    """Unpack a context tar: regular files, dirs and symlinks only, nothing outside ``dest``."""
    base = str(dest)
    with tarfile.open(fileobj=stream, mode="r|*") as tf:
        for m in tf:
            name = posixpath.normpath(m.name.lstrip("/"))
            if name == "." or name.startswith("../") or name == "..":
                continue
            path = os.path.join(base, name)
            parent = os.path.realpath(os.path.dirname(path))
            if not (parent == base or parent.startswith(base + "/")):
                raise UsageError(f"context tar member {m.name!r} leaves the context")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            if m.isdir():
                os.makedirs(path, exist_ok=True)
                os.chmod(path, (m.mode & 0o777) | 0o700)
            elif m.isreg():
                src = tf.extractfile(m)
                assert src is not None
                with open(path, "wb") as f:
                    shutil.copyfileobj(src, f)
                os.chmod(path, (m.mode & 0o777) | 0o600)
            elif m.issym():
                os.symlink(m.linkname, path)


@dataclass(frozen=True)
class Source:
    """One COPY/ADD source found: its path relative to its root and the entries to copy under it."""

    rel: str  # as matched ("" for the root itself)
    host: str  # absolute host path
    is_dir: bool
    entries: tuple[str, ...]  # relative to ``rel``: what lies below (directories only)


def _clean(src: str) -> str:
    rel = posixpath.normpath("/" + src).lstrip("/")
    return rel if rel != "." else ""


def _is_dir(p: str) -> bool:
    return os.path.isdir(p) and not os.path.islink(p)


def find_sources(
    root: str, pattern: str, rules: IgnoreRules | None, where: str, *, in_root: bool = False
) -> list[Source]:
    """The sources ``pattern`` names under ``root`` (the context, or a stage's rootfs when ``in_root``).

    Paths that leave the context are refused (``../x``); a missing or ignored source is Podman's
    ``copier: stat: "/x": no such file or directory``.
    """
    raw = posixpath.normpath(pattern)
    if not in_root and (raw == ".." or raw.startswith("../")):
        raise PodpyError(
            f'checking on sources under "{where}": possible escaping context directory error: '
            f'copier: stat: "/{posixpath.basename(raw)}": no such file or directory'
        )
    rel = _clean(pattern)
    rules = rules or IgnoreRules([])
    if any(c in rel for c in GLOB_CHARS):
        rx = _compile(rel)
        names = [p for p in walk(Path(root), rules) if p and rx.match(p)]
        names = [p for p in names if not any(rx.match(q) for q in _ancestors(p))]
        if not names:
            raise PodpyError(
                f'checking on sources under "{where}": no items matching glob "{pattern}" copied'
            )
        return [_source(root, p, rules) for p in names]
    host = _resolve(root, rel, in_root)
    if not os.path.lexists(host) or (rel and rules.excluded(rel) and not _is_dir(host)):
        raise PodpyError(
            f'checking on sources under "{where}": copier: stat: "/{rel}": no such file or directory'
        )
    return [_source(root, rel, rules, host)]


def _ancestors(p: str) -> list[str]:
    parts = p.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


def _resolve(root: str, rel: str, in_root: bool) -> str:
    if in_root:
        from podpy.engine.build_step import resolve_in

        return resolve_in(root, rel)
    host = os.path.join(root, rel) if rel else root
    real = os.path.realpath(host)
    if (
        os.path.lexists(host)
        and not (real == root or real.startswith(root.rstrip("/") + "/"))
        and not os.path.islink(host)
    ):
        raise PodpyError(f'checking on sources under "{root}": possible escaping context directory error')
    return host


def _source(root: str, rel: str, rules: IgnoreRules, host: str | None = None) -> Source:
    host = host or (os.path.join(root, rel) if rel else root)
    if not _is_dir(host):
        return Source(rel, host, False, ())
    if rel == "":
        below = walk(Path(root), rules)
    elif host == os.path.join(root, rel):
        below = [p[len(rel) + 1 :] for p in walk(Path(root), rules, rel) if p != rel]
    else:  # a directory resolved elsewhere (a stage's rootfs): everything below it
        below = walk(Path(host), IgnoreRules([]))
    return Source(rel, host, True, tuple(p for p in below if p))


def hash_sources(sources: list[Source]) -> str:
    """A content hash of what would be copied: names, types, modes, link targets and file contents."""
    h = hashlib.sha256()
    for s in sources:
        h.update(f"S\0{s.rel}\0{int(s.is_dir)}\0".encode())
        for name in ("", *s.entries) if s.is_dir else ("",):
            p = os.path.join(s.host, name) if name else s.host
            st = os.lstat(p)
            h.update(f"{name}\0{stat.S_IFMT(st.st_mode)}\0{stat.S_IMODE(st.st_mode)}\0".encode())
            if stat.S_ISLNK(st.st_mode):
                h.update(os.readlink(p).encode())
            elif stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    while chunk := f.read(1 << 20):
                        h.update(chunk)
            h.update(b"\n")
    return h.hexdigest()
