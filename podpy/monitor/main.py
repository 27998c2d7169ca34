"""The monitor process: one per container, started by ``spawn.spawn_monitor`` (double fork, setsid).

Only builtin modules (``_socket``, ``_signal``, ``select``, ``marshal``): no json (it imports
``re``), no socket/signal wrappers (``enum``), no dataclasses/subprocess/logging; each costs
resident memory in every monitor. The config arrives marshalled on a pipe from the spawner. It is a child subreaper, so the
container's init (forked by ``RUNTIME create``, which then exits) is re-parented to it and its
exit status can be collected with waitpid, as conmon does.

Order: pid file, signals, stdio pipes (or the console socket for a PTY), attach socket and ctl
FIFO, ``RUNTIME create`` (+ ``start``), report pid/error on the sync pipe, then a poll loop
(output → log + attach clients, attach input → stdin, ctl, SIGCHLD, the health-check timer) until
the container exited and its output is drained; then, if its ``--restart`` policy says so (and no
``podpy stop``/``kill`` left the stop marker, see ``restart``), ``RUNTIME delete`` + create + start
again and back to the loop; else exit file; cleanup command; exit. Health checks and the state DB
update after a restart are commands the monitor runs (``podpy.engine.health``), never code it imports.
"""

from __future__ import annotations

import _signal as signal
import _socket as socket
import errno
import marshal
import os
import select
import sys
import time

from podpy.monitor import attach, exitfile, logfmt, restart, syncpipe
from podpy.util.signals import PROXIED_SIGNALS

TYPE_CHECKING = False  # typing costs memory in every monitor
if TYPE_CHECKING:
    from collections.abc import Callable

PR_SET_CHILD_SUBREAPER = 36
TIOCSWINSZ = 0x5414
FORWARDED_SIGNALS = PROXIED_SIGNALS  # what the CLI's --sig-proxy sends us, for the container
POLL_IN = select.POLLIN | select.POLLPRI
POLL_END = select.POLLHUP | select.POLLERR | select.POLLNVAL


def set_subreaper() -> bool:
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def spawn(argv: list[str], stdin: int, stdout: int, stderr: int, env: dict[str, str] | None = None) -> int:
    """posix_spawn with the three stdio fds (everything else is close-on-exec)."""
    actions = [
        (os.POSIX_SPAWN_DUP2, stdin, 0),
        (os.POSIX_SPAWN_DUP2, stdout, 1),
        (os.POSIX_SPAWN_DUP2, stderr, 2),
    ]
    return os.posix_spawnp(
        argv[0],
        argv,
        os.environ if env is None else env,
        file_actions=actions,
        setsigdef=(signal.SIGPIPE, signal.SIGXFSZ, *FORWARDED_SIGNALS),
    )


def read_available(fd: int, wait: float = 0.2) -> bytes:
    """Whatever ``fd`` holds now (up to ``wait`` seconds for the first byte), without blocking on EOF."""
    chunks: list[bytes] = []
    p = select.poll()
    p.register(fd, select.POLLIN)
    deadline = time.monotonic() + wait
    while True:
        left = max(0.0, deadline - time.monotonic())
        if not p.poll(left * 1000 if not chunks else 0):
            break
        try:
            b = os.read(fd, 65536)
        except OSError:
            break
        if not b:
            break
        chunks.append(b)
    return b"".join(chunks)


class Monitor:
    def __init__(self, cfg: dict, sync_fd: int) -> None:  # type: ignore[type-arg]
        self.cfg = cfg
        self.sync_fd = sync_fd
        self.cid: str = cfg["container_id"]
        sd = cfg["state_dir"]
        self.state_dir = sd
        self.attach_path = os.path.join(sd, "attach")
        self.ctl_path = os.path.join(sd, "ctl")
        self.pid_file = os.path.join(sd, "pidfile")
        self.exit_file = cfg["exit_file"] or os.path.join(sd, "exit")
        self.driver: str = cfg["log_driver"]
        self.terminal: bool = cfg["terminal"]
        self.ctr_pid = 0
        self.status: int | None = None
        self.exited_at = 0
        self.outputs: dict[int, int] = {}  # fd -> stream id
        self.stdin_fd = -1
        self.stdin_buf = bytearray()
        self.master_fd = -1
        self.clients: dict[int, socket.socket] = {}
        self.log: logfmt.LogWriter | None = None
        self.listen: socket.socket | None = None
        self.ctl_fd = -1
        self.poller = select.poll()
        self.exit_signal: int | None = None
        self.env = dict(os.environ)
        # READY/MAINPID are the engine's (or, with sdnotify, this monitor's) to send; a runtime that sees
        # NOTIFY_SOCKET (runc) would wait for the container's READY instead
        self.env.pop("NOTIFY_SOCKET", None)
        self.restart_count = int(cfg.get("restart_count") or 0)
        self.health_pid = 0
        self.next_health: float | None = None  # monotonic time of the next scheduled health check
        self.runtime_main: Callable[[list[str]], int] | None = None  # see ``call_runtime``

    # --- small helpers ----------------------------------------------------------------------------

    def diag(self, msg: str) -> None:
        try:
            with open(os.path.join(self.state_dir, "monitor.log"), "a") as f:
                f.write(f"{logfmt.k8s_timestamp()} [{os.getpid()}] {msg}\n")
        except OSError:
            pass

    def runtime(self, *verb: str) -> list[str]:
        return [*self.cfg["runtime"], *self.runtime_args(*verb)]

    def runtime_args(self, *verb: str) -> list[str]:
        root = ["--root", self.cfg["runtime_root"]] if self.cfg["runtime_root"] else []
        return [*root, *self.cfg["runtime_args"], *verb]

    def call_runtime(self, verb: list[str], stdio: tuple[int, int, int]) -> int | str:
        """``RUNTIME VERB`` with ``stdio``: its wait status, or why it could not run. An adopting
        monitor (``adopt``) is a copy of the CLI with the runtime loaded: it calls ``runtime_main``
        in-process instead of starting the runtime's interpreter."""
        if self.runtime_main is None:
            try:
                return self.wait_child(spawn(self.runtime(*verb), *stdio, env=self.env))
            except OSError as e:
                return f"cannot run the OCI runtime {self.cfg['runtime'][0]!r}: {e.strerror}"
        saved = [os.dup(fd) for fd in (0, 1, 2)]
        code = 1
        try:
            for i, fd in enumerate(stdio):
                os.dup2(fd, i)
            code = self.runtime_main(self.runtime_args(*verb))
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        except BaseException as e:  # noqa: BLE001 - reported like a failed runtime
            os.write(2, f"{type(e).__name__}: {e}\n".encode(errors="replace"))
        finally:
            for f in (sys.stdout, sys.stderr):
                try:
                    f.flush()
                except (OSError, ValueError):
                    pass
            for i, fd in enumerate(saved):
                os.dup2(fd, i)
                os.close(fd)
        return (int(code or 0) & 0xFF) << 8  # as waitpid reports an exit with that code

    def report(self, pid: int, message: str | None = None) -> None:
        if self.sync_fd < 0:
            return
        try:
            syncpipe.write_message(self.sync_fd, syncpipe.encode(pid, os.getpid(), message))
        except OSError as e:  # the spawner is gone (killed): the container runs on regardless
            self.diag(f"cannot report to the spawner: {e}")
        os.close(self.sync_fd)
        self.sync_fd = -1

    def wait_child(self, pid: int) -> int:
        """waitpid for one runtime process; statuses of others (the container!) are kept."""
        while True:
            got, status = os.waitpid(pid, 0)
            if got == pid:
                return status

    # --- setup ------------------------------------------------------------------------------------

    def setup_signals(self) -> None:
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_w, False)
        os.set_blocking(self.wake_r, False)
        signal.set_wakeup_fd(self.wake_w, warn_on_full_buffer=False)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        for s in FORWARDED_SIGNALS:
            signal.signal(s, self.forward_signal)
        self.poller.register(self.wake_r, select.POLLIN)

    def forward_signal(self, signum: int, _frame: object) -> None:
        if self.ctr_pid > 0 and self.status is None:
            try:
                os.kill(self.ctr_pid, signum)
            except OSError:
                pass

    def setup_attach(self) -> None:
        for p in (self.attach_path, self.ctl_path):
            try:
                os.unlink(p)
            except FileNotFoundError:
                pass
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK)
        attach.bind_unix(s, self.attach_path)
        os.chmod(self.attach_path, 0o700)
        s.listen(10)
        self.listen = s
        self.poller.register(s.fileno(), select.POLLIN)
        os.mkfifo(self.ctl_path, 0o600)
        self.ctl_fd = os.open(self.ctl_path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        self.poller.register(self.ctl_fd, select.POLLIN)

    def open_log(self) -> None:
        if self.driver in ("k8s-file", "json-file"):
            self.log = logfmt.LogWriter(self.cfg["log_path"], int(self.cfg["log_max_size"] or 0))

    # --- create / start ---------------------------------------------------------------------------

    def create(self, start: bool | None = None) -> str | None:
        """Create (and start) the container; None on success, else the runtime's error text."""
        start = self.cfg["start"] if start is None else start
        devnull = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
        try:
            os.unlink(self.pid_file)
        except FileNotFoundError:
            pass
        args = ["create", "--bundle", self.cfg["bundle"], "--pid-file", self.pid_file]
        console = None
        err_r = -1
        child_ends: list[int] = []
        if self.terminal:
            console_path = os.path.join(self.state_dir, "console.sock")
            if len(os.fsencode(console_path)) > attach.SUN_PATH_MAX:
                console_path = f"/tmp/podpy-console-{os.getpid()}.sock"
            try:
                os.unlink(console_path)
            except FileNotFoundError:
                pass
            console = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
            console.bind(console_path)
            console.listen(1)
            args += ["--console-socket", console_path]
            err_r, err_w = os.pipe()
            child_ends.append(err_w)
            stdio = (devnull, err_w, err_w)
        elif self.driver == "passthrough":
            stdio = (0, 1, 2)
        else:
            if self.cfg["stdin"]:
                in_r, self.stdin_fd = os.pipe()
                child_ends.append(in_r)
            else:
                in_r = devnull
            out_r, out_w = os.pipe()
            err_r, err_w = os.pipe()
            child_ends += [out_w, err_w]
            self.outputs = {out_r: attach.STDOUT, err_r: attach.STDERR}
            stdio = (in_r, out_w, err_w)
        try:
            status = self.call_runtime([*args, self.cid], stdio)
        finally:
            for fd in child_ends:
                os.close(fd)
        if isinstance(status, str):
            return status
        if not (os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0):
            text = read_available(err_r).decode(errors="replace") if err_r >= 0 else ""
            return text or f"the OCI runtime create failed (status {status})"
        if console is not None:
            console.settimeout(5)
            try:
                cfd, _ = console._accept()
                conn = socket.socket(fileno=cfd)
                try:
                    _msg, anc, _flags, _addr = conn.recvmsg(4096, socket.CMSG_SPACE(4))
                finally:
                    conn.close()
            except OSError as e:
                return f"no terminal from the OCI runtime: {e}"
            finally:
                os.unlink(console.getsockname())
                console.close()
            fds = [
                int.from_bytes(data[:4], sys.byteorder)
                for level, kind, data in anc
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS and len(data) >= 4
            ]
            if not fds:
                return "the OCI runtime sent no terminal fd"
            self.master_fd = fds[0]
            os.set_inheritable(self.master_fd, False)
            self.outputs = {self.master_fd: attach.STDOUT}
            self.stdin_fd = self.master_fd
            os.close(err_r)
        pid_text = ""
        try:
            with open(self.pid_file) as f:
                pid_text = f.read().strip()
        except OSError:
            pass
        if not pid_text.isdigit():
            return f"the OCI runtime wrote no pid file {self.pid_file}"
        self.ctr_pid = int(pid_text)
        if start:
            cap_r, cap_w = os.pipe()
            try:
                status = self.call_runtime(["start", self.cid], (devnull, cap_w, cap_w))
            finally:
                os.close(cap_w)
            if isinstance(status, str) or not (os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0):
                text = read_available(cap_r).decode(errors="replace")
                os.close(cap_r)
                self.call_runtime(["delete", "--force", self.cid], (devnull, devnull, devnull))
                if isinstance(status, str):
                    return status
                return text or f"the OCI runtime start failed (status {status})"
            os.close(cap_r)
        os.close(devnull)
        return None

    # --- the loop ---------------------------------------------------------------------------------

    def reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                if self.status is None and self.ctr_pid > 0 and not os.path.exists(f"/proc/{self.ctr_pid}"):
                    self.diag(f"container process {self.ctr_pid} was not our child: its exit code is unknown")
                    self.container_exited(255)  # not our child (no subreaper): code unknown
                return
            if pid == 0:
                return
            if pid == self.ctr_pid:
                code, _sig = exitfile.exit_code_from_status(status)
                self.container_exited(code, _sig)
            elif pid == self.health_pid:
                self.health_pid = 0
                self.schedule_health()

    def container_exited(self, code: int, sig: int | None = None) -> None:
        self.status = code
        self.exit_signal = sig
        self.exited_at = time.time_ns()

    def handle_output(self, fd: int) -> None:
        try:
            data = os.read(fd, attach.STDIO_BUF_SIZE)
        except BlockingIOError:
            return
        except OSError as e:
            if e.errno != errno.EIO:  # EIO: the PTY's other side is closed
                self.diag(f"read from the container failed: {e}")
            data = b""
        if not data:
            self.close_output(fd)
            return
        stream = self.outputs[fd]
        if self.log is not None:
            try:
                self.log.write(logfmt.STREAMS[stream], data)
            except OSError as e:
                self.diag(f"cannot write the log: {e}")
        for pkt in attach.frame(stream, data):
            for cfd, c in list(self.clients.items()):
                try:
                    c.send(pkt)
                except OSError:
                    self.drop_client(cfd)

    def close_output(self, fd: int) -> None:
        self.outputs.pop(fd, None)
        try:
            self.poller.unregister(fd)
        except KeyError:
            pass
        if fd != self.master_fd:
            os.close(fd)

    def accept_client(self) -> None:
        assert self.listen is not None
        try:
            cfd, _ = self.listen._accept()
        except OSError:
            return
        c = socket.socket(fileno=cfd)
        c.settimeout(5)
        self.clients[c.fileno()] = c
        self.poller.register(c.fileno(), select.POLLIN)

    def drop_client(self, fd: int) -> None:
        c = self.clients.pop(fd, None)
        if c is not None:
            try:
                self.poller.unregister(fd)
            except KeyError:
                pass
            c.close()

    def handle_client(self, fd: int, ev: int) -> None:
        c = self.clients[fd]
        data = b""
        if ev & select.POLLIN:
            try:
                data = c.recv(attach.CLIENT_BUF_SIZE)
            except BlockingIOError:
                return
            except OSError:
                data = b""
        if data:
            self.stdin_buf += data
            self.flush_stdin()
            return
        # EOF from this client: it sends no more input; it may still read output
        try:
            self.poller.unregister(fd)
        except KeyError:
            pass
        if ev & (select.POLLERR | select.POLLNVAL | select.POLLHUP):  # HUP: closed (detached), not half-closed
            self.drop_client(fd)
        if self.cfg["stdin"] and not self.cfg["leave_stdin_open"] and not self.terminal:
            self.close_stdin()

    def flush_stdin(self) -> None:
        if self.stdin_fd < 0:
            self.stdin_buf.clear()
            return
        os.set_blocking(self.stdin_fd, False)
        while self.stdin_buf:
            try:
                n = os.write(self.stdin_fd, self.stdin_buf)
            except BlockingIOError:
                break
            except OSError:
                self.stdin_buf.clear()
                self.close_stdin()
                return
            del self.stdin_buf[:n]
        if self.stdin_fd != self.master_fd:
            try:
                if self.stdin_buf:
                    self.poller.register(self.stdin_fd, select.POLLOUT)
                else:
                    self.poller.unregister(self.stdin_fd)
            except KeyError:
                pass

    def close_stdin(self) -> None:
        if self.stdin_fd >= 0 and self.stdin_fd != self.master_fd:
            try:
                self.poller.unregister(self.stdin_fd)
            except KeyError:
                pass
            os.close(self.stdin_fd)
            self.stdin_fd = -1

    def handle_ctl(self) -> None:
        try:
            data = os.read(self.ctl_fd, 4096)
        except OSError:
            return
        for event, h, w in attach.parse_ctl(data):
            if event == attach.CTL_RESIZE and self.master_fd >= 0:
                import fcntl
                import struct

                try:
                    fcntl.ioctl(self.master_fd, TIOCSWINSZ, struct.pack("HHHH", h, w, 0, 0))
                except OSError as e:
                    self.diag(f"resize failed: {e}")
            elif event == attach.CTL_REOPEN_LOG and self.log is not None:
                self.log.reopen()

    def loop(self) -> None:
        for fd in self.outputs:
            os.set_blocking(fd, False)
            self.poller.register(fd, POLL_IN)
        drain = float(self.cfg["drain_timeout"])
        while True:
            self.reap()
            if self.status is not None:
                if not self.outputs:
                    return
                deadline = self.exited_at / 1e9 + drain
                left = deadline - time.time()
                if left <= 0:
                    return
                timeout = min(left, 0.2) * 1000
            else:
                timeout = self.health_tick(1000 if self.ctr_pid > 0 else -1)
            for fd, ev in self.poller.poll(timeout):
                if fd == self.wake_r:
                    try:
                        os.read(self.wake_r, 512)
                    except OSError:
                        pass
                elif fd in self.outputs:
                    if ev & (POLL_IN | POLL_END):
                        self.handle_output(fd)
                elif self.listen is not None and fd == self.listen.fileno():
                    self.accept_client()
                elif fd in self.clients:
                    self.handle_client(fd, ev)
                elif fd == self.ctl_fd:
                    self.handle_ctl()
                elif fd == self.stdin_fd:
                    self.flush_stdin()

    # --- restart policy, health checks ------------------------------------------------------------

    def restart(self) -> bool:
        """The container exited and its policy says restart: a new one from the same bundle, same
        monitor (attach clients stay). False when that failed (the last exit then stands)."""
        self.drain_outputs()
        for fd in list(self.outputs):
            self.close_output(fd)
        self.close_stdin()
        if self.master_fd >= 0:
            os.close(self.master_fd)
            self.master_fd = self.stdin_fd = -1
        code, sig, at = self.status, self.exit_signal, self.exited_at
        devnull = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
        try:
            argv = self.runtime("delete", "--force", self.cid)
            self.wait_child(spawn(argv, devnull, devnull, devnull, self.env))
        finally:
            os.close(devnull)
        self.status, self.exit_signal, self.exited_at, self.ctr_pid = None, None, 0, 0
        error = self.create(start=True)
        if error is not None:
            self.diag(f"restart failed: {error}")
            self.status, self.exit_signal, self.exited_at = code, sig, at
            return False
        self.restart_count += 1
        self.diag(f"restart {self.restart_count} (the exit code was {code}): container pid {self.ctr_pid}")
        hook = self.cfg.get("restarted") or []
        if hook:  # waited for: the state DB must hear of this start before it can hear of the next exit
            info = (self.ctr_pid, self.restart_count, time.time_ns(), code, at)
            hpid = self.spawn_quiet([*hook, *map(str, info)])
            if hpid:
                self.wait_child(hpid)
        if restart.stopped_by_user(self.cfg):  # `podpy stop` came while we restarted
            try:
                os.kill(self.ctr_pid, signal.SIGKILL)
            except OSError:
                pass
        self.schedule_health()
        return True

    def spawn_quiet(self, argv: list[str]) -> int:
        """A helper command (health check, restart hook) with its output in monitor.log; not waited for."""
        devnull = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
        out = os.open(os.path.join(self.state_dir, "monitor.log"),
                      os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)  # fmt: skip
        try:
            return spawn(argv, devnull, out, out, env=self.env)
        except OSError as e:
            self.diag(f"cannot run {argv[:1]!r}: {e}")
            return 0
        finally:
            os.close(devnull)
            os.close(out)

    def schedule_health(self) -> None:
        interval = float(self.cfg.get("health_interval") or 0)
        if self.cfg.get("health_cmd") and interval > 0:
            self.next_health = time.monotonic() + interval

    def health_tick(self, timeout: float) -> float:
        """Run a due health check (one at a time); the poll timeout (ms) until the next one is due."""
        if self.next_health is None or self.health_pid:
            return timeout
        left = self.next_health - time.monotonic()
        if left <= 0:
            self.next_health = None
            self.health_pid = self.spawn_quiet(list(self.cfg["health_cmd"]))
            if not self.health_pid:
                self.schedule_health()
            return timeout
        return left * 1000 if timeout < 0 else min(timeout, left * 1000)

    def drain_outputs(self) -> None:
        """Read what is still buffered in the pipes, without waiting for writers that linger."""
        for fd in list(self.outputs):
            for _ in range(1024):
                if fd not in self.outputs or not select.select([fd], [], [], 0)[0]:
                    break
                self.handle_output(fd)

    # --- finish -----------------------------------------------------------------------------------

    def finish(self) -> None:
        self.drain_outputs()
        self.close_stdin()
        for fd in list(self.outputs):
            self.close_output(fd)
        if self.log is not None:
            self.log.close()
        code = 255 if self.status is None else self.status
        try:
            exitfile.write_exit_file(self.exit_file, code, self.exited_at or time.time_ns(), self.exit_signal)
        except OSError as e:
            self.diag(f"cannot write the exit file: {e}")
        for fd in list(self.clients):
            self.drop_client(fd)
        self.remove_sockets()
        self.run_cleanup()

    def remove_sockets(self) -> None:
        if self.listen is not None:
            self.listen.close()
            self.listen = None
        for p in (self.attach_path, self.ctl_path):
            try:
                os.unlink(p)
            except FileNotFoundError:
                pass

    def run_cleanup(self) -> None:
        cmd = self.cfg["cleanup"]
        if not cmd:
            return
        devnull = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
        logf = os.path.join(self.state_dir, "monitor.log")
        out = os.open(logf, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            pid = spawn(list(cmd), devnull, out, out, env=self.env)  # its output: monitor.log
        except OSError as e:
            self.diag(f"cannot run the cleanup command {cmd!r}: {e}")
            return
        finally:
            os.close(devnull)
            os.close(out)
        status = self.wait_child(pid)
        if status != 0:
            self.diag(f"the cleanup command {cmd!r} failed (status {status})")

    def run(self) -> int:
        error = self.prepare(signals=True)
        if error is not None:
            return 1
        self.report(self.ctr_pid)
        return self.serve()

    def prepare(self, signals: bool) -> str | None:
        """Everything up to the report: pid file, signals, log, attach socket, the container
        created. On error: reported, sockets removed, the error returned."""
        if self.sync_fd >= 0:
            os.set_inheritable(self.sync_fd, False)
        if not set_subreaper():
            self.diag("cannot become a child subreaper: exit codes will be unknown")
        with open(self.cfg["monitor_pid_file"] + ".tmp", "w") as f:
            f.write(f"{os.getpid()}\n")
        os.rename(self.cfg["monitor_pid_file"] + ".tmp", self.cfg["monitor_pid_file"])
        if signals:
            self.setup_signals()
        try:
            if signals:
                self.open_log()
            self.setup_attach()
            error = self.create()
        except OSError as e:
            error = f"monitor setup failed: {e}"
        if error is not None:
            self.diag(f"create failed: {error}")
            self.remove_sockets()  # before the report: the caller may look right away
            if self.log is not None:
                self.log.close()
            self.report(-1, error)
            return error
        restart.clear_marker(self.cfg)
        return None

    def handover(self) -> dict:  # type: ignore[type-arg]
        """What a fresh monitor interpreter needs to carry on from an adopting one (``adopt``); the
        fds in it are made inheritable."""
        listen_fd = self.listen.detach() if self.listen is not None else -1
        fds = [listen_fd, self.ctl_fd, self.stdin_fd, self.master_fd, *self.outputs]
        for fd in fds:
            if fd >= 0 and fd not in (0, 1, 2):
                os.set_inheritable(fd, True)
        return {"cfg": self.cfg, "ctr_pid": self.ctr_pid, "listen_fd": listen_fd, "ctl_fd": self.ctl_fd,
                "stdin_fd": self.stdin_fd, "master_fd": self.master_fd, "outputs": self.outputs}  # fmt: skip

    def resume(self, state: dict) -> int:  # type: ignore[type-arg]
        """Carry on where an adopting monitor reported (``handover``): the container is created and
        ours (we are the same process, re-executed), its stdio and the attach socket are open."""
        self.ctr_pid = int(state["ctr_pid"])
        self.outputs = {int(fd): int(kind) for fd, kind in state["outputs"].items()}
        self.stdin_fd, self.master_fd, self.ctl_fd = state["stdin_fd"], state["master_fd"], state["ctl_fd"]
        for fd in (*self.outputs, self.stdin_fd, self.master_fd, self.ctl_fd, state["listen_fd"]):
            if fd > 2:
                os.set_inheritable(fd, False)
        if state["listen_fd"] >= 0:
            self.listen = socket.socket(fileno=state["listen_fd"])
            self.poller.register(self.listen.fileno(), select.POLLIN)
        if self.ctl_fd >= 0:
            self.poller.register(self.ctl_fd, select.POLLIN)
        self.setup_signals()  # the container may have exited already: ``loop`` reaps first
        try:
            self.open_log()
        except OSError as e:
            self.diag(f"cannot open the log: {e}")
        return self.serve()

    def serve(self) -> int:
        """From the report on: sd_notify, health checks, the loop (and restarts), the exit."""
        if self.cfg["sdnotify"]:
            from podpy.monitor import notify

            try:
                notify.ready(os.getpid(), self.cfg["notify_socket"] or None)  # as conmon: MAINPID is the monitor
            except OSError as e:
                self.diag(f"sd_notify failed: {e}")
        self.schedule_health()
        while True:
            self.loop()
            if not (restart.should_restart(self.cfg, self.status, self.restart_count) and self.restart()):
                break
        self.finish()
        return 0


def adopt(cfg: dict, sync_fd: int, runtime_main: Callable[[list[str]], int], argv: list[str]) -> None:  # type: ignore[type-arg]
    """The monitor, started as a fork of the CLI (``spawn.adopt_monitor``): it creates the container
    with the runtime the CLI has loaded (no runtime interpreter to start), reports, and then execs
    ``argv`` (``monitor_argv``: a fresh, small interpreter) that resumes with the container as its
    child. Never returns."""
    m = Monitor(cfg, sync_fd)
    m.runtime_main = runtime_main
    code = 1
    try:
        if m.prepare(signals=False) is None:
            m.report(m.ctr_pid)
            r, w = os.pipe()
            state = m.handover()
            os.write(w, marshal.dumps(state))  # well below a pipe's 64 KiB: never blocks
            os.close(w)
            os.set_inheritable(r, True)
            from podpy.util.fds import close_all_but

            # nothing the CLI inherited (its shell's fds) or opened stays open in the monitor
            close_all_but([r, state["listen_fd"], state["ctl_fd"], state["stdin_fd"], state["master_fd"],
                           *state["outputs"]])  # fmt: skip
            argv = [*argv, str(r), "-1", "resume"]
            os.execv(argv[0], argv)
    except BaseException as e:  # noqa: BLE001 - last resort: say why, never leave the spawner hanging
        m.diag(f"monitor failed: {type(e).__name__}: {e}")
        m.report(-1, f"the container monitor failed: {e}")
    os._exit(code)


def main(argv: list[str]) -> int:
    cfg_fd, sync_fd = int(argv[0]), int(argv[1])
    with os.fdopen(cfg_fd, "rb") as f:
        cfg = marshal.loads(f.read())
    if argv[2:] == ["resume"]:
        m = Monitor(cfg["cfg"], -1)
        try:
            return m.resume(cfg)
        except BaseException as e:
            m.diag(f"monitor failed: {type(e).__name__}: {e}")
            raise
    m = Monitor(cfg, sync_fd)
    try:
        return m.run()
    except BaseException as e:  # last resort: say why, never leave the spawner hanging
        m.diag(f"monitor failed: {type(e).__name__}: {e}")
        m.report(-1, f"the container monitor failed: {e}")
        raise


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
