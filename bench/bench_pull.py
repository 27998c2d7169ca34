#!/usr/bin/env python3
"""Cold pull: a 3-layer image of about 120 MB compressed from the loopback registry into an empty store.

Target (issue 2): podpy's median wall time <= 0.6 x podman's, measured in the same run. The store is
emptied (and the page cache's dirty data flushed with sync) before every run, untimed; after each run
the harness checks that the image is really there with the right ID and records the blob GETs the
registry served and the store's disk usage, so a "fast" pull that skips work cannot pass.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import RegistryLog, add_image_args, prepare_images, store_kb  # noqa: E402
from harness import BenchError, Benchmark, Side, common_args, main  # noqa: E402

MB = 1024 * 1024


def image_id(side: Side, ref: str) -> str:
    res = side.run("image", "inspect", "--format", "{{.Id}}", ref)
    return res.stdout.strip().removeprefix("sha256:")


def verify_image(side: Side, ref: str, want_id: str) -> None:
    """The pulled image must be in the store under `ref` with the config digest as its ID."""
    if side.dummy:
        return
    got = image_id(side, ref)
    if got != want_id.removeprefix("sha256:"):
        raise BenchError(f"{side.name}: {ref} has ID {got!r} after the pull, expected {want_id}")


def pull_benchmarks(args: argparse.Namespace) -> list[Benchmark]:
    summary = prepare_images(args)
    ref = summary["refs"]["pull-a"]
    info = summary["images"]["pull-a"]
    reglog = RegistryLog(args.registry_log)

    def setup(side: Side, i: int) -> None:
        side.reset_store()
        os.sync()
        reglog.mark()

    def collect(side: Side, i: int) -> dict[str, float]:
        verify_image(side, ref, info["image_id"])
        out: dict[str, float] = {}
        if reglog.available:
            gets = reglog.blob_gets("podpy-bench/pull-a")
            out["blob_gets"] = len(gets)
            out["MB_fetched"] = round(sum(n for _, n in gets) / MB, 1)
        out["store_MB"] = round(store_kb(side.root) / 1024, 1)
        return out

    return [
        Benchmark(
            name="pull",
            description=(
                f"cold pull of {ref} ({len(info['layers'])} layers, {info['compressed'] / MB:.0f} MiB compressed, "
                f"{info['unpacked'] / MB:.0f} MiB unpacked) into an empty store"
            ),
            argv=lambda side: side.cmd("pull", "--tls-verify=false", ref),
            target=0.6,
            setup=setup,
            collect=collect,
            warmup=1,
            timeout=300,
        )
    ]


def make_parser() -> argparse.ArgumentParser:
    ap = common_args(__doc__.splitlines()[0])
    add_image_args(ap)
    return ap


if __name__ == "__main__":
    main(make_parser(), pull_benchmarks, prepare=prepare_images)
