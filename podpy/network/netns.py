"""A container's network namespace, kept by a bind mount of its nsfs file (as rootless Podman does).

Called inside podpy's user + mount namespace: a forked child unshares a new network namespace (owned
by podpy's user namespace, so slirp4netns/pasta and the runtime may join it), brings ``lo`` up and
bind-mounts ``/proc/self/ns/net`` onto an empty file. The mount lives in podpy's mount namespace, so
every later podpy (which joins that namespace) sees it; ``remove`` unmounts and deletes it.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Callable

from podpy.util import syscalls
from podpy.util.errors import PodpyError


def _loopback_up() -> None:
    import _socket  # not ``socket``: its enums cost ``run`` start-up time
    import fcntl
    import struct

    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    sk = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)
    try:
        req = fcntl.ioctl(sk.fileno(), siocgifflags, struct.pack("16sH22x", b"lo", 0))
        flags = struct.unpack("16sH22x", req)[1]
        fcntl.ioctl(sk.fileno(), siocsifflags, struct.pack("16sH22x", b"lo", flags | iff_up))
    finally:
        sk.close()


def is_mounted(path: str) -> bool:
    """True when ``path`` holds a network namespace (an nsfs bind mount), seen from this mount namespace."""
    try:
        return os.stat(path).st_dev != os.stat(os.path.dirname(path)).st_dev
    except OSError:
        return False


def create(path: str) -> None:
    """Make a new network namespace and pin it at ``path`` (which must not hold one yet)."""
    create_in_background(path)()


def create_in_background(path: str) -> Callable[[], None]:
    """Start making the namespace at ``path`` in a short-lived thread; the function returned waits
    for it and raises its error (the path is then gone).

    A thread, not a fork: unsharing a network namespace changes only the calling thread's, which
    ends with the thread (the bind mount keeps the namespace). The kernel takes milliseconds to make
    one, with the GIL released, so ``run`` goes on meanwhile. ``_thread``, not ``threading``: built
    in, nothing to import.
    """
    import _thread

    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600)
    os.close(fd)
    done = _thread.allocate_lock()
    done.acquire()
    errors: list[BaseException] = []

    def make() -> None:
        try:
            sc = syscalls.get()
            sc.unshare(syscalls.CLONE_NEWNET)
            _loopback_up()
            sc.mount("/proc/thread-self/ns/net", path, None, syscalls.MS_BIND)
        except BaseException as e:  # noqa: BLE001 - raised by ``wait``
            errors.append(e)
        finally:
            done.release()

    _thread.start_new_thread(make, ())

    def wait() -> None:
        with done:
            pass
        if errors:
            with contextlib.suppress(OSError):
                os.unlink(path)
            e = errors[0]
            raise PodpyError(f"creating the network namespace {path}: {getattr(e, 'strerror', None) or e}")

    return wait


def remove(path: str) -> None:
    """Unmount and delete ``path``; nothing to do when it is gone already."""
    with contextlib.suppress(OSError):
        syscalls.get().umount2(path, syscalls.MNT_DETACH)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as e:
        if e.errno != errno.EBUSY:
            raise
        raise PodpyError(f"removing the network namespace {path}: still mounted") from None


def in_netns(path: str, fn: Callable[[], None]) -> None:
    """Run ``fn`` in a forked child that joined the network namespace at ``path`` ("": stays in this one);
    its error is raised here."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        msg = b""
        try:
            os.close(r)
            if path:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
                syscalls.get().setns(fd, syscalls.CLONE_NEWNET)
                os.close(fd)
            fn()
        except BaseException as e:  # noqa: BLE001 - reported to the parent
            msg = (str(e) or type(e).__name__).encode(errors="replace")[:4000]
        finally:
            with contextlib.suppress(OSError):
                os.write(w, msg)
            os._exit(1 if msg else 0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        msg = f.read()
    _, status = os.waitpid(pid, 0)
    if msg or status != 0:
        raise PodpyError(msg.decode(errors="replace") or f"network setup failed (status {status})")
