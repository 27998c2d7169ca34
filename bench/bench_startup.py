#!/usr/bin/env python3
"""Start-up cost: `podpy --version` and `podpy --help` against podman's (issue 3: podpy under 60 ms).

No store is touched; the reference column is podman's own `--version` / `--help`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Benchmark, common_args, main  # noqa: E402


def startup_benchmarks(args: argparse.Namespace) -> list[Benchmark]:
    # Plain argv without the store flags: these commands must be cheap however podpy is invoked.
    return [
        Benchmark(
            name=f"startup{flag}",
            description=f"podpy {flag} (absolute budget 60 ms)",
            argv=lambda side, flag=flag: [*side.exe, flag],
            abs_target=0.060,
            warmup=3,
            runs=max(args.runs, 20),
        )
        for flag in ("--version", "--help")
    ]


if __name__ == "__main__":
    main(common_args(__doc__.splitlines()[0]), startup_benchmarks)
