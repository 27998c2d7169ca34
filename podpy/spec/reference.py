"""Image references (``registry/repo:tag@digest``) parsed and normalised like containers/image.

Pure: no I/O. ``parse_reference`` gives a fully qualified ``ImageReference`` (``busybox`` ->
``docker.io/library/busybox:latest``); ``split_reference`` keeps what the user typed so that
short names can be resolved through registries.conf instead of silently assuming docker.io.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from podpy.spec.digest import parse_digest
from podpy.util.errors import InvalidInput, UsageError

DOCKER_DOMAIN = "docker.io"
LEGACY_DOCKER_DOMAINS = ("index.docker.io", "registry-1.docker.io")
OFFICIAL_PREFIX = "library/"
MAX_NAME_LENGTH = 255

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_PATH_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN_RE = re.compile(
    rf"^(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?$"
)
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")
_HEX64_RE = re.compile(r"^[a-f0-9]{64}$")


@dataclass(frozen=True)
class ImageReference:
    """A fully qualified reference: ``registry`` is never empty, ``repository`` has no domain."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """``registry/repository`` (no tag, no digest)."""
        return f"{self.registry}/{self.repository}"

    @property
    def reference(self) -> str:
        """What goes into ``/v2/NAME/manifests/REFERENCE``: the digest when there is one, else the tag."""
        return self.digest or self.tag or "latest"

    def __str__(self) -> str:
        s = self.name
        if self.tag:
            s += ":" + self.tag
        if self.digest:
            s += "@" + self.digest
        return s

    def with_tag(self, tag: str) -> ImageReference:
        if not _TAG_RE.match(tag):
            raise UsageError(f"invalid tag {tag!r}: use letters, digits, '_', '.', '-' (at most 128)")
        return replace(self, tag=tag, digest=None)

    def with_digest(self, digest: str) -> ImageReference:
        try:
            parse_digest(digest)
        except InvalidInput as e:
            raise UsageError(e.message) from e
        return replace(self, digest=digest)

    def with_name(self, name: str) -> ImageReference:
        """The same tag/digest on another ``registry/repository`` (registries.conf location rewriting)."""
        domain, _, path = name.partition("/")
        if not path:
            raise UsageError(f"invalid repository name {name!r}: expected REGISTRY/REPOSITORY")
        return replace(self, registry=domain, repository=path)

    def familiar(self) -> str:
        """The short form docker prints (``busybox:latest``); qualified names elsewhere stay as they are."""
        if self.registry != DOCKER_DOMAIN:
            return str(self)
        s = self.repository.removeprefix(OFFICIAL_PREFIX)
        if self.tag:
            s += ":" + self.tag
        if self.digest:
            s += "@" + self.digest
        return s


@dataclass(frozen=True)
class ParsedName:
    """What the user typed, validated but not qualified: ``domain`` is None for short names."""

    domain: str | None
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def is_short(self) -> bool:
        return self.domain is None

    def qualify(self, registry: str) -> ImageReference:
        """Put a short name under ``registry`` (docker.io adds ``library/`` to one-component names)."""
        domain = _canonical_domain(self.domain or registry)
        path = self.path
        if domain == DOCKER_DOMAIN and "/" not in path:
            path = OFFICIAL_PREFIX + path
        if len(domain) + 1 + len(path) > MAX_NAME_LENGTH:
            raise UsageError(
                f"invalid reference format: repository name must not be more than {MAX_NAME_LENGTH} characters"
            )
        tag = self.tag if (self.tag or self.digest) else "latest"
        return ImageReference(domain, path, tag, self.digest)


def _canonical_domain(domain: str) -> str:
    return DOCKER_DOMAIN if domain in LEGACY_DOCKER_DOMAINS else domain


def _bad(s: str, why: str = "") -> UsageError:
    return UsageError(f"invalid reference format{': ' + why if why else ''}: {s!r}")


def split_reference(s: str) -> ParsedName:
    """Validate ``s`` and split it; the domain is kept only when the user wrote one.

    The first component is a domain when it contains ``.`` or ``:``, is ``localhost``, or has
    upper-case letters (as in distribution/reference's ``splitDockerDomain``).
    """
    raw = s.strip() if isinstance(s, str) else ""
    raw = raw.removeprefix("docker://")
    if not raw:
        raise _bad(s, "empty name")
    if _HEX64_RE.match(raw):
        raise UsageError(f"invalid repository name ({raw}), cannot specify 64-byte hexadecimal strings")
    digest: str | None = None
    if "@" in raw:
        raw, digest = raw.split("@", 1)
        try:
            parse_digest(digest)
        except InvalidInput as e:
            raise _bad(s, e.message.removeprefix("invalid digest ")) from e
    tag: str | None = None
    slash = raw.rfind("/")
    colon = raw.rfind(":")
    if colon > slash:
        raw, tag = raw[:colon], raw[colon + 1 :]
        if not _TAG_RE.match(tag):
            raise _bad(s, f"invalid tag {tag!r}")
    domain: str | None = None
    path = raw
    first, sep, rest = raw.partition("/")
    if sep and (("." in first or ":" in first) or first == "localhost" or first.lower() != first):
        domain, path = first, rest
        if not _DOMAIN_RE.match(domain):
            raise _bad(s, f"invalid registry {domain!r}")
    if path.lower() != path:
        raise _bad(s, "repository name must be lowercase")
    if not _PATH_RE.match(path):
        raise _bad(s)
    if len((domain or DOCKER_DOMAIN) + "/" + path) > MAX_NAME_LENGTH:
        raise _bad(s, f"repository name must not be more than {MAX_NAME_LENGTH} characters")
    return ParsedName(domain, path, tag, digest)


def parse_reference(s: str, default_registry: str = DOCKER_DOMAIN) -> ImageReference:
    """Parse and normalise like Podman for qualified names; short names go to ``default_registry``."""
    return split_reference(s).qualify(default_registry)


def is_short_name(s: str) -> bool:
    return split_reference(s).is_short
