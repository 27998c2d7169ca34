"""Engine wiring for ``podpy build``: the working rootfs of a step, RUN in it, its changes as a layer,
images committed from layers + a config, and the step cache.

A layer step (RUN, COPY, ADD) mounts an overlay over the current layers with a fresh upper dir
(``ROOT/build-work/<id>``, like a container's), changes it (the runtime runs the command, or files are
written into it), and turns the upper dir into a layer the same way ``commit`` does
(``engine.ctrfs``: added/changed files, ``.wh.`` whiteouts). Every step's result is committed as an
image (unnamed: Podman's intermediate images), so the cache is a map from a step's key (its parent,
instruction and inputs: see ``podpy.build.builder``) to that image, kept in ``ROOT/build-cache/``.
Everything here runs inside podpy's user namespace (layer files belong to subordinate ids).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from podpy.engine import ctrfs
from podpy.spec.container import ContainerSpec, Mount
from podpy.util.errors import ImageNotKnown, PodpyError
from podpy.util.fsutil import atomic_write
from podpy.util.log import get_logger
from podpy.util.paths import Paths

log = get_logger(__name__)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from podpy.store import ImageRecord, LayerRecord, Store


class StepFailed(PodpyError):
    """A RUN exited non-zero: Podman exits with the command's code."""


def _work_base(paths: Paths) -> Path:
    return paths.root / "build-work"


def open_store(paths: Paths) -> Store:
    from podpy.engine import images
    from podpy.rootless.userns import ensure_userns

    ensure_userns(paths)
    return images.open_store(paths)


def clean_leftovers(paths: Paths) -> None:
    """Working dirs of killed builds (their mounts died with no one, or are still in the namespace)."""
    base = _work_base(paths)
    if not base.is_dir():
        return
    from podpy.store.rootfs import RootfsMount, unmount_rootfs

    open_store(paths)  # inside the user namespace: the files belong to subordinate ids

    for d in base.iterdir():
        lock = d / "pid"
        with contextlib.suppress(OSError, ValueError):
            pid = int(lock.read_text())
            if pid != os.getpid() and os.path.exists(f"/proc/{pid}"):
                continue
        with contextlib.suppress(PodpyError):
            unmount_rootfs(RootfsMount(d / "merged", "overlay", d))
        shutil.rmtree(d, ignore_errors=True)


# --- resolving images -------------------------------------------------------------------------------


def base_image(
    paths: Paths, name: str, pull: str, pull_kwargs: dict[str, Any]
) -> tuple[ImageRecord, dict[str, Any]]:
    """FROM: the image (pulled as ``pull`` says) and its whole config document."""
    from podpy.engine.run import _image

    open_store(paths)
    _store, rec, cfg = _image(paths, name, pull, pull_kwargs)
    return rec, cfg


def image_by_id(paths: Paths, image_id: str) -> tuple[ImageRecord, dict[str, Any]] | None:
    store = open_store(paths)
    try:
        rec = store.get_image(image_id)
    except (ImageNotKnown, PodpyError):
        return None
    return rec, store.image_config(rec)


def local_image(paths: Paths, name: str) -> tuple[ImageRecord, dict[str, Any]] | None:
    """An image already in the store by name or id (``COPY --from=IMAGE`` without pulling)."""
    from podpy.engine import images

    store = open_store(paths)
    try:
        rec = images.lookup(store, name)
    except PodpyError:
        return None
    return rec, store.image_config(rec)


# --- the working rootfs -----------------------------------------------------------------------------

_STORAGE: tuple[str | None, str | None] = (None, None)  # (driver, mount_program) for every WorkRoot


def use_storage(flag: str | None) -> None:
    """The rootfs driver of this build: ``--storage-driver``, else storage.conf, else automatic."""
    global _STORAGE
    from podpy.engine import storage_conf

    choice = storage_conf.choose(flag)
    _STORAGE = (choice.driver, choice.mount_program)


@dataclass
class WorkRoot:
    """A writable overlay over ``layers`` (diff IDs, base first) for one step; close() removes it."""

    paths: Paths
    layers: list[str]
    driver: str | None = None
    mount_program: str | None = None
    dir: Path = field(init=False)
    path: Path = field(init=False)
    stubs: set[str] = field(default_factory=set)  # mount points made by the runtime: not changes
    source_key: str = ""  # what this rootfs was made from, for a cache key (COPY --from)
    _mount: Any = field(init=False, default=None)

    def __post_init__(self) -> None:
        from podpy.store.rootfs import mount_rootfs

        if self.driver is None and self.mount_program is None:
            self.driver, self.mount_program = _STORAGE

        store = open_store(self.paths)
        base = _work_base(self.paths)
        base.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.dir = base / os.urandom(8).hex()
        self.dir.mkdir(mode=0o700)
        (self.dir / "pid").write_text(str(os.getpid()))
        self._layer_dirs = [store.layer_dir(d) for d in self.layers]
        try:
            self._mount = mount_rootfs(self._layer_dirs, self.dir, self.driver, self.mount_program)
        except BaseException:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise
        if self._mount.driver == "vfs":
            self.close()
            raise PodpyError(
                "podpy build needs the overlay or fuse-overlayfs storage driver (vfs keeps no diff)"
            )
        self.path = self._mount.path

    def close(self) -> None:
        from podpy.store.rootfs import unmount_rootfs

        if self._mount is not None:
            with contextlib.suppress(PodpyError):
                unmount_rootfs(self._mount)
            self._mount = None
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> WorkRoot:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the diff ------------------------------------------------------------------------------
    def changes(self) -> list[ctrfs.Change]:
        out: list[ctrfs.Change] = []
        ctrfs._walk_upper(str(self.dir / "diff"), self._layer_dirs, "", out, False)
        drop = {c.path for c in out if c.path in self.stubs and ctrfs._is_stub(c)}
        # parents the runtime created only to hold a mount point (``/run/secrets``) go too
        for c in sorted(out, key=lambda c: -len(c.path)):
            if c.source and os.path.isdir(c.source) and not os.path.islink(c.source) and not c.opaque:
                kids = [f"{c.path.rstrip('/')}/{n}" for n in os.listdir(c.source)]
                if kids and all(k in drop for k in kids) and c.path != "/":
                    drop.add(c.path)
        return sorted((c for c in out if c.path not in drop), key=lambda c: c.path)

    def commit_layer(self, fmt: str = "oci") -> LayerRecord:
        """The upper dir's changes as a layer blob (uncompressed tar) unpacked into the store."""
        from podpy.spec import mediatypes as mt
        from podpy.store.images import LayerRecord

        store = open_store(self.paths)
        with store.session():
            diff_id, size = ctrfs.store_layer(store, self.changes())
        return LayerRecord(diff_id, diff_id, mt.DOCKER_LAYER if fmt == "docker" else mt.OCI_LAYER, size)

    # -- RUN -----------------------------------------------------------------------------------
    def run(self, argv: list[str], *, image_cfg: dict[str, Any], env: dict[str, str], user: str,
            workdir: str, network: str, mounts: list[Mount], hostname: str = "", quiet: bool = False) -> int:  # fmt: skip
        """Run ``argv`` in this rootfs with podpy's runtime; returns its exit code.

        Its stdout/stderr are ours (as ``podman build`` shows RUN output); stdin is /dev/null.
        """
        from podpy.engine import containers
        from podpy.engine import network as net
        from podpy.runtime import executor
        from podpy.runtime import spec as rs
        from podpy.runtime.rootpath import mkdir_in_root
        from podpy.runtime.users import resolve_user

        root = str(self.path)
        if workdir and workdir != "/":
            mkdir_in_root(root, workdir)
        cid = os.urandom(32).hex()
        userdata = self.dir / "userdata"
        userdata.mkdir(exist_ok=True)
        spec = ContainerSpec(image="", command=list(argv), entrypoint=[], env={}, workdir=workdir or "/",
                             user=user or None, network=network, mounts=list(mounts), log_driver="none",
                             hostname=hostname or cid[:12])  # fmt: skip
        spec.mounts = spec.mounts + net.etc_files(self.paths, spec, userdata, spec.hostname or "", cid[:12])
        self.stubs |= {os.path.normpath(m.destination) for m in spec.mounts}
        cfg = dict(image_cfg)
        cfg["Env"] = [f"{k}={v}" for k, v in env.items()]
        cfg.pop("Entrypoint", None)
        cfg.pop("User", None)
        user_rec = resolve_user(root, user or "")
        config = rs.generate(spec, cfg, rootfs=root, container_id=cid, user=user_rec,
                             host=rs.HostLimits.current(), seccomp_profile=_seccomp())  # fmt: skip
        atomic_write(userdata / "config.json", json.dumps(config), fsync=False)
        fds = (0, 1) if quiet else (0,)  # -q: the command's stdout is dropped too (as podman build -q)
        saved = [os.dup(fd) for fd in fds]
        null = os.open(os.devnull, os.O_RDWR)
        for fd in fds:
            os.dup2(null, fd)
        os.close(null)
        try:
            return executor.run(userdata, cid, containers.runtime_root(self.paths, None))
        except executor.RuntimeError_ as e:
            raise PodpyError(f"while running runtime: {e.message}", e.exit_code) from None
        finally:
            for fd, old in zip(fds, saved, strict=True):
                os.dup2(old, fd)
                os.close(old)


def _seccomp() -> dict[str, Any] | None:
    from podpy.runtime import seccomp

    return seccomp.load_default_profile()


# --- RUN --mount helpers ----------------------------------------------------------------------------


def cache_mount_dir(paths: Paths, ident: str, uid: int = 0, gid: int = 0, mode: int = 0o755) -> str:
    """The persistent directory of ``RUN --mount=type=cache,id=…`` (kept across builds)."""
    d = paths.root / "build-mounts" / hashlib.sha256(ident.encode()).hexdigest()[:32]
    if not d.is_dir():
        d.mkdir(parents=True, mode=mode)
        os.chown(d, uid, gid)
        os.chmod(d, mode)
    return str(d)


def private_copy(paths: Paths, src: str, uid: int = 0, gid: int = 0, mode: int | None = None) -> str:
    """A throw-away copy of ``src`` (secret files, read-write bind mounts whose writes are discarded)."""
    base = paths.root / "build-work" / ("tmp-" + os.urandom(8).hex())
    base.mkdir(parents=True, mode=0o700)
    (base / "pid").write_text(str(os.getpid()))
    os.chmod(base, 0o755)
    dst = base / "data"
    if os.path.isdir(src):
        shutil.copytree(src, dst, symlinks=True)
    else:
        shutil.copyfile(src, dst)
    os.chown(dst, uid, gid)
    if mode is not None:
        os.chmod(dst, mode)
    return str(dst)


def private_file(paths: Paths, data: bytes, mode: int = 0o644) -> str:
    """A throw-away file holding ``data`` (a ``RUN <<EOF`` script with its own ``#!`` interpreter)."""
    base = paths.root / "build-work" / ("tmp-" + os.urandom(8).hex())
    base.mkdir(parents=True, mode=0o700)
    (base / "pid").write_text(str(os.getpid()))
    os.chmod(base, 0o755)
    dst = base / "data"
    dst.write_bytes(data)
    os.chmod(dst, mode)
    return str(dst)


def remove_private(path: str) -> None:
    shutil.rmtree(os.path.dirname(path), ignore_errors=True)


# --- images -----------------------------------------------------------------------------------------


def commit_image(paths: Paths, layers: list[LayerRecord], config: dict[str, Any], fmt: str = "oci",
                 names: list[str] | None = None, annotations: dict[str, str] | None = None) -> str:  # fmt: skip
    """Record an image of ``layers`` (base first) with the config document ``config``; returns its id."""
    from podpy.spec import mediatypes as mt
    from podpy.store.images import LayerRecord as LR

    store = open_store(paths)
    docker = fmt == "docker"
    cbytes = json.dumps(config, separators=(",", ":")).encode()
    cdigest = store.put_blob_bytes(cbytes)
    recs = [LR(la.digest, la.diff_id, ctrfs._layer_type(la.media_type, docker), la.size) for la in layers]
    manifest = {
        "schemaVersion": 2,
        "mediaType": mt.DOCKER_MANIFEST if docker else mt.OCI_MANIFEST,
        "config": {"mediaType": mt.DOCKER_CONFIG if docker else mt.OCI_CONFIG, "digest": cdigest, "size": len(cbytes)},
        "layers": [{"mediaType": la.media_type, "digest": la.digest, "size": la.size} for la in recs],
    }  # fmt: skip
    if annotations:
        manifest["annotations"] = dict(annotations)
    mdigest = store.put_blob_bytes(json.dumps(manifest, separators=(",", ":")).encode())
    rec = store.add_image(config_digest=cdigest, manifest_digest=mdigest, manifest_media_type=manifest["mediaType"],
                          layers=recs, names=names or [])  # fmt: skip
    return str(rec.id)


def tag(paths: Paths, image_id: str, names: list[str]) -> list[str]:
    """Give the built image its names (``localhost/`` for short ones, as Podman); returns them."""
    from podpy.engine import images
    from podpy.engine.transfer import normalize_name

    store = open_store(paths)
    full = [normalize_name(n, "localhost") for n in names]
    for n in full:
        store.tag_image(image_id, n)
    for n in full:
        images.record_event(paths, "tag", image_id, n)
    return full


def squash_layers(paths: Paths, base: list[str], new: list[str], fmt: str = "oci") -> LayerRecord:
    """``--squash``: the layers ``new`` (on top of ``base``) flattened into one layer."""
    from podpy.store.rootfs import _apply_layer

    store = open_store(paths)
    with WorkRoot(paths, base) as wr:
        for d in new:
            _apply_layer(store.layer_dir(d), wr.path, {})
        return wr.commit_layer(fmt)


# --- the step cache ---------------------------------------------------------------------------------


def _cache_file(paths: Paths, key: str) -> Path:
    return paths.root / "build-cache" / f"{key}.json"


def cache_get(paths: Paths, key: str) -> tuple[ImageRecord, dict[str, Any]] | None:
    """The image a step with this key made before, if it still exists."""
    try:
        image_id = json.loads(_cache_file(paths, key).read_text())["image"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return image_by_id(paths, str(image_id))


def cache_put(paths: Paths, key: str, image_id: str) -> None:
    f = _cache_file(paths, key)
    f.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    atomic_write(f, json.dumps({"image": image_id}), fsync=False)


# --- COPY / ADD -------------------------------------------------------------------------------------


def resolve_owner(root: str, chown: str) -> tuple[int, int]:
    """``--chown=USER[:GROUP]`` with names looked up in the rootfs' /etc/passwd and /etc/group."""
    from podpy.runtime.users import resolve_user

    u = resolve_user(root, chown)
    return u.uid, u.gid


def copy_into(root: str, items: list[tuple[str, str]], owner: tuple[int, int] | None,
              mode: int | None = None) -> None:  # fmt: skip
    """Copy host entries into the rootfs: ``items`` are (host path, absolute destination) pairs, one per
    file/dir/symlink (directories are not recursed: the caller lists what the ignore rules let
    through). Destinations are resolved inside ``root``; ``owner`` (default: as on the host) and
    ``mode`` apply to every entry."""
    import tarfile
    import tempfile

    def fix(ti: tarfile.TarInfo) -> tarfile.TarInfo:
        if mode is not None and not ti.issym():
            ti.mode = mode
        ti.uname = ti.gname = ""
        return ti

    with tempfile.SpooledTemporaryFile(max_size=ctrfs.SPOOL) as spool:
        with tarfile.open(fileobj=spool, mode="w|", format=tarfile.PAX_FORMAT) as tf:
            for src, dest in items:
                tf.add(src, arcname=dest.lstrip("/") or ".", recursive=False, filter=fix)
        spool.seek(0)
        ctrfs.extract_into(root, "/", spool, owner)  # type: ignore[arg-type]


def write_file(root: str, dest: str, data: bytes, owner: tuple[int, int], mode: int = 0o644) -> None:
    """A file with ``data`` at ``dest`` in the rootfs (here-documents, downloaded ADD sources)."""
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        ti = tarfile.TarInfo(dest.lstrip("/"))
        ti.size = len(data)
        ti.mode = mode
        import time as _time

        ti.mtime = int(_time.time())
        tf.addfile(ti, io.BytesIO(data))
    buf.seek(0)
    ctrfs.extract_into(root, "/", buf, owner)


def extract_archive(root: str, dest: str, path: str, owner: tuple[int, int] | None) -> None:
    """ADD of a local tar (plain, gzip, bzip2, xz): unpacked into ``dest``, nothing outside the rootfs."""
    from podpy.runtime.rootpath import mkdir_in_root

    mkdir_in_root(root, dest)
    with open(path, "rb") as f:
        ctrfs.extract_into(root, dest, f, owner)


def resolve_in(root: str, path: str) -> str:
    """``path`` of the rootfs as a host path, symlinks resolved inside it."""
    from podpy.runtime.rootpath import secure_join

    return secure_join(root, path)


def exists_in_layers(paths: Paths, layers: list[str], path: str) -> bool:
    """Whether ``path`` exists in the image made of ``layers`` (whiteouts honoured, no mount needed)."""
    if path.strip("/") == "":
        return True
    store = open_store(paths)
    return ctrfs._in_lower([store.layer_dir(d) for d in layers], path.strip("/"))


def make_dir(root: str, path: str) -> None:
    from podpy.runtime.rootpath import mkdir_in_root

    mkdir_in_root(root, path)


def is_dir_in(root: str, path: str) -> bool:
    p = resolve_in(root, path)
    return os.path.isdir(p)


def intermediate_ids(paths: Paths) -> set[str]:
    """IDs of the images the step cache holds (Podman's intermediate images, hidden by ``images``
    without ``-a``): for ``engine.images`` to filter."""
    out: set[str] = set()
    d = paths.root / "build-cache"
    if not d.is_dir():
        return out
    for f in d.iterdir():
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            out.add(str(json.loads(f.read_text())["image"]))
    return out
