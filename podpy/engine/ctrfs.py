"""A container's filesystem from outside: ``cp``, ``diff``, ``export`` and ``commit``.

Every path typed for the container side is resolved *inside* its rootfs
(``runtime.rootpath.secure_join``): a symlink planted in the container that points at ``/`` or at a
host path resolves to that path in the container, never on the host. Files are written with
``O_NOFOLLOW`` under parents re-checked to lie inside the rootfs, and a symlink in the way of a
file being written is replaced, not followed.

The rootfs files belong to subordinate ids, so all of this runs inside podpy's user namespace
(where the user is root and the container's uids are what ``tar`` sees). The rootfs is mounted for
the operation when the container is not running, under the container's lock, and unmounted again.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from podpy.engine import containers
from podpy.engine.state import ContainerRecord
from podpy.engine.volume_mounts import resolve_path
from podpy.runtime.rootpath import is_within, mkdir_in_root, secure_join
from podpy.util.errors import InvalidInput, NotFoundError, PodpyError, UsageError
from podpy.util.paths import Paths

if TYPE_CHECKING:
    from podpy.store.idshift import IdMap

SPOOL = 64 << 20  # a ``cp`` tar up to this size stays in memory
_WH = ".wh."
_OPQ = ".wh..wh..opq"


# --- the container's rootfs -----------------------------------------------------------------------


def _record(paths: Paths, ref: str, typed: str | None = None) -> ContainerRecord:
    st = containers.open_state(paths)
    try:
        return containers.get(st, paths, ref)
    except NotFoundError:
        raise NotFoundError(f'container "{typed or ref}" does not exist', 125) from None


@contextlib.contextmanager
def mounted(paths: Paths, rec: ContainerRecord) -> Iterator[Path]:
    """The container's merged rootfs (mounted for the duration when it was not)."""
    from podpy.rootless.userns import ensure_userns

    ensure_userns(paths)
    st = containers.open_state(paths)
    with st.lock(rec.id):
        rec = containers.refresh_locked(st, paths, st.get(rec.id))
        merged = containers.container_dir(paths, rec.id) / "merged"
        was_mounted = os.path.ismount(merged)
        containers.ensure_mounted(paths, rec)
        try:
            yield merged
        finally:
            if not was_mounted and rec.state not in containers.ACTIVE:
                containers.unmount(paths, rec.id)


OVERFLOW_ID = 65534  # what an unmapped owner shows as, as the kernel's overflowuid


def _idmap(paths: Paths, rec: ContainerRecord, *, upper: bool = False) -> IdMap | None:
    """The mapping between the container's ids and the owners in its rootfs as podpy sees it, or None
    when they are the same. A ``--userns=keep-id|nomap`` rootfs is id-shifted: the merged view always,
    the upper dir only when it holds shifted copies (fuse-overlayfs with ``uidmapping=`` shifts on the
    fly and stores the container's ids)."""
    from podpy.store.rootfs import recorded_idmap, recorded_shifted

    cdir = containers.container_dir(paths, rec.id)
    if upper and not recorded_shifted(cdir):
        return None
    return recorded_idmap(cdir)


def _unshift(idmap: IdMap | None) -> Callable[[tarfile.TarInfo], tarfile.TarInfo] | None:
    """A ``tarfile`` filter giving members the owners the container sees (for tars leaving it)."""
    if idmap is None:
        return None

    def back(ti: tarfile.TarInfo) -> tarfile.TarInfo:
        uid, gid = idmap.container_ids(ti.uid, ti.gid)
        ti.uid, ti.gid = (uid if uid >= 0 else OVERFLOW_ID), (gid if gid >= 0 else OVERFLOW_ID)
        ti.uname = ti.gname = ""
        return ti

    return back


def _container_owner(rec: ContainerRecord) -> tuple[int, int]:
    """The container's primary uid:gid when numeric (``cp -a`` chowns to it); 0:0 otherwise."""
    user = str((rec.config.get("spec") or {}).get("user") or "")
    uid, _, gid = user.partition(":")
    u = int(uid) if uid.isdigit() else 0
    return u, int(gid) if gid.isdigit() else u if uid.isdigit() else 0


# --- safe writing into the rootfs -----------------------------------------------------------------


def _check_inside(root: str, path: str, what: str) -> None:
    real = os.path.realpath(path)
    if not is_within(os.path.realpath(root), real):
        raise InvalidInput(f"{what!r} resolves outside the container rootfs ({real})")


def _clear(path: str, keep_dir: bool) -> None:
    """Remove what is at ``path`` (never following it) unless it is a directory and ``keep_dir``."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        if keep_dir:
            return
        import shutil

        shutil.rmtree(path)
    else:
        os.unlink(path)


def _place(root: str, rel: str) -> str:
    """The host path for entry ``rel`` of the container: its parent resolved (and created) inside."""
    parent, name = os.path.split(rel.strip("/"))
    if name in ("", ".", ".."):
        raise InvalidInput(f"invalid path {rel!r} in the archive")
    pdir = mkdir_in_root(root, parent or "/")
    _check_inside(root, pdir, rel)
    return os.path.join(pdir, name)


def _extract_member(tf: tarfile.TarFile, m: tarfile.TarInfo, root: str, dest: str,
                    owner: tuple[int, int] | None, idmap: IdMap | None = None) -> None:  # fmt: skip
    name = m.name.strip("/")
    if not name or name == ".":
        path = secure_join(root, dest)
        _check_inside(root, path, dest)
    else:
        path = _place(root, os.path.join(dest, name))
    if m.isdir():
        _clear(path, keep_dir=True)
        with contextlib.suppress(FileExistsError):
            os.mkdir(path, 0o700)
    elif m.isreg():
        src = tf.extractfile(m)
        assert src is not None
        _clear(path, keep_dir=False)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "wb") as out:
            while chunk := src.read(1 << 20):
                out.write(chunk)
    elif m.issym():
        _clear(path, keep_dir=False)
        os.symlink(m.linkname, path)  # the target is only ever resolved inside the container
    elif m.islnk():
        target = secure_join(root, os.path.join(dest, m.linkname.strip("/")))
        _check_inside(root, target, m.linkname)
        _clear(path, keep_dir=False)
        os.link(target, path, follow_symlinks=False)
    elif m.isfifo():
        _clear(path, keep_dir=False)
        os.mkfifo(path, 0o600)
    else:
        raise InvalidInput(f"{m.name}: device files cannot be copied into a rootless container")
    uid, gid = owner if owner is not None else (m.uid, m.gid)
    if idmap is not None:  # the container's ids as owners in its id-shifted rootfs
        uid, gid = idmap.uid(uid), idmap.gid(gid)
    os.lchown(path, uid, gid)
    if not m.issym():
        os.chmod(path, m.mode & 0o7777)


def extract_into(root: str, dest: str, src: IO[bytes], owner: tuple[int, int] | None,
                 idmap: IdMap | None = None) -> None:  # fmt: skip
    """Unpack a tar stream into directory ``dest`` of the rootfs; nothing lands outside it."""
    try:
        with tarfile.open(fileobj=src, mode="r|*") as tf:
            for m in tf:
                _extract_member(tf, m, root, dest, owner, idmap)
    except tarfile.TarError as e:
        raise InvalidInput(f"invalid tar stream: {e}") from None


# --- cp -------------------------------------------------------------------------------------------


def split_arg(arg: str) -> tuple[str | None, str]:
    """``CTR:PATH`` -> (CTR, PATH); a host path (absolute, relative with ``./`` or without ``:``) -> (None, arg)."""
    if arg == "-" or arg.startswith(("/", ".")):
        return None, arg
    ctr, sep, path = arg.partition(":")
    if not sep or not ctr:
        return None, arg
    return ctr, path or "/"


@dataclass
class CpResult:
    """What ``cp`` did (nothing is printed on success, as in Podman)."""

    direction: str
    target: str


def copy_in(paths: Paths, src: str, ctr: str, dest: str, *, archive: bool = True,
            stdin: IO[bytes] | None = None) -> CpResult:  # fmt: skip
    """Host path (or a tar stream when ``src`` is ``-``) into ``ctr:dest``."""
    rec = _record(paths, ctr)
    if src != "-":
        src = os.path.abspath(src)
        if not os.path.lexists(src):
            raise NotFoundError(f'"{src}" could not be found on the host: no such file or directory', 125)
    with mounted(paths, rec) as merged:
        root, resolved = resolve_path(rec.config, str(merged), dest)  # a volume's path: in the volume
        _check_inside(root, resolved, dest)
        is_dir = os.path.isdir(resolved) and not os.path.islink(resolved)
        rel = os.path.relpath(resolved, root)
        owner = _container_owner(rec) if archive else None
        idmap = _idmap(paths, rec)
        if src == "-":
            if not is_dir:
                raise NotFoundError(f'"{dest}" could not be found on container {ctr}: no such directory', 125)
            extract_into(root, rel, stdin if stdin is not None else _stdin(), owner, idmap)
            return CpResult("in", dest)
        if is_dir:
            arcname = os.path.basename(src.rstrip("/")) or "."
            if src.endswith("/.") and os.path.isdir(src):
                arcname = "."
        else:
            parent = os.path.dirname(resolved)
            if not os.path.isdir(parent):
                raise NotFoundError(
                    f'"{os.path.dirname(dest) or "/"}" could not be found on container {ctr}: no such file or directory', 125
                )  # fmt: skip
            if dest.endswith("/"):
                raise NotFoundError(f'"{dest}" could not be found on container {ctr}: no such directory', 125)
            if os.path.isdir(src):
                raise InvalidInput(f'cannot copy directory "{src}" onto file "{dest}" in container {ctr}')
            rel, arcname = os.path.dirname(rel), os.path.basename(resolved)
        with tempfile.SpooledTemporaryFile(max_size=SPOOL) as spool:
            with tarfile.open(fileobj=spool, mode="w|") as tf:
                tf.add(src, arcname=arcname, recursive=True)
            spool.seek(0)
            extract_into(root, rel, spool, owner, idmap)  # type: ignore[arg-type]
    return CpResult("in", dest)


def _stdin() -> IO[bytes]:
    import sys

    return sys.stdin.buffer


def copy_out(paths: Paths, ctr: str, src: str, dest: str, *, stdout: IO[bytes] | None = None) -> CpResult:
    """``ctr:src`` to a host path, or as a tar stream to stdout when ``dest`` is ``-``.

    The source is resolved in the container (a link to ``/etc/shadow`` is the container's file).
    """
    import shutil

    rec = _record(paths, ctr)
    if dest != "-":
        dest = os.path.abspath(dest)
    with mounted(paths, rec) as merged:
        root, resolved = resolve_path(rec.config, str(merged), src)  # a volume's path: in the volume
        _check_inside(root, resolved, src)
        if not os.path.lexists(resolved):
            raise NotFoundError(
                f'"{src}" could not be found on container {ctr}: no such file or directory', 125
            )
        name = os.path.basename(resolved.rstrip("/")) if resolved != root else "."
        if dest == "-":
            import sys

            out = stdout if stdout is not None else sys.stdout.buffer
            with tarfile.open(fileobj=out, mode="w|") as tf:
                tf.add(resolved, arcname=name, recursive=True, filter=_unshift(_idmap(paths, rec)))
            out.flush()
            return CpResult("out", "-")
        target = os.path.join(dest, name) if os.path.isdir(dest) and name != "." else dest
        if os.path.isdir(resolved) and not os.path.islink(resolved):
            if src.endswith("/.") and os.path.isdir(dest):
                target = dest
            shutil.copytree(resolved, target, symlinks=True, dirs_exist_ok=True)
        else:
            if not os.path.isdir(os.path.dirname(target) or "/"):
                raise NotFoundError(f'"{os.path.dirname(target)}" could not be found on the host: no such file or directory', 125)  # fmt: skip
            fd = os.open(resolved, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
            try:
                _check_inside(root, os.readlink(f"/proc/self/fd/{fd}"), src)
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    raise InvalidInput(f'"{src}" in container {ctr} is not a regular file or directory')
                with contextlib.suppress(FileNotFoundError):
                    if os.path.islink(target):
                        os.unlink(target)
                with os.fdopen(os.dup(fd), "rb") as fin, open(target, "wb") as fout:
                    shutil.copyfileobj(fin, fout, 1 << 20)
                os.chmod(target, stat.S_IMODE(os.fstat(fd).st_mode))
            finally:
                os.close(fd)
    return CpResult("out", dest)


def cp(paths: Paths, src: str, dest: str, *, archive: bool = True) -> CpResult:
    """``podpy cp SRC DEST``: exactly one side names a container."""
    sctr, spath = split_arg(src)
    dctr, dpath = split_arg(dest)
    if sctr and dctr:
        raise UsageError("copying between containers is not supported")
    if not sctr and not dctr:
        raise UsageError("invalid arguments " + src + ", " + dest + " you must use just one container")
    if sctr:
        return copy_out(paths, sctr, spath, dpath)
    assert dctr is not None
    return copy_in(paths, spath, dctr, dpath, archive=archive)


# --- diff -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    kind: str  # "A", "C" or "D"
    path: str  # absolute in the container
    source: str | None = None  # the file holding the new content (None for deletions)
    opaque: bool = False


def _whiteout_of(entry: os.DirEntry[str], st: os.stat_result) -> str | None:
    """The deleted name when ``entry`` is a whiteout (overlay's 0/0 char device or an AUFS ``.wh.`` file)."""
    if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
        return entry.name
    if entry.name.startswith(_WH) and entry.name != _OPQ:
        return entry.name[len(_WH) :]
    return None


def _is_opaque(path: str) -> bool:
    for attr in ("user.overlay.opaque", "trusted.overlay.opaque"):
        with contextlib.suppress(OSError):
            if os.getxattr(path, attr, follow_symlinks=False) == b"y":
                return True
    return os.path.lexists(os.path.join(path, _OPQ))


def _in_lower(layers: list[Path], rel: str) -> bool:
    """Whether ``rel`` exists in the image (layers base first, in overlay or ``.wh.`` form)."""
    parts = rel.strip("/").split("/")
    for layer in reversed(layers):
        cur = str(layer)
        for i, comp in enumerate(parts):
            wh = os.path.join(cur, _WH + comp)
            nxt = os.path.join(cur, comp)
            try:
                st = os.lstat(nxt)
            except (FileNotFoundError, NotADirectoryError):
                if os.path.lexists(wh):
                    return False
                break
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                return False
            if i == len(parts) - 1:
                return True
            if not stat.S_ISDIR(st.st_mode):
                break
            if _is_opaque(nxt):
                return os.path.lexists(os.path.join(nxt, *parts[i + 1 :]))
            cur = nxt
    return False


def _walk_upper(upper: str, layers: list[Path], rel: str, out: list[Change], added: bool) -> None:
    for entry in sorted(os.scandir(os.path.join(upper, rel)), key=lambda e: e.name):
        if entry.name == _OPQ:
            continue
        st = entry.stat(follow_symlinks=False)
        crel = f"{rel}/{entry.name}" if rel else entry.name
        gone = _whiteout_of(entry, st)
        if gone is not None:
            drel = f"{rel}/{gone}" if rel else gone
            if _in_lower(layers, drel):
                out.append(Change("D", "/" + drel))
            continue
        new = added or not _in_lower(layers, crel)
        is_dir = stat.S_ISDIR(st.st_mode)
        out.append(Change("A" if new else "C", "/" + crel, entry.path, is_dir and _is_opaque(entry.path)))
        if is_dir:
            _walk_upper(upper, layers, crel, out, new)


def _layers(paths: Paths, rec: ContainerRecord) -> list[Path]:
    from podpy.engine import images

    store = images.open_store(paths)
    return [Path(p) for p in store.layer_dirs(images.lookup(store, rec.image_id))]


def changes(paths: Paths, ref: str) -> list[Change]:
    """What the container changed in its image, from its writable (upper) layer; sorted by path."""
    from podpy.rootless.userns import ensure_userns

    rec = _record(paths, ref, ref)
    cdir = containers.container_dir(paths, rec.id)
    driver = containers.recorded_driver(cdir)
    if driver == "vfs":
        raise PodpyError(
            f"container {rec.id[:12]} uses the vfs storage driver, which keeps no separate writable "
            "layer: diff/commit need overlay or fuse-overlayfs"
        )
    ensure_userns(paths)
    out: list[Change] = []
    upper = cdir / "diff"
    if upper.is_dir():
        _walk_upper(str(upper), _layers(paths, rec), "", out, False)
    stubs = _mount_points(rec)
    return sorted((c for c in out if not (c.path in stubs and _is_stub(c))), key=lambda c: c.path)


_ETC_FILES = ("/etc/hostname", "/etc/hosts", "/etc/resolv.conf")


def _mount_points(rec: ContainerRecord) -> set[str]:
    """Where the container has bind mounts: the empty stubs made for them are not changes (as in Podman)."""
    spec = rec.config.get("spec") or {}
    dests = {str(m.get("destination") or "") for m in spec.get("mounts") or [] if isinstance(m, dict)}
    return {os.path.normpath(d) for d in dests if d} | set(_ETC_FILES)


def _is_stub(c: Change) -> bool:
    if c.kind != "A" or c.source is None:
        return False
    st = os.lstat(c.source)
    if stat.S_ISREG(st.st_mode):
        return st.st_size == 0
    return stat.S_ISDIR(st.st_mode) and not os.listdir(c.source)


def diff_json(chs: list[Change]) -> dict[str, list[str]]:
    """Podman's ``diff --format json`` shape (empty kinds left out)."""
    doc: dict[str, list[str]] = {}
    for key, kind in (("changed", "C"), ("added", "A"), ("deleted", "D")):
        items = [c.path for c in chs if c.kind == kind]
        if items:
            doc[key] = items
    return doc


# --- export ---------------------------------------------------------------------------------------


def export(paths: Paths, ref: str, output: str | None) -> None:
    """A tar of the container's whole filesystem to ``output`` (or stdout)."""
    import sys

    rec = _record(paths, ref)
    target = os.path.abspath(output) if output else None
    with mounted(paths, rec) as merged:
        if target:
            tmp = f"{target}.podpy-tmp-{os.getpid()}"
            try:
                with open(tmp, "wb") as f:
                    _tar_tree(str(merged), f, _idmap(paths, rec))
                os.replace(tmp, target)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
        else:
            _tar_tree(str(merged), sys.stdout.buffer, _idmap(paths, rec))
            sys.stdout.buffer.flush()


def _tar_tree(root: str, out: IO[bytes], idmap: IdMap | None = None) -> None:
    back = _unshift(idmap)
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tf:
        for name in sorted(os.listdir(root)):
            tf.add(os.path.join(root, name), arcname=name, recursive=True, filter=back)


# --- commit ---------------------------------------------------------------------------------------


def _layer_tar(chs: list[Change], out: IO[bytes], idmap: IdMap | None = None) -> None:
    """The changes as an OCI layer: files as they are in the upper dir, ``.wh.`` whiteouts."""
    back = _unshift(idmap)
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tf:
        for c in chs:
            rel = c.path.lstrip("/")
            if c.kind == "D":
                d, n = os.path.split(rel)
                ti = tarfile.TarInfo(os.path.join(d, _WH + n))
                tf.addfile(ti)
                continue
            assert c.source is not None
            ti = tf.gettarinfo(c.source, arcname=rel)
            if back is not None:
                ti = back(ti)
            if ti.isreg():
                with open(c.source, "rb") as f:
                    tf.addfile(ti, f)
            else:
                tf.addfile(ti)
            if c.opaque:
                tf.addfile(tarfile.TarInfo(os.path.join(rel, _OPQ)))



def store_layer(store: Any, chs: list[Any], idmap: Any = None) -> tuple[str, int]:
    """``chs`` (``changes``) as an uncompressed layer blob, hashed while written, committed and
    unpacked in ``store`` (whose session the caller holds): (its diff ID, its size)."""
    import hashlib

    from podpy.spec import mediatypes as mt

    tmp = store.new_temp()
    try:
        h = hashlib.sha256()
        size = 0
        with open(tmp, "wb") as f:

            class _Hashing:
                def write(self, b: bytes) -> int:
                    nonlocal size
                    h.update(b)
                    size += len(b)
                    return f.write(b)

            _layer_tar(chs, _Hashing(), idmap)  # type: ignore[arg-type]
        diff_id = "sha256:" + h.hexdigest()
        store.commit_blob(tmp, diff_id, size, verify=False)
    finally:
        if tmp.exists():
            tmp.unlink()
    store.unpack_layer(store.blob_path(diff_id), mt.OCI_LAYER, diff_id)
    return diff_id, size

def commit(paths: Paths, ref: str, name: str | None = None, *, message: str | None = None,
           author: str | None = None, changes_: list[str] | None = None, fmt: str = "oci",
           progress: Any = None) -> str:  # fmt: skip
    """A new image: the container's image plus its writable layer on top; returns the image id."""
    import json

    from podpy.engine import images
    from podpy.engine.transfer import _go_time, normalize_name
    from podpy.engine.transfer_changes import apply_changes
    from podpy.spec import mediatypes as mt
    from podpy.store.images import LayerRecord

    if fmt not in ("oci", "docker"):
        raise UsageError(f'unrecognized image type "{fmt}": use oci or docker')
    say = progress or (lambda _m: None)
    rec = _record(paths, ref, ref)
    target = normalize_name(name, "localhost") if name else None
    chs = changes(paths, ref)
    store = images.open_store(paths)
    base = images.lookup(store, rec.image_id)
    base_cfg = json.loads(store.get_blob_bytes(base.config_digest))
    with store.session():
        diff_id, size = store_layer(store, chs, _idmap(paths, rec, upper=True))
        docker = fmt == "docker"
        layer_mt = mt.DOCKER_LAYER if docker else mt.OCI_LAYER
        say("Getting image source signatures")
        for layer in base.layers:
            say(f"Copying blob {layer.digest}")
        say(f"Copying blob {diff_id}")
        now = _go_time(time.time())
        cfg = dict(base_cfg.get("config") or {})
        rc = rec.config
        if rc.get("env"):
            cfg["Env"] = list(rc["env"])
        if rc.get("cmd") is not None:
            cfg["Cmd"] = list(rc["cmd"])
        if rc.get("entrypoint") is not None:
            cfg["Entrypoint"] = list(rc["entrypoint"]) or None
        cfg = apply_changes(cfg, list(changes_ or []))
        config: dict[str, Any] = {
            k: v for k, v in base_cfg.items() if k not in ("history", "rootfs", "config")
        }
        config.update(created=now, config=cfg)
        if author:
            config["author"] = author
        config["rootfs"] = {"type": "layers", "diff_ids": [*base.diff_ids, diff_id]}
        hist = {"created": now, "created_by": " ".join(rc.get("create_command") or []) or "podpy commit"}
        if author:
            hist["author"] = author
        if message:
            hist["comment"] = message
        config["history"] = [*(base_cfg.get("history") or []), hist]
        cbytes = json.dumps(config, separators=(",", ":")).encode()
        cdigest = store.put_blob_bytes(cbytes)
        say(f"Copying config {cdigest}")
        layers = [*base.layers, LayerRecord(diff_id, diff_id, layer_mt, size)]
        manifest = {
            "schemaVersion": 2,
            "mediaType": mt.DOCKER_MANIFEST if docker else mt.OCI_MANIFEST,
            "config": {"mediaType": mt.DOCKER_CONFIG if docker else mt.OCI_CONFIG, "digest": cdigest, "size": len(cbytes)},
            "layers": [{"mediaType": _layer_type(layer.media_type, docker), "digest": layer.digest,
                        "size": layer.size} for layer in layers],
        }  # fmt: skip
        mdigest = store.put_blob_bytes(json.dumps(manifest, separators=(",", ":")).encode())
        say("Writing manifest to image destination")
        say("Storing signatures")
        new = store.add_image(
            config_digest=cdigest,
            manifest_digest=mdigest,
            manifest_media_type=manifest["mediaType"],
            layers=[
                LayerRecord(la.digest, la.diff_id, _layer_type(la.media_type, docker), la.size)
                for la in layers
            ],
            names=[target] if target else [],
        )
    containers.open_state(paths).container_event(rec.id, "commit")  # as podman 4.3: no image event
    return str(new.id)


def _layer_type(media_type: str, docker: bool) -> str:
    """The same blob under the manifest flavour's media type (gzip stays gzip, plain stays plain)."""
    from podpy.spec import mediatypes as mt

    gz = media_type.endswith("gzip") or media_type.endswith(".gzip")
    zst = media_type.endswith("zstd")
    if docker:
        return mt.DOCKER_LAYER_GZIP if gz else mt.DOCKER_LAYER if not zst else mt.OCI_LAYER_ZSTD
    return mt.OCI_LAYER_GZIP if gz else mt.OCI_LAYER_ZSTD if zst else mt.OCI_LAYER
