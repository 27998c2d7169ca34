"""A container's root filesystem: the image layers stacked under a per-container writable layer.

Drivers (``mount_rootfs(..., driver=...)``; ``podpy.engine.storage_conf.choose`` picks one):

* ``None`` (automatic, nothing configured): ``overlay``, then ``fuse-overlayfs``, then ``vfs``.
* ``overlay``: kernel overlayfs mounted inside podpy's user namespace, with ``userxattr`` (layers
  are stored in overlay form: 0/0 char-device whiteouts, ``user.overlay.opaque`` dirs); when the
  kernel refuses it, fuse-overlayfs on the same dirs (Podman does the same).
* ``fuse-overlayfs``: only fuse-overlayfs (``mount_program`` names the binary; default from PATH).
* ``vfs``: a private copy of all layers with whiteouts applied (hard links kept) — slow, works
  everywhere. Made once per container: a second mount of the same container reuses the copy,
  which *is* the container's filesystem.

The driver used is returned in :class:`RootfsMount` (and recorded in ``CONTAINER_DIR/driver``)
so callers can report it and unmount correctly.

A container with its own user namespace (``idmap``, :mod:`podpy.store.idshift`) gets a rootfs whose
owners are shifted by its mapping: ``overlay`` and ``vfs`` use id-shifted copies of the layers
(kernel overlay, or fuse-overlayfs without mapping options over the same copies when the kernel
refuses), an explicit ``fuse-overlayfs`` shifts on the fly (``uidmapping=``/``gidmapping=``, no
copy). Which of the two the writable layer is in is recorded (``shifted``) with the mapping, so a
later mount of the same container uses the same kind. Must run inside podpy's user + mount namespace
(the mount then lives in that namespace, shared by all podpy processes that join it).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
from pathlib import Path

from podpy.util import syscalls as sc_mod
from podpy.util.errors import StoreError
from podpy.util.log import get_logger
from podpy.util.record import FrozenRecord

TYPE_CHECKING = False
if TYPE_CHECKING:  # idshift is imported only for containers with their own user namespace (hot path)
    from typing import Any

    from podpy.spec.container import Mount
    from podpy.store.idshift import IdMap

log = get_logger(__name__)

DRIVERS = ("overlay", "fuse-overlayfs", "vfs")
FUSE_PROGRAM = "fuse-overlayfs"
_OPAQUE_XATTRS = ("user.overlay.opaque", "trusted.overlay.opaque")
_MAX_OPTS = 4000  # mount(2) data is one page
VOLUME_OVERLAYS = "volume-overlays"  # CONTAINER_DIR/volume-overlays/N/{upper,work}: -v …:O


class RootfsMount(FrozenRecord):
    """A mounted (or copied) rootfs and how: ``unmount_rootfs`` needs the driver."""

    __slots__ = ("path", "driver", "container_dir")
    __match_args__ = __slots__  # as a dataclass's

    path: Path  # the merged root to give the runtime
    driver: str
    container_dir: Path

    def __init__(self, path: Path, driver: str, container_dir: Path) -> None:
        self.path = path
        self.driver = driver
        self.container_dir = container_dir


def _overlay_opts(lowers: list[Path], upper: Path, work: Path, base: Path | None) -> str:
    def rel(p: Path) -> str:
        return os.path.relpath(p, base) if base else str(p)

    lower = ":".join(rel(p) for p in reversed(lowers))  # overlay wants the top layer first
    return f"lowerdir={lower},upperdir={rel(upper)},workdir={rel(work)},userxattr"


def _prepare(layer_dirs: list[Path], container_dir: Path) -> tuple[list[Path], Path, Path, Path]:
    upper, work, merged = container_dir / "diff", container_dir / "work", container_dir / "merged"
    for d in (upper, work, merged):
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(upper, 0o755)
    lowers = list(layer_dirs)
    if not lowers:
        empty = container_dir / "empty"
        empty.mkdir(exist_ok=True)
        lowers = [empty]
    for p in lowers:
        if not p.is_dir():
            raise StoreError(f"layer directory {p} is missing: the image is incomplete; pull it again")
    return lowers, upper, work, merged


def _mount_overlay(lowers: list[Path], upper: Path, work: Path, merged: Path) -> None:
    sc = sc_mod.get()
    opts = _overlay_opts(lowers, upper, work, None)
    if len(opts) <= _MAX_OPTS:
        sc.mount("overlay", str(merged), "overlay", 0, opts)
        return
    # Too long for one page: use paths relative to the common parent (as containers/storage does).
    base = Path(os.path.commonpath([*map(str, lowers), str(upper), str(work)]))
    opts = _overlay_opts(lowers, upper, work, base)
    if len(opts) > _MAX_OPTS:
        raise StoreError(f"too many layers ({len(lowers)}) for one overlay mount")
    cwd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.chdir(base)
        sc.mount("overlay", str(merged), "overlay", 0, opts)
    finally:
        os.fchdir(cwd)
        os.close(cwd)


def _mount_fuse(
    lowers: list[Path], upper: Path, work: Path, merged: Path, program: str | None = None, extra: str = ""
) -> None:
    import shutil  # here, not at import: shutil brings bz2, lzma and zlib, which kernel overlay never needs

    exe = program or shutil.which(FUSE_PROGRAM)
    if not exe:
        raise OSError(errno.ENOENT, "fuse-overlayfs is not installed")
    opts = _overlay_opts(lowers, upper, work, None).replace(",userxattr", "") + (f",{extra}" if extra else "")
    import subprocess

    r = subprocess.run([exe, "-o", opts, str(merged)], capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        detail = " ".join(r.stderr.split()) or f"exit status {r.returncode}"
        if "/dev/fuse" in detail:
            detail += " (/dev/fuse must be readable and writable by the user: chmod 666 /dev/fuse as root)"
        raise OSError(errno.EIO, f"{os.path.basename(exe)}: {detail}")


def _vfs_copy(lowers: list[Path], merged: Path, m: IdMap | None = None) -> None:
    """Copy the layers into ``merged`` under a ``.partial`` marker, so a crash mid-copy is redone."""
    marker = merged.parent / "vfs.partial"
    if not marker.exists() and any(merged.iterdir()):
        log.debug("vfs rootfs %s exists: reusing it", merged)
        return
    marker.touch()
    for child in list(merged.iterdir()):
        _remove(child)
    for layer in lowers:
        _apply_layer(layer, merged, {}, m)
    if m is not None:
        os.chown(merged, m.uid(0), m.gid(0))
    os.chmod(merged, 0o755)  # the container's /, not the private 0700 mount point
    marker.unlink()


def _is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _is_opaque(path: Path) -> bool:
    for name in _OPAQUE_XATTRS:
        with contextlib.suppress(OSError):
            if os.getxattr(path, name, follow_symlinks=False) == b"y":
                return True
    return False


def _remove(p: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        if p.is_dir() and not p.is_symlink():
            import shutil

            shutil.rmtree(p)
        else:
            p.unlink()


def _apply_layer(src: Path, dst: Path, links: dict[tuple[int, int], str], m: IdMap | None = None) -> None:
    """Copy one overlay-form layer onto ``dst``: whiteouts delete, opaque dirs replace.

    ``links`` maps (dev, inode) of multiply-linked files of this layer to their first copy, so
    hard links stay hard links (a copy per name would waste space and change semantics).
    """
    import shutil  # vfs only (see _mount_fuse)

    for entry in os.scandir(src):
        s = Path(entry.path)
        d = dst / entry.name
        st = entry.stat(follow_symlinks=False)
        if _is_whiteout(st):
            _remove(d)
            continue
        if stat.S_ISDIR(st.st_mode):
            if d.is_symlink() or (d.exists() and not d.is_dir()):
                _remove(d)
            if _is_opaque(s):
                _remove(d)
            d.mkdir(exist_ok=True)
            _apply_layer(s, d, links, m)
        else:
            _remove(d)
            from podpy.store.idshift import copy_node  # vfs only: keeps idshift off the overlay path

            if copy_node(str(s), str(d), st, links) != "copied":
                continue
            if stat.S_ISREG(st.st_mode):
                shutil.copystat(s, d, follow_symlinks=False)  # mode, times, xattrs: what copy2 kept
        uid, gid = (m.uid(st.st_uid), m.gid(st.st_gid)) if m is not None else (st.st_uid, st.st_gid)
        with contextlib.suppress(OSError):
            os.chown(d, uid, gid, follow_symlinks=False)
        if not stat.S_ISLNK(st.st_mode):
            os.chmod(d, stat.S_IMODE(st.st_mode))  # after chown, which clears setuid/setgid bits


def _record(container_dir: Path) -> dict[str, Any]:
    try:
        data = json.loads((container_dir / "driver").read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _recorded_driver(container_dir: Path) -> str | None:
    d = _record(container_dir).get("driver")
    return d if d in DRIVERS else None


def recorded_idmap(container_dir: Path) -> IdMap | None:
    """The user-namespace mapping the container's rootfs was made for (None: podpy's own)."""
    return _idmap_of(_record(container_dir))


def recorded_shifted(container_dir: Path) -> bool:
    """Whether the rootfs's layers (and so its upper dir) hold id-shifted owners."""
    return bool(_record(container_dir).get("shifted"))


def rootfs_idmap(uid_mappings: list[dict[str, int]], gid_mappings: list[dict[str, int]]) -> IdMap | None:
    """The container's OCI mappings as the rootfs needs them; None without a user namespace of its own."""
    if not uid_mappings:
        return None
    from podpy.store.idshift import IdMap

    return IdMap.from_oci(uid_mappings, gid_mappings)


def _idmap_of(record: dict[str, Any]) -> IdMap | None:
    if not record.get("idmap"):
        return None
    from podpy.store.idshift import IdMap

    return IdMap.from_json(record["idmap"])


def _order(driver: str | None, mount_program: str | None) -> list[str]:
    if driver is None:
        return ["fuse-overlayfs"] if mount_program else list(DRIVERS)
    if driver == "overlay":
        return ["fuse-overlayfs"] if mount_program else ["overlay", "fuse-overlayfs"]
    return [driver]


def _mapped_plan(
    idmap: IdMap, record: dict[str, Any], driver: str | None, mount_program: str | None
) -> tuple[bool, list[str]]:
    """(shifted copies?, drivers to try) for a container with its own mapping.

    A new container: an explicit fuse-overlayfs (driver or mount_program) maps on the fly, as
    Podman with a mount_program; otherwise id-shifted copies. An existing one keeps its kind.
    """
    if record.get("idmap") is not None:
        shifted = bool(record.get("shifted"))
    else:
        shifted = not (driver == "fuse-overlayfs" or mount_program)
    if record.get("driver") == "vfs" or (driver == "vfs" and not record):
        return True, ["vfs"]
    if not shifted:
        return False, ["fuse-overlayfs"]
    if driver is None and not record:
        return True, list(DRIVERS)
    return True, ["overlay", "fuse-overlayfs"]


def _check_reachable(container_dir: Path, m: IdMap) -> None:
    """The container's root (in its own namespace) must reach ``CONTAINER_DIR/merged``: the
    container dir becomes 0711 (as containers/storage makes them), and every directory above
    it must let others search it unless its owner is mapped into the container."""
    os.chmod(container_dir, 0o711)
    hosts = [(h, h + n) for _, h, n in m.uids]
    for d in container_dir.parents:
        st = os.stat(d)
        if st.st_mode & stat.S_IXOTH or any(lo <= st.st_uid < hi for lo, hi in hosts):
            continue
        raise StoreError(
            f"{d} is not searchable by the container's user namespace (mode {stat.S_IMODE(st.st_mode):o}): "
            f"run chmod o+x {d}, or use --userns=host"
        )


def mount_rootfs(
    layer_dirs: list[Path],
    container_dir: Path,
    driver: str | None = None,
    mount_program: str | None = None,
    idmap: IdMap | None = None,
) -> RootfsMount:
    """Mount (or copy) the rootfs for a container; ``layer_dirs`` are base layer first.

    ``driver``: None (automatic), "overlay", "fuse-overlayfs" or "vfs" (see the module doc);
    ``mount_program``: the fuse-overlayfs binary (storage.conf's ``mount_program``).
    ``idmap``: the container's own user-namespace mapping (None: the one recorded when the rootfs
    was first made, if any). A container whose rootfs was made by vfs keeps vfs (its files live
    only in that copy).
    """
    if driver is not None and driver not in DRIVERS:
        raise StoreError(f"unknown storage driver {driver!r}: use one of {', '.join(DRIVERS)}")
    record = _record(container_dir)
    recorded = _recorded_driver(container_dir)
    if recorded == "vfs" and driver not in (None, "vfs"):
        raise StoreError(
            f"the container in {container_dir} was created with the vfs storage driver: "
            "use --storage-driver vfs for it, or remove it"
        )
    old_map = _idmap_of(record)
    if idmap is None:
        idmap = old_map
    elif old_map is not None and old_map != idmap:
        raise StoreError(f"the container in {container_dir} was created for another user namespace mapping")
    lowers, upper, work, merged = _prepare(layer_dirs, container_dir)
    if idmap is not None:
        _check_reachable(container_dir, idmap)
    fuse_extra = ""
    shifted = False
    if idmap is None:
        order = ["vfs"] if recorded == "vfs" else _order(driver, mount_program)
    else:
        shifted, order = _mapped_plan(idmap, record, driver, mount_program)
        if shifted and order != ["vfs"]:
            from podpy.store.idshift import shifted_layer

            lowers = [p if p.parent == container_dir else shifted_layer(p, idmap) for p in lowers]
            if not record:
                os.chown(upper, idmap.uid(0), idmap.gid(0))  # the container's / is its root's
        elif not shifted:
            fuse_extra = idmap.fuse_options()
    errors: list[str] = []
    for d in order:
        try:
            if d == "overlay":
                _mount_overlay(lowers, upper, work, merged)
            elif d == "fuse-overlayfs":
                _mount_fuse(lowers, upper, work, merged, mount_program, fuse_extra)
            else:
                _vfs_copy(lowers, merged, idmap)
        except OSError as e:
            errors.append(f"{d}: {e.strerror or e}")
            log.debug("rootfs driver %s failed: %s", d, e)
            continue
        if errors:
            log.info("rootfs: using %s (%s)", d, "; ".join(errors))
        if recorded != d or (idmap is not None and not record.get("idmap")):
            rec: dict[str, Any] = {"driver": d}
            if idmap is not None:
                rec.update(idmap=idmap.to_json(), shifted=shifted or d == "vfs")
            (container_dir / "driver").write_text(json.dumps(rec))
        return RootfsMount(merged, d, container_dir)
    raise StoreError(f"cannot mount the container rootfs: {'; '.join(errors)}")


def unmount_rootfs(m: RootfsMount) -> None:
    """Undo :func:`mount_rootfs` (the vfs copy stays: it *is* the container's filesystem)."""
    if m.driver == "vfs":
        return
    try:
        sc_mod.get().umount2(str(m.path), sc_mod.MNT_DETACH)
    except OSError as e:
        if e.errno not in (errno.EINVAL, errno.ENOENT):
            raise StoreError(f"cannot unmount {m.path}: {e.strerror or e}") from None


def prepare_volumes(mounts: list[Mount], container_dir: Path, uid: int, gid: int, idmap: IdMap | None) -> list[Mount]:
    """``-v …:U`` and ``-v …:O`` made ready on disk for a container whose process runs as ``uid:gid``.

    U: the source is chowned (recursively, inside podpy's namespace) to that user as the container's
    mapping shows it on the host, as Podman does. O: an upper and a work dir in the container's dir
    (the upper gets the source's owner and mode, so the mount point looks like the source; the work
    dir belongs to the container's root, who mounts the overlay); ``upperdir=``/``workdir=`` given
    by the user are used as they are.
    """
    out: list[Mount] = []
    for n, m in enumerate(mounts):
        if m.chown:
            from podpy.store.idshift import chown_tree

            owner = (idmap.uid(uid), idmap.gid(gid)) if idmap else (uid, gid)
            try:
                chown_tree(m.source, *owner)
            except OSError as e:
                raise StoreError(f"chown {m.source} for the volume option U: {e.strerror or e}") from None
        if m.overlay and m.upperdir:
            for d in (m.upperdir, m.workdir):
                if not os.path.isdir(d):
                    raise StoreError(f"statfs {d}: no such file or directory")
        elif m.overlay:
            base = container_dir / VOLUME_OVERLAYS / str(n)
            upper, work = base / "upper", base / "work"
            for d in (upper, work):
                d.mkdir(parents=True, exist_ok=True, mode=0o700)
            st = os.stat(m.source)
            os.chown(upper, st.st_uid, st.st_gid)
            os.chmod(upper, stat.S_IMODE(st.st_mode))
            os.chown(work, *((idmap.uid(0), idmap.gid(0)) if idmap else (0, 0)))
            m = type(m)(m.type, m.destination, m.source, m.options, m.chown, m.overlay, str(upper), str(work))
        out.append(m)
    return out


def reset_volume_overlays(container_dir: Path) -> None:
    """Empty the upper and work dirs of the container's ``-v …:O`` overlays before it runs again:
    Podman discards an overlay volume's changes when the container finishes."""
    base = container_dir / VOLUME_OVERLAYS
    if not base.is_dir():
        return
    for vol in base.iterdir():
        for d in (vol / "upper", vol / "work"):
            if d.is_dir():
                for child in list(d.iterdir()):
                    _remove(child)
