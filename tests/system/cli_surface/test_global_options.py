"""The configuration Podman users point with environment variables, honoured by the CLI as typed:
CONTAINERS_REGISTRIES_CONF, REGISTRY_AUTH_FILE and CONTAINERS_CONF; and the ``--noout`` global flag."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from tests.conftest import PodpyCli, PodpyRoot

BUSYBOX = "127.0.0.1:5000/busybox:latest"


def test_registries_conf_and_auth_file_from_the_environment(
    podpy_cli: PodpyCli, podpy_root: PodpyRoot, tmp_path: Path, testenv: dict[str, Any]
) -> None:
    basic = testenv["registries"]["basic"]
    conf = tmp_path / "registries.conf"
    conf.write_text(
        'unqualified-search-registries = ["127.0.0.1:5000"]\n'
        '[[registry]]\nlocation = "127.0.0.1:5000"\ninsecure = true\n'
        f'[[registry]]\nlocation = "{basic["host"]}"\ninsecure = true\n'
    )
    env = {"CONTAINERS_REGISTRIES_CONF": str(conf)}
    # a short name resolved by the file's search registry, plain HTTP because the file says insecure
    r = podpy_cli("pull", "-q", "busybox", env=env)
    assert r.returncode == 0, r.stderr
    assert podpy_cli("images", "--format", "{{.Repository}}").stdout.split() == ["127.0.0.1:5000/busybox"]

    creds = base64.b64encode(f"{basic['username']}:{basic['password']}".encode()).decode()
    auth = tmp_path / "auth.json"
    auth.write_text(json.dumps({"auths": {basic["host"]: {"auth": creds}}}))
    empty = tmp_path / "empty.json"
    empty.write_text('{"auths": {}}')
    ref = f"{basic['host']}/busybox:latest"
    r = podpy_cli("pull", "-q", ref, env={**env, "REGISTRY_AUTH_FILE": str(empty)})
    assert r.returncode == 125 and "authentication required" in r.stderr
    r = podpy_cli("pull", "-q", ref, env={**env, "REGISTRY_AUTH_FILE": str(auth)})
    assert r.returncode == 0, r.stderr
    # login writes where REGISTRY_AUTH_FILE points
    written = tmp_path / "login.json"
    r = podpy_cli("login", "-u", basic["username"], "--password-stdin", basic["host"], input=basic["password"] + "\n",
                  env={**env, "REGISTRY_AUTH_FILE": str(written)})  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert basic["host"] in json.loads(written.read_text())["auths"]


def test_containers_conf_from_the_environment(podpy: PodpyCli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.conf"
    bad.write_text('[network]\ndefault_rootless_network_cmd = "bogus"\n')
    r = podpy("create", BUSYBOX, env={"CONTAINERS_CONF": str(bad)})
    assert r.returncode == 125
    assert r.stderr == 'Error: containers.conf: invalid default_rootless_network_cmd "bogus": use slirp4netns or pasta\n'
    pasta = tmp_path / "pasta.conf"
    pasta.write_text('[network]\ndefault_rootless_network_cmd = "pasta"\n')
    assert podpy("create", "--name", "viapasta", BUSYBOX, env={"CONTAINERS_CONF": str(pasta)}).returncode == 0
    assert podpy("create", "--name", "default", BUSYBOX).returncode == 0
    r = podpy("inspect", "--format", "{{.HostConfig.NetworkMode}}", "viapasta", "default")
    assert r.stdout.split() == ["pasta", "slirp4netns"], r.stderr


def test_noout_and_refusals_as_typed(podpy_cli: PodpyCli) -> None:
    r = podpy_cli("--noout", "volume", "create", "quiet")
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    assert podpy_cli("volume", "ls", "-q").stdout == "quiet\n"  # it did the work, printed nothing
    r = podpy_cli("--url", "unix:///run/podman/podman.sock", "images")  # not the click-free fast path
    assert r.returncode == 125
    assert r.stderr == "Error: --url is not supported: podpy has no service; run podpy on the machine itself\n"
    r = podpy_cli("-r", "ps")
    assert r.returncode == 125 and r.stderr.startswith("Error: --remote is not supported")
