"""``--secret`` parsing (``parse_secret``) as Podman takes the flag."""

from __future__ import annotations

import pytest

from podpy.spec.container import parse_secret
from podpy.util.errors import UsageError


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("pw", {"source": "pw", "type": "mount"}),
        ("pw,type=env", {"source": "pw", "type": "env"}),
        ("pw,type=env,target=DB_PASS", {"source": "pw", "type": "env", "target": "DB_PASS"}),
        ("source=pw,target=/etc/pw,uid=1000,gid=10,mode=0400",
         {"source": "pw", "type": "mount", "target": "/etc/pw", "uid": 1000, "gid": 10, "mode": 0o400}),
    ],
)  # fmt: skip
def test_parse_secret(text: str, want: dict[str, object]) -> None:
    assert parse_secret(text) == want


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("", "invalid --secret"),
        ("pw,type=", "invalid --secret"),
        ("pw,type=file", 'type must be "mount" or "env"'),
        ("pw,uid=x", "uid must be a number"),
        ("pw,mode=8", "mode must be an octal number"),
        ("pw,gid=-1", "gid -1 is out of range"),
        ("pw,type=env,mode=0400", "go with type=mount only"),
        ("type=env", "the secret's name is missing"),
    ],
)
def test_parse_secret_refuses(text: str, why: str) -> None:
    with pytest.raises(UsageError, match=why):
        parse_secret(text)
