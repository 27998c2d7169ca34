"""Published ports as ``podman ps`` and ``podman inspect`` 4.3 show them (outputs copied from podman on this machine)."""

from __future__ import annotations

from podpy.network.report import inspect_ports, ps_ports

# podman run -p 18081:80 -p 127.0.0.1:18085:81 -p 19000-19001:90-91/udp -p 19005:90/udp
PORTS = [
    {"container_port": 80, "host_port": 18081, "protocol": "tcp", "host_ip": ""},
    {"container_port": 81, "host_port": 18085, "protocol": "tcp", "host_ip": "127.0.0.1"},
    {"container_port": 90, "host_port": 19000, "protocol": "udp", "host_ip": ""},
    {"container_port": 91, "host_port": 19001, "protocol": "udp", "host_ip": ""},
    {"container_port": 90, "host_port": 19005, "protocol": "udp", "host_ip": ""},
]


def test_ps_ports_like_podman() -> None:
    assert ps_ports(PORTS) == (
        "0.0.0.0:18081->80/tcp, 0.0.0.0:19000-19001->90-91/udp, 0.0.0.0:19005->90/udp, 127.0.0.1:18085->81/tcp"
    )
    assert ps_ports([]) == "" and ps_ports(None) == ""
    # podman run -p 9000:90 -p 8000:95 -p 127.0.0.1:7000:99 -p 7001:98/udp; and -p [::1]:18090:80 -p 18091:81
    other = [{"container_port": 90, "host_port": 9000, "protocol": "tcp", "host_ip": ""},
             {"container_port": 95, "host_port": 8000, "protocol": "tcp", "host_ip": ""},
             {"container_port": 99, "host_port": 7000, "protocol": "tcp", "host_ip": "127.0.0.1"},
             {"container_port": 98, "host_port": 7001, "protocol": "udp", "host_ip": ""}]  # fmt: skip
    assert ps_ports(other) == "0.0.0.0:8000->95/tcp, 0.0.0.0:9000->90/tcp, 0.0.0.0:7001->98/udp, 127.0.0.1:7000->99/tcp"
    v6 = [{"container_port": 80, "host_port": 18090, "protocol": "tcp", "host_ip": "::1"},
          {"container_port": 81, "host_port": 18091, "protocol": "tcp", "host_ip": ""}]  # fmt: skip
    assert ps_ports(v6) == "::1:18090->80/tcp, 0.0.0.0:18091->81/tcp"


def test_inspect_ports_like_podman() -> None:
    assert inspect_ports(PORTS) == {
        "80/tcp": [{"HostIp": "", "HostPort": "18081"}],
        "81/tcp": [{"HostIp": "127.0.0.1", "HostPort": "18085"}],
        "90/udp": [{"HostIp": "", "HostPort": "19000"}, {"HostIp": "", "HostPort": "19005"}],
        "91/udp": [{"HostIp": "", "HostPort": "19001"}],
    }
