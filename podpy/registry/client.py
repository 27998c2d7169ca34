"""OCI distribution client (pull and push) over ``requests``, imported lazily.

What it guarantees: every manifest and blob it hands out matches its digest and size; credentials
(Basic or Bearer) are only ever sent to the registry (and its token realm), never to a host a
redirect points at; transient failures (5xx, dropped connections) are retried with backoff and
blob downloads resume with ``Range`` where they stopped. Mirrors from registries.conf are tried
before the primary location.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from podpy.registry import auth as authfile_mod
from podpy.registry.config import Endpoint, RegistriesConf
from podpy.registry.manifest import ACCEPT, Manifest, detect_media_type, sha256_digest
from podpy.spec.digest import parse_digest
from podpy.spec.mediatypes import MAX_MANIFEST_SIZE
from podpy.spec.reference import ImageReference
from podpy.util.errors import AuthError, InvalidInput, PodpyError, RegistryError, UsageError

if TYPE_CHECKING:
    import requests

log = logging.getLogger(__name__)

USER_AGENT = "podpy/0.1"
ALL_MANIFESTS = ACCEPT
CONNECT_TIMEOUT = 30.0
READ_TIMEOUT = 120.0
MAX_REDIRECTS = 10
READ_CHUNK = 1 << 20


@dataclass
class _Challenge:
    scheme: str  # "basic" | "bearer" | "none"
    params: dict[str, str]


@dataclass
class _Token:
    value: str
    expires: float


class RegistryUnavailable(RegistryError):
    """A transient failure that outlived the client's own retries: a caller may retry the whole operation."""


class _Retryable(Exception):
    """A transient failure (connection error, 5xx): worth another attempt."""

    def __init__(self, message: str, response: Any = None) -> None:
        super().__init__(message)
        self.response = response


def parse_www_authenticate(header: str) -> list[_Challenge]:
    """``Bearer realm="…",service="…",scope="…"`` (several challenges may share the header)."""
    out: list[_Challenge] = []
    pos = 0
    token_re = re.compile(r"\s*([A-Za-z][A-Za-z0-9_-]*)(?:\s+|$)")
    param_re = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?')
    while pos < len(header):
        m = token_re.match(header, pos)
        if not m:
            break
        scheme = m.group(1).lower()
        pos = m.end()
        params: dict[str, str] = {}
        while pos < len(header):
            # stop when the next thing is a new scheme (a word not followed by '=')
            nxt = re.match(r"\s*([A-Za-z][A-Za-z0-9_-]*)\s*(=?)", header[pos:])
            if nxt and not nxt.group(2):
                break
            p = param_re.match(header, pos)
            if not p:
                break
            val = p.group(2) if p.group(2) is not None else (p.group(3) or "")
            params[p.group(1).lower()] = re.sub(r"\\(.)", r"\1", val)
            pos = p.end()
        out.append(_Challenge(scheme, params))
        pos = header.find(",", pos) + 1 if header[pos:].lstrip().startswith(",") else pos
    return out


def _scope(repo: str, actions: str) -> str:
    return f"repository:{repo}:{actions}"


def _origin(url: str) -> tuple[str, str]:
    u = urllib.parse.urlsplit(url)
    port = u.port or (443 if u.scheme == "https" else 80)
    return (u.hostname or "").lower(), str(port)


def _describe_conn_error(e: BaseException) -> str:
    s = str(e)
    low = s.lower()
    if "refused" in low:
        return "connection refused"
    if "wrong version number" in low or "record layer failure" in low or "http_request" in low:
        return "http: server gave HTTP response to HTTPS client"
    if "certificate" in low:
        return "TLS certificate verification failed"
    if (
        "name or service not known" in low
        or "nodename nor servname" in low
        or "temporary failure in name" in low
    ):
        return "no such host"
    if "timed out" in low or "timeout" in low:
        return "connection timed out"
    if "reset" in low:
        return "connection reset by peer"
    if "remotedisconnected" in low or "aborted" in low or "incomplete" in low or "broken" in low:
        return "connection closed by the registry"
    return s.splitlines()[0][:200] if s else e.__class__.__name__


def _go_dial_error(host: str, detail: str) -> str:
    """A connection failure worded as podman (Go's net package) words it."""
    hostname = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return {
        "connection refused": f"dial tcp {host}: connect: connection refused",
        "connection timed out": f"dial tcp {host}: i/o timeout",
        "no such host": f"dial tcp: lookup {hostname}: no such host",
    }.get(detail, detail)


def _registry_error_detail(resp: Any) -> str:
    """The registry's own error text (``{"errors":[{"code","message"}]}``), one line."""
    try:
        doc = resp.json()
        errs = doc.get("errors") or []
        parts = []
        for e in errs[:3]:
            code = str(e.get("code", "")).lower().replace("_", " ")
            msg = str(e.get("message", ""))
            parts.append(f"{code}: {msg}" if code and msg and code not in msg.lower() else (msg or code))
        if parts:
            return "; ".join(parts)
    except Exception:  # noqa: BLE001 - any body shape
        pass
    return f"HTTP {resp.status_code} {getattr(resp, 'reason', '') or ''}".strip()


class RegistryClient:
    """A distribution-API client for one podpy invocation (token cache and TLS decisions are per client)."""

    monolithic_limit = 32 * 1024 * 1024  # blobs up to this size are uploaded with one PUT
    chunk_size = 16 * 1024 * 1024  # PATCH chunk size above that

    def __init__(
        self,
        conf: RegistriesConf | None = None,
        *,
        authfile: str | None = None,
        creds: tuple[str, str] | str | None = None,
        tls_verify: bool | None = None,
        retry: int = 3,
        retry_delay: float | None = None,
    ) -> None:
        self.conf = conf or RegistriesConf()
        self.authfile = authfile
        self.creds = _parse_creds(creds)
        self.tls_verify = tls_verify
        self.retry = max(0, int(retry))
        self.retry_delay = retry_delay
        self._session: requests.Session | None = None
        self._lock = threading.Lock()
        self._schemes: dict[str, tuple[str, bool]] = {}  # host -> (scheme, verify)
        self._challenges: dict[str, _Challenge] = {}
        self._tokens: dict[tuple[str, str], _Token] = {}
        self._host_locks: dict[str, threading.Lock] = {}
        self._preferred: dict[str, int] = {}  # ref.name -> index of the endpoint that worked
        self._token_fetches = 0

    # -- plumbing ---------------------------------------------------------------------------------
    @property
    def session(self) -> requests.Session:
        if self._session is None:
            import requests
            from requests.adapters import HTTPAdapter

            s = requests.Session()
            s.trust_env = False  # no ~/.netrc credentials sneaking onto redirects; proxies added per request
            s.headers["User-Agent"] = USER_AGENT
            adapter = HTTPAdapter(pool_connections=8, pool_maxsize=16, max_retries=0)
            s.mount("http://", adapter)
            s.mount("https://", adapter)
            self._session = s
        return self._session

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _host_lock(self, host: str) -> threading.Lock:
        with self._lock:
            return self._host_locks.setdefault(host, threading.Lock())

    def _insecure(self, host: str, endpoint_insecure: bool = False) -> bool:
        return self.tls_verify is False or endpoint_insecure or self.conf.is_insecure(host)

    def _credentials(self, name: str) -> tuple[str, str] | None:
        if self.creds:
            return self.creds
        return authfile_mod.get_credentials(name, self.authfile)

    def _delay(self, attempt: int) -> float:
        if self.retry_delay is not None:
            return float(self.retry_delay)
        return min(2.0**attempt, 30.0)

    def _raw(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        auth_header: str | None = None,
        stream: bool = False,
        data: Any = None,
        verify: bool = True,
        allow_redirects: bool = True,
    ) -> requests.Response:
        """One HTTP exchange, following redirects by hand so Authorization stays with its origin."""
        import requests

        hdrs = dict(headers or {})
        origin = _origin(url)
        for _ in range(MAX_REDIRECTS + 1):
            h = dict(hdrs)
            if auth_header and _origin(url) == origin:
                h["Authorization"] = auth_header
            proxies = requests.utils.get_environ_proxies(url)
            try:
                resp = self.session.request(
                    method,
                    url,
                    headers=h,
                    data=data,
                    stream=stream,
                    verify=verify,
                    allow_redirects=False,
                    timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
                    proxies=proxies,
                )
            except requests.exceptions.SSLError as e:
                raise RegistryError(_describe_conn_error(e)) from e  # retrying a TLS mismatch cannot help
            except requests.exceptions.RequestException as e:
                raise _Retryable(_describe_conn_error(e)) from e
            if (
                allow_redirects
                and resp.status_code in (301, 302, 303, 307, 308)
                and "Location" in resp.headers
            ):
                nxt = urllib.parse.urljoin(url, resp.headers["Location"])
                resp.close()
                if (
                    urllib.parse.urlsplit(url).scheme == "https"
                    and urllib.parse.urlsplit(nxt).scheme == "http"
                ):
                    raise RegistryError(f"refusing a redirect from {url} to plain-HTTP {nxt}")
                if resp.status_code == 303 or (resp.status_code in (301, 302) and method == "POST"):
                    method, data = "GET", None
                url = nxt
                continue
            return resp
        raise RegistryError(f"too many redirects fetching {url}")

    # -- TLS / ping / auth ------------------------------------------------------------------------
    def _base(self, host: str, insecure: bool = False) -> tuple[str, bool]:
        """(``scheme://host``, verify) for ``host``, pinging ``/v2/`` the first time."""
        with self._lock:
            known = self._schemes.get(host)
        if known:
            return f"{known[0]}://{host}", known[1]
        with self._host_lock(host):
            with self._lock:
                known = self._schemes.get(host)
            if known:
                return f"{known[0]}://{host}", known[1]
            self._ping(host, insecure)
            with self._lock:
                known = self._schemes[host]
            return f"{known[0]}://{host}", known[1]

    def _ping(self, host: str, insecure: bool) -> None:
        allow_http = self._insecure(host, insecure)
        tries = [("https", self.tls_verify is not False and not allow_http)]
        if allow_http:
            tries = [("https", False), ("http", False)]
        failure: tuple[str, str, bool] = ("https", "no answer", False)  # (scheme, detail, transient)
        for scheme, verify in tries:
            try:
                resp = self._with_retries(lambda s=scheme, v=verify: self._ping_once(s, host, v), "")
            except RegistryError as e:
                failure = (scheme, e.message, isinstance(e, RegistryUnavailable))
                continue
            chal = _Challenge("none", {})
            if resp.status_code == 401:
                for c in parse_www_authenticate(resp.headers.get("WWW-Authenticate", "")):
                    if c.scheme in ("bearer", "basic"):
                        chal = c
                        if c.scheme == "bearer":
                            break
            elif resp.status_code >= 400 and resp.status_code != 404:
                failure = (scheme, _registry_error_detail(resp), False)
                resp.close()
                continue
            resp.close()
            with self._lock:
                self._schemes[host] = (scheme, verify)
                self._challenges[host] = chal
            log.debug("registry %s: %s, auth %s", host, scheme, chal.scheme)
            return
        scheme, detail, transient = failure
        hint = ""
        if not allow_http and "HTTP response to HTTPS" in detail:
            hint = (
                " (use --tls-verify=false or mark it insecure in registries.conf for a plain-HTTP registry)"
            )
        msg = f'pinging container registry {host}: Get "{scheme}://{host}/v2/": {_go_dial_error(host, detail)}{hint}'
        raise RegistryUnavailable(msg) if transient else RegistryError(msg)

    def _ping_once(self, scheme: str, host: str, verify: bool) -> requests.Response:
        resp = self._raw("GET", f"{scheme}://{host}/v2/", verify=verify)
        if resp.status_code >= 500:
            raise _Retryable(f"HTTP {resp.status_code}", resp)
        return resp

    def _with_retries(self, fn: Callable[[], Any], what: str) -> Any:
        last: _Retryable | None = None
        for attempt in range(self.retry + 1):
            try:
                return fn()
            except _Retryable as e:
                last = e
                if e.response is not None:
                    e.response.close()
                if attempt < self.retry:
                    d = self._delay(attempt)
                    log.debug("%s failed (%s); retrying in %.1fs", what, e, d)
                    time.sleep(d)
        assert last is not None
        raise RegistryUnavailable(f"{what}: {last}" if what else str(last))

    def _token(
        self, host: str, chal: _Challenge, scopes: tuple[str, ...], creds: tuple[str, str] | None
    ) -> str:
        key = (host, " ".join(scopes) + ("|" + creds[0] if creds else "|"))
        with self._lock:
            tok = self._tokens.get(key)
        if tok and tok.expires > time.monotonic():
            return tok.value
        realm = chal.params.get("realm")
        if not realm:
            raise RegistryError(f"registry {host} asked for a bearer token without a realm")
        rs = urllib.parse.urlsplit(realm)
        if rs.scheme not in ("http", "https"):
            raise RegistryError(f"registry {host} names an invalid token realm {realm!r}")
        params: list[tuple[str, str]] = []
        if chal.params.get("service"):
            params.append(("service", chal.params["service"]))
        params += [("scope", s) for s in scopes]
        if creds:
            params.append(("account", creds[0]))
        url = realm + ("&" if rs.query else "?") + urllib.parse.urlencode(params)
        auth = None
        if creds:
            auth = "Basic " + base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode()

        def once() -> requests.Response:
            r = self._raw("GET", url, auth_header=auth, verify=self._realm_verify(realm))
            if r.status_code >= 500:
                raise _Retryable(f"HTTP {r.status_code}", r)
            return r

        with self._lock:
            self._token_fetches += 1
        resp = self._with_retries(once, f"getting a token from {rs.netloc}")
        if resp.status_code in (401, 403):
            resp.close()
            if creds:
                raise AuthError(
                    f"authenticating to {host}: invalid username/password for {creds[0]!r} "
                    f"(check your credentials or run podpy login {host})"
                )
            raise AuthError(f"authenticating to {host}: anonymous access was refused: run podpy login {host}")
        if resp.status_code != 200:
            detail = _registry_error_detail(resp)
            resp.close()
            raise RegistryError(f"getting a token from {rs.netloc} for {host}: {detail}")
        try:
            doc = resp.json()
        except ValueError as e:
            raise RegistryError(f"token server {rs.netloc} sent an invalid answer: {e}") from e
        value = doc.get("token") or doc.get("access_token")
        if not isinstance(value, str) or not value:
            raise RegistryError(f"token server {rs.netloc} sent no token")
        ttl = doc.get("expires_in")
        ttl = float(ttl) if isinstance(ttl, int | float) and ttl > 0 else 60.0
        with self._lock:
            self._tokens[key] = _Token(value, time.monotonic() + max(ttl - 10.0, ttl / 2))
        return value

    def _realm_verify(self, realm: str) -> bool:
        host = urllib.parse.urlsplit(realm).netloc
        return not (self.tls_verify is False or self.conf.is_insecure(host))

    def _auth_header(self, host: str, scopes: tuple[str, ...], cred_name: str) -> str | None:
        with self._lock:
            chal = self._challenges.get(host)
        if chal is None or chal.scheme == "none":
            return None
        creds = self._credentials(cred_name)
        if chal.scheme == "basic":
            if not creds:
                return None
            return "Basic " + base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode()
        return "Bearer " + self._token(host, chal, scopes, creds)

    # -- the request every API call goes through --------------------------------------------------
    def _request(
        self,
        method: str,
        ep: Endpoint,
        path: str,
        *,
        actions: str = "pull",
        extra_scopes: tuple[str, ...] = (),
        headers: dict[str, str] | None = None,
        data: Any = None,
        stream: bool = False,
        url: str | None = None,
        retry: bool = True,
    ) -> requests.Response:
        """An authenticated request to ``ep``'s registry; 5xx and connection errors retried (when ``retry``)."""
        host = ep.registry
        base, verify = self._base(host, ep.insecure)
        full = url or f"{base}{path}"
        scopes = (_scope(ep.ref.repository, actions), *extra_scopes)
        cred_name = ep.ref.name

        def once() -> requests.Response:
            fetched = self._token_fetches
            auth = self._auth_header(host, scopes, cred_name)
            fresh = self._token_fetches != fetched
            body = data() if callable(data) else data
            r = self._raw(
                method, full, headers=headers, auth_header=auth, stream=stream, data=body, verify=verify
            )
            if r.status_code == 401:
                # the registry may want other auth than /v2/ said (or our token expired): learn and retry once
                chal = next(
                    (
                        c
                        for c in parse_www_authenticate(r.headers.get("WWW-Authenticate", ""))
                        if c.scheme in ("bearer", "basic")
                    ),
                    None,
                )
                with self._lock:
                    old = self._challenges.get(host)
                changed = chal is not None and (
                    old is None
                    or (chal.scheme, chal.params.get("realm"), chal.params.get("service"))
                    != (old.scheme, old.params.get("realm"), old.params.get("service"))
                )
                if chal is not None and (changed or not fresh):
                    with self._lock:
                        self._challenges[host] = chal
                        if chal.scheme == "bearer":
                            for k in [
                                k
                                for k in self._tokens
                                if k[0] == host and k[1].startswith(" ".join(scopes) + "|")
                            ]:
                                del self._tokens[k]
                    auth2 = self._auth_header(host, scopes, cred_name)
                    if auth2 and auth2 != auth:
                        r.close()
                        body = data() if callable(data) else data
                        r = self._raw(
                            method,
                            full,
                            headers=headers,
                            auth_header=auth2,
                            stream=stream,
                            data=body,
                            verify=verify,
                        )
            if r.status_code >= 500 or r.status_code == 429:
                raise _Retryable(f"{_registry_error_detail(r)}", r)
            return r

        if not retry:
            try:
                return once()
            except _Retryable as e:
                raise RegistryUnavailable(f'{method.capitalize()} "{full}": {e}') from e
        return self._with_retries(once, f'{method.capitalize()} "{full}"')

    def _denied(self, resp: requests.Response, ep: Endpoint, what: str) -> PodpyError:
        """The one-line error for a 401/403/404 answer."""
        detail = _registry_error_detail(resp)
        resp.close()
        if resp.status_code == 401 and detail.startswith("HTTP "):
            detail = "unauthorized: authentication required"  # a HEAD answer has no body
        if resp.status_code in (401, 403):
            creds = self._credentials(ep.ref.name)
            with self._lock:
                chal = self._challenges.get(ep.registry)
            if resp.status_code == 401 and creds and chal is not None and chal.scheme == "basic":
                return AuthError(
                    f"{what}: invalid username/password ({detail}): check your credentials or run "
                    f"podpy login {ep.registry}"
                )
            fix = (
                f"check your credentials or run podpy login {ep.registry}"
                if creds
                else f"log in with podpy login {ep.registry} or pass --creds"
            )
            return AuthError(f"{what}: requested access to the resource is denied ({detail}): {fix}")
        return RegistryError(f"{what}: {detail}")

    # -- endpoints and mirrors --------------------------------------------------------------------
    def _endpoints(self, ref: ImageReference, push: bool = False) -> list[Endpoint]:
        eps = self.conf.endpoints(ref, push=push)
        pref = self._preferred.get(ref.name)
        if pref is not None and 0 <= pref < len(eps):
            eps = [eps[pref]] + [e for i, e in enumerate(eps) if i != pref]
        return eps

    def _on_endpoints(self, ref: ImageReference, fn: Callable[[Endpoint], Any]) -> Any:
        """Run ``fn`` against the mirrors then the primary; the first success wins and is remembered."""
        eps = self.conf.endpoints(ref)
        order = list(range(len(eps)))
        pref = self._preferred.get(ref.name)
        if pref is not None and pref in order:
            order.remove(pref)
            order.insert(0, pref)
        last: PodpyError | None = None
        for i in order:
            ep = eps[i]
            try:
                out = fn(ep)
            except (RegistryError, InvalidInput) as e:
                if len(eps) == 1:
                    raise
                log.debug("%s via %s failed: %s", ref, ep.registry, e)
                last = e
                continue
            with self._lock:
                self._preferred[ref.name] = i
            return out
        assert last is not None
        raise last

    # -- pull side --------------------------------------------------------------------------------
    def get_manifest(self, ref: ImageReference, accept: str = ALL_MANIFESTS) -> Manifest:
        """The manifest (or index) ``ref`` names, verified against the requested digest and the registry's."""
        return self._on_endpoints(ref, lambda ep: self._get_manifest(ep, accept))

    def _get_manifest(self, ep: Endpoint, accept: str) -> Manifest:
        ref = ep.ref
        what = f"reading manifest {ref.reference} in {ref.name}"
        resp = self._request(
            "GET",
            ep,
            f"/v2/{ref.repository}/manifests/{ref.reference}",
            headers={"Accept": accept},
            stream=True,
        )
        try:
            if resp.status_code != 200:
                raise self._denied(resp, ep, what)
            data = _read_capped(resp, MAX_MANIFEST_SIZE, f"manifest {ref}")
        finally:
            resp.close()
        digest = sha256_digest(data)
        if ref.digest:
            want = parse_digest(ref.digest)
            got = (
                digest
                if want.algorithm == "sha256"
                else f"{want.algorithm}:" + hashlib.new(want.algorithm, data).hexdigest()
            )
            if got != ref.digest:
                raise InvalidInput(
                    f"manifest {ref} does not match its digest: got {got}: the registry served wrong data"
                )
        header = resp.headers.get("Docker-Content-Digest")
        if header and header.startswith("sha256:") and not ref.digest and header != digest:
            raise InvalidInput(
                f"manifest {ref}: content digest {digest} does not match the registry's Docker-Content-Digest {header}"
            )
        media_type = detect_media_type(data, resp.headers.get("Content-Type"), str(ref))
        return Manifest(data=data, media_type=media_type, digest=ref.digest or digest)

    def fetch_blob_bytes(self, ref: ImageReference, descriptor: dict[str, Any], max_size: int) -> bytes:
        """A small blob (a config) in memory, size-capped and digest-verified."""
        digest, size = _desc(descriptor)
        if size > max_size:
            raise InvalidInput(f"blob {digest} is {size} bytes, over the {max_size} byte limit")

        def get(ep: Endpoint) -> bytes:
            resp = self._request("GET", ep, f"/v2/{ep.ref.repository}/blobs/{digest}", stream=True)
            try:
                if resp.status_code != 200:
                    raise self._denied(resp, ep, f"fetching blob {digest} from {ep.ref.name}")
                lie = (
                    f"blob {digest}: the registry sends more than the {size} bytes the manifest says: "
                    "refusing a blob whose size does not match its descriptor"
                )
                data = _read_capped(resp, size, f"blob {digest}", over=lie)  # size <= max_size here
            finally:
                resp.close()
            _verify(data, digest, size)
            return data

        return self._on_endpoints(ref, get)

    def fetch_blob(
        self,
        ref: ImageReference,
        descriptor: dict[str, Any],
        dest: Path,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        """Stream a blob into ``dest``, verifying size and digest as it arrives; resume with Range."""
        self._on_endpoints(ref, lambda ep: self._fetch_blob(ep, descriptor, Path(dest), progress))

    def _fetch_blob(
        self, ep: Endpoint, descriptor: dict[str, Any], dest: Path, progress: Callable[[int], None] | None
    ) -> None:
        digest, size = _desc(descriptor)
        algo = parse_digest(digest).algorithm
        path = f"/v2/{ep.ref.repository}/blobs/{digest}"
        h = hashlib.new(algo)
        done = 0
        failures = 0
        resumes = 0
        ok = False
        try:
            with open(dest, "wb") as out:
                while True:
                    headers = {"Accept-Encoding": "identity"}  # the digest is over the bytes as stored
                    if done:
                        headers["Range"] = f"bytes={done}-"
                    try:
                        resp = self._request("GET", ep, path, headers=headers, stream=True)
                    except RegistryError:
                        raise
                    try:
                        if resp.status_code == 206 and done:
                            m = re.match(r"bytes (\d+)-", resp.headers.get("Content-Range", ""))
                            if not m or int(m.group(1)) != done:
                                raise RegistryError(
                                    f"blob {digest}: the registry answered a resume with the wrong range"
                                )
                        elif resp.status_code == 200:
                            if done:  # no Range support: start over
                                out.seek(0)
                                out.truncate()
                                if progress:
                                    progress(-done)
                                h = hashlib.new(algo)
                                done = 0
                            cl = resp.headers.get("Content-Length")
                            if cl is not None and cl.isdigit() and int(cl) != size:
                                raise InvalidInput(
                                    f"blob {digest}: the registry sends {cl} bytes but the manifest says {size}: "
                                    "refusing a blob whose size does not match its descriptor"
                                )
                        elif resp.status_code == 416 and done == size:
                            pass  # everything was already there
                        else:
                            raise self._denied(resp, ep, f"fetching blob {digest} from {ep.ref.name}")
                        before = done
                        try:
                            for chunk in _raw_chunks(resp):
                                if not chunk:
                                    continue
                                done += len(chunk)
                                if done > size:
                                    raise InvalidInput(
                                        f"blob {digest} is larger than the {size} bytes its descriptor says: "
                                        "refusing it"
                                    )
                                h.update(chunk)
                                out.write(chunk)
                                if progress:
                                    progress(len(chunk))
                        except (InvalidInput, RegistryError):
                            raise
                        except Exception as e:  # noqa: BLE001 - urllib3/requests stream errors of every kind
                            if done == before:
                                failures += 1
                            resumes += 1
                            if failures > self.retry or resumes > self.retry + 20:
                                raise RegistryUnavailable(
                                    f"fetching blob {digest} from {ep.ref.name}: {_describe_conn_error(e)} "
                                    f"after {done} of {size} bytes"
                                ) from e
                            log.debug("blob %s dropped at %d/%d bytes (%s); resuming", digest, done, size, e)
                            time.sleep(self._delay(failures) if done == before else 0)
                            continue
                    finally:
                        resp.close()
                    if done < size:
                        # the server closed the body early without an error: resume
                        failures += 1
                        resumes += 1
                        if failures > self.retry or resumes > self.retry + 20:
                            raise RegistryUnavailable(
                                f"fetching blob {digest} from {ep.ref.name}: the registry sent {done} of {size} bytes"
                            )
                        continue
                    break
                got = f"{algo}:{h.hexdigest()}"
                if got != digest:
                    raise InvalidInput(
                        f"blob {digest} does not match its digest (got {got}): the registry served wrong data"
                    )
                out.flush()
            ok = True
        finally:
            if not ok:
                try:
                    with open(dest, "wb"):
                        pass  # nothing usable stays behind
                except OSError:
                    pass

    def blob_exists(self, ref: ImageReference, digest: str) -> bool:
        parse_digest(digest)
        ep = self._endpoints(ref, push=True)[-1]
        return self._blob_exists(ep, digest, "pull")

    def _blob_exists(self, ep: Endpoint, digest: str, actions: str) -> bool:
        resp = self._request("HEAD", ep, f"/v2/{ep.ref.repository}/blobs/{digest}", actions=actions)
        resp.close()
        if resp.status_code == 200:
            return True
        if resp.status_code == 404:
            return False
        raise self._denied(resp, ep, f"checking whether a blob {digest} exists in {ep.ref.name}")

    def list_tags(self, ref: ImageReference) -> list[str]:
        return self._on_endpoints(ref, self._list_tags)

    def _list_tags(self, ep: Endpoint) -> list[str]:
        tags: list[str] = []
        url: str | None = None
        path = f"/v2/{ep.ref.repository}/tags/list"
        for _ in range(1000):
            resp = self._request("GET", ep, path, url=url)
            if resp.status_code != 200:
                raise self._denied(resp, ep, f"listing tags of {ep.ref.name}")
            try:
                doc = resp.json()
            except ValueError as e:
                raise InvalidInput(f"tag list of {ep.ref.name} is not valid JSON") from e
            got = doc.get("tags") or []
            if not isinstance(got, list):
                raise InvalidInput(f"tag list of {ep.ref.name} is malformed")
            tags += [t for t in got if isinstance(t, str)]
            link = resp.headers.get("Link", "")
            m = re.search(r'<([^>]+)>\s*;\s*rel="?next"?', link)
            if not m:
                break
            base, _ = self._base(ep.registry, ep.insecure)
            url = urllib.parse.urljoin(base + path, m.group(1))
        return tags

    # -- push side --------------------------------------------------------------------------------
    def _push_endpoint(self, ref: ImageReference) -> Endpoint:
        return self.conf.endpoints(ref, push=True)[-1]

    def push_blob(
        self,
        ref: ImageReference,
        digest: str,
        size: int,
        path: Path,
        mount_from: ImageReference | None = None,
    ) -> str:
        """Upload a blob unless the registry has it; returns ``exists``, ``mounted`` or ``uploaded``."""
        parse_digest(digest)
        ep = self._push_endpoint(ref)
        if self._blob_exists(ep, digest, "pull,push"):
            return "exists"
        repo = ep.ref.repository
        extra: tuple[str, ...] = ()
        query = ""
        if mount_from is not None:
            src = self._push_endpoint(mount_from).ref
            if src.registry == ep.registry and src.repository != repo:
                extra = (_scope(src.repository, "pull"),)
                query = "?" + urllib.parse.urlencode({"mount": digest, "from": src.repository})

        def attempt() -> str:
            resp = self._request(
                "POST",
                ep,
                f"/v2/{repo}/blobs/uploads/{query}",
                actions="pull,push",
                extra_scopes=extra,
                headers={"Content-Length": "0"},
            )
            resp.close()
            if resp.status_code == 201 and query:
                return "mounted"
            if resp.status_code != 202 or "Location" not in resp.headers:
                raise self._denied(resp, ep, f"starting an upload of {digest} to {ep.ref.name}")
            base, _ = self._base(ep.registry, ep.insecure)
            loc = urllib.parse.urljoin(f"{base}/v2/{repo}/blobs/uploads/", resp.headers["Location"])
            if size <= self.monolithic_limit:
                self._put_monolithic(ep, loc, digest, size, path)
            else:
                self._put_chunked(ep, loc, digest, size, path)
            return "uploaded"

        last: RegistryError | None = None
        for i in range(self.retry + 1):
            try:
                return attempt()
            except AuthError:
                raise
            except RegistryError as e:
                last = e
                if i < self.retry and isinstance(e, RegistryUnavailable):
                    time.sleep(self._delay(i))
                    continue
                raise
        assert last is not None
        raise last

    def _finish_url(self, loc: str, digest: str) -> str:
        return (
            loc
            + ("&" if urllib.parse.urlsplit(loc).query else "?")
            + urllib.parse.urlencode({"digest": digest})
        )

    def _put_monolithic(self, ep: Endpoint, loc: str, digest: str, size: int, path: Path) -> None:
        def body() -> Any:
            return _FileBody(path, 0, size)

        resp = self._request(
            "PUT",
            ep,
            "",
            url=self._finish_url(loc, digest),
            actions="pull,push",
            data=body,
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
            retry=False,
        )
        resp.close()
        if resp.status_code not in (201, 204):
            raise self._denied(resp, ep, f"uploading blob {digest} to {ep.ref.name}")

    def _put_chunked(self, ep: Endpoint, loc: str, digest: str, size: int, path: Path) -> None:
        base, _ = self._base(ep.registry, ep.insecure)
        off = 0
        while off < size:
            n = min(self.chunk_size, size - off)
            start = off
            resp = self._request(
                "PATCH",
                ep,
                "",
                url=loc,
                actions="pull,push",
                data=lambda s=start, c=n: _FileBody(path, s, c),
                headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Length": str(n),
                    "Content-Range": f"{start}-{start + n - 1}",
                },
                retry=False,
            )
            resp.close()
            if resp.status_code != 202:
                raise self._denied(resp, ep, f"uploading blob {digest} to {ep.ref.name}")
            if "Location" in resp.headers:
                loc = urllib.parse.urljoin(base + "/", resp.headers["Location"])
            off += n
        resp = self._request(
            "PUT",
            ep,
            "",
            url=self._finish_url(loc, digest),
            actions="pull,push",
            headers={"Content-Length": "0"},
            retry=False,
        )
        resp.close()
        if resp.status_code not in (201, 204):
            raise self._denied(resp, ep, f"finishing the upload of {digest} to {ep.ref.name}")

    def put_manifest(self, ref: ImageReference, data: bytes, media_type: str) -> str:
        """Upload a manifest under ``ref``'s tag (or digest); returns its digest."""
        digest = sha256_digest(data)
        ep = self._push_endpoint(ref)
        target = ep.ref.tag or ep.ref.digest or digest
        if ep.ref.digest and ep.ref.digest != digest and not ep.ref.tag:
            raise UsageError(f"cannot push to {ref}: the manifest's digest is {digest}")
        resp = self._request(
            "PUT",
            ep,
            f"/v2/{ep.ref.repository}/manifests/{target}",
            actions="pull,push",
            data=data,
            headers={"Content-Type": media_type},
        )
        resp.close()
        if resp.status_code not in (200, 201, 202):
            raise self._denied(resp, ep, f"writing manifest {target} to {ep.ref.name}")
        header = resp.headers.get("Docker-Content-Digest")
        if header and header != digest:
            raise RegistryError(f"registry {ep.registry} stored manifest as {header}, expected {digest}")
        return digest

    # -- login ------------------------------------------------------------------------------------
    def check_login(self, registry: str) -> None:
        """Verify the client's credentials against ``registry``; AuthError when they are refused."""
        host = registry.split("/", 1)[0]
        base, verify = self._base(host, self.conf.is_insecure(host))
        with self._lock:
            chal = self._challenges.get(host) or _Challenge("none", {})
        creds = self._credentials(registry)
        if chal.scheme == "none":
            return
        if not creds:
            raise AuthError(f"logging into {registry}: no credentials given: pass -u and -p")
        if chal.scheme == "bearer":
            self._token(host, chal, (), creds)
            return
        auth = "Basic " + base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode()
        resp = self._with_retries(
            lambda: self._ok_or_retry(self._raw("GET", f"{base}/v2/", auth_header=auth, verify=verify)), host
        )
        resp.close()
        if resp.status_code in (401, 403):
            raise AuthError(f"logging into {registry}: invalid username/password")
        if resp.status_code >= 400:
            raise RegistryError(f"logging into {registry}: {_registry_error_detail(resp)}")

    @staticmethod
    def _ok_or_retry(resp: requests.Response) -> requests.Response:
        if resp.status_code >= 500:
            raise _Retryable(f"HTTP {resp.status_code}", resp)
        return resp


class _FileBody:
    """An iterable upload body of ``count`` bytes of ``path`` from ``offset`` (re-creatable for retries)."""

    def __init__(self, path: Path, offset: int, count: int) -> None:
        self.path, self.offset, self.count = path, offset, count

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[bytes]:
        left = self.count
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            while left > 0:
                chunk = f.read(min(READ_CHUNK, left))
                if not chunk:
                    raise RegistryError(f"{self.path} is shorter than expected while uploading")
                left -= len(chunk)
                yield chunk


def _parse_creds(creds: tuple[str, str] | str | None) -> tuple[str, str] | None:
    if creds is None or creds == "":
        return None
    if isinstance(creds, tuple):
        return creds
    user, sep, pw = creds.partition(":")
    if not user:
        raise UsageError("--creds needs USERNAME[:PASSWORD]")
    if not sep:
        import getpass

        pw = getpass.getpass("Password: ")
    return user, pw


def _desc(descriptor: dict[str, Any]) -> tuple[str, int]:
    digest = descriptor.get("digest") if isinstance(descriptor, dict) else None
    size = descriptor.get("size") if isinstance(descriptor, dict) else None
    if not isinstance(digest, str):
        raise InvalidInput("blob descriptor has no digest")
    parse_digest(digest)
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise InvalidInput(f"blob {digest}: descriptor size {size!r} is not a non-negative integer")
    return digest, size


def _raw_chunks(resp: requests.Response) -> Iterator[bytes]:
    """The body as it arrives, undecoded; a partial read before a dropped connection is not lost."""
    raw = resp.raw
    read1 = getattr(raw, "read1", None)
    while True:
        chunk = read1(READ_CHUNK, decode_content=False) if read1 else raw.read(65536, decode_content=False)
        if not chunk:
            return
        yield chunk


def _read_capped(resp: requests.Response, cap: int, what: str, over: str | None = None) -> bytes:
    """The whole body, refused as soon as it passes ``cap`` bytes (with ``over`` as the message, if given)."""
    cl = resp.headers.get("Content-Length")
    if cl and cl.isdigit() and int(cl) > cap:
        raise InvalidInput(over or f"{what} is {cl} bytes, over the {cap} byte limit")
    buf = bytearray()
    try:
        for chunk in resp.iter_content(65536):
            buf += chunk
            if len(buf) > cap:
                raise InvalidInput(over or f"{what} is over the {cap} byte limit")
    except InvalidInput:
        raise
    except Exception as e:  # noqa: BLE001 - stream errors
        raise RegistryError(f"reading {what}: {_describe_conn_error(e)}") from e
    return bytes(buf)


def _verify(data: bytes, digest: str, size: int) -> None:
    if len(data) != size:
        raise InvalidInput(f"blob {digest} is {len(data)} bytes but its descriptor says {size}")
    algo = parse_digest(digest).algorithm
    got = f"{algo}:" + hashlib.new(algo, data).hexdigest()
    if got != digest:
        raise InvalidInput(
            f"blob {digest} does not match its digest (got {got}): the registry served wrong data"
        )
