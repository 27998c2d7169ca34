"""Safe, streaming extraction of one layer tarball into overlay form.

Why a custom loop instead of ``tarfile.extractall``: every path is resolved fd-relative inside the
layer dir with ``O_NOFOLLOW`` (a symlink planted by the image is never followed on the host side),
whiteouts become overlay whiteouts (0/0 char devices, ``overlay.opaque`` xattrs), and data is copied
straight from the decompressor's buffers into the files. tarfile's header parser (``TarInfo.
fromtarfile``) is reused for the fiddly header formats (ustar, GNU long names, PAX, base-256).

The uncompressed stream is hashed while it is read (the diff ID) and its size capped, so a
decompression bomb stops at the cap and a wrong diff ID is detected before the layer becomes visible.
Callers extract into a temp dir and rename it into place (see ``layers.py``).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import stat
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from podpy.spec.mediatypes import LAYER_COMPRESSION
from podpy.util.errors import InvalidInput, StoreError

log = logging.getLogger(__name__)

READ_CHUNK = 1024 * 1024  # compressed bytes read per step
OUT_CHUNK = 1024 * 1024  # max decompressed bytes produced per step (bounds memory on bombs)
ZSTD_IN_CHUNK = 2 * 1024  # zstd has no max_length: small inputs bound each output burst (<= 64 MiB)
ZSTD_MAX_WINDOW = 1 << 27  # 128 MiB, as containers/image accepts

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
MAX_HEADER = 8 * 1024 * 1024  # PAX / GNU long-name headers read into memory
MAX_HELD_DEPTH = 64  # parent dirs kept open between members
OVERLAY_XATTR_PREFIXES = ("user.overlay.", "trusted.overlay.")

_XATTR_SKIP_ERRNOS = {errno.EPERM, errno.EACCES, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EINVAL}


def in_initial_userns() -> bool:
    """True when this process is in the host's user namespace (not inside podpy's)."""
    try:
        with open("/proc/self/uid_map") as f:
            return f.read().split() == ["0", "0", "4294967295"]
    except OSError:
        return False


def opaque_xattr_names() -> tuple[str, ...]:
    """``user.overlay.opaque`` always (rootless overlay, ``userxattr``); ``trusted.`` too as real root."""
    if os.geteuid() == 0 and in_initial_userns():
        return ("user.overlay.opaque", "trusted.overlay.opaque")
    return ("user.overlay.opaque",)


def sniff(head: bytes) -> str:
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    return "none"


def choose_compression(media_type: str, head: bytes, label: str) -> str:
    """The decompressor for a layer: the media type must be a known layer type; magic bytes decide."""
    actual = sniff(head)
    if not media_type:
        return actual
    expected = LAYER_COMPRESSION.get(media_type)
    if expected is None:
        raise InvalidInput(f"layer {label}: unknown layer media type {media_type!r}")
    if expected in ("gzip", "zstd") and actual != expected:
        raise InvalidInput(f"layer {label}: not {expected} data although the media type says {media_type}")
    return actual


# --------------------------------------------------------------------------------------------
# Decompression: an iterator of uncompressed chunks, hashed and size-capped on the way
# --------------------------------------------------------------------------------------------


def _drain_padding(f: BinaryIO, rest: bytes, label: str, kind: str) -> None:
    """After the last compressed frame only zero padding may follow."""
    while True:
        if rest.strip(b"\0"):
            raise InvalidInput(f"layer {label}: garbage after the end of the {kind} stream")
        rest = f.read(READ_CHUNK)
        if not rest:
            return


def _gzip_chunks(f: BinaryIO, label: str) -> Iterator[bytes]:
    import zlib

    try:
        from isal import isal_zlib as zmod  # type: ignore[import-not-found]
    except ImportError:  # pragma: no cover - isal is a dependency; zlib is the fallback
        zmod = zlib  # type: ignore[no-redef]
    errors = (zmod.error, zlib.error)
    d = zmod.decompressobj(31)
    data = b""
    try:
        while True:
            if not data:
                data = f.read(READ_CHUNK)
                if not data:
                    break
            if d.eof:  # the next member of a concatenated stream, or padding
                if data[0] == 0:
                    _drain_padding(f, data, label, "gzip")
                    return
                d = zmod.decompressobj(31)
            out = d.decompress(data, OUT_CHUNK)
            data = d.unused_data if d.eof else d.unconsumed_tail
            if out:
                yield out
            while len(out) == OUT_CHUNK and not data and not d.eof:  # output still pending inside
                out = d.decompress(b"", OUT_CHUNK)
                data = d.unused_data if d.eof else d.unconsumed_tail
                if out:
                    yield out
        if not d.eof:
            raise InvalidInput(f"layer {label}: truncated gzip stream (unexpected end of data)")
    except errors as e:
        raise InvalidInput(f"layer {label}: invalid gzip data: {e}") from None


def _zstd_chunks(f: BinaryIO, label: str) -> Iterator[bytes]:
    import zstandard  # type: ignore[import-not-found]

    dctx = zstandard.ZstdDecompressor(max_window_size=ZSTD_MAX_WINDOW)
    d = dctx.decompressobj()
    parts: list[bytes] = []
    acc = 0
    try:
        while True:
            data = f.read(READ_CHUNK)
            if not data:
                break
            mv = memoryview(data)
            pos = 0
            while pos < len(mv):
                if d.eof:  # the next frame, or padding
                    if mv[pos] == 0:
                        if parts:
                            yield b"".join(parts)
                        _drain_padding(f, bytes(mv[pos:]), label, "zstd")
                        return
                    d = dctx.decompressobj()
                piece = mv[pos : pos + ZSTD_IN_CHUNK]
                out = d.decompress(piece)
                pos += len(piece) - (len(d.unused_data) if d.eof else 0)
                if out:
                    parts.append(out)
                    acc += len(out)
                    if acc >= OUT_CHUNK:
                        yield b"".join(parts) if len(parts) > 1 else parts[0]
                        parts, acc = [], 0
        if parts:
            yield b"".join(parts)
        if not d.eof:
            raise InvalidInput(f"layer {label}: truncated zstd stream (unexpected end of data)")
    except zstandard.ZstdError as e:
        raise InvalidInput(f"layer {label}: invalid zstd data: {e}") from None


def _plain_chunks(f: BinaryIO) -> Iterator[bytes]:
    while data := f.read(READ_CHUNK):
        yield data


class _Counter:
    """Hash and size of the uncompressed stream, updated by the prefetch thread."""

    def __init__(self, label: str, max_size: int) -> None:
        self.hasher = hashlib.sha256()
        self.size = 0
        self.label = label
        self.max_size = max_size

    def add(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.max_size:
            raise InvalidInput(
                f"layer {self.label}: unpacks to more than {self.max_size} bytes (decompression bomb?); refused"
            )
        self.hasher.update(chunk)


_END = object()


def prefetch(chunks: Iterator[bytes], counter: _Counter, depth: int = 8) -> Iterator[bytes]:
    """Decompress and hash in a helper thread while the caller writes files.

    zlib/isal/zstd and sha256 release the GIL on large buffers, so this overlaps decompression with
    the extraction's syscalls. Errors (bad data, the size cap) are re-raised in the caller; closing
    the generator stops the thread.
    """
    import queue
    import threading

    q: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run() -> None:
        try:
            for chunk in chunks:
                if not chunk:
                    continue
                counter.add(chunk)
                if not put(chunk):
                    return
            put(_END)
        except BaseException as e:  # handed to the consumer
            put(e)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()

    t = threading.Thread(target=run, name="podpy-layer-decompress", daemon=True)
    t.start()
    try:
        while True:
            item = q.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        t.join()


class Stream:
    """Uncompressed layer bytes with ``read``/``tell`` for tarfile's header parser, plus fast copy."""

    def __init__(self, chunks: Iterator[bytes], label: str) -> None:
        self._chunks = chunks
        self._buf = memoryview(b"")
        self._pos = 0  # bytes consumed by our reader
        self.label = label

    def _more(self) -> bool:
        for chunk in self._chunks:
            self._buf = memoryview(chunk)
            return True
        return False

    def tell(self) -> int:
        return self._pos

    def read(self, n: int) -> bytes:
        """Header bytes (ustar, PAX, GNU long names): capped so a huge declared header is no bomb."""
        if n > MAX_HEADER:
            raise InvalidInput(
                f"layer {self.label}: tar header of {n} bytes is over the {MAX_HEADER}-byte limit"
            )
        if len(self._buf) >= n:
            out = bytes(self._buf[:n])
            self._buf = self._buf[n:]
            self._pos += n
            return out
        parts = [bytes(self._buf)]
        got = len(self._buf)
        self._buf = memoryview(b"")
        while got < n and self._more():
            take = min(n - got, len(self._buf))
            parts.append(bytes(self._buf[:take]))
            self._buf = self._buf[take:]
            got += take
        self._pos += got
        return b"".join(parts)

    def copy_to(self, fd: int, n: int) -> None:
        """Write the next ``n`` bytes to ``fd``; a short stream is a truncated layer."""
        while n > 0:
            if not self._buf and not self._more():
                raise InvalidInput(f"layer {self.label}: truncated tar stream (file data cut short)")
            view = self._buf[:n] if len(self._buf) > n else self._buf
            done = 0
            while done < len(view):
                done += os.write(fd, view[done:])
            self._buf = self._buf[len(view) :]
            self._pos += len(view)
            n -= len(view)

    def skip(self, n: int) -> None:
        while n > 0:
            if not self._buf and not self._more():
                raise InvalidInput(f"layer {self.label}: truncated tar stream")
            take = min(n, len(self._buf))
            self._buf = self._buf[take:]
            self._pos += take
            n -= take

    def drain(self) -> None:
        """Consume (hash and count) everything after the end-of-archive marker."""
        self._pos += len(self._buf)
        self._buf = memoryview(b"")
        while self._more():
            self._pos += len(self._buf)
            self._buf = memoryview(b"")


class _HeaderSource:
    """The attributes of a TarFile that ``TarInfo.fromtarfile`` uses."""

    def __init__(self, stream: Stream) -> None:
        self.fileobj = stream
        self.encoding = "utf-8"
        self.errors = "surrogateescape"
        self.pax_headers: dict[str, str] = {}
        self.offset = 0


# --------------------------------------------------------------------------------------------
# Extraction
# --------------------------------------------------------------------------------------------


@dataclass
class LayerSummary:
    """The paths of a layer that decide how it stacks on lower layers (kept in ``layer.json``).

    ``implied`` dirs were created only because a member lies below them (no dir entry of their
    own): if a lower layer has a symlink there, the flattened image would write *through* it while
    overlay would hide it, so ``check_layer_stack`` refuses such an image.
    """

    dirs: set[str] = field(default_factory=set)
    implied: set[str] = field(default_factory=set)
    symlinks: set[str] = field(default_factory=set)
    whiteouts: set[str] = field(default_factory=set)
    opaque: set[str] = field(default_factory=set)

    def to_json(self) -> dict[str, list[str]]:
        return {k: sorted(getattr(self, k)) for k in ("dirs", "implied", "symlinks", "whiteouts", "opaque")}

    @classmethod
    def from_json(cls, d: dict) -> LayerSummary:
        return cls(*(set(d.get(k, ())) for k in ("dirs", "implied", "symlinks", "whiteouts", "opaque")))


def _split(name: str, label: str, what: str = "member") -> list[str]:
    """Path components inside the layer; ``.`` dropped, ``..`` and absolute paths refused."""
    if "\0" in name:
        raise InvalidInput(f"layer {label}: {what} name {name!r} contains a NUL byte")
    if name.startswith("/"):
        raise InvalidInput(f"layer {label}: {what} {name!r} is an absolute path; refused")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise InvalidInput(f"layer {label}: {what} {name!r} contains '..'; refused")
    return parts


class Extractor:
    """Extract tar members under ``root_fd`` without ever following a symlink from the layer."""

    def __init__(self, root: Path, label: str) -> None:
        self.label = label
        self.root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self.stack: list[tuple[str, int]] = []  # open fds of the current member's parent chain
        self.dirs: list[tuple[tuple[str, ...], int, float]] = []  # (path, mode, mtime) fixed up at the end
        self.root_meta: tuple[int, float] | None = None
        self.euid = os.geteuid()
        self.egid = os.getegid()
        self.opaque_names = opaque_xattr_names()
        self.real_root = os.geteuid() == 0 and in_initial_userns()
        self.skipped_devices = 0
        self._deep_fd: int | None = None
        # What later layers are checked against (see ``LayerSummary``): paths joined with "/".
        self.summary = LayerSummary()

    def close(self) -> None:
        for _, fd in self.stack:
            os.close(fd)
        self.stack = []
        if self._deep_fd is not None:
            os.close(self._deep_fd)
            self._deep_fd = None
        os.close(self.root_fd)

    # -- fd-relative path walking ---------------------------------------------------------------
    def _open_dir(self, parent_fd: int, comp: str, path: str, create: bool, dirpath: str = "") -> int:
        """Open (or create) dir ``comp``, never through a symlink; ``dirpath`` is its path in the layer."""
        flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            return os.open(comp, flags, dir_fd=parent_fd)
        except FileNotFoundError:
            if not create:
                raise
            os.mkdir(comp, 0o755, dir_fd=parent_fd)
            if dirpath:
                self.summary.dirs.add(dirpath)
                self.summary.implied.add(dirpath)
            return os.open(comp, flags, dir_fd=parent_fd)
        except OSError as e:
            if e.errno in (errno.ELOOP, errno.ENOTDIR):
                try:
                    st = os.stat(comp, dir_fd=parent_fd, follow_symlinks=False)
                    kind = "symlink" if stat.S_ISLNK(st.st_mode) else "non-directory"
                except OSError:
                    kind = "non-directory"
                raise InvalidInput(
                    f"layer {self.label}: member {path!r} would be written through the {kind} {dirpath or comp!r}"
                    " planted in the layer; refused"
                ) from None
            raise

    def parent_fd(self, parents: list[str], path: str) -> int:
        """The fd of the dir ``parents`` (created as needed), reusing the open chain of the last member."""
        if self._deep_fd is not None:
            os.close(self._deep_fd)
            self._deep_fd = None
        if len(parents) > MAX_HELD_DEPTH:  # don't hold thousands of fds for absurdly deep trees
            for _, fd in self.stack:
                os.close(fd)
            self.stack = []
            self._deep_fd = self.walk(parents, path, create=True)
            return self._deep_fd
        k = 0
        while k < len(self.stack) and k < len(parents) and self.stack[k][0] == parents[k]:
            k += 1
        for _, fd in self.stack[k:]:
            os.close(fd)
        del self.stack[k:]
        for i in range(k, len(parents)):
            top = self.stack[-1][1] if self.stack else self.root_fd
            dirpath = "/".join(parents[: i + 1])
            self.stack.append((parents[i], self._open_dir(top, parents[i], path, True, dirpath)))
        return self.stack[-1][1] if self.stack else self.root_fd

    def walk(self, parts: list[str], path: str, create: bool = False) -> int:
        """Open the dir ``parts`` fd-relative with O_NOFOLLOW (caller closes)."""
        fd = os.dup(self.root_fd)
        try:
            for i, comp in enumerate(parts):
                nfd = self._open_dir(fd, comp, path, create, "/".join(parts[: i + 1]))
                os.close(fd)
                fd = nfd
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _remove_existing(self, parent_fd: int, name: str, keep_dir: bool = False) -> bool:
        """Remove ``name`` if present; returns True when it is a dir that was kept."""
        try:
            st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        if stat.S_ISDIR(st.st_mode):
            if keep_dir:
                return True
            import shutil

            shutil.rmtree(name, dir_fd=parent_fd)
        else:
            os.unlink(name, dir_fd=parent_fd)
        return False

    # -- metadata --------------------------------------------------------------------------------
    def _chown(
        self, uid: int, gid: int, fd: int | None = None, name: str | None = None, dir_fd: int | None = None
    ):
        if uid == self.euid and gid == self.egid:
            return
        try:
            if fd is not None:
                os.fchown(fd, uid, gid)
            else:
                os.chown(name, uid, gid, dir_fd=dir_fd, follow_symlinks=False)  # type: ignore[arg-type]
        except OverflowError:
            raise InvalidInput(f"layer {self.label}: owner {uid}:{gid} out of range") from None
        except OSError as e:
            if e.errno in (errno.EPERM, errno.EINVAL):
                from podpy.rootless.userns import subid_hint

                raise StoreError(
                    f"layer {self.label}: cannot give a file owner {uid}:{gid}: that ID is not mapped in podpy's"
                    f" user namespace (too few ranges in /etc/subuid and /etc/subgid); {subid_hint()}"
                ) from None
            raise

    def _xattrs(self, member: tarfile.TarInfo, fd: int | None, name: str, dir_fd: int, symlink: bool) -> None:
        for key, value in member.pax_headers.items():
            if key.startswith("SCHILY.xattr."):
                xname = key[len("SCHILY.xattr.") :]
                raw = value.encode("utf-8", "surrogateescape")
            elif key.startswith("LIBARCHIVE.xattr."):
                import base64
                import urllib.parse

                xname = urllib.parse.unquote(key[len("LIBARCHIVE.xattr.") :])
                try:
                    raw = base64.b64decode(value + "=" * (-len(value) % 4))
                except ValueError:
                    continue
            else:
                continue
            if xname.startswith(OVERLAY_XATTR_PREFIXES):
                log.debug(
                    "layer %s: %s: overlay-private xattr %s from the image ignored", self.label, name, xname
                )
                continue
            if symlink or fd is None:
                log.debug("layer %s: %s: xattr %s on a symlink skipped", self.label, name, xname)
                continue
            if xname.startswith("trusted.") and not self.real_root:
                log.debug("layer %s: %s: xattr %s needs real root; skipped", self.label, name, xname)
                continue
            try:
                os.setxattr(fd, xname, raw)
            except OSError as e:
                if e.errno in _XATTR_SKIP_ERRNOS:
                    log.debug(
                        "layer %s: %s: xattr %s not permitted here (%s); skipped", self.label, name, xname, e
                    )
                    continue
                raise

    # -- members ---------------------------------------------------------------------------------
    def extract(self, member: tarfile.TarInfo, stream: Stream) -> None:
        path = member.name
        parts = _split(path, self.label)
        if member.type in (tarfile.GNUTYPE_SPARSE,) or any(
            k.startswith("GNU.sparse.") for k in member.pax_headers
        ):
            raise InvalidInput(f"layer {self.label}: sparse file {path!r} is not supported")
        if not parts:
            if member.isdir():
                self.root_meta = (member.mode, member.mtime)
                self._chown(member.uid, member.gid, fd=self.root_fd)
                self._xattrs(member, self.root_fd, ".", self.root_fd, False)
                return
            raise InvalidInput(f"layer {self.label}: member {path!r} has no name")
        name = parts[-1]
        pfd = self.parent_fd(parts[:-1], path)
        key = "/".join(parts)
        summ = self.summary

        if name.startswith(WHITEOUT_PREFIX):
            self._whiteout(member, pfd, parts, name, path)
            return

        summ.dirs.discard(key)
        summ.implied.discard(key)
        summ.symlinks.discard(key)
        if member.isreg():
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            try:  # the common case first: one syscall, no lookup of an existing entry
                fd = os.open(name, flags, 0o600, dir_fd=pfd)
            except FileExistsError:
                self._remove_existing(pfd, name)
                fd = os.open(name, flags, 0o600, dir_fd=pfd)
            try:
                if member.size:
                    stream.copy_to(fd, member.size)
                self._chown(member.uid, member.gid, fd=fd)
                os.fchmod(fd, member.mode & 0o7777)
                self._xattrs(member, fd, path, pfd, False)
                os.utime(fd, (member.mtime, member.mtime))
            finally:
                os.close(fd)
        elif member.isdir():
            try:
                os.mkdir(name, 0o700, dir_fd=pfd)
            except FileExistsError:
                if not self._remove_existing(pfd, name, keep_dir=True):
                    os.mkdir(name, 0o700, dir_fd=pfd)
            if (member.uid, member.gid) != (self.euid, self.egid) or member.pax_headers:
                fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=pfd)
                try:
                    self._chown(member.uid, member.gid, fd=fd)
                    self._xattrs(member, fd, path, pfd, False)
                finally:
                    os.close(fd)
            self.dirs.append((tuple(parts), member.mode & 0o7777, member.mtime))
            summ.dirs.add(key)
            summ.implied.discard(key)
            summ.symlinks.discard(key)
            return
        elif member.issym():
            try:
                os.symlink(member.linkname, name, dir_fd=pfd)
            except FileExistsError:
                self._remove_existing(pfd, name)
                os.symlink(member.linkname, name, dir_fd=pfd)
            summ.symlinks.add(key)
            self._chown(member.uid, member.gid, name=name, dir_fd=pfd)
            os.utime(name, (member.mtime, member.mtime), dir_fd=pfd, follow_symlinks=False)
        elif member.islnk():
            self._hardlink(member, pfd, name, path)
        elif member.ischr() or member.isblk() or member.isfifo():
            self._special(member, pfd, name, path)
        else:
            log.debug("layer %s: member %r of unsupported type %r skipped", self.label, path, member.type)

    def _whiteout(self, member: tarfile.TarInfo, pfd: int, parts: list[str], name: str, path: str) -> None:
        if name == OPAQUE_MARKER:
            for xname in self.opaque_names:
                os.setxattr(pfd, xname, b"y")
            self.summary.opaque.add("/".join(parts[:-1]))
            return
        if name.startswith(WHITEOUT_PREFIX + WHITEOUT_PREFIX):
            return  # other aufs metadata (.wh..wh.plnk, ...): meaningless for overlay
        target = name[len(WHITEOUT_PREFIX) :]
        if target in ("", ".", ".."):
            raise InvalidInput(f"layer {self.label}: invalid whiteout {path!r}; refused")
        self._remove_existing(pfd, target)
        os.mknod(target, stat.S_IFCHR | 0o000, os.makedev(0, 0), dir_fd=pfd)
        wkey = "/".join([*parts[:-1], target])
        self.summary.whiteouts.add(wkey)
        self.summary.dirs.discard(wkey)
        self.summary.implied.discard(wkey)
        self.summary.symlinks.discard(wkey)
        self._chown(member.uid, member.gid, name=target, dir_fd=pfd)

    def _hardlink(self, member: tarfile.TarInfo, pfd: int, name: str, path: str) -> None:
        tparts = _split(member.linkname, self.label, "hard link target")
        if not tparts:
            raise InvalidInput(f"layer {self.label}: hard link {path!r} to the layer root; refused")
        missing = InvalidInput(
            f"layer {self.label}: hard link {path!r} points to {member.linkname!r}, which is not in this"
            " layer; refused"
        )
        try:
            tfd = self.walk(tparts[:-1], member.linkname)
        except FileNotFoundError:
            raise missing from None
        try:
            try:
                tst = os.stat(tparts[-1], dir_fd=tfd, follow_symlinks=False)
            except FileNotFoundError:
                raise InvalidInput(
                    f"layer {self.label}: hard link {path!r} points to {member.linkname!r}, which is not in this"
                    " layer; refused"
                ) from None
            if stat.S_ISDIR(tst.st_mode):
                raise InvalidInput(f"layer {self.label}: hard link {path!r} to a directory; refused")
            with contextlib.suppress(FileNotFoundError):
                st = os.stat(name, dir_fd=pfd, follow_symlinks=False)
                if (st.st_dev, st.st_ino) == (tst.st_dev, tst.st_ino):
                    return
            self._remove_existing(pfd, name)
            os.link(tparts[-1], name, src_dir_fd=tfd, dst_dir_fd=pfd, follow_symlinks=False)
        finally:
            os.close(tfd)

    def _special(self, member: tarfile.TarInfo, pfd: int, name: str, path: str) -> None:
        self._remove_existing(pfd, name)
        if member.isfifo():
            os.mkfifo(name, 0o600, dir_fd=pfd)
        else:
            kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
            try:
                os.mknod(name, kind | 0o600, os.makedev(member.devmajor, member.devminor), dir_fd=pfd)
            except PermissionError:
                self.skipped_devices += 1
                log.debug("layer %s: device node %r skipped (not permitted here)", self.label, path)
                return
        self._chown(member.uid, member.gid, name=name, dir_fd=pfd)
        # chmod/utime through the path: the entry was just created by us and is not a symlink.
        fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=pfd)
        try:
            proc = f"/proc/self/fd/{fd}"
            os.chmod(proc, member.mode & 0o7777)
            os.utime(proc, (member.mtime, member.mtime))
        finally:
            os.close(fd)

    def finish(self) -> None:
        """Apply directory modes and mtimes, deepest first, so children don't disturb them."""
        for _, fd in self.stack:
            os.close(fd)
        self.stack = []
        for parts, mode, mtime in sorted(self.dirs, key=lambda d: len(d[0]), reverse=True):
            try:
                fd = self.walk(list(parts), "/".join(parts))
            except (OSError, InvalidInput):
                continue  # replaced later in the layer by a non-directory
            try:
                os.fchmod(fd, mode)
                os.utime(fd, (mtime, mtime))
            finally:
                os.close(fd)
        if self.root_meta is not None:
            os.fchmod(self.root_fd, self.root_meta[0] & 0o7777)
            os.utime(self.root_fd, (self.root_meta[1], self.root_meta[1]))


def unpack_stream(
    f: BinaryIO, compression: str, dest: Path, label: str, max_size: int
) -> tuple[str, int, LayerSummary]:
    """Extract the layer read from ``f`` into the existing empty dir ``dest``; returns (diff ID, size, summary)."""
    if compression == "gzip":
        chunks: Iterator[bytes] = _gzip_chunks(f, label)
    elif compression == "zstd":
        chunks = _zstd_chunks(f, label)
    else:
        chunks = _plain_chunks(f)
    counter = _Counter(label, max_size)
    feed = prefetch(chunks, counter)
    stream = Stream(feed, label)
    src = _HeaderSource(stream)
    ex = Extractor(dest, label)
    try:
        count = 0
        while True:
            try:
                member = tarfile.TarInfo.fromtarfile(src)  # type: ignore[arg-type]
            except tarfile.EOFHeaderError:
                break  # end of data without the end-of-archive blocks: accepted, as Go's tar does
            except tarfile.EmptyHeaderError:
                break  # end-of-archive marker
            except tarfile.TruncatedHeaderError:
                if count == 0 and stream.tell() == 0:
                    raise InvalidInput(f"layer {label}: empty layer data") from None
                raise InvalidInput(f"layer {label}: truncated tar stream (header cut short)") from None
            except (tarfile.HeaderError, ValueError, UnicodeError, OverflowError) as e:
                raise InvalidInput(f"layer {label}: not a valid tar archive ({e})") from None
            count += 1
            try:
                ex.extract(member, stream)
            except (InvalidInput, StoreError):
                raise
            except OSError as e:
                raise StoreError(f"layer {label}: cannot unpack {member.name!r}: {e.strerror or e}") from e
            pos = stream.tell()
            if src.offset > pos:
                stream.skip(src.offset - pos)
            elif src.offset < pos:  # cannot happen with well-formed headers
                raise InvalidInput(f"layer {label}: inconsistent tar member sizes")
        stream.drain()
        try:
            ex.finish()
        except OSError as e:
            raise StoreError(f"layer {label}: cannot set directory metadata: {e}") from e
    finally:
        with contextlib.suppress(OSError):
            ex.close()
        feed.close()  # type: ignore[attr-defined]
    if ex.skipped_devices:
        log.debug("layer %s: %d device node(s) skipped", label, ex.skipped_devices)
    return "sha256:" + counter.hasher.hexdigest(), counter.size, ex.summary


def unpack_blob(
    blob_path: Path, media_type: str, dest: Path, expected_diff_id: str, max_size: int
) -> tuple[int, LayerSummary]:
    """Unpack a layer blob into ``dest`` and verify its diff ID; returns (uncompressed size, summary)."""
    label = f"sha256:{blob_path.name}" if blob_path.parent.name == "sha256" else str(expected_diff_id)
    if not blob_path.is_file():
        raise StoreError(f"layer {label}: blob {blob_path} does not exist")
    with open(blob_path, "rb", buffering=0) as f:
        head = f.read(4)
        f.seek(0)
        compression = choose_compression(media_type, head, label)
        diff_id, size, summary = unpack_stream(f, compression, dest, label, max_size)  # type: ignore[arg-type]
    if diff_id != expected_diff_id:
        raise InvalidInput(
            f"layer {label}: uncompressed digest {diff_id} does not match the config's diff ID {expected_diff_id}"
        )
    return size, summary
