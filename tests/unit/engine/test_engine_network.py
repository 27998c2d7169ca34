"""engine.network's decisions that need no namespace: the default mode from containers.conf, Podman's
conflicts and port checks at create, host.containers.internal's address."""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

import pytest

from podpy.engine import network
from podpy.spec.container import ContainerSpec
from podpy.util.errors import PodpyError, UsageError
from podpy.util.paths import Paths


@pytest.fixture
def conf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    f = tmp_path / "containers.conf"
    f.write_text("")
    monkeypatch.setenv("CONTAINERS_CONF", str(f))
    return f


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    return Paths(root=tmp_path / "root", runroot=tmp_path / "run")


@pytest.mark.parametrize(
    "text, want",
    [
        ("", "slirp4netns"),
        ('[network]\ndefault_rootless_network_cmd = "pasta"\n', "pasta"),
        ('[containers]\nnetns = "host"\n', "host"),
        ('[containers]\nnetns = "private"\n[network]\ndefault_rootless_network_cmd = "slirp4netns"\n', "slirp4netns"),
        ('[engine]\nnetwork_cmd_options = ["allow_host_loopback=true", "mtu=1500"]\n',
         "slirp4netns:allow_host_loopback=true,mtu=1500"),
    ],
)
def test_private_resolves_from_containers_conf(conf: Path, paths: Paths, text: str, want: str) -> None:
    conf.write_text(text)
    assert network.prepare(paths, ContainerSpec(image="x"), {}).network == want


def test_bad_containers_conf(conf: Path, paths: Paths) -> None:
    conf.write_text('[network]\ndefault_rootless_network_cmd = "vde"\n')
    with pytest.raises(PodpyError, match='invalid default_rootless_network_cmd "vde"'):
        network.prepare(paths, ContainerSpec(image="x"), {})
    conf.write_text("[network\n")
    with pytest.raises(PodpyError, match=f"reading {conf}"):
        network.prepare(paths, ContainerSpec(image="x"), {})


def test_conflicts_and_discarded_ports(conf: Path, paths: Paths, caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(UsageError, match="conflicting options: dns-search and the network mode: none"):
        network.prepare(paths, ContainerSpec(image="x", network="none", dns_search=["a"]), {})
    with pytest.raises(UsageError, match="--no-hosts and --add-host cannot be set together"):
        network.prepare(paths, ContainerSpec(image="x", no_hosts=True, add_hosts=["a:1.1.1.1"]), {})
    port = [{"host_ip": "", "host_port": 8080, "container_port": 80, "range": 1, "protocol": "tcp"}]
    got = network.prepare(paths, ContainerSpec(image="x", network="host", ports=port), {})
    assert got.ports == [] and "Port mappings have been discarded" in caplog.text


def test_ports_resolved_at_create(conf: Path, paths: Paths, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = ContainerSpec(image="x", publish_all=True, ports=[
        {"host_ip": "127.0.0.1", "host_port": 0, "container_port": 80, "range": 2, "protocol": "tcp"}])  # fmt: skip
    got = network.prepare(paths, spec, {"ExposedPorts": {"80/tcp": {}, "53/udp": {}}}).ports
    assert [(p["container_port"], p["protocol"]) for p in got] == [(80, "tcp"), (81, "tcp"), (53, "udp")]
    assert got[1]["host_port"] == got[0]["host_port"] + 1  # a random range is consecutive
    assert all(p["host_port"] >= 1024 for p in got)
    monkeypatch.setattr(network, "real_uid", lambda: 1001)  # the check is for users, not for root
    monkeypatch.setattr(network, "UNPRIVILEGED_PORT_START", str(Path(str(conf)).with_name("start")))
    Path(network.UNPRIVILEGED_PORT_START).write_text("2000\n")
    low = ContainerSpec(image="x", ports=[{"host_ip": "", "host_port": 1500, "container_port": 80, "range": 1,
                                           "protocol": "tcp"}])  # fmt: skip
    with pytest.raises(PodpyError) as e:
        network.prepare(paths, low, {})
    assert e.value.message == (
        "cannot expose privileged port 1500, you can add 'net.ipv4.ip_unprivileged_port_start=1500' to "
        "/etc/sysctl.conf (currently 2000), or choose a larger port number (>= 2000)"
    )


def test_port_in_use_is_named(conf: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(PodpyError) as e:
            network._check_ports_free([{"host_ip": "127.0.0.1", "host_port": port, "protocol": "tcp", "container_port": 1}])
    assert f"listen tcp 127.0.0.1:{port}: bind: address already in use" in e.value.message


def test_forwarder_sockets_listen_and_a_port_in_use_is_named(conf: Path) -> None:
    def port(ip: str, hp: int, proto: str = "tcp") -> dict[str, object]:
        return {"host_ip": ip, "host_port": hp, "container_port": 80, "protocol": proto}

    free = network._random_ports("", "tcp", 2)
    got = network._listen([port("", free), port("127.0.0.1", free + 1)])
    try:
        assert [p for _, p in got] == [80, 80]
        for host, hp in (("127.0.0.1", free), ("::1", free), ("127.0.0.1", free + 1)):  # no host IP: IPv6 too
            socket.create_connection((host, hp), timeout=5).close()
    finally:
        for s, _ in got:
            s.close()
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        busy = held.getsockname()[1]
        for ip in ("", "127.0.0.1"):  # every address includes 127.0.0.1
            with pytest.raises(PodpyError) as e:
                network._listen([port("127.0.0.1", free), port(ip, busy)])
            assert f"listen tcp {ip or '0.0.0.0'}:{busy}: bind: address already in use" in e.value.message
    network._listen([port("127.0.0.1", free)])[0][0].close()  # the first one was closed after the error


@pytest.mark.parametrize(
    "net, udp, forwarded",
    [("slirp4netns", False, True), ("slirp4netns:port_handler=rootlesskit", False, True),
     ("slirp4netns:port_handler=slirp4netns", False, False), ("slirp4netns", True, False), ("pasta", False, False)],
)  # fmt: skip
def test_which_ports_the_forwarder_serves(net: str, udp: bool, forwarded: bool) -> None:
    from podpy.network.options import parse_network

    ports = [{"host_ip": "", "host_port": 8080, "container_port": 80, "protocol": "udp" if udp else "tcp"}]
    assert network._forwarded(parse_network(net), ports) == (ports if forwarded else [])


def test_ipv6_host_addresses_with_slirp4netns_only_through_the_forwarder(conf: Path, paths: Paths) -> None:
    def spec(net: str, proto: str) -> ContainerSpec:
        return ContainerSpec(image="x", network=net, ports=[
            {"host_ip": "::1", "host_port": 18090, "container_port": 80, "range": 1, "protocol": proto}])  # fmt: skip

    assert network.prepare(paths, spec("slirp4netns", "tcp"), {}).ports[0]["host_ip"] == "::1"
    for net, proto in (("slirp4netns", "udp"), ("slirp4netns:port_handler=slirp4netns", "tcp")):
        with pytest.raises(UsageError, match="slirp4netns cannot publish ports on IPv6 host addresses"):
            network.prepare(paths, spec(net, proto), {})


def test_host_ip_is_a_non_loopback_ipv4_address() -> None:
    ip = network.host_ip()
    assert ip == "" or (ipaddress.IPv4Address(ip) and not ip.startswith("127."))


def test_teardown_without_a_network_is_a_no_op(paths: Paths) -> None:
    network.teardown(paths, "0" * 64)  # nothing recorded: no namespace joined, nothing raised
