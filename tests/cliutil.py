"""Small helpers for tests that drive the podpy CLI: checked output, inspect documents, polling."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any


def ok(r: Any) -> str:
    """stdout of a command that must have succeeded (the failure shows code, stdout and stderr)."""
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    return str(r.stdout)


def inspect(podpy: Any, ref: str) -> dict[str, Any]:
    return json.loads(ok(podpy("container", "inspect", ref)))[0]


def poll(what: Callable[[], Any], done: Callable[[Any], bool], timeout: float = 30, every: float = 0.1) -> Any:
    """``what()`` until ``done`` says so or ``timeout`` passes (then the last value, for the assertion)."""
    deadline = time.monotonic() + timeout
    while True:
        v = what()
        if done(v) or time.monotonic() > deadline:
            return v
        time.sleep(every)
