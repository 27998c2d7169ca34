"""Reference parsing and normalisation, checked against Podman/containers-image behaviour."""

from __future__ import annotations

import pytest

from podpy.spec.reference import ImageReference, parse_reference, split_reference
from podpy.util.errors import UsageError

D = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("given", "want"),
    [
        ("busybox", "docker.io/library/busybox:latest"),
        ("busybox:1.36", "docker.io/library/busybox:1.36"),
        ("library/busybox", "docker.io/library/busybox:latest"),
        ("docker.io/busybox", "docker.io/library/busybox:latest"),
        ("index.docker.io/busybox", "docker.io/library/busybox:latest"),
        ("index.docker.io/user/app:v1", "docker.io/user/app:v1"),
        ("user/app", "docker.io/user/app:latest"),
        ("quay.io/podman/stable", "quay.io/podman/stable:latest"),
        ("localhost/myimage", "localhost/myimage:latest"),
        ("localhost:5000/a/b/c:t", "localhost:5000/a/b/c:t"),
        ("127.0.0.1:5000/busybox", "127.0.0.1:5000/busybox:latest"),
        ("registry.example.com:8443/ns/img:1.0-rc_1", "registry.example.com:8443/ns/img:1.0-rc_1"),
        (f"busybox@{D}", f"docker.io/library/busybox@{D}"),
        (f"busybox:1@{D}", f"docker.io/library/busybox:1@{D}"),
        ("docker://quay.io/a/b", "quay.io/a/b:latest"),
        ("a__b/c-d--e.f", "docker.io/a__b/c-d--e.f:latest"),
        ("[::1]:5000/img", "[::1]:5000/img:latest"),
    ],
)
def test_normalisation(given: str, want: str) -> None:
    assert str(parse_reference(given)) == want


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "Busybox",  # upper case in a docker.io repository
        "quay.io/Podman/stable",
        "busybox:",
        "busybox:tag with space",
        "busybox:" + "t" * 129,
        "-busybox",
        "busybox-",
        "a//b",
        "busybox@sha256:" + "A" * 64,
        "busybox@sha256:../x",
        "busybox@sha256:abc",
        "a" * 64,  # looks like an image ID
        "quay.io/" + "a/" * 130 + "b",
        "host_with_underscore.io:x/img",
    ],
)
def test_invalid(bad: str) -> None:
    with pytest.raises(UsageError) as e:
        parse_reference(bad)
    assert "\n" not in e.value.message


def test_messages_name_the_problem() -> None:
    with pytest.raises(UsageError, match="repository name must be lowercase"):
        parse_reference("quay.io/Podman/stable")
    with pytest.raises(UsageError, match="64-byte hexadecimal"):
        parse_reference("f" * 64)


def test_short_names() -> None:
    assert split_reference("busybox").is_short
    assert split_reference("library/busybox:1").is_short
    assert split_reference("user/app").is_short
    assert not split_reference("docker.io/busybox").is_short
    assert not split_reference("localhost/busybox").is_short
    assert not split_reference("host:5000/busybox").is_short
    assert not split_reference("Upper/busybox").is_short  # an upper-case first component is a domain


def test_qualify_short_name() -> None:
    p = split_reference("busybox:1")
    assert str(p.qualify("quay.io")) == "quay.io/busybox:1"
    assert str(p.qualify("docker.io")) == "docker.io/library/busybox:1"


def test_fields_and_helpers() -> None:
    r = parse_reference(f"127.0.0.1:5000/ns/img:v1@{D}")
    assert r == ImageReference("127.0.0.1:5000", "ns/img", "v1", D)
    assert r.name == "127.0.0.1:5000/ns/img"
    assert r.reference == D
    assert str(r.with_tag("v2")) == "127.0.0.1:5000/ns/img:v2"
    assert str(parse_reference("a.io/b").with_digest(D)) == f"a.io/b:latest@{D}"
    assert parse_reference("busybox").familiar() == "busybox:latest"
    assert parse_reference("quay.io/a/b").familiar() == "quay.io/a/b:latest"
    assert str(r.with_name("mirror.io/x/ns/img")) == f"mirror.io/x/ns/img:v1@{D}"
    with pytest.raises(UsageError):
        r.with_tag("bad tag")
    with pytest.raises(UsageError):
        r.with_digest("sha256:xyz")
