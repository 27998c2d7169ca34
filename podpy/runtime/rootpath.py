"""Resolve paths *inside* a container rootfs: symlinks from the image never lead out of it.

An image is untrusted: its ``/etc/passwd``, its ``WORKDIR`` or a volume destination may be a
symlink to ``/etc/shadow`` or ``../../../../home``. Every lookup here interprets symlinks as the
container would see them, with the rootfs as ``/`` (like filepath-securejoin), and the final
open uses ``O_NOFOLLOW`` so a last-moment swap cannot redirect it either.
"""

from __future__ import annotations

import os
import stat

from podpy.util.errors import InvalidInput

MAX_SYMLINKS = 40


def secure_join(root: str, unsafe: str) -> str:
    """``root`` + ``unsafe`` with every symlink resolved inside ``root``; missing parts kept literally."""
    root = os.path.abspath(root)
    remaining = [c for c in unsafe.split("/") if c]
    resolved: list[str] = []
    links = 0
    while remaining:
        comp = remaining.pop(0)
        if comp == ".":
            continue
        if comp == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = os.path.join(root, *resolved, comp)
        try:
            st = os.lstat(candidate)
        except (FileNotFoundError, NotADirectoryError):
            resolved.append(comp)
            continue
        if not stat.S_ISLNK(st.st_mode):
            resolved.append(comp)
            continue
        links += 1
        if links > MAX_SYMLINKS:
            raise InvalidInput(
                f"too many levels of symbolic links resolving {unsafe!r} in the container rootfs"
            )
        target = os.readlink(candidate)
        if target.startswith("/"):
            resolved = []
        remaining = [c for c in target.split("/") if c] + remaining
    return os.path.join(root, *resolved) if resolved else root


def is_within(root: str, path: str) -> bool:
    root = os.path.abspath(root).rstrip("/") or "/"
    return root == "/" or path == root or path.startswith(root + "/")


def fd_path(fd: int) -> str:
    """The path the kernel reports for an open fd (used to verify where an fd really points)."""
    return os.readlink(f"/proc/self/fd/{fd}")


def open_in_root(root: str, unsafe: str, flags: int = os.O_RDONLY) -> int:
    """Open ``unsafe`` inside ``root`` without following any symlink out of it; checks the result."""
    path = secure_join(root, unsafe)
    fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        real = fd_path(fd)
        if not is_within(os.path.realpath(root), real):
            raise InvalidInput(f"{unsafe!r} resolves outside the container rootfs ({real})")
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_file_in_root(root: str, unsafe: str, max_size: int) -> bytes | None:
    """The content of a regular file inside the rootfs; None when missing.

    Refuses (InvalidInput) anything but a regular file (a FIFO would block us forever, a device
    could be anything) and files over ``max_size`` (a 1 GB /etc/passwd must not eat the memory).
    """
    try:
        fd = open_in_root(root, unsafe, os.O_RDONLY | os.O_NONBLOCK)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as e:
        if e.errno == 40:  # ELOOP: the final component is (still) a symlink
            raise InvalidInput(f"{unsafe} in the image is a symlink loop") from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InvalidInput(f"{unsafe} in the image is not a regular file; refusing to read it")
        if st.st_size > max_size:
            raise InvalidInput(f"{unsafe} in the image is too large ({st.st_size} bytes, limit {max_size})")
        chunks: list[bytes] = []
        total = 0
        while True:
            b = os.read(fd, 65536)
            if not b:
                break
            total += len(b)
            if total > max_size:
                raise InvalidInput(f"{unsafe} in the image is too large (limit {max_size} bytes)")
            chunks.append(b)
        return b"".join(chunks)
    finally:
        os.close(fd)


def mkdir_in_root(root: str, unsafe: str, mode: int = 0o755) -> str:
    """Create ``unsafe`` (and parents) inside ``root``; returns the resolved host path."""
    path = secure_join(root, unsafe)
    rel = os.path.relpath(path, root)
    cur = os.path.abspath(root)
    if rel == ".":
        return cur
    for comp in rel.split("/"):
        cur = os.path.join(cur, comp)
        try:
            os.mkdir(cur, mode)
        except FileExistsError:
            st = os.lstat(cur)
            if stat.S_ISLNK(st.st_mode):
                # Appeared after secure_join resolved it: start over rather than follow it.
                return mkdir_in_root(root, unsafe, mode)
            if not stat.S_ISDIR(st.st_mode):
                raise InvalidInput(f"{unsafe!r} in the container is not a directory") from None
    return path
