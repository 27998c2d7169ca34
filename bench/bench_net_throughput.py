#!/usr/bin/env python3
"""Bulk TCP through a published port (issue 5): host -> container, podpy beside podman.

Each run starts (untimed) a container on the default rootless network (slirp4netns on both sides)
publishing a free host port to busybox `nc -l -p 8080 > /dev/null`; the timed command sends
--mib MiB to 127.0.0.1:PORT and waits until nc closes the connection, i.e. everything arrived.
Both sides use their default port handler: podman's rootlessport (`port_handler=rootlesskit`) and
podpy's forwarder (podpy.network.portfwd, the same design: accept on the host, connect from inside
the container's namespace, splice): the bytes do not cross slirp4netns' user-mode TCP stack.
Target: podpy's time <= podman's (ratio <= 1.0, the same throughput or better); MB/s is reported.
"""

from __future__ import annotations

import argparse
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import BenchError, Benchmark, Side, common_args, main  # noqa: E402

# The timed sender: connect, send N MiB, half-close, read until the container's nc closes.
SENDER = (
    "import socket,sys\n"
    "port,mib=int(sys.argv[1]),int(sys.argv[2])\n"
    "s=socket.create_connection(('127.0.0.1',port),timeout=120)\n"
    "buf=bytes(1<<20)\n"
    "for _ in range(mib): s.sendall(buf)\n"
    "s.shutdown(socket.SHUT_WR)\n"
    "while s.recv(65536): pass\n"
)
CTR = "nettp"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_listening(side: Side, port: int) -> None:
    """The container's first nc says "ready" once it listens; a connect alone proves nothing (the
    network helper accepts on the host before it knows whether anything listens in the container)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as s:
            s.settimeout(1)
            try:
                s.connect(("127.0.0.1", port))
                if s.recv(16).startswith(b"ready"):
                    return
            except OSError:
                pass
        time.sleep(0.05)
    raise BenchError(f"{side.name}: port {port} never answered")


def run_benchmarks(args: argparse.Namespace) -> list[Benchmark]:
    img, mib = args.image, args.mib
    ports: dict[str, int] = {}

    def pull(side: Side) -> None:
        if not side.dummy:
            side.run("pull", "--tls-verify=false", img, timeout=300)

    def setup(side: Side, _i: int) -> None:
        if side.dummy:
            return
        ports[side.name] = port = _free_port()
        # the first nc serves the readiness probe; the second counts what the timed sender sends
        script = "echo ready | nc -l -p 8080 > /dev/null; nc -l -p 8080 | wc -c > /tmp/count; sleep 1000"
        side.run("run", "-d", "--name", CTR, "-p", f"{port}:8080", img, "sh", "-c", script)
        _wait_listening(side, port)
        time.sleep(0.3)  # let the second nc listen before the timed connection arrives

    def teardown(side: Side, _i: int) -> None:
        if side.dummy:
            return
        got, deadline = "", time.monotonic() + 10
        while got != str(mib << 20) and time.monotonic() < deadline:  # wc writes once nc has ended
            got = side.run("exec", CTR, "cat", "/tmp/count", check=False).stdout.strip()
            time.sleep(0.05)
        side.run("rm", "-f", "-t", "0", CTR)
        if got != str(mib << 20):
            raise BenchError(f"{side.name}: the container received {got or 'nothing'} bytes, not {mib << 20}")

    def argv(side: Side) -> list[str]:
        return [sys.executable, "-c", SENDER, str(ports.get(side.name, 1)), str(mib)]

    return [
        Benchmark(
            name="tcp-in",
            description=f"{mib} MiB host -> container through -p (slirp4netns, default port handler), {img}",
            argv=argv,
            target=1.0,
            setup_once=pull,
            setup=setup,
            teardown=teardown,
            warmup=1,
            timeout=300,
        ),
    ]


if __name__ == "__main__":
    ap = common_args(__doc__.splitlines()[0])
    ap.add_argument("--image", default="127.0.0.1:5000/busybox:latest", help="image to run")
    ap.add_argument("--mib", type=int, default=1024, help="MiB to send per run (default 1024 = 1 GiB)")
    ns, _ = ap.parse_known_args()
    for res in main(ap, run_benchmarks):
        for side in ("podpy", "podman"):
            wall = res.median(side)
            if wall:
                print(f"{res.bench.name} {side}: {ns.mib * 1.048576 / wall:.0f} MB/s")
