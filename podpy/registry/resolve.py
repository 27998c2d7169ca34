"""From a reference to everything a pull needs before downloading layers: manifest, config, layer list.

An index is followed to the platform's manifest (whose digest the index pins); the config is fetched
capped and digest-verified. The image ID is the config digest's hex, as in podman.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from podpy.registry.client import RegistryClient
from podpy.registry.manifest import Manifest, parse_image_manifest, parse_index, select_platform
from podpy.spec.mediatypes import MANIFESTS, MAX_CONFIG_SIZE
from podpy.spec.platform import Platform
from podpy.spec.reference import ImageReference
from podpy.util.errors import InvalidInput


@dataclass(frozen=True)
class ResolvedImage:
    ref: ImageReference
    manifest: Manifest
    index_digest: str | None
    config: bytes
    config_descriptor: dict[str, Any]
    layers: list[dict[str, Any]]
    index_data: bytes | None = field(default=None, repr=False)

    @property
    def image_id(self) -> str:
        return str(self.config_descriptor["digest"]).split(":", 1)[1]


def resolve_image(client: RegistryClient, ref: ImageReference, platform: Platform) -> ResolvedImage:
    top = client.get_manifest(ref)
    index_digest: str | None = None
    index_data: bytes | None = None
    manifest = top
    if top.is_index:
        index = parse_index(top.data, top.media_type, str(ref))
        try:
            entry = select_platform(index, platform, str(ref))
        except InvalidInput as e:
            raise InvalidInput(f"choosing an image from manifest list {ref}: {e.message}") from e
        if entry.get("mediaType") not in (*MANIFESTS, None):
            raise InvalidInput(f"index {ref}: entry {entry['digest']} is not an image manifest")
        index_digest, index_data = top.digest, top.data
        manifest = client.get_manifest(replace(ref, digest=entry["digest"]))
        if len(manifest.data) != int(entry["size"]):
            raise InvalidInput(
                f"manifest {entry['digest']}: the registry sends {len(manifest.data)} bytes but the index says "
                f"{entry['size']}: refusing a manifest whose size does not match its descriptor"
            )
        if manifest.is_index:
            raise InvalidInput(f"index {ref}: entry {entry['digest']} is an index, not an image manifest")
    doc = parse_image_manifest(manifest.data, manifest.media_type, str(ref))
    cfg_desc = doc["config"]
    config = client.fetch_blob_bytes(ref, cfg_desc, MAX_CONFIG_SIZE)
    return ResolvedImage(
        ref=ref,
        manifest=manifest,
        index_digest=index_digest,
        config=config,
        config_descriptor=cfg_desc,
        layers=list(doc["layers"]),
        index_data=index_data,
    )
