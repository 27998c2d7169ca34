"""`podpy pull` as typed: --retry/--retry-delay (whole-operation retries), error wording, and progress.

The 5xx case needs a server that fails on purpose (a real docker-registry never does), so it uses the
fake registry of test_pull_engine; everything else runs against the real loopback registries.
"""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import TREE, _podpy_command

from .test_pull_engine import FakeRegistry

Run = Any


@pytest.fixture
def failing() -> Iterator[FakeRegistry]:
    r = FakeRegistry(slow_seconds=0.0)
    yield r
    r.close()


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("Error:")]


def test_retry_repeats_the_whole_pull_after_a_5xx(podpy_cli: Run, failing: FakeRegistry) -> None:
    ref = f"127.0.0.1:{failing.port}/flaky:latest"
    failing.fail_manifest = 1
    p = podpy_cli("pull", "--tls-verify=false", "--retry", "0", ref)
    assert p.returncode == 125
    assert _error_lines(p.stderr) == [
        f"Error: initializing source docker://{ref}: "
        f'Get "http://127.0.0.1:{failing.port}/v2/flaky/manifests/latest": service unavailable'
    ]
    assert "retrying" not in p.stderr and failing.manifest_requests == 1
    assert podpy_cli("images", "-q", check=True).stdout == ""

    failing.manifest_requests = 0
    failing.fail_manifest = 2
    p = podpy_cli("pull", "--tls-verify=false", "--retry", "2", "--retry-delay", "50ms", ref)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == failing.config_digest.split(":")[1]
    warnings = re.findall(r"Failed, retrying in (\S+) \.\.\. \((\d/\d)\)", p.stderr)
    assert warnings == [("50ms", "1/2"), ("50ms", "2/2")]
    assert failing.manifest_requests == 3


def test_default_retry_delay_backs_off_from_one_second(podpy_cli: Run) -> None:
    ref = "127.0.0.1:1/nothing:latest"
    p = podpy_cli("pull", "--tls-verify=false", "--retry", "2", ref)
    assert p.returncode == 125
    assert re.findall(r"Failed, retrying in (\S+) \.\.\. \((\d/\d)\)", p.stderr) == [
        ("1s", "1/2"),
        ("2s", "2/2"),
    ]


def test_errors_that_a_retry_cannot_fix_are_not_retried(podpy_cli: Run, testenv: dict[str, Any]) -> None:
    host = testenv["registries"]["open"]["host"]
    p = podpy_cli("pull", "--tls-verify=false", "--retry", "3", f"{host}/ha-no-such-image")
    assert p.returncode == 125 and "retrying" not in p.stderr
    assert _error_lines(p.stderr) == [
        f"Error: initializing source docker://{host}/ha-no-such-image:latest: "
        f"reading manifest latest in {host}/ha-no-such-image: manifest unknown"
    ]
    reg = testenv["registries"]["token"]
    p = podpy_cli("pull", "--tls-verify=false", "--creds", "testuser:wrong", f"{reg['host']}/private/busybox")
    assert p.returncode == 125 and "retrying" not in p.stderr
    (line,) = _error_lines(p.stderr)
    assert "invalid username/password" in line
    assert not re.search(r"\b(\w+): \1\b", line.lower()), line  # no "unauthorized: unauthorized"


def test_unreachable_registry_is_worded_like_podman(podpy_cli: Run, podman: Run) -> None:
    ref = "127.0.0.1:1/x"
    p = podpy_cli("pull", "--tls-verify=false", "--retry", "0", ref)
    assert p.returncode == 125
    ours = _error_lines(p.stderr)
    assert ours == [
        "Error: initializing source docker://127.0.0.1:1/x:latest: pinging container registry 127.0.0.1:1: "
        'Get "http://127.0.0.1:1/v2/": dial tcp 127.0.0.1:1: connect: connection refused'
    ]
    theirs = podman("pull", "--tls-verify=false", ref, check=False)
    assert _error_lines(theirs.stderr) == ours
    assert "Errno" not in p.stderr and "Traceback" not in p.stderr


def _run_on_tty(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run ``args`` with stdout and stderr on a pseudo-terminal; (exit code, everything it wrote)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    out = b""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        r, _, _ = select.select([master], [], [], 1.0)
        if r:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
        elif proc.poll() is not None:
            break
    os.close(master)
    return proc.wait(timeout=60), out.decode(errors="replace")


def test_progress_bars_on_a_tty_plain_lines_otherwise(
    podpy_cli: Run, podpy_root: Any, testenv: dict[str, Any]
) -> None:
    img = testenv["images"]["layered-oci"]
    env = dict(
        os.environ,
        PYTHONPATH=str(TREE),
        XDG_CONFIG_HOME=str(podpy_root.config_home),
        TERM="xterm-256color",
        COLUMNS="120",
    )
    rc, out = _run_on_tty(
        [*_podpy_command(), *podpy_root.args, "pull", "--tls-verify=false", img["ref"]], env
    )
    assert rc == 0, out
    assert "\x1b[" in out  # a live display, redrawn with escape sequences
    for layer in img["layers"]:
        short = layer["digest"].split(":")[1][:12]
        assert re.search(rf"Copying blob {short}.*━.*done", out), (short, out[-2000:])
    assert "Writing manifest to image destination" in out
    assert out.rstrip().endswith(img["image_id"])

    # not a terminal: podman's plain lines, no escape sequences; -q: nothing but the ID
    podpy_cli("rmi", "-a", "-f", check=True)
    p = podpy_cli("pull", "--tls-verify=false", img["ref"], check=True)
    assert "\x1b" not in p.stderr and "━" not in p.stderr
    blobs = [line for line in p.stderr.splitlines() if line.startswith("Copying blob ")]
    assert sorted(blobs) == sorted(f"Copying blob {layer['digest']}" for layer in img["layers"])
    podpy_cli("rmi", "-a", "-f", check=True)
    p = podpy_cli("pull", "-q", "--tls-verify=false", img["ref"], check=True)
    assert p.stderr == "" and p.stdout == img["image_id"] + "\n"
