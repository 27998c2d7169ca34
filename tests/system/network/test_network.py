"""The default rootless network (slirp4netns), pasta, the other --network modes and published ports,
as a user types them. Expected files and messages are what ``podman run`` 4.3.1 prints on this
machine (checked by hand with tests/env/as-user.sh podman ...); all traffic stays on this host.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.system.conftest import BUSYBOX as IMG

HOST_HOSTS = Path("/etc/hosts").read_text()


def ok(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == 0, r.stderr
    return r.stdout


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def host_ip() -> str:
    from podpy.engine.network import host_ip as hip

    return hip()


def helpers(runroot: Path) -> dict[int, list[str]]:
    """pid -> argv of the network helpers (and podpy's port forwarder) running for this runroot."""
    out = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
        except OSError:
            continue
        helper = os.path.basename(argv[0]) in ("slirp4netns", "pasta") or "podpy-portfwd" in argv
        if helper and any(str(runroot) in a for a in argv):
            out[int(pid)] = argv
    return out


def leftovers(runroot: Path) -> tuple[list[str], list[str]]:
    """Network helpers still running for this runroot, and files left in its netns directory."""
    procs = [" ".join(argv) for argv in helpers(runroot).values()]
    d = runroot / "netns"
    return procs, sorted(os.listdir(d)) if d.exists() else []


def wait_clean(runroot: Path, timeout: float = 15) -> tuple[list[str], list[str]]:
    """The monitor's cleanup runs asynchronously after the container exits: wait for it."""
    deadline = time.monotonic() + timeout
    while (left := leftovers(runroot)) != ([], []) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def connect_read(port: int, timeout: float = 15, host: str = "127.0.0.1", request: bytes = b"") -> bytes:
    """Connect to HOST:port until the container's listener answers; what it sent. ``request``: sent
    first, and the reply read until the server closes (httpd)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=5) as s:
                if request:
                    s.sendall(request)
                    data = b""
                    while chunk := s.recv(4096):
                        data += chunk
                else:
                    data = s.recv(100)
            if data:
                return data
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing answered on {host}:{port}")
        time.sleep(0.1)


@pytest.fixture
def http_server() -> Iterator[Any]:
    """A one-line HTTP server on the host: ``start(ip)`` -> port."""
    servers: list[socket.socket] = []

    def start(ip: str) -> int:
        srv = socket.socket()
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind((ip, 0))
        srv.listen(8)
        servers.append(srv)

        def serve() -> None:
            while True:
                try:
                    conn, _ = srv.accept()
                except OSError:
                    return
                with conn:
                    conn.recv(4096)
                    conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 9\r\n\r\nfrom-host")

        threading.Thread(target=serve, daemon=True).start()
        return int(srv.getsockname()[1])

    yield start
    for s in servers:
        s.close()


# --- the default network and /etc files ---------------------------------------------------------------


def test_default_is_slirp4netns_with_podmans_etc_files(podpy, podpy_root) -> None:  # type: ignore[no-untyped-def]
    r = podpy("run", "--name", "d1", "--hostname", "box", IMG, "sh", "-c",
              "cat /etc/hosts; echo ---; cat /etc/resolv.conf; echo ---; ip -o -4 addr show tap0 | tr -s ' ' | cut -d' ' -f4; ip route | head -1")  # fmt: skip
    hosts, resolv, net = ok(r).split("---\n")
    base = "".join(f"{f[0]}\t{' '.join(f[1:])}\n" for f in (ln.split() for ln in HOST_HOSTS.splitlines())
                   if len(f) > 1 and not f[0].startswith("#"))  # fmt: skip
    assert hosts == base + f"{host_ip()}\thost.containers.internal\n10.0.2.100\tbox d1\n"
    host_servers = [ln.split()[1] for ln in Path("/etc/resolv.conf").read_text().splitlines()
                    if ln.startswith("nameserver") and not ln.split()[1].startswith("127.")]  # fmt: skip
    assert resolv.splitlines()[: 1 + len(host_servers)] == ["nameserver 10.0.2.3"] + [f"nameserver {s}" for s in host_servers]
    assert net.splitlines() == ["10.0.2.100/24", "default via 10.0.2.2 dev tap0 "]
    assert ok(podpy("inspect", "--format", "{{.HostConfig.NetworkMode}}", "d1")).strip() == "slirp4netns"
    assert wait_clean(podpy_root.runroot) == ([], [])


def test_dns_add_host_hostname_flags(podpy) -> None:  # type: ignore[no-untyped-def]
    r = podpy("run", "--rm", "--add-host", "foo:1.2.3.4", "--dns", "9.9.9.9", "--dns-search", "example.com",
              "--dns-option", "ndots:3", "--hostname", "hh", "--name", "n2", IMG, "sh", "-c",
              "head -1 /etc/hosts; tail -1 /etc/hosts; echo ---; cat /etc/resolv.conf")  # fmt: skip
    assert ok(r) == "1.2.3.4\tfoo\n10.0.2.100\thh n2\n---\nsearch example.com\nnameserver 9.9.9.9\noptions ndots:3\n"
    # --no-hosts: the image's /etc/hosts (busybox has none), as Podman
    r = podpy("run", "--rm", "--no-hosts", IMG, "cat", "/etc/hosts")
    assert r.returncode == 1 and "No such file or directory" in r.stderr


def test_none_and_host_etc_files(podpy) -> None:  # type: ignore[no-untyped-def]
    out = ok(podpy("run", "--rm", "--network", "none", "--name", "n3", "-h", "nn", IMG, "sh", "-c",
                   "tail -2 /etc/hosts; ls /etc/resolv.conf 2>&1; ip -o link | cut -d: -f2"))  # fmt: skip
    assert out == (f"{host_ip()}\thost.containers.internal\n127.0.0.1\tnn n3\n"
                   "ls: /etc/resolv.conf: No such file or directory\n lo\n")  # fmt: skip
    out = ok(podpy("run", "--rm", "--network", "host", IMG, "sh", "-c", "cat /etc/hosts; echo ---; cat /etc/resolv.conf"))
    hosts, resolv = out.split("---\n")
    assert hosts.endswith(f"{host_ip()}\thost.containers.internal\n") and "10.0.2.100" not in hosts
    assert resolv == "".join(f"{ln}\n" for ln in Path("/etc/resolv.conf").read_text().splitlines()
                             if ln.startswith(("nameserver", "search", "options")))  # fmt: skip


# --- published ports -------------------------------------------------------------------------------


def test_publish_tcp_udp_and_port(podpy, podpy_root) -> None:  # type: ignore[no-untyped-def]
    tcp, udp = free_port(), free_port(socket.SOCK_DGRAM)
    ok(podpy("run", "-d", "--name", "web", "-p", f"{tcp}:8080", "-p", f"127.0.0.1:{udp}:5353/udp",
                   "-p", "127.0.0.1::9000", IMG, "sh", "-c",
                   "while true; do echo hello-tcp | nc -l -p 8080; done"))  # fmt: skip
    lines = ok(podpy("port", "web")).splitlines()
    assert f"8080/tcp -> 0.0.0.0:{tcp}" in lines and f"5353/udp -> 127.0.0.1:{udp}" in lines
    (random,) = [ln for ln in lines if ln.startswith("9000/tcp -> 127.0.0.1:")]
    assert 1024 <= int(random.rsplit(":", 1)[1]) <= 65535
    assert ok(podpy("port", "web", "8080")).strip() == f"0.0.0.0:{tcp}"
    assert connect_read(tcp) == b"hello-tcp\n"
    doc = json.loads(ok(podpy("inspect", "web")))[0]  # Podman's shapes for the published ports
    assert doc["HostConfig"]["PortBindings"]["8080/tcp"] == [{"HostIp": "", "HostPort": str(tcp)}]
    assert doc["NetworkSettings"]["Ports"]["5353/udp"] == [{"HostIp": "127.0.0.1", "HostPort": str(udp)}]
    assert doc["NetworkSettings"]["SandboxKey"].endswith(doc["Id"])
    ports = ok(podpy("ps", "--format", "{{.Ports}}", "--filter", "name=web")).strip().split(", ")
    assert f"0.0.0.0:{tcp}->8080/tcp" in ports and f"127.0.0.1:{udp}->5353/udp" in ports, ports
    assert f"0.0.0.0:{tcp}->8080/tcp" in ok(podpy("ps"))  # the table's PORTS column, as podman
    listed = json.loads(ok(podpy("ps", "--format", "json")))[0]["Ports"]
    assert {"host_ip": "", "container_port": 8080, "host_port": tcp, "range": 1, "protocol": "tcp"} in listed
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u, pytest.raises(OSError):
        u.bind(("127.0.0.1", udp))  # slirp4netns holds the udp port (busybox has no udp server to answer)
    ok(podpy("stop", "-t", "0", "web"))
    assert wait_clean(podpy_root.runroot) == ([], [])
    # started again: a new namespace and helper, the same ports
    ok(podpy("start", "web"))
    assert connect_read(tcp) == b"hello-tcp\n"
    ok(podpy("rm", "-f", "-t", "0", "web"))
    assert leftovers(podpy_root.runroot) == ([], [])


def test_publish_range_and_foreground_run(podpy, podpy_root) -> None:  # type: ignore[no-untyped-def]
    base = free_port()
    while not port_free(base + 1):
        base = free_port()
    cmd = "for p in 7000 7001; do (echo port-$p | nc -l -p $p &); done; sleep 3"
    proc = subprocess.Popen([*podpy_cli_argv(podpy_root), "run", "--rm", "-p", f"{base}-{base + 1}:7000-7001", IMG,
                             "sh", "-c", cmd], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert connect_read(base) == b"port-7000\n"
        assert connect_read(base + 1) == b"port-7001\n"
    finally:
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert leftovers(podpy_root.runroot) == ([], [])


def podpy_cli_argv(podpy_root) -> list[str]:  # type: ignore[no-untyped-def]
    from tests.conftest import _podpy_command

    return [*_podpy_command(), *podpy_root.args]


def test_publish_all_exposed_ports(podpy, testenv) -> None:  # type: ignore[no-untyped-def]
    arch = testenv["archives"]["layered-docker-archive"]
    ok(podpy("load", "-i", arch["path"]))
    ref = arch["name"]
    ok(podpy("create", "--name", "pa", "-P", "-p", "18999:8080", ref))
    lines = sorted(ok(podpy("port", "pa")).splitlines())
    assert lines[0] == "5353/udp -> 0.0.0.0:" + lines[0].rsplit(":", 1)[1] and lines[1] == "8080/tcp -> 0.0.0.0:18999"
    assert len(lines) == 2  # -p for an exposed port wins over -P's random one


def test_expose_adds_ports_publish_all_publishes(podpy) -> None:  # type: ignore[no-untyped-def]
    ok(podpy("create", "--name", "ex", "--expose", "8080", "--expose", "9000-9001/udp", "-P", IMG, "true"))
    got = sorted(ln.split(" -> ")[0] for ln in ok(podpy("port", "ex")).splitlines())
    assert got == ["8080/tcp", "9000/udp", "9001/udp"]
    ok(podpy("create", "--name", "ex2", "--expose", "80", IMG, "true"))  # without -P: nothing published
    assert ok(podpy("port", "ex2")) == ""
    r = podpy("create", "--expose", "abc", IMG, "true")
    assert (r.returncode, r.stderr) == (125, "Error: invalid range format for --expose: abc: use PORT[-PORT][/tcp|/udp]\n")


# --- reaching the host -----------------------------------------------------------------------------------


def test_host_loopback_and_host_containers_internal(podpy, http_server) -> None:  # type: ignore[no-untyped-def]
    port = http_server("127.0.0.1")
    get = f"wget -q -O- http://10.0.2.2:{port}/ 2>&1"
    r = podpy("run", "--rm", "--network", "slirp4netns:allow_host_loopback=true", IMG, "sh", "-c", get)
    assert ok(r) == "from-host"
    r = podpy("run", "--rm", IMG, "sh", "-c", get)  # default: --disable-host-loopback
    assert "Network is unreachable" in r.stdout
    # host.containers.internal is the host's own address (Podman 4.3 rootless): a server bound to it answers
    port = http_server(host_ip())
    r = podpy("run", "--rm", IMG, "wget", "-q", "-O-", f"http://host.containers.internal:{port}/")
    assert ok(r) == "from-host"


# --- pasta, container:, ns: ------------------------------------------------------------------------------


def test_pasta_per_container_and_as_default(podpy, podpy_root) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    ok(podpy("run", "-d", "--name", "pz", "--network", "pasta", "-p", f"127.0.0.1:{port}:8080", IMG, "sh", "-c",
             "while true; do echo via-pasta | nc -l -p 8080; done"))  # fmt: skip
    assert connect_read(port) == b"via-pasta\n"
    port6 = free_port()
    ok(podpy("run", "-d", "--name", "pz6", "--network", "pasta", "-p", f"[::1]:{port6}:8080", IMG, "sh", "-c",
             "while true; do echo via-pasta6 | nc -l -p 8080; done"))  # fmt: skip
    assert connect_read(port6, host="::1") == b"via-pasta6\n"
    ok(podpy("rm", "-f", "-t", "0", "pz6"))
    assert ok(podpy("inspect", "--format", "{{.HostConfig.NetworkMode}}", "pz")).strip() == "pasta"
    ok(podpy("rm", "-f", "-t", "0", "pz"))
    assert leftovers(podpy_root.runroot) == ([], [])
    conf = podpy_root.config_home / "containers"
    conf.mkdir(parents=True, exist_ok=True)
    (conf / "containers.conf").write_text('[network]\ndefault_rootless_network_cmd = "pasta"\n')
    out = ok(podpy("run", "--rm", IMG, "sh", "-c", "ip -o -4 addr | grep -v ' lo ' | tr -s ' ' | cut -d' ' -f4"))
    assert out.strip().split("/")[0] == host_ip()  # pasta copies the host's address
    assert wait_clean(podpy_root.runroot) == ([], [])


def test_container_and_ns_modes_share_a_namespace(podpy, podpy_root) -> None:  # type: ignore[no-untyped-def]
    cid = ok(podpy("run", "-d", "--name", "holder", IMG, "sh", "-c",
                   "while true; do echo from-holder | nc -l -p 7070; done")).strip()  # fmt: skip
    get = "for i in 1 2 3 4 5 6 7 8 9 10; do nc 127.0.0.1 7070 && break; sleep 0.2; done"
    out = ok(podpy("run", "--rm", "--network", "container:holder", IMG, "sh", "-c", get))
    assert out == "from-holder\n"
    ns = podpy_root.runroot / "netns" / f"netns-{cid}"
    out = ok(podpy("run", "--rm", "--network", f"ns:{ns}", IMG, "sh", "-c", get))
    assert out == "from-holder\n"
    ok(podpy("stop", "-t", "0", "holder"))
    r = podpy("run", "--rm", "--network", "container:holder", IMG, "true")
    assert r.returncode == 125 and "cannot join the network namespace of container holder: it is not running" in r.stderr


# --- nothing leaks ---------------------------------------------------------------------------------------


def test_no_leak_after_kill_9(podpy, podpy_root) -> None:  # type: ignore[no-untyped-def]
    def inspect(name: str, field: str) -> int:
        return int(ok(podpy("inspect", "--format", "{{.State." + field + "}}", name)).strip())

    ok(podpy("run", "-d", "--name", "k1", IMG, "sleep", "100"))
    os.kill(inspect("k1", "Pid"), 9)  # the container: its monitor cleans up
    assert wait_clean(podpy_root.runroot) == ([], [])
    ok(podpy("run", "-d", "--name", "k2", IMG, "sleep", "100"))
    os.kill(inspect("k2", "ConmonPid"), 9)  # the monitor: the next command notices and cleans up
    time.sleep(0.2)
    assert "Exited" in ok(podpy("ps", "-a", "--filter", "name=k2", "--format", "{{.Status}}"))
    assert leftovers(podpy_root.runroot) == ([], [])
    proc = subprocess.Popen([*podpy_cli_argv(podpy_root), "run", "--name", "k3", IMG, "sleep", "100"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 20
    while leftovers(podpy_root.runroot)[0] == [] or "running" not in podpy("inspect", "--format", "{{.State.Status}}", "k3").stdout:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    proc.kill()  # the foreground CLI is the monitor
    proc.wait()
    ok(podpy("ps", "-a"))
    assert leftovers(podpy_root.runroot) == ([], [])
    # the network helper itself killed: the container runs on (unreachable), rm still cleans up
    ok(podpy("run", "-d", "--name", "k4", IMG, "sleep", "100"))
    (helper,) = leftovers(podpy_root.runroot)[0]
    helper_pid = next(int(p) for p in os.listdir("/proc") if p.isdigit() and _cmdline(p) == helper)
    os.kill(helper_pid, 9)
    assert "running" in ok(podpy("inspect", "--format", "{{.State.Status}}", "k4"))
    ok(podpy("rm", "-f", "-t", "0", "k4"))
    assert leftovers(podpy_root.runroot) == ([], [])


def _cmdline(pid: str) -> str:
    try:
        return " ".join(Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0"))
    except OSError:
        return ""


def test_parallel_containers_get_distinct_ports_and_all_answer(podpy, podpy_root) -> None:  # type: ignore[no-untyped-def]
    from concurrent.futures import ThreadPoolExecutor

    def start(i: int) -> str:
        return ok(podpy("run", "-d", "--name", f"par{i}", "-p", "127.0.0.1::8080", IMG, "sh", "-c",
                        f"while true; do echo par{i} | nc -l -p 8080; done"))  # fmt: skip

    with ThreadPoolExecutor(10) as pool:
        list(pool.map(start, range(10)))
    ports = {i: int(ok(podpy("port", f"par{i}", "8080")).strip().rsplit(":", 1)[1]) for i in range(10)}
    assert len(set(ports.values())) == 10
    for i, port in ports.items():
        assert connect_read(port) == f"par{i}\n".encode()
    ok(podpy("rm", "-f", "-a", "-t", "0"))
    assert leftovers(podpy_root.runroot) == ([], [])


# --- bad input ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, msg",
    [
        (["--network", "foo"], "unable to find network with name or ID foo: network not found"),
        (["--network", "foo:bar"], "unknown network option 'bar' for foo"),  # bridge networks: tests/system/networks
        (["--network", "slirp4netns:foo=bar"], 'unknown option for slirp4netns: "foo=bar"'),
        (["--network", "slirp4netns:mtu=abc"], 'invalid mtu "abc"'),
        (["--network", "ns:/nonexist"], "cannot find specified network namespace path: stat /nonexist: no such file or directory"),
        (["--network", "container:nonexist"], 'looking up container to share net namespace with: no container with name or ID "nonexist" found'),
        (["-p", "abc"], 'parsing container port: invalid port number: strconv.Atoi: parsing "abc": invalid syntax'),
        (["-p", "8080:80/xyz"], 'unrecognized protocol "xyz" in port mapping'),
        (["-p", "70000:80"], "port numbers must be between 1 and 65535 (inclusive), got 70000"),
        (["-p", "1:2:3:4"], "invalid port format - format is [[hostIP:]hostPort:]containerPort"),
        (["-p", "8000-8002:80-81"], "host and container port ranges have different lengths: 3 vs 2"),
        (["-p", "300.1.1.1:18080:80"], 'cannot parse "300.1.1.1" as an IP address'),
        (["-p", "80:80"], "cannot expose privileged port 80, you can add 'net.ipv4.ip_unprivileged_port_start=80' to /etc/sysctl.conf"),
        (["--dns", "1.2.3"], "1.2.3 is not an ip address"),
        (["-p", "[::1]:18090:80/udp"], "slirp4netns cannot publish ports on IPv6 host addresses: use --network pasta"),
        (["--add-host", "foo"], 'bad format for add-host: "foo"'),
        (["--add-host", "foo:bar"], 'invalid IP address in add-host: "bar"'),
        (["--network", "none", "--dns", "1.1.1.1"], "conflicting options: dns and the network mode: none"),
        (["--no-hosts", "--add-host", "a:1.1.1.1"], "--no-hosts and --add-host cannot be set together"),
    ],
)
def test_bad_input(podpy, args: list[str], msg: str) -> None:  # type: ignore[no-untyped-def]
    r = podpy("run", "--rm", *args, IMG, "true")
    assert r.returncode == 125, r.stderr
    assert msg in r.stderr
    assert ok(podpy("ps", "-a", "-q")) == ""  # refused before anything was created


def test_port_in_use_fails_before_the_container_starts(podpy, podpy_root) -> None:  # type: ignore[no-untyped-def]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = podpy("run", "--name", "inuse", "-p", f"127.0.0.1:{port}:80", IMG, "sh", "-c", "echo started")
        assert r.returncode == 125 and r.stdout == ""
        assert f"listen tcp 127.0.0.1:{port}: bind: address already in use" in r.stderr
        assert ok(podpy("ps", "-a", "--format", "{{.Names}} {{.Status}}")).strip() == "inuse Created"  # as Podman
        r = podpy("run", "--rm", "-p", f"{port}:80", IMG, "true")  # all addresses include 127.0.0.1
        assert r.returncode == 125 and "address already in use" in r.stderr
        r = podpy("run", "-d", "--rm", "-p", f"127.0.0.1:{port}:80", IMG, "true", timeout=60)  # under the lock
        assert r.returncode == 125 and "address already in use" in r.stderr
    assert ok(podpy("ps", "-a", "-q")).count("\n") == 1  # the --rm one is gone
    assert leftovers(podpy_root.runroot) == ([], [])


def test_ports_discarded_with_none_and_host(podpy) -> None:  # type: ignore[no-untyped-def]
    r = podpy("create", "--name", "nn", "--network", "none", "-p", "8080:80", IMG)
    assert r.returncode == 0 and "Port mappings have been discarded" in r.stderr
    assert ok(podpy("port", "nn")) == ""


def test_failed_create_leaves_no_network_namespace(podpy, podpy_root) -> None:  # type: ignore[no-untyped-def]
    """``run`` makes the namespace while it creates the container: a create that fails after that
    (here: an unknown user, found only in the mounted rootfs) removes it."""
    for args in (["-d"], []):
        r = podpy("run", *args, "--user", "nosuchuser", IMG, "true")
        assert r.returncode != 0 and "unable to find user nosuchuser" in r.stderr
    assert ok(podpy("ps", "-a", "-q")) == ""
    assert leftovers(podpy_root.runroot) == ([], [])


def test_helper_missing_names_the_package(podpy, podpy_root) -> None:  # type: ignore[no-untyped-def]
    venv_bin = os.path.dirname(podpy_cli_argv(podpy_root)[0])
    for net, pkg in (("slirp4netns", "slirp4netns"), ("pasta", "passt")):
        r = podpy("run", "--rm", "--network", net, IMG, "true", env={"PATH": venv_bin})
        assert r.returncode == 125
        assert f'could not find {net}, the network namespace can\'t be configured' in r.stderr
        assert f"install the {pkg} package" in r.stderr
    assert ok(podpy("ps", "-a", "-q")) == ""
    assert leftovers(podpy_root.runroot) == ([], [])


def test_containers_conf_dns_and_base_hosts(podpy, podpy_root, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    base = tmp_path / "hosts"
    base.write_text("# mine\n10.9.9.9 printer\n")
    conf = podpy_root.config_home / "containers"
    conf.mkdir(parents=True, exist_ok=True)
    (conf / "containers.conf").write_text(
        f'[containers]\nbase_hosts_file = "{base}"\ndns_servers = ["192.0.2.53"]\ndns_searches = ["lab.example"]\n'
    )
    out = ok(podpy("run", "--rm", "--name", "cc", "-h", "cc", IMG, "sh", "-c", "cat /etc/hosts /etc/resolv.conf"))
    assert out == (f"10.9.9.9\tprinter\n127.0.0.1\tlocalhost\n::1\tlocalhost\n{host_ip()}\thost.containers.internal\n"
                   "10.0.2.100\tcc cc\nsearch lab.example\nnameserver 192.0.2.53\n")  # fmt: skip
    out = ok(podpy("run", "--rm", "--dns", "192.0.2.54", IMG, "cat", "/etc/resolv.conf"))  # config, then flags
    assert out == "search lab.example\nnameserver 192.0.2.53\nnameserver 192.0.2.54\n"


def test_runc_joins_the_same_namespace(podpy, podpy_root) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    ok(podpy("run", "-d", "--runtime", "runc", "--name", "rc", "-p", f"127.0.0.1:{port}:8080", IMG, "sh", "-c",
             "while true; do echo via-runc | nc -l -p 8080; done"))  # fmt: skip
    assert connect_read(port) == b"via-runc\n"
    ok(podpy("rm", "-f", "-t", "0", "rc"))
    assert leftovers(podpy_root.runroot) == ([], [])
