"""Synthetic images written straight into a store (no registry), for engine and CLI unit tests."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from podpy.spec.mediatypes import OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST
from podpy.util.paths import Paths


def _layer(files: dict[str, bytes]) -> tuple[bytes, str]:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mtime = 1_700_000_000
            tf.addfile(ti, io.BytesIO(data))
    raw = buf.getvalue()
    return gzip.compress(raw, mtime=0), "sha256:" + hashlib.sha256(raw).hexdigest()


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    return Paths(root=tmp_path / "root", runroot=tmp_path / "run")


MakeImage = Callable[..., str]


@pytest.fixture
def make_image(paths: Paths) -> MakeImage:
    """make_image(names, layers=[{path: bytes}], labels=, created=, history=) -> image ID."""
    from podpy.store.images import LayerRecord
    from podpy.store.store import Store

    def make(
        names: list[str],
        layers: list[dict[str, bytes]] | None = None,
        labels: dict[str, str] | None = None,
        created: str = "2023-11-14T22:13:20Z",
        history: list[dict[str, Any]] | None = None,
        extra_config: dict[str, Any] | None = None,
    ) -> str:
        store = Store(paths.storage)
        layers = layers if layers is not None else [{"etc/hello": b"hi\n"}]
        recs = []
        diff_ids = []
        for files in layers:
            blob, diff_id = _layer(files)
            digest = store.put_blob_bytes(blob)
            store.unpack_layer(store.blob_path(digest), OCI_LAYER_GZIP, diff_id)
            recs.append(LayerRecord(digest, diff_id, OCI_LAYER_GZIP, len(blob)))
            diff_ids.append(diff_id)
        cfg: dict[str, Any] = {
            "created": created,
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["sh"], **({"Labels": labels} if labels else {}), **(extra_config or {})},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": history
            if history is not None
            else [
                {"created": created, "created_by": f"/bin/sh -c #(nop) ADD layer{i}"}
                for i in range(len(layers))
            ],
        }
        cfg_bytes = json.dumps(cfg).encode()
        cfg_digest = store.put_blob_bytes(cfg_bytes)
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": cfg_digest, "size": len(cfg_bytes)},
            "layers": [{"mediaType": r.media_type, "digest": r.digest, "size": r.size} for r in recs],
        }
        m_digest = store.put_blob_bytes(json.dumps(manifest).encode())
        rec = store.add_image(
            config_digest=cfg_digest,
            manifest_digest=m_digest,
            manifest_media_type=OCI_MANIFEST,
            layers=recs,
            names=names,
            repo_digests=[],
        )
        return rec.id

    return make
