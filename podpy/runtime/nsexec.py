"""``exec``: run one more process in a running container of podpy's runtime (what ``runc exec`` does).

The caller forks a child that joins the init's namespaces through ``/proc/PID/ns/*`` (user last:
see ``NS_ORDER``; a namespace we already share is skipped, since setns into our own user
namespace fails). Joining a pid namespace only applies to children, so the child forks
again; the grandchild enters the container's root, applies the process spec with the executor's
own functions (rlimits, no_new_privs, umask, seccomp, user and capabilities, cwd, executable
lookup) and execs. An exec failure comes back over a CLOEXEC pipe (EOF means the exec worked),
so "not found" (127) and "cannot execute" (126) reach the caller with their message.
"""

from __future__ import annotations

import _signal as signal  # the builtin behind ``signal``, without its enums (``exec``'s start-up)
import contextlib
import os
from collections.abc import Callable

from podpy.runtime import executor as ex
from podpy.runtime import seccomp
from podpy.util import syscalls as sc_mod
from podpy.util.errors import PodpyError
from podpy.util.signals import proxy_signals, restore_handlers

TYPE_CHECKING = False  # not typing's: importing typing costs every ``exec`` start-up time
if TYPE_CHECKING:
    from typing import Any, NoReturn

# /proc/PID/ns names in join order, with the config.json namespace type they stand for. The user
# namespace comes last: a container's own one (--userns keep-id/nomap) is a child of podpy's, where
# we are root and may join all the others; once inside it, a network namespace that podpy's made
# could no longer be joined.
NS_ORDER: tuple[tuple[str, str], ...] = (
    ("mnt", "mount"),
    ("pid", "pid"),
    ("ipc", "ipc"),
    ("uts", "uts"),
    ("net", "network"),
    ("cgroup", "cgroup"),
    ("user", "user"),
)


class ContainerNotRunning(PodpyError):
    """Podman's wording for an exec into a container that is not running."""


def open_namespaces(pid: int, types: set[str], self_pid: str = "self") -> list[tuple[int, int]]:
    """(fd, CLONE_ flag) for each of the init's namespaces we are not already in, in join order."""
    out: list[tuple[int, int]] = []
    try:
        for name, typ in NS_ORDER:
            if typ not in types:
                continue
            path = f"/proc/{pid}/ns/{name}"
            try:
                if os.stat(path).st_ino == os.stat(f"/proc/{self_pid}/ns/{name}").st_ino:
                    continue
                out.append((os.open(path, os.O_RDONLY | os.O_CLOEXEC), ex._NS_FLAGS[typ]))
            except FileNotFoundError:
                continue
    except BaseException:
        for fd, _ in out:
            os.close(fd)
        raise
    return out


def exec_process(
    root: str | os.PathLike[str],
    cid: str,
    process: dict[str, Any],
    *,
    preserve_fds: int = 0,
    stdin_null: bool = False,
    detach: bool = False,
    console: Callable[[int], None] | None = None,
) -> int:
    """Run ``process`` (a config.json ``process``) in container ``cid``; its exit code (128+N on signal N).

    ``detach``: the process gets /dev/null as stdio and its own session; we return 0 once it was
    exec'd (exec errors are still raised), leaving it to run on.
    ``console`` (``exec -t``): the process gets a PTY allocated in the container's own devpts (as
    ``runc exec -t`` does); ``console(master_fd)`` relays it and returns when the terminal is closed.
    """
    st = ex.state(root, cid)
    if st.status != "running":
        raise ContainerNotRunning(f"container {cid} is {st.status}: can only exec in a running container")
    cfg = ex.load_config(st.bundle)
    if process.get("terminal") and console is None:
        raise PodpyError("exec with a terminal needs a console relay")
    if detach and console is not None:
        raise PodpyError("exec: a detached process cannot have a terminal here")
    linux = dict(cfg.get("linux") or {})
    if linux.get("seccomp"):
        seccomp.compile_filter(linux["seccomp"])  # refuse before forking, as create does
    types = {ns.get("type") for ns in linux.get("namespaces") or []}
    if "mount" not in types:
        raise PodpyError("config.json without a mount namespace is not supported by podpy's runtime")
    low = 3 + preserve_fds
    ns_fds = [(ex._high_fd(fd, low), flag) for fd, flag in open_namespaces(st.pid, types)]
    root_fd = ex._high_fd(os.open(f"/proc/{st.pid}/root", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC), low)
    r0, w0 = os.pipe()
    r, w = ex._high_fd(r0, low), ex._high_fd(w0, low)
    null_fd = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC) if (stdin_null or detach) and not console else -1
    c_ours, c_theirs = -1, -1
    if console is not None:
        import socket  # only with a terminal (``exec -t``)

        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        c_ours, c_theirs = ex._high_fd(a.detach(), low), ex._high_fd(b.detach(), low)
    mid = os.fork()
    if mid == 0:
        try:
            os.close(r)
            if c_ours >= 0:
                os.close(c_ours)
            if null_fd >= 0:
                for target in (0, 1, 2) if detach else (0,):
                    os.dup2(null_fd, target)
            if detach:
                os.setsid()
            _child(process, linux, ns_fds, root_fd, w, preserve_fds, c_theirs)
        except BaseException as e:  # noqa: BLE001 - must never return into the caller's code
            ex._send(w, {"error": ex._describe(e), "code": 125})
        os._exit(125)
    os.close(w)
    if c_theirs >= 0:
        os.close(c_theirs)
    for fd, _ in ns_fds:
        os.close(fd)
    os.close(root_fd)
    if null_fd >= 0:
        os.close(null_fd)
    if detach:
        return _detached(mid, r)
    return _supervise(mid, r, c_ours, console)


def _detached(mid: int, r: int) -> int:
    """EOF on the pipe means the exec succeeded (or the child died: then it reported why)."""
    try:
        msgs = ex._read_messages(r)
    finally:
        os.close(r)
    err = next((m for m in msgs if "error" in m), None)
    if err is not None:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(mid, 0)
        raise PodpyError(str(err["error"]), exit_code=int(err.get("code") or 125))
    return 0


def _relay_console(c_ours: int, console: Callable[[int], None]) -> None:
    """Receive the PTY master from the process (nothing when it failed before), give it our window
    size, let the process go on (it waits for that byte), and relay it."""
    import socket

    sock = socket.socket(fileno=c_ours)
    try:
        try:
            _msg, fds, _flags, _addr = socket.recv_fds(sock, 64, 1)
        except OSError:
            return
        if not fds:
            return
        try:
            _copy_winsize(fds[0])
            with contextlib.suppress(OSError):
                sock.send(b"1")
            console(fds[0])
        finally:
            os.close(fds[0])
    finally:
        sock.close()


def _copy_winsize(master: int) -> None:
    import fcntl
    import termios

    for fd in (0, 1):
        with contextlib.suppress(OSError):
            fcntl.ioctl(master, termios.TIOCSWINSZ, fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8))
            return


def _supervise(mid: int, r: int, c_ours: int = -1, console: Callable[[int], None] | None = None) -> int:
    """Forward signals to the exec'd process, collect an exec error, return the exit code."""
    msgs: list[dict[str, Any]] = []
    old: dict[int, Any] = {}
    target = {"pid": mid}
    try:
        old = proxy_signals(lambda: target["pid"])
        msgs = ex._read_messages(r, stop=lambda m: "error" in m or "pid" in m)
        pid = next((m["pid"] for m in msgs if "pid" in m), None)
        if pid is not None:
            target["pid"] = int(pid)
        if c_ours >= 0 and console is not None:
            c_ours, fd = -1, c_ours
            _relay_console(fd, console)
        if pid is not None:
            msgs += ex._read_messages(r)
        while True:
            try:
                _, status = os.waitpid(mid, 0)
                break
            except InterruptedError:
                continue
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.kill(target["pid"], signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(mid, 0)
        raise
    finally:
        os.close(r)
        if c_ours >= 0:
            os.close(c_ours)
        restore_handlers(old)
    err = next((m for m in msgs if "error" in m), None)
    if err is not None:
        raise PodpyError(str(err["error"]), exit_code=int(err.get("code") or 125))
    return ex.exit_code(status)


def _child(process: dict[str, Any], linux: dict[str, Any], ns_fds: list[tuple[int, int]], root_fd: int,
           w: int, preserve_fds: int, console: int = -1) -> NoReturn:  # fmt: skip
    sc = sc_mod.get()
    for fd, flag in ns_fds:
        sc.setns(fd, flag)
        os.close(fd)
    # The container's root (setns into a mount namespace leaves us at its root mount, which is
    # not where pivot_root put the container): the init's root, taken before joining.
    os.fchdir(root_fd)
    sc.chroot(".")
    os.close(root_fd)
    os.chdir("/")
    pid = os.fork()  # a pid namespace applies to children only
    if pid == 0:
        try:
            _apply_and_exec(process, linux, w, preserve_fds, console)
        except ex._ExecError as e:
            ex._send(w, {"error": e.message, "code": e.code})
        except BaseException as e:  # noqa: BLE001
            ex._send(w, {"error": ex._describe(e), "code": 125})
        os._exit(125)
    ex._send(w, {"pid": pid})
    os.close(w)
    if console >= 0:
        os.close(console)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the caller forwards signals to the process itself
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
    code = ex.exit_code(status)
    os._exit(code)


def _apply_and_exec(process: dict[str, Any], linux: dict[str, Any], w: int, preserve_fds: int,
                    console: int = -1) -> NoReturn:  # fmt: skip
    sc = sc_mod.get()
    if console >= 0:  # the container's /dev/ptmx (we are in its mount namespace and root), before setuid
        import socket

        ack = os.dup(console)
        ex._setup_console(socket.socket(fileno=console), int((process.get("user") or {}).get("uid", 0)))
        os.read(ack, 1)  # until the caller has given the terminal its window size (or is gone)
        os.close(ack)
    for rl in process.get("rlimits") or []:
        rid = ex.RLIMITS.get(rl.get("type", ""))
        if rid is None:
            raise PodpyError(f"unknown rlimit {rl.get('type')!r}")
        sc.setrlimit(rid, ex._rlim(rl["soft"]), ex._rlim(rl["hard"]))
    if process.get("noNewPrivileges"):
        sc.set_no_new_privs()
    os.umask(int((process.get("user") or {}).get("umask", 0o022)))
    if linux.get("seccomp"):
        sc.seccomp_set_filter(seccomp.compile_filter(linux["seccomp"]))
    ex._set_user_and_caps(process)
    env = list(process.get("env") or [])
    ex._chdir(process.get("cwd") or "/")
    exe = ex._lookup(process["args"][0], env)
    sc.close_range(3 + preserve_fds, 0xFFFFFFFF, sc_mod.CLOSE_RANGE_CLOEXEC)
    os.set_inheritable(w, False)
    ex.default_signals()
    try:
        os.execve(exe, process["args"], dict(ex._env_pairs(env)))
    except OSError as e:
        code = ex.EXIT_NOT_FOUND if e.errno == 2 else ex.EXIT_CANNOT_EXEC
        raise ex._ExecError(f"exec {process['args'][0]}: {e.strerror}", code) from None
    os._exit(125)  # pragma: no cover - execve does not return
