"""The k8s-file log format (CRI), byte for byte as conmon writes it.

Each chunk read from the container becomes one line per newline-terminated line:
``2024-03-25T13:20:42.999999999+01:00 stdout F text\\n``; a trailing piece without a newline is
written at once as a partial line (``P``, followed by a newline the container did not write), so a
reader joins P lines with the next line. Local time with the numeric offset, nanoseconds.
``json-file`` is an alias (as in Podman). With ``max_size`` > 0 the file is replaced by an empty
one before it would grow past the limit (conmon's rotation; old content is dropped).
Reading the log back (``podpy logs``) is in ``logread``: the monitor never imports that side.
"""

from __future__ import annotations

import os
import time

STREAMS = {1: b"stdin", 2: b"stdout", 3: b"stderr"}


def k8s_timestamp(now_ns: int | None = None) -> str:
    """``2024-03-25T13:20:42.999999999+01:00`` in local time (honours ``TZ``)."""
    if now_ns is None:
        now_ns = time.time_ns()
    secs, ns = divmod(now_ns, 1_000_000_000)
    tm = time.localtime(secs)
    off = tm.tm_gmtoff or 0
    sign = "+" if off >= 0 else "-"
    off = abs(off)
    return (
        f"{tm.tm_year:d}-{tm.tm_mon:02d}-{tm.tm_mday:02d}T{tm.tm_hour:02d}:{tm.tm_min:02d}:{tm.tm_sec:02d}"
        f".{ns:09d}{sign}{off // 3600:02d}:{(off % 3600) // 60:02d}"
    )


def format_lines(stream: bytes, data: bytes, now_ns: int | None = None) -> list[bytes]:
    """The log lines for one chunk read from ``stream`` (b"stdout"/b"stderr"); same timestamp for all."""
    prefix = k8s_timestamp(now_ns).encode() + b" " + stream + b" "
    out: list[bytes] = []
    start = 0
    n = len(data)
    while start < n:
        end = data.find(b"\n", start)
        if end < 0:
            out.append(prefix + b"P " + data[start:] + b"\n")
            break
        out.append(prefix + b"F " + data[start : end + 1])
        start = end + 1
    return out


class LogWriter:
    """Appends k8s-file lines to ``path``; rotates at ``max_size`` bytes (0 or less: no limit)."""

    def __init__(self, path: str, max_size: int = 0) -> None:
        self.path = path
        self.max_size = max_size
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self.size = os.fstat(self.fd).st_size

    def write(self, stream: bytes, data: bytes, now_ns: int | None = None) -> None:
        lines = format_lines(stream, data, now_ns)
        buf: list[bytes] = []
        pending = 0
        for line in lines:
            if (
                self.max_size > 0
                and self.size + pending + len(line) > self.max_size
                and self.size + pending > 0
            ):
                self._flush(buf)
                buf, pending = [], 0
                self.rotate()
            buf.append(line)
            pending += len(line)
        self._flush(buf)

    def _flush(self, buf: list[bytes]) -> None:
        if not buf:
            return
        data = b"".join(buf)
        view = memoryview(data)
        while view:
            n = os.write(self.fd, view)
            view = view[n:]
        self.size += len(data)

    def rotate(self) -> None:
        """Start an empty file atomically (temp + rename), as conmon does."""
        tmp = self.path + ".tmp"
        os.fsync(self.fd)
        fd = os.open(tmp, os.O_WRONLY | os.O_APPEND | os.O_TRUNC | os.O_CREAT | os.O_CLOEXEC, 0o600)
        os.rename(tmp, self.path)
        os.close(self.fd)
        self.fd = fd
        self.size = 0

    def reopen(self) -> None:
        os.close(self.fd)
        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self.size = os.fstat(self.fd).st_size

    def close(self) -> None:
        if self.fd >= 0:
            try:
                os.fsync(self.fd)
            except OSError:
                pass
            os.close(self.fd)
            self.fd = -1
