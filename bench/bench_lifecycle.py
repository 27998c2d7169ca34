#!/usr/bin/env python3
"""Container lifecycle (issue 4): `run -d IMG sleep 1000` until the ID is printed, `ps -a` with many
containers, and the monitor's resident memory beside conmon's.

Targets: `run -d` <= 0.6 x podman's; `ps -a` with 200 containers <= 0.5 x podman's. Every timed
`run -d` must print a 64-hex ID and leave the container running; the monitor's RSS (podpy's monitor,
podman's conmon, from `container inspect {{.State.ConmonPid}}` and /proc) is reported as an extra
column. Both sides use `container run -d` (the same command in both tools). The image comes from the
test environment's registry (127.0.0.1:5000, `--image` to change it).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import BenchError, Benchmark, Side, common_args, main  # noqa: E402


def _rss_kb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return float(line.split()[1])
    except OSError:
        pass
    return 0.0


def lifecycle_benchmarks(args: argparse.Namespace) -> list[Benchmark]:
    img = args.image

    def pull(side: Side) -> None:
        if not side.dummy:
            side.run("pull", "--tls-verify=false", img, timeout=300)

    def clean(side: Side, _i: int = 0) -> None:
        if not side.dummy:
            side.run("rm", "-f", "-a", "-t", "0", check=False, timeout=300)

    def check_id(side: Side, res: subprocess.CompletedProcess) -> None:
        if not side.dummy and not re.fullmatch(r"[0-9a-f]{64}\n", res.stdout or ""):
            raise BenchError(f"{side.name}: run -d printed {res.stdout!r}")

    def monitor_rss(side: Side, _i: int) -> dict[str, float]:
        if side.dummy:
            return {}
        res = side.run("container", "inspect", "-l", "--format", "{{.State.ConmonPid}} {{.State.Status}}")
        pid, status = res.stdout.split()
        if status != "running":
            raise BenchError(f"{side.name}: the container is {status} after run -d")
        return {"monitor_rss_kb": _rss_kb(int(pid))}

    def fill(side: Side) -> None:
        pull(side)
        clean(side)
        if side.dummy:
            return
        for i in range(args.containers):
            side.run("create", "--name", f"ps{i}", img, "true")

    def check_ps(side: Side, res: subprocess.CompletedProcess) -> None:
        if not side.dummy and len(res.stdout.splitlines()) != args.containers + 1:
            raise BenchError(f"{side.name} ps -a listed {len(res.stdout.splitlines()) - 1} containers")

    return [
        Benchmark(
            name="run-d",
            description=f"container run -d {img} sleep 1000 (until the ID is printed)",
            argv=lambda side: side.cmd("container", "run", "-d", img, "sleep", "1000"),
            target=0.6,
            setup_once=pull,
            check=check_id,
            collect=monitor_rss,
            teardown=clean,
            warmup=2,
        ),
        Benchmark(
            name="ps-a",
            description=f"ps -a with {args.containers} created containers",
            argv=lambda side: side.cmd("ps", "-a"),
            target=0.5,
            setup_once=fill,
            check=check_ps,
            warmup=2,
        ),
    ]


if __name__ == "__main__":
    ap = common_args(__doc__.splitlines()[0])
    ap.add_argument("--image", default="127.0.0.1:5000/busybox:latest", help="image to run")
    ap.add_argument("--containers", type=int, default=200, help="containers for ps -a")
    main(ap, lifecycle_benchmarks)
