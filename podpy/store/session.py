"""The store-wide writer lock: writers share it, gc and leftover cleanup take it exclusively.

Why: a temp file or a freshly committed blob that no image record names yet belongs to a pull in
progress, and must not be removed by a concurrent ``gc()`` or by another process's cleanup of
leftovers. Writers (``Store.session()``, entered implicitly by every writing method) hold a shared
flock on ``locks/store.lock``; destructive maintenance needs the exclusive lock, which is only
granted when no writer is active. Sessions are counted per process so threads share one flock.
"""

from __future__ import annotations

import _thread  # a lock without importing threading (on every run's path)
import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

_mutex = _thread.allocate_lock()
_sessions: dict[str, list] = {}  # lock path -> [count, fd, pid]


def _after_fork_in_child() -> None:
    """A forked worker starts with no sessions of its own (the parent's may be mid-update)."""
    global _mutex
    _mutex = _thread.allocate_lock()
    _sessions.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)


def _key(path: Path) -> str:
    return str(path)


@contextlib.contextmanager
def shared(path: Path) -> Iterator[None]:
    """Hold the shared writer lock for the block (re-entrant within the process, thread-safe)."""
    key = _key(path)
    with _mutex:
        ent = _sessions.get(key)
        if ent is None:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_SH)
            except BaseException:
                os.close(fd)
                raise
            ent = [0, fd, os.getpid()]
            _sessions[key] = ent
        ent[0] += 1
    try:
        yield
    finally:
        with _mutex:
            ent[0] -= 1
            if ent[0] == 0:
                if _sessions.get(key) is ent:
                    del _sessions[key]
                fcntl.flock(ent[1], fcntl.LOCK_UN)
                os.close(ent[1])


def in_session(path: Path) -> bool:
    with _mutex:
        ent = _sessions.get(_key(path))
        return ent is not None and ent[2] == os.getpid() and ent[0] > 0


@contextlib.contextmanager
def exclusive(path: Path, wait: float = 0.0) -> Iterator[bool]:
    """Try to take the exclusive lock for up to ``wait`` seconds; yields whether it was granted.

    Never blocks forever and never deadlocks on this process's own shared session.
    """
    if in_session(path):
        yield False
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    got = False
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                got = True
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    break
                time.sleep(0.05)
        yield got
    finally:
        if got:
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
