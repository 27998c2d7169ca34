#!/usr/bin/env python3
"""Pull of a second image that shares 2 of its 3 layers with one already in the store.

Requirement (issue 2): only the new layer is downloaded and unpacked. Per run (untimed): empty store,
pull image A, sync; then the timed pull of image B. The registry's access log gives the blob GETs and
bytes of the timed pull (any GET of a shared layer is a MISS), the store's growth shows what was
unpacked (expected: about one layer, not three). The time ratio is reported, with no target.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_pull import MB, verify_image  # noqa: E402
from benchlib import RegistryLog, add_image_args, prepare_images, store_kb  # noqa: E402
from harness import Benchmark, Result, Side, common_args, main  # noqa: E402


def shared_benchmarks(args: argparse.Namespace) -> list[Benchmark]:
    summary = prepare_images(args)
    ref_a, ref_b = summary["refs"]["pull-a"], summary["refs"]["pull-b"]
    a, b = summary["images"]["pull-a"], summary["images"]["pull-b"]
    layers = summary["layers"]
    shared = [n for n in b["layers"] if n in a["layers"]]
    new = [n for n in b["layers"] if n not in a["layers"]]
    shared_digests = {layers[n]["descriptor"]["digest"] for n in shared}
    new_unpacked = sum(layers[n]["unpacked"] for n in new)
    reglog = RegistryLog(args.registry_log)
    before_kb: dict[str, int] = {}

    def setup(side: Side, i: int) -> None:
        side.reset_store()
        side.run("pull", "--tls-verify=false", ref_a, timeout=300)
        os.sync()
        before_kb[side.name] = store_kb(side.root)
        reglog.mark()

    def collect(side: Side, i: int) -> dict[str, float]:
        verify_image(side, ref_b, b["image_id"])
        out: dict[str, float] = {}
        if reglog.available:
            gets = reglog.blob_gets("podpy-bench/pull-b")
            out["blob_gets"] = len(gets)
            out["shared_layer_gets"] = sum(1 for d, _ in gets if d in shared_digests)
            out["MB_fetched"] = round(sum(n for _, n in gets) / MB, 1)
        out["store_growth_MB"] = round((store_kb(side.root) - before_kb.get(side.name, 0)) / 1024, 1)
        return out

    def criteria(result: Result) -> str | None:
        if not reglog.available:
            return "no registry access log to check the downloads (pass --registry-log)"
        worst = max(result.values("podpy", "shared_layer_gets"), default=0)
        if worst:
            return f"podpy downloaded {int(worst)} shared layer(s) again"
        growth = result.median("podpy", "store_growth_MB")
        # Unpacking the shared layers again would at least double the growth.
        if growth is not None and growth > 2 * new_unpacked / MB + 16:
            return f"podpy's store grew {growth:.0f} MiB, more than the new layer ({new_unpacked / MB:.0f} MiB) explains"
        return None

    return [
        Benchmark(
            name="pull-shared",
            description=(
                f"pull {ref_b} after {ref_a}: {len(shared)} shared layers, {len(new)} new "
                f"({sum(layers[n]['descriptor']['size'] for n in new) / MB:.0f} MiB compressed, "
                f"{new_unpacked / MB:.0f} MiB unpacked)"
            ),
            argv=lambda side: side.cmd("pull", "--tls-verify=false", ref_b),
            setup=setup,
            collect=collect,
            criteria=criteria,
            warmup=1,
            timeout=300,
        )
    ]


if __name__ == "__main__":
    ap = common_args(__doc__.splitlines()[0])
    add_image_args(ap)
    main(ap, shared_benchmarks, prepare=prepare_images)
