"""What a real registry never does, served by a scriptable server: lies, drops, 5xx, redirects."""

from __future__ import annotations

import base64
import json
import os
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from podpy.registry.manifest import sha256_digest
from podpy.spec import mediatypes as mt
from podpy.spec.reference import parse_reference
from podpy.util.errors import InvalidInput, RegistryError

from .conftest import FakeServer, reply

BLOB = os.urandom(300_000)
BLOB_DIGEST = sha256_digest(BLOB)
BLOB_PATH = f"/v2/app/blobs/{BLOB_DIGEST}"
DESC = {"mediaType": mt.OCI_LAYER_GZIP, "digest": BLOB_DIGEST, "size": len(BLOB)}


def _fetch(make_client, srv: FakeServer, tmp_path: Path, desc: dict | None = None, **kw) -> Path:  # type: ignore[no-untyped-def]
    dest = tmp_path / "blob"
    make_client(**kw).fetch_blob(parse_reference(f"{srv.host}/app"), desc or DESC, dest)
    return dest


def test_redirect_does_not_forward_credentials(fake_server, make_client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    storage = fake_server()
    reg = fake_server()
    good = "Basic " + base64.b64encode(b"u:p").decode()

    @reg.route("GET", "/v2/")
    def ping(h: BaseHTTPRequestHandler, s: FakeServer) -> None:
        if h.headers.get("Authorization") == good:
            reply(h, 200, b"{}")
        else:
            reply(h, 401, b"{}", {"WWW-Authenticate": 'Basic realm="fake"'})

    @reg.route("GET", BLOB_PATH)
    def redirect(h: BaseHTTPRequestHandler, s: FakeServer) -> None:
        if h.headers.get("Authorization") != good:
            reply(h, 401, b"{}", {"WWW-Authenticate": 'Basic realm="fake"'})
            return
        reply(h, 307, b"", {"Location": f"http://{storage.host}/store/blob?sig=1"})

    @storage.route("GET", "/store/blob")
    def serve(h: BaseHTTPRequestHandler, s: FakeServer) -> None:
        reply(h, 200, BLOB)

    dest = _fetch(make_client, reg, tmp_path, creds=("u", "p"))
    assert dest.read_bytes() == BLOB
    assert any(s.headers.get("authorization") == good for s in reg.seen if s.path == BLOB_PATH)
    hits = [s for s in storage.seen if s.path.startswith("/store/blob")]
    assert hits and all("authorization" not in s.headers for s in hits)


def test_digest_mismatch_leaves_nothing(fake_server, make_client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    srv = fake_server()
    wrong = bytearray(BLOB)
    wrong[1000] ^= 0xFF

    @srv.route("GET", BLOB_PATH)
    def serve(h: BaseHTTPRequestHandler, s: FakeServer) -> None:
        reply(h, 200, bytes(wrong))

    with pytest.raises(InvalidInput, match="does not match its digest") as e:
        _fetch(make_client, srv, tmp_path)
    assert BLOB_DIGEST in e.value.message
    assert (tmp_path / "blob").stat().st_size == 0
    assert srv.count("GET", BLOB_PATH) == 1  # wrong bytes are not retried


@pytest.mark.parametrize("lie", ["longer-body", "content-length", "short-then-close"])
def test_size_lies(fake_server, make_client, tmp_path: Path, lie: str) -> None:  # type: ignore[no-untyped-def]
    srv = fake_server()

    @srv.route("GET", BLOB_PATH)
    def serve(h: BaseHTTPRequestHandler, s: FakeServer) -> None:
        if lie == "longer-body":  # chunked body longer than the descriptor says
            h.send_response(200)
            h.send_header("Transfer-Encoding", "chunked")
            h.end_headers()
            data = BLOB + b"extra"
            h.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(data), data))
        elif lie == "content-length":
            reply(h, 200, BLOB + b"x")
        else:  # says the right length, sends less, closes; never supports Range
            h.send_response(200)
            h.send_header("Content-Length", str(len(BLOB)))
            h.end_headers()
            h.wfile.write(BLOB[:1000])
            h.close_connection = True

    with pytest.raises((InvalidInput, RegistryError)) as e:
        _fetch(make_client, srv, tmp_path, retry=2)
    assert "\n" not in e.value.message
    assert (tmp_path / "blob").stat().st_size == 0
    if lie != "short-then-close":
        assert isinstance(e.value, InvalidInput)


def test_descriptor_smaller_than_blob(fake_server, make_client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    srv = fake_server()

    @srv.route("GET", BLOB_PATH)
    def serve(h: BaseHTTPRequestHandler, s: FakeServer) -> None:
        reply(h, 200, BLOB)

    with pytest.raises(InvalidInput, match="size"):
        _fetch(make_client, srv, tmp_path, desc={**DESC, "size": 10})


def test_dropped_connection_resumes_with_range(fake_server, make_client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    srv = fake_server()
    ranges: list[str | None] = []

    @srv.route("GET", BLOB_PATH)
    def serve(h: BaseHTTPRequestHandler, s: FakeServer) -> None:
        rng = h.headers.get("Range")
        ranges.append(rng)
        if rng is None:
            h.send_response(200)
            h.send_header("Content-Length", str(len(BLOB)))
            h.end_headers()
            h.wfile.write(BLOB[:100_000])
            h.wfile.flush()
            h.close_connection = True
            return
        start = int(rng.removeprefix("bytes=").rstrip("-"))
        rest = BLOB[start:]
        reply(h, 206, rest, {"Content-Range": f"bytes {start}-{len(BLOB) - 1}/{len(BLOB)}"})

    dest = _fetch(make_client, srv, tmp_path)
    assert dest.read_bytes() == BLOB
    assert ranges[0] is None and ranges[1] is not None and ranges[1].startswith("bytes=")
    assert int(ranges[1].removeprefix("bytes=").rstrip("-")) > 0


def test_5xx_is_retried(fake_server, make_client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    srv = fake_server()

    @srv.route("GET", BLOB_PATH)
    def serve(h: BaseHTTPRequestHandler, s: FakeServer) -> None:
        if s.count("GET", BLOB_PATH) <= 2:
            reply(h, 503, b'{"errors":[{"code":"UNAVAILABLE","message":"try later"}]}')
        else:
            reply(h, 200, BLOB)

    assert _fetch(make_client, srv, tmp_path).read_bytes() == BLOB
    assert srv.count("GET", BLOB_PATH) == 3


def test_5xx_gives_up_after_retries(fake_server, make_client, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    srv = fake_server()

    @srv.route("GET", BLOB_PATH)
    def serve(h: BaseHTTPRequestHandler, s: FakeServer) -> None:
        reply(h, 500, b"boom")

    with pytest.raises(RegistryError, match="500"):
        _fetch(make_client, srv, tmp_path, retry=2)
    assert srv.count("GET", BLOB_PATH) == 3


def _serve_manifest(srv: FakeServer, body: bytes, media_type: str, header_digest: str | None = None) -> None:
    @srv.route("GET", "/v2/app/manifests/latest")
    def serve(h: BaseHTTPRequestHandler, s: FakeServer) -> None:
        hdrs = {"Content-Type": media_type}
        if header_digest:
            hdrs["Docker-Content-Digest"] = header_digest
        reply(h, 200, body, hdrs)


def test_manifest_with_layers_and_manifests(fake_server, make_client) -> None:  # type: ignore[no-untyped-def]
    srv = fake_server()
    doc = {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "layers": [], "manifests": [], "config": DESC}
    _serve_manifest(srv, json.dumps(doc).encode(), mt.OCI_MANIFEST)
    with pytest.raises(InvalidInput, match="both layers and manifests"):
        make_client().get_manifest(parse_reference(f"{srv.host}/app"))


def test_manifest_over_4mib(fake_server, make_client) -> None:  # type: ignore[no-untyped-def]
    srv = fake_server()
    body = json.dumps({"schemaVersion": 2, "pad": "x" * (mt.MAX_MANIFEST_SIZE + 10)}).encode()
    _serve_manifest(srv, body, mt.OCI_MANIFEST)
    with pytest.raises(InvalidInput, match="byte limit"):
        make_client().get_manifest(parse_reference(f"{srv.host}/app"))


def test_manifest_digest_checks(fake_server, make_client) -> None:  # type: ignore[no-untyped-def]
    srv = fake_server()
    cfg = {"mediaType": mt.OCI_CONFIG, "digest": BLOB_DIGEST, "size": 1}
    body = json.dumps(
        {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST, "config": cfg, "layers": []}
    ).encode()
    _serve_manifest(srv, body, mt.OCI_MANIFEST, header_digest="sha256:" + "0" * 64)
    with pytest.raises(InvalidInput, match="Docker-Content-Digest"):
        make_client().get_manifest(parse_reference(f"{srv.host}/app"))
    # asked by digest, served other bytes

    @srv.route("GET", f"/v2/app/manifests/{'sha256:' + '1' * 64}")
    def serve(h: BaseHTTPRequestHandler, s: FakeServer) -> None:
        reply(h, 200, body, {"Content-Type": mt.OCI_MANIFEST})

    with pytest.raises(InvalidInput, match="does not match its digest"):
        make_client().get_manifest(parse_reference(f"{srv.host}/app@sha256:{'1' * 64}"))


def test_schema1_refused(fake_server, make_client) -> None:  # type: ignore[no-untyped-def]
    srv = fake_server()
    body = json.dumps({"schemaVersion": 1, "name": "app", "fsLayers": []}).encode()
    _serve_manifest(srv, body, "application/vnd.docker.distribution.manifest.v1+prettyjws")
    with pytest.raises(InvalidInput, match="schema 1"):
        make_client().get_manifest(parse_reference(f"{srv.host}/app"))
