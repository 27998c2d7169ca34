"""``--retry-delay``-style durations parsed like Go's time.ParseDuration (as Podman does)."""

from __future__ import annotations

import pytest

from podpy.cli.image import parse_duration
from podpy.util.errors import UsageError


@pytest.mark.parametrize(
    ("v", "want"), [("2s", 2.0), ("500ms", 0.5), ("1m30s", 90.0), ("3", 3.0), (None, None)]
)
def test_parse_duration(v: str | None, want: float | None) -> None:
    assert parse_duration(v) == want


def test_parse_duration_rejects() -> None:
    with pytest.raises(UsageError, match="invalid duration"):
        parse_duration("2x")
