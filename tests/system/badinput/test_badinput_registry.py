"""`podpy pull` failures that come from the registry side: platform, network, credentials, names.

The wording follows podman's where podman has one ("manifest unknown", "unauthorized",
"connection refused"); unlike podman 4.3, an unknown platform lists the platforms the index has.
"""

from __future__ import annotations

import re
import socket
from typing import Any

import pytest

from tests.system.badinput.conftest import Refusal


@pytest.mark.parametrize("name", ["multiarch-oci", "multiarch-v2s2"])
def test_platform_missing_from_index_lists_available(
    name: str, testenv: dict[str, Any], refusal: Refusal
) -> None:
    img = testenv["images"][name]
    available = []
    for p in img["platforms"]:
        plat = p["platform"]
        available.append("/".join(x for x in (plat["os"], plat["architecture"], plat.get("variant")) if x))
    assert "linux/amd64" in available and any(a.startswith("linux/arm64") for a in available)
    refusal.refuse(
        img["ref"],
        (r"s390x", *(re.escape(a) for a in available)),
        args=("--tls-verify=false", "--platform", "linux/s390x"),
    )


def test_arch_missing_from_index_lists_available(testenv: dict[str, Any], refusal: Refusal) -> None:
    """The same with podman's --arch flag instead of --platform."""
    img = testenv["images"]["multiarch-oci"]
    refusal.refuse(
        img["ref"],
        (r"s390x", r"linux/amd64", r"linux/arm64"),
        args=("--tls-verify=false", "--arch", "s390x"),
    )


def _closed_port() -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port: int = s.getsockname()[1]
    s.close()  # nothing listens there now: connect() gets ECONNREFUSED
    return port


def test_unreachable_registry(refusal: Refusal) -> None:
    port = _closed_port()
    refusal.refuse(
        f"127.0.0.1:{port}/nothing/here:latest",
        (rf"127\.0\.0\.1:{port}", r"connection refused|unreachable|cannot connect|could not connect"),
        timeout=90,
    )


@pytest.mark.parametrize("kind", ["basic", "token"])
def test_wrong_credentials(kind: str, testenv: dict[str, Any], refusal: Refusal) -> None:
    reg = testenv["registries"][kind]
    ref = testenv["images"]["busybox-basic" if kind == "basic" else "busybox-token-private"]["ref"]
    refusal.refuse(
        ref,
        (re.escape(reg["host"]), r"unauthori[sz]ed|credentials|authentication|invalid username|denied"),
        args=(
            "--tls-verify=false",
            "--authfile",
            str(refusal.authfile),
            "--creds",
            f"{reg['username']}:wrong-password",
        ),
        env={"REGISTRY_AUTH_FILE": None},
    )


@pytest.mark.parametrize("name", ["busybox-basic", "busybox-token-private"])
def test_no_credentials_where_needed(name: str, testenv: dict[str, Any], refusal: Refusal) -> None:
    """Anonymous pull where auth is required: one line (podman prints three), naming authentication."""
    img = testenv["images"][name]
    refusal.refuse(
        img["ref"],
        (r"unauthori[sz]ed|credentials|authentication|denied",),
        args=("--tls-verify=false", "--authfile", str(refusal.authfile)),
        env={"REGISTRY_AUTH_FILE": None},
    )


def test_missing_tag(testenv: dict[str, Any], refusal: Refusal) -> None:
    host = testenv["registries"]["open"]["host"]
    refusal.refuse(f"{host}/busybox:no-such-tag-badinput", (r"manifest unknown", r"no-such-tag-badinput"))


def test_missing_repository(testenv: dict[str, Any], refusal: Refusal) -> None:
    host = testenv["registries"]["open"]["host"]
    refusal.refuse(f"{host}/no-such-repo-badinput:latest", (r"manifest unknown", r"no-such-repo-badinput"))


def test_missing_digest(testenv: dict[str, Any], refusal: Refusal) -> None:
    host = testenv["registries"]["open"]["host"]
    digest = "sha256:" + "0" * 64
    refusal.refuse(f"{host}/busybox@{digest}", (r"manifest unknown", r"0{12}"))
