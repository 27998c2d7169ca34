"""``alias docker=podpy``: a script of everyday docker commands (docker_flows.sh) runs through podpy.

Docker users type short names and no ``--tls-verify``: the registries.conf here makes the test
registry the search registry and plain HTTP, as a docker daemon's ``insecure-registries`` would.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import TREE, PodpyRoot

SCRIPT = Path(__file__).with_name("docker_flows.sh")


def test_everyday_docker_commands(podpy_root: PodpyRoot, tmp_path: Path, testenv: dict[str, Any]) -> None:
    basic = testenv["registries"]["basic"]
    conf = tmp_path / "registries.conf"
    conf.write_text('unqualified-search-registries = ["127.0.0.1:5000"]\n'
                    '[[registry]]\nlocation = "127.0.0.1:5000"\ninsecure = true\n'
                    f'[[registry]]\nlocation = "{basic["host"]}"\ninsecure = true\n')  # fmt: skip
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "podpy").write_text(f'#!/bin/sh\nexec {sys.executable} -m podpy "$@"\n')
    (bindir / "podpy").chmod(0o755)
    env = dict(
        os.environ,
        PATH=f"{bindir}:{os.environ['PATH']}",
        PYTHONPATH=str(TREE),
        XDG_CONFIG_HOME=str(podpy_root.config_home),
        CONTAINERS_REGISTRIES_CONF=str(conf),
        PODPY_ROOT=str(podpy_root.root),
        PODPY_RUNROOT=str(podpy_root.runroot),
        TMPDIR=str(tmp_path),
        REGISTRY_AUTH_FILE=str(tmp_path / "auth.json"),  # docker login writes here, not the user's file
        REG_AUTH_HOST=basic["host"],
        REG_USER=basic["username"],
        REG_PASS=basic["password"],
    )
    try:
        r = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=600,
                           stdin=subprocess.DEVNULL)  # fmt: skip
    finally:
        subprocess.run([str(bindir / "podpy"), "rm", "-f", "-a", "-t", "0"], env=env, capture_output=True, timeout=120)
    assert r.returncode == 0, f"failed after step {r.stderr.rsplit('+ ', 1)[-1]}\nstderr:\n{r.stderr[-3000:]}"
    assert r.stdout.endswith("docker flows: ok\n")
