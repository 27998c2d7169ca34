"""The one seam through which podpy talks to the kernel about namespaces, mounts and capabilities.

Why a seam: namespace and runtime code is a sequence of syscalls whose order matters and whose
failures must be reported precisely. Going through one object lets unit tests swap in
``RecordingSyscalls`` (which records every call and can be told to fail), the way youki's
``Syscall`` trait does, while production uses ``LinuxSyscalls`` (thin ctypes wrappers).

Use it as ``from podpy.util import syscalls; sc = syscalls.get(); sc.mount(...)``.
Tests: ``with syscalls.use(RecordingSyscalls()) as fake: ...`` (or ``set_for_tests``).

Every failure is ``OSError(errno, "call(args): strerror")`` so a message names the call and its
arguments; ``e.errno`` stays usable for ``except PermissionError`` and friends.

Only x86_64 and aarch64 syscall numbers are known for the calls glibc has no wrapper for
(``pivot_root``, ``seccomp``, ``pidfd_open``; ``close_range`` is the same everywhere).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno as _errno
import os
import resource
from collections import namedtuple
from collections.abc import Iterator

from podpy.util.capabilities import CAPABILITIES as CAPABILITIES  # name -> bit number (re-exported)

TYPE_CHECKING = False  # not typing's: importing typing costs every command start-up time
if TYPE_CHECKING:
    from typing import Any

# --- clone / unshare / setns flags (linux/sched.h) -------------------------------------------------
CLONE_NEWTIME = 0x00000080
CLONE_VM = 0x00000100
CLONE_FS = 0x00000200
CLONE_FILES = 0x00000400
CLONE_SIGHAND = 0x00000800
CLONE_PIDFD = 0x00001000
CLONE_NEWNS = 0x00020000
CLONE_SYSVSEM = 0x00040000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

# /proc/PID/ns/<name> for each namespace flag; the order in which a runtime should join them
# (user first: it grants the capabilities needed for the others).
NAMESPACE_FILES: dict[int, str] = {
    CLONE_NEWUSER: "user",
    CLONE_NEWNS: "mnt",
    CLONE_NEWPID: "pid",
    CLONE_NEWNET: "net",
    CLONE_NEWIPC: "ipc",
    CLONE_NEWUTS: "uts",
    CLONE_NEWCGROUP: "cgroup",
    CLONE_NEWTIME: "time",
}

# --- mount(2) flags (linux/mount.h) ---------------------------------------------------------------
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_SYNCHRONOUS = 16
MS_REMOUNT = 32
MS_MANDLOCK = 64
MS_DIRSYNC = 128
MS_NOSYMFOLLOW = 256
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_SILENT = 32768
MS_POSIXACL = 1 << 16
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_KERNMOUNT = 1 << 22
MS_I_VERSION = 1 << 23
MS_STRICTATIME = 1 << 24
MS_LAZYTIME = 1 << 25

# --- umount2(2) flags -----------------------------------------------------------------------------
MNT_FORCE = 1
MNT_DETACH = 2
MNT_EXPIRE = 4
UMOUNT_NOFOLLOW = 8

# --- prctl(2) options (linux/prctl.h) -------------------------------------------------------------
PR_SET_PDEATHSIG = 1
PR_GET_PDEATHSIG = 2
PR_GET_DUMPABLE = 3
PR_SET_DUMPABLE = 4
PR_GET_KEEPCAPS = 7
PR_SET_KEEPCAPS = 8
PR_SET_NAME = 15
PR_GET_NAME = 16
PR_GET_SECCOMP = 21
PR_SET_SECCOMP = 22
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_SET_SECUREBITS = 28
PR_GET_SECUREBITS = 27
PR_SET_CHILD_SUBREAPER = 36
PR_GET_CHILD_SUBREAPER = 37
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_IS_SET = 1
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_LOWER = 3
PR_CAP_AMBIENT_CLEAR_ALL = 4

# --- seccomp(2) -----------------------------------------------------------------------------------
SECCOMP_SET_MODE_STRICT = 0
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAG_TSYNC = 1
SECCOMP_FILTER_FLAG_LOG = 2
SECCOMP_FILTER_FLAG_SPEC_ALLOW = 4

# --- close_range(2) -------------------------------------------------------------------------------
CLOSE_RANGE_UNSHARE = 1 << 1
CLOSE_RANGE_CLOEXEC = 1 << 2

_LINUX_CAPABILITY_VERSION_3 = 0x20080522

# syscall numbers for calls without a glibc wrapper (or with one newer than some distros' glibc).
_SYSCALL_NUMBERS: dict[str, dict[str, int]] = {
    "x86_64": {"pivot_root": 155, "seccomp": 317, "pidfd_open": 434, "close_range": 436},
    "aarch64": {"pivot_root": 41, "seccomp": 277, "pidfd_open": 434, "close_range": 436},
}


class CapState(namedtuple("CapState", "effective permitted inheritable", defaults=(0, 0, 0))):
    """A thread's capability sets as 64-bit masks (bit N = capability N): effective, permitted, inheritable."""

    __slots__ = ()


def flag_names(value: int, prefix: str) -> str:
    """``MS_BIND|MS_REC`` for a flags value, so error messages are readable."""
    if value == 0:
        return "0"
    names = []
    rest = value
    for name, v in sorted(globals().items()):
        if name.startswith(prefix) and isinstance(v, int) and v and v & (v - 1) == 0 and rest & v:
            names.append(name)
            rest &= ~v
    if rest:
        names.append(hex(rest))
    return "|".join(names)


def _fmt_args(args: tuple[Any, ...]) -> str:
    return ", ".join(a if isinstance(a, _Raw) else repr(a) for a in args)


class _Raw(str):
    """An argument already formatted for a message (e.g. flag names)."""


def _error(call: str, args: tuple[Any, ...], err: int) -> OSError:
    return OSError(err, f"{call}({_fmt_args(args)}): {os.strerror(err)}")


class Syscalls:
    """The interface: every method either succeeds or raises OSError naming the call.

    ``LinuxSyscalls`` implements it with ctypes; ``RecordingSyscalls`` records calls for tests.
    Subclasses override the primitive methods; the convenience helpers below are built on them.
    """

    # primitives --------------------------------------------------------------------------------
    def unshare(self, flags: int) -> None:
        raise NotImplementedError

    def setns(self, fd: int, nstype: int = 0) -> None:
        raise NotImplementedError

    def mount(
        self, source: str | None, target: str, fstype: str | None, flags: int = 0, data: str | None = None
    ) -> None:
        raise NotImplementedError

    def umount2(self, target: str, flags: int = 0) -> None:
        raise NotImplementedError

    def pivot_root(self, new_root: str, put_old: str) -> None:
        raise NotImplementedError

    def sethostname(self, name: str) -> None:
        raise NotImplementedError

    def setdomainname(self, name: str) -> None:
        raise NotImplementedError

    def capget(self, pid: int = 0) -> CapState:
        raise NotImplementedError

    def capset(self, caps: CapState) -> None:
        raise NotImplementedError

    def prctl(self, option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
        raise NotImplementedError

    def setresuid(self, ruid: int, euid: int, suid: int) -> None:
        raise NotImplementedError

    def setresgid(self, rgid: int, egid: int, sgid: int) -> None:
        raise NotImplementedError

    def setgroups(self, groups: list[int]) -> None:
        raise NotImplementedError

    def chroot(self, path: str) -> None:
        raise NotImplementedError

    def setrlimit(self, resource_id: int, soft: int, hard: int) -> None:
        raise NotImplementedError

    def close_range(self, first: int, last: int = 0xFFFFFFFF, flags: int = 0) -> None:
        raise NotImplementedError

    def seccomp_set_filter(self, program: bytes, flags: int = 0) -> None:
        """Install a classic-BPF seccomp filter; ``program`` is packed ``struct sock_filter`` entries."""
        raise NotImplementedError

    def pidfd_open(self, pid: int, flags: int = 0) -> int:
        raise NotImplementedError

    # helpers built on the primitives ---------------------------------------------------------
    def set_name(self, name: str) -> None:
        """Set the thread's comm (what ``ps -o comm`` shows), at most 15 bytes."""
        self._prctl_name(name)

    def _prctl_name(self, name: str) -> None:
        raise NotImplementedError

    def set_no_new_privs(self) -> None:
        self.prctl(PR_SET_NO_NEW_PRIVS, 1)

    def set_pdeathsig(self, sig: int) -> None:
        self.prctl(PR_SET_PDEATHSIG, sig)

    def set_child_subreaper(self, on: bool = True) -> None:
        self.prctl(PR_SET_CHILD_SUBREAPER, 1 if on else 0)

    def set_keepcaps(self, on: bool = True) -> None:
        self.prctl(PR_SET_KEEPCAPS, 1 if on else 0)

    def ambient_raise(self, cap: int) -> None:
        self.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap)

    def ambient_clear_all(self) -> None:
        self.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)

    def bounding_drop(self, cap: int) -> None:
        self.prctl(PR_CAPBSET_DROP, cap)

    def bounding_has(self, cap: int) -> bool:
        return self.prctl(PR_CAPBSET_READ, cap) == 1

    def setns_path(self, path: str, nstype: int = 0) -> None:
        """Join the namespace behind ``path`` (e.g. ``/proc/PID/ns/user``)."""
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            self.setns(fd, nstype)
        finally:
            os.close(fd)


class LinuxSyscalls(Syscalls):
    """The real thing: ctypes calls into libc, errno turned into OSError."""

    def __init__(self) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        self._libc = libc
        self._nr = _SYSCALL_NUMBERS.get(os.uname().machine, {})
        # typed function pointers (indexing makes a private copy, so argtypes never clash)
        self._mount = libc["mount"]
        self._mount.argtypes = [
            ctypes.c_char_p,
            ctypes.c_char_p,
            ctypes.c_char_p,
            ctypes.c_ulong,
            ctypes.c_char_p,
        ]
        self._prctl = libc["prctl"]
        self._prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
        self._prctl_str = libc["prctl"]
        self._prctl_str.argtypes = [
            ctypes.c_int,
            ctypes.c_char_p,
            ctypes.c_ulong,
            ctypes.c_ulong,
            ctypes.c_ulong,
        ]
        self._syscall_fn = libc["syscall"]
        self._syscall_fn.restype = ctypes.c_long

    # plumbing ----------------------------------------------------------------------------------
    def _check(self, rc: int, call: str, *args: Any) -> int:
        if rc == -1:
            raise _error(call, args, ctypes.get_errno())
        return rc

    def _syscall(self, name: str, *cargs: Any) -> int:
        nr = self._nr.get(name)
        if nr is None:
            raise OSError(_errno.ENOSYS, f"{name}: syscall number unknown on {os.uname().machine}")
        return int(self._syscall_fn(ctypes.c_long(nr), *cargs))

    @staticmethod
    def _b(s: str | None) -> bytes | None:
        return None if s is None else os.fsencode(s)

    # primitives --------------------------------------------------------------------------------
    def unshare(self, flags: int) -> None:
        self._check(self._libc.unshare(ctypes.c_int(flags)), "unshare", _Raw(flag_names(flags, "CLONE_")))

    def setns(self, fd: int, nstype: int = 0) -> None:
        rc = self._libc.setns(ctypes.c_int(fd), ctypes.c_int(nstype))
        if rc == -1:
            err = ctypes.get_errno()
            try:
                what = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                what = f"fd {fd}"
            raise _error("setns", (what, _Raw(flag_names(nstype, "CLONE_"))), err)

    def mount(
        self, source: str | None, target: str, fstype: str | None, flags: int = 0, data: str | None = None
    ) -> None:
        rc = self._mount(self._b(source), self._b(target), self._b(fstype), flags, self._b(data))
        self._check(rc, "mount", source, target, fstype, _Raw(flag_names(flags, "MS_")), data)

    def umount2(self, target: str, flags: int = 0) -> None:
        rc = self._libc.umount2(self._b(target), ctypes.c_int(flags))
        self._check(rc, "umount2", target, _Raw(flag_names(flags, "MNT_")))

    def pivot_root(self, new_root: str, put_old: str) -> None:
        rc = self._syscall(
            "pivot_root", ctypes.c_char_p(self._b(new_root)), ctypes.c_char_p(self._b(put_old))
        )
        self._check(rc, "pivot_root", new_root, put_old)

    def sethostname(self, name: str) -> None:
        b = name.encode()
        self._check(self._libc.sethostname(b, ctypes.c_size_t(len(b))), "sethostname", name)

    def setdomainname(self, name: str) -> None:
        b = name.encode()
        self._check(self._libc.setdomainname(b, ctypes.c_size_t(len(b))), "setdomainname", name)

    def capget(self, pid: int = 0) -> CapState:
        hdr = (ctypes.c_uint32 * 2)(_LINUX_CAPABILITY_VERSION_3, pid)
        data = (ctypes.c_uint32 * 6)()
        self._check(self._libc.capget(ctypes.byref(hdr), ctypes.byref(data)), "capget", pid)
        # data is two struct __user_cap_data_struct {effective, permitted, inheritable}: low, high words
        return CapState(
            effective=data[0] | (data[3] << 32),
            permitted=data[1] | (data[4] << 32),
            inheritable=data[2] | (data[5] << 32),
        )

    def capset(self, caps: CapState) -> None:
        hdr = (ctypes.c_uint32 * 2)(_LINUX_CAPABILITY_VERSION_3, 0)
        lo, hi = 0xFFFFFFFF, 32
        data = (ctypes.c_uint32 * 6)(
            caps.effective & lo,
            caps.permitted & lo,
            caps.inheritable & lo,
            caps.effective >> hi & lo,
            caps.permitted >> hi & lo,
            caps.inheritable >> hi & lo,
        )
        rc = self._libc.capset(ctypes.byref(hdr), ctypes.byref(data))
        self._check(
            rc,
            "capset",
            _Raw(f"eff={caps.effective:#x}, prm={caps.permitted:#x}, inh={caps.inheritable:#x}"),
        )

    def prctl(self, option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
        return self._check(
            self._prctl(option, arg2, arg3, arg4, arg5), "prctl", option, arg2, arg3, arg4, arg5
        )

    def _prctl_name(self, name: str) -> None:
        rc = self._prctl_str(PR_SET_NAME, name.encode()[:15], 0, 0, 0)
        self._check(rc, "prctl", _Raw("PR_SET_NAME"), name)

    def setresuid(self, ruid: int, euid: int, suid: int) -> None:
        try:
            os.setresuid(ruid, euid, suid)
        except OSError as e:
            raise _error("setresuid", (ruid, euid, suid), e.errno or _errno.EPERM) from None

    def setresgid(self, rgid: int, egid: int, sgid: int) -> None:
        try:
            os.setresgid(rgid, egid, sgid)
        except OSError as e:
            raise _error("setresgid", (rgid, egid, sgid), e.errno or _errno.EPERM) from None

    def setgroups(self, groups: list[int]) -> None:
        try:
            os.setgroups(groups)
        except OSError as e:
            raise _error("setgroups", (groups,), e.errno or _errno.EPERM) from None

    def chroot(self, path: str) -> None:
        try:
            os.chroot(path)
        except OSError as e:
            raise _error("chroot", (path,), e.errno or _errno.EPERM) from None

    def setrlimit(self, resource_id: int, soft: int, hard: int) -> None:
        try:
            resource.setrlimit(resource_id, (soft, hard))
        except (OSError, ValueError) as e:
            err = getattr(e, "errno", None) or _errno.EINVAL
            raise _error("setrlimit", (resource_id, soft, hard), err) from None

    def close_range(self, first: int, last: int = 0xFFFFFFFF, flags: int = 0) -> None:
        rc = self._syscall("close_range", ctypes.c_uint(first), ctypes.c_uint(last), ctypes.c_uint(flags))
        self._check(rc, "close_range", first, last, _Raw(flag_names(flags, "CLOSE_RANGE_")))

    def seccomp_set_filter(self, program: bytes, flags: int = 0) -> None:
        if len(program) % 8:
            raise OSError(_errno.EINVAL, "seccomp: BPF program length is not a multiple of 8 bytes")

        class SockFprog(ctypes.Structure):
            _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

        buf = ctypes.create_string_buffer(program, len(program))
        prog = SockFprog(len(program) // 8, ctypes.cast(buf, ctypes.c_void_p))
        rc = self._syscall(
            "seccomp", ctypes.c_uint(SECCOMP_SET_MODE_FILTER), ctypes.c_uint(flags), ctypes.byref(prog)
        )
        self._check(
            rc, "seccomp", _Raw("SECCOMP_SET_MODE_FILTER"), flags, _Raw(f"<{len(program) // 8} insns>")
        )

    def pidfd_open(self, pid: int, flags: int = 0) -> int:
        return self._check(
            self._syscall("pidfd_open", ctypes.c_int(pid), ctypes.c_uint(flags)), "pidfd_open", pid
        )


class Call(namedtuple("Call", "name args")):
    """One recorded call: ``Call("mount", (src, target, fstype, flags, data))``: its name and args."""

    __slots__ = ()


class RecordingSyscalls(Syscalls):
    """A fake for unit tests: records every call, touches nothing, fails where told to.

    ``fail={"mount": errno.EPERM}`` makes every ``mount`` raise; a callable value
    ``fail={"setns": lambda call: errno.EINVAL if ... else None}`` decides per call.
    ``caps`` is what ``capget`` returns and what ``capset`` updates.
    """

    def __init__(self, fail: dict[str, Any] | None = None, caps: CapState | None = None) -> None:
        self.fail: dict[str, Any] = dict(fail or {})
        self.calls: list[Call] = []
        self.caps = caps or CapState()
        self.next_pidfd = 1000

    def _record(self, name: str, *args: Any) -> None:
        call = Call(name, args)
        self.calls.append(call)
        rule = self.fail.get(name)
        err = rule(call) if callable(rule) else rule
        if err:
            raise _error(name, args, err)

    def names(self) -> list[str]:
        return [c.name for c in self.calls]

    def of(self, name: str) -> list[Call]:
        return [c for c in self.calls if c.name == name]

    def unshare(self, flags: int) -> None:
        self._record("unshare", flags)

    def setns(self, fd: int, nstype: int = 0) -> None:
        self._record("setns", fd, nstype)

    def setns_path(self, path: str, nstype: int = 0) -> None:
        # no fd to open in a fake: record the path so tests can assert which namespace was joined
        self._record("setns", path, nstype)

    def mount(
        self, source: str | None, target: str, fstype: str | None, flags: int = 0, data: str | None = None
    ) -> None:
        self._record("mount", source, target, fstype, flags, data)

    def umount2(self, target: str, flags: int = 0) -> None:
        self._record("umount2", target, flags)

    def pivot_root(self, new_root: str, put_old: str) -> None:
        self._record("pivot_root", new_root, put_old)

    def sethostname(self, name: str) -> None:
        self._record("sethostname", name)

    def setdomainname(self, name: str) -> None:
        self._record("setdomainname", name)

    def capget(self, pid: int = 0) -> CapState:
        self._record("capget", pid)
        return self.caps

    def capset(self, caps: CapState) -> None:
        self._record("capset", caps)
        self.caps = caps

    def prctl(self, option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
        self._record("prctl", option, arg2, arg3, arg4, arg5)
        return 0

    def _prctl_name(self, name: str) -> None:
        self._record("prctl", PR_SET_NAME, name)

    def setresuid(self, ruid: int, euid: int, suid: int) -> None:
        self._record("setresuid", ruid, euid, suid)

    def setresgid(self, rgid: int, egid: int, sgid: int) -> None:
        self._record("setresgid", rgid, egid, sgid)

    def setgroups(self, groups: list[int]) -> None:
        self._record("setgroups", list(groups))

    def chroot(self, path: str) -> None:
        self._record("chroot", path)

    def setrlimit(self, resource_id: int, soft: int, hard: int) -> None:
        self._record("setrlimit", resource_id, soft, hard)

    def close_range(self, first: int, last: int = 0xFFFFFFFF, flags: int = 0) -> None:
        self._record("close_range", first, last, flags)

    def seccomp_set_filter(self, program: bytes, flags: int = 0) -> None:
        self._record("seccomp_set_filter", program, flags)

    def pidfd_open(self, pid: int, flags: int = 0) -> int:
        self._record("pidfd_open", pid, flags)
        self.next_pidfd += 1
        return self.next_pidfd - 1


_current: Syscalls | None = None


def get() -> Syscalls:
    """The process-wide implementation (the real one unless a test replaced it)."""
    global _current
    if _current is None:
        _current = LinuxSyscalls()
    return _current


def set_for_tests(impl: Syscalls | None) -> Syscalls | None:
    """Replace the implementation (``None`` restores the real one lazily); returns the previous one."""
    global _current
    prev, _current = _current, impl
    return prev


@contextlib.contextmanager
def use(impl: Syscalls) -> Iterator[Syscalls]:
    """``with syscalls.use(RecordingSyscalls()) as fake:`` — replaced for the block only."""
    prev = set_for_tests(impl)
    try:
        yield impl
    finally:
        set_for_tests(prev)
