"""TOML configuration files (storage.conf, containers.conf) parsed once per change, not per command.

Importing ``tomllib`` and parsing Podman's commented ``containers.conf`` cost a few milliseconds on
every ``run``; the parse is kept as JSON in ``$XDG_CACHE_HOME/podpy/conf`` keyed by the file's
mtime, ctime, size, inode and device, and in memory for the rest of the invocation.
"""

from __future__ import annotations

import json
import os

from podpy.util.paths import home_cache

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_memo: dict[tuple[str, tuple[int, ...]], dict[str, Any]] = {}


class TomlError(ValueError):
    """The file exists but cannot be read or is not valid TOML (the message says why; callers name the file)."""


def _cache_file(path: str) -> str:
    return os.path.join(home_cache(), "podpy", "conf", path.replace("/", "%") + ".json")


def _cached(path: str, key: list[int]) -> dict[str, Any] | None:
    try:
        with open(_cache_file(path), encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError):
        return None
    if isinstance(doc, dict) and doc.get("key") == key and isinstance(doc.get("data"), dict):
        return doc["data"]
    return None


def _save(path: str, key: list[int], conf: dict[str, Any]) -> None:
    from podpy.util.fsutil import atomic_write

    try:
        text = json.dumps({"key": key, "data": conf})  # TOML dates are not JSON: then no cache
        cache = _cache_file(path)
        os.makedirs(os.path.dirname(cache), mode=0o700, exist_ok=True)
        atomic_write(cache, text, mode=0o600, fsync=False)
    except (OSError, TypeError, ValueError):
        pass  # a cache: failing to write it costs the next invocation a parse, nothing else


def load(path: str | os.PathLike[str], limit: int = 1 << 20) -> dict[str, Any] | None:
    """The parsed file, or None when it does not exist; TomlError when it is unreadable or invalid."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            key = [st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino, st.st_dev]
            memo = _memo.get((path, tuple(key)))
            if memo is not None:
                return memo
            conf = _cached(path, key)
            if conf is None:
                data = f.read(limit + 1)
                if len(data) > limit:
                    raise TomlError(f"larger than {limit} bytes")
                conf = _parse(path, data)
                _save(path, key, conf)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise TomlError(f"cannot read it: {e.strerror or e}") from None
    _memo[(path, tuple(key))] = conf
    return conf


def _parse(path: str, data: bytes) -> dict[str, Any]:
    import tomllib

    try:
        return tomllib.loads(data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise TomlError(str(e)) from None
