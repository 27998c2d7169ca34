"""``podpy system df``: disk usage of images, containers and volumes, computed as Podman 4.3/5 does.

Images are reported per name (an image with two tags is two rows, a dangling one ``<none>``), each
with its size, the part shared with other images' layers and the unique rest. The Images summary's
SIZE is what the store really holds (every layer once, plus each image's manifests and config);
RECLAIMABLE is that minus the unique bytes of images some container uses. Containers count their
writable layer (RECLAIMABLE: those not running); volumes their contents (RECLAIMABLE: unused ones).
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field

from podpy.engine import system_peers as peers
from podpy.util.paths import Paths


@dataclass
class ImageUsage:
    """Podman's SystemDfImageReport."""

    repository: str
    tag: str
    image_id: str
    created: _dt.datetime
    size: int
    shared_size: int
    unique_size: int
    containers: int


@dataclass
class ContainerUsage:
    """Podman's SystemDfContainerReport."""

    container_id: str
    image: str
    command: list[str]
    local_volumes: int
    rw_size: int
    created: int  # ns
    status: str
    names: str


@dataclass
class Summary:
    """One row of the default ``system df`` table."""

    type: str
    total: int
    active: int
    size: int
    reclaimable: int


@dataclass
class DiskUsage:
    images: list[ImageUsage] = field(default_factory=list)
    images_size: int = 0
    containers: list[ContainerUsage] = field(default_factory=list)
    volumes: list[peers.VolumeUsage] = field(default_factory=list)

    def summary(self) -> list[Summary]:
        seen: set[str] = set()
        active = used = 0
        for i in self.images:
            if i.image_id in seen:
                continue
            seen.add(i.image_id)
            if i.containers:
                active += 1
                used += i.unique_size
        c_active = sum(1 for c in self.containers if c.status == "running")
        c_size = sum(c.rw_size for c in self.containers)
        c_reclaim = sum(c.rw_size for c in self.containers if c.status != "running")
        return [
            Summary("Images", len(self.images), active, self.images_size, max(0, self.images_size - used)),
            Summary("Containers", len(self.containers), c_active, c_size, c_reclaim),
            Summary(
                "Local Volumes",
                len(self.volumes),
                sum(v.links for v in self.volumes),
                sum(v.size for v in self.volumes),
                sum(v.reclaimable for v in self.volumes),
            ),
        ]


def _image_rows(paths: Paths, users: dict[str, int]) -> tuple[list[ImageUsage], int]:
    from podpy.engine import images as eng

    if not (paths.storage / "images.db").exists():
        return [], 0
    store = eng.open_reader(paths)
    recs = store.list_images()
    layer_users: dict[str, int] = {}
    layer_size: dict[str, int] = {}
    for rec in recs:
        for layer in {lay.diff_id: lay for lay in rec.layers}.values():
            layer_users[layer.diff_id] = layer_users.get(layer.diff_id, 0) + 1
            layer_size[layer.diff_id] = layer.unpacked_size
    rows: list[ImageUsage] = []
    total = sum(layer_size.values())
    for rec in recs:
        size = eng.image_size(store, rec)
        layers = {lay.diff_id: lay.unpacked_size for lay in rec.layers}
        total += size - sum(layers.values())  # manifests and config: the image's own
        shared = sum(s for d, s in layers.items() if layer_users.get(d, 0) > 1)
        created = eng._created_time(rec)
        n = users.get(rec.id, 0)
        for name in rec.names or ["<none>:<none>"]:
            repo, tag = ("<none>", "<none>") if name == "<none>:<none>" else eng.repo_tag(name)
            rows.append(ImageUsage(repo, tag, rec.id, created, size, shared, size - shared, n))
    return rows, total


def disk_usage(paths: Paths) -> DiskUsage:
    """Everything ``system df`` prints; joins podpy's namespace only when a container exists."""
    from podpy.engine import containers as ctrs

    du = DiskUsage()
    recs = []
    if (paths.root / "state.db").exists():
        st = ctrs.open_state(paths)
        try:
            recs = ctrs.list_containers(st, paths)
        finally:
            st.close()
    if recs:
        ctrs._join_userns(paths)  # writable layers hold directories of subordinate ids
    users: dict[str, int] = {}
    for rec in recs:
        iid = rec.image_id.removeprefix("sha256:")
        users[iid] = users.get(iid, 0) + 1
        du.containers.append(
            ContainerUsage(
                container_id=rec.id,
                image=iid,
                command=list(rec.config.get("args") or []),
                local_volumes=peers.volume_count(rec.config),
                rw_size=peers.tree_size(ctrs.container_dir(paths, rec.id) / "diff"),
                created=rec.created,
                status=rec.state,
                names=rec.name,
            )
        )
    du.images, du.images_size = _image_rows(paths, users)
    du.volumes = peers.volume_usage(paths)
    return du
