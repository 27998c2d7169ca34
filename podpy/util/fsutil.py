"""Crash-safe file writes: a reader sees the old file or the new one, never half of either."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

TYPE_CHECKING = False  # not typing's: importing typing costs every command start-up time
if TYPE_CHECKING:
    from typing import IO


def fsync_dir(path: str | os.PathLike[str]) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(
    path: str | os.PathLike[str], data: bytes | str, mode: int = 0o644, fsync: bool = True
) -> None:
    """Write via temp file + fsync + rename in the same directory."""
    if isinstance(data, str):
        data = data.encode()
    with atomic_open(path, mode=mode, fsync=fsync) as f:
        f.write(data)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: int = 0o644, fsync: bool = True) -> Iterator[IO[bytes]]:
    """Yield a binary file that replaces ``path`` only if the block completes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = str(path.parent / f".{path.name}.{os.urandom(6).hex()}.tmp")  # as mkstemp: O_EXCL, mode 0600
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            if fsync:
                os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
        if fsync:
            fsync_dir(path.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
