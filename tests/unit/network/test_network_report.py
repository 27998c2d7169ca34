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


def test_inspect_ports_like_podman() -> None:
    assert inspect_ports(PORTS) == {
        "80/tcp": [{"HostIp": "", "HostPort": "18081"}],
        "81/tcp": [{"HostIp": "127.0.0.1", "HostPort": "18085"}],
        "90/udp": [{"HostIp": "", "HostPort": "19000"}, {"HostIp": "", "HostPort": "19005"}],
        "91/udp": [{"HostIp": "", "HostPort": "19001"}],
    }
