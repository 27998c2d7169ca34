"""Mounting an OCI ``mounts`` entry safely inside a rootfs (used by the container init).

Destinations are resolved inside the rootfs (:mod:`podpy.runtime.rootpath`), opened with
``O_PATH|O_NOFOLLOW`` and mounted through ``/proc/self/fd/N``, so a symlink planted in the image
cannot send a mount onto the host, even if it is swapped in after the check (runc does the same).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat

from podpy.runtime.rootpath import fd_path, is_within, mkdir_in_root, secure_join
from podpy.util import syscalls as sc_mod
from podpy.util.errors import InvalidInput
from podpy.util.record import FrozenRecord

TYPE_CHECKING = False  # not typing's: importing typing costs every command start-up time
if TYPE_CHECKING:
    from typing import Any

_FLAGS: dict[str, tuple[bool, int]] = {  # option -> (clear?, flag)
    "ro": (False, sc_mod.MS_RDONLY),
    "rw": (True, sc_mod.MS_RDONLY),
    "nosuid": (False, sc_mod.MS_NOSUID),
    "suid": (True, sc_mod.MS_NOSUID),
    "nodev": (False, sc_mod.MS_NODEV),
    "dev": (True, sc_mod.MS_NODEV),
    "noexec": (False, sc_mod.MS_NOEXEC),
    "exec": (True, sc_mod.MS_NOEXEC),
    "sync": (False, sc_mod.MS_SYNCHRONOUS),
    "async": (True, sc_mod.MS_SYNCHRONOUS),
    "dirsync": (False, sc_mod.MS_DIRSYNC),
    "remount": (False, sc_mod.MS_REMOUNT),
    "mand": (False, sc_mod.MS_MANDLOCK),
    "nomand": (True, sc_mod.MS_MANDLOCK),
    "atime": (True, sc_mod.MS_NOATIME),
    "noatime": (False, sc_mod.MS_NOATIME),
    "diratime": (True, sc_mod.MS_NODIRATIME),
    "nodiratime": (False, sc_mod.MS_NODIRATIME),
    "relatime": (False, sc_mod.MS_RELATIME),
    "norelatime": (True, sc_mod.MS_RELATIME),
    "strictatime": (False, sc_mod.MS_STRICTATIME),
    "nostrictatime": (True, sc_mod.MS_STRICTATIME),
    "bind": (False, sc_mod.MS_BIND),
    "rbind": (False, sc_mod.MS_BIND | sc_mod.MS_REC),
}
_PROPAGATION: dict[str, int] = {
    "private": sc_mod.MS_PRIVATE,
    "rprivate": sc_mod.MS_PRIVATE | sc_mod.MS_REC,
    "shared": sc_mod.MS_SHARED,
    "rshared": sc_mod.MS_SHARED | sc_mod.MS_REC,
    "slave": sc_mod.MS_SLAVE,
    "rslave": sc_mod.MS_SLAVE | sc_mod.MS_REC,
    "unbindable": sc_mod.MS_UNBINDABLE,
    "runbindable": sc_mod.MS_UNBINDABLE | sc_mod.MS_REC,
}
# statvfs f_flag bits that a remount inside a user namespace must keep (they are locked).
_ST_TO_MS = {1: sc_mod.MS_RDONLY, 2: sc_mod.MS_NOSUID, 4: sc_mod.MS_NODEV, 8: sc_mod.MS_NOEXEC,
             1024: sc_mod.MS_NOATIME, 2048: sc_mod.MS_NODIRATIME, 4096: sc_mod.MS_RELATIME}  # fmt: skip


class MountOptions(FrozenRecord):
    """An OCI mount's options as mount(2) takes them: flags, propagation, the data string."""

    __slots__ = ("flags", "propagation", "data", "tmpcopyup")
    __match_args__ = __slots__  # as a dataclass's

    flags: int
    propagation: int
    data: str
    tmpcopyup: bool

    def __init__(self, flags: int, propagation: int, data: str, tmpcopyup: bool) -> None:
        self.flags = flags
        self.propagation = propagation
        self.data = data
        self.tmpcopyup = tmpcopyup


def parse_options(options: list[str]) -> MountOptions:
    flags = 0
    prop = 0
    data: list[str] = []
    copyup = False
    for o in options:
        if o in _FLAGS:
            clear, f = _FLAGS[o]
            flags = flags & ~f if clear else flags | f
        elif o in _PROPAGATION:
            prop |= _PROPAGATION[o]
        elif o == "tmpcopyup":
            copyup = True
        else:
            data.append(o)
    return MountOptions(flags, prop, ",".join(data), copyup)


def locked_flags(path: str) -> int:
    """The flags of the mount at ``path`` that an unprivileged remount must preserve."""
    f = os.statvfs(path).f_flag
    return sum(ms for st, ms in _ST_TO_MS.items() if f & st)


def remount(path: str, flags: int) -> None:
    """Bind-remount ``path`` adding ``flags`` while keeping the locked ones."""
    sc = sc_mod.get()
    keep = locked_flags(path) & ~sc_mod.MS_RELATIME if flags & sc_mod.MS_RDONLY else locked_flags(path)
    sc.mount(None, path, None, sc_mod.MS_REMOUNT | sc_mod.MS_BIND | keep | flags, None)


def _open_target(rootfs: str, dest: str, want_dir: bool) -> int:
    """Create (if needed) and open the mount point inside the rootfs; O_PATH, verified."""
    path = secure_join(rootfs, dest)
    if want_dir:
        mkdir_in_root(rootfs, dest)
    else:
        mkdir_in_root(rootfs, os.path.dirname(os.path.relpath(path, rootfs)) or "/")
        with contextlib.suppress(FileExistsError):
            os.close(
                os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
            )
    fd = os.open(path, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if stat.S_ISLNK(st.st_mode):
            raise InvalidInput(f"mount destination {dest} is a symlink in the container rootfs")
        if want_dir and not stat.S_ISDIR(st.st_mode):
            raise InvalidInput(f"mount destination {dest} is not a directory in the container rootfs")
        if not is_within(rootfs, fd_path(fd)):
            raise InvalidInput(f"mount destination {dest} escapes the container rootfs")
    except BaseException:
        os.close(fd)
        raise
    return fd


def mount_entry(rootfs: str, m: dict[str, Any], host_sys_cgroup: str = "/sys/fs/cgroup") -> None:
    """Mount one config.json ``mounts`` entry below ``rootfs`` (the rootfs not yet pivoted into)."""
    sc = sc_mod.get()
    dest = m.get("destination") or ""
    if not dest.startswith("/"):
        raise InvalidInput(f"mount destination {dest!r} must be an absolute path")
    mtype = m.get("type") or ""
    source = m.get("source") or mtype
    opts = parse_options(list(m.get("options") or []))
    is_bind = bool(opts.flags & sc_mod.MS_BIND) or mtype == "bind"
    if mtype in ("proc", "sysfs"):
        expected = os.path.join(os.path.abspath(rootfs), dest.lstrip("/"))
        if secure_join(rootfs, dest) != os.path.normpath(expected):
            raise InvalidInput(
                f"{dest} is a symlink in the container rootfs; refusing to mount {mtype} there"
            )
    want_dir = True
    if is_bind:
        try:
            want_dir = stat.S_ISDIR(os.stat(source).st_mode)
        except FileNotFoundError:
            raise InvalidInput(f"bind mount source {source} does not exist") from None
    fd = _open_target(rootfs, dest, want_dir)
    target = f"/proc/self/fd/{fd}"
    # The fd names the mount point *under* the new mount: later steps use the verified path.
    real = fd_path(fd)
    try:
        if is_bind:
            flags = sc_mod.MS_BIND | (opts.flags & sc_mod.MS_REC)
            sc.mount(source, target, None, flags, None)
            extra = opts.flags & ~(sc_mod.MS_BIND | sc_mod.MS_REC)
            if extra:
                remount(real, extra)
        elif mtype == "cgroup":
            _mount_cgroup(target, real, opts, host_sys_cgroup)
        elif mtype == "sysfs":
            _mount_sysfs(target, real, opts)
        else:
            copy_fd = os.open(target, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC) if opts.tmpcopyup else -1
            try:
                sc.mount(source, target, mtype, opts.flags, opts.data or None)
                if copy_fd >= 0:
                    _copy_tree(copy_fd, real)
            finally:
                if copy_fd >= 0:
                    os.close(copy_fd)
        if opts.propagation:
            sc.mount(None, real, None, opts.propagation, None)
    finally:
        os.close(fd)


def _mount_cgroup(target: str, real: str, opts: MountOptions, host: str) -> None:
    """cgroup2 where our namespace may mount it; else the host's hierarchy bound read-only.

    Rootless on a v1/hybrid host (as here) we own no cgroup namespace, so the host's
    /sys/fs/cgroup is bound (recursively: its submounts are locked) with a read-only top.
    """
    sc = sc_mod.get()
    flags = opts.flags & ~(sc_mod.MS_BIND | sc_mod.MS_REC)
    try:
        sc.mount("cgroup2", target, "cgroup2", flags, None)
        return
    except OSError as e:
        if e.errno not in (errno.EPERM, errno.EBUSY, errno.EINVAL, errno.ENODEV):
            raise
    sc.mount(host, target, None, sc_mod.MS_BIND | sc_mod.MS_REC, None)
    remount(real, flags | sc_mod.MS_RDONLY)


def _mount_sysfs(target: str, real: str, opts: MountOptions) -> None:
    """sysfs, or (as runc does) the host's /sys bound read-only when our user namespace does not own
    the network namespace (``--userns=keep-id`` with a network namespace made by podpy's)."""
    sc = sc_mod.get()
    try:
        sc.mount("sysfs", target, "sysfs", opts.flags, opts.data or None)
        return
    except OSError as e:
        if e.errno != errno.EPERM:
            raise
    sc.mount("/sys", target, None, sc_mod.MS_BIND | sc_mod.MS_REC, None)
    remount(real, (opts.flags & ~(sc_mod.MS_BIND | sc_mod.MS_REC)) | sc_mod.MS_RDONLY)


def _copy_tree(src_fd: int, dst: str) -> None:
    """``tmpcopyup``: copy what the image had under a tmpfs mount point into the new tmpfs."""
    st = os.fstat(src_fd)
    os.chmod(dst, stat.S_IMODE(st.st_mode))
    with contextlib.suppress(OSError):
        os.chown(dst, st.st_uid, st.st_gid)
    dst_fd = os.open(dst, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        _copy_dir(src_fd, dst_fd)
    finally:
        os.close(dst_fd)


def _copy_dir(src_fd: int, dst_fd: int) -> None:
    for name in os.listdir(src_fd):
        st = os.lstat(name, dir_fd=src_fd)
        mode = stat.S_IMODE(st.st_mode)
        if stat.S_ISDIR(st.st_mode):
            os.mkdir(name, mode, dir_fd=dst_fd)
            s = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=src_fd)
            d = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dst_fd)
            try:
                _copy_dir(s, d)
            finally:
                os.close(s)
                os.close(d)
        elif stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(name, dir_fd=src_fd), name, dir_fd=dst_fd)
        elif stat.S_ISREG(st.st_mode):
            s = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=src_fd)
            d = os.open(
                name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=dst_fd
            )
            try:
                while chunk := os.read(s, 1 << 20):
                    os.write(d, chunk)
            finally:
                os.close(s)
                os.close(d)
        else:
            continue  # devices, fifos, sockets are not copied up
        with contextlib.suppress(OSError):
            os.chown(name, st.st_uid, st.st_gid, dir_fd=dst_fd, follow_symlinks=False)
        if not stat.S_ISLNK(st.st_mode):
            os.chmod(name, mode, dir_fd=dst_fd)
