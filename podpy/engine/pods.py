"""Pods as rootless Podman has them: an infra container holding shared namespaces, member containers.

- State: a ``pods`` table in the container state DB (``ROOT/state.db``), created by this module on
  first use. A member container carries its pod's ID in its recorded spec (``config.spec.pod``); the
  infra container is also marked ``config.infra``. A pod's status is derived from its containers,
  as Podman derives it (Created, Running, Degraded, Exited...).
- The infra container runs podpy's pause program from the locally built ``localhost/podpy-pause``
  image (``engine.pod_pause``), with the pod's network (slirp4netns/pasta, its ports published there),
  hostname, ``--add-host`` and ``--dns``.
- A member joins the infra's network through ``container:INFRA`` (so it shares the infra's /etc/hosts
  and resolv.conf, like Podman) and, when it starts (``before_start``, called by ``engine.network.setup``),
  the infra's ipc/uts/pid namespaces through ``/proc/INFRA_PID/ns/*`` written into its bundle; the
  infra is started first when it is not running.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
import re
import shutil
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from podpy.engine.state import ContainerRecord, State
from podpy.util.errors import ConflictError, NotFoundError, PodpyError, UsageError
from podpy.util.gotime import rfc3339_utc
from podpy.util.log import get_logger
from podpy.util.paths import Paths

log = get_logger(__name__)

SHARE_KINDS = ("cgroup", "ipc", "net", "pid", "uts")
DEFAULT_SHARE = ("ipc", "net", "uts")
JOINED_NS = {"ipc": "ipc", "uts": "uts", "pid": "pid"}  # OCI namespace type -> /proc/PID/ns/NAME, joined at start
POD_STATUSES = ("created", "running", "stopped", "exited", "dead", "degraded", "paused")
ACTIVE = ("running", "paused", "stopping")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pods (
    id       TEXT PRIMARY KEY,
    name     TEXT NOT NULL UNIQUE,
    created  INTEGER NOT NULL,
    infra_id TEXT NOT NULL DEFAULT '',
    labels   TEXT NOT NULL DEFAULT '{}',
    config   TEXT NOT NULL DEFAULT '{}'
)"""

# the pod whose infra container ``create`` is making now (``on_create`` leaves that spec alone)
_creating_infra: contextvars.ContextVar[str] = contextvars.ContextVar("creating_infra", default="")


@dataclass
class PodRecord:
    """One pod as the state DB keeps it; ``config`` holds what ``pod create`` asked for."""

    id: str
    name: str
    created: int = field(default_factory=time.time_ns)
    infra_id: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def share(self) -> list[str]:
        return list(self.config.get("share") or [])


@dataclass
class PodOptions:
    """``pod create``'s flags, parsed (ports as ``podpy.network.options.parse_publish`` gives them)."""

    name: str = ""
    ports: list[dict[str, Any]] = field(default_factory=list)
    share: list[str] = field(default_factory=lambda: list(DEFAULT_SHARE))
    infra: bool = True
    infra_name: str = ""
    hostname: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    network: str = ""
    add_hosts: list[str] = field(default_factory=list)
    dns: list[str] = field(default_factory=list)
    create_command: list[str] = field(default_factory=list)

    def validate(self) -> PodOptions:
        if self.name and not re.match(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$", self.name):
            raise UsageError(f"invalid pod name {self.name!r}: names must match [a-zA-Z0-9][a-zA-Z0-9_.-]*")
        if not self.infra:
            given = [f for f, v in (("--publish", self.ports), ("--network", self.network), ("--add-host", self.add_hosts),
                                    ("--dns", self.dns), ("--hostname", self.hostname), ("--infra-name", self.infra_name)) if v]  # fmt: skip
            if given:
                raise UsageError(f"{given[0]} needs an infra container: it is set on the pod's infra (drop --infra=false)")
            self.share = []
        return self


def parse_share(text: str) -> list[str]:
    """``--share ipc,net`` (``none``: nothing); Podman's message for an unknown kind."""
    out: list[str] = []
    for item in (s.strip() for s in text.split(",")):
        if item == "none":
            return []
        if item not in SHARE_KINDS:
            raise UsageError(f"invalid kernel namespace to share: {item}. Options are: cgroup, ipc, net, pid, uts or none")
        if item not in out:
            out.append(item)
    return out


# --- the table -------------------------------------------------------------------------------------


def _ensure_table(st: State) -> sqlite3.Connection:
    conn = st.conn
    if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'pods'").fetchone() is None:
        conn.execute(_SCHEMA)
    return conn


def _row(row: sqlite3.Row) -> PodRecord:
    return PodRecord(row["id"], row["name"], row["created"], row["infra_id"], json.loads(row["labels"]),
                     json.loads(row["config"]))  # fmt: skip


def not_found(ref: str) -> NotFoundError:
    return NotFoundError(f"no pod with name or ID {ref} found: no such pod")


def get(st: State, ref: str) -> PodRecord:
    """By full ID, name, or unique ID prefix."""
    conn = _ensure_table(st)
    row = conn.execute("SELECT * FROM pods WHERE id = ? OR name = ? ORDER BY id = ? DESC", (ref, ref, ref)).fetchone()
    if row is None and ref and all(c in "0123456789abcdef" for c in ref):
        rows = conn.execute("SELECT * FROM pods WHERE substr(id, 1, ?) = ? LIMIT 2", (len(ref), ref)).fetchall()
        if len(rows) > 1:
            raise ConflictError(f'more than one result for pod "{ref}": please use a longer ID')
        row = rows[0] if rows else None
    if row is None:
        raise not_found(ref)
    return _row(row)


def list_pods(st: State) -> list[PodRecord]:
    """All pods, newest first."""
    rows = _ensure_table(st).execute("SELECT * FROM pods ORDER BY created DESC, id").fetchall()
    return [_row(r) for r in rows]


def name_taken(st: State, name: str) -> bool:
    """Whether a pod has this name (a container may not take it): cheap, and false before any pod."""
    try:
        return st.conn.execute("SELECT 1 FROM pods WHERE name = ?", (name,)).fetchone() is not None
    except sqlite3.OperationalError:  # no pods table yet
        return False


def _insert(st: State, rec: PodRecord) -> None:
    _ensure_table(st)
    with st.write() as c:
        if c.execute("SELECT 1 FROM pods WHERE name = ?", (rec.name,)).fetchone():
            raise ConflictError(f'adding pod to state: name "{rec.name}" is in use: pod already exists')
        if c.execute("SELECT 1 FROM containers WHERE name = ?", (rec.name,)).fetchone():
            raise ConflictError(f'adding pod to state: name "{rec.name}" is in use: container already exists')
        c.execute("INSERT INTO pods (id, name, created, infra_id, labels, config) VALUES (?, ?, ?, ?, ?, ?)",
                  (rec.id, rec.name, rec.created, rec.infra_id, json.dumps(rec.labels), json.dumps(rec.config)))  # fmt: skip


def _delete(st: State, rec: PodRecord, event: bool = True) -> None:
    with st.write() as c:
        c.execute("DELETE FROM pods WHERE id = ?", (rec.id,))
        if event:
            st._event(c, "pod", "remove", rec.id, rec.name, {})


def _event(st: State, pod: PodRecord, action: str) -> None:
    st.add_event("pod", action, pod.id, pod.name, {})


# --- containers of a pod -------------------------------------------------------------------------------


def pod_of(rec: ContainerRecord) -> str:
    return str((rec.config.get("spec") or {}).get("pod") or "")


def members(recs: Sequence[ContainerRecord], pod: PodRecord) -> list[ContainerRecord]:
    """The pod's containers (infra first, then oldest first, as Podman lists them)."""
    out = [r for r in recs if pod_of(r) == pod.id]
    return sorted(out, key=lambda r: (r.id != pod.infra_id, r.created))


def status(ctrs: Sequence[ContainerRecord]) -> str:
    """Podman's pod status from its containers' states."""
    if not ctrs:
        return "Created"
    states = [r.state for r in ctrs]
    n = len(states)
    for st_name, pod_state in (("created", "Created"), ("running", "Running"), ("paused", "Paused"),
                               ("stopped", "Stopped"), ("exited", "Exited")):  # fmt: skip
        if states.count(st_name) == n:
            return pod_state
    if any(s in ACTIVE for s in states):
        return "Degraded"
    return "Exited" if "exited" in states else "Stopped" if "stopped" in states else "Created"


def _containers(paths: Paths, st: State) -> list[ContainerRecord]:
    from podpy.engine import containers

    return containers.list_containers(st, paths)


# --- create ----------------------------------------------------------------------------------------


def read_pod_id_file(path: str) -> str:
    """A ``--pod-id-file``'s pod ID (``pod create --pod-id-file`` wrote it)."""
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError as e:
        raise PodpyError(f"reading pod ID file: open {path}: {(e.strerror or str(e)).lower()}") from None


def create(paths: Paths, opts: PodOptions) -> PodRecord:
    """``pod create``: the pod recorded, its infra container created (not started, as in Podman)."""
    from podpy.engine import containers
    from podpy.engine.names import random_name

    opts.validate()
    st = containers.open_state(paths)
    pid = os.urandom(32).hex()
    pod = PodRecord(pid, opts.name or random_name(), labels=dict(opts.labels),
                    config={"share": list(opts.share), "infra": opts.infra, "hostname": opts.hostname,
                            "network": opts.network, "ports": [], "dns": list(opts.dns),
                            "add_hosts": list(opts.add_hosts), "create_command": list(opts.create_command)})  # fmt: skip
    for _ in range(20):
        try:
            _insert(st, pod)
            break
        except ConflictError:
            if opts.name:
                raise
            pod.name = random_name()
    if not opts.infra:
        _event(st, pod, "create")
        return pod
    try:
        infra = _create_infra(paths, st, pod, opts)
    except BaseException:
        _delete(st, pod, event=False)
        raise
    pod.infra_id = infra.id
    pod.config["ports"] = list(infra.config.get("ports") or [])
    pod.config["networks"] = sorted((infra.config.get("spec") or {}).get("networks") or {})
    with st.write() as c:
        c.execute("UPDATE pods SET infra_id = ?, config = ? WHERE id = ?", (infra.id, json.dumps(pod.config), pod.id))
        st._event(c, "pod", "create", pod.id, pod.name, {})
    return pod


def network_fields(network: str, pod_name: str = "") -> dict[str, Any]:
    """The infra's ContainerSpec network fields for ``pod create --network`` (user-defined networks as
    ``run --network NAME`` records them: ``bridge`` + ``networks``; the pod's name is an alias on them,
    as in Podman, so other containers resolve the pod by name)."""
    if not network:
        return {"network": "private"}
    from podpy.network import netopts, options

    mode = options.parse_network(network)
    aliases = [pod_name] if pod_name and isinstance(mode, netopts.BridgeMode) else []
    return {"network": network, **netopts.network_fields(mode, None, aliases, None)}


def _create_infra(paths: Paths, st: State, pod: PodRecord, opts: PodOptions) -> ContainerRecord:
    from podpy.engine import pod_pause
    from podpy.engine import run as engine_run
    from podpy.spec.container import _HOSTNAME, ContainerSpec

    image = pod_pause.ensure_image(paths)
    hostname = opts.hostname or (pod.name if _HOSTNAME.match(pod.name) else None)
    spec = ContainerSpec(image=image, name=opts.infra_name or f"{pod.id[:12]}-infra", hostname=hostname,
                         ports=list(opts.ports), dns=list(opts.dns), add_hosts=list(opts.add_hosts), pod=pod.id,
                         **network_fields(opts.network, pod.name)).validate()  # fmt: skip
    token = _creating_infra.set(pod.id)
    try:
        rec = engine_run.create(paths, spec, pull="never")
    finally:
        _creating_infra.reset(token)
    return st.update(rec.id, config={**rec.config, "infra": True})


# --- members: create and start hooks -------------------------------------------------------------------


_SHARED_NET = "network cannot be configured when it is shared with a pod"


def on_create(paths: Paths, st: State, spec: Any) -> Any:
    """Called by ``engine.run.create`` for every container: a pod's name is not a container's, and a
    ``--pod`` container's spec is turned into a member's (``new:NAME`` creates the pod first)."""
    if spec.name and name_taken(st, spec.name):
        raise ConflictError(f'name "{spec.name}" is in use: pod already exists')
    if not spec.pod or _creating_infra.get() == spec.pod:
        return spec
    if spec.pod.startswith("new:"):
        pod = create(paths, PodOptions(name=spec.pod[4:], ports=list(spec.ports),
                                       network="" if spec.network == "private" else spec.network,
                                       hostname=spec.hostname or "", dns=list(spec.dns),
                                       add_hosts=list(spec.add_hosts)))  # fmt: skip
        spec = spec.replace(ports=[], network="private", hostname=None, dns=[], add_hosts=[])
    else:
        pod = get(st, spec.pod)
    changes: dict[str, Any] = {"pod": pod.id}
    if pod.infra_id and "net" in pod.share:
        if spec.ports or spec.publish_all:
            raise UsageError(f"invalid config provided: published or exposed ports must be defined when the pod is created: {_SHARED_NET}")
        if spec.network != "private":
            raise UsageError(f"invalid config provided: networks must be defined when the pod is created: {_SHARED_NET}")
        if spec.dns or spec.add_hosts or spec.dns_search or spec.dns_options or spec.no_hosts:
            raise UsageError(f"invalid config provided: DNS and /etc/hosts options must be set when the pod is created: {_SHARED_NET}")
        net = str(pod.config.get("network") or "")
        # the host's namespace (or a named one) cannot be joined through the infra's /proc entry from
        # podpy's user namespace: members use it the way the infra does
        changes["network"] = net if net == "host" or net.startswith("ns:") else f"container:{pod.infra_id}"
    if pod.infra_id and "uts" in pod.share:
        if spec.hostname:
            raise UsageError("invalid config provided: cannot set hostname when joining the pod UTS namespace")
        infra = st.get(pod.infra_id)
        changes["hostname"] = str(infra.config.get("hostname") or "") or None
    return spec.replace(**changes)


def before_start(paths: Paths, rec: Any) -> None:
    """Called by ``engine.network.setup`` before a container starts: a member's infra is started when
    it is not running, and the member's bundle names the infra's ipc/uts/pid namespaces."""
    pod_id = str((rec.config.get("spec") or {}).get("pod") or "")
    if not pod_id or rec.config.get("infra"):
        return
    from podpy.engine import containers
    from podpy.util.fsutil import atomic_write

    st = containers.open_state(paths)
    pod = get(st, pod_id)
    if not pod.infra_id:
        return
    infra = containers.get(st, paths, pod.infra_id)
    if infra.state != "running":
        infra = containers.start(paths, infra.id)
    cfg_path = containers.container_dir(paths, rec.id) / "userdata" / "config.json"
    cfg = json.loads(cfg_path.read_text())
    if join_namespaces(cfg, infra.pid, pod.share):
        atomic_write(cfg_path, json.dumps(cfg, indent=1), fsync=False)
    if "net" in pod.share:
        _add_host_entry(containers.container_dir(paths, infra.id) / "userdata" / "hosts", rec.name)


def join_namespaces(cfg: dict[str, Any], infra_pid: int, share: Sequence[str]) -> bool:
    """Point a bundle's ipc/uts/pid namespaces (those the pod shares) at the infra's; whether it changed."""
    changed = False
    for ns in (cfg.get("linux") or {}).get("namespaces") or []:
        name = JOINED_NS.get(str(ns.get("type")))
        if name in share:
            path = f"/proc/{infra_pid}/ns/{name}"
            if ns.get("path") != path:
                ns["path"] = path
                changed = True
    if "uts" in share and "hostname" in cfg:
        del cfg["hostname"]  # the infra's UTS namespace has the pod's name already
        changed = True
    return changed


def _add_host_entry(hosts: Any, name: str) -> None:
    """Podman adds each member's name to the pod's /etc/hosts (shared by every member)."""
    try:
        text = hosts.read_text()
    except OSError:
        return
    line = f"127.0.0.1\t{name}\n"
    if line not in text:
        with open(hosts, "a") as f:
            f.write(("" if text.endswith("\n") or not text else "\n") + line)


def infra_removal_error(rec: ContainerRecord) -> PodpyError:
    return PodpyError(f"container {rec.id} is the infra container of pod {pod_of(rec)} and cannot be removed "
                      "without removing the pod")  # fmt: skip


# --- lifecycle -------------------------------------------------------------------------------------------


def _parallel(paths: Paths, fn: Callable[[ContainerRecord], Any], recs: Sequence[ContainerRecord]) -> list[PodpyError]:
    """``fn`` on every container at once (a stop waits up to its timeout for each); the errors."""
    if len(recs) <= 1:
        errs = []
        for r in recs:
            try:
                fn(r)
            except PodpyError as e:
                errs.append(e)
        return errs
    from concurrent.futures import ThreadPoolExecutor

    from podpy.rootless.userns import ensure_userns

    ensure_userns(paths)  # joined before any thread starts (setns needs a single-threaded process)

    def call(r: ContainerRecord) -> PodpyError | None:
        try:
            fn(r)
        except PodpyError as e:
            return e
        return None

    with ThreadPoolExecutor(max_workers=min(8, len(recs))) as ex:
        return [e for e in ex.map(call, recs) if e is not None]


def _raise_first(pod: PodRecord, action: str, errs: list[PodpyError]) -> None:
    if errs:
        raise PodpyError(f"{action} pod {pod.name}: {errs[0].message}", errs[0].exit_code)


def start(paths: Paths, ref: str) -> PodRecord:
    """The infra first, then every member that is not running."""
    from podpy.engine import containers

    st = containers.open_state(paths)
    pod = get(st, ref)
    ctrs = members(_containers(paths, st), pod)
    if not ctrs:
        raise NotFoundError(f"no containers in pod {pod.id} have no dependencies, cannot start pod: no such container")
    errs: list[PodpyError] = []
    for r in ctrs:
        if r.state in ACTIVE:
            continue
        try:
            containers.start(paths, r.id)
        except PodpyError as e:
            errs.append(e)
            if r.id == pod.infra_id:
                break
    _event(st, pod, "start")
    _raise_first(pod, "starting", errs)
    return pod


def stop(paths: Paths, ref: str, timeout: float | None = None) -> PodRecord:
    """Members at once, then the infra (its network goes last)."""
    from podpy.engine import containers

    st = containers.open_state(paths)
    pod = get(st, ref)
    _stop_all(paths, st, pod, timeout)
    _event(st, pod, "stop")
    return pod


def _stop_all(paths: Paths, st: State, pod: PodRecord, timeout: float | None) -> None:
    from podpy.engine import containers

    ctrs = members(_containers(paths, st), pod)
    active = [r for r in ctrs if r.state in ACTIVE or r.state == "created" and r.monitor_pid]
    errs = _parallel(paths, lambda r: containers.stop(paths, r.id, timeout), [r for r in active if r.id != pod.infra_id])
    errs += _parallel(paths, lambda r: containers.stop(paths, r.id, timeout), [r for r in active if r.id == pod.infra_id])
    _raise_first(pod, "stopping", errs)


def restart(paths: Paths, ref: str, timeout: float | None = None) -> PodRecord:
    stop(paths, ref, timeout)
    return start(paths, ref)


def kill(paths: Paths, ref: str, sig: int) -> PodRecord:
    """``sig`` to every running container of the pod (the infra too, as Podman)."""
    from podpy.engine import containers

    st = containers.open_state(paths)
    pod = get(st, ref)
    running = [r for r in members(_containers(paths, st), pod) if r.state in ACTIVE]
    _raise_first(pod, "killing", _parallel(paths, lambda r: containers.kill(paths, r.id, sig), running))
    st.add_event("pod", "kill", pod.id, pod.name, {})
    return pod


def remove(paths: Paths, ref: str, *, force: bool = False, timeout: float | None = None) -> str:
    """``pod rm``: every container (``force`` stops running ones), then the pod; its full ID."""
    from podpy.engine import containers

    st = containers.open_state(paths)
    pod = get(st, ref)
    ctrs = members(_containers(paths, st), pod)
    running = [r for r in ctrs if r.state in ACTIVE]
    if running and not force:
        r = next((r for r in running if r.id != pod.infra_id), running[0])
        raise containers.StateImproper(
            f"removing container {r.id} from pod {pod.id}: cannot remove container {r.id} as it is running - "
            "running or paused containers cannot be removed without force: container state improper"
        )
    if running:
        _stop_all(paths, st, pod, timeout)
    for r in sorted(ctrs, key=lambda r: r.id == pod.infra_id):  # the infra last: members use its namespaces
        with st.lock(r.id), contextlib.suppress(NotFoundError):
            containers.remove_locked(st, paths, st.get(r.id), force=True, timeout=timeout)
    _delete(st, pod)
    from podpy.engine.kube_play import kube_dir

    shutil.rmtree(kube_dir(paths, pod.id), ignore_errors=True)  # a played pod's ConfigMap/Secret files
    return pod.id


def prune(paths: Paths) -> list[str]:
    """Remove every pod whose containers are all stopped or exited (Podman's "stopped/exited pods")."""
    from podpy.engine import containers

    st = containers.open_state(paths)
    recs = _containers(paths, st)
    out = []
    for pod in list_pods(st):
        if status(members(recs, pod)) in ("Exited", "Stopped"):
            with contextlib.suppress(NotFoundError):
                out.append(remove(paths, pod.id))
    return out


def exists(paths: Paths, ref: str) -> bool:
    from podpy.engine import containers

    try:
        get(containers.open_state(paths), ref)
    except NotFoundError:
        return False
    return True


# --- what ps, inspect and top show -------------------------------------------------------------------


def listing(paths: Paths) -> list[tuple[PodRecord, list[ContainerRecord]]]:
    """Every pod with its containers (one consistent pass over the containers)."""
    from podpy.engine import containers

    st = containers.open_state(paths)
    pods = list_pods(st)
    recs = _containers(paths, st) if pods else []
    return [(p, members(recs, p)) for p in pods]


def lookup(paths: Paths, ref: str) -> tuple[PodRecord, list[ContainerRecord]]:
    from podpy.engine import containers

    st = containers.open_state(paths)
    pod = get(st, ref)
    return pod, members(_containers(paths, st), pod)


def inspect(pod: PodRecord, ctrs: Sequence[ContainerRecord]) -> dict[str, Any]:
    """Podman 4.3's ``pod inspect`` document (rootless: no cgroup of its own, as on this host)."""
    from podpy.network.report import inspect_ports

    cfg = pod.config
    doc: dict[str, Any] = {
        "Id": pod.id,
        "Name": pod.name,
        "Created": rfc3339_utc(pod.created),
        "CreateCommand": list(cfg.get("create_command") or []),
        "ExitPolicy": "continue",
        "State": status(ctrs),
        "Hostname": cfg.get("hostname") or "",
        "Labels": dict(pod.labels),
        "CreateCgroup": False,
        "CreateInfra": bool(pod.infra_id),
    }
    if pod.infra_id:
        doc["InfraContainerID"] = pod.infra_id
        doc["InfraConfig"] = {
            "PortBindings": inspect_ports(cfg.get("ports")) or {},
            "HostNetwork": cfg.get("network") == "host",
            "StaticIP": "", "StaticMAC": "",
            "NoManageResolvConf": False,
            "DNSServer": list(cfg.get("dns") or []) or None,
            "DNSSearch": None, "DNSOption": None,
            "NoManageHosts": False,
            "HostAdd": list(cfg.get("add_hosts") or []) or None,
            "Networks": list(cfg.get("networks") or []) or None, "NetworkOptions": None,
            "pid_ns": "private", "userns": "host", "uts_ns": "private",
        }  # fmt: skip
    doc["SharedNamespaces"] = sorted(pod.share) if pod.infra_id else None
    doc["NumContainers"] = len(ctrs)
    doc["Containers"] = [{"Id": r.id, "Name": r.name, "State": r.state} for r in ctrs] or None
    return doc


def top(paths: Paths, ref: str, descriptors: list[str]) -> list[list[str]]:
    """``pod top``: the processes of every running container of the pod, one header."""
    from podpy.engine import ctrinfo

    pod, ctrs = lookup(paths, ref)
    running = [r for r in ctrs if r.state == "running"]
    rows: list[list[str]] = []  # none running: nothing printed (podman 4.3)
    for r in running:
        got = ctrinfo.top(paths, r.id, descriptors)
        rows += got if not rows else got[1:]
    return rows


def in_pods(paths: Paths, recs: Sequence[ContainerRecord], refs: Sequence[str]) -> list[ContainerRecord]:
    """``ps --filter pod=NAME|ID``: the containers of those pods (an unknown pod matches nothing)."""
    from podpy.engine import containers

    st = containers.open_state(paths)
    ids = set()
    for ref in refs:
        with contextlib.suppress(NotFoundError, ConflictError):
            ids.add(get(st, ref).id)
    return [r for r in recs if pod_of(r) in ids]


def pod_names(paths: Paths) -> dict[str, str]:
    """Pod ID -> name (what ``ps --pod`` prints)."""
    from podpy.engine import containers

    st = containers.open_state(paths)
    try:
        return {r["id"]: r["name"] for r in st.conn.execute("SELECT id, name FROM pods")}
    except sqlite3.OperationalError:  # no pods table yet
        return {}


def with_pods(rm: Callable[..., Any]) -> Callable[..., Any]:
    """``rm -a``: as Podman, an infra container is removed with its pod (members and all); other
    containers by ``rm``. Returns the remover ``rm`` is replaced by (same signature)."""
    gone: set[str] = set()

    def remove_one(paths: Paths, ref: str, *, force: bool = False, timeout: float | None = None) -> Any:
        from podpy.engine import containers

        if ref in gone:
            return ref
        st = containers.open_state(paths)
        rec = st.get(ref)
        if not rec.config.get("infra"):
            return rm(paths, ref, force=force, timeout=timeout)
        with contextlib.suppress(NotFoundError):
            pod = get(st, pod_of(rec))
            gone.update(r.id for r in members(_containers(paths, st), pod))
            remove(paths, pod.id, force=force, timeout=timeout)
        return rec.id

    return remove_one


def pause(paths: Paths, ref: str, *, unpause: bool = False) -> PodRecord:
    """``pod pause``/``unpause``: every running container, as ``podpy pause`` does it (which refuses
    where there is no freezer cgroup, as rootless cgroup v1 here)."""
    from podpy.engine import ctrinfo

    pod, ctrs = lookup(paths, ref)
    for r in ctrs:
        if r.state in (("paused",) if unpause else ("running",)):
            ctrinfo.pause(paths, r.id, unpause=unpause)
    return pod


def remove_all(paths: Paths, *, timeout: float | None = 0) -> list[str]:
    """Every pod removed with its containers (``system reset``: before the containers, whose infra
    containers ``containers.remove`` refuses); the pod IDs."""
    from podpy.engine import containers

    if not (paths.root / "state.db").exists():
        return []
    out = []
    for pod in list_pods(containers.open_state(paths)):
        with contextlib.suppress(NotFoundError):
            out.append(remove(paths, pod.id, force=True, timeout=timeout))
    return out
