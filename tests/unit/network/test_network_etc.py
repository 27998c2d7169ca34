"""/etc/hosts and /etc/resolv.conf contents: the bytes Podman 4.3 writes for the same inputs on this machine."""

from __future__ import annotations

from podpy.network import etc, pasta, slirp

HOST_HOSTS = "127.0.0.1 localhost\n127.0.0.1 runsc\n# a comment\n10.1.1.1\n127.0.0.1 vm # trailing\n"


def test_hosts_like_podman() -> None:
    got = etc.hosts_file(HOST_HOSTS, [], "192.0.2.2", ("10.0.2.100", ["9469e191b3bf", "eloquent_dhawan"]))
    assert got == (
        "127.0.0.1\tlocalhost\n127.0.0.1\trunsc\n127.0.0.1\tvm # trailing\n"  # comments after names stay, as in Podman
        "192.0.2.2\thost.containers.internal\n10.0.2.100\t9469e191b3bf eloquent_dhawan\n"
    )


def test_hosts_add_host_first_and_names_not_repeated() -> None:
    got = etc.hosts_file("", [("foo", "1.2.3.4"), ("box", "5.6.7.8")], "", ("10.0.2.100", ["box", "name", "name"]))
    assert got == (
        "1.2.3.4\tfoo\n5.6.7.8\tbox\n127.0.0.1\tlocalhost\n::1\tlocalhost\n10.0.2.100\tname name\n"
    )


def test_resolv_conf_slirp_default_and_flags() -> None:
    host = "search corp.example\nnameserver 127.0.0.53\nnameserver 10.255.255.53\nnameserver fd00::1\noptions edns0\n"
    assert etc.resolv_conf(host, nameservers=[], searches=[], options=[], first=["10.0.2.3"]) == (
        "search corp.example\nnameserver 10.0.2.3\nnameserver 10.255.255.53\nnameserver fd00::1\noptions edns0\n"
    )
    assert etc.resolv_conf(host, nameservers=[], searches=[], options=[], first=["10.0.2.3"], ipv6=False) == (
        "search corp.example\nnameserver 10.0.2.3\nnameserver 10.255.255.53\noptions edns0\n"
    )
    got = etc.resolv_conf(host, nameservers=["9.9.9.9"], searches=["example.com"], options=["ndots:3"],
                          first=["10.0.2.3"])  # fmt: skip
    assert got == "search example.com\nnameserver 9.9.9.9\noptions ndots:3\n"  # podman run --dns ... output
    assert etc.resolv_conf(host, nameservers=[], searches=["."], options=[], first=[]).startswith("nameserver 10.255")
    # --network host: the host's servers as they are; nothing left: containers/common's defaults
    assert "nameserver 127.0.0.53\n" in etc.resolv_conf(host, nameservers=[], searches=[], options=[], filter_host=False)
    assert etc.resolv_conf("nameserver 127.0.0.1\n", nameservers=[], searches=[], options=[]) == (
        "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"
    )


def test_slirp4netns_command_line_like_podman() -> None:
    assert slirp.argv("/usr/bin/slirp4netns", {}, "/run/ns", "/run/s.sock", 3) == [
        "/usr/bin/slirp4netns", "--configure", "--mtu=65520", "--disable-host-loopback", "--enable-sandbox",
        "--enable-seccomp", "--enable-ipv6", "-r", "3", "--api-socket", "/run/s.sock", "--netns-type=path",
        "/run/ns", "tap0",
    ]  # fmt: skip
    got = slirp.argv("s", {"allow_host_loopback": "true", "mtu": "1500", "enable_ipv6": "false", "cidr": "10.9.0.0/24",
                           "outbound_addr": "192.0.2.2"}, "/n", "/s", 4)  # fmt: skip
    assert got[:6] == ["s", "--configure", "--mtu=1500", "--enable-sandbox", "--enable-seccomp", "--cidr=10.9.0.0/24"]
    assert "--outbound-addr=192.0.2.2" in got and "--disable-host-loopback" not in got and "--enable-ipv6" not in got
    assert slirp.addresses({"cidr": "10.9.0.0/24"}) == {"ip": "10.9.0.100", "gateway": "10.9.0.2", "dns": "10.9.0.3",
                                                        "prefix": "24"}  # fmt: skip


def test_pasta_command_line_like_podman() -> None:
    ports = [{"host_ip": "127.0.0.1", "host_port": 8080, "container_port": 80, "protocol": "tcp"},
             {"host_ip": "", "host_port": 5353, "container_port": 53, "protocol": "udp"}]  # fmt: skip
    assert pasta.argv("/usr/bin/pasta", [], "/n", ports, "/p") == [
        "/usr/bin/pasta", "--config-net", "-t", "127.0.0.1/8080:80", "-u", "5353:53", "-T", "none", "-U", "none",
        "--no-map-gw", "--netns", "/n", "--pid", "/p",
    ]  # fmt: skip
    got = pasta.argv("pasta", ["-T", "9000", "--map-gw"], "/n", [], "/p")
    assert got == ["pasta", "--config-net", "-T", "9000", "-t", "none", "-u", "none", "-U", "none", "--netns", "/n",
                   "--pid", "/p"]  # fmt: skip
