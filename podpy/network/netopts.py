"""``--network NAME[:ip=…,mac=…,alias=…][,NAME…]``, ``--ip``, ``--mac-address``, ``--network-alias`` — pure.

A container on user-defined networks is recorded with ``network="bridge"`` and ``networks`` =
{NAME: {"ip", "mac", "aliases"}} (``bridge`` alone is Podman's default network, ``podman``). The
networks' existence is checked by the engine, which reads their configs.
"""

from __future__ import annotations

import re
from typing import Any

from podpy.network.options import MODES, NetworkMode
from podpy.util.errors import UsageError

DEFAULT = "podman"
_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
_OPTS = ("ip", "mac", "alias", "interface_name")


class BridgeMode(NetworkMode):
    """``--network`` naming user-defined networks; ``networks``: NAME -> per-network options."""

    __slots__ = ("networks",)

    def __init__(self, networks: dict[str, dict[str, Any]]) -> None:
        super().__init__("bridge")
        self.networks = networks


def _not_found(name: str) -> UsageError:
    return UsageError(f"unable to find network with name or ID {name}: network not found")


def bridge_mode(text: str) -> BridgeMode:
    if text == "bridge":
        return BridgeMode({DEFAULT: {}})
    nets: dict[str, dict[str, Any]] = {}
    name, entry = "", {}
    for item in text.split(","):
        if name and "=" in item and ":" not in item.partition("=")[0]:
            opts = item  # NAME:ip=…,alias=…: an option of the network before (names have no "=")
        else:
            name, _, opts = item.partition(":")
            if not name or name in MODES or not _NAME.match(name):
                raise _not_found(name or item)
            entry = nets.setdefault(name, {})
        for opt in [opts] if opts else []:
            key, eq, val = opt.partition("=")
            if key not in _OPTS or not eq or not val:
                raise UsageError(f"unknown network option {opt!r} for {name}: use ip=, mac=, alias= or interface_name=")
            if key == "alias":
                entry.setdefault("aliases", []).append(val)
            else:
                entry[key] = check_ip(val) if key == "ip" else check_mac(val) if key == "mac" else val
    return BridgeMode(nets)


def check_ip(text: str) -> str:
    import ipaddress

    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        raise UsageError(f"{text} is not an ip address") from None


def check_mac(text: str) -> str:
    parts = text.split(":")
    if len(parts) != 6 or not all(len(p) == 2 and all(c in "0123456789abcdefABCDEF" for c in p) for p in parts):
        raise UsageError(f"address {text}: invalid MAC address")
    if int(parts[0], 16) & 1:
        raise UsageError(f"address {text}: a multicast MAC address cannot be a container's")
    return text.lower()


def network_fields(mode: NetworkMode, ip: str | None, aliases: list[str] | tuple[str, ...],
                   mac: str | None) -> dict[str, Any]:  # fmt: skip
    """The ContainerSpec fields for ``mode`` with ``--ip``/``--network-alias``/``--mac-address`` (Podman's messages)."""
    if not isinstance(mode, BridgeMode):
        if mode.kind == "private" and (ip or aliases or mac):
            raise UsageError("invalid config provided: networks and static ip/mac address can only be used with Bridge mode networking")
        for flag, val in (("ip", ip), ("network-alias", aliases), ("mac-address", mac)):
            if val:
                raise UsageError(f"--{flag} can only be set when the network mode is bridge: invalid argument")
        return {}
    nets = {n: dict(o) for n, o in mode.networks.items()}
    if (ip or mac) and len(nets) > 1:
        raise UsageError(f"--{'ip' if ip else 'mac-address'} can only be set for a single network: invalid argument")
    first = next(iter(nets.values()))
    if ip:
        first["ip"] = check_ip(ip)
    if mac:
        first["mac"] = check_mac(mac)
    for o in nets.values():
        if aliases:
            o["aliases"] = [*o.get("aliases", []), *aliases]
        if "interface_name" in o:
            raise UsageError("interface_name: podpy names the container's interfaces eth0, eth1… (as Podman's default)")
    return {"network": "bridge", "networks": nets}
