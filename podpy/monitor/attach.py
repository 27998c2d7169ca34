"""The attach socket: AF_UNIX SOCK_SEQPACKET with conmon's framing, plus the ``ctl`` FIFO.

Framing (as conmon, so the same clients work): every packet from the monitor is one byte naming
the stream (1 stdin, 2 stdout, 3 stderr) followed by up to 8192 bytes of that stream's output.
Packets from a client carry raw bytes for the container's stdin (no prefix). A client that
shuts down its sending side ends the container's stdin when the container was started with
stdin (``-i``) unless ``leave_stdin_open``. The socket closes when the container has exited
and its output is drained.

``ctl`` is a FIFO next to it taking lines ``"<event> <height> <width>\\n"``: event 1 resizes the
terminal, event 2 reopens the log file (conmon's ctl protocol).
"""

from __future__ import annotations

import _socket
import os

STDIN, STDOUT, STDERR = 1, 2, 3
STDIO_BUF_SIZE = 8192  # payload bytes per packet from the monitor
CLIENT_BUF_SIZE = 32768  # bytes per packet to the monitor
CTL_RESIZE, CTL_REOPEN_LOG = 1, 2
SUN_PATH_MAX = 107


def frame(stream: int, data: bytes) -> list[bytes]:
    """The packets for ``data`` from ``stream`` (split at STDIO_BUF_SIZE)."""
    head = bytes([stream])
    return [head + data[i : i + STDIO_BUF_SIZE] for i in range(0, len(data), STDIO_BUF_SIZE)] or []


def unframe(packet: bytes) -> tuple[int, bytes]:
    if not packet:
        raise ValueError("empty attach packet")
    return packet[0], packet[1:]


def _sockaddr(path: str) -> tuple[str, int | None]:
    """A bindable/connectable address for ``path`` even past the 107-byte sun_path limit."""
    if len(os.fsencode(path)) <= SUN_PATH_MAX:
        return path, None
    dfd = os.open(os.path.dirname(path), os.O_PATH | os.O_CLOEXEC)
    return f"/proc/self/fd/{dfd}/{os.path.basename(path)}", dfd


def bind_unix(sock: _socket.socket, path: str) -> None:
    """Bind ``sock`` (a ``socket`` or ``_socket`` object) to ``path``."""
    addr, dfd = _sockaddr(path)
    try:
        sock.bind(addr)
    finally:
        if dfd is not None:
            os.close(dfd)


def connect_unix(sock: _socket.socket, path: str) -> None:
    addr, dfd = _sockaddr(path)
    try:
        sock.connect(addr)
    finally:
        if dfd is not None:
            os.close(dfd)


class AttachClient:
    """A client of the attach socket (what ``podpy attach``/``start -a`` use)."""

    def __init__(self, path: str, timeout: float | None = None) -> None:
        import socket

        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
        self.sock.settimeout(timeout)
        connect_unix(self.sock, path)

    def recv(self) -> tuple[int, bytes] | None:
        """The next ``(stream, data)``, or None at the end (the container exited)."""
        pkt = self.sock.recv(STDIO_BUF_SIZE + 1)
        if not pkt:
            return None
        return unframe(pkt)

    def send(self, data: bytes) -> None:
        for i in range(0, len(data), CLIENT_BUF_SIZE - 1):
            self.sock.send(data[i : i + CLIENT_BUF_SIZE - 1])

    def close_stdin(self) -> None:
        """Tell the monitor no more input comes (closes the container's stdin unless kept open)."""
        import socket

        self.sock.shutdown(socket.SHUT_WR)

    def read_all(self) -> dict[int, bytes]:
        out: dict[int, bytes] = {STDOUT: b"", STDERR: b""}
        while (m := self.recv()) is not None:
            out[m[0]] = out.get(m[0], b"") + m[1]
        return out

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> AttachClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def ctl_message(event: int, height: int = 0, width: int = 0) -> bytes:
    return f"{event} {height} {width}\n".encode()


def parse_ctl(data: bytes) -> list[tuple[int, int, int]]:
    out: list[tuple[int, int, int]] = []
    for line in data.split(b"\n"):
        parts = line.split()
        if len(parts) == 3 and all(p.isdigit() for p in parts):
            out.append((int(parts[0]), int(parts[1]), int(parts[2])))
    return out


def send_ctl(ctl_path: str, event: int, height: int = 0, width: int = 0) -> None:
    """Write one ctl message (resize: ``send_ctl(p, CTL_RESIZE, rows, cols)``)."""
    fd = os.open(ctl_path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        os.write(fd, ctl_message(event, height, width))
    finally:
        os.close(fd)
