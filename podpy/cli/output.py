"""Shared output helpers: Podman's humanized sizes and ages, JSON documents, pull progress.

``rich`` is imported only when a progress display is actually drawn on a terminal.
"""

from __future__ import annotations

import datetime as _dt
import sys
import threading
import time
from typing import Any, TextIO

from podpy.cli.template import go_json

# ---------------------------------------------------------------------------------------------
# humanized values (docker/go-units, as podman prints them)

_SI = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"]


def human_size(size: float) -> str:
    """``units.HumanSizeWithPrecision(size, 3)`` with a space before the unit: ``4.26 MB``, ``0 B``."""
    i = 0
    size = float(size)
    while size >= 1000.0 and i < len(_SI) - 1:
        size /= 1000.0
        i += 1
    num = f"{size:.3g}"
    if "e+" in num:  # Go prints 1e+03 the same way; keep the exponent two digits wide
        mant, exp = num.split("e+")
        num = f"{mant}e+{int(exp):02d}"
    return f"{num} {_SI[i]}"


def human_duration(seconds: float) -> str:
    """``units.HumanDuration``: "Less than a second", "About a minute", "3 hours", "2 weeks"."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"


def human_ago(when: _dt.datetime | None, now: float | None = None) -> str:
    """``2 hours ago`` as podman's CREATED column (time.Since(created))."""
    if when is None:
        when = _dt.datetime.fromtimestamp(0, _dt.UTC)
    now = time.time() if now is None else now
    return human_duration(max(0.0, now - when.timestamp())) + " ago"


def parse_time(value: str | None) -> _dt.datetime | None:
    """RFC 3339 (with nanoseconds, ``Z``) to an aware datetime; None when absent or unparsable."""
    if not value:
        return None
    v = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    # Python wants at most 6 fractional digits
    if "." in v:
        head, rest = v.split(".", 1)
        frac = ""
        i = 0
        while i < len(rest) and rest[i].isdigit():
            frac += rest[i]
            i += 1
        v = f"{head}.{frac[:6].ljust(6, '0')}{rest[i:]}"
    try:
        t = _dt.datetime.fromisoformat(v)
    except ValueError:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=_dt.UTC)
    return t


def go_time_string(t: _dt.datetime) -> str:
    """``time.Time.String()`` of a UTC time: ``2026-11-28 15:30:24 +0000 UTC``."""
    t = t.astimezone(_dt.UTC)
    base = t.strftime("%Y-%m-%d %H:%M:%S")
    if t.microsecond:
        base += ("." + f"{t.microsecond:06d}").rstrip("0")
    return base + " +0000 UTC"


def rfc3339(t: _dt.datetime, nano: bool = True) -> str:
    """``time.RFC3339Nano`` (fraction without trailing zeros) or ``RFC3339`` of a UTC time."""
    t = t.astimezone(_dt.UTC)
    s = t.strftime("%Y-%m-%dT%H:%M:%S")
    if nano and t.microsecond:
        s += ("." + f"{t.microsecond:06d}").rstrip("0")
    return s + "Z"


def print_json(obj: Any, indent: int = 4, escape_html: bool = True, out: TextIO | None = None) -> None:
    """Print a JSON document the way podman does (``json.MarshalIndent``)."""
    (out or sys.stdout).write(go_json(obj, indent=indent, escape_html=escape_html) + "\n")


# ---------------------------------------------------------------------------------------------
# pull progress


class PullReporter:
    """What the engine tells the user during a pull; the base class prints nothing (``-q``)."""

    def trying(self, ref: str) -> None: ...

    def start(self) -> None: ...

    def blob_start(self, digest: str, size: int, kind: str = "blob") -> None: ...

    def blob_progress(self, digest: str, nbytes: int) -> None: ...

    def blob_done(self, digest: str, skipped: bool = False) -> None: ...

    def writing_manifest(self) -> None: ...

    def close(self) -> None: ...


class PlainReporter(PullReporter):
    """Podman's non-TTY lines on stderr: "Trying to pull ...", "Copying blob sha256:...", ..."""

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stderr
        self._lock = threading.Lock()

    def _p(self, line: str) -> None:
        with self._lock:
            self.out.write(line + "\n")
            self.out.flush()

    def trying(self, ref: str) -> None:
        self._p(f"Trying to pull {ref}...")

    def start(self) -> None:
        self._p("Getting image source signatures")

    def blob_start(self, digest: str, size: int, kind: str = "blob") -> None:
        self._p(f"Copying {kind} {digest}")

    def writing_manifest(self) -> None:
        self._p("Writing manifest to image destination")
        self._p("Storing signatures")


class RichReporter(PlainReporter):
    """Per-layer progress bars on a terminal (``rich``, imported only here)."""

    def __init__(self, out: TextIO | None = None) -> None:
        super().__init__(out)
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}

    def start(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

        self._p("Getting image source signatures")
        self._progress = Progress(
            TextColumn("Copying {task.fields[kind]} {task.fields[short]}"),
            BarColumn(),
            DownloadColumn(binary_units=False),
            TransferSpeedColumn(),
            TextColumn("{task.fields[status]}"),
            console=Console(file=self.out),
            transient=False,
        )
        self._progress.start()

    def blob_start(self, digest: str, size: int, kind: str = "blob") -> None:
        if self._progress is None:
            return super().blob_start(digest, size, kind)
        with self._lock:
            short = digest.split(":", 1)[-1][:12]
            self._tasks[digest] = self._progress.add_task(
                "", total=size or None, kind=kind, short=short, status=""
            )

    def blob_progress(self, digest: str, nbytes: int) -> None:
        t = self._tasks.get(digest)
        if t is not None and self._progress is not None:
            self._progress.advance(t, nbytes)

    def blob_done(self, digest: str, skipped: bool = False) -> None:
        t = self._tasks.get(digest)
        if t is None or self._progress is None:
            return
        task = self._progress.tasks[[x.id for x in self._progress.tasks].index(t)]
        status = "skipped: already exists" if skipped else "done"
        self._progress.update(t, completed=task.total or task.completed, status=status)

    def writing_manifest(self) -> None:
        self.close()
        super().writing_manifest()

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def pull_reporter(quiet: bool, out: TextIO | None = None) -> PullReporter:
    """Nothing with ``-q``, bars on a terminal, podman's plain lines otherwise."""
    if quiet:
        return PullReporter()
    stream = out or sys.stderr
    if stream.isatty():
        return RichReporter(stream)
    return PlainReporter(stream)
