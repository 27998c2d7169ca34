"""--network NAME[:opts][,NAME], --ip, --network-alias, --mac-address (podpy.network.netopts)."""

from __future__ import annotations

import pytest

from podpy.network import netopts, options
from podpy.util.errors import UsageError


def test_bridge_modes() -> None:
    m = options.parse_network("bridge")
    assert (m.kind, m.networks) == ("bridge", {"podman": {}})  # type: ignore[attr-defined]
    m = options.parse_network("a,b:ip=10.89.0.5,alias=x,alias=y,mac=02:00:00:00:00:01")
    assert m.networks == {"a": {}, "b": {"ip": "10.89.0.5", "aliases": ["x", "y"], "mac": "02:00:00:00:00:01"}}  # type: ignore[attr-defined]
    assert not m.has_helper


def test_network_fields() -> None:
    f = netopts.network_fields(options.parse_network("n1"), "10.89.0.9", ("www", "web2"), "02:AA:00:00:00:01")
    assert f == {"network": "bridge", "networks": {"n1": {"ip": "10.89.0.9", "mac": "02:aa:00:00:00:01", "aliases": ["www", "web2"]}}}
    f = netopts.network_fields(options.parse_network("n1,n2"), None, ("a",), None)
    assert f["networks"] == {"n1": {"aliases": ["a"]}, "n2": {"aliases": ["a"]}}
    assert netopts.network_fields(options.parse_network("none"), None, (), None) == {}


@pytest.mark.parametrize(
    "network, ip, aliases, mac, msg",
    [  # Podman 4.3's messages
        ("none", "10.0.0.5", (), None, "--ip can only be set when the network mode is bridge: invalid argument"),
        ("host", None, ("x",), None, "--network-alias can only be set when the network mode is bridge"),
        ("private", None, ("x",), None, "networks and static ip/mac address can only be used with Bridge mode networking"),
        ("a,b", "10.89.0.5", (), None, "--ip can only be set for a single network: invalid argument"),
        ("a", None, (), "zz", "address zz: invalid MAC address"),
        ("a", None, (), "01:00:00:00:00:01", "multicast"),
        ("a", "300.1.1.1", (), None, "300.1.1.1 is not an ip address"),
    ],
)
def test_network_field_errors(network: str, ip: str | None, aliases: tuple[str, ...], mac: str | None, msg: str) -> None:
    with pytest.raises(UsageError) as e:
        netopts.network_fields(options.parse_network(network), ip, aliases, mac)
    assert msg in e.value.message


@pytest.mark.parametrize("text, name", [("a,none", "none"), ("bridge,a", "bridge"), ("-x", "-x"), ("a,,b", "")])
def test_unknown_names(text: str, name: str) -> None:
    with pytest.raises(UsageError, match=f"unable to find network with name or ID {name}"):
        options.parse_network(text)


def test_bad_option() -> None:
    with pytest.raises(UsageError, match="unknown network option 'foo=1' for a"):
        options.parse_network("a:foo=1")
