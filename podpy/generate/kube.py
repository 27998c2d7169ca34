"""``kube generate``: Kubernetes YAML for containers, pods and volumes, as Podman 4.3 writes it.

- A pod becomes a ``Pod`` (its infra's ports on the first container, its hostname, host aliases, DNS,
  ``hostNetwork``, ``shareProcessNamespace``); containers not in a pod become one ``Pod`` called
  ``NAME-pod``; a named volume a ``PersistentVolumeClaim``. ``--service`` adds a NodePort ``Service``
  per pod, ``--type deployment|daemonset`` wraps each pod in a ``Deployment``/``DaemonSet`` (as newer
  Podman: named ``POD-deployment``/``POD-daemonset``, restart policy Always only).
- A container's fields follow ``containerToV1Container``: the command/args only when they differ from
  the image's, env without the image's values, workingDir unless the image's, runAsUser/runAsGroup
  unless the image's user, capabilities as add/drop against the OCI default set; its bind mounts are
  ``hostPath`` volumes (``SRC-host-N``), its named volumes ``persistentVolumeClaim`` (``NAME-pvc``),
  its anonymous volumes ``emptyDir`` and its tmpfs mounts ``emptyDir`` in memory (newer Podman's).
- Documents come out in Podman's order: claims, services, then the pods (or their controllers).

``facts`` (what the state holds) is gathered in ``collect``; the documents are built from it by pure
functions, so they can be tested without a state DB.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from podpy.util.errors import NotFoundError, PodpyError, UsageError
from podpy.util.log import get_logger
from podpy.util.paths import Paths

log = get_logger(__name__)

TYPES = ("pod", "deployment", "daemonset")
MAX_ANNOTATION = 63
# runtime-tools' default set, which Podman compares a container's capabilities with (in its order)
OCI_DEFAULT_CAPS = ("CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
                    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
                    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE")  # fmt: skip
DEFAULT_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "container": "podman",
               "TERM": "xterm"}  # fmt: skip
RESTART = {
    "always": "Always",
    "on-failure": "OnFailure",
    "no": "Never",
    "": "Never",
    "unless-stopped": "Always",
}


@dataclass
class CtrFacts:
    """One container as the generator needs it."""

    id: str
    name: str
    config: dict[
        str, Any
    ]  # the state DB's record config (``spec``, ``cmd``, ``entrypoint``, ``cwd``, ``ports``…)
    image: str
    image_config: dict[str, Any]  # the image config's ``config`` section
    uid: int = 0
    gid: int = 0
    caps: list[str] = field(default_factory=list)  # the bundle's capabilities (every set, merged)
    annotations: dict[str, str] = field(default_factory=dict)  # the bundle's annotations
    labels: dict[str, str] = field(default_factory=dict)
    anonymous: set[str] = field(default_factory=set)  # names of the anonymous volumes it mounts
    userdata: str = ""  # podpy's containers dir: mounts from there are /etc files podpy made, not the user's
    host_kinds: dict[str, str] = field(
        default_factory=dict
    )  # bind source -> Directory|File|DirectoryOrCreate
    created: int = 0

    @property
    def spec(self) -> dict[str, Any]:
        return dict(self.config.get("spec") or {})


@dataclass
class PodFacts:
    id: str
    name: str
    config: dict[str, Any]
    members: list[CtrFacts]  # without the infra, oldest first


@dataclass
class VolumeFacts:
    name: str
    driver: str = "local"
    labels: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _no_underscores(s: str) -> str:
    return s.replace("_", "")


def truncate(value: str) -> str:
    value = value.strip()
    if len(value) < MAX_ANNOTATION:
        return value
    cut = value[:MAX_ANNOTATION]
    log.warning(
        "Truncation Annotation: %r to %r: Kubernetes only allows %d characters", value, cut, MAX_ANNOTATION
    )
    return cut


# --- one container ----------------------------------------------------------------------------------


def container_ports(ports: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """podpy's port records as ``v1.ContainerPort`` (TCP left implicit, ranges unrolled)."""
    out = []
    for p in ports:
        for i in range(int(p.get("range") or 1)):
            cp: dict[str, Any] = {"containerPort": int(p["container_port"]) + i}
            if p.get("host_port"):
                cp["hostPort"] = int(p["host_port"]) + i
            if p.get("host_ip"):
                cp["hostIP"] = str(p["host_ip"])
            proto = str(p.get("protocol") or "tcp").upper()
            if proto != "TCP":
                cp["protocol"] = proto
            out.append(cp)
    return out


def _caps(c: CtrFacts) -> dict[str, Any]:
    have = set(c.caps)
    drop = [x for x in OCI_DEFAULT_CAPS if x not in have]
    add = [x for x in sorted(have) if x not in OCI_DEFAULT_CAPS]
    out: dict[str, Any] = {}
    if add:
        out["add"] = add
    if drop:
        out["drop"] = drop
    return out


def security_context(c: CtrFacts) -> dict[str, Any]:
    spec = c.spec
    sc: dict[str, Any] = {}
    if spec.get("privileged"):
        sc["privileged"] = True
    else:
        sc["capabilities"] = _caps(c)
    if spec.get("no_new_privileges"):
        sc["allowPrivilegeEscalation"] = False
    if spec.get("read_only"):
        sc["readOnlyRootFilesystem"] = True
    user = spec.get("user")
    if user and user != (c.image_config.get("User") or ""):
        sc["runAsUser"] = c.uid
        sc["runAsGroup"] = c.gid
    return sc


def _volume_name(source: str) -> str:
    return "root" if source == "/" else source.strip("/").replace("/", "-")


def mounts(c: CtrFacts) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(volumeMounts, volumes): bind mounts first (``-host-N``), then volumes, as Podman orders them."""
    binds, vols = [], []
    for m in c.spec.get("mounts") or []:
        if m.get("volume") or m.get("type") == "tmpfs":
            vols.append(m)
        elif m.get("type") == "bind" and not (c.userdata and str(m.get("source", "")).startswith(c.userdata)):
            binds.append(m)
    vms: list[dict[str, Any]] = []
    vos: list[dict[str, Any]] = []
    for i, m in enumerate(binds):
        name = f"{_volume_name(str(m['source']))}-host-{i}"
        vm: dict[str, Any] = {"mountPath": m["destination"], "name": name}
        if "ro" in (m.get("options") or []):
            vm["readOnly"] = True
        vms.append(vm)
        kind = c.host_kinds.get(str(m["source"]), "DirectoryOrCreate")
        vos.append({"hostPath": {"path": m["source"], "type": kind}, "name": name})
    for m in vols:
        ro = "ro" in (m.get("options") or [])
        vname = str(m.get("volume") or "")
        if m.get("type") == "tmpfs" or vname in c.anonymous:
            name = f"{_volume_name(str(m['destination']))}-empty"
            src: dict[str, Any] = {"emptyDir": {"medium": "Memory"} if m.get("type") == "tmpfs" else {}}
        else:
            name = f"{vname}-pvc"
            src = {"persistentVolumeClaim": {"claimName": vname, **({"readOnly": True} if ro else {})}}
        vm = {"mountPath": m["destination"], "name": name}
        if ro:
            vm["readOnly"] = True
        vms.append(vm)
        vos.append({**src, "name": name})
    return vms, vos


def env_vars(c: CtrFacts) -> list[dict[str, str]]:
    image_env = dict(str(e).partition("=")[::2] for e in c.image_config.get("Env") or [])
    out = []
    for k, v in (c.spec.get("env") or {}).items():
        if DEFAULT_ENV.get(k) == v or image_env.get(k) == v:
            continue
        out.append({"name": k, "value": v})
    return out


def container(c: CtrFacts, *, resources: bool) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``v1.Container`` and the volumes it needs."""
    cfg = c.config
    out: dict[str, Any] = {}
    entrypoint = list(cfg.get("entrypoint") or [])
    cmd = list(cfg.get("cmd") or [])
    if entrypoint:
        command, args = entrypoint, cmd
    else:
        command, args = cmd, []
    if command in (list(c.image_config.get("Cmd") or []), list(c.image_config.get("Entrypoint") or [])):
        command = []
    if args:
        out["args"] = args
    if command:
        out["command"] = command
    env = env_vars(c)
    if env:
        out["env"] = env
    out["image"] = c.image
    out["name"] = _no_underscores(c.name)
    ports = container_ports(cfg.get("ports") or [])
    if ports:
        out["ports"] = ports
    if resources:
        out["resources"] = {}
    out["securityContext"] = security_context(c)
    if c.spec.get("interactive"):
        out["stdin"] = True
    if cfg.get("terminal"):
        out["tty"] = True
    vms, vos = mounts(c)
    if vms:
        out["volumeMounts"] = vms
    cwd = str(cfg.get("cwd") or "/")
    if cwd != "/" and cwd != (c.image_config.get("WorkingDir") or ""):
        out["workingDir"] = cwd
    return out, vos


def annotations(c: CtrFacts, in_pod: bool) -> dict[str, str]:
    """Podman's per-container annotations (``KEY/CTRNAME``): the bundle's, TTY, publish-all, auto-update."""
    name = _no_underscores(c.name)
    ann = {k: v for k, v in c.annotations.items() if k != "io.container.manager"}
    ann["io.kubernetes.cri-o.TTY"] = "true" if c.config.get("terminal") else "false"
    ann["io.podman.annotations.publish-all"] = "TRUE" if c.spec.get("publish_all") else "FALSE"
    if in_pod:
        ann["io.kubernetes.cri-o.ContainerType"] = "container"
    out = {f"{k}/{name}": truncate(str(v)) for k, v in ann.items()}
    for k, v in c.labels.items():
        if "io.containers.autoupdate" in k:
            out[f"{k}/{name}"] = truncate(str(v))
    return out


def _dns(spec: Mapping[str, Any]) -> dict[str, Any]:
    dns: dict[str, Any] = {}
    if spec.get("dns"):
        dns["nameservers"] = list(spec["dns"])
    if spec.get("dns_search"):
        dns["searches"] = list(spec["dns_search"])
    if spec.get("dns_options"):
        dns["options"] = [
            {"name": o.partition(":")[0], "value": o.partition(":")[2]} for o in spec["dns_options"]
        ]
    return dns


def _hostname(c: CtrFacts) -> str:
    h = str(c.config.get("hostname") or "")
    return "" if not h or h in c.id else h


# --- pods -------------------------------------------------------------------------------------------


def _pod_doc(name: str, ann: dict[str, str], containers: list[dict[str, Any]], volumes: list[dict[str, Any]],
             spec_extra: dict[str, Any], *, status: bool) -> dict[str, Any]:  # fmt: skip
    meta: dict[str, Any] = {}
    if ann:
        meta["annotations"] = ann
    meta.update({"creationTimestamp": now(), "labels": {"app": _no_underscores(name)}, "name": name})
    spec: dict[str, Any] = {"automountServiceAccountToken": False, "containers": containers,
                            "enableServiceLinks": False, **spec_extra}  # fmt: skip
    if volumes:
        spec["volumes"] = volumes
    doc = {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}
    if status:
        doc["status"] = {}
    return doc


def _dedup(vols: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}
    for v in vols:
        seen.setdefault(v["name"], v)
    return list(seen.values())


def pod_document(p: PodFacts, *, controller: bool = False) -> dict[str, Any]:
    """A pod's ``Pod`` (Podman's ``podWithContainers``). Its restart policy is the first container's
    (none: Never, as Podman 4.3), left out for a ``controller`` when no container chose one."""
    if not p.members:
        raise PodpyError(f"pod {p.id} only has an infra container" if p.config.get("infra", True) else
                         f"pod {p.id} has no containers")  # fmt: skip
    cfg = p.config
    shares_net = "net" in (cfg.get("share") or [])
    ctrs, vols, ann = [], [], {}
    hostname = ""
    for i, c in enumerate(p.members):
        ann.update(annotations(c, True))
        hostname = hostname or _hostname(c)
        doc, vos = container(c, resources=True)
        if shares_net:
            doc.pop("ports", None)
            pod_ports = container_ports(cfg.get("ports") or [])
            if i == 0 and pod_ports:
                doc["ports"] = pod_ports
                doc = dict(sorted(doc.items()))
        ctrs.append(doc)
        vols += vos
    extra: dict[str, Any] = {}
    dns = _dns({"dns": cfg.get("dns")})
    if dns:
        extra["dnsConfig"] = dns
    aliases = []
    for h in cfg.get("add_hosts") or []:
        host, _, ip = str(h).partition(":")
        aliases.append({"hostnames": [host], "ip": ip})
    if aliases:
        extra["hostAliases"] = aliases
    if cfg.get("network") == "host":
        extra["hostNetwork"] = True
    if hostname:
        extra["hostname"] = hostname
    policy = str(p.members[0].spec.get("restart_policy") or "")
    if policy or not controller:
        extra["restartPolicy"] = RESTART.get(policy, "Never")
    if "pid" in (cfg.get("share") or []):
        extra["shareProcessNamespace"] = True
    return _pod_doc(p.name, ann, ctrs, _dedup(vols), extra, status=True)


def containers_document(ctrs: Sequence[CtrFacts]) -> dict[str, Any]:
    """Containers outside a pod as one ``Pod`` (Podman's ``simplePodWithV1Containers``): ``NAME-pod``."""
    docs, vols, ann, dns = [], [], {}, {}
    hostname = ""
    for c in ctrs:
        ann.update(annotations(c, False))
        hostname = hostname or _hostname(c)
        doc, vos = container(c, resources=False)
        docs.append(doc)
        vols += vos
        for k, v in _dns(c.spec).items():
            dns.setdefault(k, [])
            dns[k] += [x for x in v if x not in dns[k]]
    extra: dict[str, Any] = {}
    if dns:
        extra["dnsConfig"] = dns
    if all(c.spec.get("network") == "host" for c in ctrs):
        extra["hostNetwork"] = True
    if hostname:
        extra["hostname"] = hostname
    policy = str(ctrs[0].spec.get("restart_policy") or "")
    if policy:  # newer Podman's (4.3 leaves it out, and Kubernetes then restarts Always)
        extra["restartPolicy"] = RESTART.get(policy, "Never")
    return _pod_doc(_no_underscores(ctrs[0].name) + "-pod", ann, docs, vols, extra, status=False)


def service_document(pod: Mapping[str, Any], rng: random.Random | None = None) -> dict[str, Any]:
    """A NodePort ``Service`` for a pod's published ports (random node ports in 30000-32767, unique)."""
    rng = rng or random.Random()
    used: set[int] = set()
    ports = []
    for c in pod["spec"]["containers"]:
        for cp in c.get("ports") or []:
            node = rng.randint(30000, 32767)
            while node in used:
                node = rng.randint(30000, 32767)
            used.add(node)
            sp: dict[str, Any] = {
                "name": str(cp["containerPort"]),
                "nodePort": node,
                "port": cp["containerPort"],
            }
            if cp.get("protocol"):
                sp["protocol"] = cp["protocol"]
            sp["targetPort"] = cp["containerPort"]
            ports.append(sp)
    meta = pod["metadata"]
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"creationTimestamp": meta["creationTimestamp"], "labels": dict(meta["labels"]),
                         "name": meta["name"]},
            "spec": {"ports": ports, "selector": {"app": meta["labels"]["app"]}, "type": "NodePort"}}  # fmt: skip


def controller_document(pod: Mapping[str, Any], kind: str, replicas: int = 1) -> dict[str, Any]:
    """The pod wrapped in a ``Deployment`` or ``DaemonSet`` (newer Podman's)."""
    name = pod["metadata"]["name"]
    policy = pod["spec"].get("restartPolicy", "")
    if policy and policy != "Always":
        k = "Deployments" if kind == "deployment" else "DaemonSets"
        flag = {"Never": "no", "OnFailure": "on-failure"}.get(policy, policy)
        raise UsageError(
            f"k8s {k} can only have restartPolicy set to Always: the containers have --restart {flag}"
        )
    meta = dict(pod["metadata"])
    labels = {**meta.get("labels", {}), "app": name}
    meta["labels"] = labels
    spec = dict(pod["spec"])
    spec.pop("restartPolicy", None)
    body: dict[str, Any] = {
        "selector": {"matchLabels": {"app": name}},
        "template": {"metadata": meta, "spec": spec},
    }
    if replicas > 1:
        body["replicas"] = replicas
    suffix, api_kind = ("deployment", "Deployment") if kind == "deployment" else ("daemonset", "DaemonSet")
    return {"apiVersion": "apps/v1", "kind": api_kind,
            "metadata": {"creationTimestamp": meta["creationTimestamp"], "labels": labels, "name": f"{name}-{suffix}"},
            "spec": body}  # fmt: skip


_VOL_ANN = {"o": "volume.podman.io/mount-options", "device": "volume.podman.io/device",
            "type": "volume.podman.io/type", "UID": "volume.podman.io/uid", "GID": "volume.podman.io/gid"}  # fmt: skip


def claim_document(v: VolumeFacts) -> dict[str, Any]:
    ann = {"volume.podman.io/driver": v.driver}
    ann.update({_VOL_ANN[k]: val for k, val in v.options.items() if k in _VOL_ANN})
    meta: dict[str, Any] = {"annotations": ann, "creationTimestamp": now()}
    if v.labels:
        meta["labels"] = dict(v.labels)
    meta["name"] = v.name
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta,
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
            "status": {}}  # fmt: skip


def documents(pods: Sequence[PodFacts], ctrs: Sequence[CtrFacts], vols: Sequence[VolumeFacts], *,
              service: bool = False, kind: str = "pod", replicas: int = 1) -> list[dict[str, Any]]:  # fmt: skip
    """Every document, in Podman's order: claims, services, pods (or their controllers)."""
    if kind not in TYPES:
        raise UsageError(
            f"invalid type given, only supported types are pod, deployment and daemonset: {kind}"
        )
    if replicas < 1:
        raise UsageError("--replicas must be 1 or more")
    if replicas > 1 and kind == "daemonset":
        raise UsageError("k8s DaemonSets don't allow setting replicas")
    if replicas > 1 and kind != "deployment":
        raise UsageError("--replicas can only be set when --type is deployment")
    pod_docs = [pod_document(p, controller=kind != "pod") for p in pods]
    if ctrs:
        pod_docs.append(containers_document(ctrs))
    services = [service_document(d) for d in pod_docs] if service else []
    typed = pod_docs if kind == "pod" else [controller_document(d, kind, replicas) for d in pod_docs]
    return [*(claim_document(v) for v in vols), *services, *typed]


# --- from the state ---------------------------------------------------------------------------------


def _bundle(paths: Paths, cid: str) -> dict[str, Any]:
    import json

    from podpy.engine import containers

    try:
        with open(containers.container_dir(paths, cid) / "userdata" / "config.json", encoding="utf-8") as f:
            return dict(json.load(f))
    except (OSError, ValueError):
        return {}


def _host_kind(path: str) -> str:
    try:
        return "Directory" if os.path.isdir(path) else "File" if os.path.exists(path) else "DirectoryOrCreate"
    except OSError:
        return "DirectoryOrCreate"


def ctr_facts(paths: Paths, rec: Any, image_configs: dict[str, dict[str, Any]]) -> CtrFacts:
    from podpy.engine import containers, images, volumes

    if rec.image_id not in image_configs:
        try:
            store = images.open_store(paths)
            image_configs[rec.image_id] = dict(
                store.image_config(store.lookup_image(rec.image_id)).get("config") or {}
            )
        except PodpyError:
            image_configs[rec.image_id] = {}
    bundle = _bundle(paths, rec.id)
    proc = bundle.get("process") or {}
    user = proc.get("user") or {}
    caps = sorted({c for s in (proc.get("capabilities") or {}).values() for c in s})
    userdata = (
        str(containers.container_dir(paths, rec.id).parent) + "/"
    )  # a member's /etc files are its infra's
    spec = (rec.config or {}).get("spec") or {}
    anon = set()
    kinds = {}
    for m in spec.get("mounts") or []:
        if m.get("volume"):
            try:
                if volumes.get(paths, m["volume"]).anonymous:
                    anon.add(m["volume"])
            except PodpyError:
                pass
        elif m.get("type") == "bind":
            kinds[str(m.get("source"))] = _host_kind(str(m.get("source")))
    return CtrFacts(id=rec.id, name=rec.name, config=dict(rec.config or {}), image=rec.image_name,
                    image_config=image_configs[rec.image_id], uid=int(user.get("uid") or 0),
                    gid=int(user.get("gid") or 0), caps=caps, annotations=dict(bundle.get("annotations") or {}),
                    labels=dict(rec.labels or {}), anonymous=anon, userdata=userdata, host_kinds=kinds,
                    created=rec.created)  # fmt: skip


def collect(paths: Paths, refs: Sequence[str]) -> tuple[list[PodFacts], list[CtrFacts], list[VolumeFacts]]:
    """What the names refer to, looked up as Podman does: a container, else a pod, else a volume."""
    from podpy.engine import containers, pods, volumes

    st = containers.open_state(paths)
    images: dict[str, dict[str, Any]] = {}
    out_pods: list[PodFacts] = []
    out_ctrs: list[CtrFacts] = []
    out_vols: list[VolumeFacts] = []
    for ref in refs:
        try:
            rec = containers.get(st, paths, ref)
        except NotFoundError:
            rec = None
        if rec is not None:
            pod_id = pods.pod_of(rec)
            if pod_id:
                raise PodpyError(
                    f"container {rec.id} is associated with pod {pod_id}: use generate on the pod itself"
                )
            out_ctrs.append(ctr_facts(paths, rec, images))
            continue
        try:
            pod, members = pods.lookup(paths, ref)
        except NotFoundError:
            pod = None
        if pod is not None:
            facts = [ctr_facts(paths, r, images) for r in members if r.id != pod.infra_id]
            facts.sort(key=lambda c: c.created)
            out_pods.append(PodFacts(pod.id, pod.name, {**pod.config, "infra": bool(pod.infra_id)}, facts))
            continue
        if volumes.exists(paths, ref):
            v = volumes.get(paths, ref)
            out_vols.append(VolumeFacts(v.name, v.driver, dict(v.labels), dict(v.options)))
            continue
        raise NotFoundError(f'name or ID "{ref}" not found')
    return out_pods, out_ctrs, out_vols


def generate(paths: Paths, refs: Sequence[str], *, service: bool = False, kind: str = "pod",
             replicas: int = 1) -> str:  # fmt: skip
    """The YAML text ``kube generate`` prints."""
    from podpy import __version__
    from podpy.generate.kube_yaml import dump_all

    if not refs:
        raise UsageError("requires at least 1 arg(s), only received 0")
    pods, ctrs, vols = collect(paths, refs)
    return dump_all(documents(pods, ctrs, vols, service=service, kind=kind, replicas=replicas), __version__)
