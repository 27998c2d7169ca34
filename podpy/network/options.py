"""``--network``, ``-p``, ``--dns``, ``--add-host`` as Podman 4.3 parses them — pure, no I/O.

The CLI calls these so bad input fails before anything is created, with Podman's wording. A network
mode is kept in the spec as the text the user gave, normalised (``private`` is resolved later from
containers.conf: slirp4netns, or pasta with ``default_rootless_network_cmd``).
"""

from __future__ import annotations

from podpy.util.errors import UsageError

# the modes podpy knows; "bridge": user-defined networks (podpy.network.bridge, the rootless netns)
MODES = ("private", "none", "host", "slirp4netns", "pasta", "ns", "container", "bridge")
HELPER_MODES = ("slirp4netns", "pasta")  # modes with a network namespace of their own and a helper
SLIRP_OPTIONS = ("allow_host_loopback", "cidr", "enable_ipv6", "mtu", "outbound_addr", "outbound_addr6",
                 "port_handler")  # fmt: skip
PROTOCOLS = ("tcp", "udp")
PORT_HANDLERS = ("rootlesskit", "slirp4netns")  # Podman's names; rootlesskit is the default


class NetworkMode:
    """A parsed ``--network`` value: ``kind`` is one of MODES; ``value`` the path/container for ns:/container:.
    (A plain class: a frozen dataclass costs 2 ms to define, on the ``--network none`` fast path.)"""

    __slots__ = ("kind", "value", "slirp", "pasta")

    def __init__(self, kind: str, value: str = "", slirp: dict[str, str] | None = None,
                 pasta: tuple[str, ...] = ()) -> None:  # fmt: skip
        self.kind = kind
        self.value = value
        self.slirp: dict[str, str] = slirp or {}  # slirp4netns:KEY=VALUE,...
        self.pasta = pasta  # pasta:ARG,ARG,... (passed to pasta as they are)

    @property
    def has_helper(self) -> bool:
        return self.kind in HELPER_MODES


def _bool(key: str, v: str) -> str:
    if v not in ("true", "false"):
        raise UsageError(f'invalid value of {key} for slirp4netns: "{v}"')
    return v


def parse_slirp_options(text: str) -> dict[str, str]:
    """``allow_host_loopback=true,mtu=1500,...`` with Podman's checks and messages."""
    if not text:
        return {}
    import ipaddress  # 2 ms: only when there is something to check

    out: dict[str, str] = {}
    for item in text.split(",") if text else []:
        key, eq, v = item.partition("=")
        if key not in SLIRP_OPTIONS or not eq:
            raise UsageError(f'unknown option for slirp4netns: "{item}"')
        if key in ("allow_host_loopback", "enable_ipv6"):
            _bool(key, v)
        elif key == "mtu":
            if not v.isdigit() or not 0 < int(v) <= 65521:
                raise UsageError(f'invalid mtu "{v}"')
        elif key == "cidr":
            try:
                net = ipaddress.IPv4Network(v, strict=False)
            except ValueError:
                raise UsageError(f'invalid cidr "{v}"') from None
            if net.prefixlen > 25:
                raise UsageError(f'invalid cidr "{v}": the network must hold at least 128 addresses')
        elif key in ("outbound_addr", "outbound_addr6"):
            try:
                ip = ipaddress.ip_address(v)
            except ValueError:
                raise UsageError(f'{key}: "{v}" is not an IP address (interface names are not supported)') from None
            if (ip.version == 6) != (key == "outbound_addr6"):
                raise UsageError(f'{key}: "{v}" is not an IPv{"6" if key.endswith("6") else "4"} address')
        elif key == "port_handler" and v not in PORT_HANDLERS:  # rootlesskit: podpy.network.portfwd
            raise UsageError(f'unknown port_handler for slirp4netns: "{v}"')
        out[key] = v
    return out


def parse_network(text: str) -> NetworkMode:
    """``--network`` as Podman spells it; refuses what podpy cannot do yet, saying so."""
    kind, colon, rest = text.partition(":")
    if kind in ("private", "none", "host", "") and not colon:
        return NetworkMode(kind or "private")
    if kind == "slirp4netns":
        return NetworkMode(kind, slirp=parse_slirp_options(rest))
    if kind == "pasta":
        return NetworkMode(kind, pasta=tuple(a for a in rest.split(",") if a) if rest else ())
    if kind == "ns":
        if not rest.startswith("/"):
            raise UsageError(f"invalid --network {text}: ns: needs an absolute path to a network namespace")
        return NetworkMode(kind, value=rest)
    if kind == "container":
        if not rest:
            raise UsageError(f"invalid --network {text}: container: needs a container name or ID")
        return NetworkMode(kind, value=rest)
    from podpy.network.netopts import bridge_mode

    return bridge_mode(text)  # "bridge" (the default network) or NAME[:OPTS][,NAME…]


# --- published ports -------------------------------------------------------------------------------


def _port_number(text: str, what: str) -> int:
    if not text.isdigit():
        raise UsageError(f'parsing {what}: invalid port number: strconv.Atoi: parsing "{text}": invalid syntax')
    n = int(text)
    if not 1 <= n <= 65535:
        raise UsageError(f"parsing {what}: port numbers must be between 1 and 65535 (inclusive), got {n}")
    return n


def _port_range(text: str, what: str) -> tuple[int, int]:
    """``8080`` or ``8080-8090`` -> (first, count)."""
    first, dash, last = text.partition("-")
    a = _port_number(first, what)
    if not dash:
        return a, 1
    b = _port_number(last, what)
    if b < a:
        raise UsageError(f"parsing {what}: invalid port range {text}: the end is lower than the start")
    return a, b - a + 1


def parse_publish(text: str) -> list[dict[str, object]]:
    """``-p [[IP:][HOSTPORT]:]CTRPORT[-END][/PROTO[,PROTO]]`` -> one entry per protocol and range:
    {"host_ip", "host_port" (0 = pick a free port), "container_port", "range", "protocol"}."""
    import ipaddress  # 2 ms: only when there is something to check

    spec, slash, protos = text.partition("/")
    protocols = protos.split(",") if slash else ["tcp"]
    for p in protocols:
        if p == "sctp":
            raise UsageError(f"-p {text}: sctp ports cannot be published rootless (slirp4netns and pasta forward tcp and udp)")
        if p not in PROTOCOLS:
            raise UsageError(f'unrecognized protocol "{p}" in port mapping')
    host_ip = ""
    if spec.startswith("["):  # [IPv6]:HOST:CTR
        end = spec.find("]")
        if end < 0 or spec[end + 1 : end + 2] != ":":
            raise UsageError("invalid port format - format is [[hostIP:]hostPort:]containerPort")
        host_ip, spec = spec[1:end], spec[end + 2 :]
        parts = spec.split(":")
        if len(parts) == 1:
            parts = ["", parts[0]]
        parts = [host_ip, *parts]
    else:
        parts = spec.split(":")
    if len(parts) > 3 or not parts[-1]:
        raise UsageError("invalid port format - format is [[hostIP:]hostPort:]containerPort")
    if len(parts) == 3:
        host_ip = parts[0]
        if host_ip:
            try:
                host_ip = str(ipaddress.ip_address(host_ip))
            except ValueError:
                raise UsageError(f'cannot parse "{host_ip}" as an IP address') from None
    ctr, count = _port_range(parts[-1], "container port")
    host, hcount = (0, count)
    if len(parts) >= 2 and parts[-2]:
        host, hcount = _port_range(parts[-2], "host port")
        if hcount == 1 and count > 1:
            hcount = count  # HOST:CTR-END: the host range starts at HOST
            if host + count - 1 > 65535:
                raise UsageError(f"parsing host port: port numbers must be between 1 and 65535 (inclusive), got {host + count - 1}")
    if hcount != count:
        raise UsageError(f"host and container port ranges have different lengths: {hcount} vs {count}")
    return [{"host_ip": host_ip, "host_port": host, "container_port": ctr, "range": count, "protocol": p}
            for p in protocols]  # fmt: skip


def expand_ports(mappings: list[dict[str, object]]) -> list[dict[str, object]]:
    """One record per port (what ``podpy port`` and inspect list), ranges unrolled; duplicates refused."""
    out: list[dict[str, object]] = []
    taken: dict[tuple[int, object], list[object]] = {}  # (host port, protocol) -> host IPs
    for m in mappings:
        for i in range(int(m["range"])):  # type: ignore[call-overload]
            hp = int(m["host_port"]) + i if m["host_port"] else 0  # type: ignore[call-overload]
            entry = {"container_port": int(m["container_port"]) + i, "host_port": hp,  # type: ignore[call-overload]
                     "protocol": m["protocol"], "host_ip": m["host_ip"]}  # fmt: skip
            if hp:
                ips = taken.setdefault((hp, m["protocol"]), [])
                if any(ip in ("", m["host_ip"]) for ip in ips) or (ips and m["host_ip"] == ""):
                    raise UsageError(f"host port {hp}/{m['protocol']} is published twice: "
                                     "a host port can forward to one container port only")  # fmt: skip
                ips.append(m["host_ip"])
            out.append(entry)
    return out


def parse_expose(items: list[str] | tuple[str, ...]) -> dict[str, dict[str, str]]:
    """``--expose PORT[-PORT][/PROTO]``: ExposedPorts keys (``8080/tcp``), which ``-P`` publishes."""
    out: dict[str, dict[str, str]] = {}
    for item in items:
        spec, _, proto = item.partition("/")
        first, dash, last = spec.partition("-")
        nums = [first, last] if dash else [first]
        if not all(n.isdigit() and 0 < int(n) <= 65535 for n in nums) or proto not in ("", *PROTOCOLS) or (
            dash and int(last) < int(first)
        ):
            raise UsageError(f"invalid range format for --expose: {item}: use PORT[-PORT][/tcp|/udp]")
        for port in range(int(first), int(last if dash else first) + 1):
            out[f"{port}/{proto or 'tcp'}"] = {}
    return out


def exposed_ports(image_config: dict[str, object]) -> list[dict[str, object]]:
    """``-P``: the image's ExposedPorts (``80/tcp``), each to a free host port."""
    out: list[dict[str, object]] = []
    for key in sorted((image_config.get("ExposedPorts") or {}), key=str):  # type: ignore[arg-type]
        port, _, proto = str(key).partition("/")
        with_range = parse_publish(f"{port}/{proto or 'tcp'}") if proto in ("", *PROTOCOLS) else []
        out += with_range
    return out


# --- DNS and /etc/hosts flags ------------------------------------------------------------------------


def parse_dns(servers: list[str] | tuple[str, ...]) -> list[str]:
    if not servers:
        return []
    import ipaddress  # 2 ms: only when there is something to check

    out = []
    for s in servers:
        try:
            out.append(str(ipaddress.ip_address(s)))
        except ValueError:
            raise UsageError(f"{s} is not an ip address") from None
    return out


def parse_add_host(items: list[str] | tuple[str, ...]) -> list[tuple[str, str]]:
    """``--add-host NAME:IP`` (IPv6 allowed: only the first ``:`` splits) -> [(name, ip)]."""
    if not items:
        return []
    import ipaddress  # 2 ms: only when there is something to check

    out = []
    for val in items:
        name, colon, ip = val.partition(":")
        if not colon or not name:
            raise UsageError(f'bad format for add-host: "{val}"')
        try:
            ip = str(ipaddress.ip_address(ip.strip("[]")))
        except ValueError:
            raise UsageError(f'invalid IP address in add-host: "{ip}"') from None
        out.append((name, ip))
    return out
