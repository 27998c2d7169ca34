"""``pull``: registry -> store, with layers downloaded in parallel and unpacked as each arrives.

Flow: resolve the name (short names through registries.conf candidates, tried in order), join the
user namespace (before any thread starts: unpacked files must be owned by subordinate ids), resolve
manifest/platform/config, then for every layer the store lacks: download into a store temp file
(thread pool), commit it, and unpack it right away while the other downloads continue. The image
record is written last, so a pull killed at any instant leaves no visible partial image; what it
did download or unpack is reused by the next pull (or removed by gc).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from podpy.spec.platform import Platform, host_platform
from podpy.util.errors import InvalidInput, PodpyError, RegistryError, StoreError, UsageError
from podpy.util.paths import Paths

if TYPE_CHECKING:
    from podpy.store.store import Store

log = logging.getLogger(__name__)

MAX_PARALLEL_DOWNLOADS = 6


class PullProgress:
    """The events a pull reports; the default reports nothing (``-q``). The CLI passes its own."""

    def trying(self, ref: str) -> None: ...

    def start(self) -> None: ...

    def blob_start(self, digest: str, size: int, kind: str = "blob") -> None: ...

    def blob_progress(self, digest: str, nbytes: int) -> None: ...

    def blob_done(self, digest: str, skipped: bool = False) -> None: ...

    def writing_manifest(self) -> None: ...

    def close(self) -> None: ...


def _get(obj: Any, *names: str, default: Any = None) -> Any:
    """Read a field from a dataclass-like object or a dict (descriptors come in both shapes)."""
    for n in names:
        if isinstance(obj, dict):
            if n in obj:
                return obj[n]
        elif hasattr(obj, n):
            return getattr(obj, n)
    return default


def _ref_str(ref: Any) -> str:
    return str(ref)


def _ref_repo(ref: Any) -> str:
    """``registry/path`` of a reference (no tag, no digest)."""
    for attr in ("repository", "repo", "name"):
        v = _get(ref, attr)
        first = v.split("/")[0] if isinstance(v, str) else ""
        if isinstance(v, str) and "/" in v and ("." in first or ":" in first or first == "localhost"):
            return v
    domain = _get(ref, "domain", "registry", default="")
    path = _get(ref, "path", default="")
    if domain and path:
        return f"{domain}/{path}"
    s = str(ref).split("@", 1)[0]
    last = s.rsplit("/", 1)
    if len(last) == 2 and ":" in last[1]:
        s = s[: s.rfind(":")]
    return s


def _ref_tag(ref: Any) -> str:
    return _get(ref, "tag", default="") or ""


def _ref_digest(ref: Any) -> str:
    d = _get(ref, "digest", default="") or ""
    return str(d) if d else ""


@dataclass
class _RegistryAPI:
    """H2's registry package, or this engine's stdlib shim until it exists."""

    load_conf: Callable[[], Any]
    Client: Callable[..., Any]  # noqa: N815 - a class
    resolve_image: Callable[[Any, Any, Platform], Any]
    parse_reference: Callable[[str], Any]
    shim: bool


def _registry_api() -> _RegistryAPI:
    if not os.environ.get("PODPY_PULL_SHIM"):
        try:
            from podpy.registry.client import RegistryClient
            from podpy.registry.config import load_registries_conf
            from podpy.registry.resolve import resolve_image
            from podpy.spec.reference import parse_reference

            return _RegistryAPI(load_registries_conf, RegistryClient, resolve_image, parse_reference, False)
        except ImportError as e:
            log.debug("podpy.registry not usable (%s); pulling with the engine's stdlib shim", e)
    from podpy.engine import pull_registry as shim

    return _RegistryAPI(
        shim.load_conf, shim.ShimClient, shim.resolve_image, lambda s: shim.parse_ref(s)[0], True
    )


@dataclass
class _LayerJob:
    index: int
    digest: str
    size: int
    media_type: str
    diff_id: str
    descriptor: Any
    need_blob: bool
    need_unpack: bool


def pull(
    paths: Paths,
    name: str,
    *,
    platform: Platform | None = None,
    tls_verify: bool | None = None,
    authfile: str | None = None,
    creds: str | None = None,
    retry: int | None = None,
    retry_delay: float | None = None,
    all_tags: bool = False,
    progress: PullProgress | None = None,
) -> list[str]:
    """Pull ``name`` (or all its tags) and return the image IDs, in pull order."""
    from podpy.rootless.userns import ensure_userns

    progress = progress or PullProgress()
    ensure_userns(paths)  # before any thread: setns needs a single-threaded process
    registry = _registry_api()
    conf = registry.load_conf()
    kwargs: dict[str, Any] = {"authfile": authfile, "creds": creds, "tls_verify": tls_verify}
    if retry is not None:
        kwargs["retry"] = retry
    if retry_delay is not None:
        kwargs["retry_delay"] = retry_delay
    if "retry" not in kwargs and registry.shim:
        kwargs["retry"] = 3
    client = registry.Client(conf, **kwargs)
    want = platform or host_platform()
    from podpy.engine.images import open_store

    store = open_store(paths)
    try:
        if all_tags:
            return _pull_all_tags(registry, store, client, conf, name, want, progress)
        return [_pull_name(registry, store, client, conf, name, want, progress)]
    finally:
        progress.close()
        close = getattr(client, "close", None)
        if callable(close):
            close()


def _candidates(conf: Any, name: str) -> list[Any]:
    cands = conf.candidates(name)
    if not cands:
        raise UsageError(
            f"short-name {name!r} did not resolve: no unqualified-search registries are configured"
        )
    return list(cands)


def _pull_all_tags(
    registry: _RegistryAPI,
    store: Store,
    client: Any,
    conf: Any,
    name: str,
    want: Platform,
    progress: PullProgress,
) -> list[str]:
    cands = _candidates(conf, name)
    ref = cands[0]
    if _ref_tag(ref) and (":" in name.rsplit("/", 1)[-1]) or _ref_digest(ref):
        raise UsageError("tag can't be used with --all-tags/-a")
    repo = _ref_repo(ref)
    tags = client.list_tags(ref)
    if not tags:
        raise RegistryError(f"{repo}: the repository has no tags")
    ids = []
    for t in tags:
        r = registry.parse_reference(f"{repo}:{t}")
        ids.append(_pull_ref(registry, store, client, r, want, progress))
    return ids


def _pull_name(
    registry: _RegistryAPI,
    store: Store,
    client: Any,
    conf: Any,
    name: str,
    want: Platform,
    progress: PullProgress,
) -> str:
    cands = _candidates(conf, name)
    errors: list[tuple[str, PodpyError]] = []
    for ref in cands:
        try:
            return _pull_ref(registry, store, client, ref, want, progress)
        except (RegistryError, InvalidInput, PodpyError) as e:
            if isinstance(e, StoreError | UsageError) or getattr(e, "fatal", False):
                raise
            log.debug("pulling %s failed: %s", ref, e)
            errors.append((_ref_str(ref), e))
    if len(errors) == 1:
        raise errors[0][1]
    detail = "; ".join(f"{r}: {e.message}" for r, e in errors)
    err = RegistryError(f"{len(errors)} errors occurred while pulling {name}: {detail}")
    err.exit_code = errors[-1][1].exit_code
    raise err


def _put_verified(store: Store, data: bytes, digest: str, what: str) -> None:
    if store.has_blob(digest):
        return
    got = store.put_blob_bytes(data)
    if got != digest:
        raise InvalidInput(f"{what} digest mismatch: expected {digest}, got {got}")


def _pull_ref(
    registry: _RegistryAPI, store: Store, client: Any, ref: Any, want: Platform, progress: PullProgress
) -> str:

    progress.trying(_ref_str(ref))
    try:
        return _pull_resolved(registry, store, client, ref, want, progress)
    except BaseException:
        # nothing half-stored: drop what this pull added and no image references (skipped while
        # another writer is active, whose pull may still need those blobs; gc catches them later)
        try:
            store.gc(wait=1.0)
        except Exception as e:  # noqa: BLE001 - the pull's own error matters more
            log.debug("cleanup after a failed pull: %s", e)
        raise


def _pull_resolved(
    registry: _RegistryAPI, store: Store, client: Any, ref: Any, want: Platform, progress: PullProgress
) -> str:
    from podpy.store.images import LayerRecord

    res = registry.resolve_image(client, ref, want)
    manifest = _get(res, "manifest")
    m_data: bytes = _get(manifest, "data", "raw", "bytes")
    m_type: str = _get(manifest, "media_type", "mediaType")
    m_digest = str(_get(manifest, "digest"))
    cfg_bytes: bytes = _get(res, "config", "config_bytes")
    cfg_desc = _get(res, "config_descriptor")
    cfg_digest = str(_get(cfg_desc, "digest"))
    layers = list(_get(res, "layers") or [])
    index_digest = _get(res, "index_digest")
    index_digest = str(index_digest) if index_digest else None
    rref = _get(res, "ref") or ref

    try:
        cfg = json.loads(cfg_bytes)
        diff_ids = list((cfg.get("rootfs") or {}).get("diff_ids") or [])
    except (ValueError, AttributeError) as e:
        raise InvalidInput(f"image config {cfg_digest} is not valid JSON: {e}") from e
    if len(diff_ids) != len(layers):
        raise InvalidInput(
            f"image config {cfg_digest} lists {len(diff_ids)} diff IDs for {len(layers)} layers in the manifest"
        )

    progress.start()
    with store.session():
        _put_verified(store, cfg_bytes, cfg_digest, "config")
        _put_verified(store, m_data, m_digest, "manifest")
        index_bytes = _get(res, "index_data", "index_bytes")
        if index_digest and isinstance(index_bytes, bytes | bytearray):
            _put_verified(store, bytes(index_bytes), index_digest, "index")
            stored_index = index_digest
        else:
            stored_index = None

        jobs: list[_LayerJob] = []
        for i, (desc, diff_id) in enumerate(zip(layers, diff_ids, strict=True)):
            digest = str(_get(desc, "digest"))
            size = int(_get(desc, "size", default=0) or 0)
            mt = str(_get(desc, "media_type", "mediaType"))
            have_blob = store.has_blob(digest)
            have_layer = store.has_layer(diff_id)
            jobs.append(_LayerJob(i, digest, size, mt, diff_id, desc, not have_blob, not have_layer))
        # the shim verifies digest and size while streaming; re-hash what another client wrote
        infos = _fetch_and_unpack(store, client, rref, jobs, progress, verify=not registry.shim)

        progress.blob_start(cfg_digest, len(cfg_bytes), kind="config")
        progress.blob_done(cfg_digest)
        progress.writing_manifest()
        repo = _ref_repo(rref)
        names: list[str] = []
        if _ref_digest(ref):
            names.append(f"{repo}@{_ref_digest(ref)}")
        elif _ref_tag(rref) or _ref_tag(ref):
            names.append(f"{repo}:{_ref_tag(rref) or _ref_tag(ref)}")
        rds = [f"{repo}@{m_digest}"]
        if index_digest:
            rds.append(f"{repo}@{index_digest}")
        rec = store.add_image(
            config_digest=cfg_digest,
            manifest_digest=m_digest,
            manifest_media_type=m_type,
            layers=[
                LayerRecord(j.digest, j.diff_id, j.media_type, j.size, infos.get(j.diff_id, 0)) for j in jobs
            ],
            names=names,
            repo_digests=rds,
            index_digest=stored_index,
        )
    return rec.id


class _ProgressAdapter:
    """Turns the client's progress calls (``cb(delta)`` or ``cb(done, total)``) into byte deltas."""

    def __init__(self, progress: PullProgress, digest: str) -> None:
        self.progress = progress
        self.digest = digest
        self.last = 0

    def __call__(self, *args: Any) -> None:
        if len(args) >= 2:
            delta, self.last = int(args[0]) - self.last, int(args[0])
        else:
            delta = int(args[0]) if args else 0
        if delta > 0:
            self.progress.blob_progress(self.digest, delta)


def _fetch_and_unpack(
    store: Store, client: Any, ref: Any, jobs: list[_LayerJob], progress: PullProgress, verify: bool = True
) -> dict[str, int]:
    """Download missing blobs in parallel; unpack each as soon as it is complete. Returns diff_id -> size."""
    sizes: dict[str, int] = {}
    lock = threading.Lock()
    for j in jobs:
        progress.blob_start(j.digest, j.size)
        if not j.need_blob and not j.need_unpack:
            progress.blob_done(j.digest, skipped=True)
    downloads = [j for j in jobs if j.need_blob]
    unpack_only = [j for j in jobs if not j.need_blob and j.need_unpack]
    if not downloads and not unpack_only:
        return sizes
    unpacker = _Unpacker(store)
    dl_pool = ThreadPoolExecutor(
        max_workers=max(1, min(MAX_PARALLEL_DOWNLOADS, len(downloads))), thread_name_prefix="pull-dl"
    )
    futures: list[Future[Any]] = []

    def _done(j: _LayerJob) -> Callable[[int], None]:
        def cb(size: int) -> None:
            with lock:
                sizes[j.diff_id] = size
            progress.blob_done(j.digest)

        return cb

    try:
        for j in unpack_only:
            futures.append(unpacker.submit(j, _done(j)))

        def download(j: _LayerJob) -> None:
            tmp = store.new_temp()
            try:
                client.fetch_blob(ref, j.descriptor, tmp, _ProgressAdapter(progress, j.digest))
                store.commit_blob(tmp, j.digest, j.size or None, verify=verify)
            finally:
                try:
                    os.unlink(tmp)
                except FileNotFoundError:
                    pass
            if j.need_unpack:
                futures.append(unpacker.submit(j, _done(j)))
            else:
                progress.blob_done(j.digest)

        dl_futures = [dl_pool.submit(download, j) for j in downloads]
        done, _ = wait(dl_futures, return_when=FIRST_EXCEPTION)
        for f in dl_futures:
            if f.done() and f.exception() is not None:
                for g in dl_futures:
                    g.cancel()
                raise f.exception()  # type: ignore[misc]
        wait(dl_futures)
        for f in dl_futures:
            f.result()
        for f in list(futures):
            f.result()
    finally:
        dl_pool.shutdown(wait=True, cancel_futures=True)
        unpacker.shutdown()
    return sizes


class _Unpacker:
    """Unpacks layers on worker threads (the tar/zlib work releases the GIL often enough)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.pool = ThreadPoolExecutor(
            max_workers=max(2, (os.cpu_count() or 2)), thread_name_prefix="pull-unpack"
        )

    def submit(self, j: _LayerJob, done: Callable[[int], None]) -> Future[Any]:
        def run() -> None:
            info = self.store.unpack_layer(self.store.blob_path(j.digest), j.media_type, j.diff_id)
            done(int(getattr(info, "size", 0) or 0))

        return self.pool.submit(run)

    def shutdown(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
