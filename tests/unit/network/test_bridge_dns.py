"""The networks' DNS responder (podpy.network.dnsserver): packets, records, forwarding, reloads."""

from __future__ import annotations

import socket
import struct
import threading
from pathlib import Path

import pytest

from podpy.network import dnsserver as d


def test_query_roundtrip_and_reply_shape() -> None:
    q = d.build_query("Web.dns.podman", d.TYPE_A, qid=0xBEEF)
    qid, flags, name, qtype, qend = d.parse_query(q)
    assert (qid, flags, name, qtype, qend) == (0xBEEF, 0x0100, "web.dns.podman", 1, len(q))
    r = d.build_reply(q, qend, ["10.89.0.2", "10.89.1.2"])
    rid, rflags, qd, an, ns, ar = struct.unpack("!HHHHHH", r[:12])
    assert (rid, qd, an, ns, ar) == (0xBEEF, 1, 2, 0, 0)
    assert rflags & 0x8000 and rflags & 0x0100 and rflags & 0x0400  # a response, RD echoed, authoritative
    assert r[12:qend] == q[12:]  # the question echoed
    assert d.parse_reply(r) == (0, ["10.89.0.2", "10.89.1.2"])
    assert d.parse_reply(d.build_reply(q, qend, [], d.RCODE_NXDOMAIN)) == (3, [])


@pytest.mark.parametrize("data", [b"", b"\x00" * 11, struct.pack("!HHHHHH", 1, 0x8000, 1, 0, 0, 0) + b"\0\0\1\0\1",
                                  struct.pack("!HHHHHH", 1, 0, 1, 0, 0, 0) + b"\x05ab", struct.pack("!HHHHHH", 1, 0, 1, 0, 0, 0) + b"\xc0\x0c\0\1\0\1"])  # fmt: skip
def test_bad_packets_are_refused(data: bytes) -> None:
    with pytest.raises(d.BadPacket):
        d.parse_query(data)


def test_answer_rules() -> None:
    names = {"web": ["10.89.0.2"], "www": ["10.89.0.2"]}
    assert d.answer(names, "web", d.TYPE_A) == (0, ["10.89.0.2"])
    assert d.answer(names, "WWW.dns.podman.", d.TYPE_A) == (0, ["10.89.0.2"])
    assert d.answer(names, "web", d.TYPE_AAAA) == (0, [])  # known name, no IPv6: NOERROR, no data
    assert d.answer(names, "nope.dns.podman", d.TYPE_A) == (d.RCODE_NXDOMAIN, [])
    assert d.answer(names, "example.com", d.TYPE_A) is None  # forwarded


def _ask(port: int, name: str, timeout: float = 3) -> tuple[int, list[str]]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(d.build_query(name), ("127.0.0.1", port))
        return d.parse_reply(s.recv(4096))


def test_responder_serves_forwards_and_reloads(tmp_path: Path) -> None:
    # a fake upstream resolver on loopback: answers everything with 192.0.2.7
    up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    up.bind(("127.0.0.1", 0))

    def upstream() -> None:
        data, addr = up.recvfrom(4096)
        _, _, _, _, qend = d.parse_query(data)
        up.sendto(d.build_reply(data, qend, ["192.0.2.7"]), addr)

    threading.Thread(target=upstream, daemon=True).start()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    records = str(tmp_path / "records.json")
    d.write_records(records, [f"127.0.0.1#{up.getsockname()[1]}"], {"n": {"gateway": "127.0.0.1", "names": {"web": ["10.89.0.2"]}}})
    ctl_path = str(tmp_path / "ctl.sock")
    r = d.Responder(records, d.control_socket(ctl_path))
    r.port, r.tick = port, 0.05
    t = threading.Thread(target=r.serve, kwargs={"stop_after": 20}, daemon=True)
    t.start()
    assert d.notify(ctl_path)  # loaded: it listens now
    assert _ask(port, "web") == (0, ["10.89.0.2"])
    assert _ask(port, "gone.dns.podman") == (3, [])
    assert _ask(port, "example.com") == (0, ["192.0.2.7"])  # forwarded and relayed
    d.write_records(records, [], {"n": {"gateway": "127.0.0.1", "names": {"db": ["10.89.0.3"]}}})
    assert d.notify(ctl_path)
    assert _ask(port, "db") == (0, ["10.89.0.3"])
    assert _ask(port, "web.dns.podman") == (3, [])
    assert _ask(port, "example.org")[0] == d.RCODE_SERVFAIL  # no upstream left
    Path(records).unlink()  # the lease: the responder stops
    t.join(5)
    assert not t.is_alive()
    up.close()
