"""The network helper process (slirp4netns or pasta): finding it, starting it detached, stopping it.

The helper must outlive ``podpy run -d``, so it is started in its own session and is not our child
(double fork): nothing has to reap it, and a foreground ``run`` never waits for it by mistake.
It is stopped by pid, but only after ``/proc/PID/cmdline`` shows it still serves our namespace
path, so a recycled pid is never signalled.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time

from podpy.util.errors import PodpyError

PACKAGES = {"slirp4netns": "slirp4netns", "pasta": "passt"}  # Debian package of each helper
TUN = "/dev/net/tun"


def find(name: str) -> str:
    """The helper's path on $PATH, or an error naming the Debian package that has it."""
    path = shutil.which(name)
    if path is None:
        raise PodpyError(
            f'could not find {name}, the network namespace can\'t be configured: exec: "{name}": '
            f"executable file not found in $PATH: install the {PACKAGES[name]} package "
            f"(apt-get install {PACKAGES[name]})"
        )
    return path


def check_tun() -> None:
    """slirp4netns and pasta open /dev/net/tun inside the namespace: say how to fix it when they cannot."""
    if not os.access(TUN, os.R_OK | os.W_OK):
        why = "does not exist" if not os.path.exists(TUN) else "permission denied"
        raise PodpyError(
            f"open({TUN}): {why}: rootless networking needs it readable and writable by every user; "
            f"as root run `modprobe tun; chmod 0666 {TUN}`, or use --network none"
        )


def spawn(argv: list[str], *, log_path: str, pass_fds: tuple[int, ...] = ()) -> int:
    """Start ``argv`` detached (new session, not our child); stdout/stderr to ``log_path``. Returns its pid."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the intermediate child
        try:
            os.close(r)
            os.setsid()
            gpid = os.fork()
            if gpid:
                os.write(w, str(gpid).encode())
                os._exit(0)
            os.close(w)
            null = os.open(os.devnull, os.O_RDONLY)
            out = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
            os.dup2(null, 0)
            os.dup2(out, 1)
            os.dup2(out, 2)
            for fd in pass_fds:
                os.set_inheritable(fd, True)
            os.chdir("/")
            os.execv(argv[0], argv)
        finally:
            os._exit(127)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        data = f.read()
    os.waitpid(pid, 0)
    if not data:
        raise PodpyError(f"could not start {os.path.basename(argv[0])}")
    return int(data)


def serves(pid: int, marker: str) -> bool:
    """Is ``pid`` alive and running with ``marker`` (our netns path) on its command line?"""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read()
    except OSError:
        return False
    return marker.encode() in cmdline.split(b"\0")


def find_serving(marker: str) -> int:
    """The helper serving ``marker`` when its pid was never recorded (a start killed half-way); 0: none."""
    for entry in os.scandir("/proc"):  # our namespace's path on its command line is unique to it
        if entry.name.isdigit() and serves(int(entry.name), marker):
            return int(entry.name)
    return 0


def stop(pid: int, marker: str, timeout: float = 2.0) -> None:
    """SIGTERM, then SIGKILL after ``timeout``; only while ``pid`` is still our helper."""
    if pid <= 0 or not serves(pid, marker):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while serves(pid, marker):
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            break
        time.sleep(0.002)


def log_tail(path: str, limit: int = 2000) -> str:
    try:
        with open(path, "rb") as f:
            data = f.read()[-limit:]
    except OSError:
        return ""
    lines = [ln for ln in data.decode(errors="replace").splitlines() if ln.strip() and "syslog" not in ln and not ln.startswith("WARNING:")]
    usage = next((i for i, ln in enumerate(lines) if ln.startswith("Usage:")), None)
    if usage is not None:  # slirp4netns prints its usage after the error: keep the error
        lines = lines[:usage]
    return "; ".join(lines[-4:])
