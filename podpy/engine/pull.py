"""``pull``: registry -> store, with layers downloaded in parallel and unpacked as each arrives.

Flow: resolve the name (short names through registries.conf candidates, tried in order), join the
user namespace (before any thread starts: unpacked files must be owned by subordinate ids), resolve
manifest/platform/config, then for every layer the store lacks: download into a store temp file
(thread pool), commit it, and unpack it right away while the other downloads continue. The image
record is written last, so a pull killed at any instant leaves no visible partial image; what it
did download or unpack is reused by the next pull (or removed by gc).

``--retry N`` repeats the whole operation (as podman does) after a transient failure (the registry
unreachable, a 5xx, a dropped connection); blobs already downloaded stay and are not fetched again.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from podpy.spec.platform import Platform, host_platform
from podpy.util.errors import AuthError, InvalidInput, PodpyError, RegistryError, StoreError, UsageError
from podpy.util.paths import Paths

if TYPE_CHECKING:
    from podpy.registry.client import RegistryClient
    from podpy.registry.config import RegistriesConf
    from podpy.registry.resolve import ResolvedImage
    from podpy.spec.reference import ImageReference
    from podpy.store.store import Store

log = logging.getLogger(__name__)

MAX_PARALLEL_DOWNLOADS = 6
DEFAULT_RETRY = 3
MAX_RETRY_DELAY = 30.0


class PullProgress:
    """The events a pull reports; the default reports nothing (``-q``). The CLI passes its own."""

    def trying(self, ref: str) -> None: ...

    def start(self) -> None: ...

    def blob_start(self, digest: str, size: int, kind: str = "blob") -> None: ...

    def blob_progress(self, digest: str, nbytes: int) -> None: ...

    def blob_done(self, digest: str, skipped: bool = False) -> None: ...

    def writing_manifest(self) -> None: ...

    def close(self) -> None: ...


@dataclass
class _LayerJob:
    index: int
    digest: str
    size: int
    media_type: str
    diff_id: str
    descriptor: dict[str, Any]
    need_blob: bool
    need_unpack: bool


@dataclass
class _Retry:
    """Podman's ``--retry``/``--retry-delay``: attempts of the whole pull after a transient failure."""

    count: int = DEFAULT_RETRY
    delay: float | None = None  # None: 1s, 2s, 4s, ... (capped)

    def pause(self, attempt: int) -> float:
        if self.delay is not None:
            return self.delay
        return min(2.0**attempt, MAX_RETRY_DELAY)


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
    from podpy.engine.images import open_store, record_event
    from podpy.registry.client import RegistryClient
    from podpy.registry.config import load_registries_conf
    from podpy.rootless.userns import ensure_userns

    progress = progress or PullProgress()
    ensure_userns(paths)  # before any thread: setns needs a single-threaded process
    conf = load_registries_conf()
    # the client does not retry requests itself: the whole operation is retried here
    client = RegistryClient(conf, authfile=authfile, creds=creds, tls_verify=tls_verify, retry=0)
    policy = _Retry(DEFAULT_RETRY if retry is None else max(0, retry), retry_delay)
    want = platform or host_platform()
    store = open_store(paths)
    try:
        if all_tags:
            ids = _pull_all_tags(store, client, conf, name, want, progress, policy)
        else:
            ids = [_pull_name(store, client, conf, name, want, progress, policy)]
    finally:
        progress.close()
        client.close()
    record_event(paths, "pull", "", name)  # as podman 4.3: the reference as typed, no ID
    return ids


def _candidates(conf: RegistriesConf, name: str) -> list[ImageReference]:
    cands = conf.candidates(name)
    if not cands:
        raise UsageError(
            f"short-name {name!r} did not resolve: no unqualified-search registries are configured"
        )
    return list(cands)


def _pull_all_tags(
    store: Store,
    client: RegistryClient,
    conf: RegistriesConf,
    name: str,
    want: Platform,
    progress: PullProgress,
    policy: _Retry,
) -> list[str]:
    from podpy.spec.reference import split_reference

    typed = split_reference(name)
    if typed.tag or typed.digest:
        raise UsageError("tag can't be used with --all-tags/-a")
    ref = _candidates(conf, name)[0]
    tags = _with_retry(policy, progress, lambda: client.list_tags(ref))
    if not tags:
        raise RegistryError(f"{ref.name}: the repository has no tags")
    return [_pull_ref(store, client, ref.with_tag(t), want, progress, policy) for t in tags]


def _pull_name(
    store: Store,
    client: RegistryClient,
    conf: RegistriesConf,
    name: str,
    want: Platform,
    progress: PullProgress,
    policy: _Retry,
) -> str:
    cands = _candidates(conf, name)
    errors: list[tuple[str, PodpyError]] = []
    for ref in cands:
        try:
            return _pull_ref(store, client, ref, want, progress, policy)
        except (StoreError, UsageError):
            raise
        except PodpyError as e:
            log.debug("pulling %s failed: %s", ref, e)
            errors.append((str(ref), e))
    if len(errors) == 1:
        raise errors[0][1]
    # each message names its source ("initializing source docker://REF: ..."), as podman's list does
    detail = "; ".join(e.message if str(r) in e.message else f"{r}: {e.message}" for r, e in errors)
    err = RegistryError(f"{len(errors)} errors occurred while pulling {name}: {detail}")
    err.exit_code = errors[-1][1].exit_code
    raise err


def _transient(e: BaseException) -> bool:
    from podpy.registry.client import RegistryUnavailable

    return isinstance(e, RegistryUnavailable)


def _with_retry(policy: _Retry, progress: PullProgress, fn: Callable[[], Any]) -> Any:
    """``fn()``, repeated after transient failures as ``--retry``/``--retry-delay`` say."""
    for attempt in range(policy.count + 1):
        try:
            return fn()
        except PodpyError as e:
            if not _transient(e) or attempt >= policy.count:
                raise
            progress.close()  # a bar display restarts with the next attempt
            d = policy.pause(attempt)
            shown = f"{d:g}s" if d >= 1 else f"{d * 1000:g}ms"  # Go's duration format
            log.warning(
                "Failed, retrying in %s ... (%d/%d). Error: %s", shown, attempt + 1, policy.count, e.message
            )
            time.sleep(d)
    raise AssertionError("unreachable")


def _put_verified(store: Store, data: bytes, digest: str, what: str) -> None:
    if store.has_blob(digest):
        return
    got = store.put_blob_bytes(data)
    if got != digest:
        raise InvalidInput(f"{what} digest mismatch: expected {digest}, got {got}")


def _pull_ref(
    store: Store,
    client: RegistryClient,
    ref: ImageReference,
    want: Platform,
    progress: PullProgress,
    policy: _Retry,
) -> str:
    progress.trying(str(ref))
    try:
        return _with_retry(policy, progress, lambda: _pull_resolved(store, client, ref, want, progress))
    except BaseException:
        # nothing half-stored: drop what this pull added and no image references (skipped while
        # another writer is active, whose pull may still need those blobs; gc catches them later)
        try:
            store.gc(wait=1.0)
        except Exception as e:  # noqa: BLE001 - the pull's own error matters more
            log.debug("cleanup after a failed pull: %s", e)
        raise


def _resolve(client: RegistryClient, ref: ImageReference, want: Platform) -> ResolvedImage:
    """Manifest, platform and config; errors say which source failed, as podman's do."""
    from podpy.registry.client import RegistryUnavailable
    from podpy.registry.resolve import resolve_image

    try:
        return resolve_image(client, ref, want)
    except (RegistryError, InvalidInput) as e:
        if type(e) not in (RegistryUnavailable, AuthError, RegistryError, InvalidInput):
            raise  # a subclass with its own constructor: leave it as it is
        raise type(e)(f"initializing source docker://{ref}: {e.message}", e.exit_code) from e


def _pull_resolved(
    store: Store, client: RegistryClient, ref: ImageReference, want: Platform, progress: PullProgress
) -> str:
    from podpy.store.images import LayerRecord

    res = _resolve(client, ref, want)
    manifest = res.manifest
    cfg_digest = str(res.config_descriptor["digest"])
    try:
        cfg = json.loads(res.config)
        diff_ids = list((cfg.get("rootfs") or {}).get("diff_ids") or [])
    except (ValueError, AttributeError) as e:
        raise InvalidInput(f"image config {cfg_digest} is not valid JSON: {e}") from e
    if len(diff_ids) != len(res.layers):
        raise InvalidInput(
            f"image config {cfg_digest} lists {len(diff_ids)} diff IDs for {len(res.layers)} layers in the manifest"
        )

    progress.start()
    with store.session():
        _put_verified(store, res.config, cfg_digest, "config")
        _put_verified(store, manifest.data, manifest.digest, "manifest")
        stored_index = None
        if res.index_digest and res.index_data is not None:
            _put_verified(store, res.index_data, res.index_digest, "index")
            stored_index = res.index_digest

        jobs: list[_LayerJob] = []
        for i, (desc, diff_id) in enumerate(zip(res.layers, diff_ids, strict=True)):
            digest = str(desc["digest"])
            have_blob = store.has_blob(digest)
            have_layer = store.has_layer(diff_id)
            jobs.append(
                _LayerJob(
                    i,
                    digest,
                    int(desc.get("size") or 0),
                    str(desc.get("mediaType")),
                    diff_id,
                    desc,
                    not have_blob,
                    not have_layer,
                )
            )
        infos = _fetch_and_unpack(store, client, res.ref, jobs, progress)

        progress.blob_start(cfg_digest, len(res.config), kind="config")
        progress.blob_done(cfg_digest)
        progress.writing_manifest()
        repo = res.ref.name
        names: list[str] = []
        if ref.digest:
            names.append(f"{repo}@{ref.digest}")
        elif res.ref.tag or ref.tag:
            names.append(f"{repo}:{res.ref.tag or ref.tag}")
        rds = [f"{repo}@{manifest.digest}"]
        if res.index_digest:
            rds.append(f"{repo}@{res.index_digest}")
        rec = store.add_image(
            config_digest=cfg_digest,
            manifest_digest=manifest.digest,
            manifest_media_type=manifest.media_type,
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
    store: Store, client: RegistryClient, ref: ImageReference, jobs: list[_LayerJob], progress: PullProgress
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
                store.commit_blob(tmp, j.digest, j.size or None, verify=False)  # fetch_blob verified it
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
