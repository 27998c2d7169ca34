"""Local image-name matching, the way Podman's local lookup treats short names and IDs.

The store receives fully normalised names (``docker.io/library/busybox:latest``) from the engine;
these helpers only decide which stored names a user-typed string may mean.
"""

from __future__ import annotations

import re
from collections import namedtuple

HEX_PREFIX_RE = re.compile(r"^[a-f0-9]{3,64}$")


class NameParts(namedtuple("NameParts", "domain path tag digest")):
    """``domain`` ("" when none), ``path`` (without domain, e.g. "library/busybox"), ``tag`` ("" when
    none), ``digest`` ("" or "sha256:..."). A named tuple: dataclasses cost start-up time."""

    __slots__ = ()
    domain: str
    path: str
    tag: str
    digest: str

    @property
    def repo(self) -> str:
        return f"{self.domain}/{self.path}" if self.domain else self.path


def split_name(name: str) -> NameParts:
    """Split ``[domain/]path[:tag][@digest]`` without normalising anything."""
    digest = ""
    if "@" in name:
        name, digest = name.split("@", 1)
    tag = ""
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = name.rsplit(":", 1)
    domain = ""
    if "/" in name:
        first, rest = name.split("/", 1)
        if "." in first or ":" in first or first == "localhost" or first != first.lower():
            domain, name = first, rest
    return NameParts(domain, name, tag, digest)


def strip_library(path: str) -> str:
    return path[len("library/") :] if path.startswith("library/") else path


def short_name_matches(typed: NameParts, stored: str) -> bool:
    """Whether a stored full name (``domain/path:tag``) matches a short name typed without domain.

    ``busybox`` matches ``docker.io/library/busybox``, ``localhost/busybox`` and ``quay.io/x/busybox``;
    ``x/busybox`` matches ``quay.io/x/busybox``. Tags must match (caller supplies ``latest`` default).
    """
    s = split_name(stored)
    if typed.tag and s.tag != typed.tag:
        return False
    if typed.digest:
        return False
    if s.path == typed.path or strip_library(s.path) == typed.path:
        return True
    return s.path.endswith("/" + typed.path)
