#!/usr/bin/env bash
# Run every podpy benchmark against podman and print one summary table.
#
#   bench/run_all.sh [-n RUNS] [any other harness option, e.g. --order abba]
#
# Run as root (it builds + pushes the bench images once, then every benchmark re-executes itself as
# the test user `podpytest` through tests/env/as-user.sh) or directly as podpytest once the images
# exist. Results (all runs, JSON) go to $PODPY_BENCH_DIR/results/bench-DATE.json.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WORKDIR=${PODPY_BENCH_DIR:-/var/tmp/podpy-bench}
PY=${PYTHON:-python3}
export PODPY_BENCH_DIR=$WORKDIR

if [[ $(id -u) -eq 0 ]]; then
  "$PY" "$HERE/make_pull_image.py"
  install -d -m 0755 "$WORKDIR"
  install -d -m 0755 -o podpytest -g podpytest "$WORKDIR/results"
fi
mkdir -p "$WORKDIR/results" 2>/dev/null || true
OUT=$WORKDIR/results/bench-$(date -u +%Y%m%dT%H%M%SZ).json

status=0
for b in bench_pull bench_pull_shared bench_images bench_startup bench_run bench_lifecycle bench_exec bench_net_throughput bench_build; do
  echo "### $b" >&2
  "$PY" "$HERE/$b.py" --json "$OUT" "$@" || status=1
done
# The same cold pull with both stores on tmpfs: without the disk's file-creation cost (see README).
if [[ -z ${PODPY_BENCH_NO_TMPFS:-} ]]; then
  echo "### bench_pull (tmpfs stores)" >&2
  "$PY" "$HERE/bench_pull.py" --json "$OUT" --store-dir /dev/shm/podpy-bench-stores --tag tmpfs "$@" || status=1
fi

echo
echo "=== summary ($OUT) ==="
"$PY" "$HERE/harness.py" --summary "$OUT"
exit $status
