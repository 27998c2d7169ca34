"""Reading k8s-file logs back: ``podpy logs`` (whole messages, ``-f`` following across rotation)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator


def parse_line(line: bytes) -> tuple[str, str, bool, bytes]:
    """``(timestamp, stream, partial, text)`` of one log line (text without the trailing newline)."""
    if line.endswith(b"\n"):
        line = line[:-1]
    parts = line.split(b" ", 3)
    if len(parts) < 3:
        raise ValueError(f"not a k8s-file log line: {line[:80]!r}")
    text = parts[3] if len(parts) == 4 else b""
    return parts[0].decode(), parts[1].decode(), parts[2] == b"P", text


def read_messages(path: str) -> list[tuple[str, str, bytes]]:
    """Whole messages ``(timestamp of the first piece, stream, text with newline if it had one)``."""
    out: list[tuple[str, str, bytes]] = []
    pending: dict[str, tuple[str, bytes]] = {}
    with open(path, "rb") as f:
        for line in f:
            ts, stream, partial, text = parse_line(line)
            first_ts, acc = pending.pop(stream, (ts, b""))
            if partial:
                pending[stream] = (first_ts, acc + text)
            else:
                out.append((first_ts, stream, acc + text + b"\n"))
    for stream, (ts, acc) in pending.items():
        out.append((ts, stream, acc))
    return out


def follow(path: str, done: Callable[[], bool], poll: float = 0.1) -> Iterator[bytes]:
    """Yield log lines as they are written (``podpy logs -f``) until ``done()`` and the file is drained.

    Survives rotation: when the path names a new file (another inode), the rest of the old one is
    read and reading continues at the start of the new one.
    """
    f = None
    ino = None
    buf = b""
    try:
        while True:
            if f is None:
                try:
                    f = open(path, "rb")  # noqa: SIM115 - kept open across iterations
                    ino = os.fstat(f.fileno()).st_ino
                except FileNotFoundError:
                    f = None
            finished = done()  # checked before reading: what was written before is still read
            if f is not None:
                while chunk := f.read(65536):
                    buf += chunk
                    *lines, buf = buf.split(b"\n")
                    for ln in lines:
                        yield ln + b"\n"
                try:
                    if os.stat(path).st_ino != ino:
                        f.close()
                        f, buf = None, b""
                        continue
                except FileNotFoundError:
                    pass
            if finished:
                return
            time.sleep(poll)
    finally:
        if f is not None:
            f.close()
