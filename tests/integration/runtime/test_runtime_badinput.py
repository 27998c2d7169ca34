"""Hostile rootfs contents: symlinks planted in the image must never reach the host."""

from __future__ import annotations

import os
from pathlib import Path

from podpy.spec.container import parse_volume
from tests.integration.runtime.conftest import Runtime


def test_workdir_through_symlink_out_of_rootfs(runtime: Runtime, make_bundle, tmp_path: Path) -> None:
    outside = tmp_path / "outside-wd"
    outside.mkdir()
    b = make_bundle(["pwd"], workdir="/wd/sub", prepare=lambda r: os.symlink(str(outside), r / "wd"))
    r = runtime.run(b)
    assert list(outside.iterdir()) == []  # nothing created on the host side
    if runtime.name == "podpy":  # runc 1.1 refuses ("mkdir /wd: file exists"), which is safe too
        assert r.returncode == 0, r.stderr
        assert (b.rootfs / str(outside).lstrip("/") / "sub").is_dir()  # created inside the rootfs instead


def test_volume_destination_through_symlink_lands_inside(
    runtime: Runtime, make_bundle, tmp_path: Path
) -> None:
    outside = tmp_path / "outside-vol"
    outside.mkdir()
    src = tmp_path / "volsrc"
    src.mkdir()
    (src / "marker").write_text("from-volume\n")
    b = make_bundle(["sh", "-c", "cat /mnt/vol/marker; readlink /mnt"], mounts=[parse_volume(f"{src}:/mnt/vol")],
                    prepare=lambda r: (os.rmdir(r / "mnt") if (r / "mnt").exists() else None,
                                       os.symlink(str(outside), r / "mnt")))  # fmt: skip
    r = runtime.run(b)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == "from-volume"
    assert list(outside.iterdir()) == []


def test_dev_null_symlink_in_rootfs(runtime: Runtime, make_bundle, tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("host secret\n")

    def prep(r: Path) -> None:
        os.symlink(str(secret), r / "dev/null")

    r = runtime.run(make_bundle(["sh", "-c", "test -c /dev/null && echo chr; echo x > /dev/null; cat /dev/null"],
                                prepare=prep))  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stdout == "chr\n"
    assert secret.read_text() == "host secret\n"


def test_proc_symlink_is_refused(runtime: Runtime, make_bundle, tmp_path: Path) -> None:
    def prep(r: Path) -> None:
        os.rmdir(r / "proc")
        os.symlink("/tmp", r / "proc")

    r = runtime.run(make_bundle(["true"], prepare=prep))
    assert r.returncode != 0
    assert "proc" in r.stderr


def test_cwd_via_proc_self_fd_does_not_escape(runtime: Runtime, make_bundle) -> None:
    # CVE-2024-21626: a cwd through a leaked fd must never put the process in a host directory
    for n in (3, 4, 7):
        r = runtime.run(make_bundle(["pwd"], workdir=f"/proc/self/fd/{n}"), cid=f"fd{n}")
        assert r.returncode != 0 and "/proc/self/fd" in r.stderr, (r.stdout, r.stderr)
        if runtime.name == "podpy":
            assert r.returncode == 126 and "cwd" in r.stderr
