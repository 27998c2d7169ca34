"""podpy's port forwarder (``podpy.network.portfwd``, Podman's ``port_handler=rootlesskit``) against the
real kernel: host port -> a connection made from inside a slirp4netns namespace to 10.0.2.100.

Runs inside podpy's user + mount namespace (``podpy unshare``), as podpy itself runs it.
"""

from __future__ import annotations

from pathlib import Path

from tests.integration.network.test_network_helpers import free_port, nsdir, run_inside

__all__ = ["nsdir"]  # the fixture, shared


def test_forwarder_connects_from_inside_and_survives_refusals(podpy_cli, nsdir: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    ns, flog = nsdir / "netns-f", nsdir / "f.portfwd.log"
    out = run_inside(podpy_cli, tmp_path, f"""
        from podpy.network import portfwd
        ns, port = {str(ns)!r}, {port}
        netns.create(ns)
        spid = slirp.start(helper.find("slirp4netns"), {{}}, ns, {str(nsdir / 'f.sock')!r}, {str(nsdir / 'f.log')!r})
        lsock = socket.socket()
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lsock.bind(("127.0.0.1", port))
        lsock.listen(16)
        fpid = portfwd.start(ns, "10.0.2.100", [(lsock, 8080)], {str(flog)!r})
        lsock.close()  # the forwarder has its own copy
        with socket.create_connection(("127.0.0.1", port), timeout=5) as c:  # nothing listens inside yet
            out["refused"] = c.recv(10).decode()
        out["serves"] = helper.serves(fpid, ns) and {{spid, fpid}} <= set(helper.all_serving(ns))  # (and slirp4netns' short-lived child)
        listen_inside(ns, 8080, b"inside-")
        out["reply"] = fetch(port)  # the forwarder carried on after the refusal
        helper.stop(fpid, ns)
        helper.stop(spid, ns)
        out["stopped"] = helper.all_serving(ns) == []
        netns.remove(ns)
    """)
    # the container sees its peer as its own address, as with Podman's rootlessport
    assert out == {"serves": True, "refused": "", "reply": "inside-10.0.2.100", "stopped": True}
    assert flog.read_text() == ""  # a refused connection is routine, not logged


def test_forwarder_without_its_namespace_says_so_and_exits(podpy_cli, nsdir: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    flog = nsdir / "g.portfwd.log"
    out = run_inside(podpy_cli, tmp_path, f"""
        from podpy.network import portfwd
        os.makedirs({str(nsdir)!r}, exist_ok=True)
        lsock = socket.socket()
        lsock.bind(("127.0.0.1", 0))
        lsock.listen()
        pid = portfwd.start("/nonexistent/netns", "10.0.2.100", [(lsock, 80)], {str(flog)!r})
        lsock.close()
        out["status"] = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    """)
    assert out == {"status": 1}
    assert flog.read_text().startswith("podpy-portfwd: /nonexistent/netns: [Errno 2]")
