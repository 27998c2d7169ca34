"""`podpy system check` after a pull killed mid-download: a registry that stalls half-way through a
layer makes the moment deterministic, `kill -9` leaves what a crash leaves (the temp file of the
download, maybe committed blobs no image names yet), and `check --repair` restores a clean store.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.system.badinput.fakereg import make_config, make_layer, make_manifest, sha256

TREE = Path(__file__).resolve().parents[3]


class StallingRegistry:
    """Serves one image; the first GET of the big layer sends half its bytes, then waits for ``release``."""

    def __init__(self) -> None:
        self.layer = make_layer({"big": os.urandom(4 << 20)}, compression="gzip")
        self.config = make_config([self.layer.diff_id])
        self.manifest = make_manifest(self.config, [self.layer.descriptor()])
        self.half_sent = threading.Event()
        self.release = threading.Event()
        self._stalled_once = False
        blobs = {sha256(self.config): self.config, self.layer.digest: self.layer.blob}
        reg = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def do_GET(self) -> None:  # noqa: N802
                self._serve(head=False)

            def do_HEAD(self) -> None:  # noqa: N802
                self._serve(head=True)

            def _serve(self, head: bool) -> None:
                path = self.path.split("?", 1)[0]
                if path.rstrip("/") == "/v2":
                    body, ctype = b"{}", "application/json"
                elif path.endswith(("/manifests/latest", "/manifests/" + sha256(reg.manifest))):
                    body, ctype = reg.manifest, "application/vnd.oci.image.manifest.v1+json"
                elif "/blobs/" in path and path.rsplit("/", 1)[1] in blobs:
                    body, ctype = blobs[path.rsplit("/", 1)[1]], "application/octet-stream"
                else:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Docker-Distribution-API-Version", "registry/2.0")
                self.end_headers()
                if head:
                    return
                stall = body is reg.layer.blob and not reg._stalled_once
                if stall:
                    reg._stalled_once = True
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    reg.half_sent.set()
                    reg.release.wait(60)
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def ref(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}/stall/img:latest"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def registry() -> Iterator[StallingRegistry]:
    reg = StallingRegistry()
    yield reg
    reg.close()


def test_check_reports_and_repairs_what_a_killed_pull_left(
    podpy_cli: Any, podpy_root: Any, registry: StallingRegistry, testenv: dict[str, Any]
) -> None:
    exe = shutil.which("podpy")
    cmd = [exe] if exe else [sys.executable, "-m", "podpy"]
    env = dict(os.environ, PYTHONPATH=str(TREE), XDG_CONFIG_HOME=str(podpy_root.config_home))
    pull = subprocess.Popen([*cmd, *podpy_root.args, "pull", "-q", "--tls-verify=false", registry.ref],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)  # fmt: skip
    try:
        assert registry.half_sent.wait(60), "the pull never asked for the layer"
        tmp = podpy_root.root / "storage" / "tmp"
        deadline = time.monotonic() + 30
        while not (tmp.is_dir() and any(p.stat().st_size > 0 for p in tmp.iterdir())):
            assert time.monotonic() < deadline, "no temp file of the download appeared"
            time.sleep(0.02)
        pull.send_signal(signal.SIGKILL)
        pull.wait(30)
    finally:
        if pull.poll() is None:
            pull.kill()
        registry.release.set()
    r = podpy_cli("system", "check")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "leftover tmp/" in r.stdout and "temp file of an interrupted download" in r.stdout
    assert "damaged image" not in r.stdout  # a killed pull never records a half image
    r = podpy_cli("system", "check", "--repair")
    assert r.returncode == 0 and r.stdout.endswith("found and repaired\n"), r.stdout + r.stderr
    assert not any((podpy_root.root / "storage" / "tmp").iterdir())
    podpy_cli("pull", "-q", "--tls-verify=false", registry.ref, check=True)
    assert podpy_cli("system", "check", check=True).stdout.endswith(": no problems found\n")
