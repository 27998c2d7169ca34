"""podpy's own OCI runtime: create / start / state / kill / delete / run for a bundle.

It behaves like runc as seen through the OCI runtime CLI, so the monitor can drive either one:

* ``create`` forks; the child joins the namespaces that have a ``path``, unshares the others
  (mount, pid, ipc, uts, net) and forks the container init, which is PID 1 of the new pid
  namespace. The intermediate child exits at once, so the init is reparented to the caller's
  subreaper (the monitor, or ``run`` itself) exactly as runc's init is.
* The init prepares everything (mounts, /dev, pivot_root, masks, hostname, rlimits, user,
  capabilities, cwd, executable lookup), reports ``ready`` on a sync pipe, then blocks opening
  ``exec.fifo`` until ``start`` opens the other end — runc's protocol.
* Everything the init needs is imported at module level: after pivot_root the Python standard
  library is no longer reachable, so a lazy import there would fail.
* The user namespace is not created here: the caller already runs inside podpy's user
  namespace (rootless Podman runs runc the same way).

Seccomp: ``linux.seccomp`` is compiled to classic BPF by :mod:`podpy.runtime.seccomp` (x86_64)
once, at create time in the caller (what cannot be compiled is refused before anything runs); the
init inherits the program across fork and installs it just before the user switch.

Imports: ``shutil`` (cleanup only) is imported where it is used, in the caller; the sockets use
``_socket`` (the ``socket`` module's selectors/array/enum wrappers cost ~2 ms of each create).
"""

from __future__ import annotations

import _signal as signal  # the builtin behind ``signal``, without its enums (start-up of run and exec)
import _socket
import contextlib
import errno
import fcntl
import json
import os
import resource
import stat
import struct
import sys
import time
from collections.abc import Callable
from pathlib import Path

from podpy.runtime import mounts as mnt
from podpy.runtime import seccomp
from podpy.runtime.rootpath import mkdir_in_root
from podpy.runtime.start import read_state, start, status
from podpy.runtime.start import state_dir as _state_dir
from podpy.util import syscalls as sc_mod
from podpy.util.errors import EXIT_CANNOT_EXEC, EXIT_NOT_FOUND, PodpyError
from podpy.util.record import Record
from podpy.util.signals import proxy_signals, restore_handlers

TYPE_CHECKING = False  # not typing's: importing typing costs every command start-up time
if TYPE_CHECKING:
    from typing import Any, NoReturn

_NS_FLAGS: dict[str, int] = {
    "mount": sc_mod.CLONE_NEWNS,
    "pid": sc_mod.CLONE_NEWPID,
    "network": sc_mod.CLONE_NEWNET,
    "ipc": sc_mod.CLONE_NEWIPC,
    "uts": sc_mod.CLONE_NEWUTS,
    "cgroup": sc_mod.CLONE_NEWCGROUP,
    "user": sc_mod.CLONE_NEWUSER,
}
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
DEV_SYMLINKS = (
    ("/proc/self/fd", "fd"),
    ("/proc/self/fd/0", "stdin"),
    ("/proc/self/fd/1", "stdout"),
    ("/proc/self/fd/2", "stderr"),
    ("/proc/kcore", "core"),
    ("pts/ptmx", "ptmx"),
)
RLIMITS = {
    "RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3, "RLIMIT_CORE": 4,
    "RLIMIT_RSS": 5, "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7, "RLIMIT_MEMLOCK": 8, "RLIMIT_AS": 9,
    "RLIMIT_LOCKS": 10, "RLIMIT_SIGPENDING": 11, "RLIMIT_MSGQUEUE": 12, "RLIMIT_NICE": 13,
    "RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15,
}  # fmt: skip


class RuntimeError_(PodpyError):
    """The container could not be created or started (exit code 126/127 for exec problems)."""


class ContainerState(Record):
    """runtime-spec ``state``: what ``podpy-runtime state ID`` prints."""

    __slots__ = ("id", "pid", "bundle", "status", "created", "annotations")
    __match_args__ = __slots__  # as a dataclass's
    __hash__ = None  # type: ignore[assignment]  # mutable, so unhashable (as the dataclass was)

    id: str
    pid: int
    bundle: str
    status: str
    created: str
    annotations: dict[str, str]

    def __init__(self, id: str, pid: int, bundle: str, status: str, created: str, annotations: dict[str, str]) -> None:
        self.id = id
        self.pid = pid
        self.bundle = bundle
        self.status = status
        self.created = created
        self.annotations = annotations

    def to_json(self) -> dict[str, Any]:
        return {
            "ociVersion": "1.0.2-dev",
            "id": self.id,
            "pid": self.pid if self.status in ("created", "running") else 0,
            "status": self.status,
            "bundle": self.bundle,
            "rootfs": "",
            "created": self.created,
            "annotations": self.annotations,
        }


# ---------------------------------------------------------------------------------------------
# the OCI verbs
# ---------------------------------------------------------------------------------------------


def load_config(bundle: str | os.PathLike[str]) -> dict[str, Any]:
    """The bundle's config.json, validated (see ``_validate``)."""
    cfg = _read_config(bundle)
    _validate(cfg)
    return cfg


def _read_config(bundle: str | os.PathLike[str]) -> dict[str, Any]:
    path = Path(bundle) / "config.json"
    try:
        with open(path, "rb") as f:
            cfg = json.load(f)
    except FileNotFoundError:
        raise PodpyError(f"{path}: no such file: not an OCI bundle") from None
    except ValueError as e:
        raise PodpyError(f"{path}: invalid JSON: {e}") from None
    return cfg


def _validate(cfg: dict[str, Any]) -> bytes | None:
    """Refuse what the runtime cannot run, before anything runs. Returns the compiled seccomp filter
    (None without ``linux.seccomp``), so that ``create`` compiles it only once: the init inherits it."""
    proc = cfg.get("process") or {}
    if not proc.get("args"):
        raise PodpyError("config.json: process.args must not be empty")
    if not (cfg.get("root") or {}).get("path"):
        raise PodpyError("config.json: root.path is required")
    linux = cfg.get("linux") or {}
    prog = None
    if linux.get("seccomp"):  # compiling refuses what it cannot enforce, before anything runs
        prog = seccomp.compile_filter(linux["seccomp"])
    new_userns = False
    for ns in linux.get("namespaces") or []:
        t = ns.get("type")
        if t not in _NS_FLAGS:
            raise PodpyError(f"config.json: unknown namespace type {t!r}")
        new_userns = new_userns or (t == "user" and not ns.get("path"))
    if bool(linux.get("uidMappings")) != new_userns or bool(linux.get("gidMappings")) != new_userns:
        raise PodpyError(
            "config.json: uidMappings and gidMappings go with a new user namespace, and it needs both"
        )
    return prog


def create(
    bundle: str | os.PathLike[str],
    cid: str,
    root: str | os.PathLike[str],
    *,
    pid_file: str | None = None,
    preserve_fds: int = 0,
    console_socket: str | None = None,
) -> int:
    """Create the container and leave its init waiting for ``start``; returns the init's pid.

    With ``process.terminal``, the init allocates a PTY in the container's devpts and sends the
    master over the unix socket ``console_socket`` (SCM_RIGHTS), as the OCI runtime CLI specifies.
    """
    bundle = os.path.abspath(bundle)
    cfg = _read_config(bundle)
    seccomp_prog = _validate(cfg)  # load_config's checks, keeping the compiled filter for the init
    if (cfg.get("process") or {}).get("terminal") and not console_socket:
        raise PodpyError("process.terminal is set: a --console-socket is required")
    sdir = _state_dir(root, cid)
    sdir.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        sdir.mkdir(mode=0o700)
    except FileExistsError:
        raise PodpyError(f"container with ID {cid!r} already exists") from None
    pid = 0
    try:
        fifo = sdir / "exec.fifo"
        os.mkfifo(fifo, 0o622)  # as runc: the init may write it after switching user (dir is 0700)
        os.chmod(fifo, 0o622)
        pid = _spawn(cfg, bundle, str(fifo), preserve_fds, console_socket, seccomp_prog)
        state = {
            "id": cid,
            "pid": pid,
            "start_time": _start_time(pid),
            "bundle": bundle,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + f".{time.time_ns() % 10**9:09d}Z",
            "annotations": cfg.get("annotations") or {},
        }
        tmp = sdir / "state.json.tmp"
        tmp.write_text(json.dumps(state))
        os.replace(tmp, sdir / "state.json")
        if pid_file:
            Path(pid_file).write_text(str(pid))
        return pid
    except BaseException:
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        import shutil

        shutil.rmtree(sdir, ignore_errors=True)
        raise


def state(root: str | os.PathLike[str], cid: str) -> ContainerState:
    sdir = _state_dir(root, cid)
    data = read_state(sdir)
    return ContainerState(cid, int(data["pid"]), data["bundle"], status(sdir, data), data["created"],
                          data.get("annotations") or {})  # fmt: skip


def kill(root: str | os.PathLike[str], cid: str, sig: int = signal.SIGTERM) -> None:
    st = state(root, cid)
    if st.status == "stopped":
        raise PodpyError(f"container {cid} is not running")
    os.kill(st.pid, sig)


def delete(root: str | os.PathLike[str], cid: str, force: bool = False) -> None:
    import shutil

    sdir = _state_dir(root, cid)
    if not sdir.exists():
        raise PodpyError(f"container {cid} does not exist")
    try:
        st = state(root, cid)
    except (OSError, ValueError, KeyError):
        shutil.rmtree(sdir, ignore_errors=True)  # a half-written create: just clean up
        return
    if st.status == "running" and not force:
        raise PodpyError(f"cannot delete container {cid} that is not stopped: use --force")
    if st.status in ("created", "running"):
        with contextlib.suppress(ProcessLookupError):
            os.kill(st.pid, signal.SIGKILL)
    shutil.rmtree(sdir, ignore_errors=True)


def run(
    bundle: str | os.PathLike[str],
    cid: str,
    root: str | os.PathLike[str],
    *,
    preserve_fds: int = 0,
    pid_file: str | None = None,
    sig_proxy: bool = True,
    console_socket: str | None = None,
    before_start: Callable[[], None] | None = None,
) -> int:
    """create + start + wait in the foreground; returns the container's exit code (128+N on signal N).

    This process becomes a child subreaper so the container init (reparented when the
    intermediate child exits) can be waited for; signals we receive are forwarded to it.
    ``before_start``: called between create and start (the network helper's readiness).
    """
    sc = sc_mod.get()
    sc.set_child_subreaper(True)
    pid = create(
        bundle, cid, root, pid_file=pid_file, preserve_fds=preserve_fds, console_socket=console_socket
    )
    old: dict[int, Any] = {}
    try:
        if sig_proxy:
            old = proxy_signals(lambda: pid)  # --sig-proxy
        if before_start is not None:
            before_start()
        start(root, cid)
        code = _wait(pid)
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        raise
    finally:
        restore_handlers(old)
        with contextlib.suppress(PodpyError):
            delete(root, cid, force=True)
    return code


def _wait(pid: int) -> int:
    """Wait for the init; other reparented orphans are reaped on the way."""
    while True:
        try:
            wpid, status = os.waitpid(-1, 0)
        except InterruptedError:
            continue
        except ChildProcessError:
            return 255
        if wpid == pid:
            return exit_code(status)


def exit_code(status: int) -> int:
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def _start_time(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


# ---------------------------------------------------------------------------------------------
# spawning: caller -> intermediate (namespaces) -> init (PID 1)
# ---------------------------------------------------------------------------------------------


def _spawn(cfg: dict[str, Any], bundle: str, fifo: str, preserve_fds: int, console: str | None,
           seccomp_prog: bytes | None) -> int:  # fmt: skip
    # Keep our pipe ends above the preserved fds so they never clobber them.
    low = 3 + preserve_fds
    r0, w0 = os.pipe()
    r = _high_fd(r0, low)
    w = _high_fd(w0, low)
    linux = cfg.get("linux") or {}
    go_r = go_w = -1
    if linux.get("uidMappings"):  # a new user namespace: we write its maps, then let the child go on
        go_r0, go_w0 = os.pipe()
        go_r, go_w = _high_fd(go_r0, low), _high_fd(go_w0, low)
    sys.stdout.flush()
    sys.stderr.flush()
    mid = os.fork()
    if mid == 0:  # intermediate child
        try:
            _close_inherited(low, (w, go_r))
            _intermediate(cfg, bundle, fifo, w, preserve_fds, console, go_r, seccomp_prog)
        except BaseException as e:  # noqa: BLE001 - must never return into the caller's code
            _send(w, {"error": _describe(e), "code": 1})
        os._exit(1)
    os.close(w)
    msgs: list[dict[str, Any]] = []
    try:
        if go_r >= 0:
            os.close(go_r)
            try:
                msgs = _map_userns(mid, r, go_w, linux)
            finally:
                os.close(go_w)  # released (or, on error, told to give up): never left waiting
                go_w = -1
        os.waitpid(mid, 0)
        msgs += _read_messages(r)
    except BaseException:
        _abort_spawn(mid, r)  # e.g. Ctrl-C: leave no init blocked on its fifo forever
        raise
    finally:
        os.close(r)
        if go_w >= 0:
            os.close(go_w)
    pid = next((m["pid"] for m in msgs if "pid" in m), None)
    err = next((m for m in msgs if "error" in m), None)
    if err is not None:
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
        raise RuntimeError_(err["error"], exit_code=int(err.get("code") or 125))
    if pid is None or not any(m.get("ready") for m in msgs):
        raise RuntimeError_("container init died before reporting ready")
    return int(pid)


def _abort_spawn(mid: int, r: int) -> None:
    with contextlib.suppress(OSError):
        os.kill(mid, signal.SIGKILL)
    with contextlib.suppress(OSError):
        os.waitpid(mid, 0)
    os.set_blocking(r, False)
    buf = b""
    with contextlib.suppress(OSError):
        while chunk := os.read(r, 65536):
            buf += chunk
    for line in buf.splitlines():
        with contextlib.suppress(ValueError, KeyError, TypeError, ProcessLookupError):
            os.kill(int(json.loads(line)["pid"]), signal.SIGKILL)


def _map_userns(mid: int, r: int, go_w: int, linux: dict[str, Any]) -> list[dict[str, Any]]:
    """Wait for the intermediate's new user namespace, write its uid/gid maps, release it.

    We are root in podpy's namespace (CAP_SETUID/CAP_SETGID over it), so any mapping inside
    its range can be written directly, as runc does; no newuidmap needed at this level.
    Returns the messages read on the way (an error message ends the wait).
    """
    msgs = _read_messages(r, stop=lambda m: "error" in m or bool(m.get("userns")))
    if any("error" in m for m in msgs) or not any(m.get("userns") for m in msgs):
        return msgs
    for name, key in (("uid_map", "uidMappings"), ("gid_map", "gidMappings")):
        text = "".join(f"{m['containerID']} {m['hostID']} {m['size']}\n" for m in linux[key])
        try:
            with open(f"/proc/{mid}/{name}", "w") as f:
                f.write(text)
        except OSError as e:
            return [*msgs, {"error": f"writing {name} of the container's user namespace: {_oserr(e)}"}]
    os.write(go_w, b"1")
    return msgs


def _close_inherited(low: int, keep: tuple[int, ...]) -> None:
    """In the forked intermediate: close every fd from ``low`` up but ``keep``. The caller's files
    (its state database, the container's lock, a monitor's sync pipe) must not stay open in an init
    that waits for ``start``: they are close-on-exec, but the init only execs once started. The
    Python objects that owned them are never used again here (the child ends in exec or
    ``os._exit``); the cyclic GC is off so none of them closes a reused number."""
    import gc

    from podpy.util.fds import close_all_but

    gc.disable()
    close_all_but(keep, low)


def _high_fd(fd: int, low: int) -> int:
    new = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, max(low, 10))
    os.close(fd)
    return new


def _read_messages(r: int, stop: Callable[[dict[str, Any]], bool] | None = None) -> list[dict[str, Any]]:
    """JSON lines from the sync pipe until EOF, or until a message satisfies ``stop``."""
    out: list[dict[str, Any]] = []
    buf = b""
    while True:
        try:
            chunk = os.read(r, 65536)
        except InterruptedError:
            continue
        buf += chunk
        *lines, buf = buf.split(b"\n") if chunk else [*buf.split(b"\n"), b""]
        for line in lines:
            with contextlib.suppress(ValueError):
                out.append(json.loads(line))
        if not chunk or (stop is not None and any(stop(m) for m in out)):
            return out


def _send(w: int, msg: dict[str, Any]) -> None:
    with contextlib.suppress(OSError):
        os.write(w, json.dumps(msg).encode() + b"\n")


def _describe(e: BaseException) -> str:
    if isinstance(e, PodpyError):
        return e.message
    if isinstance(e, OSError):
        return _oserr(e)
    return f"{type(e).__name__}: {e}"


def _intermediate(
    cfg: dict[str, Any],
    bundle: str,
    fifo: str,
    w: int,
    preserve_fds: int,
    console: str | None,
    go_r: int,
    seccomp_prog: bytes | None,
) -> NoReturn:
    sc = sc_mod.get()
    namespaces = (cfg.get("linux") or {}).get("namespaces") or []
    # Join namespaces given by path first (user first: it grants the rights for the others).
    order = ["user", "mount", "pid", "network", "ipc", "uts", "cgroup"]
    for t in order:
        for ns in namespaces:
            if ns.get("type") == t and ns.get("path"):
                sc.setns_path(ns["path"], _NS_FLAGS[t])
    flags = 0
    for ns in namespaces:
        if not ns.get("path"):
            flags |= _NS_FLAGS[ns["type"]]
    # Opened before a new user namespace: its root may not search podpy's runtime dirs (nomap).
    early = _open_sync(cfg, fifo, console)
    if flags:
        sc.unshare(flags)  # with CLONE_NEWUSER the others are owned by the new user namespace
    if go_r >= 0:
        _send(w, {"userns": True})
        if os.read(go_r, 1) != b"1":
            raise PodpyError("the runtime did not map the container's user namespace")
        os.close(go_r)
        sc.setresgid(0, 0, 0)  # become the new namespace's root (capabilities are kept: same ns)
        sc.setresuid(0, 0, 0)
        # Drop the groups inherited from podpy's namespace: as a member of a directory's group
        # (the user's own, unmapped under nomap) we would get its group bits instead of "other".
        sc.setgroups([])
    pid = os.fork()
    if pid == 0:
        try:
            _init(cfg, bundle, early, w, preserve_fds, seccomp_prog)
        except _ExecError as e:
            _send(w, {"error": e.message, "code": e.code})
        except BaseException as e:  # noqa: BLE001
            _send(w, {"error": _describe(e), "code": 1})
        os._exit(1)
    _send(w, {"pid": pid})
    os._exit(0)


class _ExecError(Exception):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


# ---------------------------------------------------------------------------------------------
# the container init (PID 1 in the new namespaces)
# ---------------------------------------------------------------------------------------------


def _open_sync(cfg: dict[str, Any], fifo: str, console: str | None) -> tuple[int, _socket.socket | None]:
    """The exec FIFO (O_PATH) and, with a terminal, the connected console socket."""
    fifo_fd = os.open(fifo, os.O_PATH | os.O_CLOEXEC)
    console_sock = None
    if (cfg.get("process") or {}).get("terminal"):
        console_sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        console_sock.connect(console)
    return fifo_fd, console_sock


def default_signals() -> None:
    """An ignored signal stays ignored across exec: Python ignores SIGPIPE and SIGXFSZ, and a shell
    starts background jobs with SIGINT and SIGQUIT ignored (``nohup``: SIGHUP). The container would
    inherit them; Podman's containers show ``SigIgn: 0``."""
    for sig in signal.valid_signals():
        if sig not in (signal.SIGKILL, signal.SIGSTOP) and signal.getsignal(sig) == signal.SIG_IGN:
            signal.signal(sig, signal.SIG_DFL)


def _init(
    cfg: dict[str, Any],
    bundle: str,
    early: tuple[int, _socket.socket | None],
    w: int,
    preserve_fds: int,
    seccomp_prog: bytes | None,
) -> NoReturn:
    """The container init. ``seccomp_prog``: ``linux.seccomp`` as compiled by ``create``'s ``_validate``."""
    sc = sc_mod.get()
    proc = cfg["process"]
    linux = cfg.get("linux") or {}
    ns_types = {ns.get("type") for ns in linux.get("namespaces") or []}
    rootfs = cfg["root"]["path"]
    if not os.path.isabs(rootfs):
        rootfs = os.path.join(bundle, rootfs)
    rootfs = os.path.realpath(rootfs)
    if not os.path.isdir(rootfs):
        raise PodpyError(f"rootfs {rootfs} does not exist or is not a directory")

    fifo_fd, console_sock = early  # fds we need after pivot_root, opened by the intermediate

    if "mount" in ns_types:
        prop = linux.get("rootfsPropagation") or "rprivate"
        sc.mount(
            None,
            "/",
            None,
            mnt.parse_options([prop]).propagation or (sc_mod.MS_PRIVATE | sc_mod.MS_REC),
            None,
        )
        sc.mount(rootfs, rootfs, None, sc_mod.MS_BIND | sc_mod.MS_REC, None)
        for m in cfg.get("mounts") or []:
            try:
                mnt.mount_entry(rootfs, m)
            except OSError as e:
                raise PodpyError(f"mounting {m.get('type')} on {m.get('destination')}: {_oserr(e)}") from None
        _setup_dev(rootfs)
        cwd = proc.get("cwd") or "/"
        try:
            mkdir_in_root(rootfs, cwd)
        except OSError as e:
            raise _ExecError(f"creating cwd {cwd!r} in the container rootfs failed: {_oserr(e)}",
                             EXIT_CANNOT_EXEC) from None  # fmt: skip
        _pivot_root(rootfs)
        _sysctls(linux.get("sysctl") or {})
        null_fd = _open_null()
        for p in linux.get("maskedPaths") or []:
            _mask(p, null_fd)
        for p in linux.get("readonlyPaths") or []:
            _readonly(p)
        if (cfg.get("root") or {}).get("readonly"):
            mnt.remount("/", sc_mod.MS_RDONLY)
        os.close(null_fd)
        if console_sock is not None:
            _setup_console(console_sock, int((proc.get("user") or {}).get("uid", 0)))
    else:
        raise PodpyError("config.json without a mount namespace is not supported by podpy's runtime")

    if any(ns.get("type") == "network" and not ns.get("path") for ns in linux.get("namespaces") or []):
        _loopback_up()
    if "uts" in ns_types and cfg.get("hostname"):
        sc.sethostname(cfg["hostname"])
    for rl in proc.get("rlimits") or []:
        rid = RLIMITS.get(rl.get("type", ""))
        if rid is None:
            raise PodpyError(f"unknown rlimit {rl.get('type')!r}")
        sc.setrlimit(rid, _rlim(rl["soft"]), _rlim(rl["hard"]))
    if proc.get("noNewPrivileges"):
        sc.set_no_new_privs()
    os.umask(int((proc.get("user") or {}).get("umask", 0o022)))
    if linux.get("seccomp"):
        # Installed while we still hold CAP_SYS_ADMIN (needed without no_new_privs); what the
        # init does afterwards (setuid, capset, chdir, exec) is allowed by any sane profile.
        # Compiled by create in the caller (inherited across fork); compiled here only if not given.
        if seccomp_prog is None:
            seccomp_prog = seccomp.compile_filter(linux["seccomp"])
        sc.seccomp_set_filter(seccomp_prog)
    _set_user_and_caps(proc)

    env = list(proc.get("env") or [])
    _chdir(proc.get("cwd") or "/")
    exe = _lookup(proc["args"][0], env)

    # Every fd but 0-2, the preserved ones and our two sync fds is closed at exec.
    sc.close_range(3 + preserve_fds, 0xFFFFFFFF, sc_mod.CLOSE_RANGE_CLOEXEC)
    _send(w, {"ready": True})
    os.close(w)
    # Block until `start` opens the read end. Nobody reads the sync pipe any more: report on stderr.
    try:
        wfd = os.open(f"/proc/self/fd/{fifo_fd}", os.O_WRONLY | os.O_CLOEXEC)
        os.write(wfd, b"0")
        os.close(wfd)
        os.close(fifo_fd)
    except OSError as e:
        os.write(2, f"podpy-runtime: waiting for start: {_oserr(e)}\n".encode())
        os._exit(1)
    default_signals()
    try:
        os.execve(exe, proc["args"], dict(_env_pairs(env)))
    except OSError as e:
        os.write(2, f"podpy-runtime: exec {proc['args'][0]}: {e.strerror}\n".encode())
        os._exit(EXIT_NOT_FOUND if e.errno == errno.ENOENT else EXIT_CANNOT_EXEC)
    os._exit(EXIT_CANNOT_EXEC)  # pragma: no cover - execve does not return


def _oserr(e: OSError) -> str:
    msg = e.strerror or str(e)
    return f"{msg}: {e.filename}" if e.filename else msg


def _rlim(v: int) -> int:
    return resource.RLIM_INFINITY if v >= 2**63 else int(v)


def _env_pairs(env: list[str]) -> list[tuple[str, str]]:
    out = []
    for item in env:
        k, _, v = item.partition("=")
        if k:
            out.append((k, v))
    return out


def _setup_dev(rootfs: str) -> None:
    """Bind the host's harmless char devices into /dev and add the standard symlinks."""
    sc = sc_mod.get()
    devdir = mkdir_in_root(rootfs, "/dev")
    dfd = os.open(devdir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        for name in DEVICES:
            _unlink_if_symlink(dfd, name)
            try:
                os.close(
                    os.open(name, os.O_CREAT | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=dfd)
                )
            except OSError as e:
                raise PodpyError(f"cannot create /dev/{name} in the rootfs: {_oserr(e)}") from None
            tfd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
            try:
                if not os.path.exists(f"/dev/{name}"):
                    continue
                sc.mount(f"/dev/{name}", f"/proc/self/fd/{tfd}", None, sc_mod.MS_BIND, None)
            finally:
                os.close(tfd)
        for target, name in DEV_SYMLINKS:
            if name == "core" and not os.path.exists("/proc/kcore"):
                continue  # as runc: only where the kernel has one
            with contextlib.suppress(FileNotFoundError):
                st = os.lstat(name, dir_fd=dfd)
                if stat.S_ISDIR(st.st_mode):
                    continue
                os.unlink(name, dir_fd=dfd)
            os.symlink(target, name, dir_fd=dfd)
    finally:
        os.close(dfd)


def _unlink_if_symlink(dfd: int, name: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        st = os.lstat(name, dir_fd=dfd)
        if not stat.S_ISREG(st.st_mode) and not stat.S_ISCHR(st.st_mode):
            os.unlink(name, dir_fd=dfd)


def _pivot_root(rootfs: str) -> None:
    sc = sc_mod.get()
    os.chdir(rootfs)
    sc.pivot_root(".", ".")
    # The old root is now stacked under "/": make it private and detach it.
    sc.mount(None, ".", None, sc_mod.MS_SLAVE | sc_mod.MS_REC, None)
    sc.umount2(".", sc_mod.MNT_DETACH)
    os.chdir("/")


def _sysctls(sysctl: dict[str, str]) -> None:
    for key, value in sysctl.items():
        if not (key.startswith(("net.", "kernel.msg", "kernel.sem", "kernel.shm", "fs.mqueue."))):
            raise PodpyError(f"sysctl {key!r} is not namespaced: refusing to set it")
        path = "/proc/sys/" + key.replace(".", "/")
        try:
            with open(path, "w") as f:
                f.write(str(value))
        except OSError as e:
            raise PodpyError(f"setting sysctl {key}={value}: {_oserr(e)}") from None


def _setup_console(sock: _socket.socket, uid: int) -> None:
    """Allocate a PTY in the container's devpts, send the master, make the slave our terminal."""
    tiocsptlck, tiocgptpeer, tiocsctty = 0x40045431, 0x5441, 0x540E
    master = os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        fcntl.ioctl(master, tiocsptlck, struct.pack("i", 0))
        slave = fcntl.ioctl(master, tiocgptpeer, os.O_RDWR | os.O_NOCTTY)
        # socket.send_fds without the socket module: one SCM_RIGHTS message
        rights = [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, struct.pack("i", master))]
        sock.sendmsg([b"podpy-console"], rights)
    finally:
        os.close(master)
        sock.close()
    with contextlib.suppress(OSError):
        os.fchown(slave, uid, -1)
    os.setsid()
    fcntl.ioctl(slave, tiocsctty, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    if slave > 2:
        os.close(slave)


def _loopback_up() -> None:
    """A new network namespace starts with ``lo`` down; Podman's containers see it up."""
    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    sk = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)
    try:
        req = struct.pack("16sH22x", b"lo", 0)
        flags = struct.unpack("16sH22x", fcntl.ioctl(sk.fileno(), siocgifflags, req))[1]
        fcntl.ioctl(sk.fileno(), siocsifflags, struct.pack("16sH22x", b"lo", flags | iff_up))
    finally:
        sk.close()


def _open_null() -> int:
    """The container's /dev/null (bound from the host by _setup_dev), checked to be the real one."""
    fd = os.open("/dev/null", os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    st = os.fstat(fd)
    if not stat.S_ISCHR(st.st_mode) or os.major(st.st_rdev) != 1 or os.minor(st.st_rdev) != 3:
        os.close(fd)
        raise PodpyError("/dev/null in the container is not the null device: refusing to mask paths with it")
    return fd


def _mask(path: str, null_fd: int) -> None:
    sc = sc_mod.get()
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return
    if stat.S_ISDIR(st.st_mode):
        sc.mount("tmpfs", path, "tmpfs", sc_mod.MS_RDONLY, None)
    else:
        sc.mount(f"/proc/self/fd/{null_fd}", path, None, sc_mod.MS_BIND, None)


def _readonly(path: str) -> None:
    sc = sc_mod.get()
    try:
        sc.mount(path, path, None, sc_mod.MS_BIND | sc_mod.MS_REC, None)
    except FileNotFoundError:
        return
    mnt.remount(path, sc_mod.MS_RDONLY)


def _caps_mask(names: list[str] | None) -> int:
    m = 0
    for n in names or []:
        bit = sc_mod.CAPABILITIES.get(n)
        if bit is None:
            raise PodpyError(f"unknown capability {n!r}")
        m |= 1 << bit
    return m


def _last_cap() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except (OSError, ValueError):
        return max(sc_mod.CAPABILITIES.values())


def _set_user_and_caps(proc: dict[str, Any]) -> None:
    """Bounding set, then user/groups (keeping caps across setuid), then the final sets."""
    sc = sc_mod.get()
    caps = proc.get("capabilities") or {}
    bounding = _caps_mask(caps.get("bounding"))
    for bit in range(_last_cap() + 1):
        if not bounding & (1 << bit):
            sc.bounding_drop(bit)
    user = proc.get("user") or {}
    uid, gid = int(user.get("uid", 0)), int(user.get("gid", 0))
    sc.set_keepcaps(True)
    if _setgroups_allowed():
        sc.setgroups([int(g) for g in user.get("additionalGids") or []])
    sc.setresgid(gid, gid, gid)
    sc.setresuid(uid, uid, uid)
    sc.set_keepcaps(False)
    # A uid change made us non-dumpable, which hides /proc/self/fd (needed for exec.fifo) from us.
    sc.prctl(sc_mod.PR_SET_DUMPABLE, 1)
    sc.capset(
        sc_mod.CapState(
            effective=_caps_mask(caps.get("effective")),
            permitted=_caps_mask(caps.get("permitted")),
            inheritable=_caps_mask(caps.get("inheritable")),
        )
    )
    sc.ambient_clear_all()
    for n in caps.get("ambient") or []:
        sc.ambient_raise(sc_mod.CAPABILITIES[n])


def _setgroups_allowed() -> bool:
    try:
        with open("/proc/self/setgroups") as f:
            return f.read().strip() == "allow"
    except OSError:
        return True


def _chdir(cwd: str) -> None:
    try:
        os.chdir(cwd)
    except OSError as e:
        raise _ExecError(
            f"chdir to cwd ({cwd!r}) set in config.json failed: {_oserr(e)}", EXIT_CANNOT_EXEC
        ) from None
    # A cwd reached through a leaked fd (/proc/self/fd/N) would be outside the root (CVE-2024-21626).
    try:
        inside = os.getcwd().startswith("/")
    except OSError:  # glibc reports an unreachable cwd as ENOENT
        inside = False
    if not inside:
        raise _ExecError(f"cwd {cwd!r} is outside the container root", EXIT_CANNOT_EXEC)


def _lookup(arg0: str, env: list[str]) -> str:
    """Find the executable the way execvp would, with podman-like 126/127 errors."""
    if "/" in arg0:
        candidates = [arg0]
    else:
        path = dict(_env_pairs(env)).get("PATH", "/usr/local/bin:/usr/bin:/bin")
        candidates = [os.path.join(d or ".", arg0) for d in path.split(":")]
    denied = False
    for c in candidates:
        try:
            st = os.stat(c)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode):
            if "/" in arg0:
                raise _ExecError(f"exec: {arg0!r}: is a directory: permission denied", EXIT_CANNOT_EXEC)
            continue
        if os.access(c, os.X_OK) and stat.S_ISREG(st.st_mode):
            return c
        denied = True
    if denied or ("/" in arg0 and os.path.lexists(arg0)):
        raise _ExecError(f"exec: {arg0!r}: permission denied", EXIT_CANNOT_EXEC)
    where = "" if "/" in arg0 else " in $PATH"
    raise _ExecError(f"executable file `{arg0}` not found{where}: No such file or directory", EXIT_NOT_FOUND)
