"""The pause process: a sleeping process that keeps podpy's user + mount namespace alive.

Why: a namespace lives as long as a process is in it. Keeping one process asleep inside lets
every later podpy invocation join the *same* namespace (same ID mapping, same mounts, e.g. the
overlay rootfs of running containers) instead of building a fresh one each time, as Podman does.

On disk, under ``Paths.runroot``: ``pause.pid`` (the pid, nothing else, so ``kill $(cat …)``
works), ``pause.ns`` (the ``user:[…]`` and ``mnt:[…]`` links of that process, so a recycled pid
is never mistaken for ours) and ``pause.lock`` (serialises creation and stopping).
"""

from __future__ import annotations

import _signal as signal  # the builtin behind ``signal``, without its enums (every command joins)
import contextlib
import errno
import os
import time
from pathlib import Path

from podpy.util import syscalls
from podpy.util.fsutil import atomic_write
from podpy.util.lock import FileLock
from podpy.util.log import get_logger
from podpy.util.paths import Paths

TYPE_CHECKING = False  # not typing's: importing typing costs every command start-up time
if TYPE_CHECKING:
    from typing import NoReturn

log = get_logger(__name__)

PAUSE_NAME = "podpy pause"  # the comm of the pause process (prctl PR_SET_NAME, max 15 bytes)
PROC = "/proc"  # unit tests point this at a fake /proc tree


def pid_file(paths: Paths) -> Path:
    return paths.runroot / "pause.pid"


def ns_file(paths: Paths) -> Path:
    return paths.runroot / "pause.ns"


def lock_file(paths: Paths) -> Path:
    return paths.runroot / "pause.lock"


def pause_lock(paths: Paths) -> FileLock:
    ensure_runroot(paths)
    return FileLock(lock_file(paths))


def ensure_runroot(paths: Paths) -> None:
    """Create the runroot private (0700): it holds the pid of a process others could signal."""
    rr = paths.runroot
    if not rr.is_dir():
        rr.mkdir(mode=0o700, parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            os.chmod(rr, 0o700)


def ns_links(pid: int | str) -> tuple[str, str] | None:
    """``("user:[N]", "mnt:[M]")`` of a process, or None when it is gone or not ours to look at."""
    try:
        return os.readlink(f"{PROC}/{pid}/ns/user"), os.readlink(f"{PROC}/{pid}/ns/mnt")
    except OSError:
        return None


def read_pid(paths: Paths) -> int | None:
    try:
        text = pid_file(paths).read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() and int(text) > 0 else None


def _proc_state(pid: int) -> str | None:
    try:
        stat = Path(f"{PROC}/{pid}/stat").read_text()
    except OSError:
        return None
    # "PID (comm) S ...": comm may contain spaces and parentheses, so split at the last ')'
    rest = stat[stat.rfind(")") + 1 :].split()
    return rest[0] if rest else None


def _proc_uid(pid: int) -> int | None:
    try:
        for line in Path(f"{PROC}/{pid}/status").read_text().splitlines():
            if line.startswith("Uid:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def is_pause_process(pid: int, paths: Paths) -> bool:
    """Whether ``pid`` is alive and is the pause process recorded for ``paths`` (not a recycled pid)."""
    state = _proc_state(pid)
    if state is None or state in ("Z", "X", "x"):
        return False
    try:
        comm = Path(f"{PROC}/{pid}/comm").read_text().rstrip("\n")
    except OSError:
        return False
    if comm != PAUSE_NAME:
        log.debug("pid %d is %r, not the pause process: the pid was reused", pid, comm)
        return False
    if _proc_uid(pid) != os.getuid():
        log.debug("pid %d belongs to another user", pid)
        return False
    links = ns_links(pid)
    if links is None:
        return False
    try:
        recorded = tuple(ns_file(paths).read_text().split())
    except OSError:
        recorded = ()
    if recorded and recorded != links:
        log.debug(
            "pid %d is a pause process, but not of %s (namespaces %s, recorded %s)",
            pid,
            paths.runroot,
            links,
            recorded,
        )
        return False
    return True


def live_pause_pid(paths: Paths) -> int | None:
    """The pid of this runroot's pause process, when one is running."""
    pid = read_pid(paths)
    return pid if pid is not None and is_pause_process(pid, paths) else None


def record(paths: Paths, pid: int) -> None:
    """Publish a new pause process: namespace record first, then the pid (both atomic)."""
    links = ns_links(pid)
    if links is None:
        raise OSError(errno.ESRCH, f"pause process {pid} vanished before it was recorded")
    atomic_write(ns_file(paths), "\n".join(links) + "\n", mode=0o600, fsync=False)
    atomic_write(pid_file(paths), f"{pid}\n", mode=0o600, fsync=False)


def forget(paths: Paths) -> None:
    for f in (pid_file(paths), ns_file(paths)):
        with contextlib.suppress(FileNotFoundError):
            f.unlink()


def run_pause(ready_fd: int | None = None, confirm_fd: int | None = None) -> NoReturn:
    """Become the pause process: detached, deaf to everything but SIGTERM/SIGKILL, asleep forever.

    Runs in a freshly forked child; never returns and never runs Python cleanup code of the parent.
    Writes one byte to ``ready_fd`` once it carries its name: only then may its pid be published,
    or a concurrent podpy would take it for a recycled pid and start a second one. Then waits for
    ``ok`` on ``confirm_fd``, which the creator sends once the pid is recorded; if the creator dies
    first, nobody could find this process, so it exits instead of leaking.
    """
    try:
        with contextlib.suppress(OSError):
            syscalls.get().set_name(PAUSE_NAME)
        os.setsid()
        if ready_fd is not None:
            os.write(ready_fd, b"R")
        if confirm_fd is not None and os.read(confirm_fd, 2) != b"ok":
            os._exit(0)
        os.chdir("/")
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        try:
            syscalls.get().close_range(3)
        except OSError:
            os.closerange(3, 65536)
        for sig in signal.valid_signals():
            if sig in (signal.SIGKILL, signal.SIGSTOP, signal.SIGTERM):
                continue
            with contextlib.suppress(OSError, ValueError, RuntimeError):
                signal.signal(sig, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        while True:
            signal.pause()
    finally:
        os._exit(0)


def _gone(pid: int) -> bool:
    state = _proc_state(pid)
    return state is None or state in ("Z", "X", "x")


def stop_pause_process(paths: Paths, timeout: float = 5.0) -> bool:
    """Stop this runroot's pause process (SIGTERM, then SIGKILL) and forget it; True if one ran.

    The namespace itself ends when its last process leaves; the next invocation creates a new one,
    which is how ``podpy system migrate`` picks up changed /etc/subuid ranges.
    """
    with pause_lock(paths):
        pid = live_pause_pid(paths)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while not _gone(pid):
                if time.monotonic() > deadline:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                    break
                time.sleep(0.01)
            log.debug("stopped pause process %d", pid)
        forget(paths)
        return pid is not None
