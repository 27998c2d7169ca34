"""Content-addressed blobs, unpacked layers, image records and archives on disk.

On-disk layout of ``Store(root)`` (``root`` = ``Paths.storage``, e.g. ``~/.local/share/podpy/storage``)::

    root/
      blobs/sha256/<hex>        every blob (layer tarballs as downloaded, manifests, configs, indexes),
                                named by its digest, deduplicated across images, read-only (0444)
      overlay/<diffid-hex>/     one unpacked layer, keyed by its diff ID (sha256 of the uncompressed tar),
                                shared by every image that uses it
        diff/                   the layer in overlay form, usable directly as an overlay lowerdir:
                                whiteouts are 0/0 character devices, opaque dirs carry
                                ``user.overlay.opaque=y`` (and ``trusted.overlay.opaque=y`` when real root)
        layer.json              {"diff_id", "size" (uncompressed bytes), "summary" (dirs, implied dirs,
                                symlinks, whiteouts, opaque dirs: for the cross-layer symlink check)}
      overlay/.tmp-<hex>-<pid>-<rand>/  a layer being unpacked (or removed: ``.tmp-del-``)
      tmp/                      temp files of blobs being downloaded (``new_temp()``), same filesystem
      locks/layer-<hex>.lock    flock: one unpacker per layer, the others wait and reuse its result
      locks/store.lock          flock: shared by writers (``Store.session()``), exclusive for gc/cleanup
      images.db                 SQLite (WAL) image records: images, names, repo_digests, image_users

Who writes what, and why it survives ``kill -9`` at any instant:

* A blob appears by ``rename`` from ``tmp/`` after its digest and size were verified (by the caller
  while streaming, or by ``commit_blob``); blobs of 4 MiB or less and, by default, all blobs are
  fsynced first.
* A layer is extracted into ``overlay/.tmp-…/diff`` (never following a symlink from the image, see
  ``unpack.py``), its diff ID checked, ``layer.json`` written, then the dir renamed to
  ``overlay/<hex>``: a layer dir that exists is complete. File contents are not fsynced (as in
  containers/storage): a power loss, unlike a killed process, can leave torn file contents.
* An image record is inserted last, in one SQLite transaction, only when every blob and layer it
  names exists (checked inside the transaction) and its layers stack safely.
* Writers hold ``locks/store.lock`` shared for their whole session, so temp files and not yet
  recorded blobs/layers of a running pull are never taken by ``gc()`` or by the leftover cleanup,
  which need the lock exclusively. A killed writer leaves temp files, ``.tmp-`` dirs and unrecorded
  blobs/layers: the next ``Store`` open (when no writer is active) removes the temp files and dirs,
  the next pull reuses the committed blobs/layers, and ``gc()`` removes whatever no image names.

Layer files are owned by IDs of podpy's user namespace (the subuid range): unpacking, removing
layers and ``gc()`` must run inside that namespace.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not ``typing.TYPE_CHECKING``: importing typing costs the ``images`` path time
if TYPE_CHECKING:
    from typing import Any

    from podpy.store.images import ImageRecord, LayerRecord
    from podpy.store.layers import LayerInfo
    from podpy.store.store import Store

__all__ = ["ImageRecord", "LayerInfo", "LayerRecord", "Store"]

_LAZY = {
    "Store": "podpy.store.store",
    "LayerInfo": "podpy.store.layers",
    "ImageRecord": "podpy.store.images",
    "LayerRecord": "podpy.store.images",
}


def __getattr__(name: str) -> Any:
    """Import lazily so ``import podpy.store`` stays cheap for commands that never touch images."""
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(name)
    import importlib

    return getattr(importlib.import_module(mod), name)
