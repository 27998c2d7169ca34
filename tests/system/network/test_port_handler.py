"""Published TCP ports through podpy's forwarder, Podman's default ``port_handler=rootlesskit``
(``podpy.network.portfwd``), and through slirp4netns itself with ``port_handler=slirp4netns``. What the
container sees as its peer is what podman 4.3 shows on this machine (10.0.2.100 with rootlessport,
10.0.2.2 through slirp4netns). All traffic stays on loopback.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time

from tests.system.conftest import BUSYBOX as IMG
from tests.system.network.test_network import (
    connect_read,
    free_port,
    helpers,
    leftovers,
    ok,
    port_free,
    wait_clean,
)

ECHO = "while true; do nc -l -p 8080 -e /bin/cat; done"  # one connection at a time, echoed back


def echo_conn(port: int, host: str = "127.0.0.1", timeout: float = 15) -> socket.socket:
    """A connection to the container's echo server (retried until it listens: a connection the
    container refuses is closed by the forwarder)."""
    deadline = time.monotonic() + timeout
    while True:
        s = socket.create_connection((host, port), timeout=10)
        try:
            s.sendall(b"x")
            if s.recv(1) == b"x":
                return s
        except OSError:
            pass
        s.close()
        assert time.monotonic() < deadline, f"no echo on {host}:{port}"
        time.sleep(0.1)


def round_trip(s: socket.socket, size: int) -> bool:
    """``size`` random bytes sent, the user's half-close passed on; the echo back intact."""
    data, got = os.urandom(size), bytearray()

    def read() -> None:
        while chunk := s.recv(1 << 16):
            got.extend(chunk)

    reader = threading.Thread(target=read)
    reader.start()
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    reader.join()
    s.close()
    return bytes(got) == data


def listenable(port: int) -> bool:
    """Nothing listens on ``port`` any more (connections in TIME_WAIT may remain, as podpy binds)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("0.0.0.0", port))
            s.listen()
        except OSError:
            return False
    return True


def peers(podpy, name: str, port: int = 8080) -> list[str]:  # type: ignore[no-untyped-def]
    """The remote addresses of the container's established connections to ``port`` (IPv4-mapped
    shown as IPv4: busybox nc listens on ::)."""
    out = ok(podpy("exec", name, "netstat", "-tn"))
    return [f[4].rsplit(":", 1)[0].removeprefix("::ffff:") for f in (ln.split() for ln in out.splitlines())
            if len(f) > 5 and f[5] == "ESTABLISHED" and f[3].endswith(f":{port}")]  # fmt: skip


def forwarders(runroot) -> list[int]:  # type: ignore[no-untyped-def]
    return [pid for pid, argv in helpers(runroot).items() if "podpy-portfwd" in argv]


def test_default_forwarder(podpy, podpy_root) -> None:  # type: ignore[no-untyped-def]
    port, port6, base = free_port(), free_port(), free_port()
    while not port_free(base + 1):
        base = free_port()
    script = f"for p in 8000 8001; do (while true; do echo port-$p | nc -l -p $p; done &); done; {ECHO}"
    ok(podpy("run", "-d", "--name", "fw", "-p", f"{port}:8080", "-p", f"[::1]:{port6}:8080",
             "-p", f"{base}-{base + 1}:8000-8001", IMG, "sh", "-c", script))  # fmt: skip
    assert sorted(ok(podpy("port", "fw")).splitlines()) == sorted([
        f"8080/tcp -> 0.0.0.0:{port}", f"8080/tcp -> ::1:{port6}",
        f"8000/tcp -> 0.0.0.0:{base}", f"8001/tcp -> 0.0.0.0:{base + 1}"])  # fmt: skip
    assert len(forwarders(podpy_root.runroot)) == 1  # one forwarder for all the container's TCP ports
    s = echo_conn(port)
    assert peers(podpy, "fw") == ["10.0.2.100"]  # as with podman's rootlessport
    assert round_trip(s, 4 << 20)  # a few MiB both ways, intact
    assert round_trip(echo_conn(port6, "::1"), 1 << 20)  # an IPv6 host address
    assert round_trip(echo_conn(port, "::1"), 1000)  # no host IP: every address, IPv6 too (as podman)
    assert connect_read(base) == b"port-8000\n" and connect_read(base + 1) == b"port-8001\n"
    ok(podpy("stop", "-t", "0", "fw"))
    assert wait_clean(podpy_root.runroot) == ([], [])
    assert listenable(port) and listenable(base)
    ok(podpy("start", "fw"))  # started again: a new forwarder on the same ports
    assert round_trip(echo_conn(port), 1000)
    # the forwarder killed: the container runs on, rm still cleans up
    (fwd,) = forwarders(podpy_root.runroot)
    os.kill(fwd, signal.SIGKILL)
    assert "running" in ok(podpy("inspect", "--format", "{{.State.Status}}", "fw"))
    ok(podpy("rm", "-f", "-t", "0", "fw"))
    assert leftovers(podpy_root.runroot) == ([], [])


def test_port_handler_slirp4netns(podpy, podpy_root) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    ok(podpy("run", "-d", "--name", "sl", "--network", "slirp4netns:port_handler=slirp4netns",
             "-p", f"127.0.0.1:{port}:8080", IMG, "sh", "-c", ECHO))  # fmt: skip
    s = echo_conn(port)
    assert peers(podpy, "sl") == ["10.0.2.2"]  # slirp4netns' own forwarding: the peer is the gateway
    assert forwarders(podpy_root.runroot) == []
    assert round_trip(s, 1 << 20)
    ok(podpy("rm", "-f", "-t", "0", "sl"))
    assert leftovers(podpy_root.runroot) == ([], [])


def test_port_in_use_leaves_nothing(podpy, podpy_root) -> None:  # type: ignore[no-untyped-def]
    free = free_port()
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        busy = held.getsockname()[1]
        r = podpy("run", "-d", "--name", "busy", "-p", f"{free}:80", "-p", f"{busy}:81", IMG, "sleep", "100")
        assert r.returncode == 125, r.stderr
        assert f"cannot publish port {busy}/tcp: listen tcp 0.0.0.0:{busy}: bind: address already in use" in r.stderr
    assert "Created" in ok(podpy("ps", "-a", "--format", "{{.Status}}", "--filter", "name=busy"))
    assert leftovers(podpy_root.runroot) == ([], []) and listenable(free)  # the port bound first is let go


def test_pod_ports_reach_a_member(podpy, podpy_root) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    ok(podpy("pod", "create", "--name", "pp", "-p", f"{port}:8080"))
    ok(podpy("run", "-d", "--pod", "pp", "--name", "member", IMG, "sh", "-c", ECHO))
    assert round_trip(echo_conn(port), 1 << 20)
    assert len(forwarders(podpy_root.runroot)) == 1
    ok(podpy("pod", "rm", "-f", "-t", "0", "pp"))
    assert wait_clean(podpy_root.runroot) == ([], [])
