"""registries.conf v2: search registries, aliases, prefixes, rewriting, mirrors, blocking, drop-ins."""

from __future__ import annotations

from pathlib import Path

import pytest

from podpy.registry.config import load_registries_conf
from podpy.spec.reference import parse_reference
from podpy.util.errors import RegistryError, UsageError

CONF = """
unqualified-search-registries = ["quay.io", "docker.io"]
short-name-mode = "enforcing"

[aliases]
"myapp" = "registry.example.com/team/myapp"

[[registry]]
prefix = "example.com/foo"
location = "internal.example.com/bar"
insecure = true

[[registry.mirror]]
location = "mirror-a.example.com/m"

[[registry.mirror]]
location = "mirror-b.example.com"
insecure = true
pull-from-mirror = "digest-only"

[[registry]]
prefix = "example.com"
location = "other.example.com"

[[registry]]
location = "evil.example.com"
blocked = true

[[registry]]
prefix = "*.wild.io"
insecure = true
"""


@pytest.fixture
def conf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    p = tmp_path / "registries.conf"
    p.write_text(CONF)
    monkeypatch.setenv("CONTAINERS_REGISTRIES_CONF", str(p))
    return load_registries_conf()


def test_short_name_candidates_in_order(conf) -> None:  # type: ignore[no-untyped-def]
    assert [str(r) for r in conf.candidates("busybox:1")] == [
        "quay.io/busybox:1",
        "docker.io/library/busybox:1",
    ]
    assert [str(r) for r in conf.candidates("docker.io/busybox")] == ["docker.io/library/busybox:latest"]


def test_alias_wins(conf) -> None:  # type: ignore[no-untyped-def]
    assert [str(r) for r in conf.candidates("myapp:2")] == ["registry.example.com/team/myapp:2"]
    assert [str(r) for r in conf.candidates("myapp")] == ["registry.example.com/team/myapp:latest"]


def test_longest_prefix_rewrite_and_mirrors(conf) -> None:  # type: ignore[no-untyped-def]
    eps = conf.endpoints(parse_reference("example.com/foo/app:1"))
    assert [(str(e.ref), e.insecure, e.mirror) for e in eps] == [
        ("mirror-a.example.com/m/app:1", False, True),
        ("internal.example.com/bar/app:1", True, False),
    ]
    d = "sha256:" + "b" * 64
    eps = conf.endpoints(parse_reference(f"example.com/foo/app@{d}"))
    assert [str(e.ref) for e in eps] == [
        f"mirror-a.example.com/m/app@{d}",
        f"mirror-b.example.com/app@{d}",
        f"internal.example.com/bar/app@{d}",
    ]
    assert [str(e.ref) for e in conf.endpoints(parse_reference("example.com/foobar:1"))] == [
        "other.example.com/foobar:1"
    ]
    # push goes to the primary only
    assert [str(e.ref) for e in conf.endpoints(parse_reference("example.com/foo/app:1"), push=True)] == [
        "internal.example.com/bar/app:1"
    ]
    assert [str(e.ref) for e in conf.endpoints(parse_reference("quay.io/a/b"))] == ["quay.io/a/b:latest"]


def test_insecure_and_wildcards(conf) -> None:  # type: ignore[no-untyped-def]
    assert conf.is_insecure("internal.example.com")
    assert conf.is_insecure("mirror-b.example.com")
    assert conf.is_insecure("x.wild.io")
    assert not conf.is_insecure("quay.io")
    assert conf.endpoints(parse_reference("a.wild.io/img"))[0].insecure


def test_blocked(conf) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RegistryError, match="blocked"):
        conf.endpoints(parse_reference("evil.example.com/x"))
    with pytest.raises(RegistryError, match="blocked"):
        conf.candidates("evil.example.com/x")


def test_dropins_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "registries.conf"
    p.write_text(CONF)
    d = tmp_path / "registries.conf.d"
    d.mkdir()
    (d / "10-a.conf").write_text('unqualified-search-registries = ["a.io"]\n[aliases]\n"x" = "b.io/x"\n')
    (d / "20-b.conf").write_text('[[registry]]\nprefix = "example.com"\nlocation = "c.io"\n')
    monkeypatch.setenv("CONTAINERS_REGISTRIES_CONF", str(p))
    conf = load_registries_conf()
    assert conf.unqualified_search_registries == ["a.io"]
    assert conf.aliases["x"] == "b.io/x" and "myapp" in conf.aliases
    assert str(conf.endpoints(parse_reference("example.com/q"))[0].ref) == "c.io/q:latest"
    assert len(conf.sources) == 3


def test_no_search_registries(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONTAINERS_REGISTRIES_CONF", str(tmp_path / "absent.conf"))
    conf = load_registries_conf()
    with pytest.raises(UsageError, match="no unqualified-search registries"):
        conf.candidates("busybox")
    assert [str(r) for r in conf.candidates("127.0.0.1:5000/busybox")] == ["127.0.0.1:5000/busybox:latest"]


@pytest.mark.parametrize(
    "text",
    [
        "unqualified-search-registries = [",
        'unqualified-search-registries = "docker.io"',
        'short-name-mode = "sometimes"',
        "[registries.search]\nregistries = ['docker.io']",
        '[[registry]]\ninsecure = "yes"\nlocation = "a.io"',
        '[aliases]\n"x" = "x"',
        '[[registry]]\nprefix = "*.a.io"\nlocation = "b.io"',
    ],
)
def test_bad_files_give_one_line_errors(tmp_path: Path, text: str) -> None:
    p = tmp_path / "registries.conf"
    p.write_text(text)
    with pytest.raises(UsageError) as e:
        load_registries_conf(p)
    assert str(p) in e.value.message and "\n" not in e.value.message
