"""Manifests and indexes from a registry: parsed, validated, and the platform chosen from an index.

Everything here is untrusted input, so every descriptor is checked (digest syntax, size, media
type) before anything downloads what it points to. Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from podpy.spec import mediatypes as mt
from podpy.spec.digest import parse_digest
from podpy.spec.platform import Platform
from podpy.util.errors import InvalidInput

SCHEMA1_TYPES = (
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
)
CONFIG_TYPES = (mt.OCI_CONFIG, mt.DOCKER_CONFIG)
# what the client asks for, best first (schema 1 is never asked for)
ACCEPT = ", ".join((mt.OCI_INDEX, mt.DOCKER_MANIFEST_LIST, mt.OCI_MANIFEST, mt.DOCKER_MANIFEST))


@dataclass(frozen=True)
class Manifest:
    """Raw manifest bytes as served (the digest is over exactly these bytes)."""

    data: bytes
    media_type: str
    digest: str

    @property
    def is_index(self) -> bool:
        return self.media_type in mt.INDEXES

    def json(self) -> dict[str, Any]:
        return _load(self.data, self.digest)


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _load(data: bytes, what: str) -> dict[str, Any]:
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidInput(f"manifest {what} is not valid JSON: {e}") from e
    if not isinstance(doc, dict):
        raise InvalidInput(f"manifest {what} is not a JSON object")
    return doc


def detect_media_type(data: bytes, header_type: str | None, what: str = "") -> str:
    """The manifest's real media type: the ``mediaType`` field, else the Content-Type, else the shape.

    Refuses schema 1 and documents that are both an index and a manifest.
    """
    if len(data) > mt.MAX_MANIFEST_SIZE:
        raise InvalidInput(
            f"manifest {what} is {len(data)} bytes, over the {mt.MAX_MANIFEST_SIZE} byte limit"
        )
    doc = _load(data, what)
    header = (header_type or "").split(";")[0].strip()
    field = doc.get("mediaType")
    if field is not None and not isinstance(field, str):
        raise InvalidInput(f"manifest {what} has a non-string mediaType")
    if doc.get("schemaVersion") == 1 or field in SCHEMA1_TYPES or header in SCHEMA1_TYPES:
        raise InvalidInput(
            f"manifest {what} uses Docker schema 1, which podpy does not support: "
            "push the image again with a current tool (it writes schema 2 or OCI)"
        )
    if "layers" in doc and "manifests" in doc:
        raise InvalidInput(f"manifest {what} has both layers and manifests: refusing an ambiguous document")
    if field in mt.ALL_MANIFESTS:
        return field
    if header in mt.ALL_MANIFESTS and not field:
        return header
    if field:
        raise InvalidInput(f"manifest {what} has unsupported media type {field!r}")
    # OCI allows mediaType to be absent: decide by shape
    if "manifests" in doc:
        return mt.OCI_INDEX
    if "layers" in doc and "config" in doc:
        return mt.OCI_MANIFEST
    raise InvalidInput(f"manifest {what} has unsupported media type {header or 'unknown'!r}")


def validate_descriptor(d: Any, what: str, *, layer: bool = False) -> dict[str, Any]:
    """A descriptor whose digest, size and (for layers) media type can be trusted to name a blob."""
    if not isinstance(d, dict):
        raise InvalidInput(f"{what}: descriptor is not a JSON object")
    digest = d.get("digest")
    if not isinstance(digest, str):
        raise InvalidInput(f"{what}: descriptor has no digest")
    parse_digest(digest)
    size = d.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise InvalidInput(f"{what} {digest}: descriptor size {size!r} is not a non-negative integer")
    media = d.get("mediaType")
    if media is not None and not isinstance(media, str):
        raise InvalidInput(f"{what} {digest}: mediaType is not a string")
    if layer and media not in mt.LAYER_COMPRESSION:
        raise InvalidInput(
            f"{what} {digest}: unknown layer media type {media!r} (podpy can unpack tar, tar+gzip, tar+zstd)"
        )
    return d


def parse_image_manifest(data: bytes, media_type: str, what: str = "") -> dict[str, Any]:
    """An image manifest (OCI or Docker v2s2) with its config and layer descriptors validated."""
    if media_type not in mt.MANIFESTS:
        raise InvalidInput(f"manifest {what}: expected an image manifest, got {media_type}")
    doc = _load(data, what)
    if doc.get("schemaVersion") != 2:
        raise InvalidInput(f"manifest {what}: schemaVersion {doc.get('schemaVersion')!r} is not 2")
    if "manifests" in doc:
        raise InvalidInput(f"manifest {what} has both layers and manifests: refusing an ambiguous document")
    cfg = validate_descriptor(doc.get("config"), f"manifest {what} config")
    if cfg.get("mediaType") not in CONFIG_TYPES:
        raise InvalidInput(
            f"manifest {what}: config media type {cfg.get('mediaType')!r} is not an image config "
            "(artifacts are not images)"
        )
    if cfg["size"] > mt.MAX_CONFIG_SIZE:
        raise InvalidInput(
            f"image config {cfg['digest']} is {cfg['size']} bytes, over the {mt.MAX_CONFIG_SIZE} byte limit"
        )
    layers = doc.get("layers")
    if not isinstance(layers, list):
        raise InvalidInput(f"manifest {what}: layers is not a list")
    for i, layer in enumerate(layers):
        validate_descriptor(layer, f"manifest {what} layer {i}", layer=True)
    return doc


def parse_index(data: bytes, media_type: str, what: str = "") -> dict[str, Any]:
    """An OCI index or Docker manifest list with every entry's descriptor validated."""
    if media_type not in mt.INDEXES:
        raise InvalidInput(f"manifest {what}: expected an index, got {media_type}")
    doc = _load(data, what)
    if doc.get("schemaVersion") != 2:
        raise InvalidInput(f"index {what}: schemaVersion {doc.get('schemaVersion')!r} is not 2")
    if "layers" in doc:
        raise InvalidInput(f"manifest {what} has both layers and manifests: refusing an ambiguous document")
    entries = doc.get("manifests")
    if not isinstance(entries, list):
        raise InvalidInput(f"index {what}: manifests is not a list")
    for i, e in enumerate(entries):
        validate_descriptor(e, f"index {what} entry {i}")
    return doc


def entry_platform(entry: dict[str, Any]) -> Platform | None:
    p = entry.get("platform")
    if not isinstance(p, dict):
        return None
    os_, arch = p.get("os"), p.get("architecture")
    if not isinstance(os_, str) or not isinstance(arch, str) or not os_ or not arch or os_ == "unknown":
        return None
    variant = p.get("variant")
    return Platform(os_, arch, variant if isinstance(variant, str) else "").normalized()


_ARM_COMPAT = {"v8": ["v8", "v7", "v6", "v5"], "v7": ["v7", "v6", "v5"], "v6": ["v6", "v5"], "v5": ["v5"]}


def _variant_rank(wanted: Platform, got: Platform) -> int | None:
    """0 = exact match; higher = acceptable fallback; None = cannot run."""
    if wanted.os != got.os or wanted.architecture != got.architecture:
        return None
    if wanted.variant == got.variant:
        return 0
    if wanted.architecture == "arm":
        order = _ARM_COMPAT.get(wanted.variant, [wanted.variant])
        return order.index(got.variant) if got.variant in order else None
    if not wanted.variant:
        return 1  # no variant asked for: any variant of the architecture (exact preferred)
    return None


def select_platform(index: dict[str, Any], wanted: Platform, what: str = "") -> dict[str, Any]:
    """The index entry podman would pick for ``wanted``; InvalidInput listing the choices otherwise."""
    want = wanted.normalized()
    best: tuple[int, int] | None = None
    chosen: dict[str, Any] | None = None
    available: list[str] = []
    for i, entry in enumerate(index.get("manifests") or []):
        plat = entry_platform(entry)
        if plat is None or entry.get("mediaType") not in (*mt.MANIFESTS, None):
            continue
        available.append(str(plat))
        rank = _variant_rank(want, plat)
        if rank is not None and (best is None or (rank, i) < best):
            best, chosen = (rank, i), entry
    if chosen is None:
        where = f" {what}" if what else ""
        avail = ", ".join(dict.fromkeys(available)) or "none"
        raise InvalidInput(
            f"no image found in manifest list{where} for architecture {want.architecture!r}, "
            f"variant {want.variant!r}, OS {want.os!r} (available: {avail}); choose one with --platform"
        )
    return chosen
