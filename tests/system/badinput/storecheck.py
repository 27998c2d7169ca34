"""Assertions for "refused with a clear one-line error, and nothing half-stored".

The store layout (podpy/store/__init__.py): ``ROOT/storage/blobs/sha256/<hex>`` blobs,
``overlay/<diffid-hex>/`` unpacked layers, ``overlay/.tmp-*`` layers being unpacked, ``tmp/``
temp files, ``locks/``, ``images.db`` (SQLite). The checks here are deliberately generic (a walk
of the whole ``--root`` and a row count of every table of every SQLite file in it), so that they
catch a leak whatever its name: a new regular file that is not a database or a lock, a new
directory named like a layer (64 hex) or a temp dir (leading dot), anything new below a ``tmp``
dir, and anything that *disappeared* (a cleanup that removed another image's blob).

The "after" snapshot must be taken before any other podpy command runs: opening the store removes
leftovers of dead writers, which would hide exactly the leak we look for.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HEX64 = re.compile(r"^[0-9a-f]{64}$")
DB_SUFFIXES = (".db", ".db-wal", ".db-shm", ".db-journal", ".sqlite", ".sqlite-wal", ".sqlite-shm")

# Places an escaping tar member or a symlink/hard link attack could reach on the host side.
CANARIES = ("/tmp/pwned.txt", "/tmp/escape.txt", "/abs-escape.txt", "/escape.txt")


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "d"
    if stat.S_ISREG(mode):
        return "f"
    if stat.S_ISLNK(mode):
        return "l"
    return "o"


def walk(root: Path) -> dict[str, tuple[str, int]]:
    """{relative path: (kind, inode)} of everything under ``root`` we can see (unreadable dirs skipped)."""
    out: dict[str, tuple[str, int]] = {}
    if not root.exists():
        return out
    for dirpath, dirnames, filenames in os.walk(root, onerror=lambda e: None):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            try:
                st = os.lstat(p)
            except OSError:
                continue
            out[os.path.relpath(p, root)] = (_kind(st.st_mode), st.st_ino)
    return out


def db_rows(root: Path) -> dict[str, int]:
    """{"<db path>:<table>": row count} for every SQLite database under ``root``."""
    rows: dict[str, int] = {}
    if not root.exists():
        return rows
    for dirpath, _dirs, files in os.walk(root, onerror=lambda e: None):
        for n in files:
            if not n.endswith((".db", ".sqlite")):
                continue
            p = os.path.join(dirpath, n)
            try:
                conn = sqlite3.connect(f"file:{p}?mode=ro", uri=True, timeout=10)
            except sqlite3.Error:
                continue
            try:
                tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
                for t in tables:
                    (count,) = conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()
                    rows[f"{os.path.relpath(p, root)}:{t}"] = int(count)
            except sqlite3.Error as e:
                rows[f"{os.path.relpath(p, root)}:<unreadable: {e}>"] = -1
            finally:
                conn.close()
    return rows


def canaries(extra: Iterable[str] = ()) -> dict[str, tuple[int, int, float] | None]:
    """(inode, nlink, mtime) of every host path an escape could write; /etc/passwd's nlink catches a hard link."""
    out: dict[str, tuple[int, int, float] | None] = {}
    for p in (*CANARIES, "/etc/passwd", *extra):
        try:
            st = os.lstat(p)
            out[p] = (st.st_ino, st.st_nlink, st.st_mtime)
        except OSError:
            out[p] = None
    return out


@dataclass
class Snapshot:
    root: Path
    files: dict[str, tuple[str, int]]
    rows: dict[str, int]
    host: dict[str, tuple[int, int, float] | None]
    images: list[str]


def _allowed_new(rel: str, kind: str) -> bool:
    """Is a path that appeared during a *failed* command harmless (not part of a half-stored image)?"""
    parts = rel.split(os.sep)
    name = parts[-1]
    if "tmp" in parts[:-1]:
        return False  # anything left in a tmp dir is a leftover
    if kind == "d":
        return not (HEX64.match(name) or name.startswith("."))
    if name.endswith(DB_SUFFIXES):
        return True  # row counts are compared separately
    return "locks" in parts[:-1] or name.endswith(".lock")


def _allowed_gone(rel: str, kind: str) -> bool:
    name = rel.split(os.sep)[-1]
    return name.endswith(DB_SUFFIXES) or name.endswith(".lock") or kind == "d" and not HEX64.match(name)


def list_images(cli: Callable[..., Any]) -> list[str]:
    proc = cli("images", "-a", "-q", "--no-trunc")
    assert proc.returncode == 0, f"podpy images -a -q --no-trunc failed ({proc.returncode}): {proc.stderr}"
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr
    # podman prints sha256:<hex> with --no-trunc; env.json's image_id is the bare hex
    return sorted(line.strip().removeprefix("sha256:") for line in proc.stdout.splitlines() if line.strip())


def take(root: Path, cli: Callable[..., Any] | None = None, extra_canaries: Iterable[str] = ()) -> Snapshot:
    """Snapshot ``root`` (files first, then DB rows, then — when ``cli`` is given — ``podpy images``)."""
    files = walk(root)
    rows = db_rows(root)
    host = canaries(extra_canaries)
    images = list_images(cli) if cli is not None else []
    return Snapshot(root, files, rows, host, images)


def assert_unchanged(before: Snapshot, cli: Callable[..., Any], what: str) -> None:
    """Nothing of a failed command remains: no new blobs/layers/temp files, no new DB rows, same images."""
    after_files = walk(before.root)
    after_rows = db_rows(before.root)
    after_host = canaries(before.host)
    problems: list[str] = []
    new = sorted(
        rel
        for rel, (kind, _ino) in after_files.items()
        if rel not in before.files and not _allowed_new(rel, kind)
    )
    if new:
        problems.append(f"left behind under --root: {new[:20]}{' …' if len(new) > 20 else ''}")
    gone = sorted(
        rel
        for rel, (kind, _ino) in before.files.items()
        if rel not in after_files and not _allowed_gone(rel, kind)
    )
    if gone:
        problems.append(f"removed from --root (belonged to existing images): {gone[:20]}")
    for key in sorted(set(after_rows) | set(before.rows)):
        b, a = before.rows.get(key, 0), after_rows.get(key, 0)
        if a != b:
            problems.append(f"database rows changed: {key} {b} -> {a}")
    for p, b in before.host.items():
        if after_host.get(p) != b:
            problems.append(f"host path outside the store changed (escape?): {p}: {b} -> {after_host.get(p)}")
    images = list_images(cli)  # only now: opening the store cleans leftovers
    if images != before.images:
        problems.append(f"podpy images -a changed: {before.images} -> {images}")
    assert not problems, f"{what}: something was half-stored:\n  " + "\n  ".join(problems)


def store_dir(root: Path) -> Path:
    return root / "storage"


def blob_files(root: Path) -> list[str]:
    """Every regular file below storage/blobs, as ``algo:hex`` (or the raw relative path if odd)."""
    base = store_dir(root) / "blobs"
    out = []
    for rel, (kind, _ino) in walk(base).items():
        if kind == "d":
            continue
        parts = rel.split(os.sep)
        out.append(f"{parts[0]}:{parts[1]}" if len(parts) == 2 else rel)
    return sorted(out)


def layer_dirs(root: Path) -> list[str]:
    """Every entry of storage/overlay (layer dirs, and ``.tmp-`` leftovers which count too)."""
    base = store_dir(root) / "overlay"
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir())


def temp_leftovers(root: Path) -> list[str]:
    """Temp files/dirs anywhere under --root: entries of a ``tmp`` dir, dot-named dirs under overlay."""
    out = []
    for rel, (kind, _ino) in walk(root).items():
        parts = rel.split(os.sep)
        in_tmp = len(parts) >= 2 and parts[-2] == "tmp"
        if in_tmp or (kind == "d" and parts[-1].startswith(".tmp")):
            out.append(rel)
    return sorted(out)


def expected_blobs(image: dict[str, Any]) -> set[str]:
    """The blobs a store holds for one single-platform image of env.json: manifest, config, layers."""
    return {image["manifest_digest"], image["config_digest"], *(la["digest"] for la in image["layers"])}


def expected_layers(image: dict[str, Any]) -> set[str]:
    return {la["diff_id"].split(":", 1)[1] for la in image["layers"]}


def dump(obj: Any) -> str:
    return json.dumps(obj, indent=1, sort_keys=True)
