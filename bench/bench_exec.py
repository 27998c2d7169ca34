#!/usr/bin/env python3
"""exec (issue 4): `exec CTR true` into a running container, podpy beside podman.

Target: podpy <= 0.6 x podman's median wall time. Each side runs its own `benchexec` container
(`sleep 1000`), created once before timing and removed afterwards; every timed exec must exit 0.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import BenchError, Benchmark, Side, common_args, main  # noqa: E402

NAME = "benchexec"


def exec_benchmarks(args: argparse.Namespace) -> list[Benchmark]:
    img = args.image

    def start(side: Side) -> None:
        if side.dummy:
            return
        side.run("pull", "--tls-verify=false", img, timeout=300)
        side.run("rm", "-f", "-t", "0", NAME, check=False)
        side.run("run", "-d", "--name", NAME, img, "sleep", "1000", timeout=60)

    def stop(side: Side, i: int) -> None:
        if not side.dummy and i == args.runs - 1:  # after the last timed run: no container outlives the bench
            side.run("rm", "-f", "-t", "0", NAME, check=False)

    def check(side: Side, res: subprocess.CompletedProcess) -> None:
        if not side.dummy and res.returncode != 0:
            raise BenchError(f"{side.name}: exec exited {res.returncode}: {res.stderr}")

    return [
        Benchmark(
            name="exec",
            description=f"exec {NAME} true (a running {img} container)",
            argv=lambda side: side.cmd("exec", NAME, "true"),
            target=0.6,
            setup_once=start,
            check=check,
            teardown=stop,
            warmup=2,
        ),
    ]


if __name__ == "__main__":
    ap = common_args(__doc__.splitlines()[0])
    ap.add_argument("--image", default="127.0.0.1:5000/busybox:latest", help="image to run")
    main(ap, exec_benchmarks)
