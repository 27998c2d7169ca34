"""Fixtures for monitor tests: a tiny busybox bundle for runc, and a spawner inside a user namespace.

The spawner is a short Python process started with util-linux ``unshare`` (root mapped to the
test user, subordinate ids after it), like podpy's own namespace: it calls ``spawn_monitor`` and
prints the handle as JSON, then exits, so every test also checks that the monitor and the
container outlive the process that started them. Runs as the unprivileged user.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

TREE = Path(__file__).resolve().parents[3]
BUSYBOX = "/bin/busybox"
UNSHARE = ["unshare", "--user", "--map-root-user", "--map-auto", "--mount", "--"]

SPAWNER = r"""
import json, sys
from podpy.monitor.spawn import MonitorConfig, MonitorError, spawn_monitor
cfg = MonitorConfig(**json.loads(sys.argv[1]))
try:
    h = spawn_monitor(cfg)
except MonitorError as e:
    print(json.dumps({"error": e.message, "exit_code": e.exit_code}))
    sys.exit(0)
print(json.dumps({"pid": h.pid, "monitor_pid": h.monitor_pid, "monitor_start": h.monitor_start}))
"""


@pytest.fixture(scope="session", autouse=True)
def _unprivileged() -> None:
    if os.geteuid() == 0:
        pytest.skip("monitor integration tests run as the unprivileged user: use tests/env/as-user.sh")
    if not shutil.which("runc"):
        pytest.fail("runc is not installed (the test environment installs it)")


def build_rootfs(dest: Path) -> Path:
    (dest / "bin").mkdir(parents=True)
    shutil.copy2(BUSYBOX, dest / "bin/busybox")
    applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True, check=True).stdout.split()
    for a in applets:
        if a != "busybox":
            os.symlink("busybox", dest / "bin" / a)
    for d in ("etc", "proc", "sys", "dev", "tmp", "root"):
        (dest / d).mkdir(exist_ok=True)
    (dest / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    return dest


@pytest.fixture(scope="session")
def rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_rootfs(tmp_path_factory.mktemp("bb") / "rootfs")


@pytest.fixture(scope="session")
def base_spec(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """`runc spec --rootless`, minus its own user namespace (we already run in podpy's), as podman does."""
    d = tmp_path_factory.mktemp("spec")
    subprocess.run(["runc", "spec", "--rootless"], cwd=d, check=True)
    spec = json.loads((d / "config.json").read_text())
    linux = spec["linux"]
    linux.pop("uidMappings", None)
    linux.pop("gidMappings", None)
    linux["namespaces"] = [n for n in linux["namespaces"] if n["type"] != "user"]
    linux.pop("resources", None)
    linux.pop("cgroupsPath", None)
    spec["mounts"] = [m for m in spec["mounts"] if m["destination"] != "/sys/fs/cgroup"]
    spec["process"]["env"] = ["PATH=/bin", "TERM=xterm"]
    return spec


@dataclass
class Env:
    tmp: Path
    rootfs: Path
    base_spec: dict[str, Any]
    counter: int = 0

    def bundle(self, args: list[str], terminal: bool = False, **process: Any) -> Path:
        self.counter += 1
        b = self.tmp / f"b{self.counter}"
        b.mkdir()
        spec = json.loads(json.dumps(self.base_spec))
        spec["root"] = {"path": str(self.rootfs), "readonly": True}
        spec["process"].update(args=args, terminal=terminal, **process)
        (b / "config.json").write_text(json.dumps(spec))
        return b

    def config(self, bundle: Path, cid: str, **kw: Any) -> dict[str, Any]:
        state = Path(f"/tmp/pm-{os.getpid()}-{cid}")  # short: it holds sockets
        shutil.rmtree(state, ignore_errors=True)
        state.mkdir()
        d: dict[str, Any] = {
            "container_id": cid,
            "bundle": str(bundle),
            "state_dir": str(state),
            "runtime": ["runc"],
            "runtime_root": str(self.tmp / "runc-root"),
        }
        d.update(kw)
        return d

    def spawn(self, cfg: dict[str, Any], timeout: float = 60) -> dict[str, Any]:
        env = dict(os.environ, PYTHONPATH=str(TREE))
        r = subprocess.run([*UNSHARE, sys.executable, "-c", SPAWNER, json.dumps(cfg)],
                           capture_output=True, text=True, timeout=timeout, env=env)  # fmt: skip
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    def runc(self, *args: str) -> subprocess.CompletedProcess[str]:
        """runc in a fresh namespace of the same mapping (ok for kill/delete/state by id)."""
        return subprocess.run([*UNSHARE, "runc", "--root", str(self.tmp / "runc-root"), *args],
                              capture_output=True, text=True, timeout=30)  # fmt: skip


@pytest.fixture
def env(tmp_path: Path, rootfs: Path, base_spec: dict[str, Any]) -> Env:
    e = Env(tmp_path, rootfs, base_spec)
    yield e  # type: ignore[misc]
    # kill whatever is left
    root = tmp_path / "runc-root"
    if root.is_dir():
        for cid in os.listdir(root):
            e.runc("delete", "--force", cid)
    for p in Path("/tmp").glob(f"pm-{os.getpid()}-*"):
        shutil.rmtree(p, ignore_errors=True)


def wait_for(pred: Callable[[], Any], timeout: float = 15, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
