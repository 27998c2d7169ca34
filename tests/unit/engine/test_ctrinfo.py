"""Pure parts of events/ctrinfo: Go duration and time strings, time and filter parsing, matching."""

from __future__ import annotations

import pytest

from podpy.engine import ctrinfo, events
from podpy.util.errors import UsageError


@pytest.mark.parametrize(("secs", "text"), [
    (0, "0s"), (1.044722817, "1.044722817s"), (0.8708353, "870.8353ms"), (0.000001, "1µs"),
    (65, "1m5s"), (3600, "1h0m0s"), (3723.5, "1h2m3.5s"), (59, "59s"),
])  # fmt: skip
def test_go_duration(secs: float, text: str) -> None:
    assert ctrinfo.go_duration(secs) == text


def test_parse_when() -> None:
    now = 1_700_000_000 * 10**9
    assert events.parse_when("10m", "--since", now) == now - 600 * 10**9
    assert events.parse_when("1h30m", "--since", now) == now - 5400 * 10**9
    assert events.parse_when("1700000000.5", "--since") == 1_700_000_000_500_000_000
    assert events.parse_when("2023-11-14T22:13:20Z", "--since") == now
    assert events.parse_when("2023-11-14T22:13:20.000000001Z", "--since") == now + 1
    with pytest.raises(UsageError, match="--until"):
        events.parse_when("soon", "--until")


def test_parse_filters() -> None:
    assert events.parse_filters(["event=start", "event=died", "type=container"]) == {
        "event": ["start", "died"], "type": ["container"]}  # fmt: skip
    with pytest.raises(UsageError, match="invalid filter"):
        events.parse_filters(["bogus=1"])
    with pytest.raises(UsageError, match="key=value"):
        events.parse_filters(["event"])


def _view(**kw: object) -> events.EventView:
    d: dict[str, object] = dict(ID="ab" * 32, Image="127.0.0.1:5000/busybox:latest", Name="web", Status="start",
                                Type="container", Attributes={"app": "x"}, time_ns=1_700_000_000_123_000_000, seq=1)  # fmt: skip
    d.update(kw)
    return events.EventView(**d)  # type: ignore[arg-type]


def test_matches_ors_one_key_ands_keys() -> None:
    v = _view()
    assert events.matches(v, {"event": ["stop", "start"]})
    assert not events.matches(v, {"event": ["start"], "type": ["image"]})
    assert events.matches(v, {"container": ["web"]}) and events.matches(v, {"container": ["abab"]})
    assert not events.matches(v, {"container": ["other"]})
    assert events.matches(v, {"image": ["busybox"]}) and events.matches(v, {"image": ["127.0.0.1:5000/busybox"]})
    assert events.matches(v, {"label": ["app=x"]}) and events.matches(v, {"label": ["app"]})
    assert not events.matches(v, {"label": ["app=y"]})
    assert events.matches(_view(Status="died"), {"event": ["die"]})


def test_line_and_json_shape(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    import time

    time.tzset()
    v = _view()
    assert v.line() == (f"2023-11-14 22:13:20.123 +0000 UTC container start {'ab' * 32} "
                        "(image=127.0.0.1:5000/busybox:latest, name=web, app=x)")  # fmt: skip
    assert v.to_json() == {"ID": "ab" * 32, "Image": "127.0.0.1:5000/busybox:latest", "Name": "web",
                           "Status": "start", "Time": "2023-11-14T22:13:20.123Z", "Type": "container",
                           "Attributes": {"app": "x"}}  # fmt: skip
    img = _view(ID="", Image="", Name="127.0.0.1:5000/busybox", Status="pull", Type="image", Attributes=None)
    assert img.line() == "2023-11-14 22:13:20.123 +0000 UTC image pull  127.0.0.1:5000/busybox"
