"""engine.pull as the unprivileged user against a fake registry that serves one layer slowly:
layers download in parallel, and a layer is unpacked while another is still downloading."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import subprocess
import sys
import tarfile
import textwrap
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TREE

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def _layer(name: str, size: int) -> tuple[bytes, str]:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        data = hashlib.sha256(name.encode()).digest() * (size // 32)
        ti = tarfile.TarInfo(f"{name}.bin")
        ti.size = len(data)
        tf.addfile(ti, io.BytesIO(data))
    raw = buf.getvalue()
    return gzip.compress(raw, compresslevel=1, mtime=0), "sha256:" + hashlib.sha256(raw).hexdigest()


class FakeRegistry:
    def __init__(self, slow_seconds: float) -> None:
        self.fail_manifest = 0  # answer this many manifest requests with 503 first
        self.manifest_requests = 0
        self.blobs: dict[str, bytes] = {}
        self.slow: set[str] = set()
        self.slow_seconds = slow_seconds
        self.events: list[tuple[float, str, str]] = []
        layers = [_layer(n, 2 * 1024 * 1024) for n in ("a", "b", "c")]
        descs = []
        diff_ids = []
        for blob, diff_id in layers:
            d = "sha256:" + hashlib.sha256(blob).hexdigest()
            self.blobs[d] = blob
            descs.append(
                {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": len(blob)}
            )
            diff_ids.append(diff_id)
        self.slow.add(descs[2]["digest"])
        cfg = json.dumps(
            {
                "architecture": "amd64",
                "os": "linux",
                "rootfs": {"type": "layers", "diff_ids": diff_ids},
                "config": {},
            }
        ).encode()
        self.config_digest = "sha256:" + hashlib.sha256(cfg).hexdigest()
        self.blobs[self.config_digest] = cfg
        self.manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": self.config_digest,
                    "size": len(cfg),
                },
                "layers": descs,
            }
        ).encode()
        self.layers = descs
        reg = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:
                pass

            def _send(self, code: int, body: bytes, ctype: str, head: bool = False) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Docker-Distribution-API-Version", "registry/2.0")
                if code == 200 and "manifests" in self.path:
                    self.send_header("Docker-Content-Digest", "sha256:" + hashlib.sha256(body).hexdigest())
                self.end_headers()
                if head:
                    return
                digest = self.path.rsplit("/", 1)[-1]
                if digest in reg.slow:
                    step = max(1, len(body) // 20)
                    for i in range(0, len(body), step):
                        self.wfile.write(body[i : i + step])
                        self.wfile.flush()
                        time.sleep(reg.slow_seconds / 20)
                else:
                    self.wfile.write(body)
                reg.events.append((time.time(), "served", digest))

            def do_GET(self, head: bool = False) -> None:  # noqa: N802
                if self.path in ("/v2/", "/v2"):
                    return self._send(200, b"{}", "application/json", head)
                if "/manifests/" in self.path:
                    reg.manifest_requests += 1
                    if reg.fail_manifest > 0:
                        reg.fail_manifest -= 1
                        body = b'{"errors":[{"code":"UNAVAILABLE","message":"service unavailable"}]}'
                        return self._send(503, body, "application/json", head)
                    return self._send(200, reg.manifest, OCI_MANIFEST, head)
                if "/blobs/" in self.path:
                    d = self.path.rsplit("/", 1)[-1]
                    if d in reg.blobs:
                        return self._send(200, reg.blobs[d], "application/octet-stream", head)
                return self._send(404, b'{"errors":[{"code":"NOT_FOUND"}]}', "application/json", head)

            def do_HEAD(self) -> None:  # noqa: N802
                self.do_GET(head=True)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fakereg(testenv: dict[str, Any]) -> Iterator[FakeRegistry]:
    r = FakeRegistry(slow_seconds=3.0)
    yield r
    r.close()


SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    from podpy.engine.images import pull
    from podpy.util.paths import Paths

    class Rec:
        def __init__(self): self.ev = []
        def _e(self, *a): self.ev.append((time.time(), *a))
        def trying(self, ref): self._e("trying", ref)
        def start(self): self._e("start")
        def blob_start(self, d, size, kind="blob"): self._e("blob_start", d, kind)
        def blob_progress(self, d, n): pass
        def blob_done(self, d, skipped=False): self._e("blob_done", d, skipped)
        def writing_manifest(self): self._e("writing_manifest")
        def close(self): pass

    rec = Rec()
    from pathlib import Path
    ids = pull(Paths(root=Path(sys.argv[1]), runroot=Path(sys.argv[2])), sys.argv[3], tls_verify=False, progress=rec)
    print(json.dumps({"ids": ids, "events": rec.ev}))
    """
)


def test_parallel_download_and_overlapped_unpack(
    fakereg: FakeRegistry, podpy_root: Any, tmp_path: Path
) -> None:
    ref = f"127.0.0.1:{fakereg.port}/overlap:latest"
    t0 = time.time()
    p = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(podpy_root.root), str(podpy_root.runroot), ref],
        capture_output=True,
        text=True,
        timeout=120,
        env={
            "PYTHONPATH": str(TREE),
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            "XDG_CONFIG_HOME": str(podpy_root.config_home),
        },
    )
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    assert res["ids"] == [fakereg.config_digest.split(":")[1]]
    slow = fakereg.layers[2]["digest"]
    fast = [fakereg.layers[0]["digest"], fakereg.layers[1]["digest"]]
    done = {e[2]: e[0] for e in res["events"] if e[1] == "blob_done"}
    # blob_done comes after a layer is unpacked: the fast layers were unpacked while the slow one
    # (3 s on the wire) was still downloading, so unpacking overlaps downloading
    for d in fast:
        assert done[d] < done[slow] - 1.5, (d, done[d] - t0, done[slow] - t0)
    # all downloads ran at once: the whole pull takes about the slow layer's time, not more
    assert done[slow] - t0 < 3.0 + 5.0
    assert res["events"][-1][1] == "writing_manifest"
