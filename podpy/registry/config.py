"""registries.conf (v2, TOML): short-name search, aliases, insecure/blocked registries, rewriting, mirrors.

Read from ``$CONTAINERS_REGISTRIES_CONF``, else ``~/.config/containers/registries.conf``, else
``/etc/containers/registries.conf``, plus the ``registries.conf.d/*.conf`` drop-ins next to it (and
the user's own drop-in dir), later files overriding earlier ones, as containers/image does.
"""

from __future__ import annotations

import logging
import os
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from podpy.spec.reference import ImageReference, split_reference
from podpy.util.errors import RegistryError, UsageError
from podpy.util.paths import xdg_config_home

log = logging.getLogger(__name__)

SYSTEM_CONF = Path("/etc/containers/registries.conf")
SHORT_NAME_MODES = ("enforcing", "permissive", "disabled")


@dataclass(frozen=True)
class Mirror:
    location: str
    insecure: bool = False
    pull_from_mirror: str = "all"  # all | digest-only | tag-only


@dataclass(frozen=True)
class RegistryEntry:
    prefix: str
    location: str
    insecure: bool = False
    blocked: bool = False
    mirrors: tuple[Mirror, ...] = ()
    mirror_by_digest_only: bool = False

    def matches(self, name: str) -> bool:
        """Does this entry's prefix cover ``name`` (``host/repo``)? ``*.example.com`` covers subdomains."""
        p = self.prefix
        if p.startswith("*."):
            host = name.split("/", 1)[0]
            return host.endswith(p[1:])
        return name == p or name.startswith(p + "/") or name.startswith(p + ":") or name.startswith(p + "@")

    def rewrite(self, ref: ImageReference, location: str) -> ImageReference:
        if self.prefix.startswith("*."):
            return ref  # wildcard prefixes cannot be rewritten (containers/image forbids location there)
        rest = ref.name[len(self.prefix) :]
        return ref.with_name(location + rest)


@dataclass(frozen=True)
class Endpoint:
    """One place to fetch a reference from: a mirror or the (possibly rewritten) primary location."""

    ref: ImageReference
    insecure: bool = False
    mirror: bool = False

    @property
    def registry(self) -> str:
        return self.ref.registry


@dataclass
class RegistriesConf:
    unqualified_search_registries: list[str] = field(default_factory=list)
    short_name_mode: str = "enforcing"
    aliases: dict[str, str] = field(default_factory=dict)
    registries: list[RegistryEntry] = field(default_factory=list)
    sources: list[Path] = field(default_factory=list)

    @property
    def source(self) -> str:
        return str(self.sources[0]) if self.sources else str(SYSTEM_CONF)

    # -- lookup -------------------------------------------------------------------------------
    def find(self, name: str) -> RegistryEntry | None:
        """The entry with the longest matching prefix (exact prefixes beat wildcards)."""
        best: RegistryEntry | None = None
        best_len = -1
        for e in self.registries:
            if e.matches(name):
                n = len(e.prefix) if not e.prefix.startswith("*.") else len(e.prefix) - 1000
                if n > best_len:
                    best, best_len = e, n
        return best

    def is_insecure(self, host: str) -> bool:
        """Whether ``host`` (a registry location, mirror included) may be reached over plain HTTP."""
        for e in self.registries:
            if e.insecure and (e.location == host or e.location.split("/", 1)[0] == host):
                return True
            if e.insecure and e.prefix.startswith("*.") and host.endswith(e.prefix[1:]):
                return True
            for m in e.mirrors:
                if m.insecure and m.location.split("/", 1)[0] == host:
                    return True
        return False

    def is_blocked(self, ref: ImageReference) -> bool:
        e = self.find(ref.name)
        return bool(e and e.blocked)

    # -- short names ----------------------------------------------------------------------------
    def candidates(self, name: str) -> list[ImageReference]:
        """References to try for ``name``, in order; a qualified name (or an alias) gives exactly one.

        ``enforcing`` mode would prompt on a TTY when several registries qualify; podpy never prompts
        and tries them in order, as podman does without a TTY.
        """
        parsed = split_reference(name)
        if not parsed.is_short:
            ref = parsed.qualify("docker.io")
            self._check_blocked(ref)
            return [ref]
        alias = self.aliases.get(parsed.path)
        if alias is None and parsed.path.startswith("library/"):
            alias = self.aliases.get(parsed.path.removeprefix("library/"))
        if alias is not None:
            target = split_reference(alias)
            ref = ImageReference(
                target.qualify("docker.io").registry,
                target.qualify("docker.io").repository,
                parsed.tag if (parsed.tag or parsed.digest) else "latest",
                parsed.digest,
            )
            self._check_blocked(ref)
            return [ref]
        if not self.unqualified_search_registries:
            raise UsageError(
                f"short-name {name!r} did not resolve to an alias and no unqualified-search registries are "
                f"defined in {self.source}: use a fully qualified name, e.g. docker.io/library/{parsed.path}"
            )
        out = [parsed.qualify(reg) for reg in self.unqualified_search_registries]
        out = [r for r in out if not self.is_blocked(r)] or out[:1]
        if len(out) == 1:
            self._check_blocked(out[0])
        return out

    def _check_blocked(self, ref: ImageReference) -> None:
        if self.is_blocked(ref):
            raise RegistryError(
                f"registry {ref.registry} is blocked in registries.conf ({self.source}): {ref}"
            )

    # -- endpoints ------------------------------------------------------------------------------
    def endpoints(self, ref: ImageReference, *, push: bool = False) -> list[Endpoint]:
        """Mirrors first (for pulls), then the primary location; RegistryError for a blocked registry."""
        e = self.find(ref.name)
        if e is None:
            return [Endpoint(ref, self.is_insecure(ref.registry), False)]
        if e.blocked:
            raise RegistryError(
                f"registry {ref.registry} is blocked in registries.conf ({self.source}): {ref}"
            )
        out: list[Endpoint] = []
        if not push:
            for m in e.mirrors:
                mode = "digest-only" if e.mirror_by_digest_only else m.pull_from_mirror
                if mode == "digest-only" and not ref.digest:
                    continue
                if mode == "tag-only" and ref.digest:
                    continue
                out.append(Endpoint(e.rewrite(ref, m.location), m.insecure, True))
        out.append(Endpoint(e.rewrite(ref, e.location), e.insecure, False))
        return out


# -- loading --------------------------------------------------------------------------------------


def main_conf_path() -> Path:
    env = os.environ.get("CONTAINERS_REGISTRIES_CONF")
    if env:
        return Path(env)
    user = xdg_config_home() / "containers" / "registries.conf"
    return user if user.exists() else SYSTEM_CONF


def _dropin_dirs(main: Path) -> list[Path]:
    env_dir = os.environ.get("CONTAINERS_REGISTRIES_CONF_DIR")
    if env_dir:
        return [Path(env_dir)]
    if os.environ.get("CONTAINERS_REGISTRIES_CONF"):
        return [main.parent / "registries.conf.d"]
    dirs = [SYSTEM_CONF.parent / "registries.conf.d", xdg_config_home() / "containers" / "registries.conf.d"]
    return list(dict.fromkeys(dirs))


def _bool(v: Any, key: str, path: Path) -> bool:
    if not isinstance(v, bool):
        raise UsageError(f"{path}: {key} must be true or false")
    return v


def _parse_registry(d: Any, path: Path) -> RegistryEntry:
    if not isinstance(d, dict):
        raise UsageError(f"{path}: every [[registry]] must be a table")
    location = str(d.get("location") or "").rstrip("/")
    prefix = str(d.get("prefix") or location).rstrip("/")
    if not prefix:
        raise UsageError(f"{path}: a [[registry]] needs a prefix or a location")
    if prefix.startswith("*.") and d.get("location"):
        raise UsageError(f"{path}: [[registry]] with wildcard prefix {prefix!r} cannot have a location")
    if not location:
        location = prefix
    mirrors = []
    for m in d.get("mirror") or []:
        if not isinstance(m, dict) or not m.get("location"):
            raise UsageError(f"{path}: every [[registry.mirror]] needs a location")
        pfm = str(m.get("pull-from-mirror") or "all")
        if pfm not in ("all", "digest-only", "tag-only"):
            raise UsageError(f"{path}: pull-from-mirror must be all, digest-only or tag-only")
        mirrors.append(
            Mirror(str(m["location"]).rstrip("/"), _bool(m.get("insecure", False), "insecure", path), pfm)
        )
    return RegistryEntry(
        prefix=prefix,
        location=location,
        insecure=_bool(d.get("insecure", False), "insecure", path),
        blocked=_bool(d.get("blocked", False), "blocked", path),
        mirrors=tuple(mirrors),
        mirror_by_digest_only=_bool(d.get("mirror-by-digest-only", False), "mirror-by-digest-only", path),
    )


def _merge(conf: RegistriesConf, data: dict[str, Any], path: Path) -> None:
    if "registries" in data and isinstance(data["registries"], dict):
        raise UsageError(
            f"{path}: registries.conf v1 format ([registries.search]) is not supported: use the v2 format "
            "(unqualified-search-registries = [...], [[registry]])"
        )
    if "unqualified-search-registries" in data:
        regs = data["unqualified-search-registries"]
        if not isinstance(regs, list) or not all(isinstance(r, str) for r in regs):
            raise UsageError(f"{path}: unqualified-search-registries must be a list of strings")
        conf.unqualified_search_registries = [r.rstrip("/") for r in regs]
    if "short-name-mode" in data:
        mode = data["short-name-mode"]
        if mode not in SHORT_NAME_MODES:
            raise UsageError(f"{path}: short-name-mode must be one of {', '.join(SHORT_NAME_MODES)}")
        conf.short_name_mode = mode
    aliases = data.get("aliases")
    if aliases is not None:
        if not isinstance(aliases, dict):
            raise UsageError(f"{path}: [aliases] must be a table")
        for k, v in aliases.items():
            if not isinstance(v, str):
                raise UsageError(f"{path}: alias {k!r} must be a string")
            if not v:
                conf.aliases.pop(k, None)  # an empty value removes an alias set earlier
                continue
            target = split_reference(v)
            if target.is_short or target.tag or target.digest:
                raise UsageError(f"{path}: alias {k!r} = {v!r} must be a fully qualified name without tag")
            conf.aliases[k] = v
    for d in data.get("registry") or []:
        entry = _parse_registry(d, path)
        conf.registries = [e for e in conf.registries if e.prefix != entry.prefix] + [entry]


def _read(path: Path) -> dict[str, Any] | None:
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        return None
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"loading registries configuration {path}: {e}") from e
    except OSError as e:
        raise UsageError(f"loading registries configuration {path}: {e.strerror}") from e


def load_registries_conf(path: str | os.PathLike[str] | None = None) -> RegistriesConf:
    """The merged configuration; an absent file is an empty configuration (no search registries)."""
    main = Path(path) if path else main_conf_path()
    conf = RegistriesConf()
    files = [main]
    if path is None:
        for d in _dropin_dirs(main):
            try:
                files += sorted(p for p in d.glob("*.conf") if p.is_file())
            except OSError:
                continue
    for f in files:
        data = _read(f)
        if data is None:
            continue
        conf.sources.append(f)
        _merge(conf, data, f)
    log.debug("registries.conf from %s", [str(s) for s in conf.sources] or "nowhere")
    return conf


def have_tty() -> bool:
    try:
        return sys.stdin.isatty() and sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False
