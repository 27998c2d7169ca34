"""`podpy pull` from a fake registry serving what a real registry will not store.

Blob bytes that do not match their digest, a manifest with both `layers` and `manifests`, a
manifest over 4 MiB (with and without Content-Length), digest strings that are path tricks or
upper-case hex, a truncated zstd layer, a config whose diff IDs lie. Every one of them is a
complete, otherwise pullable image, so a client that skips the check would succeed and the test
would fail.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest

from tests.system.badinput import storecheck
from tests.system.badinput.conftest import Refusal
from tests.system.badinput.fakereg import (
    OCI_INDEX,
    OCI_MANIFEST,
    FakeRegistry,
    Served,
    gzip_layer,
    host_arch,
    make_config,
    make_layer,
    make_manifest,
    sha256,
    tar_of,
)

FILES = {"etc/hello.txt": b"hello from a fake registry\n", "data/x.txt": b"x" * 3000}


def _short(digest: str) -> str:
    return digest.split(":", 1)[1][:12]


def _flip_last_byte(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 0xFF])


def test_layer_bytes_do_not_match_digest(fake_registry: FakeRegistry, refusal: Refusal) -> None:
    """The registry serves other bytes (same size) for the layer digest the manifest names."""
    la = make_layer(FILES)
    config = make_config([la.diff_id])
    fake_registry.add_blob(config)
    fake_registry.add_blob(_flip_last_byte(la.blob), digest=la.digest)
    fake_registry.add_manifest("bad/layer-digest", "latest", make_manifest(config, [la.descriptor()]))
    refusal.refuse(fake_registry.ref("bad/layer-digest"), (r"digest", _short(la.digest)))


def test_config_bytes_do_not_match_digest(fake_registry: FakeRegistry, refusal: Refusal) -> None:
    la = make_layer(FILES)
    config = make_config([la.diff_id])
    tampered = config.replace(b'"linux"', b'"LINUX"')
    assert tampered != config and len(tampered) == len(config)
    fake_registry.add_blob(la.blob)
    fake_registry.add_blob(tampered, digest=sha256(config))
    fake_registry.add_manifest("bad/config-digest", "latest", make_manifest(config, [la.descriptor()]))
    refusal.refuse(fake_registry.ref("bad/config-digest"), (r"digest", _short(sha256(config))))


def test_manifest_bytes_do_not_match_pulled_digest(fake_registry: FakeRegistry, refusal: Refusal) -> None:
    """Pull REPO@sha256:X; the registry answers (and even labels as X) a different manifest."""
    la = make_layer(FILES)
    config = make_config([la.diff_id])
    fake_registry.add_blob(config)
    fake_registry.add_blob(la.blob)
    good = make_manifest(config, [la.descriptor()], annotations={"x": "a"})
    evil = make_manifest(config, [la.descriptor()], annotations={"x": "b"})
    digest = sha256(good)
    fake_registry.manifests[("bad/manifest-digest", digest)] = Served(evil, OCI_MANIFEST, True, digest)
    refusal.refuse(f"{fake_registry.host}/bad/manifest-digest@{digest}", (r"digest", _short(digest)))


def _entry(digest: str, size: int) -> dict[str, Any]:
    """An index entry for an image manifest of this host's platform."""
    platform = {"os": "linux", "architecture": host_arch()}
    return {"mediaType": OCI_MANIFEST, "digest": digest, "size": size, "platform": platform}


def _good_image(reg: FakeRegistry, repo: str) -> tuple[bytes, list[dict[str, Any]], bytes]:
    """Serve a valid image under ``repo`` (by digest); returns (config, layer descriptors, its manifest)."""
    la = make_layer(FILES)
    config = make_config([la.diff_id])
    reg.add_blob(config)
    reg.add_blob(la.blob)
    manifest = make_manifest(config, [la.descriptor()])
    reg.add_manifest(repo, "inner", manifest)
    return config, [la.descriptor()], manifest


@pytest.mark.parametrize("served_as", [OCI_MANIFEST, OCI_INDEX], ids=["as-manifest", "as-index"])
def test_manifest_with_layers_and_manifests(
    served_as: str, fake_registry: FakeRegistry, refusal: Refusal
) -> None:
    """One document that is both an image manifest and an index is ambiguous: refuse it."""
    repo = "bad/both"
    config, layers, inner = _good_image(fake_registry, repo)
    doc = {
        "schemaVersion": 2,
        "mediaType": served_as,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": sha256(config),
            "size": len(config),
        },
        "layers": layers,
        "manifests": [_entry(sha256(inner), len(inner))],
    }
    fake_registry.add_manifest(repo, "latest", json.dumps(doc).encode(), served_as)
    refusal.refuse(fake_registry.ref(repo), (r"layers", r"manifests"))


@pytest.mark.parametrize("content_length", [True, False], ids=["with-content-length", "no-content-length"])
def test_manifest_over_4mib(content_length: bool, fake_registry: FakeRegistry, refusal: Refusal) -> None:
    """A 5 MiB manifest is refused at the 4 MiB cap, also when the server does not announce its size."""
    la = make_layer(FILES)
    config = make_config([la.diff_id])
    fake_registry.add_blob(config)
    fake_registry.add_blob(la.blob)
    big = make_manifest(config, [la.descriptor()], annotations={"pad": "x" * (5 * 1024 * 1024)})
    fake_registry.add_manifest("bad/big-manifest", "latest", big, content_length=content_length)
    refusal.refuse(fake_registry.ref("bad/big-manifest"), (r"manifest", r"4 ?MiB|4194304"))


def test_index_over_4mib(fake_registry: FakeRegistry, refusal: Refusal) -> None:
    """An index is capped like a manifest: a 5 MiB one (valid entry for this host) is refused."""
    _config, _layers, inner = _good_image(fake_registry, "bad/big-index")
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [_entry(sha256(inner), len(inner))],
        "annotations": {"pad": "x" * (5 * 1024 * 1024)},
    }
    fake_registry.add_manifest("bad/big-index", "latest", json.dumps(index).encode(), OCI_INDEX)
    refusal.refuse(fake_registry.ref("bad/big-index"), (r"manifest|index", r"4 ?MiB|4194304"))


BAD_DIGESTS = {
    "dotdot": lambda real: "sha256:../x",
    "dotdot-deep": lambda real: "sha256:../../../../../../../../tmp/pwned.txt",
    "uppercase": lambda real: real.upper().replace("SHA256:", "sha256:"),
}


@pytest.mark.parametrize("bad", sorted(BAD_DIGESTS))
@pytest.mark.parametrize("where", ["layer", "config", "index-entry"])
def test_invalid_digest_string(where: str, bad: str, fake_registry: FakeRegistry, refusal: Refusal) -> None:
    """A digest that is a path trick or upper-case hex never becomes a file name: refused, named."""
    repo = f"bad/digest-{where}-{bad}"
    la = make_layer(FILES)
    config = make_config([la.diff_id])
    fake_registry.add_blob(config)
    fake_registry.add_blob(la.blob)
    if where == "layer":
        wrong = BAD_DIGESTS[bad](la.digest)
        fake_registry.add_blob(la.blob, digest=wrong)
        manifest = make_manifest(config, [la.descriptor(digest=wrong)])
        fake_registry.add_manifest(repo, "latest", manifest)
    elif where == "config":
        wrong = BAD_DIGESTS[bad](sha256(config))
        fake_registry.add_blob(config, digest=wrong)
        manifest = json.loads(make_manifest(config, [la.descriptor()]))
        manifest["config"]["digest"] = wrong
        fake_registry.add_manifest(repo, "latest", json.dumps(manifest).encode())
    else:
        manifest = make_manifest(config, [la.descriptor()])
        wrong = BAD_DIGESTS[bad](sha256(manifest))
        fake_registry.add_manifest(repo, wrong, manifest)
        index = {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [_entry(wrong, len(manifest))],
        }
        fake_registry.add_manifest(repo, "latest", json.dumps(index).encode(), OCI_INDEX)
    refusal.refuse(fake_registry.ref(repo), (r"digest", r"invalid|malformed|unsupported|lower|upper"))


def test_truncated_zstd_layer(fake_registry: FakeRegistry, refusal: Refusal) -> None:
    """A zstd layer cut in half (its digest matches the cut bytes, so only decompression notices)."""
    la = make_layer({**FILES, "data/big.bin": bytes(range(256)) * 400}, compression="zstd")
    cut = la.blob[: len(la.blob) // 2]
    config = make_config([la.diff_id])
    fake_registry.add_blob(config)
    fake_registry.add_blob(cut)
    desc = la.descriptor(digest=sha256(cut), size=len(cut))
    fake_registry.add_manifest("bad/truncated-zstd", "latest", make_manifest(config, [desc]))
    refusal.refuse(
        fake_registry.ref("bad/truncated-zstd"),
        (r"zstd|decompress", r"truncat|unexpected end|end of (data|stream|file|input)|incomplete"),
    )


def test_config_diff_id_does_not_match_layer(fake_registry: FakeRegistry, refusal: Refusal) -> None:
    """The config's rootfs.diff_ids name another uncompressed digest than the layer has."""
    la = make_layer(FILES)
    other = make_layer({"etc/other.txt": b"other\n"})
    config = make_config([other.diff_id])
    fake_registry.add_blob(config)
    fake_registry.add_blob(la.blob)
    fake_registry.add_manifest("bad/diff-id", "latest", make_manifest(config, [la.descriptor()]))
    refusal.refuse(fake_registry.ref("bad/diff-id"), (r"diff ?id|uncompressed",))


def test_layer_count_does_not_match_diff_ids(fake_registry: FakeRegistry, refusal: Refusal) -> None:
    """Two layers in the manifest, one diff ID in the config: refused before anything is stored."""
    la = make_layer(FILES)
    lb = make_layer({"etc/b.txt": b"b\n"})
    config = make_config([la.diff_id])
    fake_registry.add_blob(config)
    fake_registry.add_blob(la.blob)
    fake_registry.add_blob(lb.blob)
    fake_registry.add_manifest(
        "bad/layer-count", "latest", make_manifest(config, [la.descriptor(), lb.descriptor()])
    )
    refusal.refuse(
        fake_registry.ref("bad/layer-count"), (r"layer|diff ?id", r"\b2\b|\b1\b|count|number|match")
    )


def test_failed_pull_keeps_shared_layer_of_existing_image(
    testenv: dict[str, Any], fake_registry: FakeRegistry, refusal: Refusal
) -> None:
    """busybox is in the store; a bad image sharing its layer fails; busybox stays whole, nothing else stays."""
    bb = testenv["images"]["busybox"]
    ok = refusal.pull("--tls-verify=false", bb["ref"])
    assert ok.returncode == 0, f"podpy pull {bb['ref']} failed: {ok.stderr}"
    (bbl,) = bb["layers"]
    url = f"{testenv['registries'][bb['registry']]['url']}/v2/{bb['repository']}/blobs/{bbl['digest']}"
    with urllib.request.urlopen(url, timeout=30) as r:
        bb_blob = r.read()
    assert sha256(bb_blob) == bbl["digest"]
    bad = make_layer({"etc/bad.txt": b"bad\n"})
    config = make_config([bbl["diff_id"], bad.diff_id])
    fake_registry.add_blob(config)
    fake_registry.add_blob(bb_blob)
    fake_registry.add_blob(_flip_last_byte(bad.blob), digest=bad.digest)
    descs = [
        {
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": bbl["digest"],
            "size": bbl["size"],
        },
        bad.descriptor(),
    ]
    fake_registry.add_manifest("bad/shares-busybox", "latest", make_manifest(config, descs))
    refusal.refuse(fake_registry.ref("bad/shares-busybox"), (r"digest", _short(bad.digest)), init=False)
    # and busybox is still usable: its blobs and its layer are all there
    blobs = set(storecheck.blob_files(refusal.root))
    assert storecheck.expected_blobs(bb) <= blobs, (
        f"busybox blobs lost: {storecheck.expected_blobs(bb) - blobs}"
    )
    assert storecheck.expected_layers(bb) <= set(storecheck.layer_dirs(refusal.root))
    proc = refusal.cli("image", "inspect", bb["ref"])
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("delta", [-10, 10], ids=["too-small", "too-big"])
@pytest.mark.parametrize("where", ["config", "index-entry"])
def test_descriptor_size_lie_not_a_layer(
    where: str, delta: int, fake_registry: FakeRegistry, refusal: Refusal
) -> None:
    """The config's or the index entry's descriptor size is off by 10 bytes (the real registry's evil
    images cover layers): refused, the error names the size podpy was told."""
    repo = f"bad/size-{where}-{'small' if delta < 0 else 'big'}"
    la = make_layer(FILES)
    config = make_config([la.diff_id])
    fake_registry.add_blob(config)
    fake_registry.add_blob(la.blob)
    manifest = json.loads(make_manifest(config, [la.descriptor()]))
    if where == "config":
        lie = len(config) + delta
        manifest["config"]["size"] = lie
        fake_registry.add_manifest(repo, "latest", json.dumps(manifest).encode())
    else:
        inner = json.dumps(manifest).encode()
        fake_registry.add_manifest(repo, "inner", inner)
        lie = len(inner) + delta
        index = {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [_entry(sha256(inner), lie)],
        }
        fake_registry.add_manifest(repo, "latest", json.dumps(index).encode(), OCI_INDEX)
    refusal.refuse(fake_registry.ref(repo), (r"size", rf"\b{lie}\b"))


# Two-layer link attacks the real registry's evil images do not cover: layer 1 plants a link, layer 2
# uses it. (kind, name, payload) entries as fakereg.tar_of takes them; the error must name the path.
LINK_ATTACKS: dict[
    str, tuple[list[tuple[str, str, bytes | str]], list[tuple[str, str, bytes | str]], str]
] = {
    # a relative symlink climbing out of the rootfs, written through in the next layer
    "relative-symlink-lower": (
        [("dir", "data", b""), ("symlink", "data/up", "../../../../../../tmp")],
        [("dir", "data", b""), ("file", "data/up/pwned.txt", b"pwned\n")],
        r"data/up|pwned\.txt",
    ),
    # a directory created through the planted symlink (not just a file)
    "mkdir-through-lower-symlink": (
        [("dir", "data", b""), ("symlink", "data/a", "/tmp")],
        [("dir", "data", b""), ("dir", "data/a/sub", b""), ("file", "data/a/sub/pwned.txt", b"pwned\n")],
        r"data/a",
    ),
    # a hard link whose target path goes through a symlink of the lower layer to a host file
    "hardlink-through-lower-symlink": (
        [("dir", "data", b""), ("symlink", "data/etc", "/etc")],
        [("dir", "data", b""), ("hardlink", "data/hl", "data/etc/passwd")],
        r"data/etc|data/hl|passwd",
    ),
}


@pytest.mark.parametrize("attack", sorted(LINK_ATTACKS))
def test_link_planted_in_lower_layer_used_in_upper(
    attack: str, fake_registry: FakeRegistry, refusal: Refusal
) -> None:
    lower, upper, names = LINK_ATTACKS[attack]
    layers = [gzip_layer(tar_of(lower)), gzip_layer(tar_of(upper))]
    img = fake_registry.add_image(f"bad/{attack}", "latest", layers)
    refusal.refuse(img["ref"], (names, r"symlink|hard ?link|escap|outside"))


def test_link_attack_control_pulls(fake_registry: FakeRegistry, refusal: Refusal) -> None:
    """The same two layers with a harmless symlink pull fine: the refusals are about the attack."""
    lower = [("dir", "data", b""), ("symlink", "data/up", "sub"), ("dir", "data/sub", b"")]
    upper: list[tuple[str, str, bytes | str]] = [("dir", "data", b""), ("file", "data/sub/ok.txt", b"ok\n")]
    img = fake_registry.add_image(
        "ok/links", "latest", [gzip_layer(tar_of(lower)), gzip_layer(tar_of(upper))]
    )
    proc = refusal.pull("--tls-verify=false", img["ref"])
    assert proc.returncode == 0, proc.stderr
