"""Where ``podpy push`` sends an image: the destination is normalised like podman's, refusals say why."""

from __future__ import annotations

import pytest

from podpy.engine.transfer import _push_dest
from podpy.util.errors import UsageError


@pytest.mark.parametrize(
    ("name", "want"),
    [
        ("127.0.0.1:5000/a/b", "127.0.0.1:5000/a/b:latest"),
        ("docker://127.0.0.1:5000/a:1", "127.0.0.1:5000/a:1"),
        ("quay.io/x/y:v2", "quay.io/x/y:v2"),
        ("busybox", "docker.io/library/busybox:latest"),
    ],
)
def test_destination_normalised(name: str, want: str) -> None:
    assert str(_push_dest(name)) == want


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("127.0.0.1:5000/a@sha256:" + "a" * 64, "cannot carry a digest"),
        ("localhost/bb:1", "local-only"),
        ("127.0.0.1:5000/UPPER", "lowercase"),
    ],
)
def test_destination_refused(name: str, why: str) -> None:
    with pytest.raises(UsageError, match=why):
        _push_dest(name)
