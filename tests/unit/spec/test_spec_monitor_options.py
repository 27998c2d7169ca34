"""The parsers of run's monitor options (--log-*, --restart, --health-*, --sdnotify), with Podman's errors."""

from __future__ import annotations

import pytest

from podpy.spec.container import (
    ContainerSpec,
    go_human_size,
    has_healthcheck,
    make_healthcheck,
    parse_go_duration,
    parse_go_size,
    parse_log_opts,
    parse_restart,
)
from podpy.util.errors import UsageError


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("0", 0),
        ("1s", 10**9),
        ("1m30s", 90 * 10**9),
        ("500ms", 5 * 10**8),
        ("1.5h", 5400 * 10**9),
        ("-1s", -(10**9)),
    ],
)
def test_go_duration(text: str, ns: int) -> None:
    assert parse_go_duration(text) == ns


@pytest.mark.parametrize(
    ("text", "message"),
    [("x", 'time: invalid duration "x"'), ("30", 'time: missing unit in duration "30"'),
     ("3y", 'time: unknown unit "y" in duration "3y"'), ("", 'time: invalid duration ""')],
)  # fmt: skip
def test_go_duration_errors(text: str, message: str) -> None:
    with pytest.raises(UsageError) as e:
        parse_go_duration(text)
    assert e.value.message == message


@pytest.mark.parametrize(
    ("text", "size"), [("10k", 10_000), ("1.5m", 1_500_000), ("1024", 1024), ("2KiB", 2000)]
)
def test_go_size_is_decimal_like_podman(text: str, size: int) -> None:
    assert parse_go_size(text) == size


@pytest.mark.parametrize(
    ("size", "text"), [(0, "0B"), (10_000, "10kB"), (123_456_789, "123.5MB"), (999, "999B")]
)
def test_go_human_size(size: int, text: str) -> None:
    assert go_human_size(size) == text


def test_log_opts() -> None:
    assert parse_log_opts(["max-size=1k", "path=/x/../y.log"]) == {"max_size": 1000, "path": "/y.log"}
    for bad, msg in ((["foo"], 'invalid log option "foo"'), (["max-size=abc"], "invalid size: 'abc'"),
                     (["path=rel"], "--log-opt path=rel: the log path must be absolute")):  # fmt: skip
        with pytest.raises(UsageError) as e:
            parse_log_opts(bad)
        assert e.value.message == msg
    with pytest.raises(UsageError, match="unsupported log option"):
        parse_log_opts(["tag=x"])  # journald tags: refused, not ignored


def test_restart_policies() -> None:
    assert parse_restart("always") == ("always", 0)
    assert parse_restart("on-failure:3") == ("on-failure", 3)
    assert parse_restart("no") == ("no", 0)
    with pytest.raises(UsageError, match="only be specified with on-failure"):
        parse_restart("always:2")
    with pytest.raises(UsageError, match="may specify retries at most once"):
        parse_restart("on-failure:1:2")


def test_healthcheck_defaults_and_forms() -> None:
    assert make_healthcheck("curl -f x") == {"Test": ["CMD-SHELL", "curl -f x"], "Interval": 30 * 10**9,
                                            "Retries": 3, "Timeout": 30 * 10**9, "StartPeriod": 0}  # fmt: skip
    assert make_healthcheck('["a","b"]')["Test"] == ["CMD", "a", "b"]
    assert make_healthcheck('["a"]')["Test"] == ["CMD-SHELL", "a"]
    assert make_healthcheck("none")["Test"] == ["NONE"]
    assert make_healthcheck("true", interval="disable")["Interval"] == 0
    assert not has_healthcheck({"Test": ["NONE"]}) and not has_healthcheck(None)
    assert has_healthcheck({"Test": ["CMD", "x"]}) and not has_healthcheck({"Test": ["CMD"]})


def test_spec_validation() -> None:
    with pytest.raises(UsageError, match="conflicts with --restart"):
        ContainerSpec(image="x", remove=True, restart_policy="always").validate()
    ContainerSpec(image="x", remove=True, restart_policy="no").validate()
    with pytest.raises(UsageError, match="invalid sdnotify value"):
        ContainerSpec(image="x", sdnotify="bad").validate()
    with pytest.raises(UsageError, match="supported actions are none,kill,restart,stop"):
        ContainerSpec(image="x", health_on_failure="bad").validate()
