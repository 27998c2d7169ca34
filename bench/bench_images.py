#!/usr/bin/env python3
"""`podpy images` against `podman images` with a few images (5 images, 2 big and 3 tiny) in each store.

Target (issue 2): podpy's median wall time <= podman's. The stores are filled once (untimed); every
timed run lists them, and the output is checked to name every image.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import add_image_args, prepare_images  # noqa: E402
from harness import BenchError, Benchmark, Side, common_args, main  # noqa: E402


def images_benchmarks(args: argparse.Namespace) -> list[Benchmark]:
    summary = prepare_images(args)
    refs = list(summary["refs"].values())

    def fill(side: Side) -> None:
        for ref in refs:
            side.run("pull", "--tls-verify=false", ref, timeout=300)

    def check(side: Side, res: subprocess.CompletedProcess) -> None:
        if side.dummy:
            return
        missing = [r for r in refs if r.rsplit(":", 1)[0] not in res.stdout]
        if missing:
            raise BenchError(f"{side.name} images does not list {missing}:\n{res.stdout}")

    return [
        Benchmark(
            name="images",
            description=f"list {len(refs)} images",
            argv=lambda side: side.cmd("images"),
            target=1.0,
            setup_once=fill,
            check=check,
            warmup=2,
            runs=max(args.runs, 15),
        )
    ]


if __name__ == "__main__":
    ap = common_args(__doc__.splitlines()[0])
    add_image_args(ap)
    main(ap, images_benchmarks, prepare=prepare_images)
