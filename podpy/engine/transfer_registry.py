"""The registry side of ``podpy push``: H2's ``RegistryClient`` when present, else a small stdlib shim.

The shim exists so push works (and is tested) before/without ``podpy.registry.client``; it speaks
only what push needs: ``/v2/`` ping, Basic and Bearer auth (scope ``repository:NAME:pull,push``,
plus ``pull`` on a mount source), ``HEAD`` blob, monolithic upload (``POST`` + ``PUT ?digest=``),
cross-repository mount (``POST ?mount=&from=``) and ``PUT`` manifest. It uses urllib so that
``requests`` stays the registry package's own dependency.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from podpy.util.errors import AuthError, RegistryError, UsageError

log = logging.getLogger(__name__)
_USER_AGENT = "podpy/0.1 (push)"


@dataclass(frozen=True)
class Dest:
    """A push destination ``registry/repository:tag``."""

    registry: str
    repository: str
    tag: str

    def __str__(self) -> str:
        return f"{self.registry}/{self.repository}:{self.tag}"


def parse_dest(name: str) -> Dest:
    """A fully qualified ``REGISTRY/REPO[:TAG]`` (``docker://`` prefix allowed)."""
    raw = name.removeprefix("docker://")
    if "@" in raw:
        raise UsageError(f"cannot push to {name}: a destination cannot carry a digest, give a tag")
    tag = "latest"
    last = raw.rsplit("/", 1)[-1]
    if ":" in last:
        raw, tag = raw.rsplit(":", 1)
    if "/" not in raw:
        raise UsageError(
            f"cannot push to {name}: give a fully qualified destination, e.g. registry.example.com/{raw}:{tag}"
        )
    host, repo = raw.split("/", 1)
    if not ("." in host or ":" in host or host == "localhost"):
        host, repo = "docker.io", raw if "/" in raw else f"library/{raw}"
    if host == "localhost" and ":" not in host:
        raise UsageError(
            f"cannot push to {name}: localhost/ names are local-only; give a registry, e.g. podpy push {name} 127.0.0.1:5000/{repo}:{tag}"
        )
    return Dest(host, repo, tag)


def _auth_files(authfile: str | None) -> list[Path]:
    if authfile:
        return [Path(authfile)]
    files = []
    if os.environ.get("REGISTRY_AUTH_FILE"):
        files.append(Path(os.environ["REGISTRY_AUTH_FILE"]))
    from podpy.util.paths import home, xdg_config_home, xdg_runtime_dir

    files += [
        xdg_runtime_dir() / "containers" / "auth.json",
        xdg_config_home() / "containers" / "auth.json",
        home() / ".docker" / "config.json",
    ]
    return files


def lookup_creds(registry: str, repository: str, authfile: str | None) -> tuple[str, str] | None:
    """Credentials for ``registry/repository`` from auth.json (most specific key wins)."""
    for path in _auth_files(authfile):
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            if authfile:
                raise UsageError(f"--authfile {authfile}: no such file") from None
            continue
        except (OSError, ValueError) as e:
            log.debug("ignoring auth file %s: %s", path, e)
            continue
        auths = data.get("auths") or {}
        keys = [f"{registry}/{repository}"]
        parts = repository.split("/")
        keys += [f"{registry}/{'/'.join(parts[:i])}" for i in range(len(parts) - 1, 0, -1)]
        keys += [registry, f"https://{registry}", f"http://{registry}"]
        for key in keys:
            entry = auths.get(key)
            if isinstance(entry, dict) and entry.get("auth"):
                user, _, pw = base64.b64decode(entry["auth"]).decode().partition(":")
                return user, pw
    return None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        return None


class ShimClient:
    """Just enough of the distribution API for push (see the module docstring)."""

    def __init__(
        self,
        dest: Dest,
        tls_verify: bool,
        creds: tuple[str, str] | None,
        mount_sources: list[str] | None = None,
    ) -> None:
        self.dest = dest
        self.creds = creds
        self.tls_verify = tls_verify
        self.scheme = "https"
        self.token: str | None = None
        self.basic = False
        ctx = ssl.create_default_context()
        if not tls_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        self.opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=ctx), _NoRedirect())
        self.head_count = 0
        self.mount_sources = list(mount_sources or [])
        self._ping()

    # -- plumbing -------------------------------------------------------------------------------
    def _url(self, path: str) -> str:
        return f"{self.scheme}://{self.dest.registry}{path}"

    def _raw(self, method: str, url: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        req = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
        req.add_header("User-Agent", _USER_AGENT)
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        elif self.basic and self.creds:
            raw = base64.b64encode(f"{self.creds[0]}:{self.creds[1]}".encode()).decode()
            req.add_header("Authorization", f"Basic {raw}")
        try:
            return self.opener.open(req, timeout=60)
        except urllib.error.HTTPError as e:
            return e

    def _ping(self) -> None:
        for scheme in ("https", "http") if not self.tls_verify else ("https",):
            self.scheme = scheme
            try:
                resp = self._raw("GET", self._url("/v2/"))
            except (urllib.error.URLError, OSError) as e:
                if scheme == "https" and not self.tls_verify:
                    continue
                hint = "" if not self.tls_verify else " (use --tls-verify=false for a plain-HTTP registry)"
                raise RegistryError(
                    f"pinging container registry {self.dest.registry}: {getattr(e, 'reason', e)}{hint}"
                ) from None
            with resp:
                if resp.status == 401:
                    self._authenticate(resp.headers.get("WWW-Authenticate", ""))
            return

    def _authenticate(self, challenge: str) -> None:
        scheme, _, params = challenge.partition(" ")
        if scheme.lower() == "basic":
            if not self.creds:
                raise AuthError(
                    f"authentication required for {self.dest.registry}: log in with podpy login or pass --creds USER:PASS"
                )
            self.basic = True
            resp = self._raw("GET", self._url("/v2/"))
            with resp:
                if resp.status == 401:
                    raise AuthError(f"authenticating to {self.dest.registry}: invalid username/password")
            return
        if scheme.lower() != "bearer":
            raise RegistryError(f"{self.dest.registry}: unsupported authentication scheme {scheme!r}")
        self._challenge = dict(
            (k.strip(), v.strip().strip('"')) for k, _, v in (p.partition("=") for p in _split_params(params))
        )

    def _get_token(self) -> None:
        ch = getattr(self, "_challenge", None)
        if not ch:
            return
        scopes = [f"repository:{self.dest.repository}:pull,push"]
        scopes += [f"repository:{src}:pull" for src in self.mount_sources if src != self.dest.repository]
        query = urllib.parse.urlencode([("service", ch.get("service", ""))] + [("scope", s) for s in scopes])
        req = urllib.request.Request(f"{ch['realm']}?{query}")
        if self.creds:
            raw = base64.b64encode(f"{self.creds[0]}:{self.creds[1]}".encode()).decode()
            req.add_header("Authorization", f"Basic {raw}")
        try:
            with self.opener.open(req, timeout=30) as resp:
                data = json.loads(resp.read(1 << 20))
        except urllib.error.HTTPError as e:
            if e.code == 401:
                raise AuthError(
                    f"authenticating to {self.dest.registry}: invalid username/password"
                ) from None
            raise RegistryError(f"getting a token from {ch['realm']}: HTTP {e.code}") from None
        except (urllib.error.URLError, OSError, ValueError) as e:
            raise RegistryError(f"getting a token from {ch['realm']}: {e}") from None
        self.token = data.get("token") or data.get("access_token")

    def _request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> Any:
        url = path if path.startswith("http") else self._url(path)
        if getattr(self, "_challenge", None) and self.token is None:
            self._get_token()
        resp = self._raw(method, url, body, headers)
        if resp.status == 401:
            resp.close()
            what = "push to" if method != "HEAD" else "access"
            raise AuthError(
                f"cannot {what} {self.dest}: the registry denied access (log in with podpy login or pass --creds)"
            )
        return resp

    @staticmethod
    def _error(resp: Any, what: str) -> RegistryError:
        try:
            body = resp.read(4096).decode(errors="replace")
            errs = json.loads(body).get("errors") or []
            msg = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errs) or body
        except (ValueError, AttributeError):
            msg = ""
        return RegistryError(f"{what}: HTTP {resp.status} {msg}".strip())

    # -- the API push uses ----------------------------------------------------------------------
    def blob_exists(self, digest: str) -> bool:
        self.head_count += 1
        with self._request("HEAD", f"/v2/{self.dest.repository}/blobs/{digest}") as resp:
            return bool(resp.status == 200)

    def push_blob(self, digest: str, size: int, path: Path, mount_from: str | None = None) -> str:
        """Upload (or mount) one blob; returns "mounted" or "uploaded"."""
        repo = self.dest.repository
        if mount_from:
            q = urllib.parse.urlencode({"mount": digest, "from": mount_from})
            with self._request(
                "POST", f"/v2/{repo}/blobs/uploads/?{q}", b"", {"Content-Length": "0"}
            ) as resp:
                if resp.status == 201:
                    return "mounted"
                location = resp.headers.get("Location")
                if resp.status != 202 or not location:
                    raise self._error(resp, f"starting the upload of {digest} to {self.dest}")
        else:
            with self._request("POST", f"/v2/{repo}/blobs/uploads/", b"", {"Content-Length": "0"}) as resp:
                location = resp.headers.get("Location")
                if resp.status != 202 or not location:
                    raise self._error(resp, f"starting the upload of {digest} to {self.dest}")
        url = urllib.parse.urljoin(self._url(f"/v2/{repo}/blobs/uploads/"), location)
        sep = "&" if "?" in url else "?"
        with open(path, "rb") as f:
            headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
            with self._request("PUT", f"{url}{sep}digest={urllib.parse.quote(digest)}", f, headers) as resp:
                if resp.status != 201:
                    raise self._error(resp, f"uploading blob {digest} to {self.dest}")
        return "uploaded"

    def put_manifest(self, data: bytes, media_type: str, reference: str) -> str:
        path = f"/v2/{self.dest.repository}/manifests/{reference}"
        with self._request("PUT", path, data, {"Content-Type": media_type}) as resp:
            if resp.status not in (200, 201):
                raise self._error(resp, f"writing manifest to {self.dest}")
            return str(resp.headers.get("Docker-Content-Digest") or "")


def _split_params(params: str) -> list[str]:
    out, cur, quoted = [], "", False
    for ch in params:
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur)
    return out


def make_client(
    dest: Dest, tls_verify: bool | None, authfile: str | None, creds: str | None, mount_sources: list[str]
) -> ShimClient:
    """A client for pushing to ``dest``, authenticated from ``creds`` or the auth files."""
    pair: tuple[str, str] | None = None
    if creds:
        user, sep, pw = creds.partition(":")
        if not user:
            raise UsageError("--creds needs USERNAME[:PASSWORD]")
        if not sep:
            import getpass

            pw = getpass.getpass("Password: ")
        pair = (user, pw)
    else:
        pair = lookup_creds(dest.registry, dest.repository, authfile)
    verify = True if tls_verify is None else tls_verify
    return ShimClient(dest, verify, pair, mount_sources)
