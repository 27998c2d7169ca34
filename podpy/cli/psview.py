"""What ``podpy ps`` prints: Podman's columns, ``--format`` fields, filters and JSON — without click.

This is the hot path of scripts that poll (``ps -a`` with hundreds of containers): it reads the
state DB once, checks liveness only for containers recorded as running, and imports the template
engine only for ``--format``. ``fast_ps`` runs the common shapes (``ps -a``, ``ps -q`` ...) before
click is even imported; the click command is ``podpy.cli.ps.ps_cmd``.
"""

from __future__ import annotations

import datetime as _dt
import re
import sys
import time
from collections.abc import Sequence
from typing import Any

from podpy.network.report import ps_ports
from podpy.util.errors import UsageError

PS_STATUSES = (
    "created",
    "exited",
    "paused",
    "running",
    "unknown",
    "configured",
    "stopped",
    "stopping",
    "removing",
)
FILTER_KEYS = ("id", "name", "label", "status", "ancestor", "exited", "since", "before", "health")
HEADERS = {
    "ID": "CONTAINER ID",
    "Image": "IMAGE",
    "Command": "COMMAND",
    "CreatedHuman": "CREATED",
    "Created": "CREATED",
    "CreatedAt": "CREATED AT",
    "Status": "STATUS",
    "State": "STATE",
    "Ports": "PORTS",
    "Names": "NAMES",
    "Labels": "LABELS",
    "Pid": "PID",
    "ExitCode": "EXIT CODE",
    "RunningFor": "RUNNING FOR",
    "ImageID": "IMAGE ID",
    "Mounts": "MOUNTS",
    "Networks": "NETWORKS",
    "Pod": "POD ID",
    "PodName": "PODNAME",
    "Size": "SIZE",
    "StartedAt": "STARTED AT",
    "AutoRemove": "AUTO REMOVE",
    "Exited": "EXITED",
    "ExitedAt": "EXITED AT",
}


def _dt_ns(ns: int) -> _dt.datetime:
    return _dt.datetime.fromtimestamp(ns / 1e9, _dt.UTC)


def _ago(ns: int, now: float) -> str:
    from podpy.cli.output import human_duration

    return human_duration(max(0.0, now - ns / 1e9)) + " ago"


def status_text(rec: Any, now: float | None = None) -> str:
    """Podman 4.3's STATUS column: ``Up 2 minutes ago``, ``Exited (3) 5 seconds ago``, ``Created``."""
    now = time.time() if now is None else now
    if rec.state == "running":
        return "Up " + _ago(rec.started_at or rec.created, now) + _health_suffix(rec)
    if rec.state == "paused":
        return "Paused" + _health_suffix(rec)
    if rec.state in ("exited", "stopped"):  # the last health status stays, as in podman 4.3
        return f"Exited ({int(rec.exit_code or 0)}) " + _ago(rec.finished_at or rec.created, now) + _health_suffix(rec)
    if rec.state == "configured":
        return "Initialized"
    return rec.state.capitalize()


def _health_suffix(rec: Any) -> str:
    """`` (healthy)``/`` (unhealthy)``/`` (starting)`` for a container with a health check."""
    if not rec.config.get("health_log"):
        return ""
    from podpy.engine.health import health_status

    status = health_status(rec)
    return f" ({status})" if status else ""


def size_text(size: tuple[int, int]) -> str:
    """Podman's SIZE column: ``12B (virtual 1.98MB)`` (writable layer, then image)."""
    from podpy.cli.output import human_size

    rw, root = size
    return f"{human_size(rw).replace(' ', '')} (virtual {human_size(root).replace(' ', '')})"


class PsRow:
    """One row of ``podman ps`` (its ``psReporter``): fields and Go-style methods."""

    go_type = "ps.psReporter"

    def __init__(self, rec: Any, no_trunc: bool, now: float, size: tuple[int, int] | None = None,
                 pod_names: dict[str, str] | None = None) -> None:  # fmt: skip
        self._r = rec
        self._size = size  # (rwSize, rootFsSize) with ``--size``
        self._no_trunc = no_trunc
        self._now = now
        args = list(rec.config.get("args") or [])
        self.Image = rec.image_name
        self.ImageID = rec.image_id
        self.Names = rec.name
        self.Labels = dict(rec.labels)
        self.Pid = rec.pid if rec.state == "running" else 0
        self.ExitCode = int(rec.exit_code or 0)
        self.Exited = rec.state in ("exited", "stopped")
        self.AutoRemove = bool(rec.config.get("remove"))
        self._ports = rec.config.get("ports") or []
        self.Ports = ps_ports(self._ports) if self._ports else ""
        self.Mounts = ""
        self.Networks = ""
        self._pod = str((rec.config.get("spec") or {}).get("pod") or "")  # the pod's ID (podpy.engine.pods)
        self.Pod = self._pod if no_trunc else self._pod[:12]
        self.PodName = (pod_names or {}).get(self._pod, "")
        self.Size = size_text(size) if size is not None else ""
        self._args = args

    def ID(self) -> str:  # noqa: N802 - Go method names are the template fields
        return self._r.id if self._no_trunc else self._r.id[:12]

    def Command(self) -> str:  # noqa: N802
        cmd = " ".join(self._args)
        if not self._no_trunc and len(cmd) > 20:
            return cmd[:17] + "..."
        return cmd

    def Created(self) -> _dt.datetime:  # noqa: N802
        return _dt_ns(self._r.created)

    def CreatedAt(self) -> _dt.datetime:  # noqa: N802
        return self.Created()

    def CreatedHuman(self) -> str:  # noqa: N802
        return _ago(self._r.created, self._now)

    def RunningFor(self) -> str:  # noqa: N802
        return self.CreatedHuman()

    def Status(self) -> str:  # noqa: N802
        return status_text(self._r, self._now)

    def State(self) -> str:  # noqa: N802 - podman 4.3 prints the status text for .State too
        return self.Status()

    def StartedAt(self) -> str:  # noqa: N802
        return _ago(self._r.started_at, self._now) if self._r.started_at else ""

    def ExitedAt(self) -> str:  # noqa: N802
        return _ago(self._r.finished_at, self._now) if self._r.finished_at else ""

    def to_json(self) -> dict[str, Any]:
        r = self._r
        return {
            "AutoRemove": self.AutoRemove,
            "Command": self._args,
            "CreatedAt": self.CreatedHuman(),
            "Exited": self.Exited,
            "ExitedAt": r.finished_at // 1_000_000_000 if r.finished_at else -62135596800,
            "ExitCode": self.ExitCode,
            "Id": r.id,
            "Image": r.image_name,
            "ImageID": r.image_id,
            "IsInfra": bool(r.config.get("infra")),
            "Labels": self.Labels or None,
            "Mounts": [],
            "Names": [r.name],
            "Namespaces": {},
            "Networks": [],
            "Pid": self.Pid,
            "Pod": self._pod,
            "PodName": self.PodName,
            "Ports": [{"host_ip": p.get("host_ip") or "", "container_port": p.get("container_port"),
                       "host_port": p.get("host_port"), "range": 1, "protocol": p.get("protocol") or "tcp"}
                      for p in self._ports] or None,  # fmt: skip
            "Size": {"rootFsSize": self._size[1], "rwSize": self._size[0]} if self._size is not None else None,
            "StartedAt": r.started_at // 1_000_000_000 if r.started_at else -62135596800,
            "State": r.state,
            "Status": self.Status(),
            "Created": r.created // 1_000_000_000,
        }


def _check_filter(key: str, val: str) -> None:
    if key == "status" and val not in PS_STATUSES:
        raise UsageError(f"unknown container state: {val}: invalid argument")
    if key == "exited" and not val.lstrip("-").isdigit():
        raise UsageError(f"exited code out of range {val!r}")


def parse_filters(filters: Sequence[str]) -> dict[str, list[str]]:
    from podpy.cli.filters import key_values

    return key_values(filters, FILTER_KEYS, _check_filter)


def _match_one(key: str, val: str, rec: Any, by_ref: dict[str, Any]) -> bool:
    if key == "id":
        return rec.id.startswith(val)
    if key == "name":
        try:
            return re.search(val, rec.name) is not None
        except re.error:
            return val in rec.name
    if key == "label":
        k, eq, v = val.partition("=")
        return k in rec.labels and (not eq or rec.labels[k] == v)
    if key == "status":
        return rec.state == val or (val == "exited" and rec.state == "stopped")
    if key == "exited":
        return rec.state in ("exited", "stopped") and int(rec.exit_code or 0) == int(val)
    if key == "health":  # as Podman: the (last) health status, compared as it is
        from podpy.engine.health import health_status

        return bool(rec.config.get("health_log")) and health_status(rec) == val
    if key == "ancestor":
        name = rec.image_name
        return (
            rec.image_id.startswith(val.removeprefix("sha256:"))
            or name == val
            or name.rsplit(":", 1)[0] == val
            or name.rsplit(":", 1)[0].endswith("/" + val)
            or name.endswith("/" + val)
        )
    other = by_ref.get(val)
    if other is None:
        raise UsageError(f'no container with name or ID "{val}" found: no such container')
    return rec.created > other.created if key == "since" else rec.created < other.created


def match(flt: dict[str, list[str]], rec: Any, by_ref: dict[str, Any]) -> bool:
    """Podman's rule: values of one key are ORed, keys are ANDed."""
    return all(any(_match_one(k, v, rec, by_ref) for v in vals) for k, vals in flt.items())


def ps_text(recs: Sequence[Any], *, fmt: str | None = None, quiet: bool = False, no_trunc: bool = False,
            noheading: bool = False, sizes: dict[str, tuple[int, int]] | None = None,
            pod_names: dict[str, str] | None = None) -> str:  # fmt: skip
    """``sizes`` (``--size``): container ID -> (rwSize, rootFsSize); adds Podman's SIZE column.
    ``pod_names``: pod ID -> name, for ``{{.PodName}}`` and JSON."""
    now = time.time()
    rows = [PsRow(r, no_trunc, now, sizes.get(r.id) if sizes is not None else None, pod_names) for r in recs]
    if fmt is not None:
        from podpy.cli.template import go_json, is_json, render

        if sizes is None and ".Size" in fmt and not is_json(fmt):
            from podpy.util.log import get_logger

            get_logger("podpy.cli.ps").error("Size format requires --size option")  # podman's words
        if is_json(fmt):
            return go_json([r.to_json() for r in rows], indent=4, escape_html=True) + "\n"
        if not quiet:
            return render(
                fmt, rows, name="ps", headers=HEADERS, noheading=noheading or not fmt.startswith("table")
            )
    if quiet:
        return "".join(r.ID() + "\n" for r in rows)
    extra = ["SIZE"] if sizes is not None else []
    lines = [] if noheading else ["\t".join(["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS",
                                             "NAMES", *extra])]  # fmt: skip
    for r in rows:
        cols = [r.ID(), r.Image, r.Command(), r.CreatedHuman(), r.Status(), r.Ports, r.Names]
        lines.append("\t".join(cols + ([r.Size] if sizes is not None else [])))
    from podpy.cli.output import tabwrite

    return tabwrite("".join(line + "\n" for line in lines))


def list_for_ps(paths: Any, *, all_: bool = False, latest: bool = False, last: int = -1,
                flt: dict[str, list[str]] | None = None) -> list[Any]:  # fmt: skip
    """The records ``ps`` shows, newest first (refreshed: a dead monitor is noticed here)."""
    from podpy.engine import containers

    flt = flt or {}
    st = containers.open_state(paths)
    recs = containers.list_containers(st, paths)
    by_ref: dict[str, Any] = {}
    if "since" in flt or "before" in flt:
        for r in recs:
            by_ref[r.name] = by_ref[r.id] = by_ref[r.id[:12]] = r
    if not (all_ or latest or last >= 0 or "status" in flt or "exited" in flt):
        recs = [r for r in recs if r.state in ("running", "paused")]
    recs = [r for r in recs if match(flt, r, by_ref)]
    if latest:
        return recs[:1]
    if last >= 0:
        return recs[:last]
    return recs


_FAST_FLAGS = {
    "-a": "all_",
    "--all": "all_",
    "-q": "quiet",
    "--quiet": "quiet",
    "--no-trunc": "no_trunc",
    "--noheading": "noheading",
    "-l": "latest",
    "--latest": "latest",
}


def fast_ps(args: list[str]) -> bool:
    """``[--root R] [--runroot R] ps|container ls|container list|container ps [boolean flags]`` without
    click (about 12 ms of imports saved on every poll). False (nothing done) for any other shape, so
    click parses it and reports errors. For ``podpy.cli.main.main``, beside ``_fast_images``."""
    from podpy.cli.fastargs import parse_fast

    commands = (("ps",), ("container", "ls"), ("container", "list"), ("container", "ps"))
    parsed = parse_fast(args, commands, _FAST_FLAGS)
    if parsed is None:
        return False
    glob, flags = parsed
    from podpy.util.paths import default_paths

    paths = default_paths(glob.get("root"), glob.get("runroot"))
    recs = list_for_ps(paths, all_=flags["all_"], latest=flags["latest"])
    sys.stdout.write(
        ps_text(recs, quiet=flags["quiet"], no_trunc=flags["no_trunc"], noheading=flags["noheading"])
    )
    sys.stdout.flush()
    return True
