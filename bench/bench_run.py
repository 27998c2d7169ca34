#!/usr/bin/env python3
"""Foreground run: `run --rm --network none IMG true` (issue 3) and with the default network (issue 5).

Target: podpy <= 0.6 x podman's median wall time. Every timed run must exit 0 and leave no container
behind (`ps -aq` empty afterwards). The image comes from the test environment's registry
(127.0.0.1:5000, `--image` to change it).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import BenchError, Benchmark, Side, common_args, main  # noqa: E402


def run_benchmarks(args: argparse.Namespace) -> list[Benchmark]:
    img = args.image

    def pull(side: Side) -> None:
        if not side.dummy:
            side.run("pull", "--tls-verify=false", img, timeout=300)

    def check(side: Side, res: subprocess.CompletedProcess) -> None:
        if side.dummy:
            return
        if res.returncode != 0:
            raise BenchError(f"{side.name}: run exited {res.returncode}: {res.stderr}")
        left = side.run("ps", "-aq").stdout.split()
        if left:
            raise BenchError(f"{side.name}: run --rm left containers behind: {left}")

    return [
        Benchmark(
            name="run-rm",
            description=f"run --rm --network none {img} true",
            argv=lambda side: side.cmd("run", "--rm", "--network", "none", img, "true"),
            target=0.6,
            setup_once=pull,
            check=check,
            warmup=2,
        ),
        Benchmark(  # issue 5: the default rootless network (slirp4netns on both sides)
            name="run-rm-net",
            description=f"run --rm {img} true (default network: slirp4netns)",
            argv=lambda side: side.cmd("run", "--rm", img, "true"),
            target=0.6,
            setup_once=pull,
            check=check,
            warmup=2,
        ),
    ]


if __name__ == "__main__":
    ap = common_args(__doc__.splitlines()[0])
    ap.add_argument("--image", default="127.0.0.1:5000/busybox:latest", help="image to run")
    main(ap, run_benchmarks)
