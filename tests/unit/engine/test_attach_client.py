"""The attach client's pieces without a container: detach-key matching, the relay loop against a
SEQPACKET peer speaking the monitor's framing, and ``wait --condition`` validation."""

from __future__ import annotations

import os
import socket

import pytest

from podpy.engine import attach
from podpy.monitor import attach as proto
from podpy.util.errors import UsageError


@pytest.mark.parametrize(
    "chunks, forwarded, detached",
    [
        ([b"abc"], b"abc", False),
        ([b"ab\x10\x11cd"], b"ab", True),  # the whole sequence in one read (a paste) detaches too
        ([b"\x10", b"\x11"], b"", True),  # one key per read, as typed
        ([b"\x10x"], b"\x10x", False),  # a partial match is input after all
        ([b"\x10"], b"", False),  # held back until the next byte says what it is
        ([b"\x10\x10\x11"], b"\x10", True),
    ],
)
def test_detach_keys(chunks: list[bytes], forwarded: bytes, detached: bool) -> None:
    k = attach.DetachKeys(b"\x10\x11")
    out, det = b"", False
    for c in chunks:
        o, det = k.feed(c)
        out += o
        if det:
            break
    assert (out, det) == (forwarded, detached)


def test_detach_keys_disabled_and_spec() -> None:
    assert attach.DetachKeys(b"").feed(b"\x10\x11") == (b"\x10\x11", False)
    assert attach.detach_bytes(None) == b"\x10\x11"
    assert attach.detach_bytes("") == b""
    assert attach.detach_bytes("ctrl-x,y") == b"\x18y"
    with pytest.raises(UsageError, match="invalid detach keys"):
        attach.detach_bytes("ctrl-zz")


def _session(stdin: bool, keys: bytes = b"\x10\x11") -> tuple[attach.Session, socket.socket, int, int, int]:
    ours, monitor = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    client = proto.AttachClient.__new__(proto.AttachClient)
    client.sock = ours
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    s = attach.Session(client=client, ctl_path="/nonexistent/ctl", monitor_pid=0, terminal=False, stdin=stdin,
                       keys=keys, sig_proxy=False, stdin_fd=in_r,
                       out_fds={proto.STDOUT: out_w, proto.STDERR: err_w})  # fmt: skip
    return s, monitor, in_w, out_r, err_r


def test_relay_until_the_container_ends() -> None:
    s, monitor, in_w, out_r, err_r = _session(stdin=True)
    os.write(in_w, b"input\n")
    os.close(in_w)  # our EOF: the client shuts down its sending side (the container's stdin ends)
    for pkt in proto.frame(proto.STDOUT, b"out\n") + proto.frame(proto.STDERR, b"err\n"):
        monitor.send(pkt)
    monitor.shutdown(socket.SHUT_WR)  # the monitor closes the socket once the container exited
    assert attach.relay(s) == "exited"
    assert monitor.recv(100) == b"input\n" and monitor.recv(100) == b""
    assert os.read(out_r, 100) == b"out\n" and os.read(err_r, 100) == b"err\n"


def test_relay_detaches_and_leaves_the_rest() -> None:
    s, monitor, in_w, _out_r, _err_r = _session(stdin=True)
    os.write(in_w, b"ls\n\x10\x11more")
    assert attach.relay(s) == "detached"
    assert monitor.recv(100) == b"ls\n"
    monitor.setblocking(False)
    with pytest.raises(BlockingIOError):
        monitor.recv(100)  # nothing after the keys was sent, and the container's stdin was not ended


def test_wait_conditions_validated() -> None:
    from podpy.engine import containers

    assert containers.check_conditions([]) == {"stopped"}
    assert containers.check_conditions(["running", "healthy"]) == {"running", "healthy"}
    with pytest.raises(UsageError, match="unknown container state: bogus: invalid argument"):
        containers.check_conditions(["exited", "bogus"])
