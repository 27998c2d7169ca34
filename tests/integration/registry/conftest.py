"""Fixtures for the registry client tests: clients against the real registries, and a scriptable server.

The scriptable server exists only for what a real docker-registry never does (serve wrong bytes,
lie about sizes, drop a connection half way, fail with 503, redirect to another host); everything
else runs against the real registries of the test environment.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from podpy.registry.client import RegistryClient
from podpy.registry.config import RegistriesConf, load_registries_conf


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]


Handler = Callable[[BaseHTTPRequestHandler, "FakeServer"], None]


@dataclass
class FakeServer:
    """An HTTP server on 127.0.0.1 whose answers are Python functions keyed by (method, path)."""

    routes: dict[tuple[str, str], Handler] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    port: int = 0

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def route(self, method: str, path: str) -> Callable[[Handler], Handler]:
        def deco(fn: Handler) -> Handler:
            self.routes[(method, path)] = fn
            return fn

        return deco

    def count(self, method: str, path: str) -> int:
        return sum(1 for s in self.seen if s.method == method and s.path == path)


def reply(
    h: BaseHTTPRequestHandler, status: int, body: bytes = b"", headers: dict[str, str] | None = None
) -> None:
    h.send_response(status)
    hdrs = {"Content-Length": str(len(body)), **(headers or {})}
    for k, v in hdrs.items():
        h.send_header(k, v)
    h.end_headers()
    if h.command != "HEAD" and body:
        h.wfile.write(body)


def _start(fake: FakeServer) -> ThreadingHTTPServer:
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _any(self) -> None:
            path = self.path.split("?", 1)[0]
            fake.seen.append(Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
            n = int(self.headers.get("Content-Length") or 0)
            if n:
                self.rfile.read(n)
            fn = fake.routes.get((self.command, path)) or fake.routes.get(("*", path))
            if fn is None and path == "/v2/":
                reply(self, 200, b"{}")
                return
            if fn is None:
                reply(self, 404, b'{"errors":[{"code":"NOT_FOUND","message":"not found"}]}')
                return
            fn(self, fake)

        do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = _any  # noqa: N815

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    srv.daemon_threads = True
    srv.handle_error = lambda *a: None  # type: ignore[method-assign]  # clients hanging up on purpose
    fake.port = srv.server_address[1]
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


@pytest.fixture
def fake_server() -> Iterator[Callable[[], FakeServer]]:
    servers: list[ThreadingHTTPServer] = []

    def make() -> FakeServer:
        f = FakeServer()
        servers.append(_start(f))
        return f

    yield make
    for s in servers:
        s.shutdown()
        s.server_close()


@pytest.fixture
def make_client() -> Iterator[Callable[..., RegistryClient]]:
    made: list[RegistryClient] = []

    def make(conf: RegistriesConf | None = None, **kw: Any) -> RegistryClient:
        kw.setdefault("tls_verify", False)
        kw.setdefault("retry_delay", 0.05)
        c = RegistryClient(conf or RegistriesConf(), **kw)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


@pytest.fixture
def conf_file(tmp_path: Path) -> Callable[[str], RegistriesConf]:
    def write(text: str) -> RegistriesConf:
        p = tmp_path / "registries.conf"
        p.write_text(text)
        return load_registries_conf(p)

    return write


@pytest.fixture(autouse=True)
def _private_auth(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may read or write the user's real auth.json."""
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(tmp_path / "auth.json"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DOCKER_CONFIG", raising=False)
