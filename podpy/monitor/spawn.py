"""Start a monitor for one container: what the engine calls (``spawn_monitor``).

Double fork + ``setsid``: the monitor is nobody's child and has no controlling terminal, so it
outlives the CLI and the user's shell. The monitor is a fresh ``python -S -E`` interpreter
importing only ``podpy.monitor.main`` (see ``main``'s docstring), which keeps it small; its
configuration arrives marshalled on a pipe (a copy goes to ``monitor.json`` in the container's
state dir for people). The spawner blocks on the sync pipe until the monitor reports the
container's pid (``MonitorHandle``) or the runtime's error (``MonitorError`` carrying the
runtime's message in one line).

Speed (``run -d`` waits for all of this): with podpy's own runtime the monitor is forked from the
CLI, creates the container in-process with the runtime the CLI has loaded, reports, and only then
execs its small interpreter (``_adopt``): no interpreter starts on the path the CLI waits for. With
an external runtime, ``PendingMonitor`` starts the monitor before its configuration exists, so its
interpreter starts while the CLI still creates the container.
"""

from __future__ import annotations

import contextlib
import gc
import json
import marshal
import os
import sys

from podpy.monitor import liveness, syncpipe
from podpy.util.errors import EXIT_CANNOT_EXEC, EXIT_NOT_FOUND, EXIT_PODPY, PodpyError
from podpy.util.fds import close_all_but
from podpy.util.fsutil import atomic_write
from podpy.util.record import FRESH, Record

TYPE_CHECKING = False  # not typing's: importing typing costs start-up time
if TYPE_CHECKING:
    from collections.abc import Callable

LOG_DRIVERS = ("k8s-file", "json-file", "none", "passthrough")
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class MonitorError(PodpyError):
    """The container could not be created/started; the message is the runtime's error.

    Exit code as Podman maps runtime errors: 127 when the command was not found, 126 when it
    could not be executed (permission denied), else 125.
    """

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        if exit_code is None:
            exit_code = runtime_error_exit_code(message)
        super().__init__(message, exit_code)


def runtime_error_exit_code(message: str) -> int:
    low = message.lower()
    if "exec" in low or "starting container process" in low or "container process" in low:
        if "executable file not found" in low or "no such file or directory" in low:
            return EXIT_NOT_FOUND
        if "permission denied" in low:
            return EXIT_CANNOT_EXEC
    return EXIT_PODPY


class MonitorConfig(Record):
    """Everything the monitor needs; paths are absolute. ``state_dir`` holds the monitor's files:
    ``attach`` (socket), ``ctl`` (FIFO), ``pidfile`` (container pid), ``monitor.pid``,
    ``monitor.json``, ``monitor.log`` (the monitor's own diagnostics), ``exit`` (default exit file)."""

    __slots__ = ("container_id", "bundle", "state_dir", "runtime", "runtime_root", "runtime_args", "exit_file",
                 "log_driver", "log_path", "log_max_size", "terminal", "stdin", "leave_stdin_open", "start",
                 "cleanup", "sdnotify", "notify_socket", "drain_timeout", "monitor_pid_file", "restart_policy",
                 "restart_max", "restart_count", "restarted", "stop_marker", "health_cmd", "health_interval")  # fmt: skip
    __match_args__ = __slots__  # as a dataclass's
    __hash__ = None  # type: ignore[assignment]  # mutable, so unhashable (eq without frozen, as before)

    container_id: str
    bundle: str
    state_dir: str
    runtime: list[str]  # argv prefix of an OCI runtime CLI (default ["runc"])
    runtime_root: str  # --root for the runtime ("" = the runtime's default)
    runtime_args: list[str]  # extra global flags (e.g. --log, --debug)
    exit_file: str  # default: STATE_DIR/exit
    log_driver: str  # k8s-file | json-file (alias) | none | passthrough
    log_path: str  # default: STATE_DIR/ctr.log
    log_max_size: int  # bytes; <= 0: unlimited
    terminal: bool  # PTY via the runtime's --console-socket
    stdin: bool  # keep stdin open (-i): fed from attach clients
    leave_stdin_open: bool  # do not close stdin when an attach client ends its input
    start: bool  # also run `RUNTIME start` (False: the caller starts it later)
    cleanup: list[str]  # run after the exit file is written
    sdnotify: bool  # send READY=1 + MAINPID to notify_socket once running
    notify_socket: str  # default: $NOTIFY_SOCKET
    drain_timeout: float  # seconds to collect output after the container exited
    monitor_pid_file: str  # default: STATE_DIR/monitor.pid
    # restart policy and health checks (issue 4), carried out by the monitor (see engine/health.py)
    restart_policy: str  # "" | no | on-failure | always | unless-stopped
    restart_max: int  # on-failure:N (0: no limit)
    restart_count: int  # restarts before this monitor (inspect's RestartCount)
    restarted: list[str]  # run after each restart + PID COUNT STARTED_NS
    stop_marker: str  # default STATE_DIR/stopped-by-user: `podpy stop`/`kill` happened, no restart
    health_cmd: list[str]  # one health check, every health_interval
    health_interval: float  # seconds; 0: no timer

    def __init__(
        self,
        container_id: str,
        bundle: str,
        state_dir: str,
        runtime: list[str] = FRESH,  # default: a new ["runc"]
        runtime_root: str = "",
        runtime_args: list[str] = FRESH,  # default: a new empty list (so for every list below)
        exit_file: str = "",
        log_driver: str = "k8s-file",
        log_path: str = "",
        log_max_size: int = 0,
        terminal: bool = False,
        stdin: bool = False,
        leave_stdin_open: bool = False,
        start: bool = True,
        cleanup: list[str] = FRESH,
        sdnotify: bool = False,
        notify_socket: str = "",
        drain_timeout: float = 2.0,
        monitor_pid_file: str = "",
        restart_policy: str = "",
        restart_max: int = 0,
        restart_count: int = 0,
        restarted: list[str] = FRESH,
        stop_marker: str = "",
        health_cmd: list[str] = FRESH,
        health_interval: float = 0.0,
    ) -> None:
        self.container_id = container_id
        self.bundle = bundle
        self.state_dir = state_dir
        self.runtime = ["runc"] if runtime is FRESH else runtime
        self.runtime_root = runtime_root
        self.runtime_args = [] if runtime_args is FRESH else runtime_args
        self.exit_file = exit_file
        self.log_driver = log_driver
        self.log_path = log_path
        self.log_max_size = log_max_size
        self.terminal = terminal
        self.stdin = stdin
        self.leave_stdin_open = leave_stdin_open
        self.start = start
        self.cleanup = [] if cleanup is FRESH else cleanup
        self.sdnotify = sdnotify
        self.notify_socket = notify_socket
        self.drain_timeout = drain_timeout
        self.monitor_pid_file = monitor_pid_file
        self.restart_policy = restart_policy
        self.restart_max = restart_max
        self.restart_count = restart_count
        self.restarted = [] if restarted is FRESH else restarted
        self.stop_marker = stop_marker
        self.health_cmd = [] if health_cmd is FRESH else health_cmd
        self.health_interval = health_interval

    def resolved(self) -> MonitorConfig:
        if self.log_driver not in LOG_DRIVERS:
            raise PodpyError(f"invalid log driver {self.log_driver!r}: use one of {', '.join(LOG_DRIVERS)}")
        sd = os.path.abspath(self.state_dir)
        d = self.as_dict()
        d.update(
            state_dir=sd,
            bundle=os.path.abspath(self.bundle),
            exit_file=self.exit_file or os.path.join(sd, "exit"),
            log_path=self.log_path or os.path.join(sd, "ctr.log"),
            monitor_pid_file=self.monitor_pid_file or os.path.join(sd, "monitor.pid"),
            stop_marker=self.stop_marker or os.path.join(sd, "stopped-by-user"),
            runtime=list(self.runtime),
        )
        return MonitorConfig(**d)

    @property
    def attach_path(self) -> str:
        return os.path.join(self.state_dir, "attach")

    @property
    def ctl_path(self) -> str:
        return os.path.join(self.state_dir, "ctl")


class MonitorHandle(Record):
    """A started container as its monitor reported it."""

    __slots__ = ("pid", "monitor_pid", "monitor_start", "config")
    __match_args__ = __slots__  # as a dataclass's
    __hash__ = None  # type: ignore[assignment]  # mutable, so unhashable (eq without frozen, as before)

    pid: int  # the container's pid
    monitor_pid: int
    monitor_start: int  # /proc start time of the monitor (0 if it had already exited)
    config: MonitorConfig

    def __init__(self, pid: int, monitor_pid: int, monitor_start: int, config: MonitorConfig) -> None:
        self.pid = pid
        self.monitor_pid = monitor_pid
        self.monitor_start = monitor_start
        self.config = config

    @property
    def attach_path(self) -> str:
        return self.config.attach_path

    @property
    def exit_file(self) -> str:
        return self.config.exit_file

    def monitor_alive(self) -> bool:
        return liveness.is_alive(self.monitor_pid, self.monitor_start or None)


def _readable(fd: int, timeout: float) -> bool:
    import select

    p = select.poll()
    p.register(fd, select.POLLIN)
    return bool(p.poll(timeout * 1000))


_BOOT = "import sys;sys.path.insert(0,sys.argv.pop(1));from podpy.monitor.main import main;sys.exit(main(sys.argv[1:]))"


def monitor_argv(config_fd: int, sync_fd: int, python: str | None = None) -> list[str]:
    """The monitor's command line: ``python -S -E -c BOOT ROOT CONFIG_FD SYNC_FD``."""
    return [python or sys.executable, "-S", "-E", "-c", _BOOT, _ROOT, str(config_fd), str(sync_fd)]


def _stdio_to_null() -> None:
    null = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)


class PendingMonitor:
    """A monitor started before its configuration exists, so that its start-up runs on the other CPU
    while the CLI still mounts the rootfs and writes the bundle (``run -d``). ``start(cfg)`` hands it
    the configuration and waits for its report; ``cancel()`` lets it exit without doing anything.

    With an external runtime it is the monitor interpreter, started at once. With ``adopt`` (podpy's
    runtime CLI entry point, ``module:function``) it is an adopting monitor (``_adopt``): forked from
    this process, it imports the runtime and the monitor now and creates the container in-process
    once the configuration arrives.

    Start it inside podpy's user namespace (it keeps the namespaces it is forked in), or give an
    adopting one ``prepare``, which it calls first (joining the namespace itself: forked before the
    caller has grown, it shares few memory pages with it, so the caller's later writes copy few).
    ``passthrough``: the monitor keeps this process's stdio (``--log-driver passthrough``).
    """

    def __init__(self, *, python: str | None = None, passthrough: bool = False, adopt: str | None = None,
                 prepare: Callable[[], None] | None = None) -> None:  # fmt: skip
        self.python = python
        self.passthrough = passthrough
        self.adopt = adopt
        self._cfg_r, self._cfg_w = os.pipe()
        self._r, w = os.pipe()
        argv = monitor_argv(self._cfg_r, w, python)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            try:
                os.close(self._r)
                os.close(self._cfg_w)
                _detach(passthrough)
                # nothing of the CLI's (or its shell's) in the monitor: no lock of the CLI's held by it
                # (the cyclic GC stays off, so no object of the CLI's closes a reused fd number)
                gc.disable()
                close_all_but([w, self._cfg_r])
                if adopt:
                    _adopt_when_configured(self._cfg_r, w, adopt, argv[:-2], prepare)
                for fd in (w, self._cfg_r):
                    os.set_inheritable(fd, True)
                os.execv(argv[0], argv)
            finally:
                os._exit(127)
        for fd in (w, self._cfg_r):
            os.close(fd)
        self._child = pid  # exits at once (``_detach``): reaped later, not waited for here

    def _reap(self) -> None:
        if self._child:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self._child, 0)
            self._child = 0

    def cancel(self) -> None:
        """The container will not be started: the monitor reads an empty configuration and exits."""
        for fd in (self._cfg_w, self._r):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._cfg_w = self._r = -1
        self._reap()

    def start(self, cfg: MonitorConfig, timeout: float | None = None) -> MonitorHandle:
        """Give the monitor ``cfg`` (resolved) and wait until the container runs or failed to start."""
        if self._cfg_w < 0:
            raise PodpyError("internal error: this monitor was already started or cancelled")
        data = marshal.dumps(cfg.as_dict())
        if len(data) > MAX_CONFIG:
            self.cancel()
            raise PodpyError("the monitor configuration is too large")
        try:
            os.write(self._cfg_w, data)
        finally:
            os.close(self._cfg_w)
            self._cfg_w = -1
        self._reap()
        r, self._r = self._r, -1
        return _await_report(r, cfg, timeout)


def _adopt_when_configured(cfg_r: int, sync_w: int, entry: str, argv: list[str],
                           prepare: Callable[[], None] | None) -> None:  # pragma: no cover  # fmt: skip
    """In an early adopting monitor (forked child): ``prepare``, load the runtime and the monitor
    while the CLI prepares the container, then wait for the configuration and adopt (never returns).
    An empty configuration (``cancel``, or the CLI died): exit quietly. An error before: reported
    on the sync pipe, read when the configuration is handed over."""
    import importlib

    try:
        if prepare is not None:
            prepare()
        from podpy.monitor import main as monitor_main

        module, _, func = entry.partition(":")
        runtime_main = getattr(importlib.import_module(module), func)
    except BaseException as e:  # noqa: BLE001 - the spawner gets it as the runtime's error
        with contextlib.suppress(OSError):
            syncpipe.write_message(sync_w, syncpipe.encode(-1, os.getpid(), getattr(e, "message", None) or str(e)))
        os._exit(1)
    chunks = []
    while chunk := os.read(cfg_r, 65536):
        chunks.append(chunk)
    os.close(cfg_r)
    if not chunks:
        os._exit(0)
    monitor_main.adopt(marshal.loads(b"".join(chunks)), sync_w, runtime_main, argv)
    os._exit(127)


MAX_CONFIG = 60000  # marshalled; a pipe holds 64 KiB, and the adopting monitor adds a little to it


def _detach(passthrough: bool) -> None:  # pragma: no cover - runs in the forked child
    """In the first child: a new session, then the grandchild goes on (nobody's child, no
    controlling terminal: it outlives the CLI and the user's shell) while this child exits."""
    os.setsid()
    if os.fork() != 0:
        os._exit(0)
    os.chdir("/")
    if not passthrough:
        _stdio_to_null()


def _await_report(r: int, cfg: MonitorConfig, timeout: float | None) -> MonitorHandle:
    """Read the monitor's report from the sync pipe ``r`` (closed here)."""
    try:
        if timeout is not None and not _readable(r, timeout):
            mpid = liveness.read_pid_file(cfg.monitor_pid_file)
            if mpid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(mpid, 9)
            raise MonitorError(f"the container monitor did not report within {timeout:g}s: see {cfg.state_dir}")
        msg = syncpipe.read_message(r)
    finally:
        os.close(r)
    if msg is None:
        raise MonitorError(
            f"the container monitor exited without reporting: see {os.path.join(cfg.state_dir, 'monitor.log')}",
            EXIT_PODPY,
        )
    mpid = int(msg.get("monitor_pid", 0))  # type: ignore[arg-type]
    cpid = int(msg.get("pid", -1))  # type: ignore[arg-type]
    if cpid <= 0:
        raise MonitorError(str(msg.get("message") or "the OCI runtime failed"))
    return MonitorHandle(pid=cpid, monitor_pid=mpid, monitor_start=liveness.proc_start_time(mpid) or 0, config=cfg)


def _adopt(cfg: MonitorConfig, entry: str, python: str | None, passthrough: bool) -> int:
    """Fork the monitor from this process (double fork, setsid) as an adopting monitor
    (``podpy.monitor.main.adopt``): it creates the container with the runtime CLI entry point
    ``entry`` (``module:function``) loaded here, so no runtime interpreter starts on the path
    ``run -d`` waits for, reports, and only then execs the small monitor interpreter. The read end of
    its sync pipe."""
    import importlib

    from podpy.monitor import main as monitor_main

    module, _, func = entry.partition(":")
    runtime_main = getattr(importlib.import_module(module), func)
    data = cfg.as_dict()
    if len(marshal.dumps(data)) > MAX_CONFIG:
        raise PodpyError("the monitor configuration is too large")
    argv = monitor_argv(0, 0, python)[:-2]  # the boot; ``adopt`` appends its own fds
    r, w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        try:
            os.close(r)
            _detach(passthrough)
            monitor_main.adopt(data, w, runtime_main, argv)
        finally:
            os._exit(127)
    os.close(w)
    os.waitpid(pid, 0)
    return r


def spawn_monitor(
    cfg: MonitorConfig,
    *,
    python: str | None = None,
    timeout: float | None = None,
    pending: PendingMonitor | None = None,
    adopt: str | None = None,
) -> MonitorHandle:
    """Start the monitor for ``cfg`` and wait until the container runs (or failed to start).

    Call it single-threaded, inside podpy's user namespace (the monitor and the runtime inherit
    it). With ``log_driver="passthrough"`` the container gets this process's stdin/out/err.
    ``timeout``: give up waiting for the report (the monitor is then killed) after that many seconds.
    ``pending``: a monitor started earlier (``PendingMonitor``) to hand ``cfg`` to, instead of a new one.
    ``adopt``: ``cfg.runtime`` is podpy's own runtime, whose CLI entry point (``module:function``) this
    is: the monitor is forked from this process and creates the container in-process (see ``_adopt``).
    """
    cfg = cfg.resolved()
    passthrough = cfg.log_driver == "passthrough"
    if pending is not None and (adopt != pending.adopt or pending.passthrough != passthrough):
        pending.cancel()  # not needed, or its stdio is not what this configuration needs
        pending = None
    try:
        os.makedirs(cfg.state_dir, mode=0o700, exist_ok=True)
        for f in (cfg.exit_file, cfg.log_path):
            os.makedirs(os.path.dirname(f), mode=0o700, exist_ok=True)
        # monitor.json is for people and the engine; the monitor gets the same data marshalled on a pipe
        atomic_write(
            os.path.join(cfg.state_dir, "monitor.json"),
            json.dumps(cfg.as_dict(), indent=1),
            mode=0o600,
            fsync=False,
        )
        for stale in (cfg.exit_file, cfg.monitor_pid_file):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(stale)
    except BaseException:
        if pending is not None:
            pending.cancel()
        raise
    if adopt and pending is None:
        return _await_report(_adopt(cfg, adopt, python, passthrough), cfg, timeout)
    if pending is None:
        pending = PendingMonitor(python=python, passthrough=passthrough)
    return pending.start(cfg, timeout)
