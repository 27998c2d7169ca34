"""``podpy events``: the append-only event log of the state DB, filtered and shaped like Podman's.

Events are rows of the state DB's ``events`` table (written by the state layer in the same
transaction as the change they describe). Streaming polls that table by sequence number: new rows
appear in order, none is missed or printed twice, and no daemon is needed.
"""

from __future__ import annotations

import datetime as _dt
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from podpy.engine import containers
from podpy.engine.state import Event, State
from podpy.util.errors import PodpyError, UsageError
from podpy.util.paths import Paths

FILTER_KEYS = ("container", "event", "image", "label", "type")
TYPES = ("container", "image", "pod", "system", "volume", "network")
_DURATION_RE = re.compile(r"^(?:(\d+(?:\.\d+)?)(h|m|s|ms|us|µs|ns))+$")
_PART_RE = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)")
_UNIT_S = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def parse_when(value: str, flag: str, now_ns: int | None = None) -> int:
    """Podman's time filter values: RFC 3339 (date, or date and time), Unix seconds[.nanos], or a Go
    duration counted back from now (``10m``). Returns Unix nanoseconds."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    v = value.strip()
    if re.fullmatch(r"\d+(\.\d{1,9})?", v):
        sec, _, frac = v.partition(".")
        return int(sec) * 1_000_000_000 + int(frac.ljust(9, "0") or 0)
    if _DURATION_RE.match(v):
        secs = sum(float(n) * _UNIT_S[u] for n, u in _PART_RE.findall(v))
        return now_ns - int(secs * 1e9)
    iso = v.replace("Z", "+00:00").replace("z", "+00:00")
    frac_ns = 0
    m = re.match(r"^(.*T\d\d:\d\d:\d\d)\.(\d{1,9})(.*)$", iso)
    if m:
        iso, frac_ns = m.group(1) + m.group(3), int(m.group(2).ljust(9, "0"))
    try:
        t = _dt.datetime.fromisoformat(iso)
    except ValueError:
        raise UsageError(
            f'failed to parse {flag} "{value}": use RFC 3339 time, Unix seconds or a duration like 10m'
        ) from None
    if t.tzinfo is None:
        t = t.astimezone()  # a time without a zone is local time, as in podman
    return int(t.timestamp()) * 1_000_000_000 + frac_ns


def parse_filters(filters: tuple[str, ...] | list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for f in filters:
        key, sep, val = f.partition("=")
        if not sep:
            raise UsageError(f'invalid filter "{f}": filters must be key=value')
        if key not in FILTER_KEYS:
            raise UsageError(f'"{key}" is an invalid filter (valid filters: {", ".join(FILTER_KEYS)})')
        out.setdefault(key, []).append(val)
    return out


@dataclass
class EventView:
    """One event as podman's ``--format`` fields see it."""

    ID: str
    Image: str
    Name: str
    Status: str
    Type: str
    Attributes: dict[str, str] | None
    time_ns: int
    seq: int
    ContainerExitCode: int = 0
    HealthStatus: str = ""

    @property
    def Time(self) -> str:  # noqa: N802 - podman's template field
        return go_time_local(self.time_ns)

    @property
    def TimeNano(self) -> int:  # noqa: N802
        return self.time_ns

    def line(self) -> str:
        """Podman's default line: ``TIME TYPE STATUS ID (image=…, name=…, health_status=…, labels…)``."""
        t = go_time_local(self.time_ns)
        if self.Type == "container":
            attrs = [f"image={self.Image}", f"name={self.Name}"]
            attrs += [f"health_status={self.HealthStatus}"] if self.HealthStatus else []
            attrs += [f"{k}={v}" for k, v in sorted((self.Attributes or {}).items())]
            return f"{t} container {self.Status} {self.ID} ({', '.join(attrs)})"
        if self.Type == "volume":  # podman: ``TIME volume create NAME`` (volumes have no ID)
            return f"{t} volume {self.Status} {self.Name}"
        return f"{t} {self.Type} {self.Status} {self.ID} {self.Name}"

    def to_json(self) -> dict[str, Any]:
        """Podman 4.3's JSON: fields in its order, empty ones left out; a container's labels are
        ``Attributes`` (``{}`` without labels), other types have ``null``."""
        d: dict[str, Any] = {}
        if self.ContainerExitCode:
            d["ContainerExitCode"] = self.ContainerExitCode
        for k in ("ID", "Image", "Name"):
            if getattr(self, k):
                d[k] = getattr(self, k)
        d.update(Status=self.Status, Time=rfc3339_nano(self.time_ns), Type=self.Type)
        if self.HealthStatus:
            d["health_status"] = self.HealthStatus
        d["Attributes"] = (self.Attributes or {}) if self.Type == "container" else (self.Attributes or None)
        return d


def _local(ns: int) -> _dt.datetime:
    return _dt.datetime.fromtimestamp(ns // 1_000_000_000, _dt.UTC).astimezone()


def go_time_local(ns: int) -> str:
    """Go's ``time.Time.String()`` in local time: ``2024-03-25 13:20:42.999999999 +0100 CET``."""
    t = _local(ns)
    frac = f"{ns % 1_000_000_000:09d}".rstrip("0")
    zone = t.strftime("%Z")
    if zone == "UTC" or zone == "":
        zone = "UTC" if t.utcoffset() == _dt.timedelta(0) else t.strftime("%z")
    return t.strftime("%Y-%m-%d %H:%M:%S") + (f".{frac}" if frac else "") + t.strftime(" %z ") + zone


def rfc3339_nano(ns: int) -> str:
    t = _local(ns)
    frac = f"{ns % 1_000_000_000:09d}".rstrip("0")
    off = t.strftime("%z")
    off = "Z" if off in ("+0000", "") else f"{off[:3]}:{off[3:]}"
    return t.strftime("%Y-%m-%dT%H:%M:%S") + (f".{frac}" if frac else "") + off


class EventReader:
    """Turns state rows into views. Every container event carries its image and labels (the state
    layer writes them); rows written before it did get them from the container while it exists."""

    def __init__(self, paths: Paths) -> None:
        self.state: State = containers.open_state(paths)
        self._old: dict[str, dict[str, Any]] = {}

    def _compat(self, ev: Event) -> dict[str, Any]:
        """Image and labels for an event logged without them (an older podpy)."""
        if ev.id not in self._old:
            try:
                rec = self.state.get(ev.id)
                self._old[ev.id] = {"image": rec.image_name, "labels": dict(rec.labels)}
            except PodpyError:
                self._old[ev.id] = {}
        return {**self._old[ev.id], **ev.attributes}

    def view(self, ev: Event) -> EventView:
        if ev.type != "container":
            attrs = {k: str(v) for k, v in ev.attributes.items()}
            return EventView(ev.id, "", ev.name, ev.action, ev.type, attrs, ev.time_ns, ev.seq)  # JSON: null
        a = ev.attributes if "labels" in ev.attributes else self._compat(ev)
        labels = {k: str(v) for k, v in (a.get("labels") or {}).items()}
        return EventView(ev.id, str(a.get("image") or ""), ev.name, ev.action, ev.type, labels, ev.time_ns,
                         ev.seq, int(a.get("containerExitCode") or 0), str(a.get("health_status") or ""))  # fmt: skip

    def read(self, since_ns: int | None, until_ns: int | None, after_seq: int = 0) -> list[EventView]:
        return [
            self.view(e) for e in self.state.events(since_ns=since_ns, until_ns=until_ns, after_seq=after_seq)
        ]


def matches(v: EventView, filters: dict[str, list[str]]) -> bool:
    """Values of one key are ORed, different keys ANDed."""
    for key, vals in filters.items():
        if key == "type" and v.Type not in vals:
            return False
        if key == "event" and not any(v.Status == x or (x == "die" and v.Status == "died") for x in vals):
            return False
        if key == "container" and not (v.Type == "container" and any(
                x in (v.Name, v.ID) or (len(x) >= 3 and v.ID.startswith(x)) for x in vals)):  # fmt: skip
            return False
        if key == "image" and not any(
            x in (v.Image, v.Name if v.Type == "image" else "", v.ID if v.Type == "image" else "")
            or v.Image.split("/")[-1].split(":")[0] == x
            or v.Image.rsplit(":", 1)[0] == x
            for x in vals
        ):
            return False
        if key == "label":
            attrs = v.Attributes or {}
            if not any(
                (k in attrs and (not sep or attrs[k] == val))
                for k, sep, val in (x.partition("=") for x in vals)
            ):
                return False
    return True


def follow(paths: Paths, filters: dict[str, list[str]], since_ns: int | None, until_ns: int | None,
           stream: bool, poll: float = 0.1) -> Iterator[EventView]:  # fmt: skip
    """Past events (from ``since``), then, when streaming, new ones as they are written, until ``until``."""
    reader = EventReader(paths)
    last = 0
    for v in reader.read(since_ns, until_ns):
        last = v.seq
        if matches(v, filters):
            yield v
    if not stream:
        return
    while until_ns is None or time.time_ns() <= until_ns:
        time.sleep(poll)
        for v in reader.read(since_ns, until_ns, after_seq=last):
            last = v.seq
            if matches(v, filters):
                yield v
