"""The exec tests' container: one per runtime (podpy's own and runc)."""

from __future__ import annotations

from typing import Any

import pytest

IMG = "127.0.0.1:5000/busybox:latest"


@pytest.fixture(params=["podpy", "runc"])
def ctr(request, podpy_cli, testenv: dict[str, Any]):  # type: ignore[no-untyped-def]
    """A running detached container (``sleep 1000``) under each runtime; removed at teardown."""
    r = podpy_cli("load", "-i", testenv["archives"]["busybox-docker-archive"]["path"])
    assert r.returncode == 0, r.stderr
    name = f"ex-{request.param}"
    extra = ["--runtime", "runc"] if request.param == "runc" else []
    r = podpy_cli("run", "-d", *extra, "--name", name, IMG, "sleep", "1000")
    assert r.returncode == 0, r.stderr
    yield podpy_cli, name
    podpy_cli("rm", "-f", "-t", "0", name)
