"""Fixtures for runtime tests: a busybox rootfs built in tmp_path, bundles, and runtimes to run them.

Each runtime runs inside a fresh user + mount namespace made by util-linux ``unshare``
(root mapped to the test user, the subuid range mapped after it), which is how podpy calls its
runtime inside its own user namespace. Must run as the unprivileged user (tests/env/as-user.sh).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from podpy.runtime import seccomp
from podpy.runtime import spec as rs
from podpy.runtime.users import resolve_user
from podpy.spec.container import ContainerSpec

TREE = Path(__file__).resolve().parents[3]
BUSYBOX = shutil.which("busybox") or "/bin/busybox"


def _userns_prefix() -> list[str]:
    return ["unshare", "--user", "--map-root-user", "--map-auto", "--mount", "--"]


@pytest.fixture(scope="session", autouse=True)
def _unprivileged() -> None:
    if os.geteuid() == 0:
        pytest.skip("runtime integration tests run as the unprivileged user: use tests/env/as-user.sh")
    if not os.path.exists(BUSYBOX):
        pytest.skip("busybox-static is not installed")


def build_rootfs(dest: Path) -> Path:
    """A minimal static rootfs: busybox with its applets, /etc/passwd and /etc/group."""
    (dest / "bin").mkdir(parents=True)
    (dest / "etc").mkdir()
    shutil.copy2(BUSYBOX, dest / "bin/busybox")
    applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True, check=True).stdout.split()
    for a in applets:
        if a != "busybox":
            os.symlink("busybox", dest / "bin" / a)
    (dest / "etc/passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n"
    )
    (dest / "etc/group").write_text("root:x:0:\nuser:x:1000:\nwheel:x:10:user\n")
    for d in ("root", "tmp", "proc", "sys", "dev"):
        (dest / d).mkdir(exist_ok=True)
    return dest


@pytest.fixture(scope="session")
def rootfs_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_rootfs(tmp_path_factory.mktemp("bb") / "rootfs")


@dataclass
class Bundle:
    path: Path
    rootfs: Path
    config: dict[str, Any]

    def write(self) -> None:
        (self.path / "config.json").write_text(json.dumps(self.config, indent=1))


@pytest.fixture
def make_bundle(tmp_path: Path, rootfs_template: Path) -> Callable[..., Bundle]:
    counter = [0]

    def make(args: list[str], *, image: dict[str, Any] | None = None, prepare: Callable[[Path], None] | None = None,
             **spec_kw: Any) -> Bundle:  # fmt: skip
        counter[0] += 1
        path = tmp_path / f"bundle{counter[0]}"
        path.mkdir()
        rootfs = path / "rootfs"
        shutil.copytree(rootfs_template, rootfs, symlinks=True)
        if prepare:
            prepare(rootfs)
        spec_kw.setdefault("network", "none")
        spec = ContainerSpec(image="busybox", command=args, **spec_kw)
        user = resolve_user(str(rootfs), spec.user or "")
        profile = None if spec.seccomp == "unconfined" else seccomp.load_default_profile()
        cfg = rs.generate(spec, image or {"Env": ["PATH=/bin"]}, rootfs="rootfs", container_id="0123456789abcdef",
                          user=user, host=rs.HostLimits.current(), seccomp_profile=profile)  # fmt: skip
        b = Bundle(path, rootfs, cfg)
        b.write()
        return b

    return make


@dataclass
class Runtime:
    name: str
    state_root: Path

    def argv(self, *verb: str) -> list[str]:
        if self.name == "runc":
            return ["runc", "--root", str(self.state_root), *verb]
        return [sys.executable, "-m", "podpy.runtime", "--root", str(self.state_root), *verb]

    def run(self, bundle: Bundle, cid: str = "ctr", timeout: float = 60, extra: list[str] | None = None) -> subprocess.CompletedProcess[str]:  # fmt: skip
        cmd = _userns_prefix() + self.argv("run", *(extra or []), "--bundle", str(bundle.path), cid)
        env = dict(os.environ, PYTHONPATH=str(TREE))
        return subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, env=env, stdin=subprocess.DEVNULL
        )

    def popen(self, bundle: Bundle, cid: str, extra: list[str]) -> subprocess.Popen[str]:
        cmd = _userns_prefix() + self.argv("run", *extra, "--bundle", str(bundle.path), cid)
        env = dict(os.environ, PYTHONPATH=str(TREE))
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                stdin=subprocess.DEVNULL)  # fmt: skip


@pytest.fixture(params=["podpy", "runc"])
def runtime(request: pytest.FixtureRequest, tmp_path: Path) -> Runtime:
    if request.param == "runc" and not shutil.which("runc"):
        pytest.fail("runc is not installed (the test environment installs it)")
    return Runtime(request.param, tmp_path / f"state-{request.param}")


@pytest.fixture
def podpy_runtime(tmp_path: Path) -> Runtime:
    return Runtime("podpy", tmp_path / "state-podpy")
