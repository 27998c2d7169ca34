"""What the user asked for a container, as validated data (Podman's ``specgen`` in spirit).

The CLI turns flags into a :class:`ContainerSpec` with the ``parse_*`` helpers below, which raise
:class:`UsageError` with Podman-like messages; the runtime turns the spec plus the image config
into an OCI ``config.json``. Nothing here does I/O.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field

from podpy.util.capabilities import CAPABILITIES
from podpy.util.errors import UsageError

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

NETWORK_MODES = ("private", "none", "host")
USERNS_MODES = (
    "host",
    "keep-id",
    "nomap",
)  # "host" (also ""): container root is the user, Podman's rootless default
_ENV_NAME = re.compile(r"^[^=\x00]+$")
_HOSTNAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})?$")


@dataclass(frozen=True)
class Mount:
    """A bind or tmpfs mount requested with -v, --mount or --tmpfs."""

    type: str  # "bind" | "tmpfs"
    destination: str
    source: str = ""
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class Ulimit:
    type: str  # OCI name, e.g. RLIMIT_NOFILE
    soft: int
    hard: int


@dataclass
class ContainerSpec:
    """A container as the user described it; image defaults are applied later by the runtime."""

    image: str
    command: list[str] | None = None  # None: the image's Cmd
    entrypoint: list[str] | None = None  # None: the image's Entrypoint; [] clears it
    env: dict[str, str] = field(default_factory=dict)
    workdir: str | None = None
    user: str | None = None
    group_add: list[str] = field(default_factory=list)
    hostname: str | None = None
    name: str | None = None
    read_only: bool = False
    read_only_tmpfs: bool = True
    mounts: list[Mount] = field(default_factory=list)
    cap_add: list[str] = field(default_factory=list)
    cap_drop: list[str] = field(default_factory=list)
    no_new_privileges: bool = False
    privileged: bool = False
    seccomp: str | None = None  # None: default profile; "unconfined"; or a profile path
    ulimits: list[Ulimit] = field(default_factory=list)
    terminal: bool = False
    network: str = "private"
    remove: bool = False
    preserve_fds: int = 0
    interactive: bool = False  # keep stdin; otherwise the container reads /dev/null, as in Podman
    init_path: str | None = None  # --init: host path of the init bound in at /run/podman-init
    shm_size: int | None = None  # bytes; None: Podman's 64 MiB
    labels: dict[str, str] = field(default_factory=dict)
    sig_proxy: bool = True
    annotations: dict[str, str] = field(default_factory=dict)
    stop_signal: int | None = None  # None: the image's StopSignal, else SIGTERM
    detach_keys: str | None = None  # validated Podman spelling (ctrl-p,ctrl-q); "" disables detaching
    userns: str = "host"  # one of USERNS_MODES

    def validate(self) -> ContainerSpec:
        """Check the combination of fields; returns self so calls chain."""
        if self.network not in NETWORK_MODES:
            raise UsageError(
                f"unsupported network mode {self.network!r}: use one of {', '.join(NETWORK_MODES)}"
            )
        if self.hostname is not None and not _HOSTNAME.match(self.hostname):
            raise UsageError(f"invalid hostname {self.hostname!r}")
        if self.workdir is not None and not self.workdir.startswith("/"):
            raise UsageError(f"workdir {self.workdir!r} must be an absolute path")
        if self.userns not in USERNS_MODES:
            raise UsageError(f"unrecognized namespace mode {self.userns} passed")
        if self.preserve_fds < 0:
            raise UsageError("--preserve-fds must be 0 or more")
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
    """``--userns``: "" and host (Podman's rootless default), keep-id, nomap; others refused clearly."""
    mode, _, opts = text.partition(":")
    if mode in ("", "host"):
        return "host"
    if mode in ("keep-id", "nomap"):
        # The runtime can build the nested namespace (runtime.spec.userns_mappings), but the image's
        # files would then show the wrong owners without an id-shifted rootfs (idmapped mounts).
        raise UsageError(
            f"--userns={text} is not supported yet by podpy: it needs an id-shifted rootfs; use --userns=host"
        )
    if mode in ("auto", "private", "ns", "container"):
        raise UsageError(f"--userns={text} is not supported yet by podpy: use host, keep-id or nomap")
    raise UsageError(f"unrecognized namespace mode {text} passed")


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
    if len(parts) < 2 or len(parts) > 3:
        raise UsageError(f"invalid volume {text!r}: use SOURCE:DESTINATION[:OPTIONS]")
    src, dest = parts[0], parts[1]
    if not src.startswith("/"):
        if src.startswith(".") or "/" in src:
            raise UsageError(
                f"invalid volume {text!r}: relative host paths are not allowed; use an absolute path"
            )
        raise UsageError(
            f"named volume {src!r}: named volumes are not supported yet; use an absolute host path"
        )
    opts: list[str] = []
    for o in parts[2].split(",") if len(parts) == 3 and parts[2] else []:
        if o in ("ro", "rw"):
            opts.append(o)
        elif o in ("z", "Z"):
            continue  # SELinux relabel: a no-op without SELinux
        elif o in ("U", "O"):
            raise UsageError(
                f"volume option {o} ({'chown to the container user' if o == 'U' else 'overlay'}) "
                "is not supported yet by podpy"
            )
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
    if not any(o.endswith(("private", "shared", "slave")) for o in opts):
        opts.append("rprivate")
    opts.append("rbind")
    return Mount("bind", _clean_dest(dest, text), posixpath.normpath(src), tuple(opts))


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
    raise UsageError(
        f"invalid mount {text!r}: type must be bind or tmpfs (volume, image, devpts not supported yet)"
    )
