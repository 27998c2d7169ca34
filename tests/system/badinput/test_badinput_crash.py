"""Crash safety of `podpy pull`: `kill -9` at random moments, and two identical pulls at once.

A killed pull may leave temp files and complete blobs/layers behind, but never an image that
`podpy images` lists while parts of it are missing; the next pull repairs and completes the store.
Concurrent pulls of the same image both succeed and the store keeps one copy of every blob and layer.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.system.badinput import storecheck

TREE = Path(__file__).resolve().parents[3]
KILLS = 16


def _podpy() -> list[str]:
    exe = shutil.which("podpy")
    return [exe] if exe else [sys.executable, "-m", "podpy"]


def _env(config_home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(TREE), env.get("PYTHONPATH", "")) if p)
    env["XDG_CONFIG_HOME"] = str(config_home)
    return env


def _start(root: Path, runroot: Path, config_home: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*_podpy(), "--root", str(root), "--runroot", str(runroot), *args],
        env=_env(config_home),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: we can see whether helpers outlive it
    )


def _group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes in process group ``pgid``."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] not in ("Z", "X") and int(fields[2]) == pgid:
            out.append(int(name))
    return out


def _wait_group_gone(pgid: int, timeout: float = 15.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while (left := _group_members(pgid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def _cleanup_root(root: Path, runroot: Path, config_home: Path) -> None:
    from podpy.rootless.pause import stop_pause_process
    from podpy.util.paths import Paths

    if (runroot / "pause.pid").exists():
        with contextlib.suppress(Exception):
            p = _start(root, runroot, config_home, "unshare", "rm", "-rf", str(root))
            p.communicate(timeout=60)
        with contextlib.suppress(Exception):
            stop_pause_process(Paths(root=root, runroot=runroot))
    shutil.rmtree(root, ignore_errors=True)
    shutil.rmtree(runroot, ignore_errors=True)


def _baseline_seconds(ref: str, tmp_path: Path, config_home: Path) -> float:
    """Wall time of one whole pull into an empty scratch store on this machine, now."""
    root = tmp_path / "baseline-root"
    runroot = Path(tempfile.mkdtemp(prefix="podpy-rr-"))
    try:
        t0 = time.monotonic()
        p = _start(root, runroot, config_home, "pull", "--tls-verify=false", ref)
        out, err = p.communicate(timeout=180)
        elapsed = time.monotonic() - t0
        assert p.returncode == 0, f"baseline podpy pull {ref} failed ({p.returncode}):\n{err[-3000:]}"
        return elapsed
    finally:
        _cleanup_root(root, runroot, config_home)


def _assert_complete_or_absent(root: Path, cli: Any, img: dict[str, Any], why: str) -> list[str]:
    """`podpy images` lists nothing, or exactly this image with all of its blobs and layers present."""
    blobs_before = set(storecheck.blob_files(root))
    layers_before = set(storecheck.layer_dirs(root))
    images = storecheck.list_images(cli)
    assert images in ([], [img["image_id"]]), f"{why}: podpy images -a lists {images}"
    if images:
        missing_b = storecheck.expected_blobs(img) - blobs_before
        missing_l = storecheck.expected_layers(img) - layers_before
        assert not missing_b and not missing_l, (
            f"{why}: a partial image is listed: missing blobs {missing_b}, missing layers {missing_l}"
        )
    return images


def _assert_exactly(root: Path, cli: Any, imgs: list[dict[str, Any]], why: str) -> None:
    """The store holds exactly these images, one copy of each blob and layer, no leftovers."""
    images = storecheck.list_images(cli)  # opens the store: leftovers of dead writers go now
    assert images == sorted({i["image_id"] for i in imgs}), f"{why}: podpy images -a -q lists {images}"
    want_blobs = set().union(*(storecheck.expected_blobs(i) for i in imgs))
    want_layers = set().union(*(storecheck.expected_layers(i) for i in imgs))
    blobs = storecheck.blob_files(root)
    layers = storecheck.layer_dirs(root)
    assert sorted(set(blobs)) == blobs, f"{why}: duplicate blob files {blobs}"
    assert set(blobs) == want_blobs, (
        f"{why}: blob files differ: extra {sorted(set(blobs) - want_blobs)}, missing {sorted(want_blobs - set(blobs))}"
    )
    assert set(layers) == want_layers, (
        f"{why}: layer dirs differ: extra {sorted(set(layers) - want_layers)}, "
        f"missing {sorted(want_layers - set(layers))}"
    )
    for hx in layers:
        meta = storecheck.store_dir(root) / "overlay" / hx / "layer.json"
        try:
            diff_id = json.loads(meta.read_text()).get("diff_id")
        except (OSError, ValueError) as e:
            diff_id = f"<unreadable: {e}>"
        assert diff_id == f"sha256:{hx}", (
            f"{why}: layer dir {hx} is not a complete layer: layer.json {diff_id}"
        )
    leftovers = storecheck.temp_leftovers(root)
    assert not leftovers, f"{why}: temp leftovers after a successful pull: {leftovers}"
    for i in imgs:
        proc = cli("image", "inspect", "--format", "{{.Id}}", i["ref"])
        assert proc.returncode == 0 and proc.stdout.strip().removeprefix("sha256:") == i["image_id"], (
            f"{why}: podpy image inspect {i['ref']}: {proc.returncode} {proc.stdout} {proc.stderr}"
        )


def kill_at_random(
    podpy_root: Any,
    args: list[str],
    after_each: Callable[[str, int, bool], None],
    what: str,
    kills: int,
    base: float | None = None,
) -> str:
    """Start ``podpy ARGS`` ``kills`` times and SIGKILL it at a random moment of a whole run's wall time
    ``base`` (measured here, in the test's own store, when not given); ``after_each(why, k, finished)``
    checks the store after each. Returns the tag naming the seed (``PODPY_BADINPUT_SEED`` replays it)."""
    seed = int(os.environ.get("PODPY_BADINPUT_SEED") or random.SystemRandom().randrange(1 << 32))
    rng = random.Random(seed)
    tag = f"[seed {seed}: rerun with PODPY_BADINPUT_SEED={seed}]"
    root, runroot, config = podpy_root.root, podpy_root.runroot, podpy_root.config_home
    if base is None:
        # timed twice, each run followed by ``after_each`` (which resets the store as after a finished
        # run): the first also starts podpy's namespace and creates the store, which no killed run
        # pays, so the second is the wall time the kills below are spread over
        for _ in range(2):
            t0 = time.monotonic()
            p = _start(root, runroot, config, *args)
            _out, err = p.communicate(timeout=180)
            assert p.returncode == 0, f"podpy {' '.join(args)} failed ({p.returncode}): {err[-3000:]}"
            base = time.monotonic() - t0
            after_each(f"{tag} timing run", 0, True)
    moments: list[str] = []
    for k in range(kills):
        delay = rng.uniform(0.0, base)
        p = _start(root, runroot, config, *args)
        time.sleep(delay)
        finished = p.poll() is not None
        if not finished:
            os.kill(p.pid, 9)
        _out, err = p.communicate(timeout=120)
        moments.append(f"{delay:.3f}s{' (had finished)' if finished else ''}")
        why = f"{tag} after kill -9 #{k + 1} at {moments} of a {base:.2f}s {what}"
        assert "Traceback (most recent call last)" not in err, f"{why}: {err[-3000:]}"
        left = _wait_group_gone(p.pid)
        assert not left, f"{why}: processes of the killed {what} kept running: {left}"
        after_each(why, k, finished)
    killed = sum(1 for m in moments if "finished" not in m)
    assert killed >= kills // 2, f"{tag}: only {killed} of {kills} were still running when killed: {moments}"
    return tag


@pytest.mark.slow
def test_kill9_during_pull_then_pull_succeeds(
    testenv: dict[str, Any], podpy_cli: Any, podpy_root: Any, tmp_path: Path
) -> None:
    img = testenv["images"]["layered-oci"]
    ref = img["ref"]
    root = podpy_root.root

    def check(why: str, k: int, finished: bool) -> None:
        if k % 2 == 1 or finished:
            images = _assert_complete_or_absent(root, podpy_cli, img, why)
            if finished and images:  # that one completed: remove it so the next kill hits a real pull
                rm = podpy_cli("rmi", "-f", ref)
                assert rm.returncode == 0, f"{why}: podpy rmi -f {ref}: {rm.stderr}"

    base = _baseline_seconds(
        ref, tmp_path, podpy_root.config_home
    )  # in a scratch store: this one stays empty
    args = ["pull", "--tls-verify=false", ref]
    why = kill_at_random(podpy_root, args, check, "pull", KILLS, base)
    final = podpy_cli("pull", "--tls-verify=false", ref)
    assert final.returncode == 0, (
        f"{why}: the repairing pull failed ({final.returncode}):\n{final.stderr[-3000:]}"
    )
    assert "Traceback" not in final.stderr, final.stderr
    _assert_exactly(root, podpy_cli, [img], why)


def _pull_at_once(podpy_root: Any, refs: list[str]) -> None:
    procs = [
        _start(podpy_root.root, podpy_root.runroot, podpy_root.config_home, "pull", "--tls-verify=false", r)
        for r in refs
    ]
    results = [(r, p, *p.communicate(timeout=180)) for r, p in zip(refs, procs, strict=True)]
    for r, p, _out, err in results:
        assert "Traceback (most recent call last)" not in err, f"concurrent podpy pull {r}: {err[-3000:]}"
        assert p.returncode == 0, f"concurrent podpy pull {r} failed ({p.returncode}):\n{err[-3000:]}"


@pytest.mark.slow
def test_two_identical_pulls_at_once(testenv: dict[str, Any], podpy_cli: Any, podpy_root: Any) -> None:
    img = testenv["images"]["layered-v2s2"]
    _pull_at_once(podpy_root, [img["ref"], img["ref"]])
    _assert_exactly(podpy_root.root, podpy_cli, [img], "two identical pulls at once")


@pytest.mark.slow
def test_two_pulls_sharing_a_layer_at_once(testenv: dict[str, Any], podpy_cli: Any, podpy_root: Any) -> None:
    """busybox and layered share the busybox layer: pulled at once, it is stored and unpacked once."""
    a, b = testenv["images"]["busybox"], testenv["images"]["layered-v2s2"]
    assert a["layers"][0]["digest"] == b["layers"][0]["digest"]
    _pull_at_once(podpy_root, [a["ref"], b["ref"]])
    _assert_exactly(podpy_root.root, podpy_cli, [a, b], "busybox and layered pulled at once")
