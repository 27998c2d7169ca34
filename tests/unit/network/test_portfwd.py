"""podpy's port forwarder without a namespace: its command line, and the copying between two
connections (splice through a pipe, half-close passed on, an error ending both directions)."""

from __future__ import annotations

import os
import socket
import struct
import threading

import pytest

from podpy.network import portfwd


def test_command_line_round_trip() -> None:
    argv = portfwd.argv("/usr/bin/python3", "/run/x/netns/netns-abc", "10.0.2.100", [(5, 8080), (6, 9000)])
    assert argv[:4] == ["/usr/bin/python3", "-S", "-E", "-c"]
    assert "/run/x/netns/netns-abc" in argv and portfwd.WORD in argv  # what helper.serves and cleanups look for
    assert portfwd.parse_args(argv[6:]) == ("/run/x/netns/netns-abc", "10.0.2.100", [(5, 8080), (6, 9000)])


@pytest.mark.parametrize("args", [[], ["other", "/ns", "10.0.2.100", "3:80"], [portfwd.WORD, "/ns", "10.0.2.100"],
                                  [portfwd.WORD, "/ns", "10.0.2.100", "3"], [portfwd.WORD, "/ns", "ip", "x:80"],
                                  [portfwd.WORD, "/ns", "ip", "3:70000"]])  # fmt: skip
def test_bad_command_lines(args: list[str]) -> None:
    with pytest.raises(ValueError):
        portfwd.parse_args(args)


def tcp_pair() -> tuple[socket.socket, socket.socket]:
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        a = socket.create_connection(srv.getsockname())
        b, _ = srv.accept()
    return a, b


def read_all(s: socket.socket) -> bytes:
    out = bytearray()
    while chunk := s.recv(1 << 16):
        out += chunk
    return bytes(out)


def forwarding(client: socket.socket, ctr: socket.socket) -> threading.Thread:
    t = threading.Thread(target=portfwd._both_ways, args=(client, ctr), daemon=True)
    t.start()
    return t


def test_both_ways_intact_with_half_close() -> None:
    user, client = tcp_pair()  # user -> [client | forwarder | ctr] -> server
    ctr, server = tcp_pair()
    t = forwarding(client, ctr)
    data = os.urandom(3 << 20)
    sender = threading.Thread(target=lambda: (user.sendall(data), user.shutdown(socket.SHUT_WR)))
    sender.start()
    assert read_all(server) == data  # the user's EOF reached the server as EOF
    sender.join()
    reply = os.urandom(1 << 20)
    server.sendall(reply)  # the other direction still open after the half-close
    server.close()
    assert read_all(user) == reply
    t.join(30)
    assert not t.is_alive() and client.fileno() == -1 and ctr.fileno() == -1  # both closed once both are done
    user.close()


def test_a_reset_ends_both_directions() -> None:
    user, client = tcp_pair()
    ctr, server = tcp_pair()
    t = forwarding(client, ctr)
    user.sendall(b"hello")
    assert server.recv(5) == b"hello"
    user.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    user.close()  # RST: the forwarder's splice from it fails; the direction blocked on the server ends too
    t.join(30)
    assert not t.is_alive()
    assert read_all(server) == b""
    server.close()
