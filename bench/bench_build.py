#!/usr/bin/env python3
"""`build` of a 5-step Containerfile (issue 6): re-run with a warm layer cache, and cold (`--no-cache`).

Targets: warm ≤ 0.5 × podman's median wall time, cold ≤ 1.0 ×. The base image is pulled once, untimed,
on both sides (a cold build here means every step runs again, not a pull). Every timed build must exit 0
and leave the tag pointing at an image whose command prints what the Containerfile wrote.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import BenchError, Benchmark, Side, common_args, main  # noqa: E402

CONTAINERFILE = """\
FROM {image}
ENV GREETING=hello
COPY data /data
RUN for i in $(seq 200); do echo "$GREETING $i" > /data/f$i; done
CMD ["cat", "/data/f7"]
"""


def _context(side: Side, image: str) -> Path:
    ctx = side.base / "build-context"
    (ctx / "data").mkdir(parents=True, exist_ok=True)
    for i in range(50):
        (ctx / "data" / f"in{i}.txt").write_text(f"input {i}\n" * 100)
    (ctx / "Containerfile").write_text(CONTAINERFILE.format(image=image))
    return ctx


def run_benchmarks(args: argparse.Namespace) -> list[Benchmark]:
    img = args.image

    def prepare(side: Side, warm: bool) -> None:
        if side.dummy:
            return
        side.run("pull", "--tls-verify=false", img, timeout=300)
        ctx = _context(side, img)
        if warm:
            side.run("build", "-q", "-t", "bench-build:warm", str(ctx), timeout=300)

    def check(tag: str):  # noqa: ANN202 - a closure per benchmark
        def check_one(side: Side, res: subprocess.CompletedProcess) -> None:
            if side.dummy:
                return
            if res.returncode != 0:
                raise BenchError(f"{side.name}: build exited {res.returncode}: {res.stderr[-400:]}")
            out = side.run("run", "--rm", "--network", "none", tag).stdout
            if out != "hello 7\n":
                raise BenchError(f"{side.name}: the built image printed {out!r}, not 'hello 7'")

        return check_one

    def build(tag: str, *extra: str):  # noqa: ANN202
        return lambda side: side.cmd("build", "-q", *extra, "-t", tag, str(side.base / "build-context"))

    return [
        Benchmark(
            name="build-warm",
            description="build -t T CTX (5 steps, every one cached)",
            argv=build("bench-build:warm"),
            target=0.5,
            setup_once=lambda side: prepare(side, True),
            check=check("bench-build:warm"),
            warmup=1,
        ),
        Benchmark(
            name="build-cold",
            description="build --no-cache -t T CTX (5 steps, base image present)",
            argv=build("bench-build:cold", "--no-cache"),
            target=1.0,
            setup_once=lambda side: prepare(side, False),
            check=check("bench-build:cold"),
            warmup=1,
        ),
    ]


if __name__ == "__main__":
    ap = common_args(__doc__.splitlines()[0])
    ap.add_argument("--image", default="127.0.0.1:5000/busybox:latest", help="the FROM image")
    main(ap, run_benchmarks)
