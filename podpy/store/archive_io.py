"""Compression helpers shared by the archive reader/writer: sniff, decompress, compress, hash while copying.

Archives and layers arrive as gzip, zstd or plain tar; the magic bytes decide, never the file name.
``zstandard`` and ``isal`` are imported lazily (they are heavy and optional for most commands).
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable
from typing import IO, BinaryIO

from podpy.util.errors import InvalidInput

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
BZIP2_MAGIC = b"BZh"
XZ_MAGIC = b"\xfd7zXZ\x00"
CHUNK = 1024 * 1024


def sniff(head: bytes) -> str:
    """The compression of a stream from its first bytes: gzip, zstd, bzip2, xz or none."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    if head.startswith(BZIP2_MAGIC):
        return "bzip2"
    if head.startswith(XZ_MAGIC):
        return "xz"
    return "none"


def sniff_file(path: str | os.PathLike[str]) -> str:
    with open(path, "rb") as f:
        return sniff(f.read(8))


def decompressing_reader(raw: BinaryIO, compression: str) -> BinaryIO:
    """Wrap ``raw`` so reads return decompressed bytes."""
    if compression == "none":
        return raw
    if compression == "gzip":
        try:
            from isal import igzip  # type: ignore[import-untyped]

            return igzip.IGzipFile(fileobj=raw, mode="rb")  # type: ignore[no-any-return]
        except ImportError:  # pragma: no cover - isal is a dependency, but keep working without it
            import gzip

            return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    if compression == "zstd":
        import zstandard

        return zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)  # type: ignore[return-value]
    if compression == "bzip2":
        import bz2

        return bz2.BZ2File(raw, "rb")  # type: ignore[return-value]
    if compression == "xz":
        import lzma

        return lzma.LZMAFile(raw, "rb")  # type: ignore[return-value]
    raise InvalidInput(f"unsupported compression {compression!r}")


class CountingWriter(io.RawIOBase):
    """A write-only sink that hashes and counts what passes through to ``inner``."""

    def __init__(self, inner: IO[bytes]) -> None:
        self.inner = inner
        self.sha = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, b: bytes) -> int:  # type: ignore[override]
        mv = memoryview(b)
        self.sha.update(mv)
        self.size += len(mv)
        self.inner.write(mv)
        return len(mv)

    @property
    def digest(self) -> str:
        return "sha256:" + self.sha.hexdigest()


def compressing_writer(sink: IO[bytes], compression: str) -> tuple[IO[bytes], Callable[[], None]]:
    """(writer, finish): bytes written are compressed into ``sink``; call finish() to flush the trailer."""
    if compression == "gzip":
        try:
            from isal import igzip

            gz = igzip.IGzipFile(fileobj=sink, mode="wb", compresslevel=1, mtime=0)
        except ImportError:  # pragma: no cover
            import gzip

            gz = gzip.GzipFile(fileobj=sink, mode="wb", compresslevel=6, mtime=0)  # type: ignore[assignment]
        return gz, gz.close
    if compression == "zstd":
        import zstandard

        zw = zstandard.ZstdCompressor(level=3).stream_writer(sink, closefd=False)
        return zw, zw.close  # type: ignore[return-value]
    if compression == "none":
        return sink, lambda: None
    raise InvalidInput(f"unsupported compression {compression!r}: use gzip or zstd")


def copy_stream(src: BinaryIO, dst: IO[bytes], limit: int | None = None) -> int:
    """Copy all of ``src`` into ``dst``; refuse more than ``limit`` bytes."""
    total = 0
    while True:
        chunk = src.read(CHUNK)
        if not chunk:
            return total
        total += len(chunk)
        if limit is not None and total > limit:
            raise InvalidInput(f"stream is larger than the allowed {limit} bytes")
        dst.write(chunk)


def hash_file(path: str | os.PathLike[str], compression: str = "none") -> tuple[str, int]:
    """(sha256 digest, size) of the file's content after decompressing with ``compression``."""
    sha = hashlib.sha256()
    size = 0
    with open(path, "rb") as raw:
        try:
            reader = decompressing_reader(raw, compression)  # type: ignore[arg-type]
            while True:
                chunk = reader.read(CHUNK)
                if not chunk:
                    break
                sha.update(chunk)
                size += len(chunk)
        except InvalidInput:
            raise
        except Exception as e:  # gzip.BadGzipFile, zstd errors, EOFError on truncation ...
            raise InvalidInput(f"corrupt {compression} data in {os.path.basename(path)}: {e}") from e
    return "sha256:" + sha.hexdigest(), size
