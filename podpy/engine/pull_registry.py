"""The registry side of ``pull`` when ``podpy.registry`` (H2) is not there yet: a small stdlib shim.

It offers the same shapes the engine codes against (``conf.candidates(name)``, a client with
``fetch_blob``/``list_tags``, ``resolve_image(client, ref, platform)``) and speaks only what a pull
needs: ``/v2/`` ping, anonymous/Basic/Bearer auth with ``repository:NAME:pull``, manifests and
indexes with platform choice, blobs streamed to a file with digest and size verified. It uses
urllib so ``requests`` stays the registry package's dependency. Delete it once H2's modules land.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import re
import ssl
import time
import tomllib
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from podpy.spec.digest import parse_digest
from podpy.spec.mediatypes import ALL_MANIFESTS, INDEXES, MAX_CONFIG_SIZE, MAX_MANIFEST_SIZE
from podpy.spec.platform import Platform
from podpy.util.errors import AuthError, InvalidInput, RegistryError, UsageError
from podpy.util.paths import config_search, xdg_config_home, xdg_runtime_dir

log = logging.getLogger(__name__)
_UA = "podpy/0.1"


@dataclass(frozen=True)
class ShimRef:
    domain: str
    path: str
    tag: str = ""
    digest: str = ""

    @property
    def repository(self) -> str:
        return f"{self.domain}/{self.path}"

    def __str__(self) -> str:
        s = self.repository
        if self.tag:
            s += ":" + self.tag
        if self.digest:
            s += "@" + self.digest
        return s


_PATH_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")


def parse_ref(name: str, default_domain: str | None = "docker.io") -> tuple[ShimRef, bool]:
    """(reference, had_domain). ``busybox`` -> docker.io/library/busybox:latest."""
    raw = name.strip().removeprefix("docker://")
    digest = ""
    if "@" in raw:
        raw, digest = raw.split("@", 1)
        parse_digest(digest)
    tag = ""
    last = raw.rsplit("/", 1)[-1]
    if ":" in last:
        raw, tag = raw.rsplit(":", 1)
    domain = ""
    path = raw
    if "/" in raw:
        first, rest = raw.split("/", 1)
        if "." in first or ":" in first or first == "localhost":
            domain, path = first, rest
    bad_domain = domain and not re.fullmatch(
        r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:\d+)?|\[[0-9a-fA-F:]+\](:\d+)?", domain
    )
    if bad_domain or not _PATH_RE.match(path) or (tag and not re.fullmatch(r"[\w][\w.-]{0,127}", tag)):
        raise UsageError(f"invalid reference format: {name!r}")
    had = bool(domain)
    if not domain:
        domain = default_domain or ""
    if domain == "docker.io" and "/" not in path:
        path = "library/" + path
    if not tag and not digest:
        tag = "latest"
    return ShimRef(domain, path, tag, digest), had


@dataclass
class ShimConf:
    unqualified_search_registries: list[str] = field(default_factory=list)
    insecure_hosts: set[str] = field(default_factory=set)
    source: str = "/etc/containers/registries.conf"
    aliases: dict[str, str] = field(default_factory=dict)
    blocked: set[str] = field(default_factory=set)

    def _check_blocked(self, ref: ShimRef) -> ShimRef:
        if ref.domain in self.blocked or f"{ref.domain}/{ref.path}" in self.blocked:
            raise UsageError(f"registry {ref.domain} is blocked in {self.source}")
        return ref

    def candidates(self, name: str) -> list[ShimRef]:
        ref, had = parse_ref(name)
        if had:
            return [self._check_blocked(ref)]
        short = name.split("@")[0]
        short_repo = short.rsplit(":", 1)[0] if ":" in short.rsplit("/", 1)[-1] else short
        if short_repo in self.aliases:
            target, _ = parse_ref(self.aliases[short_repo])
            return [self._check_blocked(ShimRef(target.domain, target.path, ref.tag, ref.digest))]
        if not self.unqualified_search_registries:
            raise UsageError(
                f'short-name "{name}" did not resolve to an alias and no unqualified-search registries are defined in "{self.source}"'
            )
        out = []
        for reg in self.unqualified_search_registries:
            path = ref.path
            if (
                reg != "docker.io"
                and path.startswith("library/")
                and "/" not in name.split("@")[0].split(":")[0]
            ):
                path = path[len("library/") :]
            if reg not in self.blocked:
                out.append(ShimRef(reg, path, ref.tag, ref.digest))
        return out


def load_conf() -> ShimConf:
    env = os.environ.get("CONTAINERS_REGISTRIES_CONF")
    files = [Path(env)] if env else [p for p in config_search("registries.conf")]
    for f in files:
        if f.is_file():
            try:
                data = tomllib.loads(f.read_text())
            except (OSError, tomllib.TOMLDecodeError) as e:
                raise UsageError(f"{f}: invalid registries.conf: {e}") from e
            conf = ShimConf(list(data.get("unqualified-search-registries") or []), set(), str(f))
            conf.aliases = {str(k): str(v) for k, v in (data.get("aliases") or {}).items()}
            for r in data.get("registry") or []:
                loc = r.get("location") or r.get("prefix") or ""
                if r.get("insecure") and loc:
                    conf.insecure_hosts.add(loc.split("/")[0])
                if r.get("blocked") and (r.get("prefix") or loc):
                    conf.blocked.add(r.get("prefix") or loc)
            return conf
    return ShimConf()


def _auth_for(registry: str, authfile: str | None) -> tuple[str, str] | None:
    files = [Path(authfile)] if authfile else []
    if not authfile:
        if os.environ.get("REGISTRY_AUTH_FILE"):
            files.append(Path(os.environ["REGISTRY_AUTH_FILE"]))
        files += [
            xdg_runtime_dir() / "containers" / "auth.json",
            xdg_config_home() / "containers" / "auth.json",
        ]
        files.append(Path(os.path.expanduser("~/.docker/config.json")))
    for f in files:
        try:
            auths = json.loads(f.read_text()).get("auths") or {}
        except (OSError, ValueError):
            continue
        for key, val in auths.items():
            host = key.removeprefix("https://").removeprefix("http://").split("/")[0]
            if host == registry and val.get("auth"):
                user, _, pw = base64.b64decode(val["auth"]).decode().partition(":")
                return user, pw
    return None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        return None


class ShimClient:
    def __init__(
        self,
        conf: ShimConf,
        authfile: str | None = None,
        creds: str | None = None,
        tls_verify: bool | None = None,
        retry: int = 3,
        retry_delay: float | None = None,
    ) -> None:
        self.conf = conf
        self.authfile = authfile
        self.creds = tuple(creds.split(":", 1)) if creds and ":" in creds else None
        self.tls_verify = tls_verify
        self.retry = retry
        self.retry_delay = retry_delay
        self._tokens: dict[tuple[str, str], str] = {}
        self._basic: dict[str, str] = {}
        self._opener = urllib.request.build_opener(_NoRedirect())
        self._ctx = ssl.create_default_context()

    def _base(self, registry: str) -> str:
        insecure = self.tls_verify is False or registry in self.conf.insecure_hosts
        return ("http://" if insecure else "https://") + registry

    def _open(self, req: urllib.request.Request, timeout: float = 60) -> Any:
        attempt = 0
        while True:
            try:
                return self._opener.open(req, timeout=timeout)
            except urllib.error.HTTPError as e:
                if e.code >= 500 and attempt < self.retry:
                    pass
                else:
                    return e
            except (urllib.error.URLError, OSError) as e:
                if attempt >= self.retry:
                    raise RegistryError(
                        f"pinging container registry {urllib.parse.urlsplit(req.full_url).netloc}: {getattr(e, 'reason', e)}"
                    ) from e
            attempt += 1
            time.sleep(self.retry_delay if self.retry_delay is not None else min(2**attempt, 10) * 0.5)

    def _creds(self, registry: str) -> tuple[str, str] | None:
        return self.creds or _auth_for(registry, self.authfile)  # type: ignore[return-value]

    def _authorize(self, ref: ShimRef, challenge: str) -> str | None:
        scheme, _, params = challenge.partition(" ")
        creds = self._creds(ref.domain)
        if scheme.lower() == "basic":
            if not creds:
                raise AuthError(f"{ref}: authentication required: use podpy login or --creds")
            return "Basic " + base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode()
        p = dict(re.findall(r'(\w+)="([^"]*)"', params))
        q = {"scope": f"repository:{ref.path}:pull"}
        if p.get("service"):
            q["service"] = p["service"]
        req = urllib.request.Request(
            p["realm"] + "?" + urllib.parse.urlencode(q), headers={"User-Agent": _UA}
        )
        if creds:
            req.add_header(
                "Authorization", "Basic " + base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode()
            )
        resp = self._open(req)
        code = getattr(resp, "status", None) or getattr(resp, "code", 0)
        if code in (401, 403):
            raise AuthError(
                f"{ref}: authentication failed: unauthorized: invalid username or password "
                f"(token server {p['realm']} answered {code})"
            )
        if code != 200:
            raise AuthError(f"{ref}: getting a token from {p['realm']} failed: HTTP {code}")
        data = json.loads(resp.read())
        return "Bearer " + (data.get("token") or data.get("access_token"))

    def _request(self, ref: ShimRef, path: str, accept: str | None = None) -> Any:
        url = self._base(ref.domain) + path
        key = (ref.domain, ref.path)
        for _ in range(3):
            req = urllib.request.Request(url, headers={"User-Agent": _UA})
            if accept:
                req.add_header("Accept", accept)
            if key in self._tokens:
                req.add_header("Authorization", self._tokens[key])
            resp = self._open(req)
            code = getattr(resp, "status", None) or getattr(resp, "code", 0)
            if code in (301, 302, 303, 307, 308):
                loc = urllib.parse.urljoin(url, resp.headers["Location"])
                same = urllib.parse.urlsplit(loc).netloc == urllib.parse.urlsplit(url).netloc
                req2 = urllib.request.Request(loc, headers={"User-Agent": _UA})
                if same and key in self._tokens:
                    req2.add_header("Authorization", self._tokens[key])
                return self._open(req2)
            if code == 401 and key not in self._tokens:
                auth = self._authorize(ref, resp.headers.get("WWW-Authenticate", ""))
                if auth:
                    self._tokens[key] = auth
                    continue
            return resp
        return resp

    def _check(self, resp: Any, what: str) -> Any:
        code = getattr(resp, "status", None) or getattr(resp, "code", 0)
        if code == 200:
            return resp
        body = b""
        try:
            body = resp.read(4096)
        except OSError:
            pass
        msg = ""
        try:
            errs = json.loads(body).get("errors") or []
            msg = "; ".join(
                f"{e.get('code', '').lower().replace('_', ' ')}: {e.get('message', '')}" for e in errs
            )
        except (ValueError, AttributeError):
            msg = body.decode(errors="replace")[:200]
        if code in (401, 403):
            raise AuthError(f"{what}: unauthorized: {msg or 'authentication required'}")
        raise RegistryError(f"{what}: HTTP {code}: {msg}".rstrip(": "))

    def get_manifest(self, ref: ShimRef, reference: str) -> tuple[bytes, str, str]:
        if ":" in reference or "/" in reference or ".." in reference:
            parse_digest(reference)
        resp = self._check(
            self._request(ref, f"/v2/{ref.path}/manifests/{reference}", ", ".join(ALL_MANIFESTS)),
            f"reading manifest {reference} in {ref.repository}",
        )
        data = resp.read(MAX_MANIFEST_SIZE + 1)
        if len(data) > MAX_MANIFEST_SIZE:
            raise InvalidInput(
                f"manifest {reference} in {ref.repository} is larger than {MAX_MANIFEST_SIZE} bytes"
            )
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if reference.startswith("sha256:") and digest != reference:
            raise InvalidInput(f"manifest {reference}: digest mismatch: the content hashes to {digest}")
        mt = (resp.headers.get("Content-Type") or "").split(";")[0].strip()
        try:
            mt = json.loads(data).get("mediaType") or mt
        except (ValueError, AttributeError) as e:
            raise InvalidInput(f"manifest {reference} in {ref.repository} is not JSON: {e}") from e
        return data, mt, digest

    def get_blob_bytes(self, ref: ShimRef, digest: str, size: int, cap: int) -> bytes:
        parse_digest(digest)
        if size > cap:
            raise InvalidInput(f"image config {digest} is {size} bytes, larger than the {cap >> 20} MiB cap")
        resp = self._check(self._request(ref, f"/v2/{ref.path}/blobs/{digest}"), f"fetching blob {digest}")
        data = resp.read(cap + 1)
        if len(data) > cap:
            raise InvalidInput(f"image config {digest} is larger than the {cap >> 20} MiB cap")
        got = "sha256:" + hashlib.sha256(data).hexdigest()
        if got != digest:
            raise InvalidInput(f"image config {digest}: digest mismatch: the content hashes to {got}")
        if size and len(data) != size:
            raise InvalidInput(
                f"image config {digest}: size mismatch: descriptor says {size} bytes, got {len(data)}"
            )
        return data

    def fetch_blob(
        self, ref: ShimRef, desc: dict, dest: Path, progress: Callable[[int], None] | None = None
    ) -> None:
        digest, size = desc["digest"], int(desc.get("size") or 0)
        parse_digest(digest)
        resp = self._check(self._request(ref, f"/v2/{ref.path}/blobs/{digest}"), f"fetching blob {digest}")
        h = hashlib.sha256()
        n = 0
        with open(dest, "wb") as f:
            while True:
                chunk = resp.read(1 << 20)
                if not chunk:
                    break
                n += len(chunk)
                if size and n > size:
                    raise InvalidInput(
                        f"blob {digest}: size mismatch: more data than the {size} bytes its descriptor says"
                    )
                h.update(chunk)
                f.write(chunk)
                if progress:
                    progress(len(chunk))
        got = "sha256:" + h.hexdigest()
        if size and n != size:
            raise InvalidInput(f"blob {digest}: size mismatch: descriptor says {size} bytes, got {n}")
        if got != digest:
            raise InvalidInput(f"blob {digest}: digest mismatch: the downloaded content hashes to {got}")

    def list_tags(self, ref: ShimRef) -> list[str]:
        resp = self._check(
            self._request(ref, f"/v2/{ref.path}/tags/list"), f"listing tags of {ref.repository}"
        )
        return list(json.loads(resp.read()).get("tags") or [])


@dataclass
class ShimManifest:
    data: bytes
    media_type: str
    digest: str


@dataclass
class ShimResolved:
    ref: ShimRef
    manifest: ShimManifest
    index_digest: str | None
    index_data: bytes | None
    config: bytes
    config_descriptor: dict
    layers: list[dict]


def _plat(p: dict) -> Platform:
    return Platform(p.get("os", ""), p.get("architecture", ""), p.get("variant", "") or "")


def resolve_image(client: ShimClient, ref: ShimRef, want: Platform) -> ShimResolved:
    data, mt, digest = client.get_manifest(ref, ref.digest or ref.tag)
    doc = json.loads(data)
    if "manifests" in doc and "layers" in doc:
        raise InvalidInput(f"manifest {digest} has both layers and manifests")
    index_digest = index_data = None
    if mt in INDEXES or "manifests" in doc:
        entries = doc.get("manifests") or []
        for e in entries:
            parse_digest(str(e.get("digest", "")))
        chosen = next((e for e in entries if want.matches(_plat(e.get("platform") or {}))), None)
        if chosen is None:
            avail = ", ".join(str(_plat(e.get("platform") or {})) for e in entries)
            raise RegistryError(
                f"choosing an image from manifest list {ref}: no image found for platform {want} (available: {avail})"
            )
        index_digest, index_data = digest, data
        data, mt, digest = client.get_manifest(ref, chosen["digest"])
        doc = json.loads(data)
    cfg_desc = doc.get("config") or {}
    layers = doc.get("layers") or []
    if not cfg_desc.get("digest"):
        raise InvalidInput(f"manifest {digest} has no config")
    parse_digest(str(cfg_desc["digest"]))
    for layer in layers:
        parse_digest(str(layer.get("digest", "")))
    cfg = client.get_blob_bytes(ref, cfg_desc["digest"], int(cfg_desc.get("size") or 0), MAX_CONFIG_SIZE)
    return ShimResolved(ref, ShimManifest(data, mt, digest), index_digest, index_data, cfg, cfg_desc, layers)
