"""Side-by-side benchmark harness: podpy against the reference (podman), alternating runs.

A benchmark names one timed command per tool plus untimed hooks (setup once, setup/teardown per run,
extra metrics after each run). The harness runs the two tools alternately (A B A B ..., or A B B A
with --order abba) so slow drifts of this shared machine hit both equally, and reports medians,
the podpy/podman ratio and PASS/MISS against the target ratio. Benchmarks are programs run by hand,
never timed assertions in tests.

Both tools get private stores under --store-dir: podpy `--root/--runroot`, podman `--root/--runroot
--storage-driver overlay --events-backend file --cgroup-manager cgroupfs` (rootless, native overlay,
no systemd here). Everything runs as the invoking user; when started as root the harness re-executes
itself as the test user through tests/env/as-user.sh (or runuser), because rootless is what matters.

Stdlib only, so it runs under any Python 3.11 (the test venv's or root's).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TEST_USER = os.environ.get("PODPY_TEST_USER", "podpytest")
PODMAN_GLOBALS = ["--storage-driver", "overlay", "--events-backend", "file", "--cgroup-manager", "cgroupfs"]


class BenchError(Exception):
    """A benchmark step failed (bad exit status, missing tool): the benchmark is reported as ERROR."""


@dataclass
class Side:
    """One tool with its own private store; `cmd()` builds its argv with the store flags."""

    name: str
    exe: list[str]
    base: Path  # every store of this side lives below it
    extra_globals: list[str] = field(default_factory=list)
    dummy: bool = False  # a stand-in command (e.g. `true`) that takes no podman-style flags
    verbose: bool = False
    root: Path = field(init=False)
    runroot: Path = field(init=False)
    _count: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.reset_store()

    def cmd(self, *args: str) -> list[str]:
        if self.dummy:
            return [*self.exe, *args]
        return [
            *self.exe,
            "--root",
            str(self.root),
            "--runroot",
            str(self.runroot),
            *self.extra_globals,
            *args,
        ]

    def run(
        self, *args: str, check: bool = True, capture: bool = True, timeout: float = 600
    ) -> subprocess.CompletedProcess:
        """Run an untimed helper command (setup/teardown) with this side's store."""
        argv = self.cmd(*args)
        if self.verbose:
            print(f"  [{self.name}] $ {shlex.join(argv)}", file=sys.stderr)
        res = subprocess.run(
            argv, capture_output=capture, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
        if check and res.returncode != 0:
            raise BenchError(
                f"{self.name}: `{shlex.join(argv)}` exited {res.returncode}: {(res.stderr or '').strip()[-400:]}"
            )
        return res

    def reset_store(self) -> None:
        """Point this side at a new, empty store (a fresh --root; the --runroot stays).

        The runroot is kept for the whole harness run, like a user's session: podpy keeps its
        user-namespace pause process per runroot (podman per user), so a fresh runroot per run
        would charge podpy a namespace set-up that real pulls do not pay.

        Old stores are not deleted until the harness ends: on ext4 the inode allocator skips inodes
        freed in the last 5-35 s (``recently_deleted()``), at a cost of about a millisecond per file
        created when a big tree was just removed. Deleting the previous run's store right before
        the next run would slow that run's unpacking several-fold and add noise.
        """
        self._count += 1
        self.root = self.base / f"s{self._count}" / "root"
        self.runroot = self.base / "runroot"
        self.root.mkdir(parents=True, exist_ok=True)
        self.runroot.mkdir(parents=True, exist_ok=True)

    def stop_pause(self) -> None:
        stop_pause(self.runroot)


def stop_pause(runroot: Path) -> None:
    """Stop the pause process podpy left for this runroot (only that pid, checked by name)."""
    try:
        pid = int((runroot / "pause.pid").read_text().split()[0])
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except (OSError, ValueError, IndexError):
        return
    if comm.startswith("podpy"):
        try:
            os.kill(pid, 15)
        except OSError:
            pass


def wipe_dirs(paths: Sequence[Path]) -> None:
    """rm -rf as the user; falls back to `podman unshare` for files on the subuid range."""
    existing = [str(p) for p in paths if os.path.lexists(p)]
    if not existing:
        return
    try:
        for p in existing:
            shutil.rmtree(p)
        return
    except OSError:
        pass
    if os.geteuid() == 0:
        for p in existing:
            shutil.rmtree(p, ignore_errors=True)
        return
    res = subprocess.run(["podman", "unshare", "rm", "-rf", *existing], capture_output=True, text=True)
    if res.returncode != 0:
        raise BenchError(f"cannot remove {existing}: {res.stderr.strip()}")


@dataclass
class Benchmark:
    """What to time and how to prepare for it; every hook gets the Side (and the run index)."""

    name: str
    description: str
    argv: Callable[[Side], list[str]]
    target: float | None = None  # PASS when median(podpy) / median(podman) <= target
    setup_once: Callable[[Side], None] | None = None
    setup: Callable[[Side, int], None] | None = None
    teardown: Callable[[Side, int], None] | None = None
    collect: Callable[[Side, int], dict[str, float]] | None = None  # extra metrics after each timed run
    check: Callable[[Side, subprocess.CompletedProcess], None] | None = None  # validate the output
    criteria: Callable[[Result], str | None] | None = None  # a functional requirement: None or why it failed
    abs_target: float | None = None  # PASS also needs median(podpy) <= this many seconds
    warmup: int = 1
    timeout: float = 600
    runs: int | None = None  # overrides --runs when set


@dataclass
class Sample:
    wall: float
    cpu: float  # user + system CPU seconds of the command and the children it waited for
    maxrss_kb: int
    extra: dict[str, float]


@dataclass
class Result:
    bench: Benchmark
    samples: dict[str, list[Sample]]
    error: str | None = None

    def median(self, side: str, key: str = "wall") -> float | None:
        vals = self.values(side, key)
        return statistics.median(vals) if vals else None

    def values(self, side: str, key: str = "wall") -> list[float]:
        out = []
        for s in self.samples.get(side, []):
            if key in ("wall", "cpu", "maxrss_kb"):
                out.append(float(getattr(s, key)))
            elif key in s.extra:
                out.append(s.extra[key])
        return out

    @property
    def ratio(self) -> float | None:
        a, b = self.median("podpy"), self.median("podman")
        if a is None or not b:
            return None
        return a / b

    @property
    def failures(self) -> list[str]:
        """Why the benchmark misses its targets (empty when it meets them)."""
        out = []
        if self.bench.target is not None and self.ratio is not None and self.ratio > self.bench.target:
            out.append(f"ratio {self.ratio:.2f} > {self.bench.target:.2f}")
        med = self.median("podpy")
        if self.bench.abs_target is not None and med is not None and med > self.bench.abs_target:
            out.append(f"podpy median {med:.3f}s > {self.bench.abs_target:.3f}s")
        if self.bench.criteria:
            why = self.bench.criteria(self)
            if why:
                out.append(why)
        return out

    @property
    def verdict(self) -> str:
        if self.error:
            return "ERROR"
        if self.failures:
            return "MISS"
        if self.bench.target is None and self.bench.abs_target is None and self.bench.criteria is None:
            return "-"
        if self.bench.target is not None and self.ratio is None:
            return "-"
        return "PASS"

    def to_json(self) -> dict:
        return {
            "name": self.bench.name,
            "description": self.bench.description,
            "target_ratio": self.bench.target,
            "abs_target": self.bench.abs_target,
            "has_criteria": self.bench.criteria is not None,
            "ratio": self.ratio,
            "verdict": self.verdict,
            "failures": self.failures,
            "error": self.error,
            "sides": {
                side: {
                    "median_wall": self.median(side),
                    "median_cpu": self.median(side, "cpu"),
                    "runs": [
                        {"wall": s.wall, "cpu": s.cpu, "maxrss_kb": s.maxrss_kb, **s.extra} for s in samples
                    ],
                }
                for side, samples in self.samples.items()
            },
        }


def timed(argv: list[str], timeout: float) -> tuple[float, float, int, subprocess.CompletedProcess]:
    """Run argv once: wall time from fork to reap; CPU (user+sys) and max RSS from its own wait4.

    Output goes to anonymous temp files rather than pipes, so no reader thread competes with the
    measured command for the 2 CPUs.
    """
    import tempfile
    import threading

    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            _, status, ru = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        res = subprocess.CompletedProcess(
            argv,
            proc.returncode,
            out.read().decode("utf-8", "replace"),
            err.read().decode("utf-8", "replace"),
        )
    if wall >= timeout and proc.returncode < 0:
        raise BenchError(f"`{shlex.join(argv)}` timed out after {timeout}s")
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss, res


class Harness:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        base = Path(args.store_dir)
        self.sides: dict[str, Side] = {}
        podpy_exe = shlex.split(args.podpy)
        podman_exe = shlex.split(args.podman)
        self.sides["podpy"] = Side(
            "podpy",
            podpy_exe,
            base / "podpy",
            dummy=args.podpy_dummy,
            verbose=args.verbose,
        )
        self.sides["podman"] = Side(
            "podman",
            podman_exe,
            base / "podman",
            extra_globals=list(PODMAN_GLOBALS),
            dummy=args.podman_dummy,
            verbose=args.verbose,
        )
        self.order = [s for s in ("podpy", "podman") if s not in args.skip]

    SETTLE = 40.0  # seconds after a big delete before ext4 allocates inodes at full speed again

    @staticmethod
    def prepare_store_dir(base: Path, quiet: bool = False) -> None:
        """Remove leftovers of an aborted run, then wait until recent deletes no longer slow ext4."""
        stamp = base / ".last-wipe"
        leftovers = [base / "podpy", base / "podman"]
        if any(p.exists() for p in leftovers):
            for p in leftovers:
                stop_pause(p / "runroot")
            wipe_dirs(leftovers)
            base.mkdir(parents=True, exist_ok=True)
            stamp.write_text(f"{time.time()}\n")
        try:
            last = float(stamp.read_text())
        except (OSError, ValueError):
            return
        wait = Harness.SETTLE - (time.time() - last)
        if wait > 0:
            if not quiet:
                print(
                    f"(waiting {wait:.0f}s: ext4 is slow to create files just after a big delete)",
                    file=sys.stderr,
                )
            os.sync()
            time.sleep(wait)

    def close(self) -> None:
        """Delete every store of this run (unless --keep-stores) and remember when."""
        if self.args.keep_stores:
            return
        base = Path(self.args.store_dir)
        for side in self.sides.values():
            side.stop_pause()
        try:
            wipe_dirs([base / "podpy", base / "podman"])
        except BenchError as exc:
            self.log(f"(cleanup: {exc})")
        (base / ".last-wipe").write_text(f"{time.time()}\n")

    def log(self, msg: str) -> None:
        if not self.args.quiet:
            print(msg, file=sys.stderr, flush=True)

    def _one(self, bench: Benchmark, side: Side, i: int, record: bool) -> Sample | None:
        if bench.setup:
            bench.setup(side, i)
        argv = bench.argv(side)
        if self.args.verbose:
            print(f"  [{side.name}] timed $ {shlex.join(argv)}", file=sys.stderr)
        wall, cpu, maxrss, res = timed(argv, bench.timeout)
        if res.returncode != 0:
            raise BenchError(
                f"{side.name}: `{shlex.join(argv)}` exited {res.returncode}: {res.stderr.strip()[-600:]}"
            )
        if bench.check:
            bench.check(side, res)
        extra = bench.collect(side, i) if (record and bench.collect) else {}
        if bench.teardown:
            bench.teardown(side, i)
        if not record:
            return None
        return Sample(wall=wall, cpu=cpu, maxrss_kb=maxrss, extra=extra)

    def run(self, bench: Benchmark) -> Result:
        n = bench.runs or self.args.runs
        warm = bench.warmup if self.args.warmup is None else self.args.warmup
        result = Result(bench, {s: [] for s in self.order})
        self.log(
            f"== {bench.name}: {bench.description} ({warm} warm-up + {n} runs per tool, order {self.args.order})"
        )
        try:
            for name in self.order:
                side = self.sides[name]
                side.reset_store()
                if bench.setup_once:
                    bench.setup_once(side)
            for w in range(warm):
                for name in self.order:
                    self._one(bench, self.sides[name], -1 - w, record=False)
            for i in range(n):
                order = list(self.order)
                if self.args.order == "abba" and i % 2 == 1:
                    order.reverse()
                for name in order:
                    sample = self._one(bench, self.sides[name], i, record=True)
                    assert sample is not None
                    result.samples[name].append(sample)
                    self.log(f"   run {i + 1}/{n} {name:6s} {sample.wall:8.3f}s" + _fmt_extra(sample.extra))
        except BenchError as exc:
            result.error = str(exc)
            self.log(f"   ERROR: {exc}")
        # nothing left running in a store that will be deleted, and podman's container locks (one shared
        # table per user, 2048 locks, not freed by deleting a store) given back
        for side in self.sides.values():
            if not side.dummy:
                with contextlib.suppress(subprocess.SubprocessError, OSError):
                    side.run("rm", "--all", "--force", "--time", "0", check=False, timeout=300)
        return result


def _fmt_extra(extra: dict[str, float]) -> str:
    return "".join(f"  {k}={_fmt_num(v)}" for k, v in extra.items())


def _fmt_num(v: float) -> str:
    if abs(v) >= 1e6:
        return f"{v / 1e6:.1f}M"
    if float(v).is_integer():
        return str(int(v))
    return f"{v:.3f}"


def _fmt_time(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v * 1000:.0f} ms" if v < 1 else f"{v:.2f} s"


def print_table(results: list[Result], out=sys.stdout) -> None:
    """The summary: one row per benchmark, extra metrics (medians) below it."""
    header = f"{'benchmark':<22} {'podpy':>10} {'podman':>10} {'ratio':>7} {'target':>8}  result"
    print(header, file=out)
    print("-" * len(header), file=out)
    for r in results:
        ratio = f"{r.ratio:.2f}" if r.ratio is not None else "-"
        if r.bench.target is not None:
            target = f"<= {r.bench.target:.2f}"
        elif r.bench.abs_target is not None:
            target = f"<= {_fmt_time(r.bench.abs_target)}"
        elif r.bench.criteria is not None:
            target = "see below"
        else:
            target = "-"
        print(
            f"{r.bench.name:<22} {_fmt_time(r.median('podpy')):>10} {_fmt_time(r.median('podman')):>10} "
            f"{ratio:>7} {target:>8}  {r.verdict}",
            file=out,
        )
        for key in ("cpu",):
            a, b = r.median("podpy", key), r.median("podman", key)
            if a is not None or b is not None:
                print(f"  {'cpu (user+sys)':<20} {_fmt_time(a):>10} {_fmt_time(b):>10}", file=out)
        keys: list[str] = []
        for samples in r.samples.values():
            for s in samples:
                keys.extend(k for k in s.extra if k not in keys)
        for key in keys:
            a, b = r.median("podpy", key), r.median("podman", key)
            print(
                f"  {key:<20} {_fmt_num(a) if a is not None else '-':>10} {_fmt_num(b) if b is not None else '-':>10}",
                file=out,
            )
        if r.error:
            print(f"  error: {r.error}", file=out)
        elif r.verdict == "MISS":
            print(f"  miss: {'; '.join(r.failures)}", file=out)


def common_args(description: str) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("-n", "--runs", type=int, default=int(os.environ.get("PODPY_BENCH_RUNS", "7")))
    ap.add_argument(
        "--warmup", type=int, default=None, help="untimed runs per tool first (default per benchmark)"
    )
    ap.add_argument("--order", choices=("abab", "abba"), default="abab")
    ap.add_argument("--json", type=Path, help="also write the results as JSON to this file")
    ap.add_argument("--podpy", default=os.environ.get("PODPY_BENCH_PODPY", "podpy"), help="podpy command")
    ap.add_argument(
        "--podman", default=os.environ.get("PODPY_BENCH_PODMAN", "podman"), help="reference command"
    )
    ap.add_argument("--podpy-dummy", action="store_true", help="--podpy is a stand-in: pass no store flags")
    ap.add_argument("--podman-dummy", action="store_true", help="--podman is a stand-in: pass no store flags")
    ap.add_argument(
        "--skip", action="append", default=[], choices=("podpy", "podman"), help="run one tool only"
    )
    ap.add_argument(
        "--store-dir",
        default=os.environ.get("PODPY_BENCH_STORES") or f"/var/tmp/podpy-bench-stores-{os.getuid()}",
    )
    ap.add_argument("--keep-stores", action="store_true")
    ap.add_argument(
        "--tag",
        default="",
        help="suffix for the benchmark names, e.g. tmpfs for a run with --store-dir /dev/shm/...",
    )
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("-q", "--quiet", action="store_true", help="only the table")
    return ap


_LOCK_FD: int | None = None


def _lock_or_wait(quiet: bool) -> None:
    """One benchmark at a time per user: two would share the CPUs and wipe each other's stores."""
    import fcntl

    global _LOCK_FD
    path = f"/tmp/podpy-bench-{os.getuid()}.lock"
    _LOCK_FD = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(_LOCK_FD, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        if not quiet:
            print(f"(another benchmark holds {path}: waiting for it)", file=sys.stderr)
        fcntl.flock(_LOCK_FD, fcntl.LOCK_EX)


def compile_tree() -> None:
    """Write podpy's ``.pyc`` files as root before timing: the test user cannot write ``__pycache__``
    in the source tree, and recompiling edited modules on every run would be timed (an installed
    podpy ships compiled)."""
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(REPO / "podpy")],
        check=False,
        stdout=subprocess.DEVNULL,
    )


def reexec_as_test_user() -> None:
    """When root, run this same program as the unprivileged test user (rootless is what we measure)."""
    if os.geteuid() != 0 or os.environ.get("PODPY_BENCH_AS_ROOT") == "1":
        return
    compile_tree()
    as_user = REPO / "tests" / "env" / "as-user.sh"
    script = [os.path.abspath(sys.argv[0]), *sys.argv[1:]]
    os.environ["PODPY_BENCH_CWD"] = os.getcwd()
    if as_user.exists():
        argv = [str(as_user), "python3", *script]
    else:
        import pwd

        pw = pwd.getpwnam(TEST_USER)
        rt = f"/run/user/{pw.pw_uid}"
        argv = [
            "runuser",
            "-u",
            TEST_USER,
            "--",
            "env",
            f"HOME={pw.pw_dir}",
            f"USER={TEST_USER}",
            f"LOGNAME={TEST_USER}",
            f"XDG_RUNTIME_DIR={rt}",
            "PATH=/opt/podpy-test/venv/bin:/usr/local/bin:/usr/bin:/bin",
            "/usr/bin/python3",
            *script,
        ]
    sys.stdout.flush()
    os.execvp(argv[0], argv)


def main(
    ap: argparse.ArgumentParser,
    benchmarks: Callable[[argparse.Namespace], list[Benchmark]],
    prepare: Callable[[argparse.Namespace], None] | None = None,
) -> list[Result]:
    """Parse args (`ap` comes from common_args), prepare (as root first when started as root, then
    again as the test user), run the benchmarks, print the table and write the JSON."""
    args = ap.parse_args()
    if args.runs < 1:
        ap.error("--runs must be at least 1")
    if args.json and not args.json.is_absolute():
        args.json = Path(os.environ.get("PODPY_BENCH_CWD", os.getcwd())) / args.json
    if prepare:
        prepare(args)
    reexec_as_test_user()
    for side_name in ("podpy", "podman"):
        exe = shlex.split(getattr(args, side_name))[0]
        if side_name not in args.skip and shutil.which(exe) is None:
            raise SystemExit(f"{side_name}: `{exe}` not found in PATH ({os.environ.get('PATH')})")
    Path(args.store_dir).mkdir(parents=True, exist_ok=True)
    _lock_or_wait(args.quiet)
    Harness.prepare_store_dir(Path(args.store_dir), args.quiet)
    harness = Harness(args)
    benches = benchmarks(args)
    if args.tag:
        for b in benches:
            b.name = f"{b.name}[{args.tag}]"
    try:
        results = [harness.run(b) for b in benches]
    finally:
        harness.close()
    print()
    print_table(results)
    sys.stdout.flush()
    if args.json:
        write_json(args.json, results)
    return results


def write_json(path: Path, results: list[Result]) -> None:
    data = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "host": os.uname().nodename,
        "user": os.getuid(),
        "results": [r.to_json() for r in results],
    }
    existing = []
    if path.exists():
        try:
            prev = json.loads(path.read_text())
            existing = prev if isinstance(prev, list) else [prev]
        except ValueError:
            existing = []
    path.write_text(json.dumps(existing + [data], indent=2) + "\n")


def print_summary(path: Path, out=sys.stdout) -> None:
    """One table for every benchmark recorded in a --json file (the last record of each name wins)."""
    records = json.loads(path.read_text())
    latest: dict[str, dict] = {}
    for rec in records if isinstance(records, list) else [records]:
        for r in rec["results"]:
            latest[r["name"]] = r
    header = f"{'benchmark':<22} {'podpy':>10} {'podman':>10} {'ratio':>7} {'target':>8}  result"
    print(header, file=out)
    print("-" * len(header), file=out)
    for name, r in latest.items():
        sides = r["sides"]
        a = sides.get("podpy", {}).get("median_wall")
        b = sides.get("podman", {}).get("median_wall")
        ratio = f"{r['ratio']:.2f}" if r.get("ratio") is not None else "-"
        if r.get("target_ratio") is not None:
            target = f"<= {r['target_ratio']:.2f}"
        elif r.get("abs_target") is not None:
            target = f"<= {_fmt_time(r['abs_target'])}"
        elif r.get("has_criteria"):
            target = "see README"
        else:
            target = "-"
        print(
            f"{name:<22} {_fmt_time(a):>10} {_fmt_time(b):>10} {ratio:>7} {target:>8}  {r['verdict']}",
            file=out,
        )
        for why in r.get("failures") or []:
            print(f"  miss: {why}", file=out)
        if r.get("error"):
            print(f"  error: {r['error'][:300]}", file=out)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--summary":
        print_summary(Path(sys.argv[2]))
    else:
        raise SystemExit("usage: harness.py --summary RESULTS.json (the benchmarks are bench/bench_*.py)")
