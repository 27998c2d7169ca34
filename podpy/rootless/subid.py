"""Subordinate ID ranges (/etc/subuid, /etc/subgid) and the ID maps podpy's user namespace gets.

Pure functions over file text, so every odd line a real system has can be unit-tested; the only
I/O is ``read_ranges`` which reads one file. The format (shadow's subuid(5)) is
``NAME_OR_UID:START:COUNT`` per line, several lines per user allowed, ``#`` comments.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

SUBUID_FILE = Path("/etc/subuid")
SUBGID_FILE = Path("/etc/subgid")

# The kernel accepts at most 340 lines in uid_map/gid_map (one is the user's own ID).
MAX_MAP_LINES = 340
ID_LIMIT = 1 << 32  # IDs are 32-bit; (2**32 - 1) is the invalid ID


@dataclass(frozen=True)
class IDRange:
    """A block of host IDs a user may map: ``start .. start+count-1``."""

    start: int
    count: int


@dataclass(frozen=True)
class IDMapping:
    """One line of a uid_map/gid_map: ``container_id host_id size``."""

    container_id: int
    host_id: int
    size: int

    def line(self) -> str:
        return f"{self.container_id} {self.host_id} {self.size}"


def parse_subid(text: str, source: str = "subid file") -> list[tuple[str, IDRange]]:
    """All well-formed ``(owner, range)`` entries in file order; bad lines are skipped with a debug note."""
    out: list[tuple[str, IDRange]] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(":")
        if len(parts) != 3 or not parts[0]:
            log.debug("%s:%d: ignoring malformed line %r", source, lineno, raw)
            continue
        owner, start_s, count_s = (p.strip() for p in parts)
        if not (start_s.isdigit() and count_s.isdigit()):
            log.debug("%s:%d: ignoring line with a non-numeric range %r", source, lineno, raw)
            continue
        start, count = int(start_s), int(count_s)
        if count == 0 or start + count > ID_LIMIT - 1:
            log.debug("%s:%d: ignoring empty or out-of-range line %r", source, lineno, raw)
            continue
        out.append((owner, IDRange(start, count)))
    return out


def ranges_for(entries: Iterable[tuple[str, IDRange]], user: str | None, uid: int) -> list[IDRange]:
    """The ranges of one user, matched by name or by numeric uid, duplicates dropped, file order kept."""
    keys = {str(uid)}
    if user:
        keys.add(user)
    out: list[IDRange] = []
    for owner, rng in entries:
        if owner in keys and rng not in out:
            out.append(rng)
    return out


def read_ranges(path: str | os.PathLike[str], user: str | None, uid: int) -> list[IDRange]:
    """The user's ranges from one subid file; a missing or unreadable file means none."""
    try:
        text = Path(path).read_text(errors="replace")
    except FileNotFoundError:
        log.debug("%s does not exist: no subordinate ids", path)
        return []
    except OSError as e:
        log.debug("cannot read %s: %s", path, e)
        return []
    return ranges_for(parse_subid(text, str(path)), user, uid)


def build_id_map(own_id: int, ranges: Iterable[IDRange]) -> list[IDMapping]:
    """``0 → own_id`` (size 1), then the ranges packed from container ID 1 upwards.

    The user's own ID is never mapped twice: a range that contains it is split around it
    (the kernel refuses overlapping host ranges). Lines beyond the kernel limit are dropped.
    """
    maps = [IDMapping(0, own_id, 1)]
    next_id = 1
    for rng in ranges:
        pieces = [rng]
        if rng.start <= own_id < rng.start + rng.count:
            pieces = [
                IDRange(rng.start, own_id - rng.start),
                IDRange(own_id + 1, rng.start + rng.count - own_id - 1),
            ]
        for p in pieces:
            if p.count <= 0:
                continue
            if _overlaps(maps, p):
                log.debug("ignoring subordinate range %d+%d: it overlaps an earlier one", p.start, p.count)
                continue
            if len(maps) >= MAX_MAP_LINES:
                log.debug(
                    "ignoring subordinate range %d+%d: more than %d ranges", p.start, p.count, MAX_MAP_LINES
                )
                continue
            if next_id + p.count > ID_LIMIT - 1:
                break
            maps.append(IDMapping(next_id, p.start, p.count))
            next_id += p.count
    return maps


def _overlaps(maps: list[IDMapping], rng: IDRange) -> bool:
    return any(m.host_id < rng.start + rng.count and rng.start < m.host_id + m.size for m in maps)


def format_map(maps: Iterable[IDMapping]) -> str:
    """The text written to /proc/PID/uid_map."""
    return "".join(m.line() + "\n" for m in maps)


def parse_proc_map(text: str) -> list[IDMapping]:
    """Parse /proc/PID/uid_map (as the kernel shows it: ``inside outside count`` columns)."""
    out = []
    for line in text.splitlines():
        f = line.split()
        if len(f) == 3 and all(x.isdigit() for x in f):
            out.append(IDMapping(int(f[0]), int(f[1]), int(f[2])))
    return out


def newidmap_args(maps: Iterable[IDMapping]) -> list[str]:
    """The ``ID LOWERID COUNT`` triples newuidmap/newgidmap take after the pid."""
    return [str(x) for m in maps for x in (m.container_id, m.host_id, m.size)]


def suggest_range(texts: Iterable[str], count: int = 65536) -> IDRange:
    """A free range after every range in the given files, starting at 100000 like useradd.

    Used to print a ``usermod --add-subuids`` command that will not collide with other users.
    """
    end = 100000
    for text in texts:
        for _, rng in parse_subid(text):
            end = max(end, rng.start + rng.count)
    return IDRange(end, count)
