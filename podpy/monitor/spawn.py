"""Start a monitor for one container: what the engine calls (``spawn_monitor``).

Double fork + ``setsid``: the monitor is nobody's child and has no controlling terminal, so it
outlives the CLI and the user's shell. The monitor is a fresh ``python -S -E`` interpreter
importing only ``podpy.monitor.main`` (see ``main``'s docstring), which keeps it small; its
configuration arrives marshalled on a pipe (a copy goes to ``monitor.json`` in the container's
state dir for people). The spawner blocks on the sync pipe until the monitor reports the
container's pid (``MonitorHandle``) or the runtime's error (``MonitorError`` carrying the
runtime's message in one line).

Speed (``run -d`` waits for all of this): ``PendingMonitor`` starts the monitor before its
configuration exists, so its interpreter starts while the CLI still creates the container; and for
podpy's own runtime the monitor's boot keeps a warm runtime (see ``_BOOT``), so ``RUNTIME create``
does not start a cold interpreter that imports the executor.
"""

from __future__ import annotations

import contextlib
import json
import marshal
import os
import sys
from dataclasses import asdict, dataclass, field

from podpy.monitor import liveness, syncpipe
from podpy.util.errors import EXIT_CANNOT_EXEC, EXIT_NOT_FOUND, EXIT_PODPY, PodpyError
from podpy.util.fsutil import atomic_write

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


@dataclass
class MonitorConfig:
    """Everything the monitor needs; paths are absolute. ``state_dir`` holds the monitor's files:
    ``attach`` (socket), ``ctl`` (FIFO), ``pidfile`` (container pid), ``monitor.pid``,
    ``monitor.json``, ``monitor.log`` (the monitor's own diagnostics), ``exit`` (default exit file)."""

    container_id: str
    bundle: str
    state_dir: str
    runtime: list[str] = field(default_factory=lambda: ["runc"])  # argv prefix of an OCI runtime CLI
    runtime_root: str = ""  # --root for the runtime ("" = the runtime's default)
    runtime_args: list[str] = field(default_factory=list)  # extra global flags (e.g. --log, --debug)
    exit_file: str = ""  # default: STATE_DIR/exit
    log_driver: str = "k8s-file"  # k8s-file | json-file (alias) | none | passthrough
    log_path: str = ""  # default: STATE_DIR/ctr.log
    log_max_size: int = 0  # bytes; <= 0: unlimited
    terminal: bool = False  # PTY via the runtime's --console-socket
    stdin: bool = False  # keep stdin open (-i): fed from attach clients
    leave_stdin_open: bool = False  # do not close stdin when an attach client ends its input
    start: bool = True  # also run `RUNTIME start` (False: the caller starts it later)
    cleanup: list[str] = field(default_factory=list)  # run after the exit file is written
    sdnotify: bool = False  # send READY=1 + MAINPID to notify_socket once running
    notify_socket: str = ""  # default: $NOTIFY_SOCKET
    drain_timeout: float = 2.0  # seconds to collect output after the container exited
    monitor_pid_file: str = ""  # default: STATE_DIR/monitor.pid
    # restart policy and health checks (issue 4), carried out by the monitor (see engine/health.py)
    restart_policy: str = ""  # "" | no | on-failure | always | unless-stopped
    restart_max: int = 0  # on-failure:N (0: no limit)
    restart_count: int = 0  # restarts before this monitor (inspect's RestartCount)
    restarted: list[str] = field(default_factory=list)  # run after each restart + PID COUNT STARTED_NS
    stop_marker: str = ""  # default STATE_DIR/stopped-by-user: `podpy stop`/`kill` happened, no restart
    health_cmd: list[str] = field(default_factory=list)  # one health check, every health_interval
    health_interval: float = 0.0  # seconds; 0: no timer

    def resolved(self) -> MonitorConfig:
        if self.log_driver not in LOG_DRIVERS:
            raise PodpyError(f"invalid log driver {self.log_driver!r}: use one of {', '.join(LOG_DRIVERS)}")
        sd = os.path.abspath(self.state_dir)
        d = asdict(self)
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


@dataclass
class MonitorHandle:
    pid: int  # the container's pid
    monitor_pid: int
    monitor_start: int  # /proc start time of the monitor (0 if it had already exited)
    config: MonitorConfig

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


# The warm runtime. ``RUNTIME create`` with podpy's own runtime is a Python program, and a cold
# interpreter importing the executor costs ~20 ms on the path ``run -d`` waits for. So just before the
# (double-forked) monitor process execs its interpreter, it forks a child: a copy of the CLI, with
# most of the runtime's modules already loaded, that imports the runtime's CLI entry point (``warm``,
# ``module:function``, given by the engine: the monitor does not know the runtime) and waits on a
# socketpair. The runtime command the monitor runs is then ``python -S -E -c _CLIENT``: it passes its
# argv, cwd, environment and stdio (SCM_RIGHTS) over the other end and exits with the status the
# server's forked worker ended with. One request is served; later ones (or a dead server) make the
# client exec the real runtime. The container init still ends up the monitor's child: the worker and
# the server are its descendants and it is the child subreaper. The monitor itself stays small (a
# fresh interpreter); only the short-lived server is a copy of the CLI.
_BOOT = "import sys;sys.path.insert(0,sys.argv.pop(1));from podpy.monitor.main import main;sys.exit(main(sys.argv[1:]))"
_CLIENT = """
import sys, os, _socket, marshal, array
fd, n = int(sys.argv[1]), int(sys.argv[2])
real, args = sys.argv[3:3 + n], sys.argv[3 + n:]
try:
    s = _socket.socket(fileno=fd)
    s.sendmsg([marshal.dumps((args, os.getcwd(), dict(os.environ)))],
              [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, array.array("i", [0, 1, 2]))])
    got = s.recv(64)
except OSError:
    got = b""
if got.strip().isdigit():
    os._exit(int(got))
os.execv(real[0], real + args)
"""


def monitor_argv(config_fd: int, sync_fd: int, python: str | None = None) -> list[str]:
    """The monitor's command line: ``python -S -E -c BOOT ROOT CONFIG_FD SYNC_FD``."""
    return [python or sys.executable, "-S", "-E", "-c", _BOOT, _ROOT, str(config_fd), str(sync_fd)]


def warm_runtime_argv(client_fd: int, runtime: list[str], python: str | None = None) -> list[str]:
    """The runtime command for a monitor with a warm runtime: the client, then the real runtime argv."""
    return [python or sys.executable, "-S", "-E", "-c", _CLIENT, str(client_fd), str(len(runtime)), *runtime]


def warm_runtime_server(fd: int, entry: str) -> None:  # pragma: no cover - runs in a forked child
    """Import ``entry`` (``module:function``, a runtime CLI's ``main(argv) -> int``), serve one
    ``_CLIENT`` request on ``fd`` in a forked worker, exit."""
    code = 0
    try:
        import importlib
        import socket

        module, _, func = entry.partition(":")
        runtime_main = getattr(importlib.import_module(module), func)
        s = socket.socket(fileno=fd)
        msg, fds, _flags, _addr = socket.recv_fds(s, 1 << 20, 3)
        if not msg:
            return  # the monitor went away without asking
        args, cwd, env = marshal.loads(msg)
        pid = os.fork()
        if pid == 0:
            status = 1
            try:
                for i, f in enumerate(fds[:3]):
                    os.dup2(f, i)
                for f in fds:
                    if f > 2:
                        os.close(f)
                sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115 - the process's own stdio
                sys.stderr = open(2, "w", closefd=False, errors="backslashreplace")  # noqa: SIM115
                os.chdir(cwd)
                os.environ.clear()
                os.environ.update(env)
                status = runtime_main(args)
            except SystemExit as e:
                status = e.code if isinstance(e.code, int) else 1
            except BaseException as e:  # noqa: BLE001 - report like a failed runtime
                os.write(2, f"podpy-runtime: {type(e).__name__}: {e}\n".encode())
            finally:
                with contextlib.suppress(Exception):
                    sys.stdout.flush()
                    sys.stderr.flush()
                os._exit(status)
        for f in fds:
            os.close(f)  # the worker has them
        _, st = os.waitpid(pid, 0)
        s.send(str(os.waitstatus_to_exitcode(st) % 256 if os.WIFEXITED(st) else 128 + os.WTERMSIG(st)).encode())
    except BaseException:  # noqa: BLE001 - the client then runs the real runtime
        code = 1
    finally:
        os._exit(code)


def _stdio_to_null() -> None:
    null = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)


def _fork_warm_server(srv: int, entry: str) -> None:  # pragma: no cover - runs in the monitor-to-be
    """Fork the warm runtime server from this copy of the CLI (the monitor once it execs): it keeps
    only ``srv`` (no lock, database or pipe of the CLI may stay open in it) and /dev/null as stdio."""
    if os.fork() != 0:
        return
    try:
        _stdio_to_null()
        os.closerange(3, srv)
        os.closerange(srv + 1, os.sysconf("SC_OPEN_MAX"))
        warm_runtime_server(srv, entry)
    finally:
        os._exit(1)


class PendingMonitor:
    """A monitor started before its configuration exists (``run -d``: its interpreter starts while
    the CLI still mounts the rootfs and writes the bundle, on the other CPU). ``start(cfg)`` hands it
    the configuration and waits for its report; ``cancel()`` lets it exit without doing anything.

    Start it inside podpy's user namespace (it keeps the namespaces it is forked in). ``warm``: the
    ``module:function`` CLI entry point of the runtime (podpy's own) to keep warm for ``RUNTIME create``.
    ``passthrough``: the monitor keeps this process's stdio (``--log-driver passthrough``).
    """

    def __init__(self, *, python: str | None = None, warm: str | None = None, passthrough: bool = False) -> None:
        import socket

        self.python = python
        self.passthrough = passthrough
        self._cfg_r, self._cfg_w = os.pipe()
        self._r, w = os.pipe()
        srv = cli = -1
        if warm:
            a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            srv, cli = a.detach(), b.detach()
        self.client_fd = cli
        argv = monitor_argv(self._cfg_r, w, python)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            try:
                os.close(self._r)
                os.close(self._cfg_w)
                os.setsid()
                if os.fork() != 0:
                    os._exit(0)
                os.chdir("/")
                if warm:
                    _fork_warm_server(srv, warm)
                    os.close(srv)
                for fd in (w, self._cfg_r, cli):
                    if fd >= 0:
                        os.set_inheritable(fd, True)
                if not passthrough:
                    _stdio_to_null()
                os.execv(argv[0], argv)
            finally:
                os._exit(127)
        for fd in (w, self._cfg_r, srv, cli):
            if fd >= 0:
                os.close(fd)
        os.waitpid(pid, 0)

    def cancel(self) -> None:
        """The container will not be started: the monitor reads an empty configuration and exits."""
        for fd in (self._cfg_w, self._r):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._cfg_w = self._r = -1

    def start(self, cfg: MonitorConfig, timeout: float | None = None) -> MonitorHandle:
        """Give the monitor ``cfg`` (resolved) and wait until the container runs or failed to start."""
        if self._cfg_w < 0:
            raise PodpyError("internal error: this monitor was already started or cancelled")
        if self.client_fd >= 0:
            cfg.runtime = warm_runtime_argv(self.client_fd, list(cfg.runtime), self.python)
        data = marshal.dumps(asdict(cfg))
        if len(data) > 60000:
            self.cancel()
            raise PodpyError("the monitor configuration is too large")
        try:
            os.write(self._cfg_w, data)
        finally:
            os.close(self._cfg_w)
            self._cfg_w = -1
        r, self._r = self._r, -1
        try:
            if timeout is not None and not _readable(r, timeout):
                mpid = liveness.read_pid_file(cfg.monitor_pid_file)
                if mpid:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(mpid, 9)
                raise MonitorError(
                    f"the container monitor did not report within {timeout:g}s: see {cfg.state_dir}"
                )
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
        return MonitorHandle(
            pid=cpid, monitor_pid=mpid, monitor_start=liveness.proc_start_time(mpid) or 0, config=cfg
        )


def spawn_monitor(
    cfg: MonitorConfig,
    *,
    python: str | None = None,
    timeout: float | None = None,
    pending: PendingMonitor | None = None,
    warm: str | None = None,
) -> MonitorHandle:
    """Start the monitor for ``cfg`` and wait until the container runs (or failed to start).

    Call it single-threaded, inside podpy's user namespace (the monitor and the runtime inherit
    it). With ``log_driver="passthrough"`` the container gets this process's stdin/out/err.
    ``timeout``: give up waiting for the report (the monitor is then killed) after that many seconds.
    ``pending``: a monitor started earlier (``PendingMonitor``) to hand ``cfg`` to, instead of a new one.
    ``warm``: ``cfg.runtime`` is podpy's own runtime, whose CLI entry point (``module:function``) this
    is: a new monitor keeps it warm (see ``_BOOT``).
    """
    cfg = cfg.resolved()
    passthrough = cfg.log_driver == "passthrough"
    if pending is not None and pending.passthrough != passthrough:
        pending.cancel()  # its stdio is not what this configuration needs
        pending = None
    try:
        os.makedirs(cfg.state_dir, mode=0o700, exist_ok=True)
        for f in (cfg.exit_file, cfg.log_path):
            os.makedirs(os.path.dirname(f), mode=0o700, exist_ok=True)
        # monitor.json is for people and the engine; the monitor gets the same data marshalled on a pipe
        atomic_write(
            os.path.join(cfg.state_dir, "monitor.json"),
            json.dumps(asdict(cfg), indent=1),
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
    if pending is None:
        pending = PendingMonitor(python=python, warm=warm, passthrough=passthrough)
    return pending.start(cfg, timeout)
