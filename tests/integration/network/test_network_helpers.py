"""podpy.network against the real kernel and helpers: a network namespace pinned by a bind mount,
slirp4netns and pasta attached to it, port forwards, and teardown that leaves nothing behind.

The code runs inside podpy's user + mount namespace (``podpy unshare python SCRIPT``), where podpy
itself runs it; traffic stays on loopback.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TREE

PRELUDE = textwrap.dedent(
    f"""
    import json, os, socket, sys, time
    sys.path.insert(0, {str(TREE)!r})
    from podpy.network import helper, netns, pasta, slirp
    from podpy.util import syscalls
    from podpy.util.errors import PodpyError
    out = {{}}

    def listen_inside(ns, port, reply):
        # a one-shot TCP server inside the namespace: fork, setns, serve one connection
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                syscalls.get().setns_path(ns, syscalls.CLONE_NEWNET)
                s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind(("0.0.0.0", port)); s.listen(1); os.write(w, b"1")
                c, peer = s.accept(); c.sendall(reply + peer[0].encode()); c.close()
            finally:
                os._exit(0)
        os.read(r, 1)
        return pid

    def fetch(port):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
            return c.recv(200).decode()
    """
)


def run_inside(podpy_cli, tmp_path: Path, body: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    script = tmp_path / "net.py"
    script.write_text(PRELUDE + textwrap.dedent(body) + "\nprint(json.dumps(out))\n")
    r = podpy_cli("unshare", sys.executable, str(script))
    assert r.returncode == 0, r.stderr + r.stdout
    result: dict[str, Any] = json.loads(r.stdout.strip().splitlines()[-1])
    return result


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def nsdir(podpy_root) -> Path:  # type: ignore[no-untyped-def]
    """Where podpy keeps network namespaces (the runroot), so the fixture's cleanup removes them."""
    return Path(podpy_root.runroot) / "netns"


def test_netns_pinned_then_removed(podpy_cli, podpy_root, nsdir: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ns = nsdir / "netns-a"
    out = run_inside(podpy_cli, tmp_path, f"""
        ns = {str(ns)!r}
        netns.create(ns)
        out["mounted"] = netns.is_mounted(ns)
        out["differs"] = os.stat(ns).st_ino != os.stat("/proc/self/ns/net").st_ino
        pid = os.fork()
        if pid == 0:
            syscalls.get().setns_path(ns, syscalls.CLONE_NEWNET)
            os._exit(0 if open("/proc/net/dev").read().count(":") == 1 else 3)  # lo only
        out["lo_only"] = os.waitpid(pid, 0)[1] == 0
        netns.remove(ns)
        out["gone"] = not os.path.exists(ns)
        netns.remove(ns)  # twice: nothing to do
    """)
    assert out == {"mounted": True, "differs": True, "lo_only": True, "gone": True}


def test_slirp4netns_forwards_and_stops(podpy_cli, podpy_root, nsdir: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    ns = nsdir / "netns-b"
    out = run_inside(podpy_cli, tmp_path, f"""
        ns, sock, log = {str(ns)!r}, {str(nsdir / 'b.sock')!r}, {str(nsdir / 'b.log')!r}
        netns.create(ns)
        pid = slirp.start(helper.find("slirp4netns"), {{}}, ns, sock, log)
        out["serves"] = helper.serves(pid, ns) and helper.find_serving(ns) == pid
        listen_inside(ns, 8080, b"inside-")
        fwd = {{"protocol": "tcp", "host_ip": "127.0.0.1", "host_port": {port}, "container_port": 8080}}
        slirp.add_hostfwd(sock, fwd, "10.0.2.100")
        out["reply"] = fetch({port})
        try:
            slirp.add_hostfwd(sock, fwd, "10.0.2.100")
        except PodpyError as e:
            out["again"] = e.message
        helper.stop(pid, ns)
        out["stopped"] = not helper.serves(pid, ns)
        netns.remove(ns)
    """)
    assert out["serves"] and out["stopped"]
    assert out["reply"] == "inside-10.0.2.2"  # slirp4netns's port handler: the peer is the gateway
    assert out["again"] == "from slirp4netns while setting up port redirection: bad request: add_hostfwd: slirp_add_hostfwd failed"
    assert not (nsdir / "netns-b").exists()


def test_slirp4netns_failure_is_reported_and_leaves_nothing(podpy_cli, nsdir: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = run_inside(podpy_cli, tmp_path, f"""
        os.makedirs({str(nsdir)!r}, exist_ok=True)
        try:
            slirp.start(helper.find("slirp4netns"), {{}}, "/nonexistent/netns", {str(nsdir / 'c.sock')!r},
                        {str(nsdir / 'c.log')!r})
        except PodpyError as e:
            out["error"] = e.message
        out["left"] = [p for p in os.listdir("/proc") if p.isdigit() and helper.serves(int(p), "/nonexistent/netns")]
    """)
    assert out["error"] == "slirp4netns failed: existing path expected when --netns-type=path: No such file or directory"
    assert out["left"] == []


def test_pasta_forwards_and_stops(podpy_cli, nsdir: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    ns = nsdir / "netns-d"
    out = run_inside(podpy_cli, tmp_path, f"""
        ns = {str(ns)!r}
        netns.create(ns)
        listen_inside(ns, 8080, b"pasta-")
        ports = [{{"protocol": "tcp", "host_ip": "127.0.0.1", "host_port": {port}, "container_port": 8080}}]
        pid = pasta.start(helper.find("pasta"), [], ns, ports, {str(nsdir / 'd.pid')!r}, {str(nsdir / 'd.log')!r})
        out["serves"] = helper.serves(pid, ns)
        out["reply"] = fetch({port}).split("-")[0]
        helper.stop(pid, ns)
        out["stopped"] = not helper.serves(pid, ns)
        netns.remove(ns)
    """)
    assert out == {"serves": True, "reply": "pasta", "stopped": True}


def test_stop_never_signals_a_process_that_is_not_the_helper(podpy_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = run_inside(podpy_cli, tmp_path, """
        import subprocess
        p = subprocess.Popen(["sleep", "30"])
        helper.stop(p.pid, "/some/netns")  # a recycled pid: its command line names another namespace
        out["alive"] = p.poll() is None
        p.kill(); p.wait()
    """)
    assert out == {"alive": True}


def test_missing_helper_names_the_debian_package(monkeypatch: pytest.MonkeyPatch) -> None:
    from podpy.network import helper
    from podpy.util.errors import PodpyError

    monkeypatch.setenv("PATH", "/nonexistent")
    for name, pkg in (("slirp4netns", "slirp4netns"), ("pasta", "passt")):
        with pytest.raises(PodpyError) as e:
            helper.find(name)
        assert f"install the {pkg} package" in e.value.message
    assert os.access(helper.TUN, os.R_OK | os.W_OK)  # the test host is set up: check_tun passes
    helper.check_tun()
