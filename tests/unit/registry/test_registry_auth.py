"""auth.json: where it is read and written, key specificity, file mode, fallbacks."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from podpy.registry import auth
from podpy.util.errors import AuthError


@pytest.fixture(autouse=True)
def _env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = tmp_path / "run"
    run.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(run))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.delenv("REGISTRY_AUTH_FILE", raising=False)
    monkeypatch.delenv("DOCKER_CONFIG", raising=False)


def _b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def test_set_get_remove_default_file(tmp_path: Path) -> None:
    path = auth.set_credentials("127.0.0.1:5001", "u", "p:w")
    assert path == tmp_path / "run" / "containers" / "auth.json"
    assert os.stat(path).st_mode & 0o777 == 0o600
    doc = json.loads(path.read_text())
    assert doc == {"auths": {"127.0.0.1:5001": {"auth": _b64("u:p:w")}}}
    assert auth.get_credentials("127.0.0.1:5001") == ("u", "p:w")
    assert auth.get_credentials("127.0.0.1:5001/some/repo") == ("u", "p:w")
    assert auth.get_credentials("127.0.0.1:5002") is None
    assert auth.remove_credentials("127.0.0.1:5001")
    assert not auth.remove_credentials("127.0.0.1:5001")
    assert auth.get_credentials("127.0.0.1:5001") is None


def test_most_specific_key_wins(tmp_path: Path) -> None:
    f = tmp_path / "a.json"
    auth.set_credentials("reg.io", "host", "1", f)
    auth.set_credentials("reg.io/team", "team", "2", f)
    auth.set_credentials("reg.io/team/app", "app", "3", f)
    assert auth.get_credentials("reg.io/team/app", f) == ("app", "3")
    assert auth.get_credentials("reg.io/team/other", f) == ("team", "2")
    assert auth.get_credentials("reg.io/x", f) == ("host", "1")
    auth.remove_all(f)
    assert json.loads(f.read_text()) == {"auths": {}}


def test_env_and_docker_fallback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    docker = tmp_path / "home" / ".docker" / "config.json"
    docker.parent.mkdir(parents=True)
    docker.write_text(
        json.dumps(
            {"auths": {"https://index.docker.io/v1/": {"auth": _b64("d:1")}, "q.io": {"auth": _b64("q:2")}}}
        )
    )
    assert auth.get_credentials("docker.io/library/busybox") == ("d", "1")
    assert auth.get_credentials("q.io") == ("q", "2")
    envfile = tmp_path / "env.json"
    monkeypatch.setenv("REGISTRY_AUTH_FILE", str(envfile))
    auth.set_credentials("q.io", "e", "3")
    assert envfile.exists()
    assert auth.get_credentials("q.io") == ("e", "3")  # the primary file beats the docker fallback


def test_cred_helpers_rejected_clearly(tmp_path: Path) -> None:
    f = tmp_path / "h.json"
    f.write_text(json.dumps({"auths": {}, "credHelpers": {"q.io": "secretservice"}}))
    with pytest.raises(AuthError, match="credential helper 'secretservice'"):
        auth.get_credentials("q.io/x", f)


def test_corrupt_file(tmp_path: Path) -> None:
    f = tmp_path / "bad.json"
    f.write_text("{not json")
    with pytest.raises(AuthError, match="not valid JSON"):
        auth.get_credentials("q.io", f)
    f.write_text(json.dumps({"auths": {"q.io": {"auth": _b64("nocolon")}}}))
    with pytest.raises(AuthError, match="base64"):
        auth.get_credentials("q.io", f)
