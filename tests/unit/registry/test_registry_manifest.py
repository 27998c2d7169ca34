"""Manifest/index validation and platform choice (pure; the bytes are what a registry might send)."""

from __future__ import annotations

import json

import pytest

from podpy.registry.manifest import (
    detect_media_type,
    parse_image_manifest,
    parse_index,
    select_platform,
)
from podpy.spec import mediatypes as mt
from podpy.spec.platform import Platform, parse_platform
from podpy.util.errors import InvalidInput

D1, D2, D3 = ("sha256:" + c * 64 for c in "123")


def manifest(layers: list[dict] | None = None, **extra: object) -> bytes:
    doc = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {"mediaType": mt.OCI_CONFIG, "digest": D1, "size": 10},
        "layers": layers
        if layers is not None
        else [{"mediaType": mt.OCI_LAYER_GZIP, "digest": D2, "size": 5}],
    }
    doc.update(extra)
    return json.dumps(doc).encode()


def index(*plats: tuple[str, str, str]) -> dict:
    entries = []
    for os_, arch, variant in plats:
        p = {"os": os_, "architecture": arch}
        if variant:
            p["variant"] = variant
        entries.append({"mediaType": mt.OCI_MANIFEST, "digest": D3, "size": 1, "platform": p})
    return {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": entries}


def test_detects_types() -> None:
    assert detect_media_type(manifest(), None) == mt.OCI_MANIFEST
    doc = json.loads(manifest())
    del doc["mediaType"]
    assert detect_media_type(json.dumps(doc).encode(), "application/json") == mt.OCI_MANIFEST
    assert detect_media_type(json.dumps(index()).encode(), None) == mt.OCI_INDEX
    v2 = json.dumps({"schemaVersion": 2, "mediaType": mt.DOCKER_MANIFEST_LIST, "manifests": []}).encode()
    assert detect_media_type(v2, mt.DOCKER_MANIFEST_LIST) == mt.DOCKER_MANIFEST_LIST


def test_rejects_ambiguous_and_schema1_and_garbage() -> None:
    with pytest.raises(InvalidInput, match="both layers and manifests"):
        detect_media_type(manifest(manifests=[]), None)
    with pytest.raises(InvalidInput, match="schema 1"):
        detect_media_type(json.dumps({"schemaVersion": 1, "fsLayers": []}).encode(), None)
    with pytest.raises(InvalidInput, match="not valid JSON"):
        detect_media_type(b"{nope", None)
    with pytest.raises(InvalidInput, match="byte limit"):
        detect_media_type(b" " * (mt.MAX_MANIFEST_SIZE + 1), None)
    with pytest.raises(InvalidInput, match="unsupported media type"):
        detect_media_type(json.dumps({"schemaVersion": 2, "mediaType": "text/plain"}).encode(), None)


def test_parse_manifest_validates_descriptors() -> None:
    doc = parse_image_manifest(manifest(), mt.OCI_MANIFEST)
    assert doc["config"]["digest"] == D1
    bad = [
        ({"mediaType": "application/x-unknown", "digest": D2, "size": 5}, "unknown layer media type"),
        ({"mediaType": mt.OCI_LAYER, "digest": "sha256:../x", "size": 5}, "invalid digest"),
        ({"mediaType": mt.OCI_LAYER, "digest": "sha256:" + "A" * 64, "size": 5}, "invalid digest"),
        ({"mediaType": mt.OCI_LAYER, "digest": D2, "size": -1}, "non-negative"),
        ({"mediaType": mt.OCI_LAYER, "digest": D2, "size": "5"}, "non-negative"),
        ({"mediaType": mt.OCI_LAYER, "size": 5}, "no digest"),
    ]
    for layer, msg in bad:
        with pytest.raises(InvalidInput, match=msg):
            parse_image_manifest(manifest([layer]), mt.OCI_MANIFEST)
    big = json.loads(manifest())
    big["config"]["size"] = mt.MAX_CONFIG_SIZE + 1
    with pytest.raises(InvalidInput, match="byte limit"):
        parse_image_manifest(json.dumps(big).encode(), mt.OCI_MANIFEST)
    art = json.loads(manifest())
    art["config"]["mediaType"] = "application/vnd.example+json"
    with pytest.raises(InvalidInput, match="not an image config"):
        parse_image_manifest(json.dumps(art).encode(), mt.OCI_MANIFEST)


def test_parse_index() -> None:
    doc = parse_index(json.dumps(index(("linux", "amd64", ""))).encode(), mt.OCI_INDEX)
    assert len(doc["manifests"]) == 1
    bad = index(("linux", "amd64", ""))
    bad["manifests"][0]["digest"] = "md5:abc"
    with pytest.raises(InvalidInput):
        parse_index(json.dumps(bad).encode(), mt.OCI_INDEX)


def test_select_platform_like_podman() -> None:
    idx = index(
        ("linux", "amd64", ""), ("linux", "arm64", "v8"), ("linux", "arm", "v6"), ("unknown", "unknown", "")
    )
    assert select_platform(idx, parse_platform("linux/amd64"))["platform"]["architecture"] == "amd64"
    # arm64 defaults to v8 on both sides
    assert select_platform(idx, Platform("linux", "arm64"))["platform"]["architecture"] == "arm64"
    assert select_platform(idx, parse_platform("linux/arm64/v8"))["platform"]["variant"] == "v8"
    assert select_platform(idx, Platform("linux", "aarch64"))["platform"]["architecture"] == "arm64"
    # an armv7 machine runs v6 images
    assert select_platform(idx, parse_platform("linux/arm/v7"))["platform"]["variant"] == "v6"
    with pytest.raises(InvalidInput) as e:
        select_platform(idx, parse_platform("linux/riscv64"))
    msg = e.value.message
    assert "riscv64" in msg and "linux/amd64, linux/arm64/v8, linux/arm/v6" in msg
    assert "unknown" not in msg.split("available")[1]


def test_select_prefers_exact_variant() -> None:
    idx = index(("linux", "arm", "v6"), ("linux", "arm", "v7"))
    assert select_platform(idx, parse_platform("linux/arm/v7"))["platform"]["variant"] == "v7"
    with pytest.raises(InvalidInput):
        select_platform(idx, parse_platform("linux/arm/v5"))
