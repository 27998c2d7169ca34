"""Named volumes (``podpy volume …``), stored as Podman stores them: ``ROOT/volumes/NAME/_data``.

Each volume is one directory ``ROOT/volumes/NAME`` holding the data dir ``_data`` and podpy's record
``volume.json`` (written atomically). A volume appears by renaming a complete temporary directory
(``.tmp-…``) to its name, so two concurrent ``volume create NAME`` cannot both succeed and a reader
never sees half a volume; it disappears by renaming it to ``.rm-…`` first, then deleting that (inside
podpy's user namespace: the data may belong to subordinate ids). Leftovers of a killed process are
removed by the next listing. Which containers use a volume is read from the containers' recorded
mounts (``ContainerSpec.mounts[].volume``), so no second reference count can drift.

Drivers: ``local`` only. ``-o type=tmpfs|bind,device=…,o=…`` volumes are mounted in the container's
own mount namespace when it starts (a tmpfs per container; a bind of ``device``, which must belong
to the user) rather than on ``_data`` as Podman does; their ``_data`` stays empty.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

from podpy.util.errors import ConflictError, NotFoundError, PodpyError, UsageError
from podpy.util.fsutil import atomic_write
from podpy.util.gotime import rfc3339_nano
from podpy.util.lock import FileLock
from podpy.util.paths import Paths

TYPE_CHECKING = False  # not typing's: importing typing costs every command start-up time
if TYPE_CHECKING:
    from typing import IO, Any

RECORD = "volume.json"
DATA = "_data"
DRIVERS = ("local",)
TYPES = ("", "tmpfs", "bind")
_TMPFS_OPTS = ("size", "mode", "uid", "gid", "nr_inodes", "nr_blocks")
_FLAG_OPTS = ("ro", "rw", "nosuid", "suid", "nodev", "dev", "noexec", "exec", "bind", "rbind")
IN_USE_EXIT = 2  # podman's exit code for "volume is being used"
MISSING_EXIT = 1  # podman's exit code for ``volume rm`` of an unknown volume
IMPORT_MAX = 1 << 50  # ``volume import``: no cap but the disk's


@dataclass
class Volume:
    """One volume's record (``volume.json``). ``created`` is Unix nanoseconds."""

    name: str
    driver: str = "local"
    created: int = field(default_factory=time.time_ns)
    labels: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    anonymous: bool = False
    needs_copy_up: bool = True
    needs_chown: bool = True

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Volume:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


# --- paths, names, locks ----------------------------------------------------------------------------


def volumes_dir(paths: Paths) -> Path:
    return Path(paths.root) / "volumes"


def volume_dir(paths: Paths, name: str) -> Path:
    return volumes_dir(paths) / name


def mountpoint(paths: Paths, name: str) -> Path:
    return volume_dir(paths, name) / DATA


def lock(paths: Paths, name: str) -> FileLock:
    """Per-volume lock: copy-up, chown and removal of one volume serialize on it."""
    return FileLock(Path(paths.runroot) / "locks" / f"vol-{name}.lock")


def check_name(name: str) -> str:
    from podpy.spec.container import check_volume_name

    return check_volume_name(name)


def not_found(name: str, exit_code: int | None = None) -> NotFoundError:
    return NotFoundError(f'no volume with name "{name}" found: no such volume', exit_code)


# --- the options of ``volume create -o`` ----------------------------------------------------------


def parse_options(items: Iterable[str]) -> dict[str, str]:
    """``-o KEY=VALUE`` (``--opt``) as Podman's local driver validates them: ``type``, ``device``, ``o``."""
    opts: dict[str, str] = {}
    for item in items:
        key, _, value = item.partition("=")
        if key not in ("type", "device", "o"):
            raise UsageError(f"invalid mount option {key} for driver 'local': invalid argument")
        opts[key] = value
    vtype = opts.get("type", "")
    if vtype not in TYPES:
        raise UsageError(
            f"volume type {vtype!r} is not supported by podpy: use -o type=tmpfs or -o type=bind"
        )
    if vtype and not opts.get("device"):
        raise UsageError(f"volume type {vtype} needs -o device=… (tmpfs, or the directory to bind)")
    if not vtype and ("device" in opts or "o" in opts):
        raise UsageError("-o device= and -o o= need -o type=tmpfs or -o type=bind")
    for o in opts.get("o", "").split(",") if opts.get("o") else []:
        k, eq, _ = o.partition("=")
        if (eq and (vtype != "tmpfs" or k not in _TMPFS_OPTS)) or (not eq and o not in _FLAG_OPTS):
            raise UsageError(f"invalid volume option o={o} for a {vtype} volume")
        if o in ("bind", "rbind") and vtype != "bind":
            raise UsageError(f"invalid volume option o={o} for a {vtype} volume")
    if vtype == "bind":
        dev = opts["device"]
        try:
            st = os.stat(dev)
        except OSError:
            raise UsageError(
                f"invalid volume option device for driver 'local': stat {dev}: no such file or directory"
            ) from None
        if not dev.startswith("/"):
            raise UsageError(f"invalid volume option device={dev}: must be an absolute path")
        if st.st_uid != os.getuid() and os.getuid() != 0:
            raise UsageError(
                f"invalid volume option device={dev}: the directory must belong to you (uid {os.getuid()})"
            )
    return opts


def parse_labels(items: Iterable[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        k, _, v = item.partition("=")
        if not k:
            raise UsageError(f"invalid label {item!r}: use key=value")
        out[k] = v
    return out


# --- create, get, list ------------------------------------------------------------------------------


def _write(paths: Paths, vol: Volume, where: Path | None = None) -> None:
    atomic_write((where or volume_dir(paths, vol.name)) / RECORD, json.dumps(asdict(vol), sort_keys=True))


def create(paths: Paths, name: str | None = None, *, driver: str = "local", labels: Mapping[str, str] | None = None,
           options: Mapping[str, str] | None = None, ignore: bool = False, anonymous: bool = False) -> Volume:  # fmt: skip
    """``podpy volume create``: a new empty volume (a 64-hex name when none is given).

    ConflictError when the name is taken (``ignore``: the existing volume is returned)."""
    if driver not in DRIVERS:
        raise PodpyError(
            f"volume {name or ''} uses volume plugin {driver} but it could not be retrieved: no volume plugin "
            f"with name {driver} available: required plugin missing".replace("volume  uses", "volume uses")
        )
    if name:
        check_name(name)
    else:
        name = os.urandom(32).hex()
    vol = Volume(name=name, driver=driver, labels=dict(labels or {}), options=dict(options or {}),
                 anonymous=anonymous)  # fmt: skip
    base = volumes_dir(paths)
    base.mkdir(parents=True, exist_ok=True, mode=0o700)
    final = base / name
    if final.is_dir():
        if ignore:
            return get(paths, name)
        raise ConflictError(f"volume with name {name} already exists: volume already exists")
    tmp = base / f".tmp-{name}-{os.getpid()}-{os.urandom(4).hex()}"
    try:
        (tmp / DATA).mkdir(parents=True, mode=0o755)
        os.chmod(tmp, 0o700)
        _write(paths, vol, tmp)
        try:
            os.rename(tmp, final)
        except OSError as e:
            if not final.is_dir():
                raise PodpyError(f"creating volume {name}: {e.strerror or e}") from None
            if ignore:
                return get(paths, name)
            raise ConflictError(f"volume with name {name} already exists: volume already exists") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    _event(paths, "create", name)
    return vol


def get(paths: Paths, name: str) -> Volume:
    """The volume called ``name`` (Podman also accepts a unique prefix of a name); NotFoundError."""
    path = volume_dir(paths, name) / RECORD if name and "/" not in name and not name.startswith(".") else None
    if path is not None and path.is_file():
        return _read(path)
    if name and "/" not in name:
        hits = [v for v in list_volumes(paths) if v.name.startswith(name)]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise ConflictError(f'more than one result for volume name "{name}": volume already exists')
    raise not_found(name)


def _read(path: Path) -> Volume:
    try:
        return Volume.from_json(json.loads(path.read_text()))
    except (OSError, ValueError, TypeError) as e:
        raise PodpyError(f"reading volume record {path}: {e}") from None


def exists(paths: Paths, name: str) -> bool:
    """``volume exists``: this exact name (no prefix match, as Podman's HasVolume)."""
    return bool(name) and "/" not in name and (volume_dir(paths, name) / RECORD).is_file()


def list_volumes(paths: Paths) -> list[Volume]:
    """Every volume, by name. Removes what a killed ``create``/``rm`` left (``.tmp-``/``.rm-`` dirs, old)."""
    base = volumes_dir(paths)
    out: list[Volume] = []
    try:
        entries = sorted(os.scandir(base), key=lambda e: e.name)
    except FileNotFoundError:
        return out
    now = time.time()
    for e in entries:
        if e.name.startswith("."):
            with contextlib.suppress(OSError):
                if now - e.stat(follow_symlinks=False).st_mtime > 3600:
                    shutil.rmtree(e.path, ignore_errors=True)
            continue
        rec = Path(e.path) / RECORD
        if rec.is_file():
            with contextlib.suppress(PodpyError):
                out.append(_read(rec))
    return out


def save(paths: Paths, vol: Volume) -> None:
    _write(paths, vol)


# --- users of a volume ------------------------------------------------------------------------------


def volume_names(config: Mapping[str, Any]) -> list[str]:
    """The volumes a container's recorded config mounts (its ``spec.mounts[].volume``)."""
    spec = config.get("spec") or {}
    return [str(m["volume"]) for m in spec.get("mounts") or [] if isinstance(m, dict) and m.get("volume")]


def users(paths: Paths) -> dict[str, list[str]]:
    """Volume name -> ids of the containers that use it."""
    from podpy.engine.containers import open_state

    out: dict[str, list[str]] = {}
    for rec in open_state(paths).list():
        for name in volume_names(rec.config):
            out.setdefault(name, []).append(rec.id)
    return out


# --- inspect, sizes ---------------------------------------------------------------------------------


def inspect(paths: Paths, vol: Volume) -> dict[str, Any]:
    """Podman 4.3's ``volume inspect`` document (its field order; false flags left out)."""
    doc: dict[str, Any] = {
        "Name": vol.name,
        "Driver": vol.driver,
        "Mountpoint": str(mountpoint(paths, vol.name)),
        "CreatedAt": rfc3339_nano(vol.created),
        "Labels": dict(vol.labels),
        "Scope": "local",
        "Options": dict(vol.options),
    }
    if vol.anonymous:
        doc["Anonymous"] = True
    doc["MountCount"] = 0
    if vol.needs_copy_up:
        doc["NeedsCopyUp"] = True
    if vol.needs_chown:
        doc["NeedsChown"] = True
    return doc


def size(paths: Paths, name: str) -> int:
    """Bytes used by the volume's data (apparent sizes; hard links counted once). For ``system df``."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for dirpath, dirnames, filenames in os.walk(mountpoint(paths, name)):
        for n in dirnames + filenames:
            with contextlib.suppress(OSError):
                st = os.lstat(os.path.join(dirpath, n))
                if (st.st_dev, st.st_ino) in seen:
                    continue
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size if n in filenames else 0
    return total


# --- filters (ls, prune) ----------------------------------------------------------------------------


FILTERS = ("name", "label", "label!", "dangling", "driver", "scope", "opt", "until")  # podman 4.3's


def parse_filters(items: Iterable[str], *, prune: bool = False) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for item in items:
        key, eq, value = item.partition("=")
        allowed = ("label", "label!", "until") if prune else FILTERS
        if not eq or key not in allowed:
            raise UsageError(f'"{key}" is an invalid volume filter')
        if key == "dangling" and value.lower() not in ("true", "false", "1", "0"):
            raise UsageError(
                f'"{value}" is not a valid value for the "dangling" filter - must be true or false'
            )
        out.append((key, value))
    return out


def _label_match(labels: Mapping[str, str], want: str) -> bool:
    k, eq, v = want.partition("=")
    return k in labels and (not eq or labels[k] == v)


def matches(vol: Volume, filters: list[tuple[str, str]], used: Mapping[str, list[str]]) -> bool:
    """Podman's rule: values of one key are ORed, different keys ANDed (``label!`` excludes)."""
    by_key: dict[str, list[str]] = {}
    for k, v in filters:
        by_key.setdefault(k, []).append(v)
    for key, values in by_key.items():
        if key == "label!":
            if any(_label_match(vol.labels, v) for v in values):
                return False
            continue
        if not any(_one(vol, key, v, used) for v in values):
            return False
    return True


def _one(vol: Volume, key: str, value: str, used: Mapping[str, list[str]]) -> bool:
    if key == "name":
        import re

        return bool(re.search(value, vol.name))
    if key == "label":
        return _label_match(vol.labels, value)
    if key == "dangling":
        return (vol.name not in used) == (value.lower() in ("true", "1"))
    if key == "driver":
        return vol.driver == value
    if key == "scope":
        return value == "local"
    if key == "opt":
        k, _, v = value.partition("=")
        return vol.options.get(k) == v
    if key == "until":
        return _until(vol, value)
    return False


def _until(vol: Volume, value: str) -> bool:
    """``until=``: a Unix time or a Go duration ago (``24h``)."""
    from podpy.spec.container import parse_go_duration

    try:
        limit = float(value) * 1e9
    except ValueError:
        limit = time.time_ns() - parse_go_duration(value)
    return vol.created < limit


# --- rm, prune --------------------------------------------------------------------------------------


def _delete_dir(paths: Paths, name: str) -> None:
    """Make the volume disappear at once (rename), then delete its data inside podpy's namespace."""
    from podpy.rootless.userns import ensure_userns

    src = volume_dir(paths, name)
    dead = volumes_dir(paths) / f".rm-{name}-{os.urandom(4).hex()}"
    try:
        os.rename(src, dead)
    except FileNotFoundError:
        raise not_found(name) from None
    shutil.rmtree(dead, ignore_errors=True)
    if dead.exists():
        ensure_userns(paths)  # files of subordinate ids: removable inside podpy's namespace only
        shutil.rmtree(dead, ignore_errors=True)


def remove(paths: Paths, name: str, *, force: bool = False, timeout: float | None = None) -> str:
    """``podpy volume rm``: refused while a container uses it, unless ``force`` (which removes them)."""
    try:
        vol = get(paths, name)
    except NotFoundError:
        raise not_found(name, MISSING_EXIT) from None
    using = users(paths).get(vol.name, [])
    if using and not force:
        raise ConflictError(f"volume {vol.name} is being used by the following container(s): "
                            f"{', '.join(using)}: volume is being used", IN_USE_EXIT)  # fmt: skip
    if using:
        from podpy.engine import containers, pods

        remove = pods.with_pods(containers.remove)  # an infra container goes with its pod, as in podman
        for cid in using:
            with contextlib.suppress(NotFoundError):
                remove(paths, cid, force=True, timeout=timeout)
    with lock(paths, vol.name):
        _delete_dir(paths, vol.name)
    _event(paths, "remove", vol.name)
    return vol.name


def prune(paths: Paths, filters: list[tuple[str, str]] | None = None) -> list[tuple[str, int]]:
    """Remove every volume no container uses (and that matches ``filters``): (name, bytes freed)."""
    used = users(paths)
    out: list[tuple[str, int]] = []
    for vol in list_volumes(paths):
        if vol.name in used or not matches(vol, filters or [], used):
            continue
        freed = size(paths, vol.name)
        try:
            with lock(paths, vol.name):
                _delete_dir(paths, vol.name)
        except NotFoundError:
            continue
        _event(paths, "remove", vol.name)
        out.append((vol.name, freed))
    return out


def remove_anonymous(paths: Paths, config: Mapping[str, Any]) -> list[str]:
    """``rm -v`` / ``run --rm``: the anonymous volumes of a removed container that no other container uses."""
    names = volume_names(config)
    if not names:
        return []
    used = users(paths)
    gone = []
    for name in names:
        try:
            vol = get(paths, name)
        except NotFoundError:
            continue
        if not vol.anonymous or used.get(name):
            continue
        with contextlib.suppress(NotFoundError), lock(paths, name):
            _delete_dir(paths, name)
            _event(paths, "remove", name)
            gone.append(name)
    return gone


# --- export, import ---------------------------------------------------------------------------------


def export(paths: Paths, name: str, out: IO[bytes]) -> None:
    """``podpy volume export``: the volume's data as an uncompressed tar (paths relative to ``_data``)."""
    import tarfile

    from podpy.rootless.userns import ensure_userns

    vol = get_for_transfer(paths, name)
    ensure_userns(paths)
    data = mountpoint(paths, vol.name)
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for entry in sorted(os.listdir(data)):
            tar.add(os.path.join(data, entry), arcname=entry, recursive=True)


def import_(paths: Paths, name: str, src: IO[bytes]) -> None:
    """``podpy volume import``: unpack a tar into the volume (owners kept; nothing may escape ``_data``)."""
    import io

    from podpy.rootless.userns import ensure_userns
    from podpy.store.unpack import sniff, unpack_stream

    vol = get_for_transfer(paths, name)
    ensure_userns(paths)
    data = mountpoint(paths, vol.name)
    reader = src if isinstance(src, io.BufferedReader) else io.BufferedReader(src)  # type: ignore[arg-type]
    # the store's layer extractor: every path resolved inside _data, no symlink followed, owners kept
    unpack_stream(reader, sniff(reader.peek(4)[:4]), data, f"volume {vol.name}", IMPORT_MAX)  # type: ignore[arg-type]


def get_for_transfer(paths: Paths, name: str) -> Volume:
    try:
        vol = get(paths, name)
    except NotFoundError:
        raise NotFoundError(f"no such volume {name}") from None
    if vol.options.get("type"):
        raise UsageError(
            f"volume {vol.name} is a {vol.options['type']} volume: its data is not stored by podpy"
        )
    return vol


def _event(paths: Paths, action: str, name: str) -> None:
    """``podpy events`` shows volume create/remove as Podman does."""
    from podpy.engine.containers import open_state

    with contextlib.suppress(Exception):
        open_state(paths).add_event("volume", action, "", name, {})  # podman's volume events have no ID


def remove_container(paths: Paths, ref: str, *, force: bool = False, timeout: float | None = None) -> str:
    """``rm -v``: the container (``containers.remove``), then its anonymous volumes no other container uses."""
    from podpy.engine import containers

    config = containers.open_state(paths).get(ref).config
    cid = containers.remove(paths, ref, force=force, timeout=timeout)
    remove_anonymous(paths, config)
    return cid


def inspect_doc(paths: Paths, name: str) -> dict[str, Any] | None:
    """``podpy inspect NAME`` (``--type volume|all``): the volume's document, None when there is none."""
    try:
        return inspect(paths, get(paths, name))
    except NotFoundError:
        return None


def usage(paths: Paths) -> list[tuple[Volume, int, int]]:
    """``system df``: every volume with the number of containers using it and its size in bytes."""
    used = users(paths)
    return [(v, len(used.get(v.name, [])), size(paths, v.name)) for v in list_volumes(paths)]
