"""The ``Store`` facade: blobs, layers and image records behind one object (see the package docstring).

Callers (engine pull/load/commit, archives) use only this class. A pull looks like::

    store = Store(paths.storage)
    with store.session():                       # keeps gc and leftover cleanup away meanwhile
        tmp = store.new_temp(); download(tmp); store.commit_blob(tmp, digest, size, verify=False)
        info = store.unpack_layer(store.blob_path(digest), media_type, diff_id)
        store.add_image(config_digest=..., manifest_digest=..., ..., layers=[LayerRecord(...)], names=[...])

Layer unpacking must run inside podpy's user namespace so file owners land on the subuid range.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from podpy.spec.mediatypes import MAX_CONFIG_SIZE
from podpy.store.images import ImageReader, ImageRecord, LayerRecord, well_formed_digest
from podpy.util.errors import ImageNotKnown, StoreError
from podpy.util.log import get_logger

log = get_logger(__name__)

__all__ = ["GCResult", "ImageRecord", "LayerInfo", "LayerRecord", "Store"]

TYPE_CHECKING = False
if TYPE_CHECKING:
    from podpy.store.blobs import BlobStore
    from podpy.store.gcresult import GCResult
    from podpy.store.layers import LayerInfo, LayerStore

# Where BlobStore keeps temp files and LayerStore the layers, relative to the store root: the leftover
# check of every Store() needs them, and importing blobs (hashlib, secrets) costs start-up time on
# ``run`` (tests/unit/store checks they agree with the classes).
BLOB_TMP_DIR = "tmp"
LAYER_DIR = "overlay"
_LAYER_ID_PREFIX = "sha256:"  # LayerStore takes only sha256 diff IDs

# Re-exported names, imported on first use: ``run`` needs neither the layer machinery nor gc.
_LAZY = {"LayerInfo": "podpy.store.layers", "GCResult": "podpy.store.gcresult"}


def __getattr__(name: str) -> object:
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(name)
    import importlib

    return getattr(importlib.import_module(mod), name)


class Store(ImageReader):
    """The image store under ``root``; cheap to create, safe to use from many threads and processes."""

    def __init__(self, root: Path, *, max_unpacked: int | None = None, fsync: bool = True) -> None:
        super().__init__(root)
        self._fsync = fsync
        self._max_unpacked = max_unpacked  # None: LayerStore's default
        self._blobs: BlobStore | None = None
        self._layers: LayerStore | None = None
        self._lock_path = self.root / "locks" / "store.lock"
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.clean_leftovers()

    @property
    def blobs(self) -> BlobStore:
        """The blob files (created on first use: ``run`` with a stored image never needs them)."""
        if self._blobs is None:
            from podpy.store.blobs import BlobStore

            self._blobs = BlobStore(self.root, fsync=self._fsync)
        return self._blobs

    @property
    def layers(self) -> LayerStore:
        if self._layers is None:
            from podpy.store.layers import LayerStore

            kw = {} if self._max_unpacked is None else {"max_unpacked": self._max_unpacked}
            self._layers = LayerStore(self.root, **kw)
        return self._layers

    # -- sessions and maintenance ---------------------------------------------------------------
    @contextlib.contextmanager
    def session(self) -> Iterator[Store]:
        """Hold the shared writer lock: temp files and unrecorded blobs/layers are safe from gc."""
        from podpy.store import session  # writers only: ``run`` reads the store without the lock

        with session.shared(self._lock_path):
            yield self

    def clean_leftovers(self) -> int:
        """Remove temp files and ``.tmp-`` dirs of killed writers, if no writer is active now."""
        if not ((self.root / BLOB_TMP_DIR).exists() or (self.root / LAYER_DIR).exists()):
            return 0
        if not self._has_leftovers():
            return 0
        from podpy.store import session

        with session.exclusive(self._lock_path) as got:
            if not got:
                log.debug("store %s: another writer is active; leftover cleanup deferred", self.root)
                return 0
            n = self.blobs.clean_temps() + self.layers.clean_temps()
            if n:
                log.debug("store %s: removed %d leftover temp file(s)/dir(s)", self.root, n)
            return n

    def _has_leftovers(self) -> bool:
        with contextlib.suppress(FileNotFoundError):
            if any(True for _ in os.scandir(self.root / BLOB_TMP_DIR)):
                return True
        with contextlib.suppress(FileNotFoundError):
            if any(e.name.startswith(".tmp-") for e in os.scandir(self.root / LAYER_DIR)):
                return True
        return False

    def gc(self, wait: float = 10.0) -> GCResult:
        """Remove blobs and layer dirs that no image names, and leftovers of killed writers.

        Needs the exclusive store lock (waits up to ``wait`` seconds for active writers); when it
        is not granted, nothing is removed and ``skipped`` is set.
        """
        from podpy.store import session
        from podpy.store.gcresult import GCResult

        res = GCResult()
        with session.exclusive(self._lock_path, wait=wait) as got:
            if not got:
                log.debug("store %s: a writer is active; gc skipped", self.root)
                res.skipped = True
                return res
            res.temps = self.blobs.clean_temps() + self.layers.clean_temps()
            blobs, diffs = self.db.referenced()
            for d in self.blobs.list_blobs():
                if d not in blobs:
                    self.blobs.remove_blob(d)
                    res.blobs.append(d)
            for d in self.layers.list_layers():
                if d not in diffs:
                    self.layers.remove_layer(d)
                    res.layers.append(d)
        return res

    # -- blobs ----------------------------------------------------------------------------------
    def has_blob(self, digest: str) -> bool:
        return self.blobs.has_blob(digest)

    def blob_path(self, digest: str) -> Path:
        """Where the blob lives; a well-formed digest maps to its path without importing ``BlobStore``
        (``run`` reads the config blob), anything else goes to ``BlobStore`` to be judged."""
        if well_formed_digest(digest or ""):
            algo, _, hexpart = digest.partition(":")
            return self.root / "blobs" / algo / hexpart
        return self.blobs.blob_path(digest)

    def new_temp(self) -> Path:
        """A fresh temp path on the store's filesystem; use inside ``session()`` so it is not cleaned."""
        return self.blobs.new_temp()

    def commit_blob(self, tmp: Path, digest: str, size: int | None = None, verify: bool = True) -> Path:
        with self.session():
            return self.blobs.commit_blob(tmp, digest, size, verify)

    def put_blob_bytes(self, data: bytes) -> str:
        with self.session():
            return self.blobs.put_blob_bytes(data)

    # -- layers ---------------------------------------------------------------------------------
    def has_layer(self, diff_id: str) -> bool:
        return self.layers.has_layer(diff_id)

    def layer_dir(self, diff_id: str) -> Path:
        """The layer's ``diff`` dir; like ``blob_path``, only an odd diff ID needs ``LayerStore``."""
        if diff_id and diff_id.startswith(_LAYER_ID_PREFIX) and well_formed_digest(diff_id):
            return self.root / LAYER_DIR / diff_id[len(_LAYER_ID_PREFIX) :] / "diff"
        return self.layers.layer_dir(diff_id)

    def layer_info(self, diff_id: str) -> LayerInfo:
        return self.layers.layer_info(diff_id)

    def check_layer_stack(self, diff_ids: Sequence[str]) -> None:
        """Raise ``InvalidInput`` when a layer writes through a symlink of a lower layer (``add_image`` does this)."""
        self.layers.check_stack(list(diff_ids))

    def unpack_layer(
        self, blob_path: Path, media_type: str, expected_diff_id: str, max_size: int | None = None
    ) -> LayerInfo:
        """Unpack a layer blob once (see ``LayerStore.unpack_layer``); safe from many threads/processes."""
        with self.session():
            return self.layers.unpack_layer(Path(blob_path), media_type, expected_diff_id, max_size)

    # -- images ---------------------------------------------------------------------------------
    def add_image(
        self,
        *,
        config_digest: str,
        manifest_digest: str,
        manifest_media_type: str,
        layers: Sequence[LayerRecord],
        names: Iterable[str] = (),
        repo_digests: Iterable[str] = (),
        index_digest: str | None = None,
        created: str | None = None,
        extra_blobs: Iterable[str] = (),
    ) -> ImageRecord:
        """Record an image; it becomes visible only now, and only if all its blobs and layers exist.

        The ID is the config digest's hex. Re-adding an existing ID updates its manifest/layers and
        adds names (moved from other images) and repo digests. ``created`` defaults to the config's.
        ``unpacked_size`` of layers defaults to the unpacked layer's size. ``extra_blobs`` are kept
        from gc as long as the image exists (e.g. other manifests of the same image).
        """
        from podpy.spec.digest import parse_digest  # its dataclass costs ``run`` start-up time

        cfg = parse_digest(config_digest)
        parse_digest(manifest_digest)
        if index_digest:
            parse_digest(index_digest)
        layers = list(layers)
        fixed: list[LayerRecord] = []
        for layer in layers:
            parse_digest(layer.digest)
            if not layer.unpacked_size and self.has_layer(layer.diff_id):
                layer = LayerRecord(
                    layer.digest,
                    layer.diff_id,
                    layer.media_type,
                    layer.size,
                    self.layer_info(layer.diff_id).size,
                )
            fixed.append(layer)
        if created is None and self.has_blob(config_digest):
            try:
                created = json.loads(self.get_blob_bytes(config_digest, MAX_CONFIG_SIZE)).get("created")
            except (ValueError, AttributeError):
                created = None
        extra_blobs = [str(parse_digest(b)) for b in extra_blobs]

        def check() -> None:
            need = [config_digest, manifest_digest, *([index_digest] if index_digest else []), *extra_blobs]
            need += [layer.digest for layer in fixed]
            missing = [d for d in need if not self.has_blob(d)]
            missing += [layer.diff_id for layer in fixed if not self.has_layer(layer.diff_id)]
            if missing:
                raise StoreError(
                    f"cannot record image {cfg.hex[:12]}: missing from the store: {', '.join(missing)}"
                )
            self.layers.check_stack([layer.diff_id for layer in fixed])

        with self.session():
            return self.db.upsert(
                cfg.hex,
                config_digest,
                manifest_digest,
                manifest_media_type,
                index_digest,
                fixed,
                list(names),
                list(repo_digests),
                created,
                sum(layer.unpacked_size for layer in fixed),
                extra={"blobs": extra_blobs} if extra_blobs else None,
                check=check,
            )

    def tag_image(self, image_id: str, name: str) -> None:
        """Give the image ``name`` (a full ``registry/repo:tag``), taking it from any other image."""
        self.db.tag(self.get_image(image_id).id, name)

    def untag_image(self, image_id: str, name: str) -> None:
        """Remove ``name`` from the image; ``ImageNotKnown``-style error when it does not carry it."""
        rec = self.get_image(image_id)
        if not self.db.untag(rec.id, name):
            raise ImageNotKnown(f"{name}: tag not known for image {rec.id[:12]}")

    def remove_image(self, image_id: str, force: bool = False, prune: bool = True) -> ImageRecord:
        """Remove the image record (refused while users exist unless ``force``), then gc its data."""
        rec = self.db.remove(self.get_image(image_id).id, force=force)
        if prune:
            self.gc(wait=2.0)
        return rec

    def add_image_user(self, image_id: str, user_id: str) -> None:
        """Mark the image as used by ``user_id`` (a container): ``remove_image`` then needs force."""
        self.db.add_user(self.get_image(image_id).id, user_id)

    def remove_image_user(self, image_id: str, user_id: str) -> None:
        self.db.remove_user(image_id.removeprefix("sha256:"), user_id)

    # -- convenience readers --------------------------------------------------------------------
    def layer_dirs(self, rec: ImageRecord) -> list[Path]:
        """The image's layer ``diff`` dirs, base layer first (reverse for overlay's lowerdir order)."""
        return [self.layer_dir(layer.diff_id) for layer in rec.layers]
