"""The network helper process (slirp4netns or pasta, and podpy's port forwarder): finding it,
starting it detached, stopping it.

The helper must outlive ``podpy run -d``, so it is started in its own session; our child only until
this process exits (a foreground ``run`` reaps it in ``stop``, or in passing while it waits for the container).
It is stopped by pid, but only after ``/proc/PID/cmdline`` shows it still serves our namespace
path, so a recycled pid is never signalled.
"""

from __future__ import annotations

import _signal as signal  # the builtin behind ``signal``, without its enums (``run``'s start-up)
import contextlib
import os
import time

from podpy.util.errors import PodpyError

PACKAGES = {"slirp4netns": "slirp4netns", "pasta": "passt"}  # Debian package of each helper
TUN = "/dev/net/tun"


def find(name: str) -> str:
    """The helper's path on $PATH, or an error naming the Debian package that has it."""
    import shutil  # bz2, lzma, zlib: not on ``run``'s path, whose helpers are looked up when started

    path = shutil.which(name)
    if path is None:
        raise not_found(name)
    return path


def not_found(name: str) -> PodpyError:
    return PodpyError(
        f'could not find {name}, the network namespace can\'t be configured: exec: "{name}": '
        f"executable file not found in $PATH: install the {PACKAGES[name]} package "
        f"(apt-get install {PACKAGES[name]})"
    )


def check_tun() -> None:
    """slirp4netns and pasta open /dev/net/tun inside the namespace: say how to fix it when they cannot."""
    if not os.access(TUN, os.R_OK | os.W_OK):
        why = "does not exist" if not os.path.exists(TUN) else "permission denied"
        raise PodpyError(
            f"open({TUN}): {why}: rootless networking needs it readable and writable by every user; "
            f"as root run `modprobe tun; chmod 0666 {TUN}`, or use --network none"
        )


def spawn(argv: list[str], *, log_path: str, pass_fds: tuple[int, ...] = ()) -> int:
    """Start ``argv`` in a new session with cwd ``/``, stdin /dev/null and stdout/stderr to ``log_path``,
    keeping ``pass_fds``; its pid. ``posix_spawn`` (vfork+exec), not fork: forking this big Python
    process cost ~3 ms. It is our child until we exit (``stop`` reaps it); then init's or a subreaper's.
    A bare helper name (``argv[0]``) is looked up on $PATH, and ``not_found`` says which package has it."""
    out = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND | os.O_CLOEXEC, 0o600)
    cwd = os.open(".", os.O_RDONLY | os.O_CLOEXEC) if os.path.exists(".") else -1
    try:
        for fd in pass_fds:
            os.set_inheritable(fd, True)
        os.chdir("/")  # no directory of the caller's stays busy while the helper lives
        actions = [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                   (os.POSIX_SPAWN_DUP2, out, 1), (os.POSIX_SPAWN_DUP2, out, 2)]  # fmt: skip
        # default dispositions and no blocked signal, whatever the caller had: ``stop``'s SIGTERM must end it
        return os.posix_spawnp(argv[0], argv, os.environ, file_actions=actions, setsid=True, setsigmask=(),
                               setsigdef=(signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGQUIT, signal.SIGTERM))  # fmt: skip
    except FileNotFoundError as e:
        if "/" not in argv[0] and argv[0] in PACKAGES:
            raise not_found(argv[0]) from None
        raise PodpyError(f"could not start {os.path.basename(argv[0])}: {e.strerror or e}") from None
    except OSError as e:
        raise PodpyError(f"could not start {os.path.basename(argv[0])}: {e.strerror or e}") from None
    finally:
        if cwd >= 0:
            with contextlib.suppress(OSError):
                os.fchdir(cwd)
            os.close(cwd)
        os.close(out)
        for fd in pass_fds:
            with contextlib.suppress(OSError):
                os.set_inheritable(fd, False)


def read_ready(r: int, timeout: float, limit: int = 1) -> tuple[bool, bytes]:
    """Wait up to ``timeout`` for a helper's readiness message on ``r`` (closed here): whether
    anything came, and what (b"" when the helper closed its end without a word)."""
    import select

    try:
        ready, _, _ = select.select([r], [], [], timeout)
        return bool(ready), os.read(r, limit) if ready else b""
    finally:
        os.close(r)


def serves(pid: int, marker: str) -> bool:
    """Is ``pid`` alive and running with ``marker`` (our netns path) on its command line?"""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read()
    except OSError:
        return False
    return marker.encode() in cmdline.split(b"\0")


def _serves_once_execed(pid: int, marker: str, limit: float = 0.1) -> bool:
    """``serves``, for a process started a moment ago: between the point where ``posix_spawn``
    returns and the kernel setting up the new program's arguments its command line reads empty."""
    deadline = time.monotonic() + limit
    while True:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read()
            if cmdline:
                return marker.encode() in cmdline.split(b"\0")
            with open(f"/proc/{pid}/stat", "rb") as f:
                zombie = f.read().rsplit(b")", 1)[-1].split()[0] == b"Z"
        except (OSError, IndexError):
            return False
        if zombie or time.monotonic() > deadline:
            return False
        time.sleep(0.0002)


def find_serving(marker: str) -> int:
    """The helper serving ``marker`` when its pid was never recorded (a start killed half-way); 0: none."""
    for entry in os.scandir("/proc"):  # our namespace's path on its command line is unique to it
        if entry.name.isdigit() and serves(int(entry.name), marker):
            return int(entry.name)
    return 0


def all_serving(marker: str) -> list[int]:
    """Every process serving ``marker`` (slirp4netns/pasta and podpy's port forwarder of one namespace)."""
    return [int(e.name) for e in os.scandir("/proc") if e.name.isdigit() and serves(int(e.name), marker)]


def stop(pid: int, marker: str, timeout: float = 2.0) -> None:
    """SIGTERM, then SIGKILL after ``timeout``; only while ``pid`` is still our helper. Done when it no
    longer serves (its command line is gone once its memory is released): the kernel's teardown of its
    tap device after that takes tens of milliseconds nobody needs to wait for. Signals go through a
    pidfd taken while it was our helper, so a recycled pid is never hit."""
    if pid <= 0:
        return
    try:
        pidfd = os.pidfd_open(pid)
    except OSError:
        return  # gone
    try:
        if not _serves_once_execed(pid, marker):  # checked once the pidfd holds the process: not a recycled pid
            return
        with contextlib.suppress(ProcessLookupError):
            signal.pidfd_send_signal(pidfd, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while serves(pid, marker):
            if time.monotonic() > deadline:
                with contextlib.suppress(ProcessLookupError):
                    signal.pidfd_send_signal(pidfd, signal.SIGKILL)
                break
            time.sleep(0.0005)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # our child (started by this process): reaped if it is done
    finally:
        os.close(pidfd)


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
