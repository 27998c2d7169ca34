"""Fixtures for the bad-input tests: a refusing pull checker, a fake registry, pause-process cleanup."""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.system.badinput import storecheck
from tests.system.badinput.fakereg import FakeRegistry

EXIT_PODPY = 125  # podman's exit code for its own errors, which these all are

# The knob that lowers the cap on a layer's unpacked size, so the decompression-bomb test does not
# have to write 64 GiB to reach the default cap. Read by the store when the engine opens it.
CAP_ENV = "PODPY_MAX_UNPACKED"


def error_line(proc: subprocess.CompletedProcess[str], what: str) -> str:
    """Exit 125, no traceback, exactly one ``Error:`` line and it is the last thing on stderr."""
    both = proc.stdout + proc.stderr
    info = f"{what}\nexit {proc.returncode}\nstdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
    assert "Traceback (most recent call last)" not in both, f"a Python traceback instead of an error: {info}"
    assert proc.returncode == EXIT_PODPY, f"expected exit {EXIT_PODPY}: {info}"
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("Error:")]
    assert len(errors) == 1, f"expected exactly one 'Error:' line on stderr: {info}"
    assert lines[-1] == errors[0], (
        f"the 'Error:' line must be the last line of stderr (one-line error): {info}"
    )
    assert len(errors[0]) > len("Error: ") + 10, f"an empty error message: {info}"
    return errors[0]


def assert_names(line: str, patterns: tuple[str, ...], what: str) -> None:
    """Every regex of ``patterns`` (case-insensitive) is in the error line: it names the problem."""
    missing = [p for p in patterns if not re.search(p, line, re.IGNORECASE)]
    assert not missing, f"{what}: the error does not name the problem (missing {missing}):\n  {line}"


@dataclass
class Refusal:
    """Runs ``podpy pull`` that must fail and checks the error and that nothing was half-stored."""

    cli: Callable[..., subprocess.CompletedProcess[str]]
    root: Path
    authfile: Path

    def init_store(self) -> None:
        """Let podpy create its (empty) store first, so that only what the failed pull adds is compared."""
        storecheck.list_images(self.cli)

    def pull(self, *args: str, env: dict[str, str | None] | None = None, timeout: float = 120) -> Any:
        return self.cli("pull", *args, env=env, timeout=timeout)

    def refuse(
        self,
        ref: str,
        patterns: tuple[str, ...],
        *,
        args: tuple[str, ...] = ("--tls-verify=false",),
        env: dict[str, str | None] | None = None,
        timeout: float = 120,
        init: bool = True,
    ) -> str:
        """``podpy pull ARGS REF`` fails with exit 125, one clear line naming ``patterns``, nothing stored."""
        if init:
            self.init_store()
        before = storecheck.take(self.root, self.cli)
        proc = self.pull(*args, ref, env=env, timeout=timeout)
        what = f"podpy pull {' '.join(args)} {ref}"
        line = error_line(proc, what)
        assert_names(line, patterns, what)
        storecheck.assert_unchanged(before, self.cli, what)
        print(f"\n{what}\n  -> {line}")  # shown with -s / on failure: the message users get
        return line


@pytest.fixture
def refusal(podpy_cli: Any, podpy_root: Any, tmp_path: Path) -> Refusal:
    authfile = tmp_path / "auth.json"
    authfile.write_text(json.dumps({"auths": {}}))
    authfile.chmod(0o600)
    return Refusal(podpy_cli, podpy_root.root, authfile)


@pytest.fixture
def evil(testenv: dict[str, Any]) -> dict[str, Any]:
    """env.json's hostile images (tests/env/README.md, "Hostile images")."""
    images: dict[str, Any] = testenv.get("evil_images") or {}
    assert images, "env.json has no evil_images: rerun tests/env/setup.sh as root"
    return images


@pytest.fixture
def fake_registry() -> Iterator[FakeRegistry]:
    reg = FakeRegistry()
    try:
        yield reg
    finally:
        reg.close()


@pytest.fixture(autouse=True)
def _stop_pause_process(podpy_root: Any, podpy_cli: Any) -> Iterator[None]:
    """After each test: remove subuid-owned files from inside the namespace and stop its pause process."""
    yield
    from podpy.util.paths import Paths

    paths = Paths(root=podpy_root.root, runroot=podpy_root.runroot)
    if (paths.runroot / "pause.pid").exists():
        with contextlib.suppress(Exception):
            podpy_cli("unshare", "rm", "-rf", str(paths.root), timeout=60)
        with contextlib.suppress(Exception):
            from podpy.rootless.pause import stop_pause_process

            stop_pause_process(paths)
