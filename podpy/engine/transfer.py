"""Moving images in and out of the store: save/load archives, import a rootfs tarball, push.

The archive formats live in ``podpy.store.archive``, the registry protocol in ``podpy.registry``;
this module wires them to the store, resolves names like Podman and reports progress through a
``progress`` callback (the CLI prints Podman's lines, or nothing with ``-q``).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, BinaryIO

from podpy.engine.images import record_event
from podpy.spec import mediatypes as mt
from podpy.spec.platform import host_platform
from podpy.store.archive import FORMATS, ImageToWrite, LayerToWrite, read_archive, write_archive
from podpy.store.archive_io import CHUNK, CountingWriter, decompressing_reader, sniff
from podpy.util.errors import InvalidInput, PodpyError, UsageError
from podpy.util.paths import Paths

if TYPE_CHECKING:
    from podpy.registry.client import RegistryClient
    from podpy.spec.reference import ImageReference

log = logging.getLogger(__name__)

Progress = Callable[[str], None]
_NAME_RE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")


def _quiet(_: str) -> None:
    pass


# ------------------------------------------------------------------------------------------ names


def normalize_name(name: str, default_domain: str = "docker.io") -> str:
    """``busybox`` → ``docker.io/library/busybox:latest`` (or ``localhost/…`` for import), like Podman.

    Names with a digest are refused (an archive or import cannot carry one meaningfully).
    """
    raw = name.strip()
    if not raw or "@" in raw:
        raise InvalidInput(f"invalid image name {name!r}: expected [REGISTRY/]REPOSITORY[:TAG]")
    tag = ""
    last = raw.rsplit("/", 1)[-1]
    if ":" in last:
        raw, tag = raw.rsplit(":", 1)
    domain = ""
    if "/" in raw:
        first, rest = raw.split("/", 1)
        if "." in first or ":" in first or first == "localhost":
            domain, raw = first, rest
    if not domain:
        domain = default_domain
        if domain == "docker.io" and "/" not in raw:
            raw = "library/" + raw
    if not _NAME_RE.match(raw) or (tag and not _TAG_RE.match(tag)):
        raise InvalidInput(f"invalid image name {name!r}: repository names must be lower-case")
    return f"{domain}/{raw}:{tag or 'latest'}"


def _open_store(paths: Paths) -> Any:
    from podpy.store.store import Store

    return Store(paths.storage)


def _names_for(rec: Any, typed: str) -> list[str]:
    """Which of the image's names the user meant by ``typed`` (none when they typed an ID)."""
    bare = typed.removeprefix("sha256:")
    if re.fullmatch(r"[a-f0-9]{3,64}", bare) and rec.id.startswith(bare) and typed not in rec.names:
        return []
    for cand in (typed, typed + ":latest"):
        if cand in rec.names:
            return [cand]
    try:
        for default in ("localhost", "docker.io"):
            n = normalize_name(typed, default)
            if n in rec.names:
                return [n]
    except InvalidInput:
        pass
    from podpy.store.names import short_name_matches, split_name

    parts = split_name(typed)
    want = split_name(f"{parts.path}:{parts.tag or 'latest'}")
    for n in rec.names:
        if short_name_matches(want, n):
            return [n]
    return list(rec.names[:1])


# ------------------------------------------------------------------------------------------- save


def _image_to_write(store: Any, rec: Any, names: list[str]) -> ImageToWrite:
    def opener(digest: str) -> Callable[[], BinaryIO]:
        return lambda: open(store.blob_path(digest), "rb")  # noqa: SIM115 - the caller closes it

    config = store.get_blob_bytes(rec.config_digest, mt.MAX_CONFIG_SIZE)
    layers = [
        LayerToWrite(layer.digest, layer.size, layer.media_type, layer.diff_id, opener(layer.digest))
        for layer in rec.layers
    ]
    return ImageToWrite(names=names, config=config, layers=layers, config_digest=rec.config_digest)


def save(
    paths: Paths,
    names: list[str],
    output: str | None,
    fmt: str = "docker-archive",
    multi_image: bool = False,
    stream: IO[bytes] | None = None,
    compress: bool = False,
    progress: Progress = _quiet,
    log_event: bool = True,
) -> None:
    """Write the images ``names`` to ``output`` (or ``stream``) as ``fmt``.

    Without ``multi_image`` every name must be the same image (extra names become extra tags,
    as in Podman); with it each name is its own image. ``log_event``: podman's ``save`` events
    (one per name with ``-m``, else one), off when ``push`` writes an archive.
    """
    if fmt not in FORMATS:
        raise UsageError(f"unsupported format {fmt!r}: use docker-archive, oci-archive or oci-dir")
    if not names:
        raise UsageError("podpy save needs at least one image name or ID")
    store = _open_store(paths)
    images: list[ImageToWrite] = []
    by_id: dict[str, ImageToWrite] = {}
    typed_ids: list[str] = []
    for typed in names:
        rec = store.lookup_image(typed)
        typed_ids.append(rec.id)
        chosen = _names_for(rec, typed)
        if rec.id in by_id:
            for n in chosen:
                if n not in by_id[rec.id].names:
                    by_id[rec.id].names.append(n)
            continue
        if images and not multi_image:
            raise UsageError(
                f"{typed} is a different image than {names[0]}: use -m/--multi-image-archive to save several images"
            )
        img = _image_to_write(store, rec, chosen)
        by_id[rec.id] = img
        images.append(img)
    progress("Getting image source signatures")
    for img in images:
        for layer in img.layers:
            progress(f"Copying blob {layer.digest}")
        progress(f"Copying config {img.config_digest}")
    write_archive(images, fmt, output, paths.tmp, stream=stream, compression="gzip" if compress else "none")
    progress("Writing manifest to image destination")
    progress("Storing signatures")
    for iid in (typed_ids if multi_image else typed_ids[:1]) if log_event else ():
        record_event(paths, "save", iid, output or "/dev/stdout")


# ------------------------------------------------------------------------------------------- load


def _stage_blob(store: Any, src: Path, digest: str, size: int, move: bool) -> None:
    """Put the verified file ``src`` into the store as blob ``digest`` (moved when allowed)."""
    if store.has_blob(digest):
        return
    tmp = store.new_temp()
    if move:
        try:
            os.rename(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)
    else:
        shutil.copyfile(src, tmp)
    store.commit_blob(tmp, digest, size, verify=False)


def load(
    paths: Paths, input: str | None, stdin: BinaryIO | None = None, progress: Progress = _quiet
) -> list[str]:
    """Load every image of a docker-archive/oci-archive/oci-dir; returns names (or ``sha256:ID``).

    ``input`` is a path, or None/``-`` for ``stdin``. Nothing is recorded for an image unless all
    of it was verified and stored; a hostile archive fails before anything is recorded.
    """
    from podpy.rootless.userns import ensure_userns

    ensure_userns(paths)
    store = _open_store(paths)
    if input in (None, "-"):
        if stdin is None:
            raise UsageError("no archive: give -i/--input FILE or pipe the archive to stdin")
        source: Any = stdin
    else:
        source = input
    try:
        loaded = _load(store, paths, source, progress)
        record_event(paths, "loadfromarchive", "", source if isinstance(source, str) else "/dev/stdin")
        return loaded
    except BaseException:
        # Blobs/layers of an image that was not recorded are garbage now: drop them (best effort).
        try:
            store.gc(wait=1.0)
        except Exception as e:  # noqa: BLE001 - the original error matters more
            log.debug("cleanup after a failed load: %s", e)
        raise


def _load(store: Any, paths: Paths, source: Any, progress: Progress) -> list[str]:
    from podpy.store.images import LayerRecord

    loaded: list[str] = []
    with store.session():
        archive = read_archive(source, paths.tmp)
        try:
            records: list[tuple[Any, list[str]]] = []
            names_per_image = []
            for img in archive.images:
                names = []
                for n in img.names:
                    try:
                        # docker-archive names follow Docker (docker.io/library/), OCI ones podman's localhost/
                        names.append(
                            normalize_name(
                                n, "docker.io" if archive.format == "docker-archive" else "localhost"
                            )
                        )
                    except InvalidInput:
                        log.warning("ignoring invalid image name %r in the archive", n)
                names_per_image.append(names)
            progress("Getting image source signatures")
            for img, names in zip(archive.images, names_per_image, strict=True):
                for layer in img.layers:
                    progress(f"Copying blob {layer.digest}")
                    _stage_blob(store, layer.path, layer.digest, layer.size, move=archive.workdir is not None)
                    store.unpack_layer(store.blob_path(layer.digest), layer.media_type, layer.diff_id)
                progress(f"Copying config {img.config_digest}")
                store.put_blob_bytes(img.config)
                mdigest = store.put_blob_bytes(img.manifest)
                layers = [LayerRecord(x.digest, x.diff_id, x.media_type, x.size) for x in img.layers]
                records.append(
                    (
                        dict(
                            config_digest=img.config_digest,
                            manifest_digest=mdigest,
                            manifest_media_type=img.manifest_media_type,
                            layers=layers,
                            names=names,
                        ),
                        names,
                    )
                )
            progress("Writing manifest to image destination")
            progress("Storing signatures")
            for kwargs, names in records:
                rec = store.add_image(**kwargs)
                loaded.extend(names or [f"sha256:{rec.id}"])
        finally:
            archive.cleanup()
    return loaded


# ----------------------------------------------------------------------------------------- import


def _open_import_source(source: str, stdin: BinaryIO | None) -> tuple[BinaryIO, float | None]:
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", source):
        raise UsageError(
            f"importing from a URL ({source}) is not supported: download it first (curl -LO URL) and import the file"
        )
    if source == "-":
        if stdin is None:
            raise UsageError("no tarball on stdin")
        return stdin, None
    try:
        f = open(source, "rb")  # noqa: SIM115 - returned to the caller, which closes it
    except FileNotFoundError:
        raise UsageError(f"{source}: no such file or directory") from None
    except IsADirectoryError:
        raise UsageError(
            f"{source} is a directory: import needs a tarball (tar -C DIR -cf rootfs.tar .)"
        ) from None
    return f, os.fstat(f.fileno()).st_mtime


def _go_time(ts: float) -> str:
    d = _dt.datetime.fromtimestamp(ts, _dt.UTC)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond:06d}000Z"


def import_(
    paths: Paths,
    source: str,
    reference: str | None = None,
    changes: list[str] | None = None,
    message: str | None = None,
    stdin: BinaryIO | None = None,
    progress: Progress = _quiet,
) -> str:
    """Turn a rootfs tarball (plain, gzip, zstd, bzip2, xz) into a one-layer image; returns ``sha256:ID``."""
    from podpy.engine.transfer_changes import apply_changes
    from podpy.rootless.userns import ensure_userns
    from podpy.store.images import LayerRecord

    name = normalize_name(reference, "localhost") if reference else None
    cfg: dict[str, Any] = apply_changes({}, list(changes or []))
    src, mtime = _open_import_source(source, stdin)
    ensure_userns(paths)
    store = _open_store(paths)
    with store.session():
        tmp = store.new_temp()
        try:
            import io

            buf = src if hasattr(src, "peek") else io.BufferedReader(src)  # type: ignore[arg-type]
            head = buf.peek(8)[:8]  # type: ignore[attr-defined]
            if not head:
                raise InvalidInput(f"{source}: empty input, expected a tarball")
            reader = decompressing_reader(buf, sniff(head))
            with open(tmp, "wb") as out:
                counter = CountingWriter(out)
                try:
                    while chunk := reader.read(CHUNK):
                        counter.write(chunk)
                except PodpyError:
                    raise
                except Exception as e:
                    raise InvalidInput(f"{source}: corrupt compressed tarball: {e}") from e
            diff_id, size = counter.digest, counter.size
            store.commit_blob(tmp, diff_id, size, verify=False)
        finally:
            if src is not stdin:
                src.close()
            if tmp.exists():
                tmp.unlink()
        progress("Getting image source signatures")
        progress(f"Copying blob {diff_id}")
        store.unpack_layer(store.blob_path(diff_id), mt.OCI_LAYER, diff_id)
        created = _go_time(mtime if mtime is not None else _dt.datetime.now(_dt.UTC).timestamp())
        plat = host_platform()
        config: dict[str, Any] = {"created": created, "architecture": plat.architecture, "os": plat.os}
        if plat.variant:
            config["variant"] = plat.variant
        config["config"] = cfg
        config["rootfs"] = {"type": "layers", "diff_ids": [diff_id]}
        config["history"] = [
            {
                "created": created,
                "created_by": f"/bin/sh -c #(nop) ADD file:{diff_id.split(':')[1]} in /",
                "comment": message or "imported from tarball",
            }
        ]
        config_bytes = json.dumps(config, separators=(",", ":")).encode()
        config_digest = store.put_blob_bytes(config_bytes)
        progress(f"Copying config {config_digest}")
        manifest = {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "config": {"mediaType": mt.OCI_CONFIG, "digest": config_digest, "size": len(config_bytes)},
            "layers": [{"mediaType": mt.OCI_LAYER, "digest": diff_id, "size": size}],
        }
        mdigest = store.put_blob_bytes(json.dumps(manifest, separators=(",", ":")).encode())
        progress("Writing manifest to image destination")
        progress("Storing signatures")
        rec = store.add_image(
            config_digest=config_digest,
            manifest_digest=mdigest,
            manifest_media_type=mt.OCI_MANIFEST,
            layers=[LayerRecord(diff_id, diff_id, mt.OCI_LAYER, size)],
            names=[name] if name else [],
        )
    if name:
        record_event(paths, "tag", rec.id, name)  # podman 4.3 logs an import only as the tag it gets
    return f"sha256:{rec.id}"


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# ------------------------------------------------------------------------------------------- push

_LAYER_TYPES = {
    ("oci", "gzip"): mt.OCI_LAYER_GZIP,
    ("oci", "zstd"): mt.OCI_LAYER_ZSTD,
    ("oci", "none"): mt.OCI_LAYER,
    ("v2s2", "gzip"): mt.DOCKER_LAYER_GZIP,
}


def _recompress(store: Any, layer: Any, target: str) -> tuple[Path, str, int]:
    """Re-encode a stored layer blob with ``target`` compression into a store temp file."""
    from podpy.store.archive_io import compressing_writer

    src_comp = mt.LAYER_COMPRESSION.get(layer.media_type, "none")
    tmp = store.new_temp()
    with open(store.blob_path(layer.digest), "rb") as raw, open(tmp, "wb") as out:
        counter = CountingWriter(out)
        writer, finish = compressing_writer(counter, target)  # type: ignore[arg-type]
        reader = decompressing_reader(raw, src_comp)  # type: ignore[arg-type]
        while chunk := reader.read(CHUNK):
            writer.write(chunk)
        finish()
    return tmp, counter.digest, counter.size


# Blobs above this size go up in PATCH chunks of CHUNK_SIZE (the env vars let tests force either path).
MONOLITHIC_LIMIT_ENV = "PODPY_PUSH_MONOLITHIC_LIMIT"
CHUNK_SIZE_ENV = "PODPY_PUSH_CHUNK_SIZE"


def _push_dest(name: str) -> ImageReference:
    """``REGISTRY/REPO[:TAG]`` (``docker://`` allowed) normalised like podman; no digest, no localhost/."""
    from podpy.spec.reference import parse_reference, split_reference

    typed = split_reference(name)
    if typed.digest:
        raise UsageError(f"cannot push to {name}: a destination cannot carry a digest, give a tag")
    ref = parse_reference(name)
    if ref.registry == "localhost":
        raise UsageError(
            f"cannot push to {name}: localhost/ names are local-only; give a registry, "
            f"e.g. podpy push {name} 127.0.0.1:5000/{ref.repository}:{ref.tag}"
        )
    return ref


def _mount_source(rec: Any, dest: ImageReference) -> ImageReference | None:
    """A repository on the destination registry the image came from (for cross-repository mounts)."""
    from podpy.spec.reference import parse_reference

    for n in list(rec.repo_digests) + list(rec.names):
        try:
            ref = parse_reference(n)
        except PodpyError:
            continue
        if ref.registry == dest.registry and ref.repository != dest.repository:
            return ref
    return None


def _int_env(name: str) -> int | None:
    raw = os.environ.get(name)
    if not raw:
        return None
    if not raw.isdigit() or int(raw) <= 0:
        raise UsageError(f"{name}={raw!r}: expected a positive number of bytes")
    return int(raw)


def _push_client(tls_verify: bool | None, authfile: str | None, creds: str | None) -> RegistryClient:
    from podpy.registry.client import RegistryClient
    from podpy.registry.config import load_registries_conf

    client = RegistryClient(load_registries_conf(), authfile=authfile, creds=creds, tls_verify=tls_verify)
    limit, chunk = _int_env(MONOLITHIC_LIMIT_ENV), _int_env(CHUNK_SIZE_ENV)
    if limit is not None:
        client.monolithic_limit = limit
    if chunk is not None:
        client.chunk_size = chunk
    return client


def push(
    paths: Paths,
    source: str,
    destination: str | None = None,
    tls_verify: bool | None = None,
    authfile: str | None = None,
    creds: str | None = None,
    fmt: str | None = None,
    compression_format: str | None = None,
    digestfile: str | None = None,
    progress: Progress = _quiet,
) -> str:
    """Push a stored image to a registry (or an archive transport); returns the manifest digest."""
    from podpy.util.fsutil import atomic_write

    if fmt not in (None, "oci", "v2s2"):
        raise UsageError(f"unsupported manifest type {fmt!r}: use oci or v2s2")
    if compression_format not in (None, "gzip", "zstd"):
        raise UsageError(f"unsupported compression format {compression_format!r}: use gzip or zstd")
    if fmt == "v2s2" and compression_format == "zstd":
        raise UsageError(
            "--compression-format zstd needs an OCI manifest: use --format oci (v2s2 cannot describe zstd layers)"
        )
    store = _open_store(paths)
    rec = store.lookup_image(source)
    target_name = destination
    if target_name is None:
        chosen = _names_for(rec, source)
        if not chosen:
            raise UsageError(
                f"{source} is an image ID: give a DESTINATION, e.g. podpy push {source} REGISTRY/REPO:TAG"
            )
        target_name = chosen[0]
    for transport, archive_fmt in (
        ("docker-archive:", "docker-archive"),
        ("oci-archive:", "oci-archive"),
        ("oci:", "oci-dir"),
    ):
        if target_name.startswith(transport):
            path = target_name[len(transport) :].partition(":")[0]
            save(paths, [source], path, archive_fmt, progress=progress, log_event=False)
            record_event(paths, "push", rec.id, target_name)
            return str(rec.manifest_digest)
    if re.match(r"^[a-z-]+:(?!\d)", target_name) and not target_name.startswith("docker://"):
        raise UsageError(
            f"unsupported destination {target_name!r}: use REGISTRY/REPO[:TAG], docker://, docker-archive:, oci-archive: or oci:"
        )
    dest = _push_dest(target_name)
    stored_manifest = store.get_blob_bytes(rec.manifest_digest, mt.MAX_MANIFEST_SIZE)
    stored_type = rec.manifest_media_type
    stored_kind = "v2s2" if stored_type == mt.DOCKER_MANIFEST else "oci"
    kind = fmt or ("oci" if compression_format == "zstd" else stored_kind)
    if (
        kind == "v2s2"
        and any(mt.LAYER_COMPRESSION.get(x.media_type) == "zstd" for x in rec.layers)
        and not compression_format
    ):
        compression_format = "gzip"  # like podman: v2s2 cannot carry zstd, recompress
    mount_from = _mount_source(rec, dest)

    with _push_client(tls_verify, authfile, creds) as client, store.session():
        progress("Getting image source signatures")
        new_layers: list[dict[str, Any]] = []
        temps: list[Path] = []
        try:
            for layer in rec.layers:
                comp = mt.LAYER_COMPRESSION.get(layer.media_type, "none")
                want = compression_format or (comp if comp != "none" else "gzip")
                if kind == "v2s2" and want == "none":
                    want = "gzip"
                if want == comp:
                    path, digest, size = store.blob_path(layer.digest), layer.digest, layer.size
                else:
                    path, digest, size = _recompress(store, layer, want)
                    temps.append(path)
                new_layers.append({"mediaType": _LAYER_TYPES[(kind, want)], "size": size, "digest": digest})
                how = client.push_blob(dest, digest, size, path, mount_from=mount_from)
                progress(
                    f"Copying blob {digest} {'done' if how == 'uploaded' else 'skipped: already exists'}"
                )
            cfg_size = _blob_size(store, rec.config_digest)
            how = client.push_blob(
                dest, rec.config_digest, cfg_size, store.blob_path(rec.config_digest), mount_from=mount_from
            )
            progress(
                f"Copying config {rec.config_digest} {'done' if how == 'uploaded' else 'skipped: already exists'}"
            )
        finally:
            for t in temps:
                if t.exists():
                    t.unlink()
        unchanged = kind == stored_kind and [x["digest"] for x in new_layers] == [
            x.digest for x in rec.layers
        ]
        if unchanged:
            manifest, media_type = stored_manifest, stored_type
        else:
            media_type = mt.OCI_MANIFEST if kind == "oci" else mt.DOCKER_MANIFEST
            doc: dict[str, Any] = {
                "schemaVersion": 2,
                "mediaType": media_type,
                "config": {
                    "mediaType": mt.OCI_CONFIG if kind == "oci" else mt.DOCKER_CONFIG,
                    "size": cfg_size,
                    "digest": rec.config_digest,
                },
                "layers": new_layers,
            }
            manifest = json.dumps(doc, separators=(",", ":")).encode()
        progress("Writing manifest to image destination")
        digest = client.put_manifest(dest, manifest, media_type)
        progress("Storing signatures")
    if digestfile:
        atomic_write(digestfile, digest, fsync=False)
    record_event(paths, "push", rec.id, target_name)  # the destination as typed
    return digest


def _blob_size(store: Any, digest: str) -> int:
    return int(store.blob_path(digest).stat().st_size)
