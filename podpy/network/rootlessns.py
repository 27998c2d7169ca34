"""The shared rootless network namespace of user-defined networks (Podman's "rootless-netns").

A small holder process (``python -E``) unshares a network namespace of its own inside
podpy's user namespace and keeps it alive; it is also the DNS responder of every network
(``podpy.network.dnsserver``), and it exits when its records file is removed. slirp4netns attaches
that namespace to the outside (``tap0``, 10.0.2.100, the host's resolvers behind 10.0.2.3), the
bridges and the host ends of the containers' veth pairs live in it, and iptables (nf_tables) in it
masquerades the networks' traffic out through ``tap0`` and DNATs published ports to containers.

The namespace is reached as ``/proc/HOLDER/ns/net``: nothing is mounted, so nothing can leak once the
holder and slirp4netns are stopped.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys

from podpy.network import helper
from podpy.network.netns import in_netns
from podpy.util import syscalls
from podpy.util.errors import PodpyError

TAP_IP = "10.0.2.100"  # slirp4netns's guest address: where published ports arrive
SLIRP_DNS = "10.0.2.3"
READY_TIMEOUT = 10.0
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_BOOT = "import sys;sys.path.insert(0,sys.argv.pop(1));from podpy.network.rootlessns import holder_main;holder_main(sys.argv[1:])"


def holder_main(argv: list[str]) -> None:
    """The holder: new network namespace, ``lo`` up, forwarding on, ready byte, then the DNS loop."""
    records, ready_fd = argv[0], int(argv[1])
    from podpy.network.dnsserver import Responder, control_socket

    try:
        ctl = control_socket(ctl_path(records))
        syscalls.get().unshare(syscalls.CLONE_NEWNET)
        from podpy.network.netns import _loopback_up

        _loopback_up()
        with open("/proc/sys/net/ipv4/ip_forward", "w") as f:
            f.write("1")
        os.write(ready_fd, b"1")
        with contextlib.suppress(ImportError):
            import pyroute2  # noqa: F401 - warm for ``attach`` requests (while the starter starts slirp4netns)
    except BaseException as e:  # noqa: BLE001 - reported to the starter on the ready pipe
        with contextlib.suppress(OSError):
            os.write(ready_fd, f"E{e}".encode(errors="replace")[:2000])
        os._exit(1)
    os.close(ready_fd)
    Responder(records, ctl, handlers={"attach": _attach_request}).serve()
    with contextlib.suppress(OSError):
        os.unlink(ctl_path(records))


def ctl_path(records: str) -> str:
    return records + ".sock"


def _attach_request(req: dict[str, object]) -> str:
    """In the holder: a forked child (pyroute2 already imported) connects a container; its error or ""."""
    from podpy.network import bridge

    try:
        in_netns("", lambda: bridge.attach_here(str(req["ctr_ns"]), list(req["links"])))  # type: ignore[call-overload]
    except PodpyError as e:
        return e.message
    return ""


def ns_path(pid: int) -> str:
    return f"/proc/{pid}/ns/net"


def holder_alive(pid: int, records: str) -> bool:
    return pid > 0 and helper.serves(pid, records)


def start_holder(records: str, log_path: str) -> int:
    """Start the holder (the records file must exist) and wait until its namespace is ready."""
    r, w = os.pipe()
    try:
        pid = helper.spawn([sys.executable, "-E", "-c", _BOOT, _ROOT, records, str(w)],
                           log_path=log_path, pass_fds=(w,))  # fmt: skip
    finally:
        os.close(w)
    _, data = helper.read_ready(r, READY_TIMEOUT, 2000)
    if data != b"1":
        helper.stop(pid, records)
        why = data[1:].decode(errors="replace") if data.startswith(b"E") else helper.log_tail(log_path) or "no answer"
        raise PodpyError(f"starting the rootless network namespace: {why}")
    return pid




def iptables_binary() -> str:
    for name in ("iptables-nft-restore", "iptables-restore"):
        path = shutil.which(name) or (f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None)
        if path:
            return path
    raise PodpyError(
        "iptables-restore not found: user-defined networks need iptables (nf_tables) to route containers "
        "out through the rootless network namespace: install the iptables package (apt-get install iptables)"
    )


def iptables(path: str, rules: dict[str, list[str]]) -> None:
    """Apply ``rules`` ({table: ["-A CHAIN ...", "-D CHAIN ..."]}) in one ``iptables-restore --noflush``
    run inside the namespace at ``path``; deletions of rules that are gone are dropped first."""
    if not any(rules.values()):
        return
    binary = iptables_binary()
    text = "".join(f"*{t}\n" + "".join(f"{r}\n" for r in rs) + "COMMIT\n" for t, rs in rules.items() if rs)

    def apply() -> None:
        import subprocess

        p = subprocess.run([binary, "--noflush"], input=text.encode(), capture_output=True, check=False)
        if p.returncode == 0:
            return
        deletions = [(t, r) for t, rs in rules.items() for r in rs if r.startswith("-D ")]
        if len(deletions) != sum(map(len, rules.values())):
            raise PodpyError(f"iptables-restore in the rootless network namespace: {p.stderr.decode(errors='replace').strip()}")
        for t, r in deletions:  # some were gone already: delete the others one by one
            subprocess.run([binary, "--noflush"], input=f"*{t}\n{r}\nCOMMIT\n".encode(), capture_output=True, check=False)

    in_netns(path, apply)
