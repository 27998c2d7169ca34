"""The client against the real docker-registry instances: pull, auth, token reuse, errors, push."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from podpy.registry.client import RegistryUnavailable
from podpy.registry.manifest import sha256_digest
from podpy.registry.resolve import resolve_image
from podpy.spec import mediatypes as mt
from podpy.spec.platform import parse_platform
from podpy.spec.reference import parse_reference
from podpy.util.errors import AuthError, InvalidInput, RegistryError


def _img(testenv: dict[str, Any], name: str) -> dict[str, Any]:
    return testenv["images"][name]


@pytest.mark.parametrize("name", ["busybox", "busybox-oci"])
def test_resolve_single_platform(testenv: dict[str, Any], make_client, tmp_path: Path, name: str) -> None:  # type: ignore[no-untyped-def]
    img = _img(testenv, name)
    c = make_client()
    res = resolve_image(c, parse_reference(img["ref"]), parse_platform("linux/amd64"))
    assert res.manifest.digest == img["manifest_digest"]
    assert res.manifest.media_type == img["manifest_media_type"]
    assert res.image_id == img["image_id"]
    assert res.index_digest is None
    assert [d["digest"] for d in res.layers] == [d["digest"] for d in img["layers"]]
    dest = tmp_path / "blob"
    seen: list[int] = []
    c.fetch_blob(res.ref, res.layers[0], dest, seen.append)
    assert "sha256:" + hashlib.sha256(dest.read_bytes()).hexdigest() == img["layers"][0]["digest"]
    assert sum(seen) == img["layers"][0]["size"]


@pytest.mark.parametrize("name", ["multiarch-oci", "multiarch-v2s2"])
@pytest.mark.parametrize("plat", ["linux/amd64", "linux/arm64", "linux/arm64/v8"])
def test_resolve_index(testenv: dict[str, Any], make_client, name: str, plat: str) -> None:  # type: ignore[no-untyped-def]
    img = _img(testenv, name)
    want = next(p for p in img["platforms"] if p["marker"].startswith(plat))
    res = resolve_image(make_client(), parse_reference(img["ref"]), parse_platform(plat))
    assert res.index_digest == img["manifest_digest"]
    assert res.index_data is not None and sha256_digest(res.index_data) == img["manifest_digest"]
    assert res.manifest.digest == want["manifest_digest"]
    assert res.image_id == want["image_id"]


def test_unknown_platform_lists_available(testenv: dict[str, Any], make_client) -> None:  # type: ignore[no-untyped-def]
    img = _img(testenv, "multiarch-oci")
    with pytest.raises(InvalidInput) as e:
        resolve_image(make_client(), parse_reference(img["ref"]), parse_platform("linux/riscv64"))
    assert "riscv64" in e.value.message and "available: linux/amd64, linux/arm64/v8" in e.value.message


def test_pull_by_digest(testenv: dict[str, Any], make_client) -> None:  # type: ignore[no-untyped-def]
    img = _img(testenv, "busybox")
    m = make_client().get_manifest(parse_reference(img["digest_ref"]))
    assert m.digest == img["manifest_digest"]


def test_list_tags(testenv: dict[str, Any], make_client) -> None:  # type: ignore[no-untyped-def]
    tags = make_client().list_tags(parse_reference("127.0.0.1:5000/multiarch"))
    assert {"latest", "list"} <= set(tags)


def test_manifest_unknown(testenv: dict[str, Any], make_client) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RegistryError, match="manifest unknown") as e:
        make_client().get_manifest(parse_reference("127.0.0.1:5000/busybox:no-such-tag"))
    assert "127.0.0.1:5000/busybox" in e.value.message


def test_unreachable_registry(make_client) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RegistryError) as e:
        make_client(retry=1).get_manifest(parse_reference("127.0.0.1:5999/busybox"))
    assert isinstance(e.value, RegistryUnavailable)  # transient: a caller may retry the operation
    assert e.value.message == (
        'pinging container registry 127.0.0.1:5999: Get "http://127.0.0.1:5999/v2/": '
        "dial tcp 127.0.0.1:5999: connect: connection refused"
    )


def test_plain_http_needs_tls_verify_false(testenv: dict[str, Any], make_client, conf_file) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RegistryError, match="--tls-verify=false"):
        make_client(tls_verify=None).get_manifest(parse_reference(_img(testenv, "busybox")["ref"]))
    conf = conf_file('[[registry]]\nlocation = "127.0.0.1:5000"\ninsecure = true\n')
    m = make_client(conf, tls_verify=None).get_manifest(parse_reference(_img(testenv, "busybox")["ref"]))
    assert m.digest == _img(testenv, "busybox")["manifest_digest"]


def test_basic_auth(testenv: dict[str, Any], make_client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    reg = testenv["registries"]["basic"]
    ref = parse_reference(f"{reg['host']}/busybox")
    with pytest.raises(AuthError, match="podpy login 127.0.0.1:5001"):
        make_client().get_manifest(ref)
    with pytest.raises(AuthError, match="check your credentials"):
        make_client(creds=(reg["username"], "wrong")).get_manifest(ref)
    assert (
        make_client(creds=(reg["username"], reg["password"])).get_manifest(ref).digest.startswith("sha256:")
    )
    assert make_client(creds=f"{reg['username']}:{reg['password']}").list_tags(ref) == ["latest"]
    # credentials from the auth file (REGISTRY_AUTH_FILE points into tmp_path)
    from podpy.registry import auth

    auth.set_credentials(reg["host"], reg["username"], reg["password"])
    assert make_client().list_tags(ref) == ["latest"]


def test_check_login(testenv: dict[str, Any], make_client) -> None:  # type: ignore[no-untyped-def]
    for key in ("basic", "token"):
        reg = testenv["registries"][key]
        make_client(creds=(reg["username"], reg["password"])).check_login(reg["host"])
        with pytest.raises(AuthError, match="invalid username/password"):
            make_client(creds=(reg["username"], "nope")).check_login(reg["host"])


def test_bearer_anonymous_and_token_reuse(
    testenv: dict[str, Any], make_client, token_issuer, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    reg = testenv["registries"]["token"]
    public = parse_reference(f"{reg['host']}/public/busybox")
    token_issuer.reset()
    c = make_client()
    res = resolve_image(c, public, parse_platform("linux/amd64"))
    for i, layer in enumerate(res.layers):
        c.fetch_blob(res.ref, layer, tmp_path / f"l{i}")
    c.list_tags(public)
    stats = token_issuer.stats()
    assert stats["requests"] == 1, stats  # manifest, config, blobs and tags all used one token
    private = parse_reference(f"{reg['host']}/private/busybox")
    with pytest.raises(AuthError, match="requested access to the resource is denied"):
        make_client().get_manifest(private)


def test_bearer_with_credentials(testenv: dict[str, Any], make_client, token_issuer) -> None:  # type: ignore[no-untyped-def]
    reg = testenv["registries"]["token"]
    private = parse_reference(f"{reg['host']}/private/busybox")
    c = make_client(creds=(reg["username"], reg["password"]))
    token_issuer.reset()
    resolve_image(c, private, parse_platform("linux/amd64"))
    c.get_manifest(private)
    assert token_issuer.stats()["requests"] == 1
    with pytest.raises(AuthError, match="invalid username/password"):
        make_client(creds=(reg["username"], "bad")).get_manifest(private)


def test_mirror_falls_back_to_primary(testenv: dict[str, Any], make_client, conf_file) -> None:  # type: ignore[no-untyped-def]
    conf = conf_file(
        '[[registry]]\nprefix = "mirrored.example/app"\nlocation = "127.0.0.1:5000/busybox"\ninsecure = true\n'
        '[[registry.mirror]]\nlocation = "127.0.0.1:5999/dead"\ninsecure = true\n'
    )
    c = make_client(conf, tls_verify=None, retry=0)
    m = c.get_manifest(parse_reference("mirrored.example/app:latest"))
    assert m.digest == _img(testenv, "busybox")["manifest_digest"]


def test_blocked_registry(make_client, conf_file) -> None:  # type: ignore[no-untyped-def]
    conf = conf_file('[[registry]]\nlocation = "127.0.0.1:5000"\nblocked = true\n')
    with pytest.raises(RegistryError, match="blocked"):
        make_client(conf).get_manifest(parse_reference("127.0.0.1:5000/busybox"))


# -- push --------------------------------------------------------------------------------------


def _push_image(c, repo: str, tmp_path: Path, layer: bytes, mount_from=None) -> tuple[str, list[str]]:  # type: ignore[no-untyped-def]
    cfg = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]},
        }
    ).encode()
    blobs = []
    for data in (layer, cfg):
        p = tmp_path / hashlib.sha256(data).hexdigest()
        p.write_bytes(data)
        d = "sha256:" + p.name
        blobs.append(c.push_blob(parse_reference(repo), d, len(data), p, mount_from=mount_from))
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "config": {"mediaType": mt.OCI_CONFIG, "digest": sha256_digest(cfg), "size": len(cfg)},
            "layers": [{"mediaType": mt.OCI_LAYER, "digest": sha256_digest(layer), "size": len(layer)}],
        }
    ).encode()
    return c.put_manifest(parse_reference(repo), manifest, mt.OCI_MANIFEST), blobs


def _skopeo_digest(ref: str, *extra: str) -> str:
    out = subprocess.run(
        ["skopeo", "inspect", "--tls-verify=false", *extra, "--raw", f"docker://{ref}"],
        check=True,
        capture_output=True,
        timeout=60,
    ).stdout
    return sha256_digest(out)


def test_push_monolithic_chunked_mount_and_skopeo_reads_it(make_client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    c = make_client()
    c.monolithic_limit = 64 * 1024
    c.chunk_size = 50 * 1024
    repo = f"127.0.0.1:5000/h2test/{uuid.uuid4().hex[:10]}"
    layer = os.urandom(180 * 1024)  # over the limit: 4 PATCH chunks
    digest, how = _push_image(c, f"{repo}:v1", tmp_path, layer)
    assert how == ["uploaded", "uploaded"]
    assert _skopeo_digest(f"{repo}:v1") == digest
    got = make_client().get_manifest(parse_reference(f"{repo}:v1"))
    assert got.digest == digest
    dest = tmp_path / "back"
    make_client().fetch_blob(
        parse_reference(repo), {"digest": sha256_digest(layer), "size": len(layer)}, dest
    )
    assert dest.read_bytes() == layer
    # the same blobs again: HEAD says they exist
    assert _push_image(c, f"{repo}:v2", tmp_path, layer)[1] == ["exists", "exists"]
    # another repository on the same registry: mounted, not uploaded
    other = f"127.0.0.1:5000/h2test/{uuid.uuid4().hex[:10]}"
    d2, how2 = _push_image(c, f"{other}:v1", tmp_path, layer, mount_from=parse_reference(repo))
    assert how2 == ["mounted", "mounted"] and d2 == digest


def test_push_with_bearer_auth(testenv: dict[str, Any], make_client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    reg = testenv["registries"]["token"]
    repo = f"{reg['host']}/h2test/{uuid.uuid4().hex[:10]}"
    with pytest.raises(AuthError):
        _push_image(make_client(), f"{repo}:v1", tmp_path, b"small layer")
    c = make_client(creds=(reg["username"], reg["password"]))
    digest, _ = _push_image(c, f"{repo}:v1", tmp_path, b"small layer")
    creds = f"--creds={reg['username']}:{reg['password']}"
    assert _skopeo_digest(f"{repo}:v1", creds) == digest
