"""User-defined networks as a user types them: ``network create/ls/inspect/rm/prune/exists`` and containers
on them (names resolved by the networks' DNS responder, published ports, --internal, --ip, --mac-address),
with Podman 4.3's output shapes and messages. All traffic stays on this host: the rootless network
namespace is podpy's own, and the only outside address reached is this host's (host.containers.internal).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.system.conftest import BUSYBOX as IMG
from tests.system.network import test_network as _slirp_tests
from tests.system.network.test_network import connect_read as network_connect_read

http_server = _slirp_tests.http_server  # the host-side HTTP server fixture, shared

pytestmark = pytest.mark.rootless


def ok(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == 0, r.stderr
    return r.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def leftovers(runroot: Path) -> dict[str, list[str]]:
    """What may leak: the holder and slirp4netns of this runroot, network namespace files, attachments."""
    procs = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
        except OSError:
            continue
        if any(str(runroot) in a for a in argv) and ("holder_main" in " ".join(argv) or argv[0].endswith("slirp4netns")):
            procs.append(" ".join(argv))
    files = []
    for sub in ("netns", "networks/attach"):
        d = runroot / sub
        files += [f"{sub}/{f}" for f in (os.listdir(d) if d.exists() else [])]
    files += [f for f in ("networks/rootless-netns.json", "networks/aardvark.json") if (runroot / f).exists()]
    return {"procs": procs, "files": files}


def wait_clean(runroot: Path, timeout: float = 15) -> dict[str, list[str]]:
    deadline = time.monotonic() + timeout
    while (left := leftovers(runroot)) != {"procs": [], "files": []} and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def connect_read(port: int) -> bytes:
    """The container's httpd answer to ``GET /hostname`` through the published ``port``."""
    return network_connect_read(port, request=b"GET /hostname HTTP/1.0\r\n\r\n")


def test_network_commands(podpy) -> None:  # type: ignore[no-untyped-def]
    assert ok(podpy("network", "create")) == "podman1\n"
    assert ok(podpy("network", "create", "--subnet", "10.91.0.0/24", "--gateway", "10.91.0.254", "--ip-range",
                    "10.91.0.128/25", "--label", "a=b", "hw1")) == "hw1\n"  # fmt: skip
    assert ok(podpy("network", "create", "--internal", "--disable-dns", "hw2")) == "hw2\n"
    (doc,) = json.loads(ok(podpy("network", "inspect", "hw1")))
    assert list(doc) == ["name", "id", "driver", "network_interface", "created", "subnets", "ipv6_enabled",
                         "internal", "dns_enabled", "labels", "ipam_options"]  # fmt: skip
    assert doc["subnets"] == [{"subnet": "10.91.0.0/24", "gateway": "10.91.0.254",
                               "lease_range": {"start_ip": "10.91.0.129", "end_ip": "10.91.0.254"}}]  # fmt: skip
    assert (doc["driver"], doc["network_interface"], doc["dns_enabled"], doc["internal"], doc["labels"]) == (
        "bridge", "podman2", True, False, {"a": "b"})  # fmt: skip
    (dflt,) = json.loads(ok(podpy("network", "inspect", "podman")))
    assert (dflt["id"][:12], dflt["subnets"], dflt["dns_enabled"]) == (
        "2f259bab93aa", [{"subnet": "10.88.0.0/16", "gateway": "10.88.0.1"}], False)  # fmt: skip
    ls = ok(podpy("network", "ls")).splitlines()
    assert ls[0].split() == ["NETWORK", "ID", "NAME", "DRIVER"]
    assert [ln.split()[1:] for ln in ls[1:]] == [["hw1", "bridge"], ["hw2", "bridge"], ["podman", "bridge"], ["podman1", "bridge"]]
    assert ok(podpy("network", "ls", "-q", "--filter", "label=a=b")) == "hw1\n"
    assert ok(podpy("network", "ls", "--format", "{{.Name}} {{.Internal}} {{.Labels}}", "--filter", "name=hw")) == "hw1 false a=b\nhw2 true \n"
    assert len(ok(podpy("network", "ls", "--no-trunc", "--format", "{{.ID}}", "--filter", f"id={doc['id'][:6]}")).strip()) == 64
    assert [n["name"] for n in json.loads(ok(podpy("network", "ls", "--format", "json")))] == ["hw1", "hw2", "podman", "podman1"]
    # faults, with Podman's messages and exit codes
    r = podpy("network", "create", "hw1")
    assert (r.returncode, r.stderr) == (125, "Error: network name hw1 already used: network already exists\n")
    r = podpy("network", "create", "--subnet", "10.91.0.0/25", "x")
    assert (r.returncode, r.stderr) == (125, "Error: subnet 10.91.0.0/25 is already used on the host or by another config\n")
    r = podpy("network", "inspect", "nope")
    assert r.returncode == 125 and "unable to find network with name or ID nope: network not found" in r.stderr
    assert podpy("network", "exists", "nope").returncode == 1 and podpy("network", "exists", "hw1").returncode == 0
    r = podpy("network", "rm", "nope")
    assert (r.returncode, r.stderr) == (1, "Error: unable to find network with name or ID nope: network not found\n")
    r = podpy("run", "--rm", "--network", "nonexist", IMG, "true")
    assert (r.returncode, r.stderr) == (125, "Error: unable to find network with name or ID nonexist: network not found\n")
    r = podpy("network", "rm", "podman")
    assert (r.returncode, r.stderr) == (125, "Error: default network podman cannot be removed\n")
    ok(podpy("create", "--name", "user1", "--network", "hw2", IMG, "true"))
    r = podpy("network", "rm", "hw2")
    assert r.returncode == 2
    assert r.stderr.startswith('Error: "hw2" has associated containers with it. Use -f to forcibly delete containers and pods')
    assert "user1" in r.stderr
    assert ok(podpy("network", "prune", "-f")) == "hw1\npodman1\n"  # hw2 is in use
    assert ok(podpy("network", "rm", "-f", "hw2")) == "hw2\n"
    assert podpy("container", "exists", "user1").returncode == 1  # -f removed the container
    assert ok(podpy("network", "ls", "-q")) == "podman\n"


def test_containers_on_networks(podpy, podpy_root, http_server) -> None:  # type: ignore[no-untyped-def]
    ok(podpy("network", "create", "--subnet", "10.97.0.0/24", "app"))
    ok(podpy("network", "create", "--internal", "--subnet", "10.98.0.0/24", "closed"))
    port = free_port()
    ok(podpy("run", "-d", "--name", "web", "--network", "app", "--network-alias", "www", "-p", f"{port}:80",
             "--ip", "10.97.0.50", "--mac-address", "02:42:ac:11:00:05", IMG, "httpd", "-f", "-p", "80", "-h", "/etc"))  # fmt: skip
    short = ok(podpy("inspect", "--format", "{{.Id}}", "web"))[:12]
    # -p to a container on a network, from the host (httpd serves its /etc/hostname: the short ID)
    assert connect_read(port).endswith(short.encode())
    settings = json.loads(ok(podpy("inspect", "--format", "{{json .NetworkSettings}}", "web")))
    app = settings["Networks"]["app"]
    assert (app["IPAddress"], app["Gateway"], app["IPPrefixLen"], app["MacAddress"]) == ("10.97.0.50", "10.97.0.1", 24, "02:42:ac:11:00:05")
    assert app["Aliases"][1:] == ["www"] and settings["IPAddress"] == "10.97.0.50"
    assert ok(podpy("inspect", "--format", "{{.HostConfig.NetworkMode}}", "web")).strip() == "bridge"
    r = podpy("run", "--rm", "--name", "dup", "--network", "app", "--ip", "10.97.0.50", IMG, "true")
    web_id = ok(podpy("inspect", "--format", "{{.Id}}", "web")).strip()
    assert (r.returncode, r.stderr) == (125, f"Error: IPAM error: requested ip address 10.97.0.50 is already allocated to container ID {web_id}\n")
    assert podpy("container", "exists", "dup").returncode == 1  # --rm: gone, nothing left of it
    # a second container resolves the first by name and alias, and reaches it
    hostport = http_server(_host_ip())
    script = ("nslookup web | grep Address: | tail -1; nslookup www.dns.podman | grep Address: | tail -1; "
              "wget -q -O- http://www/hostname; echo; "
              f"cat /etc/resolv.conf; wget -q -O- http://host.containers.internal:{hostport}/; echo; "
              "ip -4 addr show eth0 | grep -o 'inet [0-9./]*'")  # fmt: skip
    out = ok(podpy("run", "--rm", "--network", "app", IMG, "sh", "-c", script))
    lines = out.splitlines()
    assert lines[:3] == ["Address: 10.97.0.50", "Address: 10.97.0.50", short], out  # by name, by alias
    assert lines[3:5] == ["search dns.podman", "nameserver 10.97.0.1"], out
    assert "from-host" in out and "inet 10.97.0.2/24" in out  # out through the rootless namespace; first free address
    # --internal: names still resolve, but there is no way out
    out = podpy("run", "--rm", "--network", "closed", IMG, "sh", "-c",
                f"ip route; wget -T 3 -q -O- http://host.containers.internal:{hostport}/ 2>&1; echo rc=$?").stdout  # fmt: skip
    assert "default" not in out and "from-host" not in out and "rc=1" in out, out
    # a container on both networks: one interface on each
    out = ok(podpy("run", "--rm", "--network", "app,closed", IMG, "sh", "-c", "ip -4 -o addr | grep -o '10.9[78].0.[0-9]*'"))
    assert sorted(out.split()) == ["10.97.0.2", "10.98.0.2"]
    # connect/disconnect a running container: the interface and its DNS names come and go
    ok(podpy("network", "connect", "--alias", "web-closed", "closed", "web"))
    out = ok(podpy("run", "--rm", "--network", "closed", IMG, "sh", "-c",
                   "nslookup web-closed | grep Address: | tail -1; wget -q -O- http://web/hostname"))  # fmt: skip
    assert out.splitlines() == ["Address: 10.98.0.2", short], out  # .2 went back to the pool when its user left
    r = podpy("network", "connect", "closed", "web")
    assert r.returncode == 125 and "is already connected to network closed" in r.stderr
    ok(podpy("network", "disconnect", "closed", "web"))
    assert "10.98" not in ok(podpy("exec", "web", "ip", "-4", "-o", "addr"))
    # in the rootless namespace only web's veth and its network's bridge are left (the others went with their users)
    holder = json.loads((podpy_root.runroot / "networks" / "rootless-netns.json").read_text())["holder"]
    links = ok(podpy("unshare", "nsenter", f"--net=/proc/{holder}/ns/net", "ip", "-o", "link"))
    names = sorted(ln.split(":")[1].strip().split("@")[0] for ln in links.splitlines())
    assert names == ["lo", "podman1", "tap0", f"veth{ok(podpy('inspect', '--format', '{{.Id}}', 'web'))[:8]}0"], links
    # --network bridge: Podman's default network, 10.88.0.0/16, without DNS
    out = ok(podpy("run", "--rm", "--network", "bridge", IMG, "sh", "-c", "ip -4 -o addr show eth0; cat /etc/resolv.conf"))
    assert "inet 10.88.0.2/16" in out and "dns.podman" not in out
    # in use -> refused; -f removes the container; then nothing of the rootless namespace is left
    r = podpy("network", "rm", "app")
    assert r.returncode == 2 and "web" in r.stderr
    assert ok(podpy("network", "rm", "-f", "-t", "0", "app")) == "app\n"
    assert wait_clean(podpy_root.runroot) == {"procs": [], "files": []}


def _host_ip() -> str:
    from podpy.engine.network import host_ip

    return host_ip()


def test_killed_holder_is_recovered(podpy, podpy_root) -> None:  # type: ignore[no-untyped-def]
    """Killing the rootless namespace's holder cuts running containers off; ``network reload`` (or the next
    container's start) brings the namespace back with their addresses and port forwards; rm cleans up."""
    ok(podpy("network", "create", "--subnet", "10.99.0.0/24", "re"))
    port = free_port()
    ok(podpy("run", "-d", "--name", "srv", "--network", "re", "-p", f"{port}:80", IMG, "httpd", "-f", "-p", "80", "-h", "/etc"))
    short = ok(podpy("inspect", "--format", "{{.Id}}", "srv"))[:12]
    assert connect_read(port).endswith(short.encode())
    state = json.loads((podpy_root.runroot / "networks" / "rootless-netns.json").read_text())
    os.kill(state["holder"], 9)
    assert ok(podpy("inspect", "--format", "{{.State.Status}} {{.NetworkSettings.IPAddress}}", "srv")) == "running 10.99.0.2\n"
    assert ok(podpy("network", "reload", "--all")).split() == [ok(podpy("inspect", "--format", "{{.Id}}", "srv")).strip()]
    assert connect_read(port).endswith(short.encode())
    out = ok(podpy("run", "--rm", "--network", "re", IMG, "wget", "-q", "-O-", "http://srv/hostname"))
    assert out == short
    ok(podpy("rm", "-f", "-t", "0", "srv"))
    assert wait_clean(podpy_root.runroot) == {"procs": [], "files": []}
