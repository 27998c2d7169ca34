"""Temp files of a killed `podpy save` / `podpy load` do not outlive the next save or load."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from podpy.store.archive import clean_stale_workdirs


def _dead_pid() -> int:
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def test_stale_layer_temps_and_workdirs_of_dead_processes_go(tmp_path: Path) -> None:
    dead, me = _dead_pid(), os.getpid()
    stale_layer = tmp_path / f"layer-{dead}-abc"
    stale_dir = tmp_path / f"archive-{dead}-abc"
    live_layer = tmp_path / f"layer-{me}-def"
    live_dir = tmp_path / f"archive-{me}-def"
    stale_layer.write_bytes(b"half a layer")
    stale_dir.mkdir()
    (stale_dir / "m1").write_bytes(b"x")
    live_layer.write_bytes(b"in use")
    live_dir.mkdir()
    other = tmp_path / "layer-notapid"
    other.write_bytes(b"not ours to judge")
    odd = tmp_path / f"layer-{dead}-dir"
    odd.mkdir()  # a directory named like a temp file: not what save writes, left alone
    assert clean_stale_workdirs(tmp_path) == 2
    assert not stale_layer.exists() and not stale_dir.exists()
    assert live_layer.exists() and live_dir.exists() and other.exists() and odd.exists()


def test_save_cleans_temps_of_a_killed_save(tmp_path: Path) -> None:
    """write_archive sweeps its tmp dir first (a killed save left ``layer-<pid>-*`` there)."""
    from podpy.store.archive import write_archive
    from tests.unit.transfer.test_transfer_archive import make_image

    stale = tmp_path / f"layer-{_dead_pid()}-xyz"
    stale.write_bytes(b"half a layer")
    img = make_image(tmp_path, ["localhost/x:1"])
    write_archive([img], "docker-archive", tmp_path / "a.tar", tmp_path)
    assert not stale.exists()
    assert (tmp_path / "a.tar").is_file()


def test_save_removes_the_half_written_output_of_a_killed_save(tmp_path: Path) -> None:
    """A killed `podpy save -o a.tar` leaves `.a.tar.<pid>-….tmp`; the next save to a.tar removes it."""
    from podpy.store.archive import write_archive
    from tests.unit.transfer.test_transfer_archive import make_image

    out = tmp_path / "out"
    out.mkdir()
    dead = _dead_pid()
    half_file = out / f".a.tar.{dead}-x1.tmp"
    half_dir = out / f".layout.{dead}-x2.tmp"
    mine = out / f".a.tar.{os.getpid()}-x3.tmp"  # a save still running: kept
    users = out / ".a.tar.notes.tmp"  # not named like ours: kept
    half_file.write_bytes(b"half an archive")
    half_dir.mkdir()
    mine.write_bytes(b"in progress")
    users.write_bytes(b"the user's")
    img = make_image(tmp_path, ["localhost/x:1"])
    write_archive([img], "docker-archive", out / "a.tar", tmp_path / "tmp")
    assert not half_file.exists() and mine.exists() and users.exists() and half_dir.exists()
    write_archive([img], "oci-dir", out / "layout", tmp_path / "tmp")
    assert not half_dir.exists()
    assert sorted(p.name for p in out.iterdir()) == sorted(["a.tar", "layout", mine.name, users.name])
