"""Image archives: docker-archive, oci-archive and oci-dir, read safely and written atomically.

Reading treats the archive as hostile: the tar is streamed once (from a file or stdin, gzip/zstd/
bzip2/xz detected by magic) into a private work directory under numbered file names, so a member name
never becomes a host path; links are resolved by name inside the archive only; every blob is hashed
while it is copied; JSON documents are capped at 4 MiB; layer diff IDs are checked against the
config. Writing produces the layouts ``podman save`` does (docker-archive: ``manifest.json``,
``repositories``, ``<config>.json``, uncompressed ``<diffid>.tar``; OCI: ``oci-layout``,
``index.json`` with ``org.opencontainers.image.ref.name``, ``blobs/sha256/…``) through a temp
file that is renamed into place only when complete.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import posixpath
import re
import shutil
import stat
import tarfile
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, BinaryIO

from podpy.spec import mediatypes as mt
from podpy.spec.digest import parse_digest
from podpy.spec.platform import host_platform
from podpy.store.archive_io import (
    CHUNK,
    CountingWriter,
    compressing_writer,
    decompressing_reader,
    hash_file,
    sniff,
    sniff_file,
)
from podpy.util.errors import InvalidInput, PodpyError, StoreError, UsageError

FORMATS = ("docker-archive", "oci-archive", "oci-dir")
REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name"
MAX_DOC = mt.MAX_MANIFEST_SIZE
MAX_MEMBERS = 100_000
MAX_IMAGES = 10_000
_HEX64 = re.compile(r"^[a-f0-9]{64}$")

_TO_OCI_LAYER = {
    mt.DOCKER_LAYER_GZIP: mt.OCI_LAYER_GZIP,
    mt.DOCKER_LAYER: mt.OCI_LAYER,
    mt.DOCKER_LAYER_FOREIGN_GZIP: mt.OCI_LAYER_NONDIST_GZIP,
}


# --------------------------------------------------------------------------------------------- model


@dataclass
class ArchivedLayer:
    """A verified layer blob in the reader's work directory (or in an oci-dir)."""

    path: Path
    digest: str  # sha256 of the blob bytes as stored
    size: int
    media_type: str
    compression: str  # none | gzip | zstd
    diff_id: str  # sha256 of the uncompressed tar, checked against the config


@dataclass
class ArchivedImage:
    """One image found in an archive, fully verified."""

    names: list[str]
    config: bytes
    config_digest: str
    layers: list[ArchivedLayer]
    manifest: bytes
    manifest_media_type: str

    @property
    def manifest_digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.manifest).hexdigest()

    @property
    def id(self) -> str:
        """The image ID (config digest hex), as podman prints it."""
        return self.config_digest.split(":", 1)[1]


@dataclass
class ReadArchive:
    format: str
    images: list[ArchivedImage]
    workdir: Path | None = None

    def cleanup(self) -> None:
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def __enter__(self) -> ReadArchive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


@dataclass
class LayerToWrite:
    """A layer the writer copies from the store: ``open()`` returns the blob bytes as stored."""

    digest: str
    size: int
    media_type: str
    diff_id: str
    open: Callable[[], BinaryIO]

    @property
    def compression(self) -> str:
        return mt.LAYER_COMPRESSION.get(self.media_type, "none")


@dataclass
class ImageToWrite:
    names: list[str]
    config: bytes
    layers: list[LayerToWrite]
    config_digest: str = field(default="")

    def __post_init__(self) -> None:
        if not self.config_digest:
            self.config_digest = "sha256:" + hashlib.sha256(self.config).hexdigest()


# -------------------------------------------------------------------------------------- tar reading


def _clean_name(name: str) -> str | None:
    """A member name made canonical; None for the root entry; hostile names refused."""
    if "\x00" in name:
        raise InvalidInput(f"archive member name {name!r} contains a NUL byte")
    if name.startswith("/"):
        raise InvalidInput(f"archive member {name!r} has an absolute path: refusing the archive")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise InvalidInput(f"archive member {name!r} escapes the archive with '..': refusing the archive")
    return "/".join(parts) or None


@dataclass
class _Entry:
    path: Path
    size: int
    digest: str


class _Members:
    """The archive's files by canonical name: spooled regular files plus in-archive links."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files: dict[str, _Entry] = {}
        self.links: dict[str, str] = {}
        self.dir_mode = False

    def resolve(self, name: str) -> _Entry:
        seen = 0
        cur = _clean_name(name) or ""
        while cur in self.links:
            cur = self.links[cur]
            seen += 1
            if seen > 16:
                raise InvalidInput(f"archive member {name!r}: too many levels of links")
        entry = self.files.get(cur)
        if entry is None:
            raise InvalidInput(f"archive has no member {name!r} (referenced by its manifest)")
        return entry

    def has(self, name: str) -> bool:
        try:
            self.resolve(name)
        except InvalidInput:
            return False
        return True

    def read_doc(self, name: str, what: str) -> bytes:
        entry = self.resolve(name)
        if entry.size > MAX_DOC:
            raise InvalidInput(f"{what} {name!r} is {entry.size} bytes, over the {MAX_DOC} byte limit")
        return entry.path.read_bytes()


def _open_peekable(source: BinaryIO) -> tuple[BinaryIO, bytes]:
    buf = source if hasattr(source, "peek") else io.BufferedReader(source)  # type: ignore[arg-type]
    head = buf.peek(8)[:8]  # type: ignore[attr-defined]
    return buf, head


def _spool_tar(source: BinaryIO, workdir: Path) -> _Members:
    """Stream the (maybe compressed) tar once into ``workdir``, hashing every regular file."""
    buf, head = _open_peekable(source)
    if not head:
        raise InvalidInput("the archive is empty: expected a docker-archive or oci-archive tar")
    compression = sniff(head)
    stream = decompressing_reader(buf, compression)
    members = _Members(workdir)
    count = 0
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tf:
            for m in tf:
                count += 1
                if count > MAX_MEMBERS:
                    raise InvalidInput(f"archive has more than {MAX_MEMBERS} members: refusing it")
                name = _clean_name(m.name)
                if name is None or m.isdir():
                    continue
                if name in members.files or name in members.links:
                    raise InvalidInput(f"archive member {name!r} appears twice: refusing the archive")
                if m.issym() or m.islnk():
                    target = m.linkname
                    if m.issym():
                        if target.startswith("/"):
                            raise InvalidInput(
                                f"archive link {name!r} -> {target!r} is absolute: refusing it"
                            )
                        joined = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
                    else:
                        joined = posixpath.normpath(target)
                    if joined.startswith("../") or joined in ("..", ".", "") or joined.startswith("/"):
                        raise InvalidInput(f"archive link {name!r} -> {target!r} escapes the archive")
                    members.links[name] = _clean_name(joined) or ""
                    continue
                if not m.isreg():
                    raise InvalidInput(f"archive member {name!r} is not a regular file, directory or link")
                path = workdir / f"m{count}"
                sha = hashlib.sha256()
                size = 0
                src = tf.extractfile(m)
                assert src is not None
                with open(path, "wb") as out:
                    while True:
                        chunk = src.read(CHUNK)
                        if not chunk:
                            break
                        sha.update(chunk)
                        size += len(chunk)
                        out.write(chunk)
                if size != m.size:
                    raise InvalidInput(f"archive member {name!r} is truncated")
                members.files[name] = _Entry(path, size, "sha256:" + sha.hexdigest())
    except PodpyError:
        raise
    except (tarfile.TarError, EOFError, OSError, ValueError) as e:
        if isinstance(e, OSError) and e.errno is not None:
            raise
        raise InvalidInput(f"the archive is not a valid tar file: {e}") from e
    except Exception as e:  # decompressor errors (gzip.BadGzipFile, zstd.ZstdError, lzma.LZMAError)
        raise InvalidInput(f"the archive is corrupt: {e}") from e
    if not members.files:
        raise InvalidInput("the archive holds no files: expected a docker-archive or oci-archive tar")
    return members


def _members_from_dir(root: Path) -> _Members:
    """An oci-dir: files are used in place; symlinks are not followed (a layout has none)."""
    members = _Members(root)
    members.dir_mode = True
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for fn in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            full = Path(dirpath) / fn
            rel = full.relative_to(root).as_posix()
            st = os.lstat(full)
            if not stat.S_ISREG(st.st_mode):
                raise InvalidInput(f"{full}: not a regular file; an OCI layout holds only regular files")
            members.files[rel] = _Entry(full, st.st_size, "")
    return members


def _hash_entry(entry: _Entry) -> str:
    if not entry.digest:
        entry.digest, entry.size = hash_file(entry.path)
    return entry.digest


def _json(data: bytes, what: str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise InvalidInput(f"{what} is not valid JSON: {e}") from e


# ----------------------------------------------------------------------------------- format parsing


def _check_layer(entry: _Entry, want_diff_id: str, cache: dict[str, str], label: str) -> tuple[str, str]:
    """(compression, diff_id) of a layer blob, verified against the config's diff ID."""
    compression = sniff_file(entry.path)
    if compression not in ("none", "gzip", "zstd"):
        raise InvalidInput(f"layer {label} uses unsupported compression {compression}")
    key = str(entry.path)
    if key not in cache:
        cache[key] = _hash_entry(entry) if compression == "none" else hash_file(entry.path, compression)[0]
    diff_id = cache[key]
    if diff_id != want_diff_id:
        raise InvalidInput(
            f"layer {label} does not match its diff ID: config says {want_diff_id}, content is {diff_id}"
        )
    return compression, diff_id


def _config_diff_ids(config_bytes: bytes, what: str) -> list[str]:
    config = _json(config_bytes, what)
    if not isinstance(config, dict):
        raise InvalidInput(f"{what} is not a JSON object")
    rootfs = config.get("rootfs") or {}
    ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise InvalidInput(f"{what} has no rootfs.diff_ids list")
    for i in ids:
        parse_digest(i)
    return ids


def _docker_manifest(config_digest: str, config_size: int, layers: list[ArchivedLayer]) -> tuple[bytes, str]:
    """The registry manifest a docker-archive image gets: v2s2, or OCI when a layer is zstd."""
    oci = any(layer.compression == "zstd" for layer in layers)
    manifest: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST if oci else mt.DOCKER_MANIFEST,
        "config": {
            "mediaType": mt.OCI_CONFIG if oci else mt.DOCKER_CONFIG,
            "size": config_size,
            "digest": config_digest,
        },
        "layers": [
            {"mediaType": layer.media_type, "size": layer.size, "digest": layer.digest} for layer in layers
        ],
    }
    return json.dumps(manifest, separators=(",", ":")).encode(), manifest["mediaType"]


def _layer_media_type(compression: str, oci: bool) -> str:
    if oci:
        return {"none": mt.OCI_LAYER, "gzip": mt.OCI_LAYER_GZIP, "zstd": mt.OCI_LAYER_ZSTD}[compression]
    return {"none": mt.DOCKER_LAYER, "gzip": mt.DOCKER_LAYER_GZIP, "zstd": mt.OCI_LAYER_ZSTD}[compression]


def _parse_docker(members: _Members) -> list[ArchivedImage]:
    items = _json(members.read_doc("manifest.json", "manifest.json"), "manifest.json")
    if not isinstance(items, list) or not items:
        raise InvalidInput("manifest.json of the docker-archive is not a non-empty list")
    if len(items) > MAX_IMAGES:
        raise InvalidInput(f"manifest.json lists more than {MAX_IMAGES} images")
    cache: dict[str, str] = {}
    images = []
    for n, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("Config"), str):
            raise InvalidInput(f"manifest.json entry {n} has no Config")
        layers_names = item.get("Layers") or []
        tags = item.get("RepoTags") or []
        if not isinstance(layers_names, list) or not all(isinstance(x, str) for x in layers_names):
            raise InvalidInput(f"manifest.json entry {n} has an invalid Layers list")
        if not isinstance(tags, list) or not all(isinstance(x, str) for x in tags):
            raise InvalidInput(f"manifest.json entry {n} has an invalid RepoTags list")
        cname = item["Config"]
        config = members.read_doc(cname, "image config")
        config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
        m = re.search(r"([a-f0-9]{64})(?:\.json)?$", cname)
        if m and m.group(1) != config_digest.split(":")[1]:
            raise InvalidInput(
                f"image config {cname!r} does not match its digest (content is {config_digest})"
            )
        diff_ids = _config_diff_ids(config, f"image config {cname!r}")
        if len(diff_ids) != len(layers_names):
            raise InvalidInput(
                f"image config {cname!r} lists {len(diff_ids)} layers but manifest.json lists {len(layers_names)}"
            )
        layers: list[ArchivedLayer] = []
        raw: list[tuple[_Entry, str, str]] = []
        for lname, want in zip(layers_names, diff_ids, strict=True):
            entry = members.resolve(lname)
            compression, diff_id = _check_layer(entry, want, cache, repr(lname))
            raw.append((entry, compression, diff_id))
        oci = any(c == "zstd" for _, c, _ in raw)
        for entry, compression, diff_id in raw:
            layers.append(
                ArchivedLayer(
                    path=entry.path,
                    digest=_hash_entry(entry),
                    size=entry.size,
                    media_type=_layer_media_type(compression, oci),
                    compression=compression,
                    diff_id=diff_id,
                )
            )
        manifest, media_type = _docker_manifest(config_digest, len(config), layers)
        images.append(ArchivedImage(list(tags), config, config_digest, layers, manifest, media_type))
    return images


def _blob(members: _Members, desc: Any, what: str, cap: int | None) -> tuple[_Entry, str]:
    if not isinstance(desc, dict):
        raise InvalidInput(f"{what} descriptor is not an object")
    digest = desc.get("digest")
    size = desc.get("size")
    d = parse_digest(digest if isinstance(digest, str) else "")
    if d.algorithm != "sha256":
        raise InvalidInput(f"{what} {digest}: only sha256 blobs are supported")
    if not isinstance(size, int) or size < 0:
        raise InvalidInput(f"{what} {digest} has an invalid size {size!r}")
    if cap is not None and size > cap:
        raise InvalidInput(f"{what} {digest} is {size} bytes, over the {cap} byte limit")
    entry = members.resolve(f"blobs/{d.algorithm}/{d.hex}")
    if entry.size != size:
        raise InvalidInput(f"{what} {digest}: descriptor says {size} bytes, the blob has {entry.size}")
    if _hash_entry(entry) != str(d):
        raise InvalidInput(f"{what} {digest} does not match its content (digest {entry.digest})")
    return entry, str(d)


def _pick_from_index(members: _Members, desc: dict[str, Any], depth: int) -> dict[str, Any]:
    entry, _ = _blob(members, desc, "image index", MAX_DOC)
    index = _json(entry.path.read_bytes(), "image index")
    manifests = index.get("manifests") if isinstance(index, dict) else None
    if not isinstance(manifests, list) or not manifests:
        raise InvalidInput("nested image index lists no manifests")
    want = host_platform()
    from podpy.spec.platform import Platform

    for m in manifests:
        p = m.get("platform") if isinstance(m, dict) else None
        if isinstance(p, dict):
            cand = Platform(str(p.get("os", "")), str(p.get("architecture", "")), str(p.get("variant", "")))
            if want.matches(cand):
                return m  # type: ignore[no-any-return]
    raise InvalidInput(f"the archive's image index has no manifest for {want}")


def _parse_oci(members: _Members) -> list[ArchivedImage]:
    layout = _json(members.read_doc("oci-layout", "oci-layout"), "oci-layout")
    if not isinstance(layout, dict) or layout.get("imageLayoutVersion") != "1.0.0":
        raise InvalidInput("oci-layout does not declare imageLayoutVersion 1.0.0")
    index = _json(members.read_doc("index.json", "index.json"), "index.json")
    descs = index.get("manifests") if isinstance(index, dict) else None
    if not isinstance(descs, list) or not descs:
        raise InvalidInput("index.json of the OCI layout lists no manifests")
    if len(descs) > MAX_IMAGES:
        raise InvalidInput(f"index.json lists more than {MAX_IMAGES} manifests")
    cache: dict[str, str] = {}
    by_digest: dict[str, ArchivedImage] = {}
    for desc in descs:
        if not isinstance(desc, dict):
            raise InvalidInput("index.json has a descriptor that is not an object")
        annotations = desc.get("annotations") or {}
        name = annotations.get(REF_NAME_ANNOTATION) if isinstance(annotations, dict) else None
        chosen = desc
        depth = 0
        while chosen.get("mediaType") in mt.INDEXES:
            depth += 1
            if depth > 4:
                raise InvalidInput("image indexes nested too deeply")
            chosen = _pick_from_index(members, chosen, depth)
        if chosen.get("mediaType") not in mt.MANIFESTS:
            raise InvalidInput(f"unsupported manifest media type {chosen.get('mediaType')!r} in index.json")
        entry, mdigest = _blob(members, chosen, "manifest", MAX_DOC)
        if mdigest in by_digest:
            img = by_digest[mdigest]
            if isinstance(name, str) and name and name not in img.names:
                img.names.append(name)
            continue
        manifest_bytes = entry.path.read_bytes()
        manifest = _json(manifest_bytes, f"manifest {mdigest}")
        if not isinstance(manifest, dict):
            raise InvalidInput(f"manifest {mdigest} is not a JSON object")
        if "manifests" in manifest and "layers" in manifest:
            raise InvalidInput(f"manifest {mdigest} has both 'layers' and 'manifests': refusing it")
        centry, cdigest = _blob(members, manifest.get("config"), "image config", mt.MAX_CONFIG_SIZE)
        config = centry.path.read_bytes()
        diff_ids = _config_diff_ids(config, f"image config {cdigest}")
        ldescs = manifest.get("layers")
        if not isinstance(ldescs, list) or len(ldescs) != len(diff_ids):
            raise InvalidInput(f"manifest {mdigest} and its config disagree on the number of layers")
        layers = []
        for ldesc, want in zip(ldescs, diff_ids, strict=True):
            lentry, ldigest = _blob(members, ldesc, "layer", None)
            media_type = ldesc.get("mediaType")
            if media_type not in mt.LAYER_COMPRESSION:
                raise InvalidInput(f"layer {ldigest} has unsupported media type {media_type!r}")
            compression, diff_id = _check_layer(lentry, want, cache, ldigest)
            if compression != mt.LAYER_COMPRESSION[media_type]:
                raise InvalidInput(
                    f"layer {ldigest} is {compression}-compressed but its media type says {media_type}"
                )
            layers.append(ArchivedLayer(lentry.path, ldigest, lentry.size, media_type, compression, diff_id))
        img = ArchivedImage(
            [name] if isinstance(name, str) and name else [],
            config,
            cdigest,
            layers,
            manifest_bytes,
            str(manifest.get("mediaType") or chosen.get("mediaType")),
        )
        by_digest[mdigest] = img
    return list(by_digest.values())


def read_archive(source: BinaryIO | str | os.PathLike[str], tmpdir: str | os.PathLike[str]) -> ReadArchive:
    """Read and verify an archive (a tar stream, a tar file path or an oci-dir path).

    The result's blobs live in a private directory under ``tmpdir``; call ``cleanup()`` (or use
    it as a context manager) when done. Raises InvalidInput with a one-line reason.
    """
    Path(tmpdir).mkdir(parents=True, exist_ok=True)
    if not isinstance(source, (str, os.PathLike)):
        clean_stale_workdirs(tmpdir)
        workdir = Path(tempfile.mkdtemp(prefix=f"archive-{os.getpid()}-", dir=tmpdir))
        try:
            members = _spool_tar(source, workdir)
            return _parse(members, workdir)
        except BaseException:
            shutil.rmtree(workdir, ignore_errors=True)
            raise
    path = Path(source)
    if path.is_dir():
        members = _members_from_dir(path)
        rv = _parse(members, None)
        rv.format = "oci-dir"
        return rv
    if not path.exists():
        raise UsageError(f"{path}: no such file or directory")
    with open(path, "rb") as f:
        return read_archive(f, tmpdir)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def _output_temp(out: Path, make: Callable[..., Any]) -> Any:
    """A temp file/dir next to ``out`` named ``.<name>.<pid>-….tmp``, after removing those of dead savers.

    A ``kill -9`` of ``podpy save -o FILE`` cannot clean up after itself; the next save to the same
    name does, and only what a save that is certainly dead left (its pid is in the name).
    """
    pat = re.compile(rf"^\.{re.escape(out.name)}\.(\d+)-.*\.tmp$")
    with contextlib.suppress(OSError):
        for entry in os.scandir(out.parent):
            m = pat.match(entry.name)
            if not m or _pid_alive(int(m.group(1))):
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
    return make(prefix=f".{out.name}.{os.getpid()}-", suffix=".tmp", dir=out.parent)


def clean_stale_workdirs(tmpdir: str | os.PathLike[str]) -> int:
    """Remove work dirs of killed readers and temp layers of killed writers (their pid is gone).

    Both are named ``archive-<pid>-…`` (dirs, ``read_archive``) or ``layer-<pid>-…`` (files,
    ``write_archive``), so a ``kill -9`` of ``podpy load`` or ``podpy save`` leaves nothing behind
    for longer than the next load or save. Returns how many were removed.
    """
    n = 0
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(tmpdir):
            m = re.match(r"^(archive|layer)-(\d+)-", entry.name)
            is_dir = entry.is_dir(follow_symlinks=False)
            if not m or (m.group(1) == "archive") != is_dir:
                continue
            if _pid_alive(int(m.group(2))):
                continue
            if is_dir:
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
            n += 1
    return n


def _parse(members: _Members, workdir: Path | None) -> ReadArchive:
    if members.has("manifest.json"):
        return ReadArchive("docker-archive", _parse_docker(members), workdir)
    if members.has("index.json") or members.has("oci-layout"):
        return ReadArchive("oci-archive", _parse_oci(members), workdir)
    raise InvalidInput(
        "the archive is neither a docker-archive (no manifest.json) nor an OCI layout (no index.json)"
    )


# -------------------------------------------------------------------------------------------- write


def _tarinfo(name: str, size: int) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.size = size
    ti.mode = 0o444
    ti.mtime = 0
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = ""
    return ti


def _add_bytes(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    tf.addfile(_tarinfo(name, len(data)), io.BytesIO(data))


@contextlib.contextmanager
def _uncompressed_layer(layer: LayerToWrite, tmpdir: Path) -> Any:
    """Yield (fileobj, size) of the layer's uncompressed tar, verified against its diff ID."""
    if layer.compression == "none":
        f = layer.open()
        try:
            yield f, layer.size
        finally:
            f.close()
        return
    fd, tmp = tempfile.mkstemp(prefix=f"layer-{os.getpid()}-", dir=tmpdir)  # see clean_stale_workdirs
    try:
        with os.fdopen(fd, "wb") as out, layer.open() as raw:
            counter = CountingWriter(out)
            try:
                reader = decompressing_reader(raw, layer.compression)
                while chunk := reader.read(CHUNK):
                    counter.write(chunk)
            except PodpyError:
                raise
            except Exception as e:
                raise StoreError(
                    f"stored layer {layer.digest} is corrupt: {e}; remove and re-pull the image"
                ) from e
        if counter.digest != layer.diff_id:
            raise StoreError(
                f"stored layer {layer.digest} does not match diff ID {layer.diff_id}: re-pull the image"
            )
        with open(tmp, "rb") as f:
            yield f, counter.size
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _write_docker(tf: tarfile.TarFile, images: list[ImageToWrite], tmpdir: Path) -> None:
    written: set[str] = set()
    entries = []
    repositories: dict[str, dict[str, str]] = {}
    for img in images:
        layer_names = []
        for layer in img.layers:
            hexid = parse_digest(layer.diff_id).hex
            name = f"{hexid}.tar"
            if name not in written:
                with _uncompressed_layer(layer, tmpdir) as (f, size):
                    tf.addfile(_tarinfo(name, size), f)
                written.add(name)
            layer_names.append(name)
        chex = parse_digest(img.config_digest).hex
        if f"{chex}.json" not in written:
            _add_bytes(tf, f"{chex}.json", img.config)
            written.add(f"{chex}.json")
        entries.append({"Config": f"{chex}.json", "RepoTags": list(img.names), "Layers": layer_names})
        for name in img.names:
            repo, _, tag = name.rpartition(":")
            if repo and "/" not in tag and img.layers:
                repositories.setdefault(repo, {})[tag] = parse_digest(img.layers[-1].diff_id).hex
    _add_bytes(tf, "manifest.json", json.dumps(entries, separators=(",", ":")).encode())
    _add_bytes(tf, "repositories", json.dumps(repositories, separators=(",", ":")).encode())


def oci_manifest_for(img: ImageToWrite) -> bytes:
    """The OCI image manifest describing ``img`` (Docker media types mapped to OCI ones)."""
    manifest = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {"mediaType": mt.OCI_CONFIG, "digest": img.config_digest, "size": len(img.config)},
        "layers": [
            {
                "mediaType": _TO_OCI_LAYER.get(layer.media_type, layer.media_type),
                "digest": layer.digest,
                "size": layer.size,
            }
            for layer in img.layers
        ],
    }
    return json.dumps(manifest, separators=(",", ":")).encode()


class _DirSink:
    """Writes an OCI layout into a directory (the temp dir that becomes the oci-dir)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def add_bytes(self, name: str, data: bytes) -> None:
        p = self.root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)

    def add_file(self, name: str, f: IO[bytes], size: int) -> None:
        p = self.root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        with open(p, "wb") as out:
            shutil.copyfileobj(f, out, CHUNK)


class _TarSink:
    def __init__(self, tf: tarfile.TarFile) -> None:
        self.tf = tf
        for d in ("blobs", "blobs/sha256"):  # explicit dirs: skopeo's rootless untar needs them
            ti = _tarinfo(d + "/", 0)
            ti.type = tarfile.DIRTYPE
            ti.mode = 0o755
            tf.addfile(ti)

    def add_bytes(self, name: str, data: bytes) -> None:
        ti = _tarinfo(name, len(data))
        ti.mode = 0o644
        self.tf.addfile(ti, io.BytesIO(data))

    def add_file(self, name: str, f: IO[bytes], size: int) -> None:
        ti = _tarinfo(name, size)
        ti.mode = 0o644
        self.tf.addfile(ti, f)


def _write_oci(sink: _DirSink | _TarSink, images: list[ImageToWrite]) -> None:
    written: set[str] = set()
    index_entries = []
    for img in images:
        for layer in img.layers:
            d = parse_digest(layer.digest)
            name = f"blobs/{d.algorithm}/{d.hex}"
            if name not in written:
                with layer.open() as f:
                    sink.add_file(name, f, layer.size)
                written.add(name)
        c = parse_digest(img.config_digest)
        if f"blobs/sha256/{c.hex}" not in written:
            sink.add_bytes(f"blobs/sha256/{c.hex}", img.config)
            written.add(f"blobs/sha256/{c.hex}")
        manifest = oci_manifest_for(img)
        mhex = hashlib.sha256(manifest).hexdigest()
        if f"blobs/sha256/{mhex}" not in written:
            sink.add_bytes(f"blobs/sha256/{mhex}", manifest)
            written.add(f"blobs/sha256/{mhex}")
        desc: dict[str, Any] = {
            "mediaType": mt.OCI_MANIFEST,
            "digest": f"sha256:{mhex}",
            "size": len(manifest),
        }
        for name in img.names or [""]:
            d2 = dict(desc)
            if name:
                d2["annotations"] = {REF_NAME_ANNOTATION: name}
            index_entries.append(d2)
    sink.add_bytes(
        "index.json",
        json.dumps({"schemaVersion": 2, "manifests": index_entries}, separators=(",", ":")).encode(),
    )
    sink.add_bytes("oci-layout", b'{"imageLayoutVersion": "1.0.0"}')


def write_archive(
    images: Iterable[ImageToWrite],
    fmt: str,
    output: str | os.PathLike[str] | None,
    tmpdir: str | os.PathLike[str],
    stream: IO[bytes] | None = None,
    compression: str = "none",
) -> None:
    """Write ``images`` as ``fmt`` to ``output`` atomically (or to ``stream`` when output is None).

    Nothing appears at ``output`` unless the whole archive was written; a failure leaves the old
    file (if any) untouched. ``compression`` (none|gzip) compresses the whole tar (docker-archive and
    oci-archive only).
    """
    imgs = list(images)
    if fmt not in FORMATS:
        raise UsageError(f"unsupported archive format {fmt!r}: use docker-archive, oci-archive or oci-dir")
    if not imgs:
        raise UsageError("no images to save")
    tmp = Path(tmpdir)
    tmp.mkdir(parents=True, exist_ok=True)
    clean_stale_workdirs(tmp)
    if fmt == "oci-dir":
        if output is None:
            raise UsageError("--format oci-dir needs -o/--output DIRECTORY")
        _write_oci_dir(imgs, Path(output))
        return
    if output is None:
        if stream is None:
            raise UsageError("no output: give -o/--output FILE")
        _write_tar(imgs, fmt, stream, tmp, compression)
        stream.flush()
        return
    out = Path(output)
    if out.is_dir():
        raise UsageError(f"{out} is a directory: give a file name to -o for {fmt}")
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmpname = _output_temp(out, tempfile.mkstemp)
    try:
        with os.fdopen(fd, "wb") as f:
            _write_tar(imgs, fmt, f, tmp, compression)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmpname, 0o644)
        os.replace(tmpname, out)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmpname)
        raise


def _write_tar(imgs: list[ImageToWrite], fmt: str, f: IO[bytes], tmp: Path, compression: str) -> None:
    sink, finish = compressing_writer(f, compression)
    with tarfile.open(fileobj=sink, mode="w|", format=tarfile.PAX_FORMAT) as tf:
        if fmt == "docker-archive":
            _write_docker(tf, imgs, tmp)
        else:
            _write_oci(_TarSink(tf), imgs)
    finish()


def _write_oci_dir(imgs: list[ImageToWrite], out: Path) -> None:
    if out.exists() and not (out.is_dir() and not any(out.iterdir())):
        raise UsageError(f"{out} already exists: oci-dir needs a new or empty directory")
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(_output_temp(out, tempfile.mkdtemp))
    try:
        _write_oci(_DirSink(work), imgs)
        os.chmod(work, 0o755)
        if out.exists():
            out.rmdir()
        os.rename(work, out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
