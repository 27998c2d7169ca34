"""Published ports as Podman 4.3 shows them: the ``ps`` PORTS column and inspect's ``Ports`` maps.

Input: the container record's ``config["ports"]`` (one dict per port: container_port, host_port,
protocol, host_ip; ``host_ip`` "" means every address). Pure functions, cheap to import (``ps``).
"""

from __future__ import annotations

from typing import Any


def ps_ports(ports: list[dict[str, Any]] | None) -> str:
    """``0.0.0.0:8000-8001->80-81/tcp, 127.0.0.1:9000->90/udp``: consecutive ports folded into ranges."""
    items = sorted(ports or [], key=lambda p: (_ip16(p.get("host_ip") or "0.0.0.0"), p.get("protocol") or "tcp",
                                               int(p.get("host_port") or 0)))  # fmt: skip
    groups: list[list[Any]] = []  # [ip, proto, host first, ctr first, count]
    for p in items:
        ip, proto = p.get("host_ip") or "0.0.0.0", p.get("protocol") or "tcp"
        hp, cp = int(p.get("host_port") or 0), int(p.get("container_port") or 0)
        last = groups[-1] if groups else None
        if last and last[:2] == [ip, proto] and hp == last[2] + last[4] and cp == last[3] + last[4]:
            last[4] += 1
        else:
            groups.append([ip, proto, hp, cp, 1])
    out = []
    for ip, proto, hp, cp, n in groups:
        if n > 1:
            out.append(f"{ip}:{hp}-{hp + n - 1}->{cp}-{cp + n - 1}/{proto}")
        else:
            out.append(f"{ip}:{hp}->{cp}/{proto}")
    return ", ".join(out)


def _ip16(ip: str) -> bytes:
    """The address as 16 bytes (IPv4 mapped into IPv6), the order Podman lists port groups in:
    ``::1`` before ``0.0.0.0`` before ``127.0.0.1``."""
    try:
        if ":" not in ip:
            return bytes(10) + b"\xff\xff" + bytes(int(x) for x in ip.split("."))
        import ipaddress

        return ipaddress.IPv6Address(ip).packed
    except ValueError:  # not an address (never recorded so): after every address, by its text
        return b"\xff" * 16 + ip.encode()


def inspect_ports(ports: list[dict[str, Any]] | None) -> dict[str, list[dict[str, str]]]:
    """``{"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}`` (NetworkSettings.Ports, HostConfig.PortBindings)."""
    out: dict[str, list[dict[str, str]]] = {}
    for p in ports or []:
        key = f"{p.get('container_port')}/{p.get('protocol') or 'tcp'}"
        out.setdefault(key, []).append({"HostIp": str(p.get("host_ip") or ""), "HostPort": str(p.get("host_port"))})
    return dict(sorted(out.items()))
