"""What ``Store.gc`` removed; its own module so that opening the store (every ``run``) does not create
the dataclass."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class GCResult:
    """The blobs, layers and temp files one ``gc`` removed."""

    blobs: list[str] = field(default_factory=list)
    layers: list[str] = field(default_factory=list)
    temps: int = 0
    skipped: bool = False  # another writer was active: nothing was removed
