"""``kube play`` / ``kube down``: Kubernetes YAML turned into pods, containers and volumes, as Podman does it.

The YAML is read into a ``Plan`` first (pure: every error a document can cause is found before anything
is created), then ``play`` creates it: PersistentVolumeClaims become named volumes, each Pod
(Deployment, DaemonSet: their template, one replica) becomes a pod (``engine.pods``: ports, network,
hostname, host aliases, DNS on its infra) whose containers are called ``POD-CTR`` and are created
through ``run``'s own path: the plan gives, per container, values for ``run``'s options (the names of
``podpy.cli.container.RUN_OPTIONS``) and the caller creates the container from them, so flag handling,
pulling (``--pull missing`` unless ``imagePullPolicy`` says otherwise) and validation are ``run``'s.

Volumes: ``hostPath`` is a bind mount (its ``type`` checked, ``*OrCreate`` created); ``emptyDir`` an
anonymous volume shared by the pod's containers (``medium: Memory``: a tmpfs per container);
``configMap`` and ``secret`` volumes are files written under ``ROOT/kube/POD_ID/VOLUME`` (mounted
read-only, ``items``, ``defaultMode`` and ``subPath`` honoured); ``persistentVolumeClaim`` the named
volume. ConfigMaps (from the YAML or ``--configmap`` files) and Secrets feed ``env`` (``valueFrom``)
and ``envFrom``; Secrets are not stored anywhere else.

``kube down`` (as Podman 4.3) stops and removes the pods, the anonymous volumes of their containers
and their ConfigMap/Secret files; named volumes (PVCs) are kept.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import stat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from podpy.util.errors import NotFoundError, PodpyError
from podpy.util.log import get_logger
from podpy.util.paths import Paths

log = get_logger(__name__)

POD_KINDS = ("Pod", "Deployment", "DaemonSet")
KINDS = (*POD_KINDS, "PersistentVolumeClaim", "ConfigMap", "Secret")
IGNORED_KINDS = ("Service",)  # ``kube generate --service`` writes it; Podman plays the file without it
RESTART = {"Always": "always", "OnFailure": "on-failure", "Never": "no", "": "always"}
PULL = {"Always": "always", "Never": "never", "IfNotPresent": "missing", "": "missing"}
HOST_PATH_TYPES = ("", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket", "CharDevice",
                   "BlockDevice")  # fmt: skip
VOLUME_SOURCES = ("hostPath", "emptyDir", "configMap", "secret", "persistentVolumeClaim")
POD_LABEL = "io.podpy.kube.pod"  # on the emptyDir volumes a pod's containers share


def kube_dir(paths: Paths, pod_id: str = "") -> Path:
    """Where a played pod's ConfigMap/Secret volume files live (removed with ``kube down``)."""
    base = Path(paths.root) / "kube"
    return base / pod_id if pod_id else base


# --- reading the YAML ------------------------------------------------------------------------------


def yaml_error(e: Exception) -> str:
    """PyYAML's error as one line, with Go yaml's ``yaml: line N: problem`` shape."""
    mark = getattr(e, "problem_mark", None)
    problem = getattr(e, "problem", None) or str(e).splitlines()[0]
    return f"yaml: line {mark.line + 1}: {problem}" if mark is not None else f"yaml: {problem}"


def load(text: str) -> list[dict[str, Any]]:
    """The documents of a (multi-document) YAML text; empty documents dropped."""
    import yaml

    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as e:
        raise PodpyError(f"multi doc yaml could not be split: {yaml_error(e)}") from None
    for i, d in enumerate(docs, 1):
        if not isinstance(d, dict):
            raise PodpyError(
                f"YAML document {i} is not a mapping: a kube document has apiVersion, kind, metadata"
            )
    return docs


def read_file(path: str, stdin: Any = None) -> str:
    """A kube file's text (``-`` is stdin), with Podman's message for a missing file."""
    if path == "-":
        return str(stdin.read() if stdin is not None else "")
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        raise PodpyError(f"open {path}: no such file or directory") from None
    except (OSError, UnicodeDecodeError) as e:
        raise PodpyError(f"reading {path}: {getattr(e, 'strerror', None) or e}") from None


def _kind(doc: Mapping[str, Any]) -> str:
    return str(doc.get("kind") or "")


def _name(doc: Mapping[str, Any], what: str) -> str:
    name = (doc.get("metadata") or {}).get("name")
    if not isinstance(name, str) or not name:
        raise PodpyError(f"{what}: metadata.name is missing: every kube object needs a name")
    return name


def check_kinds(docs: Sequence[Mapping[str, Any]]) -> None:
    """Podman's error when no document has a kind it plays; a warning for each other unsupported kind."""
    kinds = [_kind(d) for d in docs]
    if not any(k in KINDS for k in kinds):
        other = sorted({k for k in kinds if k and k not in IGNORED_KINDS})
        hint = f" (found {', '.join(other)})" if other else ""
        raise PodpyError(f"YAML document does not contain any supported kube kind{hint}: podpy plays "
                         f"{', '.join(KINDS)}")  # fmt: skip
    for k in kinds:
        if k not in KINDS and k not in IGNORED_KINDS:
            log.warning("kube kind %s is not supported by podpy: document skipped", k or "(none)")


def pod_name(doc: Mapping[str, Any]) -> str:
    """The pod a Pod/Deployment/DaemonSet document makes: its name, ``NAME-pod`` for the others (one replica)."""
    kind = _kind(doc)
    name = _name(doc, kind)
    return name if kind == "Pod" else f"{name}-pod"


def pod_names(docs: Sequence[Mapping[str, Any]]) -> list[str]:
    return [pod_name(d) for d in docs if _kind(d) in POD_KINDS]


# --- the plan --------------------------------------------------------------------------------------


@dataclass
class MountPlan:
    """One volumeMount: ``kind`` host|pvc|files|empty|tmpfs; ``source`` a host path, claim or pod volume name."""

    kind: str
    source: str
    destination: str
    read_only: bool = False
    sub_path: str = ""


@dataclass
class ContainerPlan:
    name: str
    run: dict[str, Any]  # values for ``run``'s options (RUN_OPTIONS names), volumes added at play time
    mounts: list[MountPlan] = field(default_factory=list)


@dataclass
class PodPlan:
    name: str
    options: Any  # engine.pods.PodOptions
    containers: list[ContainerPlan] = field(default_factory=list)
    files: dict[str, dict[str, tuple[bytes, int]]] = field(
        default_factory=dict
    )  # volume -> path -> (data, mode)
    empty_dirs: list[str] = field(default_factory=list)
    host_paths: list[tuple[str, str]] = field(default_factory=list)  # (path, type) to create at play time


@dataclass
class VolumePlan:
    name: str
    labels: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)


@dataclass
class Plan:
    volumes: list[VolumePlan] = field(default_factory=list)
    pods: list[PodPlan] = field(default_factory=list)


def _decode(data: Mapping[str, Any] | None, what: str) -> dict[str, bytes]:
    out = {}
    for k, v in (data or {}).items():
        try:
            out[str(k)] = base64.b64decode(str(v), validate=True)
        except ValueError:
            raise PodpyError(f"{what}: the value of {k} is not valid base64") from None
    return out


def _strings(data: Mapping[str, Any] | None) -> dict[str, bytes]:
    return {str(k): ("" if v is None else str(v)).encode() for k, v in (data or {}).items()}


def sources(
    docs: Sequence[Mapping[str, Any]], configmaps: Sequence[Mapping[str, Any]] = ()
) -> dict[str, dict[str, dict[str, bytes]]]:
    """ConfigMaps and Secrets by name: ``{"ConfigMap": {name: {key: bytes}}, "Secret": {...}}``."""
    out: dict[str, dict[str, dict[str, bytes]]] = {"ConfigMap": {}, "Secret": {}}
    for d in [*configmaps, *docs]:
        kind = _kind(d)
        if kind == "ConfigMap":
            name = _name(d, kind)
            out[kind][name] = {**_strings(d.get("data")), **_decode(d.get("binaryData"), f"ConfigMap {name}")}
        elif kind == "Secret":
            name = _name(d, kind)
            out[kind][name] = {**_decode(d.get("data"), f"Secret {name}"), **_strings(d.get("stringData"))}
    return out


def configmap_docs(text: str, path: str) -> list[dict[str, Any]]:
    """``--configmap FILE``: its ConfigMap documents (any other kind is an error, as Podman)."""
    docs = load(text)
    for d in docs:
        if _kind(d) != "ConfigMap":
            raise PodpyError(
                f"{path}: --configmap files hold ConfigMap documents only, found kind {_kind(d) or '(none)'}"
            )
    return docs


def plan(docs: Sequence[Mapping[str, Any]], *, configmaps: Sequence[Mapping[str, Any]] = (), network: str = "",
         pull_default: str = "") -> Plan:  # fmt: skip
    """What the documents ask for, checked; nothing is created here."""
    check_kinds(docs)
    src = sources(docs, configmaps)
    out = Plan()
    seen: set[str] = set()
    for d in docs:
        kind = _kind(d)
        if kind == "PersistentVolumeClaim":
            out.volumes.append(_pvc(d))
        elif kind in POD_KINDS:
            p = _pod(d, src, network, pull_default)
            if p.name in seen:
                raise PodpyError(f"pod {p.name} is defined twice in the YAML")
            seen.add(p.name)
            out.pods.append(p)
    return out


_PVC_OPTS = {"volume.podman.io/type": "type", "volume.podman.io/device": "device",
             "volume.podman.io/mount-options": "o"}  # fmt: skip


def _pvc(doc: Mapping[str, Any]) -> VolumePlan:
    from podpy.engine.volumes import check_name

    meta = doc.get("metadata") or {}
    name = check_name(_name(doc, "PersistentVolumeClaim"))
    ann = meta.get("annotations") or {}
    driver = str(ann.get("volume.podman.io/driver") or "local")
    if driver != "local":
        raise PodpyError(
            f"PersistentVolumeClaim {name}: volume driver {driver} is not supported: podpy has the local driver only"
        )
    opts = {v: str(ann[k]) for k, v in _PVC_OPTS.items() if ann.get(k)}
    return VolumePlan(name, {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}, opts)


def _template(doc: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(metadata, spec) of the pod a document describes (a Deployment's/DaemonSet's template)."""
    kind = _kind(doc)
    if kind == "Pod":
        return dict(doc.get("metadata") or {}), dict(doc.get("spec") or {})
    spec = doc.get("spec") or {}
    replicas = spec.get("replicas")
    if kind == "Deployment" and isinstance(replicas, int) and replicas > 1:
        log.warning("Limiting replica count to 1, more than one replica is not supported by Podman")
    tmpl = spec.get("template") or {}
    return dict(tmpl.get("metadata") or {}), dict(tmpl.get("spec") or {})


def _pod(doc: Mapping[str, Any], src: Mapping[str, Any], network: str, pull_default: str) -> PodPlan:
    from podpy.engine.pods import PodOptions

    name = pod_name(doc)
    meta, spec = _template(doc)
    what = f"pod {name}"
    containers = spec.get("containers")
    if not isinstance(containers, list):
        containers = []
    if spec.get("initContainers"):
        raise PodpyError(f"{what}: initContainers are not supported by podpy yet")
    share = ["ipc", "net", "uts"] + (["pid"] if spec.get("shareProcessNamespace") else [])
    net = network or ("host" if spec.get("hostNetwork") else "")
    dns = spec.get("dnsConfig") or {}
    if dns.get("searches") or dns.get("options"):
        raise PodpyError(
            f"{what}: dnsConfig searches and options are not supported by podpy (nameservers are)"
        )
    hostname = str(spec.get("hostname") or "")
    ports = _ports(containers, what)  # checked even where unused: with the host's network a port is just open
    opts = PodOptions(name=name, ports=[] if net == "host" else ports, share=share, network=net,
                      hostname=hostname, labels={str(k): str(v) for k, v in (meta.get("labels") or {}).items()},
                      add_hosts=[f"{h}:{a.get('ip')}" for a in spec.get("hostAliases") or [] for h in a.get("hostnames") or []],
                      dns=[str(s) for s in dns.get("nameservers") or []])  # fmt: skip
    pod = PodPlan(name, opts)
    volumes = _pod_volumes(spec, src, pod, what)
    restart = str(spec.get("restartPolicy") or "")
    if restart not in RESTART:
        raise PodpyError(f"{what}: invalid restartPolicy {restart!r}: use Always, OnFailure or Never")
    pod_sc = spec.get("securityContext") or {}
    names: set[str] = set()
    for c in containers:
        cname = str((c or {}).get("name") or "")
        if not cname:
            raise PodpyError(f"{what}: a container has no name")
        if cname in names:
            raise PodpyError(f"{what}: container name {cname} is used twice")
        names.add(cname)
        pod.containers.append(_container(c, pod, volumes, src, RESTART[restart], pod_sc, pull_default))
    return pod


def _ports(containers: Sequence[Mapping[str, Any]], what: str) -> list[dict[str, Any]]:
    """Every container's ports, published on the pod: ``hostPort``, else the ``containerPort`` (as Podman)."""
    from podpy.network import options

    out: list[dict[str, Any]] = []
    for c in containers:
        for p in (c or {}).get("ports") or []:
            ctr = p.get("containerPort")
            if not isinstance(ctr, int):
                raise PodpyError(f"{what}: container {c.get('name')}: a port has no containerPort")
            host = p.get("hostPort") or ctr
            ip = str(p.get("hostIP") or "")
            proto = str(p.get("protocol") or "TCP").lower()
            text = f"{'[' + ip + ']' if ':' in ip else ip}{':' if ip else ''}{host}:{ctr}/{proto}"
            out += options.parse_publish(text)
    options.expand_ports(out)  # a host port twice fails here
    return out


def _pod_volumes(
    spec: Mapping[str, Any], src: Mapping[str, Any], pod: PodPlan, what: str
) -> dict[str, MountPlan]:
    """The pod's ``volumes`` as mount templates (destination filled per volumeMount)."""
    out: dict[str, MountPlan] = {}
    for v in spec.get("volumes") or []:
        vname = str((v or {}).get("name") or "")
        if not vname:
            raise PodpyError(f"{what}: a volume has no name")
        kinds = [k for k in v if k != "name"]
        kind = next((k for k in kinds if k in VOLUME_SOURCES), "")
        if not kind:
            raise PodpyError(f"{what}: volume {vname}: unsupported volume source {', '.join(kinds) or '(none)'}: "
                             f"podpy supports {', '.join(VOLUME_SOURCES)}")  # fmt: skip
        body = v.get(kind) or {}
        if kind == "hostPath":
            out[vname] = MountPlan("host", _host_path(body, pod, f"{what}: volume {vname}"), "")
        elif kind == "emptyDir":
            if body.get("medium") == "Memory":
                out[vname] = MountPlan("tmpfs", tmpfs_size(body.get("sizeLimit"), f"{what}: volume {vname}"), "")
            else:
                pod.empty_dirs.append(vname)
                out[vname] = MountPlan("empty", vname, "")
        elif kind == "persistentVolumeClaim":
            claim = str(body.get("claimName") or "")
            if not claim:
                raise PodpyError(f"{what}: volume {vname}: persistentVolumeClaim needs a claimName")
            out[vname] = MountPlan("pvc", claim, "", read_only=bool(body.get("readOnly")))
        else:
            pod.files[vname] = _files(kind, body, src, f"{what}: volume {vname}")
            out[vname] = MountPlan("files", vname, "", read_only=True)
    return out


_QUANTITY = {"": 1, "k": 1000, "M": 1000**2, "G": 1000**3, "T": 1000**4, "Ki": 1024, "Mi": 1024**2,
             "Gi": 1024**3, "Ti": 1024**4}  # fmt: skip


def tmpfs_size(limit: Any, what: str) -> str:
    """An emptyDir ``sizeLimit`` (a Kubernetes quantity: ``64Mi``, ``1G``, ``1000``) as tmpfs bytes."""
    if limit in (None, ""):
        return ""
    import re

    m = re.fullmatch(r"(\d+)(Ki|Mi|Gi|Ti|k|M|G|T|)", str(limit).strip())
    if not m:
        raise PodpyError(f"{what}: invalid emptyDir sizeLimit {limit!r}: use a quantity like 64Mi or 1G")
    return str(int(m.group(1)) * _QUANTITY[m.group(2)])


def _host_path(body: Mapping[str, Any], pod: PodPlan, what: str) -> str:
    path = str(body.get("path") or "")
    htype = str(body.get("type") or "")
    if not path.startswith("/"):
        raise PodpyError(f"{what}: hostPath.path {path!r} must be an absolute path")
    if htype not in HOST_PATH_TYPES:
        raise PodpyError(
            f"{what}: invalid hostPath type {htype!r}: use one of {', '.join(t for t in HOST_PATH_TYPES if t)}"
        )
    if ":" in path or "," in path:
        raise PodpyError(f"{what}: hostPath {path!r}: paths with ':' or ',' are not supported")
    path = os.path.normpath(path)
    checks = {"Directory": stat.S_ISDIR, "File": stat.S_ISREG, "Socket": stat.S_ISSOCK,
              "CharDevice": stat.S_ISCHR, "BlockDevice": stat.S_ISBLK}  # fmt: skip
    if htype in checks:
        try:
            st = os.stat(path)
        except OSError:
            raise PodpyError(f"{what}: hostPath {path} does not exist (type {htype})") from None
        if not checks[htype](st.st_mode):
            raise PodpyError(f"{what}: hostPath {path} is not a {htype}")
    elif htype in ("DirectoryOrCreate", "FileOrCreate"):
        pod.host_paths.append((path, htype))
    return path


def _files(
    kind: str, body: Mapping[str, Any], src: Mapping[str, Any], what: str
) -> dict[str, tuple[bytes, int]]:
    """The files a configMap/secret volume shows: every key, or its ``items`` (key -> path, mode)."""
    ref = str(body.get("name" if kind == "configMap" else "secretName") or "")
    store = src["ConfigMap" if kind == "configMap" else "Secret"]
    default_mode = body.get("defaultMode")
    mode = int(default_mode) if isinstance(default_mode, int) else 0o644
    if ref not in store:
        if body.get("optional"):
            return {}
        raise PodpyError(f"{what}: {'ConfigMap' if kind == 'configMap' else 'Secret'} {ref!r} is not defined "
                         "(give it in the YAML" + (" or with --configmap)" if kind == "configMap" else ")"))  # fmt: skip
    data = store[ref]
    items = body.get("items")
    if not items:
        return {k: (v, mode) for k, v in data.items()}
    out = {}
    for it in items:
        key, path = str(it.get("key") or ""), str(it.get("path") or "")
        if key not in data:
            raise PodpyError(f"{what}: key {key!r} is not in {ref}")
        out[path or key] = (data[key], int(it["mode"]) if isinstance(it.get("mode"), int) else mode)
    return out


def _env(c: Mapping[str, Any], src: Mapping[str, Any], what: str) -> list[str]:
    """``envFrom`` first, then ``env`` (later entries win, as in Kubernetes)."""
    out: list[str] = []
    for ef in c.get("envFrom") or []:
        prefix = str(ef.get("prefix") or "")
        for key, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
            ref = ef.get(key)
            if ref is None:
                continue
            name = str(ref.get("name") or "")
            if name not in src[kind]:
                if ref.get("optional"):
                    continue
                raise PodpyError(f"{what}: envFrom: {kind} {name!r} is not defined")
            out += [f"{prefix}{k}={v.decode(errors='replace')}" for k, v in src[kind][name].items()]
    for e in c.get("env") or []:
        name = str(e.get("name") or "")
        if not name:
            raise PodpyError(f"{what}: an env entry has no name")
        if "valueFrom" not in e:
            out.append(f"{name}={'' if e.get('value') is None else e.get('value')}")
            continue
        vf = e.get("valueFrom") or {}
        for key, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
            ref = vf.get(key)
            if ref is None:
                continue
            store = src[kind].get(str(ref.get("name") or ""))
            k = str(ref.get("key") or "")
            if store is None or k not in store:
                if ref.get("optional"):
                    break
                raise PodpyError(
                    f"{what}: env {name}: key {k!r} of {kind} {ref.get('name')!r} is not defined"
                )
            out.append(f"{name}={store[k].decode(errors='replace')}")
            break
        else:
            raise PodpyError(
                f"{what}: env {name}: only configMapKeyRef and secretKeyRef are supported in valueFrom"
            )
    return out


def _container(c: Mapping[str, Any], pod: PodPlan, volumes: Mapping[str, MountPlan], src: Mapping[str, Any],
               restart: str, pod_sc: Mapping[str, Any], pull_default: str) -> ContainerPlan:  # fmt: skip
    cname = str(c["name"])
    what = f"pod {pod.name}: container {cname}"
    image = str(c.get("image") or "")
    if not image:
        raise PodpyError(f"{what}: no image given")
    policy = str(c.get("imagePullPolicy") or "")
    if policy not in PULL:
        raise PodpyError(f"{what}: invalid imagePullPolicy {policy!r}: use Always, IfNotPresent or Never")
    run: dict[str, Any] = {"image": image, "name": f"{pod.name}-{cname}", "restart": restart,
                           "pull": PULL[policy] if policy else (pull_default or "missing"),
                           "env": tuple(_env(c, src, what))}  # fmt: skip
    command, args = c.get("command"), c.get("args")
    if command:
        run["entrypoint"] = json.dumps([str(x) for x in command])
    if args:
        run["command"] = tuple(str(x) for x in args)
    if c.get("workingDir"):
        run["workdir"] = str(c["workingDir"])
    sc = {
        **{k: v for k, v in pod_sc.items() if k in ("runAsUser", "runAsGroup")},
        **(c.get("securityContext") or {}),
    }
    if sc.get("runAsUser") is not None or sc.get("runAsGroup") is not None:
        user = str(sc.get("runAsUser") if sc.get("runAsUser") is not None else 0)
        run["user"] = user + (f":{sc['runAsGroup']}" if sc.get("runAsGroup") is not None else "")
    if sc.get("privileged"):
        run["privileged"] = True
    if sc.get("readOnlyRootFilesystem"):
        run["read_only"] = True
    if sc.get("allowPrivilegeEscalation") is False:
        run["security_opt"] = ("no-new-privileges",)
    caps = sc.get("capabilities") or {}
    if caps.get("add"):
        run["cap_add"] = tuple(str(x) for x in caps["add"])
    if caps.get("drop"):
        run["cap_drop"] = tuple(str(x) for x in caps["drop"])
    if c.get("tty"):
        run["tty"] = True
    if c.get("stdin"):
        run["interactive"] = True
    run.update(probe(c.get("livenessProbe"), what))
    limits = (c.get("resources") or {}).get("limits") or {}
    if limits:
        log.warning("%s: resources.limits (%s) are not enforced: this host has no delegated cgroup v2 for "
                    "rootless containers", what, ", ".join(sorted(limits)))  # fmt: skip
    plan_ = ContainerPlan(cname, run)
    seen: set[str] = set()
    for vm in c.get("volumeMounts") or []:
        vname, dest = str(vm.get("name") or ""), str(vm.get("mountPath") or "")
        if vname not in volumes:
            raise PodpyError(
                f"{what}: volume mount {vname} specified for container but not configured in volumes"
            )
        if not dest.startswith("/"):
            raise PodpyError(f"{what}: volume mount {vname}: mountPath {dest!r} must be an absolute path")
        if ":" in dest or "," in dest:
            raise PodpyError(f"{what}: mountPath {dest!r}: paths with ':' or ',' are not supported")
        if dest in seen:
            raise PodpyError(f"{what}: {dest} is mounted twice")
        seen.add(dest)
        tmpl = volumes[vname]
        sub = str(vm.get("subPath") or "")
        if sub and (sub.startswith("/") or ".." in sub.split("/") or ":" in sub or "," in sub):
            raise PodpyError(f"{what}: volume mount {vname}: invalid subPath {sub!r}")
        if sub and tmpl.kind in ("empty", "tmpfs"):
            raise PodpyError(f"{what}: volume mount {vname}: subPath is not supported on emptyDir volumes")
        plan_.mounts.append(
            MountPlan(tmpl.kind, tmpl.source, dest, tmpl.read_only or bool(vm.get("readOnly")), sub)
        )
    return plan_


def probe(p: Mapping[str, Any] | None, what: str) -> dict[str, Any]:
    """A ``livenessProbe`` as ``run``'s health-check options (Podman's: exec runs as it is, httpGet and
    tcpSocket through curl/nc in the container; a failing check restarts the container)."""
    if not p:
        return {}
    if p.get("exec"):
        cmd = json.dumps(["CMD", *(str(x) for x in p["exec"].get("command") or [])])
    elif p.get("httpGet"):
        h = p["httpGet"]
        scheme = str(h.get("scheme") or "HTTP").lower()
        url = f"{scheme}://{h.get('host') or 'localhost'}:{h.get('port')}{h.get('path') or '/'}"
        cmd = json.dumps(["CMD-SHELL", f"curl -f {url} || exit 1"])
    elif p.get("tcpSocket"):
        s = p["tcpSocket"]
        cmd = json.dumps(["CMD-SHELL", f"nc -z -v {s.get('host') or 'localhost'} {s.get('port')} || exit 1"])
    else:
        raise PodpyError(f"{what}: livenessProbe needs exec, httpGet or tcpSocket")

    def secs(key: str, default: int) -> str:
        v = p.get(key)
        return f"{v if isinstance(v, int) and v > 0 else default}s"

    retries = p.get("failureThreshold")
    return {"health_cmd": cmd, "health_interval": secs("periodSeconds", 10), "health_timeout": secs("timeoutSeconds", 1),
            "health_start_period": f"{p.get('initialDelaySeconds') or 0}s",
            "health_retries": retries if isinstance(retries, int) and retries > 0 else 3,
            "health_on_failure": "restart"}  # fmt: skip


# --- play ------------------------------------------------------------------------------------------


@dataclass
class PlayedPod:
    id: str
    containers: list[str] = field(default_factory=list)


@dataclass
class Report:
    volumes: list[str] = field(default_factory=list)
    pods: list[PlayedPod] = field(default_factory=list)


def play(paths: Paths, p: Plan, create_container: Callable[[dict[str, Any]], str], *, start: bool = True,
         on_pod: Callable[[PlayedPod], None] | None = None) -> Report:  # fmt: skip
    """Create the plan's volumes and pods (and start the pods unless ``start`` is false).

    ``create_container`` creates one container from ``run`` option values and returns its ID. A pod
    whose creation fails is removed again with what was made for it (volumes of PVCs stay)."""
    from podpy.engine import volumes

    report = Report()
    for v in p.volumes:
        if v.options:
            volumes.parse_options(f"{k}={val}" for k, val in v.options.items())
        volumes.create(paths, v.name, labels=v.labels, options=v.options, ignore=True)
        report.volumes.append(v.name)
    sweep(paths)
    for pp in p.pods:
        played = _play_pod(paths, pp, create_container, start)
        report.pods.append(played)
        if on_pod is not None:
            on_pod(played)
    return report


def _play_pod(
    paths: Paths, pp: PodPlan, create_container: Callable[[dict[str, Any]], str], start: bool
) -> PlayedPod:
    from podpy.engine import pods, volumes

    pod = pods.create(paths, pp.options)
    made: list[str] = []
    try:
        for path, htype in pp.host_paths:
            _create_host_path(path, htype)
        files_dir = kube_dir(paths, pod.id)
        for vname, files in pp.files.items():
            _write_files(files_dir / vname, files)
        empty = {}
        for vname in pp.empty_dirs:
            vol = volumes.create(paths, anonymous=True, labels={POD_LABEL: pp.name})
            made.append(vol.name)
            empty[vname] = vol.name
        played = PlayedPod(pod.id)
        for cp in pp.containers:
            run = dict(cp.run, pod=pod.id)
            vols, tmpfs = _mount_args(paths, cp.mounts, files_dir, empty)
            run["volume"], run["tmpfs"] = tuple(vols), tuple(tmpfs)
            played.containers.append(create_container(run))
        if start:
            pods.start(paths, pod.id)
    except BaseException:
        with contextlib.suppress(PodpyError):
            pods.remove(paths, pod.id, force=True, timeout=0)
        shutil.rmtree(kube_dir(paths, pod.id), ignore_errors=True)
        for name in made:
            with contextlib.suppress(PodpyError):
                volumes.remove(paths, name)
        raise
    return played


def _create_host_path(path: str, htype: str) -> None:
    if os.path.exists(path):
        return
    try:
        if htype == "DirectoryOrCreate":
            os.makedirs(path, mode=0o755, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
            with open(path, "a"):
                pass
    except OSError as e:
        raise PodpyError(f"creating hostPath {path} ({htype}): {e.strerror or e}") from None


def _write_files(base: Path, files: Mapping[str, tuple[bytes, int]]) -> None:
    from podpy.util.fsutil import atomic_write

    base.parent.parent.mkdir(exist_ok=True, mode=0o700)  # ROOT/kube: Secrets are in there
    base.mkdir(parents=True, exist_ok=True, mode=0o755)
    for rel, (data, mode) in files.items():
        target = base / rel
        if ".." in Path(rel).parts or rel.startswith("/"):
            raise PodpyError(f"invalid file path {rel!r} in a configMap/secret volume")
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        atomic_write(target, data, mode=mode & 0o777, fsync=False)


def _mount_args(paths: Paths, mounts: Sequence[MountPlan], files_dir: Path,
                empty: Mapping[str, str]) -> tuple[list[str], list[str]]:  # fmt: skip
    """``-v`` and ``--tmpfs`` values for a container's mounts."""
    from podpy.engine import volumes

    vols: list[str] = []
    tmpfs: list[str] = []
    for m in mounts:
        ro = ":ro" if m.read_only else ""
        if m.kind == "tmpfs":
            tmpfs.append(m.destination + (f":size={m.source}" if m.source else ""))
        elif m.kind == "empty":
            vols.append(f"{empty[m.source]}:{m.destination}")
        elif m.kind == "pvc" and not m.sub_path:
            vols.append(f"{m.source}:{m.destination}{ro}")
        else:
            if m.kind == "pvc":
                volumes.create(paths, m.source, ignore=True)
                base = str(volumes.mountpoint(paths, m.source))
            else:
                base = str(files_dir / m.source) if m.kind == "files" else m.source
            src = os.path.join(base, m.sub_path) if m.sub_path else base
            if m.sub_path and not os.path.exists(src):
                raise PodpyError(f"subPath {m.sub_path} does not exist in {base}")
            vols.append(f"{src}:{m.destination}{ro}")
    return vols, tmpfs


def sweep(paths: Paths) -> None:
    """Remove the ConfigMap/Secret files of pods that no longer exist (removed with ``pod rm``)."""
    from podpy.engine import pods

    base = kube_dir(paths)
    try:
        entries = os.listdir(base)
    except FileNotFoundError:
        return
    for name in entries:
        if not pods.exists(paths, name):
            shutil.rmtree(base / name, ignore_errors=True)


# --- down ------------------------------------------------------------------------------------------


@dataclass
class DownReport:
    stopped: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def down(paths: Paths, names: Sequence[str], *, missing_ok: bool = False) -> DownReport:
    """Stop and remove the pods (as Podman 4.3: a pod that does not exist is an error unless
    ``missing_ok``, as for ``--replace``), their containers' anonymous volumes and their files."""
    from podpy.engine import pods, volumes

    found = []
    for name in names:
        try:
            found.append(pods.lookup(paths, name))
        except NotFoundError:
            if not missing_ok:
                raise
    report = DownReport()
    for pod, _ in found:
        pods.stop(paths, pod.id)
        report.stopped.append(pod.id)
    for pod, ctrs in found:
        pods.remove(paths, pod.id, force=True)
        for r in ctrs:
            with contextlib.suppress(PodpyError):
                volumes.remove_anonymous(paths, r.config)
        shutil.rmtree(kube_dir(paths, pod.id), ignore_errors=True)
        report.removed.append(pod.id)
    return report
