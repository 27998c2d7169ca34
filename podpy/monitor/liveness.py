"""Is a recorded process (the monitor, the container) still the one we started?

A pid alone can be reused after ``kill -9``; the pair (pid, start time in clock ticks from
``/proc/PID/stat`` field 22) cannot. The engine stores both and checks them on every command.
"""

from __future__ import annotations

import os


def proc_start_time(pid: int) -> int | None:
    """Start time of ``pid`` in clock ticks since boot; None when there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # the comm field may contain spaces and parentheses: split after the last ')'
    rest = data[data.rindex(b")") + 2 :].split()
    if rest[0] in (b"Z", b"X"):  # zombie/dead: no longer running
        return None
    return int(rest[19])


def is_alive(pid: int, start_time: int | None = None) -> bool:
    """True while ``pid`` runs and (when given) still has the recorded start time."""
    if pid <= 0:
        return False
    st = proc_start_time(pid)
    if st is None:
        return False
    return start_time is None or start_time == 0 or st == start_time


def read_pid_file(path: str) -> int | None:
    try:
        with open(path) as f:
            text = f.read().strip()
    except FileNotFoundError:
        return None
    return int(text) if text.isdigit() else None


def wait_exit(
    exit_file: str, monitor_pid: int, monitor_start: int | None = None, timeout: float | None = None
) -> dict[str, int | None] | None:
    """Block until the exit file exists (``podpy wait``); its content, or None when the monitor died
    without writing one (``kill -9``) or ``timeout`` passed. Waits on a pidfd where there is one."""
    import time

    from podpy.monitor import exitfile

    deadline = None if timeout is None else time.monotonic() + timeout
    pidfd = -1
    try:
        pidfd = os.pidfd_open(monitor_pid) if monitor_pid > 0 and is_alive(monitor_pid, monitor_start) else -1
    except OSError:
        pidfd = -1
    try:
        while True:
            ex = exitfile.read_exit_file(exit_file)
            if ex is not None:
                return ex
            if not is_alive(monitor_pid, monitor_start):
                return exitfile.read_exit_file(exit_file)  # written just before it exited?
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return None
            step = 0.05 if left is None else min(0.05, left)
            if pidfd >= 0:
                import select

                select.select([pidfd], [], [], step)
            else:
                time.sleep(step)
    finally:
        if pidfd >= 0:
            os.close(pidfd)
