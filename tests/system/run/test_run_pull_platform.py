"""``podpy run``'s image choice as podman 4.3 makes it: ``--platform``, ``--pull=newer``; the stop
signal it records; ``--network host``'s hostname; ``ps --size``.

The registry tests use the test environment's open registry (127.0.0.1:5000) and its two-platform
image ``multiarch`` (linux/amd64 and linux/arm64/v8, both runnable here: the same static busybox).
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

import pytest

IMG = "127.0.0.1:5000/busybox:latest"


def _multiarch(testenv: dict[str, Any]) -> tuple[str, dict[str, str]]:
    m = testenv["images"]["multiarch-oci"]
    ids = {p["platform"]["architecture"]: p["image_id"] for p in m["platforms"]}
    return m["ref"], ids


def _image_id(podpy, ref: str) -> str:  # type: ignore[no-untyped-def]
    r = podpy("image", "inspect", "--format", "{{.Id}}", ref)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_platform_mismatch(podpy_cli, testenv: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
    ref, ids = _multiarch(testenv)
    r = podpy_cli("pull", "-q", "--tls-verify=false", "--platform", "linux/arm64", ref)
    assert (r.returncode, r.stdout.strip()) == (0, ids["arm64"]), r.stderr
    # --pull=never (and a local image of a foreign platform without --platform): used, with podman's warning
    for extra in (["--pull=never", "--platform", "linux/amd64"], []):
        r = podpy_cli("run", "--rm", *extra, ref, "true")
        assert r.returncode == 0, r.stderr
        assert "image platform ({arm64 linux  [] " in r.stderr, r.stderr
        assert "does not match the expected platform ({amd64 linux  [] })" in r.stderr
        assert "Trying to pull" not in r.stderr
    assert _image_id(podpy_cli, ref) == ids["arm64"]
    # --platform with the default policy (missing): the wanted platform is pulled
    r = podpy_cli("run", "--rm", "--tls-verify=false", "--platform", "linux/amd64", ref, "true")
    assert r.returncode == 0, r.stderr
    assert "Trying to pull" in r.stderr and "does not match" not in r.stderr
    assert _image_id(podpy_cli, ref) == ids["amd64"]
    # now it matches: nothing is pulled
    r = podpy_cli("run", "--rm", "--tls-verify=false", "--platform", "linux/amd64", ref, "true")
    assert (r.returncode, r.stderr) == (0, "")


def test_pull_newer(podpy_cli, testenv: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
    ref, ids = _multiarch(testenv)
    assert podpy_cli("pull", "-q", "--tls-verify=false", "--platform", "linux/arm64", ref).returncode == 0
    # the registry's image for this host (amd64) differs from the local one: pulled
    r = podpy_cli("run", "--rm", "--pull=newer", "--tls-verify=false", ref, "true")
    assert r.returncode == 0, r.stderr
    assert "Trying to pull" in r.stderr
    assert _image_id(podpy_cli, ref) == ids["amd64"]
    # the same as the registry's: nothing printed, nothing pulled
    r = podpy_cli("run", "--rm", "--pull=newer", "--tls-verify=false", ref, "true")
    assert (r.returncode, r.stderr) == (0, "")
    # a registry that cannot be reached: the local image is used, silently (as podman does)
    assert podpy_cli("tag", ref, "127.0.0.1:1/nowhere:latest").returncode == 0
    r = podpy_cli("run", "--rm", "--pull=newer", "--tls-verify=false", "127.0.0.1:1/nowhere:latest", "true")
    assert (r.returncode, r.stderr) == (0, "")


def test_pull_never_missing_image(podpy_cli) -> None:  # type: ignore[no-untyped-def]
    r = podpy_cli("run", "--rm", "--pull=never", "127.0.0.1:5000/not-here:latest", "true")
    assert r.returncode == 125 and r.stderr.startswith("Error: ")


@pytest.mark.parametrize(
    ("flag", "want"), [([], 10), (["--stop-signal", "QUIT"], 3), (["--stop-signal", "RTMIN+3"], 37)]
)
def test_stop_signal_recorded(podpy, flag: list[str], want: int) -> None:  # type: ignore[no-untyped-def]
    """--stop-signal wins; else the image's StopSignal (here set by commit -c); parsed like podman's."""
    src = podpy("create", IMG, "true")
    assert src.returncode == 0, src.stderr
    c = podpy("commit", "-q", "-c", "STOPSIGNAL SIGUSR1", src.stdout.strip(), "localhost/stopsig:test")
    assert c.returncode == 0, c.stderr
    r = podpy("create", *flag, "localhost/stopsig:test", "true")
    assert r.returncode == 0, r.stderr
    got = podpy("container", "inspect", "--format", "{{.Config.StopSignal}}", r.stdout.strip())
    assert got.stdout.strip() == str(want), got.stderr


def test_default_stop_signal_and_bad_one(podpy) -> None:  # type: ignore[no-untyped-def]
    r = podpy("create", IMG, "true")
    got = podpy("container", "inspect", "--format", "{{.Config.StopSignal}}", r.stdout.strip())
    assert got.stdout.strip() == "15"
    r = podpy("create", "--stop-signal", "NOPE", IMG, "true")
    assert r.returncode == 125 and "invalid signal: NOPE" in r.stderr


def test_network_host_keeps_hostname(podpy) -> None:  # type: ignore[no-untyped-def]
    """As podman 4.3: the host's name, and /etc/hostname without a trailing newline."""
    r = podpy("run", "--rm", "--network", "host", IMG, "sh", "-c", "od -c /etc/hostname; hostname")
    assert r.returncode == 0, r.stderr
    name = os.uname().nodename
    chars = r.stdout.splitlines()[0].split()[1:]
    assert chars == list(name) and r.stdout.splitlines()[-1] == name
    r = podpy("run", "--rm", "--network", "host", "-h", "box", IMG, "sh", "-c", "cat /etc/hostname; echo; hostname")
    assert r.stdout.split() == ["box", "box"]


def test_ps_size(podpy) -> None:  # type: ignore[no-untyped-def]
    r = podpy("run", "--name", "sz", IMG, "sh", "-c", "mkdir -p /a/b; echo hello > /a/b/c; ln -s /x /a/l")
    assert r.returncode == 0, r.stderr
    table = podpy("ps", "-a", "-s")
    head, row = table.stdout.splitlines()
    assert head.split()[-2:] == ["NAMES", "SIZE"]
    assert re.search(r"  sz +8B \(virtual 1\.98MB\)$", row), row
    assert podpy("ps", "-a", "--size", "--format", "{{.Names}} {{.Size}}").stdout == "sz 8B (virtual 1.98MB)\n"
    doc = json.loads(podpy("ps", "-a", "-s", "--format", "json").stdout)
    assert doc[0]["Size"] == {"rootFsSize": 1984346, "rwSize": 8}
    assert json.loads(podpy("ps", "-a", "--format", "json").stdout)[0]["Size"] is None
    r = podpy("ps", "-a", "--format", "{{.Size}}|")
    assert r.stdout == "|\n" and "Size format requires --size option" in r.stderr


def test_arch_os_variant_choose_the_image(podpy_cli, testenv: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
    ref, ids = _multiarch(testenv)
    r = podpy_cli("run", "--rm", "--tls-verify=false", "--os", "linux", "--arch", "arm64", "--variant", "v8", ref, "true")
    assert r.returncode == 0, r.stderr
    assert _image_id(podpy_cli, ref) == ids["arm64"]
    r = podpy_cli("create", "--tls-verify=false", "--arch", "amd64", ref, "true")
    assert r.returncode == 0, r.stderr
    assert _image_id(podpy_cli, ref) == ids["amd64"]


def test_authfile(podpy_cli, testenv: dict[str, Any], tmp_path) -> None:  # type: ignore[no-untyped-def]
    import base64

    basic = testenv["registries"]["basic"]
    ref = f"{basic['host']}/busybox:latest"
    auth = tmp_path / "auth.json"
    creds = base64.b64encode(f"{basic['username']}:{basic['password']}".encode()).decode()
    auth.write_text(json.dumps({"auths": {basic["host"]: {"auth": creds}}}))
    empty = tmp_path / "empty.json"
    empty.write_text('{"auths": {}}')
    r = podpy_cli("run", "--rm", "--tls-verify=false", "--authfile", str(empty), ref, "true")
    assert r.returncode == 125 and "authentication required" in r.stderr, r.stderr
    r = podpy_cli("run", "--rm", "--tls-verify=false", "--authfile", str(auth), ref, "echo", "in")
    assert (r.returncode, r.stdout) == (0, "in\n"), r.stderr
