"""Image operations on the local store: list, inspect, history, tag, untag, remove, prune, exists.

Everything here returns plain data shaped like Podman's (``ImageSummary``, the ``image inspect``
document, history rows) so that the CLI only formats. ``pull`` lives in ``engine.pull`` and is
re-exported here, as are ``engine.imagestore``'s functions.
"""

from __future__ import annotations

import datetime as _dt
import fnmatch
import re
from collections.abc import Callable, Sequence

from podpy.engine.imagestore import open_reader, open_store, record_event
from podpy.util.errors import ConflictError, ImageNotKnown, NotFoundError, PodpyError, UsageError
from podpy.util.paths import Paths

TYPE_CHECKING = False  # not ``typing.TYPE_CHECKING``: ``podpy images`` starts without typing
if TYPE_CHECKING:
    from typing import Any

    from podpy.store.images import ImageReader, ImageRecord
    from podpy.store.store import Store


def _debug(msg: str, *args: object) -> None:
    import logging  # not at import time: ``podpy images`` starts without logging

    logging.getLogger(__name__).debug(msg, *args)


EXIT_NO_SUCH_IMAGE = 1  # podman rmi / image exists: the image does not exist
EXIT_IMAGE_IN_USE = 2  # podman rmi: the image is used by a container

# A hook the container engine sets later: image ID -> container IDs using it (rmi needs -f then).
image_users_hook: Callable[[Paths, str], list[str]] | None = None


def pull(paths: Paths, name: str, **kwargs: Any) -> list[str]:
    """Pull ``name`` into the store; see :func:`podpy.engine.pull.pull`."""
    from podpy.engine.pull import pull as _pull

    return _pull(paths, name, **kwargs)


# ---------------------------------------------------------------------------------------------
# names


def _split(name: str) -> tuple[str, str, str, str]:
    from podpy.store.names import split_name

    p = split_name(name)
    return p.domain, p.path, p.tag, p.digest


def normalize_local_name(name: str) -> str:
    """A name given to ``tag``/``untag``: ``foo`` -> ``localhost/foo:latest`` as Podman does."""
    name = name.strip()
    if not name or name != name.strip() or " " in name:
        raise UsageError(f"invalid image name {name!r}")
    domain, path, tag, digest = _split(name)
    path_re = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    if not re.fullmatch(path_re, path):
        why = (
            "repository name must be lowercase"
            if re.fullmatch(path_re, path.lower())
            else "invalid reference format"
        )
        raise UsageError(f'normalizing name "{name}": normalizing name "{name}": {why}')  # podman's text
    if tag and not re.fullmatch(r"[\w][\w.-]{0,127}", tag):
        raise UsageError(f'normalizing name "{name}": normalizing name "{name}": invalid reference format')
    if not domain:
        domain = "localhost"
    if domain == "docker.io" and "/" not in path:
        path = "library/" + path
    out = f"{domain}/{path}"
    if digest:
        return f"{out}@{digest}"
    return f"{out}:{tag or 'latest'}"


def repo_of(name: str) -> str:
    """``registry/repo`` of a stored name (without tag or digest)."""
    domain, path, _, _ = _split(name)
    return f"{domain}/{path}" if domain else path


def repo_tag(name: str) -> tuple[str, str]:
    """(Repository, Tag) columns for a stored name; digested names have tag ``<none>``."""
    domain, path, tag, _ = _split(name)
    return (f"{domain}/{path}" if domain else path), (tag or "<none>")


def search_registries() -> list[str]:
    """Registries for short-name lookups of local images (registries.conf), docker.io if none."""
    try:
        from podpy.engine.pull import _registry_api

        conf = _registry_api().load_conf()
        regs = list(getattr(conf, "unqualified_search_registries", None) or [])
    except Exception as e:  # noqa: BLE001 - a broken registries.conf must not break local lookups
        _debug("registries.conf not usable for local lookup: %s", e)
        regs = []
    return regs or ["docker.io"]


def lookup(store: ImageReader, name: str) -> ImageRecord:
    """The image a user means by ``name`` (ID, prefix, full or short name); ImageNotKnown otherwise."""
    return store.lookup_image(name, search_registries())


# ---------------------------------------------------------------------------------------------
# sizes, configs


def _config(store: ImageReader, rec: ImageRecord) -> dict:
    try:
        cfg = store.image_config(rec)
    except PodpyError:
        return {}
    return cfg if isinstance(cfg, dict) else {}


def _blob_size(store: ImageReader, digest: str) -> int:
    try:
        return store.blob_path(digest).stat().st_size
    except OSError:
        return 0


def image_size(store: ImageReader, rec: ImageRecord) -> int:
    """Podman's image Size: unpacked layers plus its stored "big data" items: the current manifest
    (``manifest``), one ``manifest-<digest>`` per manifest or index it was pulled through (a v2s2
    and an OCI manifest of the same config count both), and the config."""
    digests = {rec.manifest_digest, *([rec.index_digest] if rec.index_digest else [])}
    digests.update(rd.rpartition("@")[2] for rd in rec.repo_digests)
    size = rec.size + _blob_size(store, rec.manifest_digest) + _blob_size(store, rec.config_digest)
    return size + sum(_blob_size(store, d) for d in sorted(digests))


def parse_time(value: str | None) -> _dt.datetime | None:
    """RFC 3339 with up to nanoseconds to an aware datetime; None when absent/unparsable."""
    if not value:
        return None
    v = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    if "." in v:
        head, rest = v.split(".", 1)
        m = re.match(r"(\d*)(.*)", rest)
        assert m
        v = f"{head}.{m.group(1)[:6].ljust(6, '0')}{m.group(2)}"
    try:
        t = _dt.datetime.fromisoformat(v)
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=_dt.UTC)


def rfc3339(t: _dt.datetime | None, nano: bool = True) -> str:
    if t is None:
        t = _dt.datetime.fromtimestamp(0, _dt.UTC)
    t = t.astimezone(_dt.UTC)
    s = t.strftime("%Y-%m-%dT%H:%M:%S")
    if nano and t.microsecond:
        s += ("." + f"{t.microsecond:06d}").rstrip("0")
    return s + "Z"


def _created_time(rec: ImageRecord, cfg: dict | None = None) -> _dt.datetime:
    t = parse_time(rec.created) or (parse_time(cfg.get("created")) if cfg else None)
    return t or _dt.datetime.fromtimestamp(0, _dt.UTC)


def image_digest(rec: ImageRecord) -> str:
    """Podman's ``Digest``: the digest the image was first pulled by (the index's, when pulled through
    one); later pulls of the same image through another manifest do not change it."""
    return rec.extra.get("digest") or rec.index_digest or rec.manifest_digest


def names_history(rec: ImageRecord) -> list[str]:
    """Podman's NamesHistory: every name the image had, newest first (kept after untag)."""
    return list(rec.extra.get("names_history") or reversed(rec.names))


def repo_digests(rec: ImageRecord) -> list[str]:
    """``repo@digest`` for each repository of the image's names and each manifest digest it was pulled
    by, sorted (libimage's RepoDigests: an image without names has none)."""
    digests = {rec.manifest_digest, *(rd.rpartition("@")[2] for rd in rec.repo_digests)}
    return sorted({f"{repo_of(n)}@{d}" for n in rec.names for d in digests})


# ---------------------------------------------------------------------------------------------
# list


class ImageSummary:
    """One image as ``podman images`` sees it (entities.ImageSummary).

    Plain classes here, not dataclasses: importing ``dataclasses`` costs ``podpy images`` milliseconds.
    """

    def __init__(
        self,
        *,
        id: str,  # noqa: A002 - podman's field name
        names: list[str],
        repo_digests: list[str],
        digest: str,
        created: _dt.datetime,
        size: int,
        labels: dict[str, str] | None,
        containers: int | Callable[[], int],
        history: list[str],
        arch: str = "",
        os: str = "",
        dangling: bool = False,
        read_only: bool = False,
        config: dict | None = None,
    ) -> None:
        self.id = id
        self.names = names
        self.repo_digests = repo_digests
        self.digest = digest
        self.created = created
        self.size = size
        self.labels = labels
        self._containers = containers
        self.history = history
        self.arch = arch
        self.os = os
        self.dangling = dangling
        self.read_only = read_only
        self.config = config if config is not None else {}

    @property
    def containers(self) -> int:
        """Containers using the image (counted on first use: the default listing never needs it)."""
        if callable(self._containers):
            self._containers = self._containers()
        return self._containers

    def __repr__(self) -> str:
        return f"ImageSummary(id={self.id!r}, names={self.names!r}, size={self.size!r})"

    def to_json(self) -> dict:
        """``podman images --format json`` element (RepoTags null, Created unix, CreatedAt; ``Dangling``
        and ``Names`` only when set, Go's omitempty)."""
        doc = {
            "Id": self.id,
            "ParentId": "",
            "RepoTags": None,
            "RepoDigests": self.repo_digests,
            "Size": self.size,
            "SharedSize": 0,
            "VirtualSize": self.size,
            "Labels": self.labels,
            "Containers": self.containers,
            "Dangling": self.dangling,
            "Names": self.names,
            "Digest": self.digest,
            "History": self.history or None,
            "Created": int(self.created.timestamp()),
            "CreatedAt": rfc3339(self.created, nano=True),
        }
        for key in ("Dangling", "Names"):
            if not doc[key]:
                del doc[key]
        return doc


_FILTERS = (
    "reference",
    "dangling",
    "label",
    "before",
    "since",
    "id",
    "digest",
    "intermediate",
    "readonly",
    "until",
    "containers",
)


class _ImageUsers:
    """Which containers use which image: ``state.db`` (read once, and only when asked: plain
    ``podpy images`` never opens it), records' own users and ``image_users_hook``."""

    def __init__(self, paths: Paths) -> None:
        self.paths = paths
        self._by_image: dict[str, list[str]] | None = None

    def _load(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        if not (self.paths.root / "state.db").exists():
            return out
        from podpy.engine.state import State

        st = State(self.paths)
        try:
            for c in st.list():
                if c.image_id:
                    out.setdefault(c.image_id.removeprefix("sha256:"), []).append(c.id)
        finally:
            st.close()
        return out

    def of(self, rec: ImageRecord) -> list[str]:
        if self._by_image is None:
            self._by_image = self._load()
        users = set(rec.users) | set(self._by_image.get(rec.id, ()))
        if image_users_hook is not None:
            try:
                users |= set(image_users_hook(self.paths, rec.id))
            except Exception as e:  # noqa: BLE001 - the hook is best effort for listing
                _debug("image users hook failed: %s", e)
        return sorted(users)


def _reference_candidates(name: str) -> list[str]:
    """The strings a ``reference=`` pattern is matched against (libimage filterReferences)."""
    domain, path, tag, digest = _split(name)
    full = name
    trimmed = f"{domain}/{path}" if domain else path
    suffix = full[len(trimmed) :]
    cands = [full, path, full[full.rfind("/") + 1 :]]
    if suffix:
        cands += [trimmed, path + suffix, trimmed[trimmed.rfind("/") + 1 :]]
    return cands


def _path_match(pattern: str, s: str) -> bool:
    """Go's path.Match: ``*`` does not cross ``/``."""
    rx = fnmatch.translate(pattern).replace(".*", "[^/]*")
    return re.match(rx, s) is not None


def parse_filters(filters: Sequence[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for f in filters:
        key, sep, value = f.partition("=")
        if not sep:
            raise UsageError(f"invalid image filter {f!r}: expected KEY=VALUE")
        if key not in _FILTERS:
            raise UsageError(f'unsupported image filter "{key}"')
        out.setdefault(key, []).append(value)
    return out


def _bool_filter(key: str, value: str) -> bool:
    v = value.lower()
    if v in ("true", "1"):
        return True
    if v in ("false", "0"):
        return False
    raise UsageError(f"invalid {key} filter value {value!r}: use true or false")


def _without_intermediates(paths: Paths, summaries: list[ImageSummary]) -> list[ImageSummary]:
    """Podman's ``images`` without ``-a``: an untagged image a build made on the way to another
    (that image's history and layers continue this one's) is an intermediate, not listed."""
    from podpy.engine.build_step import intermediate_ids

    cached = intermediate_ids(paths)

    def chain(x: ImageSummary) -> tuple[list[Any], list[Any]]:
        cfg = x.config or {}
        return list(cfg.get("history") or []), list((cfg.get("rootfs") or {}).get("diff_ids") or [])

    chains = {x.id: chain(x) for x in summaries}

    def has_child(x: ImageSummary) -> bool:
        hist, layers = chains[x.id]
        return any(len(h) > len(hist) and h[: len(hist)] == hist and d[: len(layers)] == layers
                   for i, (h, d) in chains.items() if i != x.id)  # fmt: skip

    return [x for x in summaries if not (x.dangling and x.id in cached and has_child(x))]


def list_images(paths: Paths, filters: Sequence[str] = (), all_: bool = False) -> list[ImageSummary]:
    """All images in store order (oldest first, names newest first), filtered like ``podman images --filter``."""
    store = open_reader(paths)
    users = _ImageUsers(paths)
    # podman lists in store order (oldest image first; the CLI's sort is stable)
    recs = sorted(store.list_images(), key=lambda r: r.pulled_at)
    flt = parse_filters(filters)
    summaries: list[ImageSummary] = []
    cfgs: dict[str, dict] = {}
    for rec in recs:
        cfg = _config(store, rec)
        cfgs[rec.id] = cfg
        summaries.append(
            ImageSummary(
                id=rec.id,
                names=list(rec.names),
                repo_digests=repo_digests(rec),
                digest=image_digest(rec),
                created=_created_time(rec, cfg),
                size=image_size(store, rec),
                labels=_sorted_map((cfg.get("config") or {}).get("Labels")) or None,
                containers=lambda rec=rec: len(users.of(rec)),
                history=names_history(rec),
                arch=cfg.get("architecture", ""),
                os=cfg.get("os", ""),
                dangling=not rec.names,
                config=cfg,
            )
        )
    if not all_ and any(x.dangling for x in summaries) and (paths.root / "build-cache").is_dir():
        summaries = _without_intermediates(paths, summaries)
    if not flt:
        return summaries
    lookup_cache: dict[str, str | None] = {}

    def resolved(value: str) -> str | None:
        if value not in lookup_cache:
            try:
                lookup_cache[value] = lookup(store, value).id
            except PodpyError:
                lookup_cache[value] = None
        return lookup_cache[value]

    def ref_time(value: str) -> _dt.datetime:
        iid = resolved(value)
        if iid is None:
            raise ImageNotKnown(value)
        return next(s.created for s in summaries if s.id == iid)

    def keep(s: ImageSummary) -> bool:
        for key, values in flt.items():
            if key == "reference":
                ok = False
                for v in values:
                    if resolved(v) == s.id or any(
                        _path_match(v, c) for n in s.names for c in _reference_candidates(n)
                    ):
                        ok = True
                if not ok:
                    return False
            elif key == "dangling":
                if any(_bool_filter(key, v) != s.dangling for v in values):
                    return False
            elif key == "label":
                labels = s.labels or {}
                for v in values:
                    k, sep, want = v.partition("=")
                    if k not in labels or (sep and labels[k] != want):
                        return False
            elif key == "before":
                if any(not s.created < ref_time(v) for v in values):
                    return False
            elif key == "since":
                if any(not s.created > ref_time(v) for v in values):
                    return False
            elif key == "until":
                for v in values:
                    t = parse_time(v)
                    if t is None:
                        try:
                            t = _dt.datetime.fromtimestamp(float(v), _dt.UTC)
                        except ValueError:
                            raise UsageError(f"invalid until filter value {v!r}") from None
                    if not s.created < t:
                        return False
            elif key == "id":
                if not any(s.id.startswith(v.removeprefix("sha256:")) for v in values):
                    return False
            elif key == "digest":
                if not any(
                    v == s.digest or any(rd.endswith("@" + v) for rd in s.repo_digests) for v in values
                ):
                    return False
            elif key == "readonly":
                if any(_bool_filter(key, v) != s.read_only for v in values):
                    return False
            elif key == "containers":
                if any(_bool_filter(key, v) != (s.containers > 0) for v in values):
                    return False
            elif key == "intermediate" and any(_bool_filter(key, v) for v in values):
                return False
        return True

    return [s for s in summaries if keep(s)]


# ---------------------------------------------------------------------------------------------
# inspect


_CONFIG_KEYS = (
    "User",
    "ExposedPorts",
    "Env",
    "Entrypoint",
    "Cmd",
    "Volumes",
    "WorkingDir",
    "Labels",
    "StopSignal",
    "ArgsEscaped",
)


def inspect_image(paths: Paths, name: str, size: bool = False, store: Store | None = None) -> dict[str, Any]:
    """The ``podman image inspect`` document for one image (key order as Podman prints it)."""
    store = store or open_store(paths)
    rec = lookup(store, name)
    return inspect_record(store, rec)


def inspect_record(store: Store, rec: ImageRecord) -> dict[str, Any]:
    cfg = _config(store, rec)
    c = cfg.get("config") or {}
    try:
        manifest = store.image_manifest(rec)
    except PodpyError:
        manifest = {}
    config_out = {k: _sorted_map(c[k]) for k in _CONFIG_KEYS if c.get(k) not in (None, "", [], {}, False)}
    size = image_size(store, rec)
    dirs = [str(p) for p in store.layer_dirs(rec)]
    gd: dict[str, Any] = {}
    if dirs:
        top = dirs[-1]
        if len(dirs) > 1:
            gd["LowerDir"] = ":".join(reversed(dirs[:-1]))
        gd["UpperDir"] = top
        gd["WorkDir"] = top[: -len("/diff")] + "/work" if top.endswith("/diff") else top + "-work"
    doc: dict[str, Any] = {
        "Id": rec.id,
        "Digest": image_digest(rec),
        "RepoTags": list(rec.names),
        "RepoDigests": repo_digests(rec),
        "Parent": "",
        "Comment": cfg.get("comment", ""),
        "Created": rfc3339(_created_time(rec, cfg)),
        "Config": config_out,
        "Version": cfg.get("docker_version", ""),
        "Author": cfg.get("author", ""),
        "Architecture": cfg.get("architecture", ""),
        "Os": cfg.get("os", ""),
    }
    if cfg.get("variant"):
        doc["Variant"] = cfg["variant"]
    doc.update(
        {
            "Size": size,
            "VirtualSize": size,
            "GraphDriver": {"Name": "overlay", "Data": gd or None},
            "RootFS": {"Type": (cfg.get("rootfs") or {}).get("type", "layers"), "Layers": list(rec.diff_ids)},
            "Labels": _sorted_map(c.get("Labels")) or None,
            "Annotations": _sorted_map(manifest.get("annotations")) or {},
            "ManifestType": rec.manifest_media_type,
            "User": c.get("User", ""),
            "History": [_history_entry(h) for h in cfg.get("history") or []],
            "NamesHistory": names_history(rec),
        }
    )
    if c.get("Healthcheck"):  # podman: top-level ``Healthcheck`` (Go field HealthCheck) when the image has one
        doc["Healthcheck"] = c["Healthcheck"]
    return doc


def _sorted_map(v: Any) -> Any:
    """Go's encoder sorts map keys; config maps (labels, ports, volumes) are printed that way."""
    return {k: v[k] for k in sorted(v)} if isinstance(v, dict) else v


def _history_entry(h: dict) -> dict:
    out = {}
    for k in ("created", "created_by", "author", "comment", "empty_layer"):
        if h.get(k) not in (None, "", False):
            out[k] = h[k]
    return out


# ---------------------------------------------------------------------------------------------
# history


class HistoryRow:
    """One row of ``podman history``; ``id`` is the full image ID or ``<missing>``."""

    def __init__(
        self,
        id: str,  # noqa: A002 - podman's field name
        created: _dt.datetime | None,
        created_by: str,
        size: int,
        comment: str,
        tags: list[str] | None = None,
    ) -> None:
        self.id = id
        self.created = created
        self.created_by = created_by
        self.size = size
        self.comment = comment
        self.tags = tags if tags is not None else []

    def to_json(self) -> dict:
        d: dict[str, Any] = {
            "id": self.id,
            "created": rfc3339(self.created) if self.created else None,
            "CreatedBy": self.created_by,
            "size": self.size,
        }
        if self.comment:
            d["comment"] = self.comment
        if self.tags:
            d["tags"] = self.tags
        d["Created"] = rfc3339(self.created, nano=False) if self.created else ""
        return d


def history(paths: Paths, name: str) -> list[HistoryRow]:
    """Rows of ``podman history``: newest first, layers matched to non-empty history entries."""
    store = open_store(paths)
    rec = lookup(store, name)
    cfg = _config(store, rec)
    hist = cfg.get("history") or []
    # images whose top layer chain is a prefix of ours: their IDs appear on the rows of that layer
    chains: dict[tuple[str, ...], list[str]] = {}
    for other in store.list_images():
        chains.setdefault(other.diff_ids, []).append(other.id)
    layers = list(rec.layers)
    li = len(layers) - 1
    used: set[str] = set()
    rows: list[HistoryRow] = []
    for x in range(len(hist) - 1, -1, -1):
        h = hist[x]
        row = HistoryRow(
            id="<missing>",
            created=parse_time(h.get("created")),
            created_by=h.get("created_by", ""),
            size=0,
            comment=h.get("comment", ""),
        )
        if x == len(hist) - 1:
            row.id = rec.id
        if li >= 0:
            if not h.get("empty_layer"):
                row.size = layers[li].unpacked_size or _layer_size(store, layers[li].diff_id)
            ids = chains.get(tuple(l.diff_id for l in layers[: li + 1]), [])  # noqa: E741
            if ids and ids[0] not in used:
                row.id = ids[0]
                used.add(ids[0])
            if not h.get("empty_layer"):
                li -= 1
        rows.append(row)
    return rows


def _layer_size(store: Store, diff_id: str) -> int:
    try:
        return store.layer_info(diff_id).size
    except PodpyError:
        return 0


# ---------------------------------------------------------------------------------------------
# tag, untag, exists


def tag(paths: Paths, image: str, targets: Sequence[str]) -> None:
    if not targets:
        raise UsageError("at least one target name is required")
    store = open_store(paths)
    rec = lookup(store, image)
    names = [normalize_local_name(t) for t in targets]
    for n in names:
        if "@" in n:
            raise UsageError(f"{n}: a tag name cannot contain a digest")
    for typed, n in zip(targets, names, strict=True):
        store.tag_image(rec.id, n)
        record_event(paths, "tag", rec.id, typed)  # podman names the tag as typed


def untag(paths: Paths, image: str, names: Sequence[str] = ()) -> list[str]:
    """Remove ``names`` (all names when none given); returns the names removed."""
    store = open_store(paths)
    rec = lookup(store, image)
    if not names:
        targets = list(rec.names)
    else:
        targets = []
        for n in names:
            full = normalize_local_name(n)
            if full not in rec.names:
                # podman also accepts the name as stored (e.g. a docker.io name typed short)
                cand = [
                    x for x in rec.names if x == n or x.endswith("/" + n) or x.endswith("/" + n + ":latest")
                ]
                if not cand:
                    raise NotFoundError(f"{full}: tag not known")
                full = cand[0]
            targets.append(full)
    for n in targets:
        store.untag_image(rec.id, n)
        record_event(paths, "untag", rec.id, n)
    return targets


def exists(paths: Paths, name: str) -> bool:
    store = open_reader(paths)
    try:
        lookup(store, name)
    except NotFoundError:
        return False
    return True


# ---------------------------------------------------------------------------------------------
# remove, prune


class RemoveReport:
    """What ``rmi`` did: names untagged, IDs deleted, per-image errors and the exit code."""

    def __init__(self) -> None:
        self.untagged: list[str] = []
        self.deleted: list[str] = []
        self.errors: list[PodpyError] = []
        self.exit_code = 0


def _ensure_ns(paths: Paths) -> None:
    """Layer dirs hold files owned by subordinate ids: deleting them needs the user namespace."""
    try:
        from podpy.rootless.userns import ensure_userns
    except ImportError:  # pragma: no cover - rootless package missing
        return
    ensure_userns(paths)


def remove(paths: Paths, names: Sequence[str], force: bool = False, all_: bool = False) -> RemoveReport:
    """``podman rmi``: untag names or delete images; collects per-image errors like podman."""
    if all_ and names:
        raise UsageError("when using the --all switch, you may not pass any images names or IDs")
    if not all_ and not names:
        raise UsageError("image name or ID must be specified")
    _ensure_ns(paths)
    store = open_store(paths)
    rep = RemoveReport()
    targets: list[tuple[str, ImageRecord | None]] = []
    if all_:
        targets = [(r.id, r) for r in store.list_images()]
    else:
        for n in names:
            try:
                targets.append((n, lookup(store, n)))
            except NotFoundError as e:
                rep.errors.append(e)
                rep.exit_code = rep.exit_code or EXIT_NO_SUCH_IMAGE
    deleted_any = False
    image_users = _ImageUsers(paths)
    for typed, rec in targets:
        assert rec is not None
        try:
            rec = store.get_image(rec.id)
        except NotFoundError:
            continue  # removed through an earlier argument
        by_id = (
            all_
            or typed.removeprefix("sha256:") == rec.id
            or (
                re.fullmatch(r"[0-9a-f]{3,64}", typed.removeprefix("sha256:")) is not None
                and rec.id.startswith(typed.removeprefix("sha256:"))
            )
        )
        if not by_id and len(rec.names) > 1:
            # a name of an image with several names: only that name goes
            full = _match_name(rec, typed)
            if full:
                store.untag_image(rec.id, full)
                rep.untagged.append(full)
                record_event(paths, "untag", rec.id, full)
                record_event(paths, "remove", rec.id, typed)  # podman 4.3 logs it though only a name went
                continue
        if by_id and len(rec.names) > 1 and not force and not all_:
            rep.errors.append(
                ConflictError(
                    f'unable to delete image "{rec.id}" by ID with more than one tag ([{" ".join(rec.names)}]): please force removal'
                )
            )
            rep.exit_code = rep.exit_code or 125
            continue
        users = image_users.of(rec)
        if users and not force:
            rep.errors.append(
                ConflictError(
                    f"image used by {users[0]}: image is in use by a container: consider listing external containers and force-removing image"
                )
            )
            rep.exit_code = EXIT_IMAGE_IN_USE
            continue
        if users:  # -f: like podman, the containers using the image go first
            from podpy.engine.containers import remove as remove_container

            for cid in users:
                try:
                    remove_container(paths, cid, force=True)
                except NotFoundError:
                    pass  # removed meanwhile, or only a store-level user
        for n in rec.names:
            rep.untagged.append(n)
        store.remove_image(rec.id, force=True, prune=False)
        rep.deleted.append(rec.id)
        _removed_events(paths, rec, "" if all_ else typed)
        deleted_any = True
    if deleted_any:
        store.gc(wait=5.0)
    return rep


def _removed_events(paths: Paths, rec: ImageRecord, typed: str) -> None:
    """Podman 4.3's events of a deleted image: ``untag`` per name, then ``remove`` named as typed
    (no name for ``rmi -a`` and ``prune``)."""
    for n in rec.names:
        record_event(paths, "untag", rec.id, n)
    record_event(paths, "remove", rec.id, typed)


def _match_name(rec: ImageRecord, typed: str) -> str | None:
    if typed in rec.names:
        return typed
    try:
        full = normalize_local_name(typed)
    except UsageError:
        full = ""
    if full in rec.names:
        return full
    domain, path, tag_, digest = _split(typed)
    if digest:
        return None
    want_tag = tag_ or "latest"
    for n in rec.names:
        d2, p2, t2, _ = _split(n)
        if t2 != want_tag:
            continue
        if domain and d2 != domain:
            continue
        if p2 == path or p2 == "library/" + path or p2.endswith("/" + path):
            return n
    return None


def prune(paths: Paths, all_: bool = False, filters: Sequence[str] = ()) -> list[str]:
    """Remove dangling images (all unused images with ``all_``); returns the removed IDs."""
    _ensure_ns(paths)
    store = open_store(paths)
    keep_ids: set[str] | None = None
    if filters:
        keep_ids = {s.id for s in list_images(paths, filters)}
    removed: list[str] = []
    image_users = _ImageUsers(paths)
    for rec in store.list_images():
        if keep_ids is not None and rec.id not in keep_ids:
            continue
        if rec.names and not all_:
            continue
        if image_users.of(rec):
            continue
        try:
            store.remove_image(rec.id, force=False, prune=False)
        except (ConflictError, NotFoundError):
            continue
        removed.append(rec.id)
        _removed_events(paths, rec, "")
    if removed or all_:
        store.gc(wait=5.0)
    return removed


def image_config(paths: Paths, name: str) -> tuple[str, dict]:
    """(image ID, config JSON) — used by the container engine and ``inspect``."""
    store = open_reader(paths)
    rec = lookup(store, name)
    return rec.id, _config(store, rec)
