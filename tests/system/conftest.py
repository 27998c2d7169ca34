"""Fixtures shared by the system tests (the CLI as a user types it)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

BUSYBOX = "127.0.0.1:5000/busybox:latest"  # the name stored in the test env's busybox docker-archive


@pytest.fixture
def podpy(podpy_cli, testenv: dict[str, Any]) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    """``podpy_cli`` with busybox loaded from the test env's docker-archive (no registry needed).

    At teardown every container goes (``rm -f -a``), so no monitor or container outlives the test.
    """
    r = podpy_cli("load", "-i", testenv["archives"]["busybox-docker-archive"]["path"])
    assert r.returncode == 0, r.stderr
    yield podpy_cli
    podpy_cli("rm", "-f", "-a", "-t", "0")
