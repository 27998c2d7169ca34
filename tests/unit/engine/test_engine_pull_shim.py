"""Reference parsing and short-name candidates of the engine's registry shim; CLI duration parsing."""

from __future__ import annotations

from pathlib import Path

import pytest

from podpy.cli.image import parse_duration
from podpy.engine.pull_registry import ShimConf, load_conf, parse_ref
from podpy.util.errors import InvalidInput, UsageError


@pytest.mark.parametrize(
    ("name", "want"),
    [
        ("busybox", "docker.io/library/busybox:latest"),
        ("busybox:1", "docker.io/library/busybox:1"),
        ("a/b", "docker.io/a/b:latest"),
        ("127.0.0.1:5000/busybox", "127.0.0.1:5000/busybox:latest"),
        ("localhost/x:y", "localhost/x:y"),
        ("quay.io/a/b@sha256:" + "a" * 64, "quay.io/a/b@sha256:" + "a" * 64),
        ("docker://quay.io/a/b:2", "quay.io/a/b:2"),
    ],
)
def test_parse_ref(name: str, want: str) -> None:
    assert str(parse_ref(name)[0]) == want


@pytest.mark.parametrize("bad", ["UPPER/case", "a@sha256:../x", "a@sha256:" + "A" * 64, "a:b:c:d/e", ""])
def test_parse_ref_rejects(bad: str) -> None:
    with pytest.raises((UsageError, InvalidInput)):
        parse_ref(bad)


def test_candidates_from_registries_conf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conf = tmp_path / "registries.conf"
    conf.write_text(
        'unqualified-search-registries = ["127.0.0.1:5000", "docker.io"]\n[[registry]]\nlocation = "127.0.0.1:5000"\ninsecure = true\n'
    )
    monkeypatch.setenv("CONTAINERS_REGISTRIES_CONF", str(conf))
    c = load_conf()
    assert [str(r) for r in c.candidates("busybox")] == [
        "127.0.0.1:5000/busybox:latest",
        "docker.io/library/busybox:latest",
    ]
    assert [str(r) for r in c.candidates("quay.io/x/y")] == ["quay.io/x/y:latest"]
    assert "127.0.0.1:5000" in c.insecure_hosts
    with pytest.raises(UsageError, match="did not resolve"):
        ShimConf().candidates("busybox")
    c = ShimConf(["docker.io"], aliases={"bb": "127.0.0.1:5000/busybox"}, blocked={"quay.io"})
    assert [str(r) for r in c.candidates("bb:2")] == ["127.0.0.1:5000/busybox:2"]
    with pytest.raises(UsageError, match="blocked"):
        c.candidates("quay.io/a/b")


@pytest.mark.parametrize(
    ("v", "want"), [("2s", 2.0), ("500ms", 0.5), ("1m30s", 90.0), ("3", 3.0), (None, None)]
)
def test_parse_duration(v: str | None, want: float | None) -> None:
    assert parse_duration(v) == want


def test_parse_duration_rejects() -> None:
    with pytest.raises(UsageError, match="invalid duration"):
        parse_duration("2x")
