"""``podpy mount``/``unmount``: a container's root filesystem mounted for the user, counted as
Podman counts it (``CDIR/user-mounts``): each ``mount`` adds one, each ``unmount`` takes one, and
the rootfs stays mounted while the count is above zero, even after the container exits (its
cleanup leaves it; ``rm`` unmounts it whatever the count). The mount lives in podpy's mount
namespace, so rootless the path only means something inside ``podpy unshare``.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from podpy.engine import containers
from podpy.engine.state import ContainerRecord
from podpy.util.fsutil import atomic_write
from podpy.util.paths import Paths


def count(paths: Paths, cid: str) -> int:
    try:
        return int((containers.container_dir(paths, cid) / containers.USER_MOUNTS).read_text() or 0)
    except (OSError, ValueError):
        return 0


def _set_count(paths: Paths, cid: str, n: int) -> None:
    f = containers.container_dir(paths, cid) / containers.USER_MOUNTS
    if n > 0:
        atomic_write(f, str(n), fsync=False)
    else:
        with contextlib.suppress(FileNotFoundError):
            f.unlink()


def mountpoint(paths: Paths, cid: str) -> Path:
    return containers.container_dir(paths, cid) / "merged"


def mount(paths: Paths, ref: str) -> tuple[ContainerRecord, Path]:
    """Mount ``ref``'s rootfs (if it is not) and count one more user mount: (record, mountpoint)."""
    st = containers.open_state(paths)
    rec = st.get(ref)
    with st.lock(rec.id):
        rec = containers.refresh_locked(st, paths, st.get(rec.id))
        containers.ensure_mounted(paths, rec)
        _set_count(paths, rec.id, count(paths, rec.id) + 1)
    return rec, mountpoint(paths, rec.id)


def mounted(paths: Paths) -> list[tuple[ContainerRecord, Path]]:
    """The containers the user mounted (count above zero), oldest first."""
    st = containers.open_state(paths)
    return [(r, mountpoint(paths, r.id)) for r in containers.list_containers(st, paths) if count(paths, r.id) > 0]


def unmount(paths: Paths, ref: str, force: bool = False) -> ContainerRecord:
    """One user mount less (all of them with ``force``); at zero the rootfs is unmounted unless the
    container runs."""
    st = containers.open_state(paths)
    rec = st.get(ref)
    with st.lock(rec.id):
        rec = containers.refresh_locked(st, paths, st.get(rec.id))
        left = 0 if force else max(0, count(paths, rec.id) - 1)
        _set_count(paths, rec.id, left)
        if left == 0 and rec.state not in containers.ACTIVE:
            containers.unmount(paths, rec.id)
    return rec
