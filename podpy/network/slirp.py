"""slirp4netns for one container: the command line rootless Podman uses, readiness, port forwards.

``slirp4netns --configure --mtu=65520 --disable-host-loopback --enable-sandbox --enable-seccomp
--enable-ipv6 -r FD --api-socket SOCK --netns-type=path NETNS tap0``: it configures ``tap0`` in
the namespace (10.0.2.100/24, gateway 10.0.2.2, DNS 10.0.2.3), writes ``1`` on the ready fd, and
serves JSON requests on the API socket; ``add_hostfwd`` binds a host port and forwards it to the
container (Podman's ``port_handler=slirp4netns``; with the default ``port_handler=rootlesskit``
only UDP ports: TCP goes through ``podpy.network.portfwd``).
"""

from __future__ import annotations

import contextlib
import json
import os

from podpy.network import helper
from podpy.util.errors import PodpyError

DEFAULT_CIDR = "10.0.2.0/24"
READY_TIMEOUT = 10.0


DEFAULT_ADDRESSES = {"ip": "10.0.2.100", "gateway": "10.0.2.2", "dns": "10.0.2.3", "prefix": "24"}


def addresses(opts: dict[str, str]) -> dict[str, str]:
    """The container's address, the gateway (the host) and the DNS forwarder for the options' cidr."""
    if not opts.get("cidr"):
        return dict(DEFAULT_ADDRESSES)  # DEFAULT_CIDR's, without importing ipaddress (``run``'s start-up)
    import ipaddress

    net = ipaddress.IPv4Network(opts["cidr"], strict=False)
    base = net.network_address
    return {"ip": str(base + 100), "gateway": str(base + 2), "dns": str(base + 3), "prefix": str(net.prefixlen)}


def argv(binary: str, opts: dict[str, str], netns: str, api_socket: str, ready_fd: int) -> list[str]:
    out = [binary, "--configure", f"--mtu={opts.get('mtu') or 65520}"]
    if opts.get("allow_host_loopback") != "true":
        out.append("--disable-host-loopback")
    out += ["--enable-sandbox", "--enable-seccomp"]
    if opts.get("enable_ipv6", "true") == "true":
        out.append("--enable-ipv6")
    if opts.get("cidr"):
        out.append(f"--cidr={opts['cidr']}")
    if opts.get("outbound_addr"):
        out.append(f"--outbound-addr={opts['outbound_addr']}")
    if opts.get("outbound_addr6"):
        out.append(f"--outbound-addr6={opts['outbound_addr6']}")
    return out + ["-r", str(ready_fd), "--api-socket", api_socket, "--netns-type=path", netns, "tap0"]


def start(binary: str, opts: dict[str, str], netns: str, api_socket: str, log_path: str) -> int:
    """Start slirp4netns on ``netns`` and wait until it configured the interface; its pid."""
    pid, ready = spawn(binary, opts, netns, api_socket, log_path)
    wait_ready(pid, ready, netns, log_path)
    return pid


def spawn(binary: str, opts: dict[str, str], netns: str, api_socket: str, log_path: str) -> tuple[int, int]:
    """Start slirp4netns on ``netns``: (its pid, the fd ``wait_ready`` reads), so the caller can do
    other work (the runtime creating the container) while it configures the interface."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(api_socket)
    r, w = os.pipe()
    try:
        pid = helper.spawn(argv(binary, opts, netns, api_socket, w), log_path=log_path, pass_fds=(w,))
    except BaseException:
        os.close(r)
        raise
    finally:
        os.close(w)
    return pid, r


def wait_ready(pid: int, r: int, netns: str, log_path: str) -> None:
    """Wait (and close ``r``) until slirp4netns says the interface is up; its log's error if it fails."""
    ready, data = helper.read_ready(r, READY_TIMEOUT)
    if data != b"1":
        helper.stop(pid, netns)
        why = helper.log_tail(log_path) or ("no answer" if not ready else "it exited")
        hint = ""
        if "/dev/net/tun" in why:
            hint = f": as root run `chmod 0666 {helper.TUN}`"
        raise PodpyError(f"slirp4netns failed: {why}{hint}")


def api(api_socket: str, request: dict[str, object]) -> dict[str, object]:
    """One request on the API socket (one connection each, as slirp4netns expects)."""
    import socket  # only for port forwards through slirp4netns itself: not on ``run``'s usual path

    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        try:
            s.connect(api_socket)
            s.sendall(json.dumps(request).encode())
            s.shutdown(socket.SHUT_WR)
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        except OSError as e:
            raise PodpyError(f"slirp4netns API {api_socket}: {e.strerror or e}") from None
    try:
        reply = json.loads(data or b"{}")
    except ValueError:
        raise PodpyError(f"slirp4netns API: unreadable reply {data[:200]!r}") from None
    return reply if isinstance(reply, dict) else {}


def add_hostfwd(api_socket: str, port: dict[str, object], guest_ip: str) -> None:
    args = {"proto": port["protocol"], "host_addr": port.get("host_ip") or "0.0.0.0",
            "host_port": port["host_port"], "guest_addr": guest_ip, "guest_port": port["container_port"]}  # fmt: skip
    reply = api(api_socket, {"execute": "add_hostfwd", "arguments": args})
    if "error" in reply:
        err = reply["error"]
        desc = err.get("desc") if isinstance(err, dict) else err
        raise PodpyError(f"from slirp4netns while setting up port redirection: {desc}")
