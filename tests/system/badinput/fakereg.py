"""A tiny fake registry that serves exactly the hostile bytes a real registry refuses to store.

Why a fake: docker-registry verifies what is pushed to it, so a blob whose bytes do not match its
digest, a manifest with both ``layers`` and ``manifests``, a digest like ``sha256:../x`` or a
5 MiB manifest never come out of it. These tests need a server that lies; everything else in
tests/system/badinput runs against the real registries.

The server speaks just enough of the distribution API v2 for a pull: ``/v2/``, manifests and blobs
by GET and HEAD, on 127.0.0.1 (plain HTTP, so clients use ``--tls-verify=false``).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import platform
import re
import tarfile
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"

MTIME = 1700000000


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def host_arch() -> str:
    m = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}.get(m, m)


@dataclass
class Layer:
    """A layer blob as served, and the diff ID of its (intended) uncompressed tar."""

    blob: bytes
    diff_id: str
    media_type: str

    @property
    def digest(self) -> str:
        return sha256(self.blob)

    def descriptor(self, **override: Any) -> dict[str, Any]:
        d: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": len(self.blob)}
        d.update(override)
        return d


def make_tar(files: dict[str, bytes]) -> bytes:
    """A deterministic tar of regular files (parent dirs added), as an image layer holds them."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        dirs: set[str] = set()
        for name, data in files.items():
            parts = name.split("/")
            for i in range(1, len(parts)):
                d = "/".join(parts[:i])
                if d not in dirs:
                    dirs.add(d)
                    ti = tarfile.TarInfo(d)
                    ti.type = tarfile.DIRTYPE
                    ti.mode = 0o755
                    ti.mtime = MTIME
                    tf.addfile(ti)
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mode = 0o644
            ti.mtime = MTIME
            tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def tar_of(entries: list[tuple[str, str, bytes | str]]) -> bytes:
    """A tar of ``(kind, name, data or link target)`` in this order, kind file|dir|symlink|hardlink.

    Unlike ``make_tar`` nothing is added or normalised: hostile names and links go in as given.
    """
    types = {
        "file": tarfile.REGTYPE,
        "dir": tarfile.DIRTYPE,
        "symlink": tarfile.SYMTYPE,
        "hardlink": tarfile.LNKTYPE,
    }
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for kind, name, payload in entries:
            ti = tarfile.TarInfo(name)
            ti.type, ti.mtime = types[kind], MTIME
            ti.mode = 0o755 if kind == "dir" else 0o644
            data = payload if isinstance(payload, bytes) else b""
            if kind in ("symlink", "hardlink"):
                ti.linkname = str(payload)
            ti.size = len(data) if kind == "file" else 0
            tf.addfile(ti, io.BytesIO(data) if kind == "file" else None)
    return buf.getvalue()


def gzip_layer(tar: bytes) -> Layer:
    return Layer(gzip.compress(tar, mtime=0), sha256(tar), OCI_LAYER_GZIP)


def make_layer(files: dict[str, bytes], compression: str = "gzip") -> Layer:
    tar = make_tar(files)
    if compression == "gzip":
        blob = gzip.compress(tar, mtime=0)
        mt = OCI_LAYER_GZIP
    elif compression == "zstd":
        import zstandard

        blob = zstandard.ZstdCompressor(level=3).compress(tar)
        mt = OCI_LAYER_ZSTD
    else:
        blob, mt = tar, OCI_LAYER
    return Layer(blob, sha256(tar), mt)


def make_config(diff_ids: list[str], **extra: Any) -> bytes:
    cfg: dict[str, Any] = {
        "created": "2023-11-14T22:13:20Z",
        "architecture": host_arch(),
        "os": "linux",
        "config": {"Cmd": ["sh"], "Env": ["PATH=/usr/bin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": "2023-11-14T22:13:20Z", "created_by": "podpy badinput test"}],
    }
    cfg.update(extra)
    return json.dumps(cfg, sort_keys=True).encode()


def make_manifest(config: bytes, layers: list[dict[str, Any]], **extra: Any) -> bytes:
    m: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": sha256(config), "size": len(config)},
        "layers": layers,
    }
    m.update(extra)
    return json.dumps(m, sort_keys=True).encode()


@dataclass
class Served:
    """What one URL answers: the body, its Content-Type, and how it is sent."""

    body: bytes
    content_type: str = "application/octet-stream"
    content_length: bool = True  # False: no Content-Length, the body ends when the connection closes
    digest_header: str | None = None  # Docker-Content-Digest (may lie, as a hostile registry would)


@dataclass
class FakeRegistry:
    """Serves ``manifests[(repo, ref)]`` and ``blobs[digest]``; records every request path."""

    manifests: dict[tuple[str, str], Served] = field(default_factory=dict)
    blobs: dict[str, Served] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    blob_lookup_casefold: bool = True  # serve sha256:ABC… as sha256:abc…, so only validation refuses it

    def __post_init__(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fakereg", daemon=True)
        self._thread.start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- content --------------------------------------------------------------------------------
    def add_blob(self, data: bytes, digest: str | None = None, **kw: Any) -> str:
        """Serve ``data`` as blob ``digest`` (default: its real digest; pass another one to lie)."""
        digest = digest or sha256(data)
        self.blobs[digest] = Served(data, **kw)
        return digest

    def add_manifest(
        self,
        repo: str,
        tag: str,
        body: bytes,
        media_type: str = OCI_MANIFEST,
        *,
        digest: str | None = None,
        content_length: bool = True,
    ) -> str:
        """Serve ``body`` under ``repo:tag`` and ``repo@digest`` (default: its real digest)."""
        digest = digest or sha256(body)
        s = Served(body, media_type, content_length, digest)
        self.manifests[(repo, tag)] = s
        self.manifests[(repo, digest)] = s
        return digest

    def add_image(
        self,
        repo: str,
        tag: str,
        layers: list[Layer],
        *,
        config: bytes | None = None,
        manifest_extra: dict[str, Any] | None = None,
        layer_descriptors: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Serve a whole single-platform OCI image; returns its parts for the test's assertions."""
        config = config if config is not None else make_config([la.diff_id for la in layers])
        self.add_blob(config)
        for la in layers:
            self.add_blob(la.blob)
        descs = layer_descriptors if layer_descriptors is not None else [la.descriptor() for la in layers]
        manifest = make_manifest(config, descs, **(manifest_extra or {}))
        mdigest = self.add_manifest(repo, tag, manifest)
        return {
            "ref": f"{self.host}/{repo}:{tag}",
            "digest_ref": f"{self.host}/{repo}@{mdigest}",
            "manifest": manifest,
            "manifest_digest": mdigest,
            "config": config,
            "config_digest": sha256(config),
            "layers": layers,
        }

    def ref(self, repo: str, tag: str = "latest") -> str:
        return f"{self.host}/{repo}:{tag}"

    def find_blob(self, digest: str) -> Served | None:
        s = self.blobs.get(digest)
        if s is None and self.blob_lookup_casefold:
            s = self.blobs.get(digest.lower())
        return s


_PATH_RE = re.compile(r"^/v2/(?P<name>.+)/(?P<kind>manifests|blobs)/(?P<ref>[^/]+)$")


def _make_handler(reg: FakeRegistry) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
            pass

        def _error(self, status: int, code: str, message: str, head: bool) -> None:
            body = json.dumps({"errors": [{"code": code, "message": message, "detail": None}]}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Docker-Distribution-API-Version", "registry/2.0")
            self.end_headers()
            if not head:
                self.wfile.write(body)

        def _serve(self, head: bool) -> None:
            reg.requests.append(f"{self.command} {self.path}")
            path = self.path.split("?", 1)[0]
            if path in ("/v2/", "/v2"):
                body = b"{}"
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Docker-Distribution-API-Version", "registry/2.0")
                self.end_headers()
                if not head:
                    self.wfile.write(body)
                return
            m = _PATH_RE.match(path)
            if not m:
                self._error(404, "NOT_FOUND", "not found", head)
                return
            name, kind, ref = m.group("name"), m.group("kind"), m.group("ref")
            if kind == "manifests":
                served = reg.manifests.get((name, ref))
                if served is None:
                    self._error(404, "MANIFEST_UNKNOWN", "manifest unknown", head)
                    return
            else:
                served = reg.find_blob(ref)
                if served is None:
                    self._error(404, "BLOB_UNKNOWN", "blob unknown to registry", head)
                    return
            self.send_response(200)
            self.send_header("Content-Type", served.content_type)
            self.send_header("Docker-Distribution-API-Version", "registry/2.0")
            if served.digest_header or kind == "blobs":
                self.send_header("Docker-Content-Digest", served.digest_header or ref)
            if served.content_length:
                self.send_header("Content-Length", str(len(served.body)))
            else:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            if not head:
                try:
                    self.wfile.write(served.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up on a body it refused: that is the point
            elif not served.content_length:
                self.close_connection = True

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            self._serve(head=False)

        def do_HEAD(self) -> None:  # noqa: N802
            self._serve(head=True)

    return Handler
