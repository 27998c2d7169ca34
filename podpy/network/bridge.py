"""Bridges and veth pairs with pyroute2 (imported lazily: 90 ms, only for user-defined networks).

In the rootless network namespace each network is a Linux bridge holding the gateway address; a
container joins with a veth pair: the host end (``vethXXXXXXXXN``) enslaved to the bridge, the other
end moved into the container's namespace, renamed ``eth0``/``eth1``…, given its MAC, address and (on
the first network that is not ``--internal``) the default route via the gateway. Everything runs in
one forked child that joins the namespaces (``netns.in_netns``); podpy's own process never
changes namespace.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

from podpy.network.netns import in_netns
from podpy.util import syscalls
from podpy.util.errors import PodpyError


def _ensure_bridge(ipr: Any, name: str, gateway: str, prefix: int) -> int:
    found = ipr.link_lookup(ifname=name)
    if found:
        return int(found[0])
    ipr.link("add", ifname=name, kind="bridge")
    idx = int(ipr.link_lookup(ifname=name)[0])
    ipr.addr("add", index=idx, address=gateway, prefixlen=prefix)
    ipr.link("set", index=idx, state="up")
    return idx


def attach(rootless_ns: str, ctr_ns: str, links: list[dict[str, Any]], holder_ctl: str = "") -> None:
    """Connect the container namespace ``ctr_ns`` to each link's network.

    A link: {"bridge", "gateway", "prefix", "veth", "ifname", "ip", "mac", "default_route"}. With
    ``holder_ctl`` the holder does it (pyroute2 is imported there once, not by every podpy start);
    without, or when the holder does not answer, a child of this process joins ``rootless_ns``."""
    if holder_ctl:
        import json

        from podpy.network.dnsserver import request

        reply = request(holder_ctl, json.dumps({"op": "attach", "ctr_ns": ctr_ns, "links": links}).encode(), 30.0)
        if reply == b"ok":
            return
        if reply is not None:
            raise PodpyError(f"connecting the container to its networks: {reply[1:].decode(errors='replace')}")
    in_netns(rootless_ns, lambda: attach_here(ctr_ns, links))


def attach_here(ctr_ns: str, links: list[dict[str, Any]]) -> None:
    """``attach`` from inside the rootless namespace (a forked child: it ends in the container's namespace)."""
    from pyroute2 import IPRoute

    ctr_fd = os.open(ctr_ns, os.O_RDONLY | os.O_CLOEXEC)
    with IPRoute() as ipr:
        for ln in links:
            br = _ensure_bridge(ipr, ln["bridge"], ln["gateway"], int(ln["prefix"]))
            for old in ipr.link_lookup(ifname=ln["veth"]):  # a leftover of a start that was killed
                ipr.link("del", index=old)
            tmp = "p" + ln["veth"][1:]
            ipr.link("add", ifname=ln["veth"], kind="veth", peer={"ifname": tmp})
            vidx = int(ipr.link_lookup(ifname=ln["veth"])[0])
            ipr.link("set", index=vidx, master=br, state="up")
            ipr.link("set", index=int(ipr.link_lookup(ifname=tmp)[0]), net_ns_fd=ctr_fd)
    syscalls.get().setns(ctr_fd, syscalls.CLONE_NEWNET)
    os.close(ctr_fd)
    with IPRoute() as ipr:
        for ln in links:
            idx = int(ipr.link_lookup(ifname="p" + ln["veth"][1:])[0])
            ipr.link("set", index=idx, ifname=ln["ifname"], address=ln["mac"])
            ipr.addr("add", index=idx, address=ln["ip"], prefixlen=int(ln["prefix"]))
            ipr.link("set", index=idx, state="up")
        for ln in links:
            if ln.get("default_route"):
                ipr.route("add", dst="0.0.0.0/0", gateway=ln["gateway"])
                break


def detach(rootless_ns: str, veths: list[str], bridges: list[str] = ()) -> None:  # type: ignore[assignment]
    """Delete the host ends (the container ends go with them) and bridges no container uses any more."""
    if not veths and not bridges:
        return

    def work() -> None:
        from pyroute2 import IPRoute

        with IPRoute() as ipr:
            for name in [*veths, *bridges]:
                for idx in ipr.link_lookup(ifname=name):
                    with contextlib.suppress(Exception):
                        ipr.link("del", index=idx)

    in_netns(rootless_ns, work)


def links(ns: str) -> list[str]:
    """Interface names in the namespace at ``ns`` (for tests and ``inspect``)."""
    import json

    r, w = os.pipe()

    def work() -> None:
        from pyroute2 import IPRoute

        with IPRoute() as ipr:
            names = [ln.get_attr("IFLA_IFNAME") for ln in ipr.get_links()]
        os.write(w, json.dumps(names).encode())

    try:
        in_netns(ns, work)
    finally:
        os.close(w)
    with os.fdopen(r) as f:
        return list(json.loads(f.read() or "[]"))
