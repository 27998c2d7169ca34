"""Build layer tarballs in memory for the store tests (also used by the integration tests)."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

from podpy.spec import mediatypes as mt

MEDIA = {"gzip": mt.OCI_LAYER_GZIP, "zstd": mt.OCI_LAYER_ZSTD, "none": mt.OCI_LAYER}


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def entry(
    name: str,
    kind: str = "file",
    data: bytes = b"",
    mode: int | None = None,
    uid: int | None = None,
    gid: int | None = None,
    link: str = "",
    mtime: float = 1_600_000_000,
    xattrs: dict[str, bytes] | None = None,
    major: int = 0,
    minor: int = 0,
) -> tuple[tarfile.TarInfo, bytes | None]:
    ti = tarfile.TarInfo(name)
    # Default owner: whoever runs the tests, so unit tests also pass unprivileged; foreign owners are
    # tested as root (unit) and inside a user namespace (tests/integration/store).
    ti.uid = os.geteuid() if uid is None else uid
    ti.gid = os.getegid() if gid is None else gid
    ti.mtime = mtime
    types = {
        "file": tarfile.REGTYPE,
        "dir": tarfile.DIRTYPE,
        "symlink": tarfile.SYMTYPE,
        "hardlink": tarfile.LNKTYPE,
        "fifo": tarfile.FIFOTYPE,
        "chr": tarfile.CHRTYPE,
        "blk": tarfile.BLKTYPE,
    }
    ti.type = types[kind]
    ti.mode = mode if mode is not None else (0o755 if kind == "dir" else 0o644)
    ti.linkname = link
    ti.devmajor, ti.devminor = major, minor
    if xattrs:
        ti.pax_headers = {
            f"SCHILY.xattr.{k}": v.decode("utf-8", "surrogateescape") for k, v in xattrs.items()
        }
    if kind == "file":
        ti.size = len(data)
        return ti, data
    return ti, None


def make_tar(*entries: tuple[tarfile.TarInfo, bytes | None]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT, encoding="utf-8") as tf:
        for ti, data in entries:
            tf.addfile(ti, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def compress(raw: bytes, kind: str) -> bytes:
    if kind == "gzip":
        return gzip.compress(raw, 1)
    if kind == "zstd":
        import zstandard

        return zstandard.ZstdCompressor(level=1).compress(raw)
    return raw


@dataclass
class Layer:
    blob: bytes
    raw: bytes
    kind: str

    @property
    def digest(self) -> str:
        return sha(self.blob)

    @property
    def diff_id(self) -> str:
        return sha(self.raw)

    @property
    def media_type(self) -> str:
        return MEDIA[self.kind]


def layer(*entries: tuple[tarfile.TarInfo, bytes | None], kind: str = "gzip") -> Layer:
    raw = make_tar(*entries)
    return Layer(compress(raw, kind), raw, kind)


def add_blob(store, data: bytes) -> Path:  # type: ignore[no-untyped-def]
    """Commit raw bytes as a blob (verified) and return its path."""
    tmp = store.new_temp()
    tmp.write_bytes(data)
    return store.commit_blob(tmp, sha(data), len(data))


def unpack(store, lay: Layer, max_size: int | None = None):  # type: ignore[no-untyped-def]
    path = add_blob(store, lay.blob)
    return store.unpack_layer(path, lay.media_type, lay.diff_id, max_size=max_size)
