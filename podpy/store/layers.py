"""Unpacked layers: ``overlay/<diffid-hex>/diff``, each unpacked once and shared by every image.

A layer is unpacked into ``overlay/.tmp-<hex>-<rand>/diff`` and the ``.tmp-`` dir renamed to
``overlay/<hex>`` only after the whole stream was extracted and its diff ID verified, so a layer dir
that exists is complete. A per-layer flock (``locks/layer-<hex>.lock``) makes concurrent unpackers
of the same layer (threads or processes) wait for the first one and then reuse its result.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from podpy.spec.digest import parse_digest
from podpy.util.errors import InvalidInput, NotFoundError, StoreError
from podpy.util.lock import FileLock
from podpy.util.log import get_logger

TYPE_CHECKING = False  # not typing's: importing typing costs every command start-up time
if TYPE_CHECKING:
    from podpy.store.unpack import LayerSummary

log = get_logger(__name__)

DEFAULT_MAX_UNPACKED = 64 * 1024**3  # 64 GiB: refuses decompression bombs


@dataclass(frozen=True)
class LayerInfo:
    """An unpacked layer in the store."""

    diff_id: str
    size: int  # bytes of the uncompressed tar stream
    path: Path  # the ``diff`` dir (an overlay lowerdir)


def rmtree_any(path: Path) -> None:
    """Remove a tree that may contain read-only dirs (image content); never follows symlinks."""

    def onerror(func, p, exc_info):  # type: ignore[no-untyped-def]
        if isinstance(exc_info[1], FileNotFoundError):
            return
        # A read-only dir (mode 0555 from the image): make it writable and retry once.
        os.chmod(os.path.dirname(p), 0o700)
        func(p)

    if path.is_symlink() or not path.is_dir():
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return
    import shutil  # removal and failure paths only: shutil brings bz2, lzma and zlib

    shutil.rmtree(path, onerror=onerror)


def _ancestors(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


class LayerStore:
    def __init__(self, root: Path, max_unpacked: int = DEFAULT_MAX_UNPACKED) -> None:
        self.root = root
        self.dir = root / "overlay"
        self.locks = root / "locks"
        self.max_unpacked = max_unpacked

    def _hex(self, diff_id: str) -> str:
        d = parse_digest(diff_id)
        if d.algorithm != "sha256":
            raise StoreError(f"layer diff ID {diff_id}: only sha256 diff IDs are supported")
        return d.hex

    def layer_dir(self, diff_id: str) -> Path:
        """The ``diff`` dir of the layer (an overlay lowerdir), whether or not it exists yet."""
        return self.dir / self._hex(diff_id) / "diff"

    def has_layer(self, diff_id: str) -> bool:
        return (self.dir / self._hex(diff_id) / "layer.json").is_file()

    def layer_info(self, diff_id: str) -> LayerInfo:
        hx = self._hex(diff_id)
        try:
            meta = json.loads((self.dir / hx / "layer.json").read_text())
        except FileNotFoundError:
            raise NotFoundError(f"layer {diff_id} is not in the store") from None
        return LayerInfo(diff_id=diff_id, size=int(meta["size"]), path=self.dir / hx / "diff")

    def layer_summary(self, diff_id: str) -> LayerSummary:
        from podpy.store.unpack import LayerSummary

        try:
            meta = json.loads((self.dir / self._hex(diff_id) / "layer.json").read_text())
        except FileNotFoundError:
            raise NotFoundError(f"layer {diff_id} is not in the store") from None
        return LayerSummary.from_json(meta.get("summary") or {})

    def check_stack(self, diff_ids: list[str]) -> None:
        """Refuse a layer that writes below a path that is a symlink in the layers under it.

        Stored separately, the upper layer would just hide the lower symlink (overlay semantics),
        but a flattened image would write through it (possibly outside the rootfs): the image is
        ambiguous at best and hostile at worst, so it is refused, as the bad-input rules require.
        """
        summaries = [self.layer_summary(d) for d in diff_ids]
        for i in range(1, len(summaries)):
            for d in sorted(summaries[i].implied):
                ancestors = _ancestors(d)
                for j in range(i - 1, -1, -1):
                    low = summaries[j]
                    if d in low.symlinks:
                        raise InvalidInput(
                            f"layer {diff_ids[i]} writes below {d!r}, a symlink planted by the lower layer"
                            f" {diff_ids[j]}; refused"
                        )
                    if d in low.dirs or d in low.whiteouts or any(a in low.whiteouts for a in ancestors):
                        break
                    if d in low.opaque or any(a in low.opaque for a in ancestors):
                        break

    def list_layers(self) -> list[str]:
        if not self.dir.is_dir():
            return []
        return [f"sha256:{p.name}" for p in self.dir.iterdir() if not p.name.startswith(".")]

    def unpack_layer(
        self, blob_path: Path, media_type: str, expected_diff_id: str, max_size: int | None = None
    ) -> LayerInfo:
        """Unpack the layer blob at ``blob_path`` once into overlay form; idempotent and concurrency-safe.

        ``media_type`` picks the decompressor (magic bytes decide when it says nothing); the diff
        ID is computed while unpacking and must equal ``expected_diff_id``. Raises ``InvalidInput``
        (naming the layer) for bad archives, escapes, bombs over ``max_size`` unpacked bytes or a
        diff ID mismatch; nothing remains then.
        """
        from podpy.store.unpack import unpack_blob

        hx = self._hex(expected_diff_id)
        if self.has_layer(expected_diff_id):
            return self.layer_info(expected_diff_id)
        with FileLock(self.locks / f"layer-{hx}.lock"):
            if self.has_layer(expected_diff_id):
                return self.layer_info(expected_diff_id)
            self.dir.mkdir(parents=True, exist_ok=True)
            tmp = self.dir / f".tmp-{hx[:16]}-{os.getpid()}-{os.urandom(4).hex()}"
            final = self.dir / hx
            try:
                tmp.mkdir(mode=0o700)
                (tmp / "diff").mkdir(mode=0o755)
                size, summary = unpack_blob(
                    blob_path,
                    media_type,
                    tmp / "diff",
                    expected_diff_id,
                    max_size if max_size is not None else self.max_unpacked,
                )
                meta = {"diff_id": expected_diff_id, "size": size, "summary": summary.to_json()}
                (tmp / "layer.json").write_text(json.dumps(meta))
                os.chmod(tmp, 0o700)
                if final.exists():  # a stale dir without layer.json (cannot normally happen): replace it
                    rmtree_any(final)
                os.rename(tmp, final)
            except BaseException:
                rmtree_any(tmp)
                raise
            return LayerInfo(diff_id=expected_diff_id, size=size, path=final / "diff")

    def remove_layer(self, diff_id: str) -> None:
        """Remove a layer dir: first rename it to a ``.tmp-`` name so it vanishes atomically."""
        hx = self._hex(diff_id)
        with FileLock(self.locks / f"layer-{hx}.lock"):
            src = self.dir / hx
            if not src.exists():
                return
            tmp = self.dir / f".tmp-del-{hx[:16]}-{os.urandom(4).hex()}"
            os.rename(src, tmp)
        try:
            rmtree_any(tmp)
        except OSError as e:
            raise StoreError(
                f"cannot remove layer {diff_id}: {e}; run podpy inside its user namespace (`podpy unshare`)"
                " so files owned by subordinate IDs can be removed"
            ) from e

    def clean_temps(self) -> int:
        """Remove unfinished ``.tmp-`` dirs (call only under the exclusive store lock)."""
        n = 0
        if not self.dir.is_dir():
            return 0
        for p in self.dir.iterdir():
            if p.name.startswith(".tmp-"):
                try:
                    rmtree_any(p)
                    n += 1
                except OSError as e:  # e.g. subuid-owned files outside the user namespace
                    log.debug("cannot remove leftover %s: %s (retried by the next gc)", p, e)
        return n
