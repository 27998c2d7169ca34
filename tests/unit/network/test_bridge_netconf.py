"""User-defined network configs: validation, subnet/name/address choice, files (podpy.network.netconf)."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import pytest

from podpy.network import netconf
from podpy.util.errors import ConflictError, NotFoundError, UsageError

KEYS = ["name", "id", "driver", "network_interface", "created", "subnets", "ipv6_enabled", "internal",
        "dns_enabled", "ipam_options"]  # fmt: skip


def test_default_network_is_podmans() -> None:
    d = netconf.default_network()
    assert list(d) == KEYS
    assert d["id"] == "2f259bab93aaaaa2542ba43ef33eb990d0999ee1b9924b557b7be53c0b7a1bb9"  # podman's, sha256("podman")
    assert d["subnets"] == [{"subnet": "10.88.0.0/16", "gateway": "10.88.0.1"}]
    assert (d["network_interface"], d["dns_enabled"]) == ("podman0", False)


def test_build_defaults_pick_the_next_name_interface_and_subnet() -> None:
    configs = [netconf.default_network()]
    a = netconf.build(configs)
    assert (a["name"], a["network_interface"], a["subnets"]) == ("podman1", "podman1", [{"subnet": "10.89.0.0/24", "gateway": "10.89.0.1"}])
    assert list(a) == KEYS and a["dns_enabled"] is True and len(a["id"]) == 64
    b = netconf.build([*configs, a], name="mine", labels={"k": "v"}, internal=True, dns=["9.9.9.9"])
    assert (b["name"], b["network_interface"], b["subnets"][0]["subnet"]) == ("mine", "podman2", "10.89.1.0/24")
    assert b["labels"] == {"k": "v"} and b["internal"] is True and b["network_dns_servers"] == ["9.9.9.9"]
    assert list(b)[-1] == "ipam_options"
    # a subnet used on the host is skipped
    c = netconf.build([*configs, a], host=[ipaddress.IPv4Network("10.89.1.0/24")])
    assert c["subnets"][0]["subnet"] == "10.89.2.0/24"


def test_build_subnet_gateway_range() -> None:
    configs = [netconf.default_network()]
    n = netconf.build(configs, name="x", subnet="10.91.0.7/24", gateway="10.91.0.254", ip_range="10.91.0.128/28")
    assert n["subnets"] == [{"subnet": "10.91.0.0/24", "gateway": "10.91.0.254",
                             "lease_range": {"start_ip": "10.91.0.129", "end_ip": "10.91.0.142"}}]  # fmt: skip
    assert netconf.allocate_ip(n, set()) == "10.91.0.129"
    assert netconf.allocate_ip(n, {"10.91.0.129"}) == "10.91.0.130"


@pytest.mark.parametrize(
    "kw, err, msg",
    [
        ({"name": "podman"}, ConflictError, "network name podman already used: network already exists"),
        ({"name": "bad/name"}, UsageError, "network name bad/name invalid: names must match [a-zA-Z0-9][a-zA-Z0-9_.-]*"),
        ({"subnet": "10.88.5.0/24"}, ConflictError, "subnet 10.88.5.0/24 is already used on the host or by another config"),
        ({"gateway": "10.1.0.1"}, UsageError, "cannot set gateway or range without subnet"),
        ({"subnet": "10.92.0.0/24", "gateway": "10.93.0.1"}, UsageError, "gateway 10.93.0.1 not in subnet 10.92.0.0/24"),
        ({"subnet": "10.92.0.0/24", "ip_range": "10.93.0.0/28"}, UsageError, "not in subnet"),
        ({"subnet": "nonsense"}, UsageError, "invalid CIDR address: nonsense"),
        ({"subnet": "fd00::/64"}, UsageError, "IPv6"),
        ({"driver": "macvlan"}, UsageError, "unsupported driver macvlan"),
        ({"ipv6": True}, UsageError, "IPv6"),
    ],
)
def test_build_errors(kw: dict[str, object], err: type[Exception], msg: str) -> None:
    with pytest.raises(err) as e:
        netconf.build([netconf.default_network()], **kw)  # type: ignore[arg-type]
    assert msg in str(e.value)


def test_addresses() -> None:
    n = netconf.build([], name="n", subnet="10.95.0.0/29")
    assert [netconf.allocate_ip(n, set(used)) for used in ([], ["10.95.0.2"])] == ["10.95.0.2", "10.95.0.3"]
    with pytest.raises(ConflictError, match="failed to find free IP"):
        netconf.allocate_ip(n, {f"10.95.0.{i}" for i in range(2, 7)})
    assert netconf.check_static_ip(n, "10.95.0.5", set()) == "10.95.0.5"
    for bad in ("10.95.0.1", "10.95.0.7", "10.96.0.2"):
        with pytest.raises(UsageError, match="not in a usable range"):
            netconf.check_static_ip(n, bad, set())
    with pytest.raises(ConflictError, match="already allocated"):
        netconf.check_static_ip(n, "10.95.0.5", {"10.95.0.5"})
    mac = netconf.random_mac()
    assert int(mac[:2], 16) & 3 == 2 and len(mac) == 17


def test_files_lookup_and_host_routes(tmp_path: Path) -> None:
    a = netconf.build(netconf.load_all(tmp_path), name="alpha")
    netconf.save(tmp_path, a)
    assert json.loads((tmp_path / "networks" / "alpha.json").read_text()) == a
    all_ = netconf.load_all(tmp_path)
    assert [c["name"] for c in all_] == ["podman", "alpha"]
    assert netconf.lookup(all_, a["id"][:10])["name"] == "alpha"
    with pytest.raises(NotFoundError, match="unable to find network with name or ID nope: network not found"):
        netconf.lookup(all_, "nope")
    netconf.delete(tmp_path, "alpha")
    assert [c["name"] for c in netconf.load_all(tmp_path)] == ["podman"]
    route = ("Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n"
             "eth0\t00000000\t0102000A\t0003\t0\t0\t0\t00000000\n"
             "eth0\t0000590A\t00000000\t0001\t0\t0\t0\t00FFFFFF\n")  # fmt: skip
    assert netconf.host_routes(route) == [ipaddress.IPv4Network("10.89.0.0/24")]


def test_created_is_go_rfc3339nano() -> None:
    import re

    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)", netconf.created_now())
