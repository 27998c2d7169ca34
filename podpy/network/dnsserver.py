"""The DNS responder of user-defined networks (what aardvark-dns is to netavark), stdlib only.

One process, the rootless network namespace's holder (``podpy.network.rootlessns``), serves every
network with DNS enabled: a UDP socket per network on its gateway address, port 53. A query for a
container name, a ``--network-alias`` or a short ID on that network (bare or under ``dns.podman``)
is answered with the container's A records; ``dns.podman`` names that do not exist get NXDOMAIN;
everything else is forwarded to the network's ``--dns`` servers or the namespace's upstream resolver
(slirp4netns's forwarder, which uses the host's resolvers) and the reply relayed.

The records live in one JSON file the engine rewrites atomically whenever a container joins or
leaves a network; the responder re-reads it when its inode changes (checked before each answer and
once a second), and exits when the file is gone: the file is the holder's lease.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import socket
import struct
import time
from typing import Any

SUFFIX = "dns.podman"
TTL = 60
TYPE_A, TYPE_AAAA, TYPE_ANY = 1, 28, 255
RCODE_SERVFAIL, RCODE_NXDOMAIN = 2, 3
FORWARD_TIMEOUT = 5.0
IP_FREEBIND = 15


class BadPacket(ValueError):
    pass


# --- packets -------------------------------------------------------------------------------------


def parse_query(data: bytes) -> tuple[int, int, str, int, int]:
    """(id, flags, qname, qtype, question end offset) of a standard query with one question."""
    if len(data) < 12:
        raise BadPacket("short header")
    qid, flags, qd = struct.unpack("!HHH", data[:6])
    if flags & 0x8000 or qd != 1:
        raise BadPacket("not a single-question query")
    labels, off = [], 12
    while True:
        if off >= len(data):
            raise BadPacket("truncated name")
        n = data[off]
        off += 1
        if n == 0:
            break
        if n & 0xC0 or off + n > len(data):
            raise BadPacket("bad label")
        labels.append(data[off : off + n].decode("ascii", "replace"))
        off += n
    if off + 4 > len(data):
        raise BadPacket("truncated question")
    qtype, _qclass = struct.unpack("!HH", data[off : off + 4])
    return qid, flags, ".".join(labels).lower(), qtype, off + 4


def build_query(name: str, qtype: int = TYPE_A, qid: int = 0x1234) -> bytes:
    """A recursive query (for tests and for checking the responder)."""
    q = b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split(".") if p) + b"\0"
    return struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + q + struct.pack("!HH", qtype, 1)


def build_reply(query: bytes, qend: int, ips: list[str], rcode: int = 0) -> bytes:
    """The answer to ``query``: its question echoed, one A record per address, authoritative."""
    qid, flags = struct.unpack("!HH", query[:4])
    out_flags = 0x8000 | (flags & 0x7900) | 0x0400 | 0x0080 | rcode  # QR, opcode+RD kept, AA, RA
    head = struct.pack("!HHHHHH", qid, out_flags, 1, len(ips), 0, 0)
    answers = b"".join(struct.pack("!HHHIH", 0xC00C, TYPE_A, 1, TTL, 4) + socket.inet_aton(ip) for ip in ips)
    return head + query[12:qend] + answers


def parse_reply(data: bytes) -> tuple[int, list[str]]:
    """(rcode, A addresses) of a reply: enough for tests and for ``podpy`` to check a responder."""
    _, flags, qd, an = struct.unpack("!HHHH", data[:8])
    off = 12
    for _ in range(qd):
        off = _skip_name(data, off) + 4
    ips = []
    for _ in range(an):
        off = _skip_name(data, off)
        rtype, _, _, rdlen = struct.unpack("!HHIH", data[off : off + 10])
        off += 10
        if rtype == TYPE_A and rdlen == 4:
            ips.append(socket.inet_ntoa(data[off : off + 4]))
        off += rdlen
    return flags & 0xF, ips


def _skip_name(data: bytes, off: int) -> int:
    while True:
        n = data[off]
        if n & 0xC0 == 0xC0:
            return off + 2
        off += 1 + n
        if n == 0:
            return off


# --- records -------------------------------------------------------------------------------------


def answer(names: dict[str, list[str]], qname: str, qtype: int) -> tuple[int, list[str]] | None:
    """(rcode, addresses) for a name this network knows, None when the query is to be forwarded."""
    name = qname.rstrip(".").lower()
    if name == SUFFIX or name.endswith("." + SUFFIX):
        base = name[: -len(SUFFIX) - 1] if name != SUFFIX else ""
        ips = names.get(base)
        if ips is None:
            return RCODE_NXDOMAIN, []
    else:
        ips = names.get(name)
        if ips is None:
            return None
    return 0, (list(ips) if qtype in (TYPE_A, TYPE_ANY) else [])  # AAAA: none (IPv4 networks), NOERROR


class Responder:
    """The select loop: listening sockets per network, queries in flight to upstream servers."""

    port = 53  # tests use a high port
    tick = 1.0  # how often the records file is checked without queries (its removal ends the loop)

    def __init__(self, records_path: str, ctl: socket.socket | None = None,
                 handlers: dict[str, Any] | None = None) -> None:  # fmt: skip
        self.path = records_path
        self.ctl = ctl  # a listening unix socket: each connection asks for a reload and waits for "ok"
        self.handlers = handlers or {}  # other requests on it: {"op": NAME, ...} -> handler(request) -> error text
        self.stamp: tuple[int, int] | None = None
        self.networks: dict[str, dict[str, Any]] = {}
        self.upstream: list[str] = []
        self.listeners: dict[str, socket.socket] = {}  # gateway -> socket
        self.by_fd: dict[int, str] = {}  # listener fd -> network name
        self.pending: dict[int, tuple[socket.socket, socket.socket, Any, bytes, float]] = {}

    def reload(self) -> bool:
        """Re-read the records when the file changed; False when it is gone (time to exit)."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return False
        stamp = (st.st_ino, st.st_mtime_ns)
        if stamp == self.stamp:
            return True
        try:
            with open(self.path) as f:
                data = json.load(f)
        except (OSError, ValueError):
            return True
        self.stamp = stamp
        self.upstream = [str(s) for s in data.get("upstream") or []]
        self.networks = {n: v for n, v in (data.get("networks") or {}).items() if v.get("gateway")}
        want = {v["gateway"]: n for n, v in self.networks.items()}
        for gw in list(self.listeners):
            if gw not in want:
                s = self.listeners.pop(gw)
                self.by_fd.pop(s.fileno(), None)
                s.close()
        for gw, name in want.items():
            if gw not in self.listeners:
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.setsockopt(socket.SOL_IP, IP_FREEBIND, 1)  # the bridge may get its address just after
                try:
                    s.bind((gw, self.port))
                except OSError:
                    s.close()
                    continue
                self.listeners[gw] = s
            self.by_fd[self.listeners[gw].fileno()] = name
        return True

    def handle(self, sock: socket.socket, network: str, data: bytes, client: Any) -> None:
        try:
            _, _, qname, qtype, qend = parse_query(data)
        except (BadPacket, struct.error, IndexError):
            return
        net = self.networks.get(network) or {}
        got = answer(net.get("names") or {}, qname, qtype)
        if got is not None:
            sock.sendto(build_reply(data, qend, got[1], got[0]), client)
            return
        servers = [s for s in (net.get("upstream") or self.upstream) if s]
        if not servers:
            sock.sendto(build_reply(data, qend, [], RCODE_SERVFAIL), client)
            return
        up = socket.socket(socket.AF_INET6 if ":" in servers[0] else socket.AF_INET, socket.SOCK_DGRAM)
        try:
            host, _, port = servers[0].partition("#")  # "IP#PORT": a resolver on another port (tests)
            up.connect((host, int(port or 53)))
            up.send(data)
        except OSError:
            up.close()
            sock.sendto(build_reply(data, qend, [], RCODE_SERVFAIL), client)
            return
        self.pending[up.fileno()] = (up, sock, client, data[:qend], time.monotonic() + FORWARD_TIMEOUT)

    def relay(self, fd: int) -> None:
        up, sock, client, _, _ = self.pending.pop(fd)
        with contextlib.suppress(OSError):
            sock.sendto(up.recv(65535), client)
        up.close()

    def expire(self) -> None:
        now = time.monotonic()
        for fd, (up, sock, client, q, deadline) in list(self.pending.items()):
            if now > deadline:
                del self.pending[fd]
                up.close()
                with contextlib.suppress(OSError):
                    sock.sendto(build_reply(q, len(q), [], RCODE_SERVFAIL), client)

    def acknowledge(self) -> None:
        """A control connection: reload now (the engine waits so a starting container is answered)."""
        try:
            conn, _ = self.ctl.accept()  # type: ignore[union-attr]
        except OSError:
            return
        with conn:
            conn.settimeout(5.0)
            with contextlib.suppress(OSError):
                data = b""
                while len(data) < 1 << 20 and (chunk := conn.recv(65536)):
                    data += chunk
                if data == b"reload":
                    self.reload()
                    conn.sendall(b"ok")
                    return
                try:
                    req = json.loads(data)
                    err = self.handlers[req["op"]](req)
                except Exception as e:  # noqa: BLE001 - the requester gets it
                    err = f"{type(e).__name__}: {e}"
                conn.sendall(b"E" + str(err).encode(errors="replace") if err else b"ok")

    def serve(self, stop_after: float | None = None) -> None:
        """Until the records file is removed (or ``stop_after`` seconds, for tests)."""
        end = None if stop_after is None else time.monotonic() + stop_after
        while self.reload():
            if end is not None and time.monotonic() > end:
                return
            fds = list(self.by_fd) + list(self.pending) + ([self.ctl.fileno()] if self.ctl else [])
            try:
                ready, _, _ = select.select(fds, [], [], self.tick)
            except (OSError, ValueError):
                ready = []
            for fd in ready:
                if self.ctl is not None and fd == self.ctl.fileno():
                    self.acknowledge()
                    continue
                if fd in self.pending:
                    self.relay(fd)
                    continue
                network = self.by_fd.get(fd)
                sock = next((s for s in self.listeners.values() if s.fileno() == fd), None)
                if sock is None or network is None:
                    continue
                try:
                    data, client = sock.recvfrom(4096)
                except OSError:
                    continue
                self.reload()  # a container that just joined is answered by its first query
                self.handle(sock, self.by_fd.get(fd, network), data, client)
            self.expire()


def write_records(path: str, upstream: list[str], networks: dict[str, dict[str, Any]]) -> None:
    """The file the responder serves: {"upstream": [...], "networks": {name: {gateway, upstream, names}}}."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump({"upstream": upstream, "networks": networks}, f)
    os.rename(tmp, path)


def control_socket(path: str) -> socket.socket:
    """The holder's control socket (bound before it reports ready)."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.listen(8)
    return s


def request(path: str, data: bytes, timeout: float = 3.0) -> bytes | None:
    """One request on the control socket ``path``: the reply ("ok" or "E" + error), None when nobody answers."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        try:
            s.connect(path)
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            reply = b""
            while chunk := s.recv(65536):
                reply += chunk
            return reply or None
        except OSError:
            return None


def notify(path: str, timeout: float = 3.0) -> bool:
    """Ask the responder behind control socket ``path`` to reload and wait until it did; False: none there."""
    return request(path, b"reload", timeout) == b"ok"
