"""The attach client: this terminal <-> a container's monitor (``podpy attach``, ``start -a``, ``run -t``).

It connects to the monitor's attach socket (``podpy.monitor.attach``: SOCK_SEQPACKET, conmon's
framing), relays our stdin to it and its stdout/stderr packets to ours. When the container has a
terminal and our stdin is one: raw mode on ours, its window size sent through the ``ctl`` FIFO at
once and on every SIGWINCH. The detach keys (Podman's default ctrl-p,ctrl-q) leave the container
running; unlike Podman they are also recognised when the whole sequence arrives in one read (a paste,
a test). Signals we receive go to the monitor, which forwards them to the container (``--sig-proxy``).

``run -t`` attaches before the container's process starts (``containers.start(attach=...)``), so
no output is lost; ``podpy attach`` joins a running container and sees only what comes next.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
from dataclasses import dataclass, field
from typing import Any

from podpy.monitor import attach as proto
from podpy.util.errors import ConflictError, PodpyError
from podpy.util.paths import Paths
from podpy.util.signals import proxy_signals

DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q"
NOT_RUNNING = "you can only attach to running containers"


class DetachKeys:
    """Finds the detach sequence in the input stream; bytes of a partial match are held back until
    the next byte shows whether the sequence completes (what a terminal user sees in Podman too)."""

    def __init__(self, keys: bytes) -> None:
        self.keys = keys
        self.pending = b""

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """``(bytes to send on, detached?)``; after a detach the rest of ``data`` is dropped."""
        if not self.keys:
            return data, False
        out = bytearray()
        for b in data:
            self.pending += bytes([b])
            while self.pending and not self.keys.startswith(self.pending):
                out.append(self.pending[0])  # cannot start the sequence: it was input after all
                self.pending = self.pending[1:]
            if self.pending == self.keys:
                self.pending = b""
                return bytes(out), True
        return bytes(out), False


def detach_bytes(spec: str | None) -> bytes:
    """The byte sequence of a ``--detach-keys`` value (None: Podman's default; "": never detach)."""
    from podpy.spec.container import detach_key_bytes, parse_detach_keys

    return detach_key_bytes(parse_detach_keys(DEFAULT_DETACH_KEYS if spec is None else spec))


@dataclass
class Session:
    """One attached client: what to relay and how."""

    client: proto.AttachClient
    ctl_path: str
    monitor_pid: int
    terminal: bool  # the container has a PTY
    stdin: bool  # relay our stdin (the container was created with -i and --no-stdin was not given)
    keys: bytes = b"\x10\x11"
    sig_proxy: bool = True
    stdin_fd: int = 0
    out_fds: dict[int, int] = field(default_factory=lambda: {proto.STDOUT: 1, proto.STDERR: 2})


def _write_all(fd: int, data: bytes) -> None:
    while data:
        try:
            n = os.write(fd, data)
        except BlockingIOError:
            select.select([], [fd], [])
            continue
        data = data[n:]


def _winsize(fd: int) -> tuple[int, int] | None:
    import fcntl
    import struct
    import termios

    try:
        rows, cols, _, _ = struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8))
    except OSError:
        return None
    return (rows, cols) if rows and cols else None


def window_size() -> tuple[int, int] | None:
    """(rows, cols) of our terminal (stdin's, else stdout's); None without one."""
    tty_fd = next((fd for fd in (0, 1) if os.isatty(fd)), None)
    return _winsize(tty_fd) if tty_fd is not None else None


def _send_size(ctl_path: str, tty_fd: int) -> None:
    size = _winsize(tty_fd)
    if size is not None:
        with contextlib.suppress(OSError):
            proto.send_ctl(ctl_path, proto.CTL_RESIZE, *size)


def _size_before_start(ctl_path: str) -> None:
    """The terminal's size, in place before the container's process starts (``run -it IMG stty size``):
    the ctl message is sent and we wait (briefly) until the monitor has read it from the FIFO, which
    it acts on in the same step, so the size is set long before ``start`` has run the process."""
    import fcntl
    import struct
    import termios
    import time

    size = window_size()
    if size is None:
        return
    try:
        fd = os.open(ctl_path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return
    try:
        os.write(fd, proto.ctl_message(proto.CTL_RESIZE, *size))
        deadline = time.monotonic() + 2
        while struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0" * 4))[0] and time.monotonic() < deadline:
            time.sleep(0.001)
    except OSError:
        pass
    finally:
        os.close(fd)


def relay(s: Session) -> str:
    """Relay until the container's output ends (``"exited"``) or the detach keys (``"detached"``)."""
    import termios

    tty_fd = next((fd for fd in (s.stdin_fd, 1) if os.isatty(fd)), None) if s.terminal else None
    saved = None
    old: dict[int, Any] = {}
    try:
        if tty_fd is not None:
            _send_size(s.ctl_path, tty_fd)
            old[signal.SIGWINCH] = signal.signal(signal.SIGWINCH, lambda *_: _send_size(s.ctl_path, tty_fd))
        if s.sig_proxy and s.monitor_pid > 0:
            old.update(proxy_signals(lambda: s.monitor_pid))  # the monitor passes them on to the container
        if s.terminal and s.stdin and os.isatty(s.stdin_fd):
            import tty

            saved = termios.tcgetattr(s.stdin_fd)
            tty.setraw(s.stdin_fd, termios.TCSANOW)  # as Podman: keep what was typed ahead
        return _loop(s)
    finally:
        if saved is not None:
            with contextlib.suppress(termios.error):
                termios.tcsetattr(s.stdin_fd, termios.TCSADRAIN, saved)
        for sig, h in old.items():
            signal.signal(sig, h)


def _loop(s: Session) -> str:
    sock = s.client.sock
    keys = DetachKeys(s.keys if s.stdin else b"")
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN)
    reading_stdin = s.stdin
    if reading_stdin:
        poller.register(s.stdin_fd, select.POLLIN)
    while True:
        try:
            events = poller.poll()
        except InterruptedError:
            continue
        for fd, _ev in events:
            if fd == sock.fileno():
                try:
                    msg = s.client.recv()
                except (ConnectionResetError, TimeoutError):
                    msg = None
                if msg is None:
                    return "exited"
                stream, data = msg
                out = s.out_fds.get(stream)
                if out is not None:
                    with contextlib.suppress(OSError):  # EPIPE, or EIO: our terminal hung up
                        _write_all(out, data)
            elif reading_stdin and fd == s.stdin_fd:
                try:
                    data = os.read(s.stdin_fd, proto.CLIENT_BUF_SIZE - 1)
                except OSError:
                    data = b""
                if not data:
                    reading_stdin = False
                    poller.unregister(s.stdin_fd)
                    if keys.pending:
                        _send(s, keys.pending)
                    if not s.terminal:  # ends the container's stdin (a PTY has no such end)
                        with contextlib.suppress(OSError):
                            s.client.close_stdin()
                    continue
                data, detached = keys.feed(data)
                if data:
                    _send(s, data)
                if detached:
                    return "detached"


def relay_pty(master: int, *, stdin: bool, stdin_fd: int = 0, out_fd: int = 1) -> None:
    """``exec -t``: our terminal <-> a PTY master we hold ourselves, until the process side closes.

    Raw mode and the window size (at once and on SIGWINCH) as for attach; no detach keys (with no
    monitor holding the master, a detached exec would lose its terminal)."""
    import fcntl
    import termios

    tty_fd = next((fd for fd in (stdin_fd, out_fd) if os.isatty(fd)), None)

    def copy_size(*_: Any) -> None:
        with contextlib.suppress(OSError):
            fcntl.ioctl(master, termios.TIOCSWINSZ, fcntl.ioctl(tty_fd, termios.TIOCGWINSZ, b"\0" * 8))

    saved = None
    old = None
    try:
        if tty_fd is not None:
            copy_size()
            old = signal.signal(signal.SIGWINCH, copy_size)
        if stdin and os.isatty(stdin_fd):
            import tty

            saved = termios.tcgetattr(stdin_fd)
            tty.setraw(stdin_fd, termios.TCSANOW)
        watch = [master] + ([stdin_fd] if stdin else [])
        while True:
            try:
                ready, _, _ = select.select(watch, [], [])
            except InterruptedError:
                continue
            if master in ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: every holder of the slave side is gone
                    data = b""
                if not data:
                    return
                with contextlib.suppress(OSError):  # EPIPE, or EIO: our terminal hung up
                    _write_all(out_fd, data)
            if stdin_fd in ready and stdin:
                data = os.read(stdin_fd, 65536)
                if data:
                    _write_all(master, data)
                else:  # EOF: what a terminal sends for ^D, so a shell reading it ends too
                    watch.remove(stdin_fd)
                    with contextlib.suppress(OSError):
                        _write_all(master, b"\x04")
    finally:
        if saved is not None:
            with contextlib.suppress(termios.error):
                termios.tcsetattr(stdin_fd, termios.TCSADRAIN, saved)
        if old is not None:
            signal.signal(signal.SIGWINCH, old)


def _send(s: Session, data: bytes) -> None:
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        s.client.send(data)


# --- engine side: which container, which files ----------------------------------------------------


def connect(paths: Paths, rec: Any) -> proto.AttachClient:
    """A client on ``rec``'s attach socket; Podman's error when it is not running."""
    from podpy.engine import containers

    if rec.state != "running":
        raise ConflictError(NOT_RUNNING, exit_code=125)
    path = str(containers.state_dir(paths, rec.id) / "attach")
    try:
        return proto.AttachClient(path)
    except (FileNotFoundError, ConnectionRefusedError):
        raise ConflictError(NOT_RUNNING, exit_code=125) from None


def session(paths: Paths, rec: Any, client: proto.AttachClient, *, stdin: bool, keys: bytes,
            sig_proxy: bool) -> Session:  # fmt: skip
    from podpy.engine import containers

    cfg = rec.config
    return Session(client=client, ctl_path=str(containers.state_dir(paths, rec.id) / "ctl"),
                   monitor_pid=rec.monitor_pid, terminal=bool(cfg.get("terminal")),
                   stdin=stdin and bool(cfg.get("interactive")), keys=keys, sig_proxy=sig_proxy)  # fmt: skip


def exit_code(paths: Paths, cid: str) -> int:
    """The exit code of a container whose output just ended: its exit file (written by the monitor
    before it closes the attach socket), else the state DB (once the cleanup has run)."""
    from podpy.engine import containers
    from podpy.monitor import exitfile
    from podpy.util.errors import NotFoundError

    ex = exitfile.read_exit_file(containers.exit_path(paths, cid))
    if ex is not None:
        return int(ex["exit_code"] or 0)
    try:
        return containers.wait(paths, cid)
    except NotFoundError:
        return 0  # removed (--rm) before we could look: the code is gone


def attach(paths: Paths, ref: str, *, stdin: bool = True, detach_keys: str | None = None,
           sig_proxy: bool = True) -> str:  # fmt: skip
    """``podpy attach``: ``"exited"`` or ``"detached"``."""
    from podpy.engine import containers

    keys = detach_bytes(detach_keys)
    st = containers.open_state(paths)
    rec = containers.get(st, paths, ref)
    client = connect(paths, rec)
    st.container_event(rec.id, "attach")
    with client:
        return relay(session(paths, rec, client, stdin=stdin, keys=keys, sig_proxy=sig_proxy))


def start_attached(paths: Paths, ref: str, *, stdin: bool = True, detach_keys: str | None = None,
                   sig_proxy: bool = True) -> tuple[str, int]:  # fmt: skip
    """``start -a`` and ``run -t``: start ``ref`` with us attached before its process runs.

    Returns ``("exited", exit code)`` or ``("detached", 0)``.
    """
    from podpy.engine import containers

    keys = detach_bytes(detach_keys)
    box: dict[str, Any] = {}

    def hook(handle: Any) -> None:
        try:
            box["client"] = proto.AttachClient(handle.attach_path)
        except OSError as e:
            box["error"] = e
        if handle.config.terminal:
            _size_before_start(handle.config.ctl_path)

    rec = containers.start(paths, ref, attach=hook)
    joined = "client" not in box and "error" not in box
    if joined:  # it was running already: attach to it (and, as Podman's start -a then, exit 0)
        box["client"] = connect(paths, rec)
    client = box.get("client")
    if client is None:
        raise PodpyError(f"cannot attach to container {rec.id[:12]}: {box.get('error') or 'it is not running'}")
    with client:
        how = relay(session(paths, rec, client, stdin=stdin, keys=keys, sig_proxy=sig_proxy))
    if how == "detached" or joined:
        return how, 0
    return how, exit_code(paths, rec.id)
