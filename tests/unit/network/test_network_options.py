"""``--network``, ``-p``, ``--dns``, ``--add-host`` parsing, checked against Podman 4.3's answers on this machine."""

from __future__ import annotations

import pytest

from podpy.network import options
from podpy.util.errors import UsageError


def one(text: str) -> dict[str, object]:
    (m,) = options.parse_publish(text)
    return m


@pytest.mark.parametrize(
    "text, want",
    [
        ("80", ("", 0, 80, 1, "tcp")),
        ("8080:80", ("", 8080, 80, 1, "tcp")),
        ("127.0.0.1:8080:80", ("127.0.0.1", 8080, 80, 1, "tcp")),
        ("127.0.0.1::80", ("127.0.0.1", 0, 80, 1, "tcp")),
        ("8080:80/udp", ("", 8080, 80, 1, "udp")),
        ("8000-8002:9000-9002", ("", 8000, 9000, 3, "tcp")),
        ("8000:9000-9002", ("", 8000, 9000, 3, "tcp")),
        ("[::1]:8080:80", ("::1", 8080, 80, 1, "tcp")),
        ("[::1]::80", ("::1", 0, 80, 1, "tcp")),
    ],
)
def test_publish_forms(text: str, want: tuple[object, ...]) -> None:
    m = one(text)
    assert (m["host_ip"], m["host_port"], m["container_port"], m["range"], m["protocol"]) == want


def test_publish_two_protocols() -> None:
    assert [m["protocol"] for m in options.parse_publish("53:53/tcp,udp")] == ["tcp", "udp"]


@pytest.mark.parametrize(
    "text, msg",
    [
        ("abc", 'parsing container port: invalid port number: strconv.Atoi: parsing "abc": invalid syntax'),
        ("8080:80/xyz", 'unrecognized protocol "xyz" in port mapping'),
        ("8080:80/sctp", "sctp ports cannot be published rootless"),
        ("70000:80", "parsing host port: port numbers must be between 1 and 65535 (inclusive), got 70000"),
        ("1:2:3:4", "invalid port format - format is [[hostIP:]hostPort:]containerPort"),
        ("8000-8002:80-81", "host and container port ranges have different lengths: 3 vs 2"),
        ("300.1.1.1:18080:80", 'cannot parse "300.1.1.1" as an IP address'),
        ("0:80", "port numbers must be between 1 and 65535"),
        ("8080:", "invalid port format"),
        ("9000-8000:80", "the end is lower than the start"),
    ],
)
def test_publish_errors(text: str, msg: str) -> None:
    with pytest.raises(UsageError) as e:
        options.parse_publish(text)
    assert msg in e.value.message


def test_expand_ports_unrolls_ranges_and_refuses_a_host_port_twice() -> None:
    got = options.expand_ports(options.parse_publish("8000-8001:9000-9001") + options.parse_publish("5353:53/udp"))
    assert got == [
        {"container_port": 9000, "host_port": 8000, "protocol": "tcp", "host_ip": ""},
        {"container_port": 9001, "host_port": 8001, "protocol": "tcp", "host_ip": ""},
        {"container_port": 53, "host_port": 5353, "protocol": "udp", "host_ip": ""},
    ]
    # the same port on two addresses, or tcp and udp, is fine; on all addresses and one of them it is not
    options.expand_ports(options.parse_publish("127.0.0.1:8000:80") + options.parse_publish("127.0.0.2:8000:81"))
    options.expand_ports(options.parse_publish("8000:80") + options.parse_publish("8000:80/udp"))
    for second in ("8000:81", "127.0.0.1:8000:81"):
        with pytest.raises(UsageError, match="published twice"):
            options.expand_ports(options.parse_publish("8000:80") + options.parse_publish(second))


def test_exposed_ports() -> None:
    got = options.exposed_ports({"ExposedPorts": {"8080/tcp": {}, "5353/udp": {}, "9/sctp": {}}})
    assert [(m["container_port"], m["protocol"], m["host_port"]) for m in got] == [(5353, "udp", 0), (8080, "tcp", 0)]


@pytest.mark.parametrize(
    "text, kind, value",
    [
        ("private", "private", ""),
        ("none", "none", ""),
        ("host", "host", ""),
        ("slirp4netns", "slirp4netns", ""),
        ("pasta", "pasta", ""),
        ("ns:/run/netns/x", "ns", "/run/netns/x"),
        ("container:web", "container", "web"),
    ],
)
def test_network_modes(text: str, kind: str, value: str) -> None:
    m = options.parse_network(text)
    assert (m.kind, m.value) == (kind, value)
    assert m.has_helper == (kind in ("slirp4netns", "pasta"))


def test_network_options() -> None:
    m = options.parse_network("slirp4netns:allow_host_loopback=true,mtu=1500,port_handler=slirp4netns,cidr=10.5.0.0/24")
    assert m.slirp == {"allow_host_loopback": "true", "mtu": "1500", "port_handler": "slirp4netns", "cidr": "10.5.0.0/24"}
    assert options.parse_network("pasta:-T,8080,--map-gw").pasta == ("-T", "8080", "--map-gw")
    assert options.parse_network("slirp4netns:port_handler=rootlesskit").slirp == {"port_handler": "rootlesskit"}


@pytest.mark.parametrize(
    "text, msg",
    [
        ("foo:bar", "unknown network option 'bar' for foo"),  # user-defined networks: tests/unit/network/test_netopts.py
        ("a,none", "unable to find network with name or ID none: network not found"),
        ("slirp4netns:foo=bar", 'unknown option for slirp4netns: "foo=bar"'),
        ("slirp4netns:mtu=abc", 'invalid mtu "abc"'),
        ("slirp4netns:allow_host_loopback=yes", 'invalid value of allow_host_loopback for slirp4netns: "yes"'),
        ("slirp4netns:port_handler=rootlessport", 'unknown port_handler for slirp4netns: "rootlessport"'),  # podman 4.3's
        ("slirp4netns:outbound_addr=eth0", "interface names are not supported"),
        ("ns:relative", "absolute path"),
        ("container:", "needs a container name"),
    ],
)
def test_network_errors(text: str, msg: str) -> None:
    with pytest.raises(UsageError) as e:
        options.parse_network(text)
    assert msg in e.value.message


def test_dns_and_add_host() -> None:
    assert options.parse_dns(["9.9.9.9", "::1"]) == ["9.9.9.9", "::1"]
    with pytest.raises(UsageError, match="1.2.3 is not an ip address"):
        options.parse_dns(["1.2.3"])
    assert options.parse_add_host(["foo:1.2.3.4", "six:fd00::1"]) == [("foo", "1.2.3.4"), ("six", "fd00::1")]
    for bad, msg in (("foo", 'bad format for add-host: "foo"'), (":1.2.3.4", "bad format for add-host"),
                     ("foo:bar", 'invalid IP address in add-host: "bar"')):  # fmt: skip
        with pytest.raises(UsageError) as e:
            options.parse_add_host([bad])
        assert e.value.message == msg or msg in e.value.message


def test_tun_not_usable_says_how_to_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    from podpy.network import helper
    from podpy.util.errors import PodpyError

    monkeypatch.setattr(helper, "TUN", "/nonexistent/tun")
    with pytest.raises(PodpyError) as e:
        helper.check_tun()
    assert e.value.message.startswith("open(/nonexistent/tun): does not exist: ")
    assert "chmod 0666 /nonexistent/tun" in e.value.message and "--network none" in e.value.message


def test_slirp_default_addresses_are_the_default_cidrs() -> None:
    """The default cidr's addresses are constants (no ipaddress import on ``run``'s path): the same
    as computed from the cidr; another cidr is computed."""
    import ipaddress

    from podpy.network import slirp

    net = ipaddress.IPv4Network(slirp.DEFAULT_CIDR)
    base = net.network_address
    assert slirp.addresses({}) == {"ip": str(base + 100), "gateway": str(base + 2), "dns": str(base + 3),
                                   "prefix": str(net.prefixlen)}  # fmt: skip
    assert slirp.addresses({"cidr": "10.5.0.0/16"}) == {"ip": "10.5.0.100", "gateway": "10.5.0.2",
                                                        "dns": "10.5.0.3", "prefix": "16"}  # fmt: skip
