"""Read-mostly container commands: rename, top, port, stats (from /proc), pause/unpause.

Rootless on cgroup v1 podpy has no cgroup per container, so everything here is computed from the
container's processes in /proc: the init pid the state DB records and all its descendants.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from typing import Any

from podpy.engine import containers
from podpy.engine.state import ContainerRecord
from podpy.util.errors import ConflictError, PodpyError, UsageError
from podpy.util.paths import Paths

NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- rename -----------------------------------------------------------------------------------------


def rename(paths: Paths, ref: str, new: str) -> ContainerRecord:
    """One UPDATE in one transaction: the name check and the change cannot race another rename/create."""
    if not NAME_RE.match(new):
        raise UsageError("names must match [a-zA-Z0-9][a-zA-Z0-9_.-]*: invalid argument")
    st = containers.open_state(paths)
    rec = containers.get(st, paths, ref)
    try:
        return st.update(rec.id, name=new, event="rename")
    except ConflictError as e:
        raise ConflictError(
            f"renaming container {rec.id}: name {new} already in use, "
            f"cannot rename container {rec.id}: container already exists"
        ) from e


# --- pause / unpause --------------------------------------------------------------------------------


def pause(paths: Paths, ref: str, *, unpause: bool = False) -> ContainerRecord:
    """No freezer: rootless podpy has no cgroup of its own per container (cgroup v1)."""
    st = containers.open_state(paths)
    rec = containers.get(st, paths, ref)
    if unpause:
        raise PodpyError("unpause is not supported for cgroupv1 rootless containers")
    if rec.state != "running":
        raise PodpyError(f'"{rec.id}" is not running, can\'t pause: container state improper')
    raise PodpyError(
        "can not pause containers on rootless containers with cgroup V1: this container does not have a cgroup"
    )


# --- port -------------------------------------------------------------------------------------------


def ports(rec: ContainerRecord) -> list[str]:
    """``80/tcp -> 0.0.0.0:8080`` lines; podpy has no published ports yet, so the list is what the config holds."""
    out = []
    for p in rec.config.get("ports", []) or []:
        if isinstance(p, dict):
            proto = p.get("protocol", "tcp")
            host_ip = p.get("host_ip") or "0.0.0.0"
            out.append(f"{p.get('container_port')}/{proto} -> {host_ip}:{p.get('host_port')}")
    return out


# --- processes ----------------------------------------------------------------------------------------


@dataclass
class Proc:
    """One process of a container, as /proc shows it to the user."""

    hpid: int
    pid: int  # inside the container's pid namespace
    ppid: int
    comm: str
    state: str
    utime: int  # clock ticks (user + system)
    start: int  # clock ticks after boot
    tty_nr: int
    nice: int
    vsz: int  # bytes
    rss: int  # bytes
    uid: int  # inside the container's user namespace
    gid: int
    huid: int
    hgid: int
    args: str
    io: tuple[int, int] = (0, 0)
    extra: dict[str, Any] = field(default_factory=dict)


def _read(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def _map_id(map_path: str, host: int) -> int:
    """Host id -> id inside the namespace, via /proc/PID/uid_map (65534 when unmapped)."""
    try:
        for line in _read(map_path).splitlines():
            inside, outside, count = (int(x) for x in line.split())
            if outside <= host < outside + count:
                return inside + host - outside
    except (OSError, ValueError):
        pass
    return 65534


def _stat_fields(pid: int) -> list[str]:
    text = _read(f"/proc/{pid}/stat")
    rp = text.rindex(")")
    return [text[:rp].split("(", 1)[1], *text[rp + 2 :].split()]


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                f = _stat_fields(int(d))
            except (OSError, ValueError, IndexError):
                continue
            kids.setdefault(int(f[2]), []).append(int(d))
    return kids


def container_pids(rec: ContainerRecord) -> list[int]:
    """The init pid and its descendants (host pids), sorted."""
    if rec.state != "running" or rec.pid <= 0 or not os.path.exists(f"/proc/{rec.pid}"):
        return []
    kids = _children()
    out, todo = [], [rec.pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return sorted(out)


def read_proc(hpid: int) -> Proc | None:
    """None when the process went away meanwhile."""
    try:
        f = _stat_fields(hpid)
        status = {
            k: v.strip()
            for k, _, v in (ln.partition(":") for ln in _read(f"/proc/{hpid}/status").splitlines())
        }
        args = _read(f"/proc/{hpid}/cmdline").replace("\0", " ")
    except (OSError, ValueError, IndexError):
        return None
    nspid = status.get("NSpid", str(hpid)).split()
    huid = int(status.get("Uid", "0").split()[0])
    hgid = int(status.get("Gid", "0").split()[0])
    io = (0, 0)
    try:
        vals = dict(ln.split(": ") for ln in _read(f"/proc/{hpid}/io").splitlines() if ": " in ln)
        io = (int(vals.get("read_bytes", 0)), int(vals.get("write_bytes", 0)))
    except (OSError, ValueError):
        pass
    page = os.sysconf("SC_PAGE_SIZE")
    # f[0]=comm f[1]=state f[2]=ppid (host; processes() maps it) ... f[5]=tty_nr f[12]=utime f[13]=stime f[17]=nice f[20]=starttime f[21]=vsize f[22]=rss
    return Proc(
        hpid=hpid, pid=int(nspid[-1]), ppid=int(f[2]), comm=f[0], state=f[1],
        utime=int(f[12]) + int(f[13]), start=int(f[20]), tty_nr=int(f[5]), nice=int(f[17]),
        vsz=int(f[21]), rss=int(f[22]) * page,
        uid=_map_id(f"/proc/{hpid}/uid_map", huid), gid=_map_id(f"/proc/{hpid}/gid_map", hgid),
        huid=huid, hgid=hgid, args=args or f"[{f[0]}]", io=io,
    )  # fmt: skip


def _boot_time() -> float:
    for line in _read("/proc/stat").splitlines():
        if line.startswith("btime "):
            return float(line.split()[1])
    return 0.0


def processes(rec: ContainerRecord) -> list[Proc]:
    """The container's processes with in-container PPIDs (0 for init, as ps inside would show)."""
    procs = [p for p in (read_proc(h) for h in container_pids(rec)) if p is not None]
    by_host = {p.hpid: p.pid for p in procs}
    for p in procs:
        p.ppid = by_host.get(p.ppid, 0)
    return procs


# --- top ----------------------------------------------------------------------------------------------


def go_duration(seconds: float) -> str:
    """Go's ``time.Duration.String()``: ``1.044722817s``, ``2m3.5s``, ``1h0m0s``, ``0s``."""
    ns = int(round(seconds * 1e9))
    if ns == 0:
        return "0s"
    neg, ns = ns < 0, abs(ns)
    if ns < 1_000_000_000:
        for unit, div in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if ns >= div:
                return ("-" if neg else "") + (f"{ns / div:.9f}".rstrip("0").rstrip(".")) + unit
    h, rem = divmod(ns, 3_600_000_000_000)
    m, rem = divmod(rem, 60_000_000_000)
    s, frac = divmod(rem, 1_000_000_000)
    sec = str(s) + (("." + f"{frac:09d}".rstrip("0")) if frac else "") + "s"
    out = (f"{h}h{m}m" if h else (f"{m}m" if m else "")) + sec
    return ("-" if neg else "") + out


def _names(rootfs_file: str, ids_col: int = 2) -> dict[int, str]:
    out: dict[int, str] = {}
    try:
        for line in _read(rootfs_file).splitlines():
            parts = line.split(":")
            if len(parts) > ids_col and parts[ids_col].isdigit():
                out.setdefault(int(parts[ids_col]), parts[0])
    except OSError:
        pass
    return out


def _tty(nr: int) -> str:
    if nr == 0:
        return "?"
    major, minor = (nr >> 8) & 0xFFF, (nr & 0xFF) | ((nr >> 12) & 0xFFF00)
    if 136 <= major <= 143:
        return f"pts/{(major - 136) * 256 + minor}"
    if major == 4:
        return f"tty{minor}"
    return "?"


# descriptor -> header (podman's psgo names)
DESCRIPTORS: dict[str, str] = {
    "user": "USER", "pid": "PID", "ppid": "PPID", "pcpu": "%CPU", "etime": "ELAPSED", "tty": "TTY",
    "time": "TIME", "args": "COMMAND", "comm": "COMMAND", "group": "GROUP", "nice": "NI", "vsz": "VSZ",
    "rss": "RSS", "state": "STATE", "hpid": "HPID", "huser": "HUSER", "hgroup": "HGROUP", "uid": "UID",
    "gid": "GID",
}  # fmt: skip
# ps(1) AIX-format aliases podman accepts
_ALIASES = {"%C": "pcpu", "%G": "group", "%P": "ppid", "%U": "user", "%a": "args", "%c": "comm",
            "%g": "rgroup", "%n": "nice", "%p": "pid", "%r": "pgid", "%t": "etime", "%u": "ruser",
            "%x": "time", "%y": "tty", "%z": "vsz"}  # fmt: skip
DEFAULT_DESCRIPTORS = ("user", "pid", "ppid", "pcpu", "etime", "tty", "time", "args")


def top(paths: Paths, ref: str, descriptors: list[str]) -> list[list[str]]:
    """Rows (header first) of ``podman top``; an unknown descriptor or a stopped container is an error."""
    descs = []
    for d in descriptors or DEFAULT_DESCRIPTORS:
        for part in d.replace(",", " ").split():
            part = _ALIASES.get(part, part)
            if part not in DESCRIPTORS:
                raise UsageError(f"unknown descriptor: {part}")
            descs.append(part)
    st = containers.open_state(paths)
    rec = containers.get(st, paths, ref)
    if rec.state != "running":
        raise PodpyError("top can only be used on running containers")
    procs = processes(rec)
    root = f"/proc/{rec.pid}/root/etc/"
    users, groups = _names(root + "passwd"), _names(root + "group")
    import grp
    import pwd

    now, btime = time.time(), _boot_time()
    rows = [[DESCRIPTORS[d] for d in descs]]
    for p in procs:
        elapsed = max(0.0, now - (btime + p.start / CLK_TCK))
        cpu = p.utime / CLK_TCK

        def host_name(fn: Any, ident: int) -> str:
            try:
                return str(fn(ident)[0])
            except KeyError:
                return str(ident)

        val = {
            "user": users.get(p.uid, str(p.uid)), "group": groups.get(p.gid, str(p.gid)),
            "pid": str(p.pid), "ppid": str(p.ppid), "hpid": str(p.hpid),
            "pcpu": f"{(cpu / elapsed * 100) if elapsed else 0.0:.3f}", "etime": go_duration(elapsed),
            "tty": _tty(p.tty_nr), "time": go_duration(int(cpu)), "args": p.args, "comm": p.comm,
            "nice": str(p.nice), "vsz": str(p.vsz // 1024), "rss": str(p.rss // 1024), "state": p.state,
            "huser": host_name(pwd.getpwuid, p.huid), "hgroup": host_name(grp.getgrgid, p.hgid),
            "uid": str(p.uid), "gid": str(p.gid),
        }  # fmt: skip
        rows.append([val[d] for d in descs])
    return rows


# --- stats --------------------------------------------------------------------------------------------


@dataclass
class Stats:
    """One sample, named as podman's ``--format`` fields (ContainerStats)."""

    ContainerID: str
    Name: str
    CPU: float
    AvgCPU: float
    MemUsage: int
    MemLimit: int
    MemPerc: float
    NetInput: int
    NetOutput: int
    BlockInput: int
    BlockOutput: int
    PIDs: int
    CPUNano: int
    SystemNano: int
    UpTime: int

    @property
    def ID(self) -> str:  # noqa: N802 - podman's template field
        return self.ContainerID[:12]


def _mem_total() -> int:
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return 0


def _net(pid: int) -> tuple[int, int]:
    rx = tx = 0
    try:
        for line in _read(f"/proc/{pid}/net/dev").splitlines()[2:]:
            name, _, rest = line.partition(":")
            if name.strip() == "lo":
                continue
            v = rest.split()
            rx, tx = rx + int(v[0]), tx + int(v[8])
    except (OSError, ValueError, IndexError):
        pass
    return rx, tx


def sample(rec: ContainerRecord, prev: Stats | None = None) -> Stats:
    """CPU % is over the interval since ``prev`` (podman's streaming), else the average since start."""
    procs = processes(rec)
    cpu_ns = sum(p.utime for p in procs) * 1_000_000_000 // CLK_TCK
    now_ns = time.time_ns()
    up_ns = max(1, now_ns - rec.started_at) if rec.started_at else 1
    avg = cpu_ns / up_ns * 100 if procs else 0.0
    cpu = avg
    if prev is not None and now_ns > prev.SystemNano:
        cpu = max(0, cpu_ns - prev.CPUNano) / (now_ns - prev.SystemNano) * 100
    mem = sum(p.rss for p in procs)
    limit = _mem_total()
    rx, tx = _net(rec.pid) if procs else (0, 0)
    return Stats(
        ContainerID=rec.id, Name=rec.name, CPU=cpu, AvgCPU=avg, MemUsage=mem, MemLimit=limit,
        MemPerc=mem / limit * 100 if limit else 0.0, NetInput=rx, NetOutput=tx,
        BlockInput=sum(p.io[0] for p in procs), BlockOutput=sum(p.io[1] for p in procs),
        PIDs=len(procs), CPUNano=cpu_ns, SystemNano=now_ns, UpTime=up_ns,
    )  # fmt: skip


def stats_targets(paths: Paths, refs: list[str], all_: bool, latest: bool) -> list[ContainerRecord]:
    """Named containers must be running (podman's error); no names = every running one (``-a``: all)."""
    st = containers.open_state(paths)
    if refs:
        recs = [containers.get(st, paths, r) for r in refs]
        for r in recs:
            if r.state != "running":
                raise PodpyError(f"container {r.id} is not running: can only get stats of running containers")
        return recs
    recs = containers.list_containers(st, paths)
    if latest:
        return recs[:1]
    return recs if all_ else [r for r in recs if r.state == "running"]


def refresh_records(paths: Paths, recs: list[ContainerRecord]) -> list[ContainerRecord]:
    """Re-read records between stats refreshes (a container may have stopped or gone)."""
    st = containers.open_state(paths)
    out = []
    for r in recs:
        try:
            out.append(containers.get(st, paths, r.id))
        except PodpyError:
            continue
    return out
