"""Resolve ``--user`` against the image's own ``/etc/passwd`` and ``/etc/group`` — never the host's.

No NSS: the files are read inside the rootfs with :func:`read_file_in_root`, so a symlink to a host
file, a FIFO or a huge file cannot trick or hang us. Semantics follow Podman/runc: ``name``,
``uid``, ``uid:gid``, ``name:group``; a numeric uid absent from passwd runs with gid 0 and HOME=/.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from podpy.runtime.rootpath import read_file_in_root
from podpy.util.errors import PodpyError

MAX_DB_SIZE = 4 * 1024 * 1024  # a real /etc/passwd is a few KiB


@dataclass(frozen=True)
class ExecUser:
    uid: int
    gid: int
    additional_gids: list[int] = field(default_factory=list)
    home: str = "/"


@dataclass(frozen=True)
class _Entry:
    name: str
    id: int
    gid: int  # passwd: primary gid; group: unused
    home: str
    members: tuple[str, ...]


def _parse(data: bytes | None, kind: str) -> list[_Entry]:
    out: list[_Entry] = []
    if not data:
        return out
    for line in data.decode("utf-8", "replace").splitlines():
        if not line or line.startswith("#"):
            continue
        f = line.split(":")
        try:
            if kind == "passwd" and len(f) >= 7:
                out.append(_Entry(f[0], int(f[2]), int(f[3]), f[5] or "/", ()))
            elif kind == "group" and len(f) >= 4:
                out.append(_Entry(f[0], int(f[2]), 0, "", tuple(m for m in f[3].split(",") if m)))
        except ValueError:
            continue  # a malformed line is skipped, as libc does
    return out


def _num(s: str) -> int | None:
    if s.isdigit():
        v = int(s)
        if v < 2**32 - 1:
            return v
    return None


def resolve_user(rootfs: str, user: str, group_add: list[str] | None = None) -> ExecUser:
    """Turn ``user`` (may be empty: root) into numeric ids using the rootfs' own databases."""
    passwd = _parse(read_file_in_root(rootfs, "/etc/passwd", MAX_DB_SIZE), "passwd")
    groups = _parse(read_file_in_root(rootfs, "/etc/group", MAX_DB_SIZE), "group")
    uname, _, gname = (user or "0").partition(":")
    uid = _num(uname)
    entry: _Entry | None = None
    if uid is None:
        entry = next((e for e in passwd if e.name == uname), None)
        if entry is None:
            raise PodpyError(f"unable to find user {uname}: no matching entries in passwd file")
        uid = entry.id
    else:
        entry = next((e for e in passwd if e.id == uid), None)
    gid = entry.gid if entry else 0
    if gname:
        g = _num(gname)
        if g is None:
            ge = next((e for e in groups if e.name == gname), None)
            if ge is None:
                raise PodpyError(f"unable to find group {gname}: no matching entries in group file")
            g = ge.id
        gid = g
    extra: list[int] = []
    if uid != 0:
        extra.append(gid)
        if entry is not None and not gname:
            extra += [e.id for e in groups if entry.name in e.members]
    for ga in group_add or []:
        g = _num(ga)
        if g is None:
            ge = next((e for e in groups if e.name == ga), None)
            if ge is None:
                raise PodpyError(f"unable to find group {ga}: no matching entries in group file")
            g = ge.id
        extra.append(g)
    seen: list[int] = []
    for g in extra:
        if g not in seen:
            seen.append(g)
    return ExecUser(uid, gid, seen, entry.home if entry else "/")
