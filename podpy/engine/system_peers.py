"""What ``system df``/``prune``/``reset`` and ``info`` need of volumes and networks
(``podpy.engine.volumes``, ``podpy.engine.networks``), in the shapes those commands print.

Both modules are imported inside the functions: ``info`` and ``system df`` without volumes or
networks pay for neither.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from podpy.util.paths import Paths

NETWORK_BACKEND = "podpy"  # info's networkBackend: podpy's own (slirp4netns/pasta, the rootless netns)
NETWORK_DRIVERS = ["bridge"]  # info's plugins.network: what ``network create -d`` accepts
DEFAULT_NETWORK = "podman"  # built in, never stored, never removed


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


def volume_usage(paths: Paths) -> list[VolumeUsage]:
    """Every volume with the number of containers using it and the bytes in it."""
    from podpy.engine import volumes

    return [VolumeUsage(v.name, links, size, dict(v.labels)) for v, links, size in volumes.usage(paths)]


def volume_count(config: dict[str, Any]) -> int:
    """How many volumes a container's recorded config mounts (``system df -v``'s LOCAL VOLUMES)."""
    from podpy.engine import volumes

    return len(volumes.volume_names(config))


def prune_volumes(paths: Paths, filters: Sequence[str] = ()) -> list[tuple[str, int]]:
    """Remove unused volumes matching ``filters`` (label, label!, until): [(name, bytes freed)]."""
    from podpy.engine import volumes

    return volumes.prune(paths, volumes.parse_filters(list(filters), prune=True))


def remove_all_volumes(paths: Paths) -> list[str]:
    from podpy.engine import volumes

    return [volumes.remove(paths, v.name, force=True) for v in volumes.list_volumes(paths)]


def list_networks(paths: Paths) -> list[str]:
    from podpy.engine import networks

    return [n["name"] for n in networks.list_networks(paths)]


def prune_networks(paths: Paths, filters: Sequence[str] = ()) -> list[str]:
    """Remove unused networks; only ``label``/``label!`` apply (networks record no creation filter here)."""
    from podpy.engine import networks

    return networks.prune(paths, [x for x in filters if x.split("=", 1)[0] in ("label", "label!")])


def remove_all_networks(paths: Paths) -> list[str]:
    """Remove every network but the built-in default."""
    from podpy.engine import networks

    names = [n for n in list_networks(paths) if n != DEFAULT_NETWORK]
    return networks.remove(paths, names, force=True) if names else []
