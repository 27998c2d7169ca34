"""The containers auth file (``auth.json``) that podman, skopeo and buildah share.

Written to ``$REGISTRY_AUTH_FILE`` or ``$XDG_RUNTIME_DIR/containers/auth.json`` (mode 0600, atomically);
read with fallbacks to ``~/.config/containers/auth.json`` and ``~/.docker/config.json`` so existing
logins just work. Keys are ``host`` or ``host/repo/path``; the most specific key wins.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

from podpy.util.errors import AuthError, UsageError
from podpy.util.fsutil import atomic_write
from podpy.util.paths import home, xdg_config_home, xdg_runtime_dir


def default_auth_file() -> Path:
    """Where ``login`` writes: ``$REGISTRY_AUTH_FILE`` or ``$XDG_RUNTIME_DIR/containers/auth.json``."""
    env = os.environ.get("REGISTRY_AUTH_FILE")
    if env:
        return Path(env)
    return xdg_runtime_dir() / "containers" / "auth.json"


def read_files(authfile: str | os.PathLike[str] | None = None) -> list[Path]:
    """Files consulted for credentials, first match wins: an explicit file alone, else the fallbacks."""
    if authfile:
        return [Path(authfile)]
    out = [default_auth_file()]
    if not os.environ.get("REGISTRY_AUTH_FILE"):
        out += [xdg_config_home() / "containers" / "auth.json"]
    docker_dir = os.environ.get("DOCKER_CONFIG")
    out.append(Path(docker_dir) / "config.json" if docker_dir else home() / ".docker" / "config.json")
    return out


def _load(path: Path, *, strict: bool = False) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise AuthError(f"reading auth file {path}: {e.strerror}") from e
    if not raw.strip():
        return {}
    try:
        doc = json.loads(raw)
    except ValueError as e:
        raise AuthError(f"auth file {path} is not valid JSON ({e}): fix or remove it") from e
    if not isinstance(doc, dict) or not isinstance(doc.get("auths", {}), dict):
        raise AuthError(f'auth file {path} is not an auth.json object with "auths": fix or remove it')
    return doc


def normalize_key(key: str) -> str:
    """``https://index.docker.io/v1/`` -> ``docker.io``; ``http://host/`` -> ``host``."""
    k = key.strip()
    for scheme in ("https://", "http://"):
        if k.startswith(scheme):
            k = k[len(scheme) :].split("/", 1)[0]  # legacy docker keys are URLs: keep only the host
    k = k.rstrip("/")
    if k in ("index.docker.io", "registry-1.docker.io"):
        k = "docker.io"
    return k


def _lookup_keys(name: str) -> list[str]:
    """``host/a/b`` -> [``host/a/b``, ``host/a``, ``host``]: most specific first."""
    name = normalize_key(name)
    parts = name.split("/")
    return ["/".join(parts[:i]) for i in range(len(parts), 0, -1)]


def _decode(entry: Any, key: str, path: Path) -> tuple[str, str] | None:
    if not isinstance(entry, dict):
        return None
    auth = entry.get("auth")
    if isinstance(auth, str) and auth:
        try:
            user, sep, pw = base64.b64decode(auth, validate=False).decode().partition(":")
        except (ValueError, UnicodeDecodeError) as e:
            raise AuthError(f"auth file {path}: entry {key!r} is not base64(user:password)") from e
        if not sep:
            raise AuthError(f"auth file {path}: entry {key!r} is not base64(user:password)")
        return user, pw
    user, pw = entry.get("username"), entry.get("password")
    if isinstance(user, str) and isinstance(pw, str) and user:
        return user, pw
    return None


def get_credentials(
    registry_or_repo: str, authfile: str | os.PathLike[str] | None = None
) -> tuple[str, str] | None:
    """(user, password) for ``host`` or ``host/repo``: the most specific entry of the first file that has one."""
    keys = _lookup_keys(registry_or_repo)
    for path in read_files(authfile):
        doc = _load(path)
        auths = {normalize_key(k): v for k, v in (doc.get("auths") or {}).items()}
        helpers = doc.get("credHelpers") or {}
        for key in keys:
            if key in auths:
                got = _decode(auths[key], key, path)
                if got:
                    return got
            if isinstance(helpers, dict) and key in helpers:
                raise AuthError(
                    f"auth file {path} sends {key} to credential helper {helpers[key]!r}, which podpy does not "
                    "support: run podpy login to store the credentials in the auth file"
                )
        if doc.get("credsStore") and not auths:
            raise AuthError(
                f"auth file {path} uses credential store {doc['credsStore']!r}, which podpy does not support: "
                "run podpy login to store the credentials in the auth file"
            )
    return None


def _write(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    atomic_write(path, json.dumps(doc, indent="\t") + "\n", mode=0o600)


def _check_key(key: str) -> str:
    k = normalize_key(key)
    if not k or "@" in k or k.startswith("/") or k.endswith("/"):
        raise UsageError(f"invalid registry {key!r}: use HOST[:PORT][/REPOSITORY]")
    return k


def set_credentials(
    registry_or_repo: str, username: str, password: str, authfile: str | os.PathLike[str] | None = None
) -> Path:
    path = Path(authfile) if authfile else default_auth_file()
    key = _check_key(registry_or_repo)
    doc = _load(path)
    auths = doc.setdefault("auths", {})
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    auths[key] = {"auth": token}
    _write(path, doc)
    return path


def remove_credentials(registry_or_repo: str, authfile: str | os.PathLike[str] | None = None) -> bool:
    """Remove the exact entry; False when there was none (``not logged into``)."""
    path = Path(authfile) if authfile else default_auth_file()
    key = _check_key(registry_or_repo)
    doc = _load(path)
    auths = doc.get("auths") or {}
    hit = [k for k in auths if normalize_key(k) == key]
    if not hit:
        return False
    for k in hit:
        del auths[k]
    _write(path, doc)
    return True


def remove_all(authfile: str | os.PathLike[str] | None = None) -> None:
    path = Path(authfile) if authfile else default_auth_file()
    doc = _load(path)
    if not doc and not path.exists():
        return
    doc["auths"] = {}
    _write(path, doc)


def stored_username(registry_or_repo: str, authfile: str | os.PathLike[str] | None = None) -> str | None:
    creds = get_credentials(registry_or_repo, authfile)
    return creds[0] if creds else None
