"""Fixtures for the rootless tests: a private root/runroot whose pause process is stopped afterwards."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from podpy.rootless.pause import stop_pause_process
from podpy.util.paths import Paths


@pytest.fixture
def user_paths(podpy_root: Any, podpy_cli: Any) -> Iterator[Paths]:
    """The Paths of podpy_cli's private root; the pause process (and subuid-owned files) go at teardown."""
    if os.geteuid() == 0:
        pytest.skip("rootless tests run as the unprivileged user: tests/env/as-user.sh python -m pytest ...")
    paths = Paths(root=podpy_root.root, runroot=podpy_root.runroot)
    try:
        yield paths
    finally:
        if (paths.runroot / "pause.pid").exists():
            # files chowned to subordinate ids can only be removed from inside the namespace
            podpy_cli("unshare", "rm", "-rf", str(paths.root))
        stop_pause_process(paths)


def pause_processes(user_ns: str) -> list[int]:
    """Pids of live `podpy pause` processes of this user whose user namespace is ``user_ns``."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/comm") as f:
                if f.read().strip() != "podpy pause":
                    continue
            with open(f"/proc/{name}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                    continue
            if os.readlink(f"/proc/{name}/ns/user") == user_ns:
                found.append(int(name))
        except OSError:
            continue
    return found
