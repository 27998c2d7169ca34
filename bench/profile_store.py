#!/usr/bin/env python3
"""Where does a podpy pull spend its time once the bytes are here? A breakdown without the network.

Runs inside podpy's user namespace (`podpy unshare python3 bench/profile_store.py`, as the test user;
run_all.sh does not run it) against the bench image's cached OCI layout, and times per layer:

  hash      sha256 of the compressed blob (what verifying a download costs)
  gunzip    decompression alone (zlib, and isal when installed) + sha256 of the tar (the diff ID)
  tar -x    GNU tar extracting the same layer (a C baseline for the file-system work)
  store     podpy.store: commit_blob (copy+verify) and unpack_layer (the real code path)

With --profile the store step runs under cProfile and the top functions are printed.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import json
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import DEFAULT_WORKDIR  # noqa: E402

MB = 1024 * 1024


def t(fn, *a, **kw) -> tuple[float, object]:
    t0 = time.perf_counter()
    r = fn(*a, **kw)
    return time.perf_counter() - t0, r


def sha_file(p: Path) -> str:
    h = hashlib.sha256()
    with open(p, "rb", buffering=0) as f:
        while b := f.read(1 << 20):
            h.update(b)
    return h.hexdigest()


def gunzip_hash(p: Path, use_isal: bool) -> str:
    if use_isal:
        from isal import isal_zlib as z
    else:
        z = zlib
    d = z.decompressobj(31)
    h = hashlib.sha256()
    with open(p, "rb", buffering=0) as f:
        while b := f.read(1 << 20):
            h.update(d.decompress(b))
    return h.hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    ap.add_argument("--image", default="pull-a")
    ap.add_argument("--profile", action="store_true", help="cProfile the store step")
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--no-fsync", action="store_true", help="Store(fsync=False)")
    args = ap.parse_args()

    summary = json.loads((args.workdir / "oci" / "summary.json").read_text())
    blobs = args.workdir / "oci" / "blobs" / "sha256"
    layers = [summary["layers"][n] for n in summary["images"][args.image]["layers"]]
    try:
        import isal  # noqa: F401

        have_isal = True
    except ImportError:
        have_isal = False

    print(f"uid_map: {' '.join(Path('/proc/self/uid_map').read_text().split())}")
    rows = []
    tmp = Path(tempfile.mkdtemp(prefix="podpy-profile-", dir="/var/tmp"))
    try:
        for info in layers:
            blob = blobs / info["descriptor"]["digest"].split(":")[1]
            row = {
                "layer": info["name"],
                "MB_gz": info["descriptor"]["size"] / MB,
                "MB_tar": info["unpacked"] / MB,
            }
            row["hash"], _ = t(sha_file, blob)
            row["gunzip+sha"], d = t(gunzip_hash, blob, False)
            assert "sha256:" + d == info["diff_id"]
            if have_isal:
                row["isal+sha"], _ = t(gunzip_hash, blob, True)
            out = tmp / f"tar-{info['name']}"
            out.mkdir()
            row["tar -x"], _ = t(
                subprocess.run, ["tar", "-xzf", str(blob), "-C", str(out), "--no-same-owner"], check=True
            )
            rows.append(row)

        from podpy.store import Store

        store = Store(tmp / "store", fsync=not args.no_fsync)
        prof = cProfile.Profile() if args.profile else None
        for row, info in zip(rows, layers, strict=True):
            blob = blobs / info["descriptor"]["digest"].split(":")[1]

            def step(blob: Path = blob, info: dict = info) -> tuple[float, float]:
                t0 = time.perf_counter()
                tmpf = store.new_temp()
                shutil.copyfile(blob, tmpf)
                path = store.commit_blob(tmpf, info["descriptor"]["digest"], info["descriptor"]["size"])
                t1 = time.perf_counter()
                store.unpack_layer(path, info["descriptor"]["mediaType"], info["diff_id"])
                return t1 - t0, time.perf_counter() - t1

            if prof:
                prof.enable()
            row["store blob"], row["store unpack"] = step()
            if prof:
                prof.disable()
    finally:
        subprocess.run(["rm", "-rf", str(tmp)])

    keys = [k for k in rows[0] if k != "layer"]
    print(f"{'layer':<8}" + "".join(f"{k:>13}" for k in keys))
    for row in rows:
        print(f"{row['layer']:<8}" + "".join(f"{row[k]:>13.2f}" for k in keys))
    tot = {k: sum(r[k] for r in rows) for k in keys}
    print(f"{'total':<8}" + "".join(f"{tot[k]:>13.2f}" for k in keys))
    print("(MB columns in MiB, the rest in seconds, one thread, no network)")
    if prof:
        s = io.StringIO()
        pstats.Stats(prof, stream=s).sort_stats("tottime").print_stats(args.top)
        print(s.getvalue())


if __name__ == "__main__":
    main()
