"""``podpy login`` / ``logout`` as a user types them, against the real basic and token registries."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest


def podpy(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "podpy", *args], input=stdin, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("key", ["basic", "token"])
def test_login_logout(testenv: dict[str, Any], tmp_path: Path, key: str) -> None:
    reg = testenv["registries"][key]
    host, user, pw = reg["host"], reg["username"], reg["password"]
    af = str(tmp_path / "auth.json")
    bad = podpy("login", "--authfile", af, "--tls-verify=false", "-u", user, "-p", "wrong", host)
    assert bad.returncode == 125
    assert bad.stderr.strip() == f'Error: logging into "{host}": invalid username/password'
    assert not os.path.exists(af)
    ok = podpy(
        "login", "--authfile", af, "--tls-verify=false", "-u", user, "--password-stdin", host, stdin=pw + "\n"
    )
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == "Login Succeeded!"
    assert os.stat(af).st_mode & 0o777 == 0o600
    assert host in json.loads(Path(af).read_text())["auths"]
    got = podpy("login", "--authfile", af, "--get-login", host)
    assert got.returncode == 0 and got.stdout.strip() == user
    again = podpy("login", "--authfile", af, "--tls-verify=false", host)
    assert "Already logged in" in again.stdout
    out = podpy("logout", "--authfile", af, host)
    assert out.returncode == 0 and out.stdout.strip() == f"Removed login credentials for {host}"
    out = podpy("logout", "--authfile", af, host)
    assert out.returncode == 125 and out.stderr.strip() == f"Error: not logged into {host}"
    assert podpy("login", "--authfile", af, "--get-login", host).returncode == 125


def test_login_default_file_and_logout_all(
    testenv: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reg = testenv["registries"]["basic"]
    run = tmp_path / "run"
    run.mkdir(mode=0o700)
    monkeypatch.delenv("REGISTRY_AUTH_FILE")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(run))
    r = podpy("login", "--tls-verify=false", "-u", reg["username"], "-p", reg["password"], reg["host"])
    assert r.returncode == 0, r.stderr
    assert (run / "containers" / "auth.json").exists()
    r = podpy("logout", "-a")
    assert r.stdout.strip() == "Removed login credentials for all registries"
    assert json.loads((run / "containers" / "auth.json").read_text())["auths"] == {}


def test_login_unreachable(tmp_path: Path) -> None:
    r = podpy(
        "login",
        "--authfile",
        str(tmp_path / "a.json"),
        "--tls-verify=false",
        "-u",
        "a",
        "-p",
        "b",
        "127.0.0.1:5999",
    )
    assert r.returncode == 125
    assert r.stderr.strip() == (
        'Error: authenticating creds for "127.0.0.1:5999": pinging container registry 127.0.0.1:5999: '
        'Get "http://127.0.0.1:5999/v2/": dial tcp 127.0.0.1:5999: connect: connection refused'
    )
    assert len(r.stderr.strip().splitlines()) == 1
