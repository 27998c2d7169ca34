"""What the user asked for a container, as validated data (Podman's ``specgen`` in spirit).

The CLI turns flags into a :class:`ContainerSpec` with the ``parse_*`` helpers below, which raise
:class:`UsageError` with Podman-like messages; the runtime turns the spec plus the image config
into an OCI ``config.json``. Nothing here does I/O.
"""

from __future__ import annotations

import posixpath
import re

from podpy.util.capabilities import CAPABILITIES
from podpy.util.errors import UsageError
from podpy.util.record import FRESH, FrozenRecord, Record

TYPE_CHECKING = False  # not typing's: importing typing costs every command start-up time
if TYPE_CHECKING:
    from typing import Any

# Podman's default capability set (containers/common pkg/config DefaultCapabilities).
DEFAULT_CAPABILITIES: tuple[str, ...] = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_NET_BIND_SERVICE",
    "CAP_SETFCAP",
    "CAP_SETGID",
    "CAP_SETPCAP",
    "CAP_SETUID",
    "CAP_SYS_CHROOT",
)

# Every capability the kernel knows (number = bit), as Podman lists them for --privileged.
ALL_CAPABILITIES: dict[str, int] = CAPABILITIES

# Names accepted by --ulimit (Docker/Podman spelling) -> OCI rlimit type.
ULIMIT_NAMES: dict[str, str] = {
    "core": "RLIMIT_CORE",
    "cpu": "RLIMIT_CPU",
    "data": "RLIMIT_DATA",
    "fsize": "RLIMIT_FSIZE",
    "locks": "RLIMIT_LOCKS",
    "memlock": "RLIMIT_MEMLOCK",
    "msgqueue": "RLIMIT_MSGQUEUE",
    "nice": "RLIMIT_NICE",
    "nofile": "RLIMIT_NOFILE",
    "nproc": "RLIMIT_NPROC",
    "rss": "RLIMIT_RSS",
    "rtprio": "RLIMIT_RTPRIO",
    "rttime": "RLIMIT_RTTIME",
    "sigpending": "RLIMIT_SIGPENDING",
    "stack": "RLIMIT_STACK",
    "as": "RLIMIT_AS",
}

NETWORK_MODES = ("private", "none", "host", "slirp4netns", "pasta", "ns", "container", "bridge")  # podpy.network.options parses them
USERNS_MODES = (
    "host",
    "keep-id",
    "nomap",
)  # "host" (also ""): container root is the user, Podman's rootless default
_ENV_NAME = re.compile(r"^[^=\x00]+$")
_HOSTNAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})?$")


class Mount(FrozenRecord):
    """A bind or tmpfs mount requested with -v, --mount or --tmpfs."""

    __slots__ = ("type", "destination", "source", "options", "chown", "overlay", "upperdir", "workdir",
                 "volume", "nocopy")  # fmt: skip
    __match_args__ = __slots__  # as a dataclass's: ``case Mount(type, destination)``

    type: str  # "bind" | "tmpfs"
    destination: str
    source: str
    options: tuple[str, ...]
    chown: bool  # -v …:U: chown the source to the container's user (as mapped) first
    overlay: bool  # -v …:O: an overlay with the source as lowerdir, changes discarded
    upperdir: str  # -v …:O,upperdir=…,workdir=…: keep the overlay's changes there instead
    workdir: str
    # type "volume" (-v NAME:DST, --mount type=volume, -v DST): source = the volume's name ("" = anonymous);
    # the engine resolves it to a bind/tmpfs mount and keeps the name here (podpy.engine.volume_mounts)
    volume: str
    nocopy: bool  # -v …:nocopy / volume-nocopy: no copy-up of the image's content

    def __init__(
        self,
        type: str,
        destination: str,
        source: str = "",
        options: tuple[str, ...] = (),
        chown: bool = False,
        overlay: bool = False,
        upperdir: str = "",
        workdir: str = "",
        volume: str = "",
        nocopy: bool = False,
    ) -> None:
        self.type = type
        self.destination = destination
        self.source = source
        self.options = options
        self.chown = chown
        self.overlay = overlay
        self.upperdir = upperdir
        self.workdir = workdir
        self.volume = volume
        self.nocopy = nocopy


class Ulimit(FrozenRecord):
    """One --ulimit: an rlimit with its soft and hard values."""

    __slots__ = ("type", "soft", "hard")
    __match_args__ = __slots__

    type: str  # OCI name, e.g. RLIMIT_NOFILE
    soft: int
    hard: int

    def __init__(self, type: str, soft: int, hard: int) -> None:
        self.type = type
        self.soft = soft
        self.hard = hard


class ContainerSpec(Record):
    """A container as the user described it; image defaults are applied later by the runtime."""

    __slots__ = ("image", "command", "entrypoint", "env", "workdir", "user", "group_add", "hostname",
                 "name", "read_only", "read_only_tmpfs", "mounts", "cap_add", "cap_drop",
                 "no_new_privileges", "privileged", "seccomp", "ulimits", "terminal", "network", "ports",
                 "publish_all", "dns", "dns_search", "dns_options", "add_hosts", "no_hosts", "networks",
                 "remove", "preserve_fds", "interactive", "init_path", "shm_size", "labels", "sig_proxy",
                 "annotations", "stop_signal", "stop_timeout", "secrets", "unsetenv", "unsetenv_all",
                 "umask", "sysctls", "expose", "requires", "image_volume", "rmi", "pidfile",
                 "conmon_pidfile", "detach_keys", "userns", "log_driver", "log_max_size", "log_path",
                 "restart_policy", "restart_max", "healthcheck", "health_on_failure", "sdnotify", "pod",
                 "volumes_from")  # fmt: skip
    __match_args__ = __slots__
    __hash__ = None  # type: ignore[assignment]  # mutable, so unhashable (a dataclass with eq, not frozen)

    image: str
    command: list[str] | None  # None: the image's Cmd
    entrypoint: list[str] | None  # None: the image's Entrypoint; [] clears it
    env: dict[str, str]
    workdir: str | None
    user: str | None
    group_add: list[str]
    hostname: str | None
    name: str | None
    read_only: bool
    read_only_tmpfs: bool
    mounts: list[Mount]
    cap_add: list[str]
    cap_drop: list[str]
    no_new_privileges: bool
    privileged: bool
    seccomp: str | None  # None: default profile; "unconfined"; or a profile path
    ulimits: list[Ulimit]
    terminal: bool
    network: str  # --network as given (podpy.network.options.parse_network); create resolves private
    # published ports (podpy.network.options.parse_publish), DNS and /etc/hosts flags (issue 5)
    ports: list[dict[str, Any]]
    publish_all: bool
    dns: list[str]
    dns_search: list[str]
    dns_options: list[str]
    add_hosts: list[str]  # NAME:IP
    no_hosts: bool
    networks: dict[str, dict[str, Any]]  # network "bridge": NAME -> {ip, mac, aliases}
    remove: bool
    preserve_fds: int
    interactive: bool  # keep stdin; otherwise the container reads /dev/null, as in Podman
    init_path: str | None  # --init: host path of the init bound in at /run/podman-init
    shm_size: int | None  # bytes; None: Podman's 64 MiB
    labels: dict[str, str]
    sig_proxy: bool
    annotations: dict[str, str]
    stop_signal: int | None  # None: the image's StopSignal, else SIGTERM
    stop_timeout: int | None  # seconds `stop` waits before SIGKILL; None: the default (10)
    secrets: list[dict[str, Any]]  # --secret, parsed (parse_secret)
    unsetenv: list[str]  # --unsetenv: defaults (podpy's, the image's) dropped
    unsetenv_all: bool  # --unsetenv-all: only -e/--env-file variables (and HOME, HOSTNAME)
    umask: int | None  # --umask; None: 0022
    sysctls: dict[str, str]  # --sysctl, namespaced ones only
    expose: list[str]  # --expose, as ExposedPorts keys ("8080/tcp"): -P publishes them too
    requires: list[str]  # --requires: containers started before this one
    image_volume: str  # --image-volume: the image's VOLUMEs as anonymous volumes, tmpfs, or ignored
    rmi: bool  # --rmi: the image (by the name it was run by) removed after the container, unless in use
    pidfile: str  # --pidfile: the container's pid written there at each start
    conmon_pidfile: str  # --conmon-pidfile: the monitor's pid written there at each start
    detach_keys: str | None  # validated Podman spelling (ctrl-p,ctrl-q); "" disables detaching
    userns: str  # one of USERNS_MODES
    # the monitor's features (issue 4): logs, restart policy, health check, sd_notify
    log_driver: str  # one of LOG_DRIVERS
    log_max_size: int  # --log-opt max-size (bytes, decimal units as Podman); 0: unlimited
    log_path: str | None  # --log-opt path
    restart_policy: str  # "", no, on-failure, always, unless-stopped
    restart_max: int  # on-failure:N
    healthcheck: dict[str, Any] | None  # Podman's Schema2HealthConfig; None: the image's
    health_on_failure: str  # one of HEALTH_ON_FAILURE
    sdnotify: str  # one of SDNOTIFY_MODES; Podman's default
    pod: str  # --pod NAME|ID|new:NAME as given; engine.pods.on_create makes it the pod's full ID
    volumes_from: list[str]  # --volumes-from CTR[:ro|rw]

    def __init__(
        self,
        image: str,
        command: list[str] | None = None,
        entrypoint: list[str] | None = None,
        env: dict[str, str] = FRESH,
        workdir: str | None = None,
        user: str | None = None,
        group_add: list[str] = FRESH,
        hostname: str | None = None,
        name: str | None = None,
        read_only: bool = False,
        read_only_tmpfs: bool = True,
        mounts: list[Mount] = FRESH,
        cap_add: list[str] = FRESH,
        cap_drop: list[str] = FRESH,
        no_new_privileges: bool = False,
        privileged: bool = False,
        seccomp: str | None = None,
        ulimits: list[Ulimit] = FRESH,
        terminal: bool = False,
        network: str = "private",
        ports: list[dict[str, Any]] = FRESH,
        publish_all: bool = False,
        dns: list[str] = FRESH,
        dns_search: list[str] = FRESH,
        dns_options: list[str] = FRESH,
        add_hosts: list[str] = FRESH,
        no_hosts: bool = False,
        networks: dict[str, dict[str, Any]] = FRESH,
        remove: bool = False,
        preserve_fds: int = 0,
        interactive: bool = False,
        init_path: str | None = None,
        shm_size: int | None = None,
        labels: dict[str, str] = FRESH,
        sig_proxy: bool = True,
        annotations: dict[str, str] = FRESH,
        stop_signal: int | None = None,
        stop_timeout: int | None = None,
        secrets: list[dict[str, Any]] = FRESH,
        unsetenv: list[str] = FRESH,
        unsetenv_all: bool = False,
        umask: int | None = None,
        sysctls: dict[str, str] = FRESH,
        expose: list[str] = FRESH,
        requires: list[str] = FRESH,
        image_volume: str = "bind",
        rmi: bool = False,
        pidfile: str = "",
        conmon_pidfile: str = "",
        detach_keys: str | None = None,
        userns: str = "host",
        log_driver: str = "k8s-file",
        log_max_size: int = 0,
        log_path: str | None = None,
        restart_policy: str = "",
        restart_max: int = 0,
        healthcheck: dict[str, Any] | None = None,
        health_on_failure: str = "none",
        sdnotify: str = "container",
        pod: str = "",
        volumes_from: list[str] = FRESH,
    ) -> None:
        self.image = image
        self.command = command
        self.entrypoint = entrypoint
        self.env = {} if env is FRESH else env
        self.workdir = workdir
        self.user = user
        self.group_add = [] if group_add is FRESH else group_add
        self.hostname = hostname
        self.name = name
        self.read_only = read_only
        self.read_only_tmpfs = read_only_tmpfs
        self.mounts = [] if mounts is FRESH else mounts
        self.cap_add = [] if cap_add is FRESH else cap_add
        self.cap_drop = [] if cap_drop is FRESH else cap_drop
        self.no_new_privileges = no_new_privileges
        self.privileged = privileged
        self.seccomp = seccomp
        self.ulimits = [] if ulimits is FRESH else ulimits
        self.terminal = terminal
        self.network = network
        self.ports = [] if ports is FRESH else ports
        self.publish_all = publish_all
        self.dns = [] if dns is FRESH else dns
        self.dns_search = [] if dns_search is FRESH else dns_search
        self.dns_options = [] if dns_options is FRESH else dns_options
        self.add_hosts = [] if add_hosts is FRESH else add_hosts
        self.no_hosts = no_hosts
        self.networks = {} if networks is FRESH else networks
        self.remove = remove
        self.preserve_fds = preserve_fds
        self.interactive = interactive
        self.init_path = init_path
        self.shm_size = shm_size
        self.labels = {} if labels is FRESH else labels
        self.sig_proxy = sig_proxy
        self.annotations = {} if annotations is FRESH else annotations
        self.stop_signal = stop_signal
        self.stop_timeout = stop_timeout
        self.secrets = [] if secrets is FRESH else secrets
        self.unsetenv = [] if unsetenv is FRESH else unsetenv
        self.unsetenv_all = unsetenv_all
        self.umask = umask
        self.sysctls = {} if sysctls is FRESH else sysctls
        self.expose = [] if expose is FRESH else expose
        self.requires = [] if requires is FRESH else requires
        self.image_volume = image_volume
        self.rmi = rmi
        self.pidfile = pidfile
        self.conmon_pidfile = conmon_pidfile
        self.detach_keys = detach_keys
        self.userns = userns
        self.log_driver = log_driver
        self.log_max_size = log_max_size
        self.log_path = log_path
        self.restart_policy = restart_policy
        self.restart_max = restart_max
        self.healthcheck = healthcheck
        self.health_on_failure = health_on_failure
        self.sdnotify = sdnotify
        self.pod = pod
        self.volumes_from = [] if volumes_from is FRESH else volumes_from

    def validate(self) -> ContainerSpec:
        """Check the combination of fields; returns self so calls chain."""
        validate_monitor_options(self)
        if self.network.partition(":")[0] not in NETWORK_MODES:
            raise UsageError(
                f"unsupported network mode {self.network!r}: use one of {', '.join(NETWORK_MODES)}"
            )
        if self.hostname is not None and not _HOSTNAME.match(self.hostname):
            raise UsageError(f"invalid hostname {self.hostname!r}")
        if self.workdir is not None and not self.workdir.startswith("/"):
            raise UsageError(f"workdir {self.workdir!r} must be an absolute path")
        if self.userns.partition(":")[0] not in USERNS_MODES:
            raise UsageError(f"unrecognized namespace mode {self.userns} passed")
        if self.preserve_fds < 0:
            raise UsageError("--preserve-fds must be 0 or more")
        for key in self.sysctls:
            if key.startswith("net.") and self.network == "host":
                raise UsageError(f"sysctl {key}={self.sysctls[key]} can't be set since Network Namespace set to host")
        if self.image_volume not in ("bind", "tmpfs", "ignore"):
            raise UsageError(f'invalid image volume mode "{self.image_volume}" required value: bind, tmpfs, ignore')
        if self.stop_timeout is not None and self.stop_timeout < 0:
            raise UsageError(f"invalid --stop-timeout {self.stop_timeout}: use 0 or more seconds")
        for c in self.cap_add + self.cap_drop:
            if c != "ALL" and c not in ALL_CAPABILITIES:
                raise UsageError(f"unknown capability {c!r}")
        seen: set[str] = set()
        for m in self.mounts:
            if m.destination in seen:
                raise UsageError(f"{m.destination}: duplicate mount destination")
            seen.add(m.destination)
        return self


def normalize_cap(name: str) -> str:
    """``net_raw`` / ``NET_RAW`` / ``CAP_NET_RAW`` -> ``CAP_NET_RAW``; ``all`` -> ``ALL``."""
    n = name.strip().upper()
    if n == "ALL":
        return "ALL"
    if not n.startswith("CAP_"):
        n = "CAP_" + n
    if n not in ALL_CAPABILITIES:
        raise UsageError(f"unknown capability {name!r}")
    return n


_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def parse_size(text: str, what: str) -> int:
    """``64m``, ``1g``, ``512k``, ``1024`` (bytes) as Podman accepts them for --shm-size."""
    m = re.fullmatch(r"(\d+)([bkmg]?)b?", text.strip().lower())
    if not m:
        raise UsageError(f"invalid {what} {text!r}: use a number with an optional unit b, k, m or g")
    size = int(m.group(1)) * _UNITS[m.group(2)]
    if size <= 0:
        raise UsageError(f"invalid {what} {text!r}: must be greater than 0")
    return size


def parse_env(items: list[str], host_env: dict[str, str] | None = None) -> dict[str, str]:
    """``-e K=V`` pairs; ``-e K`` takes K from the host (skipped when unset, like Podman)."""
    out: dict[str, str] = {}
    for item in items:
        name, eq, value = item.partition("=")
        if not name or not _ENV_NAME.match(name):
            raise UsageError(f"invalid environment variable {item!r}")
        if eq:
            out[name] = value
        elif host_env is not None and name in host_env:
            out[name] = host_env[name]
    return out


_SIGNALS: dict[str, int] = {
    "HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "IOT": 6, "BUS": 7, "FPE": 8, "KILL": 9,
    "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14, "TERM": 15, "STKFLT": 16, "CHLD": 17,
    "CLD": 17, "CONT": 18, "STOP": 19, "TSTP": 20, "TTIN": 21, "TTOU": 22, "URG": 23, "XCPU": 24,
    "XFSZ": 25, "VTALRM": 26, "PROF": 27, "WINCH": 28, "IO": 29, "POLL": 29, "PWR": 30, "SYS": 31,
}  # fmt: skip
_SIGRTMIN, _SIGRTMAX = 34, 64


def parse_signal(text: str) -> int:
    """``TERM``, ``SIGTERM``, ``15``, ``RTMIN+3`` -> number, as Podman's ``--stop-signal`` accepts them."""
    t = text.strip().upper()
    t = t[3:] if t.startswith("SIG") else t
    num: int | None = None
    if t.isdigit():
        num = int(t)
    elif t in _SIGNALS:
        num = _SIGNALS[t]
    elif m := re.fullmatch(r"RTMIN(?:\+(\d+))?", t):
        num = _SIGRTMIN + int(m.group(1) or 0)
    elif m := re.fullmatch(r"RTMAX(?:-(\d+))?", t):
        num = _SIGRTMAX - int(m.group(1) or 0)
    if num is None or not 1 <= num <= _SIGRTMAX:
        raise UsageError(f"invalid signal: {text}")
    return num


_CTRL_KEYS = "abcdefghijklmnopqrstuvwxyz@[\\]^_"


def parse_detach_keys(text: str) -> str:
    """Podman's ``--detach-keys``: comma-separated ``ctrl-X`` or single characters; "" disables it."""
    if text == "":
        return ""
    for key in text.split(","):
        if len(key) == 1:
            continue
        if key.lower().startswith("ctrl-") and len(key) == 6 and key[5].lower() in _CTRL_KEYS:
            continue
        raise UsageError(f"invalid detach keys: Unknown character: {key!r}")
    return text


def detach_key_bytes(keys: str) -> bytes:
    """The byte sequence a terminal sends for validated ``keys`` (``ctrl-p,ctrl-q`` -> b"\\x10\\x11")."""
    out = bytearray()
    for key in keys.split(",") if keys else []:
        if len(key) == 1:
            out.append(ord(key))
        else:
            c = key[5].lower()
            out.append(ord(c) - ord("a") + 1 if c.isalpha() else ord(c) - 64)
    return bytes(out)


def parse_userns(text: str) -> str:
    """``--userns``: "" and host (Podman's rootless default), keep-id[:uid=N,gid=N], nomap."""
    mode, colon, opts = text.partition(":")
    if mode in ("", "host") and not colon:
        return "host"
    if mode == "nomap" and not colon:
        return "nomap"
    if mode == "keep-id":
        seen: dict[str, int] = {}
        for item in opts.split(",") if opts else []:
            key, _, value = item.partition("=")
            if key not in ("uid", "gid"):
                raise UsageError(f'unknown option specified: "{key}"')
            if not value.isdigit():
                raise UsageError(f'strconv.ParseUint: parsing "{value}": invalid syntax')
            seen[key] = int(value)
        return "keep-id" + (":" + ",".join(f"{k}={v}" for k, v in seen.items()) if seen else "")
    if mode in ("auto", "private", "ns", "container"):
        raise UsageError(f"--userns={text} is not supported yet by podpy: use host, keep-id or nomap")
    raise UsageError(f"unrecognized namespace mode {text} passed")


# the sysctls a container may set (namespaced), as Podman allows them: exact names and prefixes
_SYSCTLS_IPC = ("kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax",
                "kernel.shmmni", "kernel.shm_rmid_forced")  # fmt: skip


def parse_sysctls(items: tuple[str, ...] | list[str]) -> dict[str, str]:
    """``--sysctl KEY=VALUE``: only what a container's own namespaces hold (ipc, mqueue, net)."""
    out: dict[str, str] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise UsageError(f"{item} is invalid, sysctl values must be in the form of KEY=VALUE")
        if not (key in _SYSCTLS_IPC or key.startswith(("fs.mqueue.", "net."))):
            raise UsageError(f"sysctl '{key}' is not allowed")
        out[key] = value
    return out


def parse_umask(text: str) -> int:
    """``--umask 0022``: octal, at most 0777."""
    try:
        value = int(text, 8)
    except ValueError:
        value = -1
    if not 0 <= value <= 0o777 or len(text) > 4:
        raise UsageError(f"invalid umask string {text}: use an octal mask such as 0022")
    return value


_SECRET_KEYS = ("source", "type", "target", "uid", "gid", "mode")


def parse_secret(text: str) -> dict[str, Any]:
    """``--secret NAME[,type=mount|env][,target=T][,uid=N][,gid=N][,mode=0NNN]`` (or ``source=NAME,…``)
    as Podman takes it; uid/gid/mode only with ``type=mount``."""
    out: dict[str, Any] = {"type": "mount"}
    for i, part in enumerate(text.split(",")):
        key, eq, value = part.partition("=")
        if not eq and i == 0:
            key, value = "source", part
        if key not in _SECRET_KEYS or not value:
            raise UsageError(f"invalid --secret {text!r}: use NAME[,type=mount|env][,target=…][,uid=…][,gid=…][,mode=…]")
        if key in ("uid", "gid", "mode"):
            try:
                out[key] = int(value, 8) if key == "mode" else int(value)
            except ValueError:
                raise UsageError(f"invalid --secret {text!r}: {key} must be {'an octal' if key == 'mode' else 'a'} number") from None
            if out[key] < 0 or (key == "mode" and out[key] > 0o777):
                raise UsageError(f"invalid --secret {text!r}: {key} {value} is out of range")
        else:
            out[key] = value
    if "source" not in out:
        raise UsageError(f"invalid --secret {text!r}: the secret's name is missing")
    if out["type"] not in ("mount", "env"):
        raise UsageError(f'invalid --secret {text!r}: type must be "mount" or "env"')
    if out["type"] == "env" and any(k in out for k in ("uid", "gid", "mode")):
        raise UsageError(f"invalid --secret {text!r}: uid, gid and mode go with type=mount only")
    return out


def parse_ulimit(text: str) -> Ulimit:
    """``nofile=1024:2048`` or ``nofile=1024``; -1 means unlimited."""
    name, eq, values = text.partition("=")
    if not eq or name not in ULIMIT_NAMES:
        raise UsageError(
            f"invalid ulimit {text!r}: use NAME=SOFT[:HARD] with NAME one of {', '.join(ULIMIT_NAMES)}"
        )
    soft_s, colon, hard_s = values.partition(":")
    try:
        soft = int(soft_s)
        hard = int(hard_s) if colon else soft
    except ValueError:
        raise UsageError(f"invalid ulimit {text!r}: limits must be integers") from None
    unlimited = 2**64 - 1
    soft = unlimited if soft == -1 else soft
    hard = unlimited if hard == -1 else hard
    if soft < 0 or hard < 0:
        raise UsageError(f"invalid ulimit {text!r}: limits must be >= 0 or -1")
    if soft > hard:
        raise UsageError(f"ulimit error: soft limit {soft} must not exceed hard limit {hard}")
    return Ulimit(ULIMIT_NAMES[name], soft, hard)


def _clean_dest(dest: str, what: str) -> str:
    if not dest.startswith("/"):
        raise UsageError(f"invalid container path {dest!r} in {what}: must be an absolute path")
    return posixpath.normpath(dest).replace("//", "/")


def parse_volume(text: str) -> Mount:
    """``-v SRC:DEST[:OPTS]`` for host directories (named volumes arrive with the volume issue)."""
    parts = text.split(":")
    if len(parts) == 1 and text.startswith("/"):  # -v /path: an anonymous volume
        return parse_named_volume(text, "", text, "")
    if len(parts) < 2 or len(parts) > 3:
        raise UsageError(f"invalid volume {text!r}: use SOURCE:DESTINATION[:OPTIONS]")
    src, dest = parts[0], parts[1]
    if not src.startswith("/"):
        if src.startswith(".") or "/" in src:
            raise UsageError(
                f"invalid volume {text!r}: relative host paths are not allowed; use an absolute path"
            )
        return parse_named_volume(text, src, dest, parts[2] if len(parts) == 3 else "")
    opts: list[str] = []
    flags: list[str] = []  # U, O, upperdir=, workdir=: podpy's own, not mount options
    for o in parts[2].split(",") if len(parts) == 3 and parts[2] else []:
        if o in ("ro", "rw"):
            opts.append(o)
        elif o in ("z", "Z"):
            continue  # SELinux relabel: a no-op without SELinux
        elif o in ("U", "O") or o.startswith(("upperdir=", "workdir=")):
            flags.append(o)
        elif o in (
            "private",
            "rprivate",
            "shared",
            "rshared",
            "slave",
            "rslave",
            "nosuid",
            "nodev",
            "noexec",
        ):
            opts.append(o)
        else:
            raise UsageError(f"invalid volume option {o!r} in {text!r}")
    if "ro" in opts and "rw" in opts:
        raise UsageError(f"invalid volume {text!r}: ro and rw both given")
    if flags:
        return _volume_flags(text, src, dest, opts, flags)
    if not any(o.endswith(("private", "shared", "slave")) for o in opts):
        opts.append("rprivate")
    opts.append("rbind")
    return Mount("bind", _clean_dest(dest, text), posixpath.normpath(src), tuple(opts))


def _volume_flags(text: str, src: str, dest: str, opts: list[str], flags: list[str]) -> Mount:
    """``U`` (chown the source to the container user) and ``O`` (overlay, ``upperdir=``/``workdir=``)
    with Podman's rules: one O, nothing but U and the two dirs beside it, both dirs or none."""
    kv = dict(f.split("=", 1) for f in flags if "=" in f)
    overlay = flags.count("O")
    if overlay > 1:
        raise UsageError(f"invalid options \"{', '.join(flags)}\", can only specify 1 'z', 'Z', or 'O' option")
    if kv and not overlay:
        raise UsageError(f"invalid volume {text!r}: upperdir and workdir need the O option")
    if overlay and opts:
        raise UsageError("can't use 'O' with other options")
    if bool(kv.get("upperdir")) != bool(kv.get("workdir")):
        raise UsageError("must set both `upperdir` and `workdir`")
    for d in (src, kv.get("upperdir", ""), kv.get("workdir", "")):
        if overlay and ("," in d or ":" in d):
            raise UsageError(f"invalid volume {text!r}: overlay paths cannot contain ',' or ':'")
    for key in ("upperdir", "workdir"):
        if kv.get(key) and not kv[key].startswith("/"):
            raise UsageError(f"invalid volume {text!r}: {key} must be an absolute path")
    if not overlay:
        opts = opts + ([] if any(o.endswith(("private", "shared", "slave")) for o in opts) else ["rprivate"])
        opts.append("rbind")
    return Mount("bind", _clean_dest(dest, text), posixpath.normpath(src), tuple(opts), chown="U" in flags,
                 overlay=bool(overlay), upperdir=posixpath.normpath(kv["upperdir"]) if kv.get("upperdir") else "",
                 workdir=posixpath.normpath(kv["workdir"]) if kv.get("workdir") else "")  # fmt: skip


VOLUME_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
_PROPAGATIONS = ("private", "rprivate", "shared", "rshared", "slave", "rslave")


def check_volume_name(name: str) -> str:
    if not VOLUME_NAME.match(name):
        raise UsageError("running volume create option: names must match [a-zA-Z0-9][a-zA-Z0-9_.-]*: invalid argument")
    return name


def parse_named_volume(text: str, name: str, dest: str, opts_text: str, *, nocopy: bool = False) -> Mount:
    """``-v NAME:DST[:OPTS]`` / ``-v DST`` (anonymous, ``name`` ""): a type "volume" mount whose OCI
    options are Podman's (``rw,rprivate,nosuid,nodev,rbind``); the engine creates and resolves it."""
    if name:
        check_volume_name(name)
    modes: list[str] = []
    copy: list[str] = []
    flags: list[str] = []
    prop = "rprivate"
    chown = False
    for o in opts_text.split(",") if opts_text else []:
        if o in ("ro", "rw"):
            modes.append(o)
        elif o in ("z", "Z"):
            continue  # SELinux relabel: a no-op without SELinux
        elif o == "U":
            chown = True
        elif o in ("copy", "nocopy"):
            copy.append(o)
        elif o in _PROPAGATIONS:
            prop = o
        elif o in ("nosuid", "nodev", "noexec", "suid", "dev", "exec"):
            flags.append(o)
        elif o == "O" or o.startswith(("upperdir=", "workdir=")):
            raise UsageError(f"invalid volume {text!r}: O (overlay) is not supported by podpy on a named volume")
        else:
            raise UsageError(f"invalid volume option {o!r} in {text!r}")
    if len(copy) > 1:
        raise UsageError(f"invalid options \"{', '.join(copy)}\", can only specify 1 'copy' or 'nocopy' option")
    if len(set(modes)) > 1:
        raise UsageError(f"invalid volume {text!r}: ro and rw both given")
    opts = [modes[0] if modes else "rw", prop]
    opts += [] if "suid" in flags else ["nosuid"]
    opts += [] if "dev" in flags else ["nodev"]
    opts += [f for f in flags if f in ("noexec", "exec")] + ["rbind"]
    return Mount("volume", _clean_dest(dest, text), name, tuple(opts), chown=chown,
                 nocopy=nocopy or copy == ["nocopy"])  # fmt: skip


def parse_tmpfs(text: str) -> Mount:
    """``--tmpfs DEST[:OPTS]`` with Podman's default options."""
    dest, _, opts = text.partition(":")
    options = [
        "rw",
        "rprivate",
        "nosuid",
        "nodev",
        "tmpcopyup",
    ]  # Podman's defaults; given ones follow (and win)
    options += [o for o in opts.split(",") if o]
    return Mount("tmpfs", _clean_dest(dest, text), "tmpfs", tuple(options))


def parse_mount(text: str) -> Mount:
    """``--mount type=bind|tmpfs,source=...,destination=...[,ro]``."""
    kv: dict[str, str] = {}
    flags: list[str] = []
    for part in text.split(","):
        k, eq, v = part.partition("=")
        if eq:
            kv[k.strip()] = v
        elif part:
            flags.append(part.strip())
    mtype = kv.pop("type", "")
    dest = kv.pop("destination", None) or kv.pop("dst", None) or kv.pop("target", None)
    src = kv.pop("source", None) or kv.pop("src", None)
    if not dest:
        raise UsageError(f"invalid mount {text!r}: destination is required")
    ro = "ro" in flags or "readonly" in flags or kv.pop("readonly", kv.pop("ro", "false")) == "true"
    flags = [f for f in flags if f not in ("ro", "readonly", "rw", "z", "Z")]
    if mtype == "bind":
        if not src or not src.startswith("/"):
            raise UsageError(f"invalid mount {text!r}: bind source must be an absolute host path")
        if flags or kv:
            raise UsageError(f"invalid mount {text!r}: unsupported option(s) {', '.join(flags + list(kv))}")
        return Mount(
            "bind",
            _clean_dest(dest, text),
            posixpath.normpath(src),
            ("ro" if ro else "rw", "rprivate", "rbind"),
        )
    if mtype == "tmpfs":
        opts = ["rw" if not ro else "ro", "rprivate", "nosuid", "nodev"]  # as Podman 4.3
        if "tmpfs-size" in kv:
            opts.append(f"size={kv.pop('tmpfs-size')}")
        if "tmpfs-mode" in kv:
            opts.append(f"mode={kv.pop('tmpfs-mode')}")
        if flags or kv:
            raise UsageError(f"invalid mount {text!r}: unsupported option(s) {', '.join(flags + list(kv))}")
        return Mount("tmpfs", _clean_dest(dest, text), "tmpfs", tuple(opts))
    if mtype == "volume":
        nocopy = "volume-nocopy" in flags or kv.pop("volume-nocopy", "false") == "true"
        chown = "U" in flags or kv.pop("U", kv.pop("chown", "false")) == "true"
        flags = [f for f in flags if f not in ("volume-nocopy", "U")]
        if flags or kv:
            raise UsageError(f"invalid mount {text!r}: unsupported option(s) {', '.join(flags + list(kv))}")
        return parse_named_volume(text, src or "", dest, ",".join(["ro" if ro else "rw"] + (["U"] if chown else [])),
                                  nocopy=nocopy)  # fmt: skip
    raise UsageError(
        f"invalid mount {text!r}: type must be bind, tmpfs or volume (image, devpts not supported yet)"
    )


# --- the monitor's options: --log-driver/--log-opt, --restart, --health-*, --sdnotify -------------

LOG_DRIVERS = ("k8s-file", "json-file", "none", "passthrough")
RESTART_POLICIES = ("", "no", "on-failure", "always", "unless-stopped")
HEALTH_ON_FAILURE = ("none", "kill", "restart", "stop")
SDNOTIFY_MODES = ("container", "conmon", "ignore")
_GO_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9,
             "h": 3600 * 10**9}  # fmt: skip
_DECIMAL = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "p": 10**15}


def parse_go_duration(text: str) -> int:
    """Go's ``time.ParseDuration`` (``1m30s``, ``500ms``, ``-1s``, ``0``) in nanoseconds, with Go's errors."""
    s = text
    sign = -1 if s.startswith("-") else 1
    s = s.lstrip("+-") if s[:1] in "+-" else s
    if s == "0":
        return 0
    if not s:
        raise UsageError(f'time: invalid duration "{text}"')
    total = 0.0
    pos = 0
    for m in re.finditer(r"(\d*\.?\d*)([a-zµμ]*)", s):
        if m.start() != pos or not m.group(0):
            break
        num, unit = m.groups()
        if num in ("", "."):
            raise UsageError(f'time: invalid duration "{text}"')
        if not unit:
            raise UsageError(f'time: missing unit in duration "{text}"')
        if unit not in _GO_UNITS:
            raise UsageError(f'time: unknown unit "{unit}" in duration "{text}"')
        total += float(num) * _GO_UNITS[unit]
        pos = m.end()
    if pos != len(s):
        raise UsageError(f'time: invalid duration "{text}"')
    return sign * int(total)


def parse_go_size(text: str) -> int:
    """docker/go-units ``FromHumanSize`` (decimal: ``10k`` = 10000 bytes), as ``--log-opt max-size``."""
    m = re.fullmatch(r"(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?", text)
    if not m:
        raise UsageError(f"invalid size: '{text}'")
    return int(float(m.group(1)) * _DECIMAL[(m.group(2) or "").lower()])


def go_human_size(size: float) -> str:
    """docker/go-units ``HumanSize`` (``10kB``, ``123.5MB``, ``0B``): LogConfig.Size in inspect."""
    units = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"]
    i = 0
    size = float(size)
    while size >= 1000.0 and i < len(units) - 1:
        size /= 1000.0
        i += 1
    return f"{size:.4g}{units[i]}"


def parse_log_driver(text: str) -> str:
    if text not in LOG_DRIVERS:
        raise UsageError("running container create option: invalid log driver: invalid argument")
    return text


def parse_log_opts(items: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """``--log-opt max-size=10m``, ``path=/x.log``, ``driver=…`` as Podman splits them.

    Podman keeps other keys (``tag=``) for journald, which podpy has not: refused rather than ignored."""
    out: dict[str, Any] = {}
    for o in items:
        key, eq, val = o.partition("=")
        if not eq:
            raise UsageError(f"invalid log option {o!r}".replace("'", '"'))
        k = key.lower()
        if k == "max-size":
            out["max_size"] = parse_go_size(val)
        elif k == "path":
            if not val.startswith("/"):
                raise UsageError(f"--log-opt path={val}: the log path must be absolute")
            out["path"] = posixpath.normpath(val)
        elif k == "driver":
            out["driver"] = parse_log_driver(val)
        elif not val:
            raise UsageError("invalid log option: invalid argument")
        else:
            raise UsageError(
                f"--log-opt {key}: unsupported log option (podpy has no journald for tags): use max-size or path"
            )
    return out


def parse_restart(text: str) -> tuple[str, int]:
    """``--restart no|on-failure[:N]|always|unless-stopped`` -> (policy, max retries), Podman's errors."""
    parts = text.split(":")
    retries = 0
    if len(parts) == 2:
        if parts[0].lower() != "on-failure":
            raise UsageError("restart policy retries can only be specified with on-failure restart policy")
        if not re.fullmatch(r"[+-]?\d+", parts[1]):
            raise UsageError(f'parsing restart policy retry count: strconv.Atoi: parsing "{parts[1]}": invalid syntax')
        retries = int(parts[1])
        if retries < 0:
            raise UsageError("must specify restart policy retry count as a number greater than 0")
    elif len(parts) > 2:
        raise UsageError("invalid restart policy: may specify retries at most once")
    if parts[0] not in RESTART_POLICIES:
        raise UsageError(f'running container create option: "{parts[0]}" is not a valid restart policy: invalid argument')
    return parts[0], retries


def _hc_duration(text: str, what: str) -> int:
    """A ``--health-*`` duration in ns, with Podman's "invalid healthcheck-WHAT" message."""
    try:
        return parse_go_duration(text)
    except UsageError as e:
        raise UsageError(f"invalid healthcheck-{what}: {e.message}") from None


def make_healthcheck(cmd: str, interval: str = "30s", retries: int = 3, timeout: str = "30s",
                     start_period: str = "0s") -> dict[str, Any]:  # fmt: skip
    """``--health-cmd`` and friends -> Podman's ``Schema2HealthConfig`` (durations in ns).

    A string becomes ``["CMD-SHELL", cmd]``; a JSON array ``["CMD", …]``/``["CMD-SHELL", "…"]`` is
    kept, another array gets ``CMD`` in front; ``none`` disables the image's check (``["NONE"]``)."""
    import json

    test: list[str]
    try:
        arr = json.loads(cmd)
    except ValueError:
        arr = None
    if isinstance(arr, list) and arr and all(isinstance(x, str) for x in arr):
        if arr[0] in ("CMD", "CMD-SHELL", "NONE"):
            test = arr
        else:  # as Podman: several words run as they are, a single one through the shell
            test = ["CMD", *arr] if len(arr) > 1 else ["CMD-SHELL", arr[0]]
    elif cmd.split(" ", 1)[0] in ("CMD", "none"):
        test = cmd.split()
    elif cmd.startswith("CMD-SHELL "):
        test = ["CMD-SHELL", cmd[len("CMD-SHELL ") :]]
    else:
        test = ["CMD-SHELL", cmd]
    if test[0] == "none":
        test = ["NONE"]
    if not test or (test[0] in ("CMD", "CMD-SHELL") and len(test) < 2):
        raise UsageError("must define a healthcheck command for all healthchecks")
    hc: dict[str, Any] = {"Test": test}
    hc["Interval"] = _hc_duration("0" if interval == "disable" else interval, "interval")
    if retries < 1:
        raise UsageError("healthcheck-retries must be greater than 0")
    hc["Retries"] = int(retries)
    hc["Timeout"] = _hc_duration(timeout, "timeout")
    if hc["Timeout"] < 1:
        raise UsageError("healthcheck-timeout must be at least 1 second")
    hc["StartPeriod"] = _hc_duration(start_period, "start-period")
    if hc["StartPeriod"] < 0:
        raise UsageError("healthcheck-start-period must be 0 seconds or greater")
    return hc


def has_healthcheck(hc: dict[str, Any] | None) -> bool:
    test = list((hc or {}).get("Test") or [])
    return bool(test) and test[0] not in ("NONE", "") and not (test[0] in ("CMD", "CMD-SHELL") and len(test) < 2)


def validate_monitor_options(spec: ContainerSpec) -> None:
    """The combinations Podman refuses, in its words."""
    parse_log_driver(spec.log_driver)
    if spec.restart_policy not in RESTART_POLICIES:
        raise UsageError(f'"{spec.restart_policy}" is not a valid restart policy: invalid argument')
    if spec.remove and spec.restart_policy not in ("", "no"):
        raise UsageError('the --rm option conflicts with --restart, when the restartPolicy is not "" and "no"')
    if spec.health_on_failure not in HEALTH_ON_FAILURE:
        raise UsageError(
            f'invalid on-failure action "{spec.health_on_failure}" for health check: '
            "supported actions are none,kill,restart,stop"
        )
    if spec.sdnotify not in SDNOTIFY_MODES:
        raise UsageError(
            f'invalid config provided: invalid argument: invalid sdnotify value "{spec.sdnotify}": '
            "must be container, conmon or ignore"
        )
