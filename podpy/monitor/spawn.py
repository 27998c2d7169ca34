"""Start a monitor for one container: what the engine calls (``spawn_monitor``).

Double fork + ``setsid``: the monitor is nobody's child and has no controlling terminal, so it
outlives the CLI and the user's shell. The monitor is a fresh ``python -S -E`` interpreter
importing only ``podpy.monitor.main`` (see ``main``'s docstring), which keeps it small; it is
told what to do through ``monitor.json`` in the container's state dir. The spawner blocks on
the sync pipe until the monitor reports the container's pid (``MonitorHandle``) or the
runtime's error (``MonitorError`` carrying the runtime's message in one line).
"""

from __future__ import annotations

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
_BOOT = (
    "import sys;sys.path.insert(0,sys.argv.pop(1));"
    "from podpy.monitor.main import main;sys.exit(main(sys.argv[1:]))"
)


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


def monitor_argv(config_fd: int, sync_fd: int, python: str | None = None) -> list[str]:
    return [python or sys.executable, "-S", "-E", "-c", _BOOT, _ROOT, str(config_fd), str(sync_fd)]


def spawn_monitor(
    cfg: MonitorConfig, *, python: str | None = None, timeout: float | None = None
) -> MonitorHandle:
    """Start the monitor for ``cfg`` and wait until the container runs (or failed to start).

    Call it single-threaded, inside podpy's user namespace (the monitor and the runtime inherit
    it). With ``log_driver="passthrough"`` the container gets this process's stdin/out/err.
    ``timeout``: give up waiting for the report (the monitor is then killed) after that many seconds.
    """
    cfg = cfg.resolved()
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
    data = marshal.dumps(asdict(cfg))
    cfg_r, cfg_w = os.pipe()
    if len(data) > 60000:
        raise PodpyError("the monitor configuration is too large")
    os.write(cfg_w, data)
    os.close(cfg_w)
    for stale in (cfg.exit_file, cfg.monitor_pid_file):
        try:
            os.unlink(stale)
        except FileNotFoundError:
            pass
    r, w = os.pipe()
    argv = monitor_argv(cfg_r, w, python)
    passthrough = cfg.log_driver == "passthrough"
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        try:
            os.close(r)
            os.setsid()
            if os.fork() != 0:
                os._exit(0)
            os.set_inheritable(w, True)
            os.set_inheritable(cfg_r, True)
            if not passthrough:
                null = os.open("/dev/null", os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(null, fd)
                os.close(null)
            os.chdir("/")
            os.execv(argv[0], argv)
        finally:
            os._exit(127)
    os.close(w)
    os.close(cfg_r)
    try:
        os.waitpid(pid, 0)
        if timeout is not None and not _readable(r, timeout):
            mpid = liveness.read_pid_file(cfg.monitor_pid_file)
            if mpid:
                try:
                    os.kill(mpid, 9)
                except ProcessLookupError:
                    pass
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
