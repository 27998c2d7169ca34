"""Connection failures worded as podman words them: one line, Go's phrasing, no Python errno tuples."""

from __future__ import annotations

import pytest

from podpy.registry.client import _describe_conn_error, _go_dial_error


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        (
            "HTTPConnectionPool(host='127.0.0.1', port=1): Max retries exceeded with url: /v2/ "
            "(Caused by NewConnectionError('<urllib3.connection.HTTPConnection object>: Failed to establish "
            "a new connection: [Errno 111] Connection refused'))",
            "dial tcp 127.0.0.1:1: connect: connection refused",
        ),
        ("[Errno -2] Name or service not known", "dial tcp: lookup 127.0.0.1: no such host"),
        ("Read timed out. (read timeout=30)", "dial tcp 127.0.0.1:1: i/o timeout"),
        (
            "[SSL: WRONG_VERSION_NUMBER] wrong version number",
            "http: server gave HTTP response to HTTPS client",
        ),
    ],
)
def test_connection_errors_read_like_podman(raw: str, want: str) -> None:
    got = _go_dial_error("127.0.0.1:1", _describe_conn_error(OSError(raw)))
    assert got == want
    assert "Errno" not in got and "\n" not in got


def test_unknown_errors_stay_one_short_line() -> None:
    got = _describe_conn_error(OSError("first line\nsecond line " + "x" * 500))
    assert got == "first line"
