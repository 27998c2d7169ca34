"""OCI ``linux.uidMappings``/``gidMappings`` for ``--userns=keep-id`` and ``--userns=nomap``.

The container's user namespace is a *child* of podpy's namespace, so the ``hostID`` of each
mapping is an ID of podpy's namespace (0 = the user, 1..N = the subordinate range), exactly what
Podman computes in ``pkg/util`` (GetKeepIDMapping / GetNoMapMapping):

* keep-id: container ID ``uid`` (the user's own host uid, or ``keep-id:uid=N``) → 0 (the user);
  container IDs ``0..uid-1`` → ``1..uid``; the rest of the subordinate range → ``uid+1..N``.
  The process runs as that uid/gid unless ``--user`` says otherwise.
* nomap: container IDs ``0..N-1`` → ``1..N``: the user's own ID is not in the container at all.
* host (and ""): no new user namespace; the container runs in podpy's (root = the user).

Pure functions over maps, so every edge (no ranges, a uid above the range) is unit-testable;
:func:`current_plan` reads the maps of the namespace this process is in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from podpy.rootless.subid import IDMapping, parse_proc_map
from podpy.util.errors import UsageError

MODES = ("", "host", "keep-id", "nomap")


@dataclass(frozen=True)
class UsernsPlan:
    """What ``--userns`` means for one container.

    ``uid_mappings``/``gid_mappings`` go verbatim into the OCI spec's ``linux`` section (and a
    ``user`` namespace entry is added when they are non-empty); ``uid``/``gid`` is the default
    process user (keep-id), None to use the image's ``User``.
    """

    mode: str
    uid_mappings: list[dict[str, int]] = field(default_factory=list)
    gid_mappings: list[dict[str, int]] = field(default_factory=list)
    uid: int | None = None
    gid: int | None = None

    @property
    def new_userns(self) -> bool:
        return bool(self.uid_mappings)


def parse_mode(text: str) -> tuple[str, dict[str, int]]:
    """``keep-id:uid=200,gid=210`` → ("keep-id", {"uid": 200, "gid": 210}); other modes take no options."""
    mode, _, opts = text.partition(":")
    if mode not in MODES:
        raise UsageError(f"unrecognized namespace mode {text} passed")
    out: dict[str, int] = {}
    if not opts:
        return mode, out
    if mode != "keep-id":
        raise UsageError(f"--userns={text}: {mode or 'host'} takes no options")
    for item in opts.split(","):
        key, eq, value = item.partition("=")
        if key not in ("uid", "gid") or not eq or not value.isdigit():
            raise UsageError(f"--userns={text}: unknown option {item!r} (keep-id takes uid=N and gid=N)")
        out[key] = int(value)
    return mode, out


def ns_size(maps: Sequence[IDMapping]) -> int:
    """How many consecutive IDs from 0 a namespace has (1 + the subordinate range when rootless)."""
    size = 0
    for m in sorted(maps, key=lambda m: m.container_id):
        if m.container_id != size:
            break
        size += m.size
    return size


def _oci(container_id: int, host_id: int, size: int) -> dict[str, int]:
    return {"containerID": container_id, "hostID": host_id, "size": size}


def keep_id_mappings(own: int, size: int) -> list[dict[str, int]]:
    """Podman's keep-id: ``own`` → 0, ``0..own-1`` → ``1..``, the rest above ``own``; ``size`` = ns size."""
    subordinate = max(size - 1, 0)
    below = min(own, subordinate)
    out = [_oci(0, 1, below)] if below else []
    out.append(_oci(own, 0, 1))
    if subordinate > own:
        out.append(_oci(own + 1, own + 1, subordinate - own))
    return out


def nomap_mappings(size: int) -> list[dict[str, int]]:
    """Podman's nomap: the subordinate IDs only, from container ID 0."""
    if size < 2:
        raise UsageError(
            "--userns=nomap needs subordinate ids: add ranges for your user to /etc/subuid and /etc/subgid "
            "(usermod --add-subuids/--add-subgids), then run `podpy system migrate`"
        )
    return [_oci(0, 1, size - 1)]


def plan(
    text: str,
    uid_map: Sequence[IDMapping],
    gid_map: Sequence[IDMapping],
    host_uid: int,
    host_gid: int,
) -> UsernsPlan:
    """The mappings for ``--userns=TEXT`` inside a namespace with ``uid_map``/``gid_map``.

    ``uid_map``/``gid_map``: podpy's namespace as /proc/self/uid_map shows it from inside;
    ``host_uid``/``host_gid``: the user's IDs on the host (``userns.rootless_uid()``).
    """
    mode, opts = parse_mode(text)
    if mode in ("", "host"):
        return UsernsPlan(mode or "host")
    if not uid_map or (uid_map[0].container_id, uid_map[0].host_id) == (0, 0):
        raise UsageError(f"--userns={mode} is only supported in rootless mode")
    usize, gsize = ns_size(uid_map), ns_size(gid_map)
    if mode == "nomap":
        return UsernsPlan(mode, nomap_mappings(usize), nomap_mappings(gsize))
    uid, gid = opts.get("uid", host_uid), opts.get("gid", host_gid)
    return UsernsPlan(mode, keep_id_mappings(uid, usize), keep_id_mappings(gid, gsize), uid, gid)


def current_plan(text: str, proc: str = "/proc") -> UsernsPlan:
    """:func:`plan` for this process: call it inside podpy's namespace (after ``ensure_userns``)."""
    from podpy.rootless.userns import rootless_gid, rootless_uid

    uid_map = parse_proc_map(Path(f"{proc}/self/uid_map").read_text())
    gid_map = parse_proc_map(Path(f"{proc}/self/gid_map").read_text())
    return plan(text, uid_map, gid_map, rootless_uid(), rootless_gid())
