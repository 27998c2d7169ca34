"""Fixtures for `podpy system` / `podpy info` tests."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from podpy.rootless.pause import stop_pause_process
from podpy.util.paths import Paths


@pytest.fixture
def paths(podpy_root: Any) -> Iterator[Paths]:
    """podpy_root's Paths; its pause process goes at teardown."""
    if os.geteuid() == 0:
        pytest.skip("system tests run as the unprivileged user: tests/env/as-user.sh python -m pytest ...")
    p = Paths(root=podpy_root.root, runroot=podpy_root.runroot)
    yield p
    stop_pause_process(p)


def write_storage_conf(config_home: Path, text: str) -> Path:
    f = config_home / "containers" / "storage.conf"
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text(text)
    return f
