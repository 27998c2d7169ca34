"""``podpy generate systemd`` next to ``podman generate systemd`` (podman 4.3, the reference peer) for the
same create command line: the same unit once the known differences are taken out (the executable, the
header, ``--cgroups=no-conmon`` which podpy does not take, the runroot podpy mounts)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Sequence
from typing import Any

import pytest

from tests.system.conftest import BUSYBOX

ARGS = ["-p", "18080:80", "-e", "FOO=bar baz", "-e", "HOME", "--label", "io.containers.autoupdate=registry",
        "-h", "myhost", BUSYBOX, "sh", "-c", "echo $HOME 50% done; sleep 1000"]  # fmt: skip


def normalize(text: str, exe: str, root_args: Sequence[str] = ()) -> str:
    """The unit with the executable (and the test's --root R --runroot RR after it) as EXE."""
    if root_args:
        pairs = [" ".join(root_args[i : i + 2]) for i in range(0, len(root_args), 2)]
        text = text.replace(" \\\n\t".join([exe, *pairs]), exe)  # ExecStart: one flag a line
        text = text.replace(" ".join([exe, *root_args]), exe)
    lines = [ln for ln in text.splitlines() if ln != "\t--cgroups=no-conmon \\"]
    return "\n".join(lines).replace(exe, "EXE").replace("%t/containers", "%t/podpy") + "\n"


@pytest.mark.parametrize("flags", [["--new", "--name"], ["--new", "--name", "--template", "--restart-policy=always", "-t", "3"]])
def test_new_units_match_podman(podpy: Any, podpy_root: Any, flags: list[str]) -> None:
    podman = shutil.which("podman")
    assert podman, "podman 4.3 is the reference peer of the test environment"
    name = f"podpy-parity-{os.getpid()}-{time.time_ns()}"
    assert podpy("create", "--name", name, *ARGS).returncode == 0
    ours = podpy("generate", "systemd", "--no-header", *flags, name)
    assert ours.returncode == 0, ours.stderr
    # podman's own store may not hold the image (nothing else here puts it there); its create would not
    # pull it from the plain-HTTP test registry, and --tls-verify=false would end up in its unit
    subprocess.run([podman, "pull", "-q", "--tls-verify=false", BUSYBOX], capture_output=True, check=True)
    subprocess.run([podman, "create", "--name", name, *ARGS], capture_output=True, check=True)
    try:
        theirs = subprocess.run([podman, "generate", "systemd", "--no-header", *flags, name],
                                capture_output=True, text=True, check=True)  # fmt: skip
    finally:
        subprocess.run([podman, "rm", "-f", name], capture_output=True, check=False)
    exe = shutil.which("podpy") or "podpy"
    assert normalize(ours.stdout, exe, podpy_root.args) == normalize(theirs.stdout, "/usr/bin/podman")
