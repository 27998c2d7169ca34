"""Build an OCI runtime-spec ``config.json`` from an image config and a ContainerSpec — pure.

Defaults are Podman 4.3's rootless ones, checked against the config.json that ``podman create``
writes on this machine: capability set, masked and read-only paths, the /proc, /dev, /sys mounts,
rlimits, namespaces. The user namespace is not listed: the caller already runs inside podpy's
user namespace, as rootless Podman does. Host facts (rlimits) come in through :class:`HostLimits`
so this module does no I/O; the resolved user comes in as an :class:`ExecUser`.
"""

from __future__ import annotations

import os
import resource

from podpy.runtime.users import ExecUser
from podpy.spec.container import ALL_CAPABILITIES, DEFAULT_CAPABILITIES, ContainerSpec, Mount, parse_signal
from podpy.util.errors import UsageError
from podpy.util.record import FrozenRecord

TYPE_CHECKING = False  # not typing's: importing typing costs every command start-up time
if TYPE_CHECKING:
    from typing import Any

IDMap = tuple[tuple[int, int, int], ...]  # (container id, host-side id, count) lines of /proc/PID/uid_map

OCI_VERSION = "1.0.2-dev"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# containers/common pkg/config: DefaultMaskedPaths / DefaultReadOnlyPaths (as in Podman 4.3).
DEFAULT_MASKED_PATHS: tuple[str, ...] = (
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/fs/selinux",
    "/sys/dev/block",
)
DEFAULT_READONLY_PATHS: tuple[str, ...] = (
    "/proc/asound",
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
)
READ_ONLY_TMPFS_DIRS = ("/tmp", "/var/tmp", "/run")
INIT_PATH = "/run/podman-init"  # where Podman binds catatonit for --init
_UNLIMITED_DEFAULT = 1048576  # Podman's RLimitDefaultValue


class HostLimits(FrozenRecord):
    """The rlimits a rootless container may get: Podman takes them from its own process."""

    __slots__ = ("nofile_soft", "nofile_hard", "nproc_soft", "nproc_hard", "uid_map", "gid_map")
    __match_args__ = __slots__  # as a dataclass's

    nofile_soft: int
    nofile_hard: int
    nproc_soft: int
    nproc_hard: int
    uid_map: IDMap  # the caller's own user namespace maps (podpy's namespace when rootless)
    gid_map: IDMap

    def __init__(
        self,
        nofile_soft: int,
        nofile_hard: int,
        nproc_soft: int,
        nproc_hard: int,
        uid_map: IDMap = (),
        gid_map: IDMap = (),
    ) -> None:
        self.nofile_soft = nofile_soft
        self.nofile_hard = nofile_hard
        self.nproc_soft = nproc_soft
        self.nproc_hard = nproc_hard
        self.uid_map = uid_map
        self.gid_map = gid_map

    @classmethod
    def current(cls) -> HostLimits:
        """Podman raises its soft NOFILE to the hard limit and sets NPROC to pid_max when it can."""
        nf = resource.getrlimit(resource.RLIMIT_NOFILE)
        np_soft, np_hard = resource.getrlimit(resource.RLIMIT_NPROC)
        nf_hard = min(_inf(nf[1]), _UNLIMITED_DEFAULT)
        try:
            with open("/proc/sys/kernel/pid_max") as f:
                pid_max = int(f.read().strip())
        except (OSError, ValueError):
            pid_max = 0
        if pid_max and pid_max <= _inf(np_hard):
            np_soft = np_hard = pid_max
        else:
            np_soft, np_hard = min(_inf(np_soft), _UNLIMITED_DEFAULT), min(_inf(np_hard), _UNLIMITED_DEFAULT)
        return cls(nf_hard, nf_hard, np_soft, np_hard, _read_map("uid_map"), _read_map("gid_map"))


def _read_map(name: str) -> IDMap:
    try:
        with open(f"/proc/self/{name}") as f:
            return tuple(tuple(int(x) for x in ln.split()) for ln in f if ln.strip())  # type: ignore[misc]
    except (OSError, ValueError):
        return ()


def userns_mappings(
    mode: str, host: HostLimits
) -> tuple[list[dict[str, int]], list[dict[str, int]], int, int]:
    """uid/gid mappings of a nested user namespace for ``--userns`` keep-id[:uid=N,gid=N] or nomap.

    Relative to podpy's namespace, where id 0 is the user: keep-id maps the user's own host uid
    (or ``uid=N``) in the container to 0 (the user) and shifts 0..uid-1 onto the subordinate range,
    as Podman does; nomap maps the container's ids onto the subordinate range only (computed by
    :func:`podpy.rootless.idmap.plan`). Returns (uid mappings, gid mappings, container uid, container
    gid of the user; for nomap the user has none and they are -1).
    """
    from podpy.rootless.idmap import plan
    from podpy.rootless.subid import IDMapping

    umap = [IDMapping(*t) for t in host.uid_map]
    gmap = [IDMapping(*t) for t in host.gid_map]
    host_uid = host.uid_map[0][1] if host.uid_map else 0
    host_gid = host.gid_map[0][1] if host.gid_map else 0
    p = plan(mode, umap, gmap, host_uid, host_gid)
    uid = -1 if p.uid is None else p.uid
    gid = -1 if p.gid is None else p.gid
    return p.uid_mappings, p.gid_mappings, uid, gid


def _inf(v: int) -> int:
    return 2**64 - 1 if v == resource.RLIM_INFINITY else v


def process_args(spec: ContainerSpec, image: dict[str, Any]) -> list[str]:
    """Entrypoint + command the way Podman combines them (--entrypoint drops the image's Cmd)."""
    if spec.entrypoint is not None:
        entrypoint = list(spec.entrypoint)
        cmd = list(spec.command) if spec.command is not None else []
    else:
        entrypoint = list(image.get("Entrypoint") or [])
        cmd = list(spec.command) if spec.command is not None else list(image.get("Cmd") or [])
    args = entrypoint + cmd
    if not args:
        raise UsageError("no command or entrypoint provided, and no CMD or ENTRYPOINT from image")
    return args


def stop_signal(spec: ContainerSpec, image: dict[str, Any]) -> int | None:
    """--stop-signal, else the image's StopSignal (an unparsable one is ignored, as Podman does)."""
    if spec.stop_signal is not None:
        return spec.stop_signal
    if image.get("StopSignal"):
        try:
            return parse_signal(str(image["StopSignal"]))
        except UsageError:
            return None
    return None


def process_env(spec: ContainerSpec, image: dict[str, Any], hostname: str, home: str) -> list[str]:
    env: dict[str, str] = {"PATH": DEFAULT_PATH, "TERM": "xterm", "container": "podman"}
    for item in image.get("Env") or []:
        k, _, v = str(item).partition("=")
        if k:
            env[k] = v
    if spec.unsetenv_all:  # --unsetenv(-all): the defaults (podpy's and the image's) go, -e stays
        env.clear()
    for k in spec.unsetenv:
        env.pop(k, None)
    env.update(spec.env)
    env.setdefault("HOME", home)
    env.setdefault("HOSTNAME", hostname)
    return [f"{k}={v}" for k, v in env.items()]


def capabilities(spec: ContainerSpec, uid: int) -> dict[str, list[str]]:
    """Podman's merge: default set, ``ALL`` handling, add then drop; non-root gets only cap-add."""
    every = sorted(ALL_CAPABILITIES, key=lambda c: c)
    if spec.privileged:
        caps = every
    else:
        caps = [] if "ALL" in spec.cap_drop else list(DEFAULT_CAPABILITIES)
        if "ALL" in spec.cap_add:
            caps = every
        else:
            caps += [c for c in spec.cap_add if c not in caps]
        caps = [c for c in caps if c not in spec.cap_drop]
    caps = sorted(caps)
    if uid == 0:
        return {"bounding": caps, "effective": caps, "permitted": caps}
    added = sorted(every if "ALL" in spec.cap_add else {c for c in spec.cap_add if c in caps})
    if spec.privileged:
        added = []
    out: dict[str, list[str]] = {"bounding": caps, "effective": added, "permitted": added}
    if added:
        out["inheritable"] = added
        out["ambient"] = added
    return out


def _rlimits(spec: ContainerSpec, host: HostLimits) -> list[dict[str, Any]]:
    limits: dict[str, tuple[int, int]] = {
        "RLIMIT_NOFILE": (host.nofile_soft, host.nofile_hard),
        "RLIMIT_NPROC": (host.nproc_soft, host.nproc_hard),
    }
    for u in spec.ulimits:
        limits[u.type] = (u.soft, u.hard)
    return [{"type": t, "hard": h, "soft": s} for t, (s, h) in limits.items()]


def _mounts(spec: ContainerSpec, foreign_netns: bool = False) -> list[dict[str, Any]]:
    user_dests = {m.destination for m in spec.mounts}
    mounts: list[dict[str, Any]] = []

    def add(dest: str, mtype: str, source: str, options: list[str]) -> None:
        if dest not in user_dests:
            mounts.append({"destination": dest, "type": mtype, "source": source, "options": options})

    add("/proc", "proc", "proc", ["nosuid", "noexec", "nodev"])
    add("/dev", "tmpfs", "tmpfs", ["nosuid", "noexec", "strictatime", "mode=755", "size=65536k"])
    if (spec.network == "host" and not spec.privileged) or foreign_netns:
        # sysfs can only be mounted by the owner of the network namespace: bind the host's.
        add("/sys", "bind", "/sys", ["rprivate", "nosuid", "noexec", "nodev", "ro", "rbind"])
    else:
        add("/sys", "sysfs", "sysfs", ["nosuid", "noexec", "nodev", "rw" if spec.privileged else "ro"])
    add(
        "/dev/pts",
        "devpts",
        "devpts",
        ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
    )
    add("/dev/mqueue", "mqueue", "mqueue", ["nosuid", "noexec", "nodev"])
    shm_kib = (spec.shm_size + 1023) // 1024 if spec.shm_size else 65536
    add("/dev/shm", "tmpfs", "shm", ["nosuid", "noexec", "nodev", "mode=1777", f"size={shm_kib}k"])
    if spec.network != "host":
        add("/sys/fs/cgroup", "cgroup", "cgroup", ["rprivate", "nosuid", "noexec", "nodev", "relatime", "ro"])
    if spec.read_only and spec.read_only_tmpfs:
        for d in READ_ONLY_TMPFS_DIRS:
            add(d, "tmpfs", "tmpfs", ["rw", "rprivate", "nosuid", "nodev", "tmpcopyup"])
    if spec.init_path:
        add(INIT_PATH, "bind", spec.init_path, ["bind", "ro", "rprivate"])
    for m in spec.mounts:
        if m.overlay:
            mounts.append(overlay_volume(m))
            continue
        mounts.append(
            {
                "destination": m.destination,
                "type": m.type,
                "source": m.source or m.type,
                "options": list(m.options),
            }
        )
    return mounts


def overlay_volume(m: Mount) -> dict[str, Any]:
    """``-v SRC:DST:O``: a kernel overlay the runtime mounts in the container's namespaces, with
    SRC as its (read-only) lower layer; the engine gives it an upper and work dir first."""
    if not (m.upperdir and m.workdir):
        raise UsageError(f"overlay volume {m.destination}: no upper and work directory prepared")
    opts = [f"lowerdir={m.source}", f"upperdir={m.upperdir}", f"workdir={m.workdir}", "userxattr"]
    return {"destination": m.destination, "type": "overlay", "source": "overlay", "options": opts}


def generate(
    spec: ContainerSpec,
    image: dict[str, Any],
    *,
    rootfs: str,
    container_id: str,
    user: ExecUser,
    host: HostLimits,
    netns_path: str | None = None,
    seccomp_profile: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The config.json for ``spec`` run from an image whose config section is ``image``.

    ``image`` is the ``config`` object of an OCI image config (Env, Cmd, Entrypoint, WorkingDir,
    User, StopSignal). ``user`` has been resolved from the rootfs by :func:`resolve_user`.
    ``seccomp_profile`` is a Podman-format profile (see :mod:`podpy.runtime.seccomp`); it is
    resolved for the container's capabilities unless the container is privileged or unconfined.
    """
    spec.validate()
    hostname = spec.hostname or container_id[:12]
    uid_mappings: list[dict[str, int]] = []
    gid_mappings: list[dict[str, int]] = []
    if spec.userns.partition(":")[0] in ("keep-id", "nomap"):
        uid_mappings, gid_mappings, own_uid, own_gid = userns_mappings(spec.userns, host)
        if spec.userns.startswith("keep-id"):
            if spec.user is None and not image.get("User"):  # Podman: the user's ids unless --user/USER
                user = ExecUser(own_uid, own_gid, [own_gid], user.home)
            elif own_gid not in user.additional_gids:  # Podman adds the user's group even with --user
                user = ExecUser(user.uid, user.gid, [*user.additional_gids, own_gid], user.home)
    cwd = spec.workdir or image.get("WorkingDir") or "/"
    if not cwd.startswith("/"):
        cwd = "/" + cwd
    process: dict[str, Any] = {
        "terminal": spec.terminal,
        "user": {"uid": user.uid, "gid": user.gid, "umask": 0o022 if spec.umask is None else spec.umask},
        "args": ([INIT_PATH, "--"] if spec.init_path else []) + process_args(spec, image),
        "env": process_env(spec, image, hostname, user.home),
        "cwd": os.path.normpath(cwd),
        "capabilities": capabilities(spec, user.uid),
        "rlimits": _rlimits(spec, host),
    }
    if user.additional_gids:
        process["user"]["additionalGids"] = list(user.additional_gids)
    if spec.no_new_privileges:
        process["noNewPrivileges"] = True
    namespaces: list[dict[str, str]] = [{"type": "user"}] if uid_mappings else []
    namespaces.append({"type": "pid"})
    if spec.network != "host":
        namespaces.append({"type": "network", "path": netns_path} if netns_path else {"type": "network"})
    namespaces += [{"type": "ipc"}, {"type": "uts"}, {"type": "mount"}]
    linux: dict[str, Any] = {"resources": {}, "namespaces": namespaces}
    if uid_mappings:
        linux["uidMappings"] = uid_mappings
        linux["gidMappings"] = gid_mappings
    # A network namespace made by podpy's user namespace is not the container's own one's: its
    # sysctls cannot be written and sysfs cannot be mounted from there (the host's /sys is bound).
    foreign_netns = bool(uid_mappings) and netns_path is not None
    if spec.network != "host" and not foreign_netns:
        linux["sysctl"] = {"net.ipv4.ping_group_range": "0 0"}
    if spec.sysctls:
        linux["sysctl"] = {**(linux.get("sysctl") or {}), **spec.sysctls}
    if seccomp_profile is not None and not spec.privileged and spec.seccomp != "unconfined":
        from podpy.runtime.seccomp import resolve_profile

        linux["seccomp"] = resolve_profile(seccomp_profile, process["capabilities"]["bounding"])
    if not spec.privileged:
        masked = list(DEFAULT_MASKED_PATHS)
        if spec.network == "host":
            masked.insert(0, "/sys/kernel")  # the host's /sys is bound in: hide its kernel knobs
        linux["maskedPaths"] = masked
        linux["readonlyPaths"] = list(DEFAULT_READONLY_PATHS)
    else:
        linux["rootfsPropagation"] = "rslave"
    root: dict[str, Any] = {"path": rootfs}
    if spec.read_only:
        root["readonly"] = True
    annotations = {
        "io.container.manager": "podpy",
        "io.podman.annotations.autoremove": "TRUE" if spec.remove else "FALSE",
        "io.podman.annotations.privileged": "TRUE" if spec.privileged else "FALSE",
        "io.podman.annotations.init": "TRUE" if spec.init_path else "FALSE",
    }
    stop = stop_signal(spec, image)
    if stop is not None:
        annotations["org.opencontainers.image.stopSignal"] = str(stop)  # a number, as Podman writes it
    annotations.update(spec.annotations)
    return {
        "ociVersion": OCI_VERSION,
        "process": process,
        "root": root,
        "hostname": hostname,
        "mounts": _mounts(spec, foreign_netns),
        "annotations": annotations,
        "linux": linux,
    }
