"""Content-addressed blobs: ``blobs/sha256/<hex>``, verified before they become visible.

Every digest that becomes a path goes through ``parse_digest`` (refuses ``sha256:../x``, upper case).
Blobs appear only by ``rename`` of a fully written, verified temp file from ``tmp/`` (same
filesystem), so a reader never sees a partial blob and committing twice is harmless.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from podpy.spec.digest import parse_digest
from podpy.util.errors import InvalidInput, NotFoundError
from podpy.util.fsutil import fsync_dir
from podpy.util.log import get_logger

log = get_logger(__name__)

CHUNK = 1024 * 1024
SMALL_BLOB = 4 * 1024 * 1024  # manifests/configs: always fsynced


def hash_file(path: Path, algorithm: str = "sha256") -> tuple[str, int]:
    """(hex digest, size) of a file, streamed."""
    import hashlib  # lazily, as below: ``run`` reads blobs but never hashes one (~2.5 ms of imports)

    h = hashlib.new(algorithm)
    size = 0
    with open(path, "rb") as f:
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        while n := f.readinto(buf):
            h.update(view[:n])
            size += n
    return h.hexdigest(), size


class BlobStore:
    """Blobs under ``root/blobs``, temp files under ``root/tmp``."""

    def __init__(self, root: Path, fsync: bool = True) -> None:
        self.root = root
        self.dir = root / "blobs"
        self.tmp = root / "tmp"
        self.fsync = fsync

    def blob_path(self, digest: str) -> Path:
        """Where the blob with ``digest`` lives (whether or not it exists); validates the digest."""
        d = parse_digest(digest)
        return self.dir / d.algorithm / d.hex

    def has_blob(self, digest: str) -> bool:
        return self.blob_path(digest).is_file()

    def new_temp(self) -> Path:
        """A fresh, not yet existing path in ``tmp/`` on the blobs' filesystem, for a download."""
        self.tmp.mkdir(parents=True, exist_ok=True, mode=0o700)
        return self.tmp / f"blob-{os.getpid()}-{os.urandom(8).hex()}"

    def commit_blob(self, tmp: Path, digest: str, size: int | None = None, verify: bool = True) -> Path:
        """Move the finished temp file ``tmp`` into place as blob ``digest``; returns the blob path.

        With ``verify`` the file's digest and size (when given) are checked first; pass
        ``verify=False`` only when the caller hashed the bytes while streaming them. On a mismatch
        the temp file is removed and ``InvalidInput`` raised. Idempotent: when the blob already
        exists the temp file is simply removed.
        """
        try:
            d = parse_digest(digest)
            dest = self.dir / d.algorithm / d.hex
            if verify:
                got, got_size = hash_file(tmp, d.algorithm)
                if size is not None and got_size != size:
                    raise InvalidInput(
                        f"blob {digest}: size is {got_size} bytes, but the descriptor says {size}"
                    )
                if got != d.hex:
                    raise InvalidInput(
                        f"blob {digest}: content does not match its digest (got {d.algorithm}:{got})"
                    )
            elif size is not None and (got_size := os.stat(tmp).st_size) != size:
                raise InvalidInput(f"blob {digest}: size is {got_size} bytes, but the descriptor says {size}")
            if dest.exists():
                os.unlink(tmp)
                return dest
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.chmod(tmp, 0o444)
            if self.fsync or os.stat(tmp).st_size <= SMALL_BLOB:
                fd = os.open(tmp, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            os.replace(tmp, dest)
            if self.fsync:
                fsync_dir(dest.parent)
            return dest
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def put_blob_bytes(self, data: bytes) -> str:
        """Store ``data`` (a manifest, config, ...) and return its ``sha256:`` digest."""
        import hashlib

        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if self.has_blob(digest):
            return digest
        tmp = self.new_temp()
        with open(tmp, "xb") as f:
            f.write(data)
        self.commit_blob(tmp, digest, len(data), verify=False)
        return digest

    def get_blob_bytes(self, digest: str, max_size: int | None = None) -> bytes:
        """Read a whole (small) blob; ``max_size`` refuses blobs larger than that (untrusted docs)."""
        path = self.blob_path(digest)
        try:
            with open(path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                if max_size is not None and size > max_size:
                    raise InvalidInput(f"blob {digest} is {size} bytes, over the {max_size}-byte limit")
                return f.read()
        except FileNotFoundError:
            raise NotFoundError(f"blob {digest} is not in the store") from None

    def list_blobs(self) -> list[str]:
        out: list[str] = []
        for algo_dir in self.dir.iterdir() if self.dir.is_dir() else ():
            for p in algo_dir.iterdir():
                if not p.name.startswith("."):
                    out.append(f"{algo_dir.name}:{p.name}")
        return out

    def remove_blob(self, digest: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.blob_path(digest))

    def clean_temps(self) -> int:
        """Remove every temp file (call only under the exclusive store lock)."""
        n = 0
        if not self.tmp.is_dir():
            return 0
        for p in self.tmp.iterdir():
            try:
                if p.is_dir() and not p.is_symlink():
                    import shutil

                    shutil.rmtree(p)
                else:
                    p.unlink()
                n += 1
            except OSError as e:  # best effort: the next open or gc tries again
                log.debug("cannot remove leftover temp file %s: %s", p, e)
        return n
