"""``--change`` parsing for import and reference normalisation."""

from __future__ import annotations

import pytest

from podpy.engine.transfer import normalize_name
from podpy.engine.transfer_changes import apply_changes
from podpy.util.errors import InvalidInput, UsageError


def test_changes_like_podman() -> None:
    cfg = apply_changes(
        {},
        [
            'CMD /bin/sh -c "echo hi"',
            'ENTRYPOINT ["/bin/busybox"]',
            "ENV A=1",
            "ENV B 2",
            "EXPOSE 90/udp",
            "EXPOSE=8080",
            "VOLUME /data /x",
            'VOLUME ["/a"]',
            "LABEL a=b",
            'LABEL c="d e"',
            "WORKDIR /w",
            "USER 1:1",
            "STOPSIGNAL SIGKILL",
        ],
    )
    assert cfg == {
        "Cmd": ["/bin/sh", "-c", '/bin/sh -c "echo hi"'],
        "Entrypoint": ["/bin/busybox"],
        "Env": ["A=1", "B=2"],
        "ExposedPorts": {"90/udp": {}, "8080/tcp": {}},
        "Volumes": {"/data": {}, "/x": {}, "/a": {}},
        "Labels": {"a": "b", "c": "d e"},
        "WorkingDir": "/w",
        "User": "1:1",
        "StopSignal": "9",
    }


def test_cmd_equals_forms() -> None:
    assert apply_changes({}, ['CMD=["/bin/sh"]'])["Cmd"] == ["/bin/sh"]
    assert apply_changes({}, ["CMD=ls -l"])["Cmd"] == ["/bin/sh", "-c", "ls -l"]
    assert apply_changes({}, ["cmd=true"])["Cmd"] == ["/bin/sh", "-c", "true"]


@pytest.mark.parametrize("change", ["FOO=1", "ONBUILD RUN x", "EXPOSE abc", "nonsense", "STOPSIGNAL SIGNOPE"])
def test_bad_changes_refused(change: str) -> None:
    with pytest.raises(UsageError):
        apply_changes({}, [change])


@pytest.mark.parametrize(
    ("typed", "default", "want"),
    [
        ("busybox", "docker.io", "docker.io/library/busybox:latest"),
        ("busybox:1", "docker.io", "docker.io/library/busybox:1"),
        ("bb", "localhost", "localhost/bb:latest"),
        ("quay.io/a/b:2", "localhost", "quay.io/a/b:2"),
        ("127.0.0.1:5000/x/y", "docker.io", "127.0.0.1:5000/x/y:latest"),
    ],
)
def test_normalize_name(typed: str, default: str, want: str) -> None:
    assert normalize_name(typed, default) == want


@pytest.mark.parametrize("typed", ["UPPER", "a@sha256:" + "0" * 64, ""])
def test_normalize_name_refuses(typed: str) -> None:
    with pytest.raises(InvalidInput):
        normalize_name(typed)
