"""Run a bundle with an external OCI runtime (runc; crun where the host's cgroups allow it).

The proof that podpy's bundles are standard: the same config.json runs under runc. Flags as
rootless Podman uses them: ``--root`` in a user-writable directory, no ``--systemd-cgroup``
(cgroupfs manager), and the bundle has no cgroupsPath and empty ``linux.resources``, so runc,
detecting it runs in a user namespace, skips cgroup setup it cannot do.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from podpy.util.errors import PodpyError

KNOWN = ("runc", "crun")


def find(name: str) -> str:
    """The runtime binary for ``name`` (a known name on PATH, or an absolute path)."""
    exe = name if os.path.isabs(name) else shutil.which(name)
    if not exe or not os.access(exe, os.X_OK):
        raise PodpyError(f"OCI runtime {name!r} not found: install it or use the default podpy runtime")
    return exe


def argv(runtime: str, state_root: str | os.PathLike[str], *verb: str) -> list[str]:
    return [find(runtime), "--root", str(state_root), *verb]


def run(runtime: str, bundle: str | os.PathLike[str], cid: str, state_root: str | os.PathLike[str],
        *, preserve_fds: int = 0) -> int:  # fmt: skip
    """``RUNTIME run --bundle B ID`` in the foreground with inherited stdio; the container's exit code."""
    extra = [f"--preserve-fds={preserve_fds}"] if preserve_fds else []
    cmd = argv(runtime, state_root, "run", *extra, "--bundle", str(bundle), cid)
    r = subprocess.run(cmd, check=False, pass_fds=tuple(range(3, 3 + preserve_fds)))
    code = r.returncode
    return 128 - code if code < 0 else code


def delete(runtime: str, cid: str, state_root: str | os.PathLike[str]) -> None:
    subprocess.run(argv(runtime, state_root, "delete", "--force", cid), capture_output=True, check=False)
