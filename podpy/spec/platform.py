"""Platforms (os/arch/variant) normalised the way Podman and containerd do."""

from __future__ import annotations

import os
from dataclasses import dataclass

from podpy.util.errors import UsageError

_ARCH_ALIASES = {
    "x86_64": "amd64",
    "x86-64": "amd64",
    "aarch64": "arm64",
    "armhf": "arm",
    "armel": "arm",
    "i386": "386",
    "i686": "386",
}


@dataclass(frozen=True)
class Platform:
    """An image platform (os/architecture[/variant]), as in an OCI index."""

    os: str
    architecture: str
    variant: str = ""

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)

    def normalized(self) -> Platform:
        arch = _ARCH_ALIASES.get(self.architecture, self.architecture)
        variant = self.variant
        if arch == "arm64" and variant in ("", "8"):
            variant = "v8"
        if arch == "arm" and variant == "":
            variant = "v7"
        if arch == "arm" and variant.isdigit():
            variant = "v" + variant
        if arch == "amd64" and variant == "v1":
            variant = ""
        return Platform(self.os.lower(), arch, variant)

    def matches(self, other: Platform) -> bool:
        """True when an index entry ``other`` can run on this (wanted) platform."""
        a, b = self.normalized(), other.normalized()
        if a.os != b.os or a.architecture != b.architecture:
            return False
        return not a.variant or a.variant == b.variant


def host_platform() -> Platform:
    machine = os.uname().machine.lower()  # platform.machine() without importing platform (~2 ms)
    return Platform("linux", _ARCH_ALIASES.get(machine, machine)).normalized()


def parse_platform(value: str) -> Platform:
    """``os/arch[/variant]`` as given to ``--platform``."""
    parts = value.split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise UsageError(f"invalid platform {value!r}: expected os/arch[/variant], e.g. linux/arm64/v8")
    return Platform(parts[0], parts[1], parts[2] if len(parts) == 3 else "").normalized()


def platform_from_flags(
    platform: str | None, os_: str | None = None, arch: str | None = None, variant: str | None = None
) -> Platform:
    """Combine --platform with --os/--arch/--variant the way podman pull does."""
    if platform and (os_ or arch or variant):
        raise UsageError("--platform cannot be combined with --os, --arch or --variant")
    if platform:
        return parse_platform(platform)
    host = host_platform()
    return Platform(
        os_ or host.os, arch or host.architecture, variant or (host.variant if not arch else "")
    ).normalized()
