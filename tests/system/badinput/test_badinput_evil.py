"""`podpy pull` of the hostile images the real registry serves (env.json `evil_images`).

Each one must be refused with exit 125 and one `Error:` line that names the problem, and must leave
nothing behind: no blob, layer dir, temp file or DB row, no change to `podpy images -a`, nothing
written outside the store. Podman 4.3 pulls several of these without complaint; podpy must not.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.system.badinput.conftest import CAP_ENV, Refusal

# name -> regexes the error line must all contain (case-insensitive)
ESCAPE = r"\.\.|escap|outside|unsafe"
CASES: dict[str, tuple[str, ...]] = {
    "dotdot": (r"escape\.txt", ESCAPE),
    "dotdot-nested": (r"escape\.txt", ESCAPE),
    "absolute": (r"abs-escape\.txt", r"absolute|" + ESCAPE),
    "symlink-same": (r"pwned\.txt|data/link", r"symlink"),
    "symlink-lower": (r"pwned\.txt|data/link", r"symlink"),
    "hardlink-outside": (r"hard ?link", r"etc/passwd|data/hl"),
    "hardlink-absolute": (r"hard ?link", r"etc/passwd|data/hl"),
    "truncated-gzip": (r"gzip|decompress", r"truncat|unexpected end|end of (data|stream|file)|incomplete"),
    "garbage-gzip": (r"gzip|decompress", r"invalid|not|corrupt|garbage|bad|magic"),
    "garbage-zstd": (r"zstd|decompress", r"invalid|not|corrupt|garbage|bad|magic|unknown"),
    "unknown-mediatype": (re.escape("application/vnd.podpy.test.unknown"), r"media ?type"),
    "oversize-config": (r"config", r"4 ?MiB|4194304"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_evil_image_refused(name: str, evil: dict[str, Any], refusal: Refusal) -> None:
    img = evil[name]
    refusal.refuse(img["ref"], CASES[name])


@pytest.mark.parametrize("name", ["size-too-small", "size-too-big"])
def test_descriptor_size_lie_refused(name: str, evil: dict[str, Any], refusal: Refusal) -> None:
    """The layer descriptor's size is 10 bytes off the blob's: refused, naming size and the declared number."""
    img = evil[name]
    (layer,) = img["layers"]
    assert layer["size"] != layer["actual_size"], f"env.json {name}: the size should lie"
    refusal.refuse(img["ref"], (r"size", rf"\b{layer['size']}\b"))


def test_evil_image_refused_by_digest(evil: dict[str, Any], refusal: Refusal) -> None:
    """Pulling by digest takes the same checks (the digest only pins the manifest, not its contents)."""
    refusal.refuse(evil["dotdot"]["digest_ref"], CASES["dotdot"])


@pytest.mark.slow
def test_decompression_bomb_refused_at_cap(evil: dict[str, Any], refusal: Refusal) -> None:
    """A 1 MiB gzip that unpacks to 1 GiB stops at the (lowered) cap with an error naming it."""
    img = evil["bomb"]
    cap = 16 * 1024 * 1024
    assert img["unpacked_size"] > cap
    refusal.refuse(
        img["ref"],
        (r"unpack|decompress", r"bomb|more than|exceed|limit|cap|too (big|large)", r"16777216|16 ?MiB"),
        env={CAP_ENV: str(cap)},
        timeout=120,
    )
