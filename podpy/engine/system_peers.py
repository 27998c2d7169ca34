"""The system commands' window onto volumes and networks, which live in their own engine modules.

``system df``/``prune``/``reset`` and ``info`` count and remove volumes and networks too, but
``podpy.engine.volumes`` and ``podpy.engine.networks`` are written beside this code; everything here
goes through a guarded import and a few tolerant accessors, so the system commands work (and report
no volumes/networks) while a module is absent, and pick its rows up as soon as it exists.

What is called when present: volumes ``usage(paths)`` -> [(Volume, links, bytes)],
``volume_names(config)``, ``parse_filters(items, prune=True)``, ``prune(paths, filters)`` ->
[(name, bytes)], ``remove(paths, name, force=True)``; networks ``list_networks(paths)``,
``prune(paths, filters)`` -> names, ``remove(paths, [names], force=True)``, optional ``BACKEND``
(info's ``networkBackend``) and ``DRIVERS`` (info's ``plugins.network``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from podpy.util.paths import Paths


def module(name: str) -> ModuleType | None:
    """``podpy.engine.<name>`` or None when it does not exist (an error inside it still raises)."""
    full = f"podpy.engine.{name}"
    try:
        return importlib.import_module(full)
    except ModuleNotFoundError as e:
        if e.name in (full, "podpy.engine"):
            return None
        raise


def _fn(mod: ModuleType | None, *names: str) -> Callable[..., Any] | None:
    for n in names:
        f = getattr(mod, n, None) if mod is not None else None
        if callable(f):
            return f
    return None


def field_of(obj: Any, *names: str, default: Any = None) -> Any:
    """A value from a record that may be a dict, a dataclass or an object with Go-style attributes."""
    for n in names:
        if isinstance(obj, dict):
            if n in obj:
                return obj[n]
        elif hasattr(obj, n):
            v = getattr(obj, n)
            return v() if callable(v) and not isinstance(v, type) else v
    return default


def _name(obj: Any) -> str:
    return obj if isinstance(obj, str) else str(field_of(obj, "name", "Name", "id", "Id", default=""))


def tree_size(path: Path) -> int:
    """Apparent bytes under ``path``, counted as ``ps -s`` counts a container's."""
    from podpy.engine.containers import _tree_size

    return _tree_size(path)


@dataclass
class VolumeUsage:
    """One volume for ``system df``: Podman's SystemDfVolumeReport."""

    name: str
    links: int
    size: int
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def reclaimable(self) -> int:
        return 0 if self.links else self.size


def volumes_present() -> bool:
    return module("volumes") is not None


def volume_usage(paths: Paths) -> list[VolumeUsage]:
    """Every volume with the containers using it and the bytes in it; [] without the volumes module."""
    mod = module("volumes")
    usage = _fn(mod, "usage")
    if usage is not None:  # podpy.engine.volumes: [(Volume, links, size)]
        return [
            VolumeUsage(
                str(field_of(v, "name")), int(links), int(size), dict(field_of(v, "labels", default={}) or {})
            )
            for v, links, size in usage(paths)
        ]
    lister = _fn(mod, "list_volumes")
    if lister is None:
        return []
    out = []
    for v in lister(paths):
        mp = field_of(v, "mountpoint", "Mountpoint")
        size = tree_size(Path(mp)) if mp else 0
        out.append(VolumeUsage(_name(v), int(field_of(v, "links", default=0) or 0), size))
    return out


def volume_count(config: dict[str, Any]) -> int:
    """How many volumes a container's recorded config mounts (``system df -v``'s LOCAL VOLUMES)."""
    names = _fn(module("volumes"), "volume_names")
    if names is not None:
        return len(names(config))
    mounts = (config.get("spec") or {}).get("mounts") or []
    return sum(1 for m in mounts if isinstance(m, dict) and (m.get("type") == "volume" or m.get("volume")))


def prune_volumes(paths: Paths, filters: Sequence[str] = ()) -> list[tuple[str, int]]:
    """Remove unused volumes matching ``filters`` (label, label!, until): [(name, bytes freed)]."""
    mod = module("volumes")
    f = _fn(mod, "prune")
    if f is None:
        return []
    parse = _fn(mod, "parse_filters")
    flt = parse(list(filters), prune=True) if parse is not None else list(filters)
    out = []
    for x in f(paths, flt):
        name, size = (x[0], x[1]) if isinstance(x, tuple) else (_name(x), 0)
        out.append((str(name), int(size)))
    return out


def remove_all_volumes(paths: Paths) -> list[str]:
    rm = _fn(module("volumes"), "remove")
    if rm is None:
        return []
    removed = []
    for v in volume_usage(paths):
        rm(paths, v.name, force=True)
        removed.append(v.name)
    return removed


def network_backend() -> str:
    """info's ``networkBackend``: what the networks module calls itself, else podpy's own (slirp4netns/pasta)."""
    return str(getattr(module("networks"), "BACKEND", "podpy"))


def network_drivers() -> list[str]:
    mod = module("networks")
    if mod is None:
        return []
    return list(getattr(mod, "DRIVERS", ["bridge"]))


def list_networks(paths: Paths) -> list[str]:
    f = _fn(module("networks"), "list_networks")
    return [_name(x) for x in f(paths)] if f is not None else []


def prune_networks(paths: Paths, filters: Sequence[str] = ()) -> list[str]:
    """Remove unused networks; only ``label``/``label!`` apply (networks record no creation filter here)."""
    f = _fn(module("networks"), "prune")
    if f is None:
        return []
    return [_name(x) for x in f(paths, [x for x in filters if x.split("=", 1)[0] in ("label", "label!")])]


def remove_all_networks(paths: Paths) -> list[str]:
    """Remove every network but the built-in default (``podman``), which is never stored."""
    rm = _fn(module("networks"), "remove")
    if rm is None:
        return []
    removed = []
    for n in list_networks(paths):
        if n == "podman":
            continue
        removed += [_name(x) for x in rm(paths, [n], force=True) or [n]]
    return removed
