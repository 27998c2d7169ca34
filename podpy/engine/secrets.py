"""Secrets (``podpy secret``, ``run --secret``), as Podman 4.3's ``file`` driver keeps them.

``ROOT/secrets/secrets.json`` holds the metadata (ID, name, times, labels); each secret's bytes are
``ROOT/secrets/filedriver/ID`` (mode 0600), written before the metadata names it and deleted after
it no longer does, so a crash leaves at worst an orphan file, never a secret without its data. A
container gets a copy made at create time: ``type=mount`` (default) a read-only file at
``/run/secrets/NAME`` (or ``target=``), ``type=env`` an environment variable.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from pathlib import Path
from typing import Any

from podpy.spec.container import ContainerSpec, Mount
from podpy.util.errors import ConflictError, NotFoundError, UsageError
from podpy.util.fsutil import atomic_write
from podpy.util.gotime import rfc3339_nano
from podpy.util.lock import FileLock
from podpy.util.paths import Paths

MAX_SIZE = 512000  # bytes, Podman's limit
_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")


def _dir(paths: Paths) -> Path:
    return Path(paths.root) / "secrets"


def _lock(paths: Paths) -> FileLock:
    d = _dir(paths)
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    return FileLock(d / "secrets.lock")


def _load(paths: Paths) -> dict[str, dict[str, Any]]:
    try:
        return dict(json.loads((_dir(paths) / "secrets.json").read_text()).get("secrets") or {})
    except FileNotFoundError:
        return {}


def _save(paths: Paths, secrets: dict[str, dict[str, Any]]) -> None:
    atomic_write(_dir(paths) / "secrets.json", json.dumps({"secrets": secrets}, indent=1), mode=0o600)


def _data_path(paths: Paths, sid: str) -> Path:
    return _dir(paths) / "filedriver" / sid


def not_found(ref: str) -> NotFoundError:
    return NotFoundError(f'no secret with name or id "{ref}": no such secret')


def create(paths: Paths, name: str, data: bytes, *, driver: str = "file", driver_opts: dict[str, str] | None = None,
           labels: dict[str, str] | None = None) -> str:  # fmt: skip
    """Store a new secret; its ID (25 hex digits, as Podman's)."""
    if driver != "file":
        raise UsageError(f'unsupported secret driver "{driver}": podpy keeps secrets with the file driver')
    if driver_opts:
        raise UsageError(f"--driver-opts {','.join(driver_opts)}: the file driver takes no options")
    if len(name) > 253 or not _NAME.match(name):
        raise UsageError(f"invalid secret name {name!r}: use 1-253 letters, digits, '_', '.' or '-'")
    if not 0 < len(data) < MAX_SIZE:
        raise UsageError(f"secret data must be larger than 0 and less than {MAX_SIZE} bytes")
    with _lock(paths):
        secrets = _load(paths)
        if any(s["name"] == name for s in secrets.values()):
            raise ConflictError(f"{name}: secret name in use")
        sid = os.urandom(13).hex()[:25]
        now = time.time_ns()
        _data_path(paths, sid).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        atomic_write(_data_path(paths, sid), data, mode=0o600)
        secrets[sid] = {"name": name, "created": now, "updated": now, "driver": driver, "labels": dict(labels or {})}
        _save(paths, secrets)
    return sid


def get(paths: Paths, ref: str) -> dict[str, Any]:
    """A secret by name, full ID or unique ID prefix, with its ``id``."""
    secrets = _load(paths)
    sid = _find(secrets, ref)
    return {"id": sid, **secrets[sid]}


def _find(secrets: dict[str, dict[str, Any]], ref: str) -> str:
    for sid, s in secrets.items():
        if s["name"] == ref or sid == ref:
            return sid
    hits = [sid for sid in secrets if ref and sid.startswith(ref)]
    if len(hits) == 1:
        return hits[0]
    raise not_found(ref)


def list_secrets(paths: Paths) -> list[dict[str, Any]]:
    return sorted(({"id": sid, **s} for sid, s in _load(paths).items()), key=lambda s: s["created"])


def data(paths: Paths, secret: dict[str, Any]) -> bytes:
    try:
        return _data_path(paths, secret["id"]).read_bytes()
    except FileNotFoundError:
        raise NotFoundError(f"secret {secret['name']}: its data is missing from {_data_path(paths, secret['id'])}") from None


def remove(paths: Paths, refs: list[str], all_: bool = False) -> list[str]:
    """Remove secrets (all with ``all_``); their IDs. An unknown one fails before any is removed."""
    with _lock(paths):
        secrets = _load(paths)
        ids = list(secrets) if all_ else [_find(secrets, r) for r in refs]
        for sid in ids:
            secrets.pop(sid, None)
        _save(paths, secrets)
        for sid in ids:
            with contextlib.suppress(FileNotFoundError):
                _data_path(paths, sid).unlink()
    return ids


def inspect_doc(paths: Paths, secret: dict[str, Any]) -> dict[str, Any]:
    """``secret inspect``'s document, Podman 4.3's field names."""
    return {
        "ID": secret["id"],
        "CreatedAt": rfc3339_nano(secret["created"]),
        "UpdatedAt": rfc3339_nano(secret["updated"]),
        "Spec": {
            "Name": secret["name"],
            "Driver": {"Name": secret["driver"], "Options": {"path": str(_dir(paths) / "filedriver")}},
            "Labels": dict(secret.get("labels") or {}),
        },
    }


def apply(paths: Paths, spec: ContainerSpec, userdata: Path, idmap: Any = None) -> ContainerSpec:
    """``run --secret``: copy each secret into the container's userdata and bind it read-only at its
    target, or put it in the environment (``type=env``). ``idmap``: the rootfs id mapping
    (``--userns keep-id|nomap``), through which the requested uid/gid become owners on disk."""
    if not spec.secrets:
        return spec
    env = dict(spec.env)
    mounts = list(spec.mounts)
    d = userdata / "secrets"
    for req in spec.secrets:
        secret = get(paths, req["source"])
        value = data(paths, secret)
        if req["type"] == "env":
            env[req.get("target") or secret["name"]] = value.decode(errors="surrogateescape")
            continue
        target = req.get("target") or secret["name"]
        dest = target if target.startswith("/") else f"/run/secrets/{target}"
        d.mkdir(exist_ok=True, mode=0o700)
        f = d / secret["id"]
        if f.exists():  # the same secret twice: one copy each
            f = d / f"{secret['id']}-{len(mounts)}"
        atomic_write(f, value, mode=int(req.get("mode", 0o444)), fsync=False)
        uid, gid = int(req.get("uid", 0)), int(req.get("gid", 0))
        os.chown(f, idmap.uid(uid) if idmap else uid, idmap.gid(gid) if idmap else gid)
        mounts.append(Mount("bind", dest, str(f), ("bind", "ro", "rprivate")))
    return spec.replace(env=env, mounts=mounts)
