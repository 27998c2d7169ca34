"""Resolve ``--user`` against the image's own ``/etc/passwd`` and ``/etc/group`` — never the host's.

No NSS: the files are read inside the rootfs with :func:`read_file_in_root`, so a symlink to a host
file, a FIFO or a huge file cannot trick or hang us. Semantics follow Podman/runc: ``name``,
``uid``, ``uid:gid``, ``name:group``; a numeric uid absent from passwd runs with gid 0 and HOME=/.
"""

from __future__ import annotations

from podpy.runtime.rootpath import read_file_in_root
from podpy.util.errors import PodpyError
from podpy.util.record import FRESH, FrozenRecord

TYPE_CHECKING = False  # not typing's: importing typing costs start-up time
if TYPE_CHECKING:
    pass

MAX_DB_SIZE = 4 * 1024 * 1024  # a real /etc/passwd is a few KiB


class ExecUser(FrozenRecord):
    """The user the container's process runs as, resolved in the rootfs' /etc/passwd and /etc/group."""

    __slots__ = ("uid", "gid", "additional_gids", "home")
    __match_args__ = __slots__  # as a dataclass's

    uid: int
    gid: int
    additional_gids: list[int]
    home: str

    def __init__(self, uid: int, gid: int, additional_gids: list[int] = FRESH, home: str = "/") -> None:
        self.uid = uid
        self.gid = gid
        self.additional_gids = [] if additional_gids is FRESH else additional_gids
        self.home = home


class _Entry(FrozenRecord):
    """One line of /etc/passwd or /etc/group."""

    __slots__ = ("name", "id", "gid", "home", "members")
    __match_args__ = __slots__  # as a dataclass's

    name: str
    id: int
    gid: int  # passwd: primary gid; group: unused
    home: str
    members: tuple[str, ...]

    def __init__(self, name: str, id: int, gid: int, home: str, members: tuple[str, ...]) -> None:
        self.name = name
        self.id = id
        self.gid = gid
        self.home = home
        self.members = members


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


class PasswdAdditions(FrozenRecord):
    """Lines ``--userns=keep-id`` adds to the container's /etc/passwd and /etc/group (as Podman)."""

    __slots__ = ("user", "passwd", "group")
    __match_args__ = __slots__  # as a dataclass's

    user: ExecUser  # the process user, HOME updated
    passwd: str  # a line with its newline, or "" when the image has the user already
    group: str

    def __init__(self, user: ExecUser, passwd: str = "", group: str = "") -> None:
        self.user = user
        self.passwd = passwd
        self.group = group


def keep_id_additions(
    rootfs: str,
    user: ExecUser,
    *,
    uid: int,
    gid: int,
    host_user: tuple[str, str, str, str] | None,
    workdir: str,
    mount_dests: list[str],
) -> PasswdAdditions:
    """What keep-id adds for the user ``uid:gid``, unless the image knows them already.

    ``host_user``: (name, gecos, home, group name) of the host user when keep-id has no ``uid=``/
    ``gid=`` options (Podman's "current user" entry); else the entry is ``UID:*:UID:GID:container
    user:…``. HOME is the working directory, or the host home when it is a mount destination.
    """
    passwd = _parse(read_file_in_root(rootfs, "/etc/passwd", MAX_DB_SIZE), "passwd")
    groups = _parse(read_file_in_root(rootfs, "/etc/group", MAX_DB_SIZE), "group")
    name, gecos, home, group_name = host_user or (str(uid), "container user", "", str(gid))
    pw_line = gr_line = ""
    if not any(e.name == name or e.id == uid for e in passwd):
        home_dir = home if home and home in mount_dests else workdir
        pw_line = f"{name}:*:{uid}:{gid}:{gecos}:{home_dir}:/bin/sh\n"
        user = ExecUser(user.uid, user.gid, list(user.additional_gids), home_dir)  # Podman: HOME even with -u
    if not any(e.name == group_name or e.id == gid for e in groups):
        gr_line = f"{group_name}:x:{gid}:{name}\n"
    return PasswdAdditions(user, pw_line, gr_line)


def append_in_root(rootfs: str, unsafe: str, line: str, owner: tuple[int, int]) -> None:
    """Append ``line`` to a file inside the rootfs (created, owned by ``owner``, when missing);
    never through a symlink out of it (:func:`open_in_root`)."""
    import os

    from podpy.runtime.rootpath import mkdir_in_root, open_in_root, secure_join

    try:
        fd = open_in_root(rootfs, unsafe, os.O_WRONLY | os.O_APPEND | os.O_NONBLOCK)
    except FileNotFoundError:  # missing, or a dangling symlink: created where it points, inside
        target = os.path.relpath(secure_join(rootfs, unsafe), rootfs)
        mkdir_in_root(rootfs, "/" + os.path.dirname(target))
        fd = open_in_root(rootfs, unsafe, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL)
        os.fchmod(fd, 0o644)
        os.fchown(fd, *owner)
    try:
        import stat

        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise PodpyError(f"{unsafe} in the image is not a regular file; cannot add the keep-id user")
        data = line.encode()
        if os.fstat(fd).st_size and not _ends_with_newline(rootfs, unsafe):
            data = b"\n" + data
        os.write(fd, data)
    finally:
        os.close(fd)


def _ends_with_newline(rootfs: str, unsafe: str) -> bool:
    data = read_file_in_root(rootfs, unsafe, MAX_DB_SIZE) or b""
    return not data or data.endswith(b"\n")


def _host_user(uid: int, gid: int) -> tuple[str, str, str, str] | None:
    """(name, gecos, home, group name) of the host user (the NSS lookup Podman does too)."""
    import grp
    import pwd

    try:
        pw = pwd.getpwuid(uid)
    except KeyError:
        return None
    try:
        gname = grp.getgrgid(gid).gr_name
    except KeyError:
        gname = str(gid)
    return pw.pw_name, pw.pw_gecos, pw.pw_dir, gname


def setup_keep_id(
    rootfs: str,
    user: ExecUser,
    *,
    userns: str,
    uid: int,
    gid: int,
    host_ids: tuple[int, int],
    workdir: str,
    mount_dests: list[str],
    root_owner: tuple[int, int],
) -> ExecUser:
    """``--userns=keep-id``: the user's passwd/group lines appended in the rootfs, HOME set.

    ``uid``/``gid``: the user's IDs in the container; ``host_ids``: the user's IDs on the host
    (their passwd entry is used unless keep-id has ``uid=``/``gid=``); ``root_owner``: the
    container root as a podpy-namespace ID pair (owner of a passwd file created from nothing).
    """
    host_user = None if ":" in userns else _host_user(*host_ids)
    add = keep_id_additions(rootfs, user, uid=uid, gid=gid, host_user=host_user, workdir=workdir,
                            mount_dests=mount_dests)  # fmt: skip
    if add.passwd:
        append_in_root(rootfs, "/etc/passwd", add.passwd, root_owner)
    if add.group:
        append_in_root(rootfs, "/etc/group", add.group, root_owner)
    return add.user
