"""``podpy system check`` for the image store: find (and with ``repair``, fix) what a crash, a full
disk or a hand edit can leave behind.

Problems found (``Finding.kind``):

* ``temp``: a temp file of a download (``tmp/``) or a half-unpacked/half-removed layer
  (``overlay/.tmp-…``): a pull or rmi that was killed. Repair: remove.
* ``corrupt-blob``: a blob whose bytes do not hash to its name (full check) or whose size differs
  from what an image's manifest says (also ``quick``): truncated or overwritten. Repair: remove the
  blob, which makes every image naming it damaged (below).
* ``incomplete-layer``: a layer dir without ``layer.json`` (never finished). Repair: remove.
* ``damaged-image``: an image record naming a blob or layer that is missing or corrupt: it cannot be
  run, saved or pushed. Repair: remove the record (not while a container uses it, unless
  ``force``); pulling the image again restores it.
* ``unreferenced-blob`` / ``orphan-layer``: data no image names (left by a killed pull, or by an
  image removed while its data could not be deleted). Repair: remove.

Everything runs under the store's exclusive lock (``locks/store.lock``), so a pull running meanwhile
is never mistaken for a killed one; when a writer holds the lock the check says so and waits up to
``wait`` seconds. The store is opened without ``Store``'s leftover cleanup, so temp files are
reported before anything removes them. Removing layers needs podpy's user namespace (files owned
by subordinate IDs): the caller joins it first when repairing.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from podpy.store import session
from podpy.store.blobs import BlobStore, hash_file
from podpy.store.images import ImageDB, ImageRecord
from podpy.store.layers import LayerStore, rmtree_any
from podpy.store.store import BLOB_TMP_DIR, LAYER_DIR
from podpy.util.errors import PodpyError, StoreError


@dataclass
class Finding:
    kind: str
    subject: str  # a digest, an image ID or a path under the store
    detail: str
    repaired: bool = False
    error: str = ""  # why a repair did not happen


@dataclass
class StoreReport:
    findings: list[Finding] = field(default_factory=list)
    damaged_images: dict[str, ImageRecord] = field(default_factory=dict)
    checked_blobs: int = 0
    checked_layers: int = 0
    checked_images: int = 0


def _blob_expectations(images: Iterable[ImageRecord]) -> dict[str, int]:
    """Blob digest -> the size an image's manifest records for it (layer blobs)."""
    out: dict[str, int] = {}
    for rec in images:
        for layer in rec.layers:
            if layer.size and layer.size > 0:
                out[layer.digest] = layer.size
    return out


def _needed_blobs(rec: ImageRecord) -> list[str]:
    need = [rec.config_digest, rec.manifest_digest, *([rec.index_digest] if rec.index_digest else [])]
    need += [layer.digest for layer in rec.layers]
    need += list(rec.extra.get("blobs") or [])
    return need


class StoreChecker:
    """One check of the store under ``root`` (``Paths.storage``)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.blobs = BlobStore(self.root)
        self.layers = LayerStore(self.root)
        self.lock_path = self.root / "locks" / "store.lock"

    def _db(self) -> ImageDB | None:
        return ImageDB(self.root / "images.db") if (self.root / "images.db").exists() else None

    def _temps(self, rep: StoreReport) -> None:
        tmp = self.root / BLOB_TMP_DIR
        with contextlib.suppress(FileNotFoundError):
            for e in sorted(os.scandir(tmp), key=lambda e: e.name):
                rep.findings.append(
                    Finding("temp", f"{BLOB_TMP_DIR}/{e.name}", "temp file of an interrupted download")
                )
        with contextlib.suppress(FileNotFoundError):
            for e in sorted(os.scandir(self.root / LAYER_DIR), key=lambda e: e.name):
                if e.name.startswith(".tmp-"):
                    what = "removal" if e.name.startswith(".tmp-del-") else "unpacking"
                    rep.findings.append(
                        Finding("temp", f"{LAYER_DIR}/{e.name}", f"layer of an interrupted {what}")
                    )

    def _blob_findings(self, rep: StoreReport, images: list[ImageRecord], quick: bool) -> set[str]:
        expect = _blob_expectations(images)
        corrupt: set[str] = set()
        for digest in sorted(self.blobs.list_blobs()):
            rep.checked_blobs += 1
            try:
                path = self.blobs.blob_path(digest)
            except PodpyError:
                rep.findings.append(Finding("corrupt-blob", digest, "file name is not a valid digest"))
                corrupt.add(digest)
                continue
            try:
                size = path.stat().st_size
            except OSError:
                continue
            if digest in expect and size != expect[digest]:
                rep.findings.append(
                    Finding(
                        "corrupt-blob",
                        digest,
                        f"{size} bytes, but the image's manifest says {expect[digest]}",
                    )
                )
                corrupt.add(digest)
                continue
            if not quick:
                algo, _, hexpart = digest.partition(":")
                try:
                    got, _ = hash_file(path, algo)
                except (OSError, ValueError) as e:
                    rep.findings.append(Finding("corrupt-blob", digest, f"unreadable: {e}"))
                    corrupt.add(digest)
                    continue
                if got != hexpart:
                    rep.findings.append(Finding("corrupt-blob", digest, f"content hashes to {algo}:{got}"))
                    corrupt.add(digest)
        return corrupt

    def _layer_findings(self, rep: StoreReport) -> set[str]:
        """The diff IDs of complete layers; incomplete ones become findings."""
        complete: set[str] = set()
        if not self.layers.dir.is_dir():
            return complete
        for p in sorted(self.layers.dir.iterdir()):
            if p.name.startswith("."):
                continue
            rep.checked_layers += 1
            try:
                meta = json.loads((p / "layer.json").read_text())
                ok = meta.get("diff_id") == f"sha256:{p.name}" and (p / "diff").is_dir()
            except (OSError, ValueError, AttributeError):
                ok = False
            if ok:
                complete.add(f"sha256:{p.name}")
            else:
                rep.findings.append(
                    Finding(
                        "incomplete-layer",
                        f"{LAYER_DIR}/{p.name}",
                        "layer dir without a valid layer.json or diff/",
                    )
                )
        return complete

    def check(
        self,
        *,
        quick: bool = False,
        repair: bool = False,
        keep_images: Iterable[str] = (),
        wait: float = 10.0,
    ) -> StoreReport:
        """Check (and with ``repair`` fix) the store; images in ``keep_images`` are never removed."""
        rep = StoreReport()
        if not self.root.exists():
            return rep
        with session.exclusive(self.lock_path, wait=wait) as got:
            if not got:
                raise StoreError(
                    f"the store {self.root} is busy (a pull, load or build is running): run the check when it is done"
                )
            self._check_locked(rep, quick, repair, set(keep_images))
        return rep

    def _check_locked(self, rep: StoreReport, quick: bool, repair: bool, keep: set[str]) -> None:
        db = self._db()
        images = db.all() if db is not None else []
        rep.checked_images = len(images)
        self._temps(rep)
        corrupt = self._blob_findings(rep, images, quick)
        layers = self._layer_findings(rep)
        present = set(self.blobs.list_blobs()) - corrupt
        for rec in images:
            missing = [d for d in _needed_blobs(rec) if d not in present]
            missing_layers = [layer.diff_id for layer in rec.layers if layer.diff_id not in layers]
            if missing or missing_layers:
                parts = []
                if missing:
                    parts.append("missing or corrupt blob(s) " + ", ".join(d[:19] for d in missing))
                if missing_layers:
                    parts.append("missing layer(s) " + ", ".join(d[:19] for d in missing_layers))
                name = rec.names[0] if rec.names else "<none>"
                rep.findings.append(Finding("damaged-image", rec.id, f"{name}: " + "; ".join(parts)))
                rep.damaged_images[rec.id] = rec
        if repair:
            self._repair_first(rep, corrupt, db, keep)
        referenced_blobs, referenced_layers = db.referenced() if db is not None else (set(), set())
        for d in sorted(set(self.blobs.list_blobs()) - referenced_blobs - corrupt):
            f = Finding("unreferenced-blob", d, "no image names it")
            rep.findings.append(f)
            if repair:
                self._do(f, lambda d=d: self.blobs.remove_blob(d))
        for d in sorted(layers - referenced_layers):
            f = Finding("orphan-layer", d, "no image uses it")
            rep.findings.append(f)
            if repair:
                self._do(f, lambda d=d: self.layers.remove_layer(d))

    @staticmethod
    def _do(f: Finding, action: object) -> None:
        try:
            action()  # type: ignore[operator]
            f.repaired = True
        except (OSError, PodpyError) as e:
            f.error = str(getattr(e, "message", e))

    def _repair_first(self, rep: StoreReport, corrupt: set[str], db: ImageDB | None, keep: set[str]) -> None:
        """Temps, corrupt blobs, incomplete layers, damaged images: before orphans are computed."""
        for f in rep.findings:
            if f.kind == "temp":
                self._do(f, lambda p=self.root / f.subject: rmtree_any(p))
            elif f.kind == "corrupt-blob" and f.subject in corrupt:
                self._do(
                    f,
                    lambda p=self.root / "blobs" / f.subject.replace(":", "/", 1): p.unlink(missing_ok=True),
                )
            elif f.kind == "incomplete-layer":
                self._do(f, lambda p=self.root / f.subject: rmtree_any(p))
            elif f.kind == "damaged-image" and db is not None:
                if f.subject in keep:
                    f.error = "in use by a container (use --force to remove the container too)"
                else:
                    self._do(f, lambda i=f.subject: db.remove(i, force=True))
