"""User-defined network configs as Podman 4.3 with netavark keeps them: one JSON file per network.

``ROOT/networks/NAME.json`` holds what ``network inspect`` prints (name, id, driver, network_interface,
created, subnets, ipv6_enabled, internal, dns_enabled, labels, ipam_options). The default ``podman``
network (10.88.0.0/16 on ``podman0``, DNS off) is built in and never stored, as in Podman.

Pure helpers (validation, subnet/name/address choice) take the other configs as arguments so they
are unit-tested without files; ``load_all``/``save``/``delete`` do the I/O.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import re
import time
from pathlib import Path

from podpy.util.errors import ConflictError, NotFoundError, UsageError
from podpy.util.fsutil import atomic_write
from podpy.util.gotime import rfc3339_nano

TYPE_CHECKING = False  # not typing's: importing typing costs every command start-up time
if TYPE_CHECKING:
    from typing import Any

DEFAULT_NAME = "podman"
DEFAULT_SUBNET = "10.88.0.0/16"
DEFAULT_IFACE = "podman0"
POOL = ipaddress.IPv4Network("10.89.0.0/16")  # Podman's default_subnet_pools: 10.89.x.0/24 after 10.88/16
POOL_PREFIX = 24
_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")


class NetworkNotFound(NotFoundError):
    def __init__(self, name: str) -> None:
        super().__init__(f"unable to find network with name or ID {name}: network not found")


def config_dir(root: Path | str) -> Path:
    return Path(root) / "networks"


def created_now() -> str:
    """Go's RFC 3339 with nanoseconds and the local offset (``Z`` in UTC), as Podman prints ``created``."""
    return rfc3339_nano(time.time_ns())


def default_network(created: str = "") -> dict[str, Any]:
    import hashlib  # here, not at the top: every container's teardown imports this module

    return {"name": DEFAULT_NAME, "id": hashlib.sha256(DEFAULT_NAME.encode()).hexdigest(), "driver": "bridge",
            "network_interface": DEFAULT_IFACE, "created": created or created_now(),
            "subnets": [{"subnet": DEFAULT_SUBNET, "gateway": "10.88.0.1"}], "ipv6_enabled": False,
            "internal": False, "dns_enabled": False, "ipam_options": {"driver": "host-local"}}  # fmt: skip


# --- reading and writing ------------------------------------------------------------------------


def load_all(root: Path | str) -> list[dict[str, Any]]:
    """Every network, the default first, then the stored ones by name (unreadable files skipped)."""
    out = [default_network()]
    d = config_dir(root)
    try:
        names = sorted(os.listdir(d))
    except FileNotFoundError:
        names = []
    for fn in names:
        if not fn.endswith(".json") or fn.startswith("."):
            continue
        with contextlib.suppress(OSError, ValueError):
            cfg = json.loads((d / fn).read_text())
            if isinstance(cfg, dict) and cfg.get("name") and cfg["name"] != DEFAULT_NAME:
                out.append(cfg)
    return out


def lookup(configs: list[dict[str, Any]], ref: str) -> dict[str, Any]:
    """By full name, then by unique ID prefix (as Podman); NetworkNotFound otherwise."""
    for c in configs:
        if c["name"] == ref:
            return c
    hits = [c for c in configs if ref and str(c.get("id", "")).startswith(ref)]
    if len(hits) == 1:
        return hits[0]
    if len(hits) > 1:
        raise ConflictError(f"more than one result for network ID {ref}")
    raise NetworkNotFound(ref)


def save(root: Path | str, cfg: dict[str, Any]) -> None:
    d = config_dir(root)
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    atomic_write(d / f"{cfg['name']}.json", json.dumps(cfg, indent=5) + "\n")


def delete(root: Path | str, name: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(config_dir(root) / f"{name}.json")


# --- creation: validation and choices ------------------------------------------------------------


def _subnets(cfg: dict[str, Any]) -> list[ipaddress.IPv4Network]:
    out = []
    for s in cfg.get("subnets") or []:
        with contextlib.suppress(ValueError):
            out.append(ipaddress.IPv4Network(s["subnet"], strict=False))
    return out


def host_routes(text: str | None = None) -> list[ipaddress.IPv4Network]:
    """The host's IPv4 routes (``/proc/net/route``), default route excluded: a subnet there is "used on the host"."""
    if text is None:
        try:
            with open("/proc/net/route") as f:
                text = f.read()
        except OSError:
            return []
    out = []
    for line in text.splitlines()[1:]:
        f = line.split()
        if len(f) < 8:
            continue
        with contextlib.suppress(ValueError):
            dest = ipaddress.IPv4Address(int(f[1], 16).to_bytes(4, "little"))
            mask = ipaddress.IPv4Address(int(f[7], 16).to_bytes(4, "little"))
            net = ipaddress.IPv4Network(f"{dest}/{mask}", strict=False)
            if net.prefixlen:
                out.append(net)
    return out


def free_subnet(configs: list[dict[str, Any]], host: list[ipaddress.IPv4Network]) -> str:
    used = [n for c in configs for n in _subnets(c)] + host
    for net in POOL.subnets(new_prefix=POOL_PREFIX):
        if not any(net.overlaps(u) for u in used):
            return str(net)
    raise ConflictError("could not find free subnet from subnet pools")


def free_name(configs: list[dict[str, Any]], key: str = "name") -> str:
    taken = {c.get(key) for c in configs}
    n = 1
    while f"podman{n}" in taken:
        n += 1
    return f"podman{n}"


def build(configs: list[dict[str, Any]], *, name: str = "", driver: str = "bridge", subnet: str = "",
          gateway: str = "", ip_range: str = "", internal: bool = False, labels: dict[str, str] | None = None,
          dns: list[str] | None = None, disable_dns: bool = False, ipv6: bool = False,
          host: list[ipaddress.IPv4Network] | None = None) -> dict[str, Any]:  # fmt: skip
    """A new network's config, checked against the others with Podman's messages (no I/O)."""
    if driver != "bridge":
        raise UsageError(f"unsupported driver {driver}: podpy creates rootless bridge networks only (-d bridge)")
    if ipv6:
        raise UsageError("--ipv6: IPv6 networks are not supported by podpy yet")
    if name:
        if not _NAME.match(name):
            raise UsageError(f"network name {name} invalid: names must match [a-zA-Z0-9][a-zA-Z0-9_.-]*: invalid argument")
        if any(c["name"] == name for c in configs):
            raise ConflictError(f"network name {name} already used: network already exists")
    else:
        name = free_name(configs)
    if (gateway or ip_range) and not subnet:
        raise UsageError("cannot set gateway or range without subnet")
    if subnet:
        try:
            net = ipaddress.ip_network(subnet, strict=False)
        except ValueError:
            raise UsageError(f'invalid CIDR address: {subnet}') from None
        if net.version != 4:
            raise UsageError(f"subnet {subnet}: IPv6 networks are not supported by podpy yet")
        if net.prefixlen > 30:
            raise UsageError(f"subnet {subnet} is too small: it needs room for a gateway and containers")
        used = [n for c in configs for n in _subnets(c)] + list(host or [])
        if any(net.overlaps(u) for u in used):
            raise ConflictError(f"subnet {net} is already used on the host or by another config")
    else:
        net = ipaddress.IPv4Network(free_subnet(configs, list(host or [])))
    entry: dict[str, Any] = {"subnet": str(net)}
    if gateway:
        try:
            gw = ipaddress.ip_address(gateway)
        except ValueError:
            raise UsageError(f"invalid gateway IP {gateway}") from None
        if gw not in net or gw in (net.network_address, net.broadcast_address):
            raise UsageError(f"gateway {gateway} not in subnet {net}")
    else:
        gw = net.network_address + 1
    entry["gateway"] = str(gw)
    if ip_range:
        try:
            rng = ipaddress.ip_network(ip_range, strict=False)
        except ValueError:
            raise UsageError(f'invalid CIDR address: {ip_range}') from None
        if not (rng.version == 4 and rng.subnet_of(net)):  # type: ignore[arg-type]
            raise UsageError(f"ip-range {ip_range} is not in subnet {net}")
        hosts = [h for h in (rng.hosts() if rng.prefixlen < 31 else rng) if h not in (net.network_address, net.broadcast_address)]
        if not hosts:
            raise UsageError(f"ip-range {ip_range} holds no usable address")
        entry["lease_range"] = {"start_ip": str(hosts[0]), "end_ip": str(hosts[-1])}
    cfg: dict[str, Any] = {
        "name": name, "id": os.urandom(32).hex(), "driver": "bridge",
        "network_interface": free_name(configs, "network_interface"), "created": created_now(),
        "subnets": [entry], "ipv6_enabled": False, "internal": internal, "dns_enabled": not disable_dns,
    }  # fmt: skip
    if dns:
        cfg["network_dns_servers"] = list(dns)
    if labels:
        cfg["labels"] = dict(labels)
    cfg["ipam_options"] = {"driver": "host-local"}
    return cfg


# --- addresses for containers -------------------------------------------------------------------


def gateway(cfg: dict[str, Any]) -> str:
    return str((cfg.get("subnets") or [{}])[0].get("gateway") or "")


def prefixlen(cfg: dict[str, Any]) -> int:
    return _subnets(cfg)[0].prefixlen


def check_static_ip(cfg: dict[str, Any], ip: str, used: set[str] | dict[str, str]) -> str:
    """``--ip``: inside the subnet, not the gateway, not taken (``used``: addresses, or address -> container ID)."""
    try:
        addr = ipaddress.IPv4Address(ip)
    except ValueError:
        raise UsageError(f"{ip} is not an IPv4 address") from None
    net = _subnets(cfg)[0]
    if addr not in net or addr in (net.network_address, net.broadcast_address) or str(addr) == gateway(cfg):
        raise UsageError(f"requested ip address {ip} is not in a usable range of network {cfg['name']} ({net})")
    if str(addr) in used:
        owner = used[str(addr)] if isinstance(used, dict) else ""
        raise ConflictError(f"IPAM error: requested ip address {ip} is already allocated to container ID {owner}".rstrip())
    return str(addr)


def allocate_ip(cfg: dict[str, Any], used: set[str] | dict[str, str]) -> str:
    """The first free address of the lease range (default: the whole subnet) that is not the gateway."""
    net = _subnets(cfg)[0]
    sub = (cfg.get("subnets") or [{}])[0]
    rng = sub.get("lease_range") or {}
    lo = int(ipaddress.IPv4Address(rng["start_ip"])) if rng.get("start_ip") else int(net.network_address) + 1
    hi = int(ipaddress.IPv4Address(rng["end_ip"])) if rng.get("end_ip") else int(net.broadcast_address) - 1
    gw = gateway(cfg)
    for i in range(lo, hi + 1):
        ip = str(ipaddress.IPv4Address(i))
        if ip != gw and ip not in used:
            return ip
    raise ConflictError(f"IPAM error: failed to find free IP in range: {net}: no free address in network {cfg['name']}")


def random_mac() -> str:
    """A locally administered unicast MAC (what the kernel would pick, made here so inspect can show it)."""
    b = bytearray(os.urandom(6))
    b[0] = (b[0] & 0xFE) | 0x02
    return ":".join(f"{x:02x}" for x in b)

