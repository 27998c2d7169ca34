"""A container's volumes at create: ``-v NAME:DST``, ``-v DST``, ``--mount type=volume``, the image's
``VOLUME``s and ``--volumes-from``, turned into the bind (or tmpfs) mounts the bundle gets.

As Podman: a named volume is created when missing; every image ``VOLUME`` not covered by another
mount gets an anonymous volume; on a volume's first use the image's content at the mount point is
copied into it when it is empty (owners, modes, times, xattrs and hard links kept; never following
a symlink; the rootfs already has the owners of the container's ID mapping, so the copy has them
too), then its top directory takes the owner and mode of the image's directory, or else the
container user's. The resolved mount keeps the volume's name (``Mount.volume``), which is how
``volume rm`` finds the containers using a volume and ``inspect`` shows ``Type: volume``.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from podpy.spec.container import ContainerSpec, Mount
from podpy.util.errors import NotFoundError, PodpyError, StoreError
from podpy.util.paths import Paths

TYPE_CHECKING = False  # not typing's: importing typing costs every command start-up time
if TYPE_CHECKING:
    from typing import Any

    from podpy.store.idshift import IdMap

IMAGE_VOLUME_OPTIONS = ("rw", "rprivate", "nodev", "exec", "nosuid", "rbind")  # podman 4.3's, in its order
_XATTRS = ("user.", "trusted.", "security.capability")


def resolve(paths: Paths, spec: ContainerSpec, image_cfg: dict[str, Any], rootfs: Path, uid: int, gid: int,
            idmap: IdMap | None) -> ContainerSpec:  # fmt: skip
    """``spec`` with every volume mount resolved (volumes created, copied up, chowned)."""
    mounts = list(spec.mounts)
    if spec.volumes_from:
        mounts = _with_volumes_from(paths, spec.volumes_from, mounts)
    taken = {m.destination for m in mounts}
    for d in sorted(image_cfg.get("Volumes") or {}) if spec.image_volume != "ignore" else ():
        dest = os.path.normpath("/" + str(d).lstrip("/"))
        if dest not in taken:  # --image-volume bind (an anonymous volume, the default) or tmpfs
            mounts.append(Mount("volume", dest, "", IMAGE_VOLUME_OPTIONS) if spec.image_volume == "bind"
                          else Mount("tmpfs", dest, "tmpfs", ("rw", "rprivate", "nosuid", "nodev")))  # fmt: skip
            taken.add(dest)
    if not any(m.type == "volume" for m in mounts):
        return spec if mounts == spec.mounts else spec.replace(mounts=mounts)
    from podpy.engine import volumes  # only with volumes: not on a plain ``run``'s path

    made: list[str] = []
    out: list[Mount] = []
    try:
        for m in mounts:
            out.append(_resolve_one(paths, m, rootfs, uid, gid, idmap, made) if m.type == "volume" else m)
    except BaseException:
        for name in made:  # a failed create leaves no anonymous volume behind
            with contextlib.suppress(PodpyError):
                volumes.remove(paths, name, force=False)
        raise
    return spec.replace(mounts=out)


def _resolve_one(paths: Paths, m: Mount, rootfs: Path, uid: int, gid: int, idmap: IdMap | None,
                 made: list[str]) -> Mount:  # fmt: skip
    from podpy.engine import volumes

    if m.source:
        try:
            vol = volumes.get(paths, m.source) if "/" not in m.source else None
        except NotFoundError:
            vol = None
        if vol is None or vol.name != m.source:  # a prefix match is not the volume the user named
            vol = volumes.create(paths, m.source, ignore=True)
    else:
        vol = volumes.create(paths, anonymous=True)
        made.append(vol.name)
    vtype = vol.options.get("type", "")
    extra = [o for o in vol.options.get("o", "").split(",") if o]
    if vtype == "tmpfs":
        opts = [m.options[0] if m.options else "rw", "rprivate", "nosuid", "nodev", *extra]
        return Mount("tmpfs", m.destination, "tmpfs", tuple(dict.fromkeys(opts)), volume=vol.name)
    if vtype == "bind":
        ro = "ro" in extra or m.options[:1] == ("ro",)
        rest = [o for o in (*m.options[1:], *extra) if o not in ("ro", "rw", "bind", "rbind")]
        return Mount("bind", m.destination, vol.options["device"], ("ro" if ro else "rw", *dict.fromkeys(rest), "rbind"),
                     chown=m.chown, volume=vol.name)  # fmt: skip
    data = volumes.mountpoint(paths, vol.name)
    with volumes.lock(paths, vol.name):
        vol = volumes.get(paths, vol.name)
        changed = False
        if vol.needs_copy_up and not m.nocopy:
            done = copy_up(rootfs, m.destination, data)
            if done:  # as podman 4.3: a volume found not empty keeps waiting (CVE-2020-1726: never copy into it)
                vol.needs_copy_up = False
                changed = True
        if vol.needs_chown:
            fix_permissions(rootfs, m.destination, data, uid, gid, idmap)
            vol.needs_chown = False
            changed = True
        if changed:
            volumes.save(paths, vol)
    return Mount("bind", m.destination, str(data), m.options, chown=m.chown, volume=vol.name, nocopy=m.nocopy)


def _image_path(rootfs: Path, dest: str) -> str:
    from podpy.runtime.rootpath import secure_join

    return secure_join(str(rootfs), dest)


def copy_up(rootfs: Path, dest: str, data: Path) -> bool | None:
    """Copy the image's directory at ``dest`` into the empty volume dir ``data``.

    None: nothing to copy (no such directory in the image, or an empty one: the volume still waits
    for its copy-up, as in Podman); False: the volume already has content (kept); True: copied."""
    src = _image_path(rootfs, dest)
    try:
        st = os.lstat(src)
    except FileNotFoundError:
        return None
    if not stat.S_ISDIR(st.st_mode) or not os.listdir(src):
        return None
    if os.listdir(data):
        return False
    try:
        copy_tree(src, str(data), {})
    except OSError as e:
        raise StoreError(f"copying up {dest} into volume {data.parent.name}: {e.strerror or e}") from None
    return True


def copy_tree(src: str, dst: str, links: dict[tuple[int, int], str]) -> None:
    """The children of ``src`` into the existing dir ``dst``, as they are (owners included)."""
    from podpy.store.idshift import copy_node

    for entry in os.scandir(src):
        s, d = entry.path, os.path.join(dst, entry.name)
        st = entry.stat(follow_symlinks=False)
        if stat.S_ISDIR(st.st_mode):
            os.mkdir(d, 0o700)
            copy_tree(s, d, links)
        elif copy_node(s, d, st, links) != "copied":
            continue
        copy_attrs(s, d, st)


def copy_attrs(src: str, dst: str, st: os.stat_result) -> None:
    """Owner, then mode (chown clears setuid bits), xattrs and times of ``src`` onto ``dst``."""
    os.chown(dst, st.st_uid, st.st_gid, follow_symlinks=False)
    if stat.S_ISLNK(st.st_mode):
        os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)
        return
    os.chmod(dst, stat.S_IMODE(st.st_mode))
    names: list[str] = []
    with contextlib.suppress(OSError):
        names = os.listxattr(src, follow_symlinks=False)
    for name in names:
        if name.startswith(_XATTRS) and not name.startswith("user.overlay."):
            with contextlib.suppress(OSError):
                os.setxattr(dst, name, os.getxattr(src, name, follow_symlinks=False), follow_symlinks=False)
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def fix_permissions(rootfs: Path, dest: str, data: Path, uid: int, gid: int, idmap: IdMap | None) -> None:
    """Podman's ``fixVolumePermissions`` on first use: the volume's top dir belongs to the container's
    user (as mapped), or, when the image has that directory, takes its owner and mode."""
    owner = (idmap.uid(uid), idmap.gid(gid)) if idmap else (uid, gid)
    try:
        os.lchown(data, *owner)
        src = _image_path(rootfs, dest)
        with contextlib.suppress(FileNotFoundError):
            st = os.lstat(src)
            os.lchown(data, st.st_uid, st.st_gid)
            os.chmod(data, stat.S_IMODE(st.st_mode))
    except OSError as e:
        raise StoreError(f"setting the owner of volume {data.parent.name}: {e.strerror or e}") from None


def _with_volumes_from(paths: Paths, refs: list[str], mounts: list[Mount]) -> list[Mount]:
    """``--volumes-from CTR[:ro|rw]``: the volumes and bind mounts of CTR (a later CTR wins a mount
    point; the container's own mounts win over all)."""
    from podpy.engine.containers import container_dir, open_state

    st = open_state(paths)
    own = {m.destination for m in mounts}
    picked: dict[str, Mount] = {}
    for item in refs:
        ref, _, mode = item.partition(":")
        if mode not in ("", "ro", "rw"):
            raise PodpyError(f"invalid options {mode!r} for --volumes-from {item}: use ro or rw")
        try:
            rec = st.get(ref)
        except NotFoundError:
            raise NotFoundError(f'no container with name or ID "{ref}" found: no such container') from None
        userdata = str(container_dir(paths, rec.id) / "userdata")
        for d in (rec.config.get("spec") or {}).get("mounts") or []:
            if not isinstance(d, dict) or d.get("destination") in own:
                continue
            if not d.get("volume") and (
                d.get("type") != "bind" or str(d.get("source", "")).startswith(userdata)
            ):
                continue
            m = _mount_of(d, mode)
            picked[m.destination] = m
    return mounts + list(picked.values())


def _mount_of(d: dict[str, Any], mode: str) -> Mount:
    fields = set(Mount.__slots__)
    kw = {k: v for k, v in d.items() if k in fields}
    opts: list[str] = list(kw.get("options") or [])
    if mode:
        opts = [mode if o in ("ro", "rw") else o for o in opts]
        if mode not in opts:
            opts.insert(0, mode)
    kw["options"] = tuple(opts)
    kw["chown"] = False  # the source container chowned it already
    if kw.get("volume") and kw.get("type") == "bind" and not kw.get("overlay"):
        # re-resolved like -v NAME:DST (tmpfs/bind volumes get their own mount again)
        return Mount("volume", kw["destination"], kw["volume"], kw["options"], nocopy=bool(kw.get("nocopy")))
    if kw.get("volume") and kw.get("type") == "tmpfs":
        return Mount("volume", kw["destination"], kw["volume"], kw["options"])
    return Mount(**kw)


def inspect_mount(m: dict[str, Any], paths: Paths | None = None) -> dict[str, Any]:
    """One entry of ``inspect``'s ``Mounts`` for a recorded mount, as Podman 4.3 shows it."""
    opts = list(m.get("options") or [])
    rw = "ro" not in opts
    if m.get("volume"):
        from podpy.engine import volumes

        data = str(volumes.mountpoint(paths, m["volume"])) if paths is not None else m.get("source")
        shown = [o for o in opts if o not in ("ro", "rw", "rprivate", "private", "shared", "rshared",
                                               "slave", "rslave")]  # fmt: skip
        return {"Type": "volume", "Name": m["volume"], "Source": data, "Destination": m.get("destination"),
                "Driver": "local", "Mode": "", "Options": shown, "RW": rw, "Propagation": "rprivate"}  # fmt: skip
    return {"Type": m.get("type"), "Source": m.get("source"), "Destination": m.get("destination"),
            "Driver": "", "Mode": "", "Options": opts, "RW": rw, "Propagation": "rprivate"}  # fmt: skip


def inspect_mounts(paths: Paths, spec: dict[str, Any], userdata: str) -> list[dict[str, Any]]:
    """``inspect``'s ``Mounts``: binds the user asked for and volumes, not podpy's /etc files (this
    container's, or its pod infra's or ``--network container:``'s, all in some container's userdata)."""
    podpy_files = (userdata.rstrip("/") + "/", str(paths.root / "containers") + "/")

    def keep(m: dict[str, Any]) -> bool:
        return bool(m.get("volume")) or (
            m.get("type") == "bind" and not str(m.get("source", "")).startswith(podpy_files)
        )

    return [inspect_mount(m, paths) for m in spec.get("mounts") or [] if isinstance(m, dict) and keep(m)]


def bind_spec(m: dict[str, Any]) -> str:
    """``HostConfig.Binds`` entry: ``NAME:DST:OPTS`` for a volume (Podman's), ``SRC:DST`` for a bind."""
    if m.get("Type") == "volume":
        return f"{m['Name']}:{m['Destination']}:{','.join(['rw' if m['RW'] else 'ro', 'rprivate', *m['Options']])}"
    return f"{m['Source']}:{m['Destination']}"


def resolve_path(config: dict[str, Any], root: str, path: str) -> tuple[str, str]:
    """Podman's ``resolvePath`` for ``cp``: where the container's ``path`` lives on this side, as
    (the root it must stay inside, the resolved host path). A path on a volume or a directory bind
    mount is resolved inside that mount's source; any other path inside the rootfs ``root``."""
    from podpy.runtime.rootpath import secure_join

    resolved = secure_join(root, path)
    inner = "/" + os.path.relpath(resolved, root).removeprefix(".").lstrip("/")
    best: dict[str, Any] | None = None
    for m in (config.get("spec") or {}).get("mounts") or []:
        if not isinstance(m, dict) or m.get("type") != "bind" or not os.path.isdir(str(m.get("source", ""))):
            continue
        d = str(m.get("destination", "")).rstrip("/") or "/"
        if (inner == d or inner.startswith(d + "/")) and (best is None or len(d) > len(best["destination"])):
            best = {**m, "destination": d}
    if best is None:
        return root, resolved
    src = str(best["source"])
    return src, secure_join(src, inner[len(best["destination"]) :])
