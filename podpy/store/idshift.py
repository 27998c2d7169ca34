"""Id-shifted layers for containers with their own user namespace (``--userns=keep-id|nomap``).

Layers are stored with the owners the image gave them, as IDs of podpy's user namespace (root =
the user). A container in a *nested* namespace sees an ID ``C`` of its own as podpy ID ``H`` per
its ``uidMappings`` (``C`` → ``H``), so for image root to stay root inside, the files must be owned
by the *mapped* IDs. Idmapped mounts would do that without copying, but the kernel refuses them
here (``mount_setattr(MOUNT_ATTR_IDMAP)``: EPERM on the host ext4, EINVAL on overlayfs; checked
on 6.18), so, as containers/storage does in that case, each layer is copied once per mapping with
its owners shifted, and cached next to the layer::

    overlay/<diffid-hex>/mapped/<key>/      the layer's diff, owners shifted by the mapping <key>
    overlay/<diffid-hex>/mapped/.tmp-…      a copy in progress (a leftover is removed under the lock)
    overlay/<diffid-hex>/mapped/.lock       flock: one copier per layer

Removing the layer removes its copies with it. fuse-overlayfs needs no copy: it shifts on the fly
with its ``uidmapping=``/``gidmapping=`` options (:meth:`IdMap.fuse_options`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from podpy.util.errors import StoreError
from podpy.util.lock import FileLock

Triples = tuple[tuple[int, int, int], ...]  # (container id, podpy-namespace id, size)

_XATTR_PREFIXES = ("user.", "trusted.")
_CAP_XATTR = "security.capability"
_VFS_CAP_REVISION_MASK = 0xFF000000
_VFS_CAP_REVISION_2, _VFS_CAP_REVISION_3 = 0x02000000, 0x03000000
_SYSTEM_DIRS = ("/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib64", "/proc", "/root",
                  "/run", "/sbin", "/sys", "/tmp", "/usr", "/var")  # fmt: skip


def _triples(maps: Sequence[dict[str, int]] | Sequence[Sequence[int]]) -> Triples:
    out = []
    for m in maps:
        if isinstance(m, dict):
            out.append((int(m["containerID"]), int(m["hostID"]), int(m["size"])))
        else:
            c, h, s = m
            out.append((int(c), int(h), int(s)))
    return tuple(out)


def _shift(i: int, maps: Triples, what: str) -> int:
    for c, h, s in maps:
        if c <= i < c + s:
            return h + i - c
    raise StoreError(
        f"container {what} {i} cannot be mapped to a host ID by the container's user namespace: the image"
        " needs subordinate ids (/etc/subuid, /etc/subgid ranges for your user, then `podpy system migrate`)"
    )


@dataclass(frozen=True)
class IdMap:
    """A container's ``linux.uidMappings``/``gidMappings`` (host side = podpy's namespace)."""

    uids: Triples
    gids: Triples

    @classmethod
    def from_oci(cls, uid_mappings: Sequence[Any], gid_mappings: Sequence[Any]) -> IdMap:
        return cls(_triples(uid_mappings), _triples(gid_mappings))

    @classmethod
    def from_json(cls, data: Any) -> IdMap | None:
        """What :meth:`to_json` wrote; None for anything else (no mapping recorded)."""
        if not isinstance(data, dict) or not data.get("uidMappings") or not data.get("gidMappings"):
            return None
        return cls.from_oci(data["uidMappings"], data["gidMappings"])

    def to_json(self) -> dict[str, list[dict[str, int]]]:
        def oci(t: Triples) -> list[dict[str, int]]:
            return [{"containerID": c, "hostID": h, "size": s} for c, h, s in t]

        return {"uidMappings": oci(self.uids), "gidMappings": oci(self.gids)}

    @property
    def key(self) -> str:
        """A short stable name for the mapping (the cache directory of its shifted layers)."""
        import hashlib  # lazily: ``podpy run`` imports this module on its hot path

        return hashlib.sha256(json.dumps([self.uids, self.gids]).encode()).hexdigest()[:16]

    def uid(self, i: int) -> int:
        """Container uid ``i`` as an ID of podpy's namespace (StoreError when it has none)."""
        return _shift(i, self.uids, "uid")

    def gid(self, i: int) -> int:
        return _shift(i, self.gids, "gid")

    def container_ids(self, uid: int, gid: int) -> tuple[int, int]:
        """The reverse: podpy-namespace IDs as the container sees them (-1 when unmapped), for
        tools that read or write the container's files from outside (diff, cp, commit)."""

        def back(i: int, maps: Triples) -> int:
            return next((c + i - h for c, h, s in maps if h <= i < h + s), -1)

        return back(uid, self.uids), back(gid, self.gids)

    def fuse_options(self) -> str:
        """fuse-overlayfs options showing the unshifted layers with this mapping (as Podman passes them)."""

        def fmt(t: Triples) -> str:
            return ":".join(f"{c}:{h}:{s}" for c, h, s in t)

        return f"uidmapping={fmt(self.uids)},gidmapping={fmt(self.gids)}"


def _fix_capability(value: bytes, rootid: int) -> bytes:
    """A file-capability xattr re-rooted at ``rootid`` (v3), so it applies in the container's namespace."""
    import struct

    if len(value) < 20:
        return value
    magic = struct.unpack_from("<I", value)[0]
    rev = magic & _VFS_CAP_REVISION_MASK
    if rev not in (_VFS_CAP_REVISION_2, _VFS_CAP_REVISION_3):
        return value
    flags = magic & ~_VFS_CAP_REVISION_MASK
    return struct.pack("<I", _VFS_CAP_REVISION_3 | flags) + value[4:20] + struct.pack("<I", rootid)


def _copy_attrs(src: str, dst: str, st: os.stat_result, m: IdMap) -> None:
    """Owner (shifted), mode, xattrs and times of ``src`` onto ``dst`` — in that order: chown
    clears setuid bits and file capabilities, so they come after it."""
    link = stat.S_ISLNK(st.st_mode)
    os.chown(dst, m.uid(st.st_uid), m.gid(st.st_gid), follow_symlinks=False)
    if not link:
        os.chmod(dst, stat.S_IMODE(st.st_mode))
        names: list[str] = []
        with contextlib.suppress(OSError):
            names = os.listxattr(src, follow_symlinks=False)
        for name in names:
            if not (name.startswith(_XATTR_PREFIXES) or name == _CAP_XATTR):
                continue  # ACLs and security labels are not carried over
            with contextlib.suppress(OSError):
                value = os.getxattr(src, name, follow_symlinks=False)
                if name == _CAP_XATTR:
                    value = _fix_capability(value, m.uid(0))
                os.setxattr(dst, name, value, follow_symlinks=False)
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def copy_shifted(src: Path, dst: Path, m: IdMap) -> None:
    """Copy the tree ``src`` to the new directory ``dst`` with every owner shifted by ``m``.

    Keeps hard links (within the tree), symlinks, devices (overlay whiteouts are 0/0 character
    devices), fifos, modes, times and the overlay/user xattrs; never follows a symlink.
    """
    links: dict[tuple[int, int], str] = {}
    os.mkdir(dst, 0o700)
    _copy_dir(str(src), str(dst), m, links)
    _copy_attrs(str(src), str(dst), os.lstat(src), m)


def _copy_dir(src: str, dst: str, m: IdMap, links: dict[tuple[int, int], str]) -> None:
    for entry in os.scandir(src):
        s, d = entry.path, os.path.join(dst, entry.name)
        st = entry.stat(follow_symlinks=False)
        mode = st.st_mode
        if stat.S_ISDIR(mode):
            os.mkdir(d, 0o700)
            _copy_dir(s, d, m, links)
        elif copy_node(s, d, st, links) != "copied":
            continue  # a hard link to an earlier copy (its attributes are set) or a socket
        _copy_attrs(s, d, st, m)


def copy_node(s: str, d: str, st: os.stat_result, links: dict[tuple[int, int], str]) -> str:
    """Copy one non-directory entry without following symlinks: "copied", "linked" (a hard link to
    the first copy of the same inode, kept in ``links``) or "skipped" (sockets are not layer content).
    Owners, modes and times are the caller's to set."""
    mode = st.st_mode
    if stat.S_ISLNK(mode):
        os.symlink(os.readlink(s), d)
    elif stat.S_ISREG(mode):
        first = links.get((st.st_dev, st.st_ino)) if st.st_nlink > 1 else None
        if first is not None:
            os.link(first, d)
            return "linked"
        shutil.copyfile(s, d, follow_symlinks=False)
        if st.st_nlink > 1:
            links[(st.st_dev, st.st_ino)] = d
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode):
        os.mknod(d, mode, st.st_rdev)
    else:
        return "skipped"
    return "copied"


def shifted_layer(layer: Path, m: IdMap) -> Path:
    """The copy of the layer dir ``layer`` (``overlay/<hex>/diff``) shifted by ``m``; made once.

    Concurrency-safe: one copier per layer (flock), the copy appears by rename, so an existing
    ``mapped/<key>`` is complete and a killed copier leaves only a ``.tmp-`` dir the next one removes.
    """
    mapped = layer.parent / "mapped"
    # The store's layers are all ``<hex>/diff``; any other dir is told apart by its name.
    final = mapped / (m.key if layer.name == "diff" else f"{layer.name}-{m.key}")
    if final.is_dir():
        return final
    if not layer.is_dir():
        raise StoreError(f"layer directory {layer} is missing: the image is incomplete; pull it again")
    mapped.mkdir(mode=0o700, exist_ok=True)
    with FileLock(mapped / ".lock"):
        if final.is_dir():
            return final
        for p in mapped.iterdir():
            if p.name.startswith(".tmp-"):
                shutil.rmtree(p, ignore_errors=True)
        tmp = mapped / f".tmp-{final.name}-{os.getpid()}-{os.urandom(4).hex()}"
        try:
            copy_shifted(layer, tmp, m)
            os.rename(tmp, final)
        except BaseException as e:
            shutil.rmtree(tmp, ignore_errors=True)
            if isinstance(e, OSError):
                raise StoreError(f"cannot make an id-shifted copy of layer {layer.parent.name[:12]}: {e}") from e
            raise
    return final


def chown_tree(path: str, uid: int, gid: int) -> None:
    """``-v SRC:DST:U``: ``lchown -R`` of ``path`` to ``uid:gid`` (podpy-namespace IDs), as Podman.

    Refuses system directories (a typo like ``-v /usr:/x:U`` must not hand /usr to a subuid) and
    never follows a symlink; mount points below are left alone (another filesystem).
    """
    real = os.path.realpath(path)
    if real in _SYSTEM_DIRS:
        raise StoreError(f"refusing to chown {real} for the volume option U: it is a system directory")
    top = os.lstat(real)
    os.chown(real, uid, gid, follow_symlinks=False)
    if not stat.S_ISDIR(top.st_mode):
        return
    for dirpath, dirnames, filenames in os.walk(real):
        keep = []
        for name in dirnames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            if st.st_dev != top.st_dev:
                continue
            os.chown(p, uid, gid, follow_symlinks=False)
            if not stat.S_ISLNK(st.st_mode):
                keep.append(name)
        dirnames[:] = keep
        for name in filenames:
            os.chown(os.path.join(dirpath, name), uid, gid, follow_symlinks=False)
