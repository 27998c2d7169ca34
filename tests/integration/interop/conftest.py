"""Fixtures for interop with the reference peers: podman and skopeo with their own private storage.

podman runs as the test user with ``--root/--runroot`` under the test's tmp dir and the vfs driver,
so it never touches the user's real storage and leaves no overlay mounts behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# What `podman run`/`podpy run` print about an image's root filesystem: every non-directory with type+mode,
# owner, size, mtime, link count and symlink target; every directory with mode and owner; an md5 of every
# regular file. Files the runtime itself writes into the container (hostname, hosts, resolv.conf, mtab) and the
# anonymous volume are left out: they differ between two engines by design.
_SKIP = '! -path "data/vol*" ! -path etc/hostname ! -path etc/hosts ! -path etc/resolv.conf ! -path etc/mtab'
LISTING = (
    "cd / && "
    f'find data opq home etc bin {_SKIP} ! -type d -exec stat -c "%n %f %u %g %s %Y %h %N" {{}} + | sort; '
    f'find data opq home etc bin {_SKIP} -type d -exec stat -c "%n %f %u %g" {{}} + | sort; '
    f"find data opq etc {_SKIP} -type f -exec md5sum {{}} + | sort"
)


def run(
    cmd: list[str], *, check: bool = True, timeout: float = 300, **kw: Any
) -> subprocess.CompletedProcess[Any]:
    proc = subprocess.run(
        cmd, capture_output=True, timeout=timeout, stdin=kw.pop("stdin", subprocess.DEVNULL), **kw
    )
    if check and proc.returncode != 0:
        err = proc.stderr if isinstance(proc.stderr, str) else proc.stderr.decode(errors="replace")
        raise AssertionError(f"{' '.join(cmd)} exited {proc.returncode}\nstderr:\n{err[-3000:]}")
    return proc


@dataclass
class Podman:
    """podman with a private store; ``__call__`` runs one command and returns its text output."""

    root: Path
    runroot: Path

    @property
    def argv(self) -> list[str]:
        return ["podman", "--root", str(self.root), "--runroot", str(self.runroot), "--storage-driver", "vfs"]

    def __call__(
        self, *args: str, check: bool = True, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        return run([*self.argv, *args], check=check, timeout=timeout, text=True)

    def image_id(self, ref: str) -> str:
        return self("image", "inspect", "--format", "{{.Id}}", ref).stdout.strip().removeprefix("sha256:")

    def inspect(self, ref: str) -> dict[str, Any]:
        (info,) = json.loads(self("image", "inspect", ref).stdout)
        return dict(info)

    def listing(self, ref: str) -> str:
        """The root filesystem of ``ref`` as the container sees it (see LISTING)."""
        args = [
            "run",
            "--rm",
            "--network",
            "none",
            "--user",
            "0:0",
            "--entrypoint",
            "/bin/sh",
            ref,
            "-c",
            LISTING,
        ]
        return self(*args).stdout

    def remove(self) -> None:
        if self.root.exists():
            self("unshare", "rm", "-rf", str(self.root), check=False)
        shutil.rmtree(self.root, ignore_errors=True)
        shutil.rmtree(self.runroot, ignore_errors=True)


def _new_podman(base: Path) -> Iterator[Podman]:
    # podman refuses a runroot longer than 50 characters: keep it short, under /tmp
    pm = Podman(base / "root", Path(tempfile.mkdtemp(prefix="podpy-pmrr-")))
    try:
        yield pm
    finally:
        pm.remove()


@pytest.fixture
def podman(tmp_path: Path) -> Iterator[Podman]:
    yield from _new_podman(tmp_path / "podman")


@pytest.fixture
def podman2(tmp_path: Path) -> Iterator[Podman]:
    """A second, empty podman store: loading an archive there shows the ID podman itself gives it."""
    yield from _new_podman(tmp_path / "podman2")


def skopeo(*args: str) -> Any:
    """``skopeo ARGS`` parsed as JSON (``inspect``)."""
    return json.loads(run(["skopeo", *args], text=True).stdout)


def config_id(transport: str) -> str:
    """The image ID an archive's image gets: the sha256 of its config blob, as skopeo reads it."""
    raw = run(["skopeo", "inspect", "--config", "--raw", transport]).stdout
    return hashlib.sha256(raw).hexdigest()


def podpy_listing(cli: Any, ref: str) -> str:
    proc = cli(
        "run", "--rm", "--network", "none", "--user", "0:0", "--entrypoint", "/bin/sh", ref, "-c", LISTING
    )
    assert proc.returncode == 0, f"podpy run {ref} failed ({proc.returncode}): {proc.stderr[-3000:]}"
    return str(proc.stdout)


def xattrs_under(root: Path, rel: str = "data/xattr-file", name: str = "user.podpy") -> list[bytes]:
    """The value of xattr ``name`` on every copy of ``rel`` in a store (vfs copies each layer): busybox has no getfattr,
    so the layered image's ``user.podpy=test`` is read from the store on the host side."""
    out = []
    for p in sorted(root.glob(f"**/{rel}")):
        try:
            out.append(os.getxattr(p, name, follow_symlinks=False))
        except OSError as e:
            out.append(f"<{e.strerror}>".encode())
    return out
