"""Shared output helpers: Podman's humanized sizes and ages, JSON documents, the ``images`` table,
pull progress.

No click here: ``podpy images`` is printed from this module by ``cli.main``'s fast path as well as
by the click command, so both print the same bytes.

``rich`` is imported only when a progress display is actually drawn on a terminal.
"""

from __future__ import annotations

import datetime as _dt
import sys
import time

TYPE_CHECKING = False  # not ``typing.TYPE_CHECKING``: ``podpy images`` starts without typing
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any, TextIO

# ---------------------------------------------------------------------------------------------
# humanized values (docker/go-units, as podman prints them)

_SI = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"]


def confirm(warning: str) -> bool:
    """Podman's prompt before a prune or reset: ``warning`` (ending in a newline), then
    ``Are you sure you want to continue? [y/N] ``; one line from stdin: y or yes goes on, anything
    else (or EOF) is no."""
    sys.stdout.write(warning + "Are you sure you want to continue? [y/N] ")
    sys.stdout.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")


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
    from podpy.cli.template import go_json

    (out or sys.stdout).write(go_json(obj, indent=indent, escape_html=escape_html) + "\n")


# ---------------------------------------------------------------------------------------------
# podman images


def tabwrite(text: str, minwidth: int = 12, padding: int = 2) -> str:
    """Go's ``tabwriter.NewWriter(w, minwidth, 2, padding, ' ', 0)``: tab-terminated cells aligned per
    column block (runs of consecutive lines that have that column)."""
    lines = text.split("\n")
    cells = [ln.split("\t") for ln in lines]
    widths: list[list[int]] = [[0] * (len(c) - 1) for c in cells]

    def fmt_block(line0: int, line1: int, col: int) -> None:
        this = line0
        while this < line1:
            if col >= len(cells[this]) - 1:
                this += 1
                continue
            end = this
            width = minwidth
            while end < line1 and col < len(cells[end]) - 1:
                width = max(width, len(cells[end][col]) + padding)
                end += 1
            for ln in range(this, end):
                widths[ln][col] = width
            fmt_block(this, end, col + 1)
            this = end

    fmt_block(0, len(cells), 0)
    out = []
    for c, w in zip(cells, widths, strict=True):
        out.append("".join(cell.ljust(w[i]) for i, cell in enumerate(c[:-1])) + c[-1])
    return "\n".join(out)


IMAGES_HEADERS = {
    "Repository": "REPOSITORY",
    "Tag": "TAG",
    "ID": "IMAGE ID",
    "ParentId": "PARENT ID",
    "RepoTags": "REPO TAGS",
    "RepoDigests": "REPO DIGESTS",
    "Created": "CREATED",
    "CreatedAt": "CREATED AT",
    "CreatedSince": "CREATED",
    "CreatedTime": "CREATED AT",
    "Size": "SIZE",
    "SharedSize": "SHARED SIZE",
    "VirtualSize": "VIRTUAL SIZE",
    "Labels": "LABELS",
    "Containers": "CONTAINERS",
    "ReadOnly": "R/O",
    "Dangling": "DANGLING",
    "Names": "NAMES",
    "Digest": "DIGEST",
    "History": "HISTORY",
}


class ImageRow:
    """One row of ``podman images`` (its ``imageReporter``): fields and Go-style methods."""

    go_type = "images.imageReporter"

    def __init__(self, s: Any, repository: str, tag: str, no_trunc: bool) -> None:
        self._s = s
        self._no_trunc = no_trunc
        self.Repository = repository
        self.Tag = tag
        self.ParentId = ""
        self.RepoTags = list(s.names)
        self.RepoDigests = list(s.repo_digests)
        self.SharedSize = 0
        self.VirtualSize = s.size
        self.Labels = s.labels or {}
        self.Containers = s.containers
        self.ReadOnly = s.read_only
        self.Dangling = s.dangling
        self.Names = list(s.names)
        self.Digest = s.digest

    def ID(self) -> str:  # noqa: N802 - Go method names are the template fields
        return "sha256:" + self._s.id if self._no_trunc else self._s.id[:12]

    def Created(self) -> str:  # noqa: N802
        return human_ago(self._s.created)

    def CreatedSince(self) -> str:  # noqa: N802
        return self.Created()

    def CreatedAt(self) -> str:  # noqa: N802
        return go_time_string(self._s.created)

    def CreatedTime(self) -> str:  # noqa: N802
        return self.CreatedAt()

    def Size(self) -> str:  # noqa: N802
        return human_size(self._s.size)

    def History(self) -> str:  # noqa: N802
        return ", ".join(self._s.history)

    def to_json(self) -> dict:
        return self._s.to_json()


def image_rows(summaries: Sequence[Any], no_trunc: bool) -> list[ImageRow]:
    """One row per tagged name (an image without tagged names gets one ``<none>`` row), like podman."""
    from podpy.engine.images import repo_tag

    rows: list[ImageRow] = []
    for s in summaries:
        if s.names:
            tagged, untagged = [], []
            for n in s.names:
                repo, tag = repo_tag(n)
                (untagged if tag == "<none>" else tagged).append(ImageRow(s, repo, tag, no_trunc))
            rows.extend(tagged or untagged[:1])
        else:
            rows.append(ImageRow(s, "<none>", "<none>", no_trunc))
    return rows


SORT_FIELDS = ("created", "id", "repository", "size", "tag")


def sort_rows(rows: list[ImageRow], key: str) -> list[ImageRow]:
    if key == "id":
        return sorted(rows, key=lambda r: r.ID())
    if key == "repository":
        return sorted(rows, key=lambda r: r.Repository)
    if key == "size":
        return sorted(rows, key=lambda r: r._s.size)
    if key == "tag":
        return sorted(rows, key=lambda r: r.Tag)
    return sorted(rows, key=lambda r: r._s.created, reverse=True)


def images_text(
    summaries: Sequence[Any],
    *,
    fmt: str | None = None,
    quiet: bool = False,
    digests: bool = False,
    no_trunc: bool = False,
    noheading: bool = False,
    history: bool = False,
    sort: str = "created",
) -> str:
    """What ``podman images`` prints for these images and flags (``--format`` through the template)."""
    rows = sort_rows(image_rows(summaries, no_trunc), sort)
    if fmt is not None:
        from podpy.cli.template import go_json, is_json, render

        if is_json(fmt):
            return go_json([r.to_json() for r in rows], indent=4, escape_html=True) + "\n"
    if quiet:
        ids = [r.ID() for r in rows]
        return "".join(i + "\n" for i in dict.fromkeys(ids))
    if fmt is not None:
        return render(
            fmt,
            rows,
            name="images",
            headers=IMAGES_HEADERS,
            noheading=noheading or not fmt.startswith("table"),
        )
    # the default table, as podman's default template renders it (without the template engine:
    # this is the start-up path of the most frequent command)
    lines = []
    if not noheading:
        head = ["REPOSITORY", "TAG", *(["DIGEST"] if digests else []), "IMAGE ID", "CREATED", "SIZE"]
        lines.append("\t".join(head + (["HISTORY"] if history else [])))
    for r in rows:
        cells = [r.Repository or "<none>", r.Tag or "<none>", *([r.Digest] if digests else [])]
        cells += [r.ID(), r.Created(), r.Size()]
        if history:
            cells.append(r.History() or "<none>")
        lines.append("\t".join(cells))
    return tabwrite("".join(line + "\n" for line in lines))


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
        import _thread  # the lock without the threading module: every ``run`` makes a reporter

        self._lock = _thread.allocate_lock()  # blobs are fetched by parallel threads

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
