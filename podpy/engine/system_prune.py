"""``podpy system prune`` and ``podpy system reset``: remove what is unused, or everything.

prune, in Podman's order: stopped containers (so their images become unused), unused volumes
(only with ``--volumes``), dangling images (every image no container uses with ``-a``), unused
networks. ``--filter`` takes Podman's two keys: ``label``/``label!`` (containers, images, volumes)
and ``until`` (a timestamp or a Go duration back from now; containers and images created before).
The reclaimed space is the containers' writable layers, the images' sizes and the volumes' contents.

reset: every container stopped and removed, then images, volumes and networks, the pause process,
and finally the root and runroot directories themselves (as ``podman system reset``).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from podpy.engine import system_peers as peers
from podpy.util.errors import ConflictError, NotFoundError, PodpyError, UsageError
from podpy.util.log import get_logger
from podpy.util.paths import Paths

log = get_logger(__name__)

PRUNABLE_STATES = ("configured", "created", "exited", "stopped")


@dataclass
class PruneFilters:
    labels: list[tuple[str, str | None]] = field(default_factory=list)
    not_labels: list[tuple[str, str | None]] = field(default_factory=list)
    until: float | None = None  # unix seconds: only what was created before
    raw: list[str] = field(default_factory=list)

    def match(self, labels: Mapping[str, str] | None, created: float | None) -> bool:
        labels = labels or {}

        def has(k: str, v: str | None) -> bool:
            return k in labels and (v is None or labels[k] == v)

        if not all(has(k, v) for k, v in self.labels):
            return False
        if any(has(k, v) for k, v in self.not_labels):
            return False
        return self.until is None or (created is not None and created < self.until)


def until_time(value: str, now: float | None = None) -> float:
    """Podman's ComputeUntilTimestamp: a Go duration back from now, an RFC 3339 time or a Unix time."""
    from podpy.engine.images import parse_time
    from podpy.spec.container import parse_go_duration

    now = time.time() if now is None else now
    with contextlib.suppress(UsageError):
        return now - parse_go_duration(value) / 1e9
    t = parse_time(value)
    if t is None:
        for f in ("%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"):
            with contextlib.suppress(ValueError):
                t = _dt.datetime.strptime(value, f).replace(tzinfo=_dt.UTC)
                break
    if t is not None:
        return t.timestamp()
    try:
        return float(value)
    except ValueError:
        raise UsageError(
            f"invalid until filter value {value!r}: use a duration (10m, 1h30m) or a timestamp"
        ) from None


def parse_filters(filters: Sequence[str], now: float | None = None) -> PruneFilters:
    out = PruneFilters(raw=list(filters))
    for f in filters:
        key, eq, val = f.partition("=")
        if not eq:
            raise UsageError(f"invalid filter {f!r}: use key=value")
        if key in ("label", "label!"):
            k, has_v, v = val.partition("=")
            (out.labels if key == "label" else out.not_labels).append((k, v if has_v else None))
        elif key == "until":
            out.until = until_time(val, now)
        else:
            raise UsageError(f"{key} is an invalid filter")
    return out


@dataclass
class PruneReport:
    pods: list[str] = field(default_factory=list)
    containers: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    reclaimed: int = 0
    errors: list[str] = field(default_factory=list)


def _prune_containers(paths: Paths, flt: PruneFilters, rep: PruneReport) -> None:
    from podpy.engine import containers as ctrs

    if not (paths.root / "state.db").exists():
        return
    st = ctrs.open_state(paths)
    try:
        recs = ctrs.list_containers(st, paths)
    finally:
        st.close()
    victims = [r for r in recs if r.state in PRUNABLE_STATES and flt.match(r.labels, r.created / 1e9)
               and not r.config.get("infra")]  # an infra container goes with its pod only  # fmt: skip
    if victims:
        ctrs._join_userns(paths)
    for rec in victims:
        size = peers.tree_size(ctrs.container_dir(paths, rec.id) / "diff")
        try:
            ctrs.remove(paths, rec.id)
        except NotFoundError:
            continue  # removed meanwhile
        except PodpyError as e:  # e.g. started meanwhile: podman reports and goes on
            rep.errors.append(e.message)
            continue
        rep.containers.append(rec.id)
        rep.reclaimed += size


def _prune_volumes(paths: Paths, flt: PruneFilters, rep: PruneReport) -> None:
    for name, size in peers.prune_volumes(paths, flt.raw):
        rep.volumes.append(name)
        rep.reclaimed += size


def _prune_images(paths: Paths, all_: bool, flt: PruneFilters, rep: PruneReport) -> None:
    from podpy.engine import images

    if not (paths.storage / "images.db").exists():
        return
    victims = [
        s for s in images.list_images(paths, ())
        if (all_ or s.dangling) and not s.containers and flt.match(s.labels, s.created.timestamp())
    ]  # fmt: skip
    if not victims:
        return
    # as images.prune: never forced, users re-read now, so a container created meanwhile keeps its image
    images._ensure_ns(paths)
    store = images.open_store(paths)
    users = images._ImageUsers(paths)
    for s in victims:
        try:
            rec = store.get_image(s.id)
            if users.of(rec):
                continue
            store.remove_image(rec.id, force=False, prune=False)
        except (ConflictError, NotFoundError):
            continue
        images._removed_events(paths, rec, "")
        rep.images.append(rec.id)
        rep.reclaimed += s.size
    if rep.images:
        store.gc(wait=5.0)


def _prune_build_cache(paths: Paths, all_: bool, rep: PruneReport) -> None:
    """Build-cache entries whose step image is gone (always) and, with -a, ``RUN --mount=type=cache``
    dirs: Podman's "all dangling build cache" / "all build cache". Printed by nobody, counted."""
    import json

    from podpy.store.layers import rmtree_any

    cache = paths.root / "build-cache"
    if cache.is_dir():
        from podpy.store.images import ImageDB

        db = paths.storage / "images.db"
        present = {r.id for r in ImageDB(db).all()} if db.exists() else set()
        for f in cache.glob("*.json"):
            with contextlib.suppress(OSError, ValueError, AttributeError):
                if str(json.loads(f.read_text()).get("image", "")).removeprefix("sha256:") not in present:
                    f.unlink()
    mounts = paths.root / "build-mounts"
    if all_ and mounts.is_dir():
        from podpy.engine import containers as ctrs

        ctrs._join_userns(paths)  # RUN steps wrote them as subordinate ids
        for d in mounts.iterdir():
            size = peers.tree_size(d)
            try:
                rmtree_any(d)
                rep.reclaimed += size
            except OSError as e:
                rep.errors.append(f"removing build cache {d}: {e}")


def prune(
    paths: Paths, *, all_: bool = False, volumes: bool = False, filters: Sequence[str] = ()
) -> PruneReport:
    """Podman's system prune; the report says what went and how many bytes it freed."""
    flt = parse_filters(filters)
    rep = PruneReport()
    if (paths.root / "state.db").exists():
        from podpy.engine import pods

        rep.pods = pods.prune(paths)  # as podman: stopped pods go first, their infra containers with them
    _prune_containers(paths, flt, rep)
    if volumes:
        _prune_volumes(paths, flt, rep)
    _prune_images(paths, all_, flt, rep)
    if not flt.raw:  # the build cache has no labels or times to filter by
        _prune_build_cache(paths, all_, rep)
    rep.networks = peers.prune_networks(paths, flt.raw)
    return rep


# --- reset --------------------------------------------------------------------------------------


@dataclass
class ResetReport:
    containers: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _mounts_below(path: Path) -> list[str]:
    """Mount points inside ``path`` (deepest first), from this mount namespace's mountinfo."""
    from podpy.engine.info import unescape_mountinfo

    root = os.path.realpath(path).rstrip("/") + "/"
    out = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            f = line.split()
            if len(f) > 4:
                mp = unescape_mountinfo(f[4])
                if mp.startswith(root):
                    out.append(mp)
    return sorted(set(out), key=len, reverse=True)


def remove_tree(path: Path) -> None:
    """Remove a tree, detaching mounts inside it first so nothing below a mount (a bind-mounted host
    dir, a container's rootfs) is ever deleted through it; refuses when a mount cannot be detached."""
    from podpy.store.layers import rmtree_any
    from podpy.util import syscalls

    if path.is_symlink():
        path.unlink()
        return
    if not path.exists():
        return
    for mp in _mounts_below(path):
        try:
            syscalls.get().umount2(mp, syscalls.MNT_DETACH)
        except OSError as e:
            raise OSError(e.errno, f"{mp} is still mounted ({e.strerror}); not removing {path}") from None
    rmtree_any(path)


def reset(paths: Paths) -> ResetReport:
    """Remove every container, image, volume and network, stop the pause process, delete root and runroot.

    Errors on single objects are collected (the directories go anyway, as with Podman), so a
    half-broken store can always be reset.
    """
    from podpy.engine import containers as ctrs
    from podpy.rootless.userns import ensure_userns, rootless_mode, stop_pause_process

    rep = ResetReport()
    if rootless_mode() and (paths.root.exists() or paths.runroot.exists()):
        ensure_userns(paths)  # layers and writable layers hold files of subordinate ids
    if (paths.root / "state.db").exists():
        from podpy.engine import pods

        try:
            pods.remove_all(paths)  # the pods and their containers (``containers.remove`` refuses an infra)
        except PodpyError as e:
            rep.errors.append(e.message)
        st = ctrs.open_state(paths)
        try:
            recs = st.list()
        finally:
            st.close()
        for rec in recs:
            try:
                ctrs.remove(paths, rec.id, force=True, timeout=0)
                rep.containers.append(rec.id)
            except NotFoundError:
                pass
            except PodpyError as e:
                rep.errors.append(e.message)
    for what, fn in (("volumes", peers.remove_all_volumes), ("networks", peers.remove_all_networks)):
        try:
            getattr(rep, what).extend(fn(paths))
        except PodpyError as e:
            rep.errors.append(e.message)
    if (paths.storage / "images.db").exists():
        from podpy.engine import images

        with contextlib.suppress(PodpyError):
            rep.images = [s.id for s in images.list_images(paths, ())]
    if rootless_mode():
        # this process stays in the namespace after the pause process is gone, so the files of
        # subordinate ids can still be removed below
        with contextlib.suppress(OSError, PodpyError):
            stop_pause_process(paths)
    for d in (paths.root, paths.runroot):
        try:
            remove_tree(d)
        except OSError as e:
            rep.errors.append(f"removing {d}: {e}")
    return rep
