"""Content digests (``sha256:<64 lower-case hex>``), validated strictly because they become file names."""

from __future__ import annotations

import re
from dataclasses import dataclass

from podpy.util.errors import InvalidInput

_ALGOS = {"sha256": 64, "sha512": 128}
_DIGEST_RE = re.compile(r"^([a-z0-9]+(?:[.+_-][a-z0-9]+)*):([a-f0-9]+)$")


@dataclass(frozen=True, order=True)
class Digest:
    """A validated ``algorithm:hex`` digest (a docstring spares ``dataclass`` building one at import)."""

    algorithm: str
    hex: str

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"

    @property
    def short(self) -> str:
        """The 12-character form podman prints."""
        return self.hex[:12]


def parse_digest(value: str) -> Digest:
    """Parse and validate; anything that could be a path trick or upper-case hex is refused."""
    m = _DIGEST_RE.match(value or "")
    if not m:
        raise InvalidInput(f"invalid digest {value!r}: expected sha256:<64 lower-case hex characters>")
    algo, hexpart = m.group(1), m.group(2)
    want = _ALGOS.get(algo)
    if want is None:
        raise InvalidInput(f"invalid digest {value!r}: unsupported algorithm {algo!r} (use sha256)")
    if len(hexpart) != want:
        raise InvalidInput(
            f"invalid digest {value!r}: {algo} needs {want} hex characters, got {len(hexpart)}"
        )
    return Digest(algo, hexpart)


def is_digest(value: str) -> bool:
    try:
        parse_digest(value)
    except InvalidInput:
        return False
    return True
