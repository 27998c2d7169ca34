"""Hostile images and bad flags through ``podpy run`` as typed: clear errors, exit 125, nothing left.

Images are built here as plain tarballs and brought in with ``podpy import``, so each one carries
exactly one trap: a planted symlink, a FIFO, an oversized file.
"""

from __future__ import annotations

import io
import os
import shutil
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

BUSYBOX = shutil.which("busybox") or "/bin/busybox"


def _add(tar: tarfile.TarFile, name: str, *, data: bytes | None = None, link: str | None = None,
         kind: bytes = tarfile.REGTYPE, mode: int = 0o644) -> None:  # fmt: skip
    ti = tarfile.TarInfo(name)
    ti.mode = mode
    if link is not None:
        ti.type, ti.linkname = tarfile.SYMTYPE, link
    elif kind != tarfile.REGTYPE:
        ti.type = kind
    else:
        ti.size = len(data or b"")
    tar.addfile(ti, io.BytesIO(data) if data else None)


@pytest.fixture
def import_image(podpy_cli, tmp_path: Path) -> Callable[..., str]:
    """Build a busybox rootfs tarball, let ``tweak`` plant its trap, import it as NAME."""

    def make(
        name: str, tweak: Callable[[tarfile.TarFile], None], *changes: str, skip: tuple[str, ...] = ()
    ) -> str:
        path = tmp_path / f"{name}.tar"
        with tarfile.open(path, "w") as tar:
            for d in ("bin", "etc", "tmp", "proc", "sys", "dev", "mnt", "root"):
                if d not in skip:
                    _add(tar, d, kind=tarfile.DIRTYPE, mode=0o755)
            tar.add(BUSYBOX, "bin/busybox")
            for applet in ("sh", "cat", "id", "pwd", "ls", "test", "echo"):
                _add(tar, f"bin/{applet}", link="busybox")
            tweak(tar)
        args = [a for c in changes for a in ("--change", c)]
        r = podpy_cli("import", "-q", *args, str(path), f"localhost/{name}:latest")
        assert r.returncode == 0, r.stderr
        return f"localhost/{name}:latest"

    return make


def _no_containers(podpy_cli, podpy_root) -> None:  # type: ignore[no-untyped-def]
    cdir = podpy_root.root / "containers"
    assert not cdir.exists() or not any(cdir.iterdir())
    ps = podpy_cli("ps", "-a", "-q")
    assert ps.returncode == 0 and ps.stdout == "", ps.stderr


def _group(tar: tarfile.TarFile) -> None:
    _add(tar, "etc/group", data=b"root:x:0:\n")


HOST_PASSWD = f"/tmp/podpy-test-host-passwd-{os.getpid()}"  # a host file an image links to, naming the user


@pytest.mark.parametrize(
    "trap, msg",
    [
        (lambda t: _add(t, "etc/passwd", link=HOST_PASSWD), "unable to find user podpytest"),
        (
            lambda t: _add(t, "etc/passwd", link="../../../../.." + HOST_PASSWD),
            "unable to find user podpytest",
        ),
        (lambda t: _add(t, "etc/passwd", link="/etc/passwd"), "too many levels of symbolic links"),
        (
            lambda t: _add(t, "etc/passwd", kind=tarfile.FIFOTYPE),
            "/etc/passwd in the image is not a regular file",
        ),
        (lambda t: _add(t, "etc/passwd", data=b"#" * (5 << 20)), "/etc/passwd in the image is too large"),
    ],
)
def test_hostile_passwd(podpy_cli, podpy_root, import_image, trap, msg: str) -> None:  # type: ignore[no-untyped-def]
    host = Path(HOST_PASSWD)
    host.write_text("podpytest:x:1001:1001::/:/bin/sh\n")
    try:
        img = import_image("evilpasswd", lambda t: (_group(t), trap(t)))
        r = podpy_cli("run", "--rm", "-u", "podpytest", img, "id")
    finally:
        host.unlink()
    assert r.returncode == 125, (r.stdout, r.stderr)
    assert r.stderr.startswith("Error: ") and msg in r.stderr and len(r.stderr.strip().splitlines()) == 1
    _no_containers(podpy_cli, podpy_root)


def test_workdir_through_symlink_stays_inside(podpy_cli, import_image, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    outside = tmp_path / "outside"
    outside.mkdir()
    img = import_image("evilwd", lambda t: _add(t, "wd", link=str(outside)), "WORKDIR /wd/sub")
    r = podpy_cli("run", "--rm", img, "pwd")
    assert r.returncode == 0, r.stderr
    # the link is followed as the container sees it: to the same path inside its own rootfs
    assert r.stdout == f"{outside}/sub\n" and list(outside.iterdir()) == []


def test_volume_destination_through_symlink_lands_inside(podpy_cli, import_image, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    outside = tmp_path / "outside"
    outside.mkdir()
    src = tmp_path / "src"
    src.mkdir()
    (src / "marker").write_text("vol\n")
    img = import_image("evilvol", lambda t: _add(t, "data", link=str(outside)))
    r = podpy_cli("run", "--rm", "-v", f"{src}:/data/vol", img, "sh", "-c", "cat /data/vol/marker")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "vol\n" and list(outside.iterdir()) == []


def test_dev_null_symlink_and_proc_symlink(podpy_cli, podpy_root, import_image, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    secret = tmp_path / "secret"
    secret.write_text("host secret\n")
    img = import_image("evilnull", lambda t: _add(t, "dev/null", link=str(secret)))
    r = podpy_cli(
        "run", "--rm", img, "sh", "-c", "test -c /dev/null && echo chr; echo x > /dev/null; cat /dev/null"
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout == "chr\n" and secret.read_text() == "host secret\n"

    img = import_image("evilproc", lambda t: _add(t, "proc", link="/tmp"), skip=("proc",))
    r = podpy_cli("run", "--rm", img, "true")
    assert r.returncode == 125 and "/proc is a symlink in the container rootfs" in r.stderr, r.stderr
    _no_containers(podpy_cli, podpy_root)


def test_proc_self_fd_cwd_refused(podpy_cli, podpy_root) -> None:  # type: ignore[no-untyped-def]
    load = podpy_cli("load", "-i", "/opt/podpy-test/images/archives/busybox-docker-archive.tar")
    assert load.returncode == 0, load.stderr
    for n in (3, 4, 7):
        r = podpy_cli("run", "--rm", "-w", f"/proc/self/fd/{n}", "127.0.0.1:5000/busybox:latest", "pwd")
        assert r.returncode == 126 and "cwd" in r.stderr, (r.stdout, r.stderr)  # as runc/podman: never runs
    _no_containers(podpy_cli, podpy_root)


def test_masked_paths_and_proc_sys(podpy_cli) -> None:  # type: ignore[no-untyped-def]
    assert (
        podpy_cli("load", "-i", "/opt/podpy-test/images/archives/busybox-docker-archive.tar").returncode == 0
    )
    script = (
        "for f in /proc/keys /proc/timer_list /proc/kcore; do echo $f=$(cat $f | wc -c); done; "
        "echo x > /proc/sys/kernel/domainname 2>/dev/null && echo sys-written || echo sys-refused; ls /proc/acpi | wc -l"
    )
    r = podpy_cli("run", "--rm", "127.0.0.1:5000/busybox:latest", "sh", "-c", script)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["/proc/keys=0", "/proc/timer_list=0", "/proc/kcore=0", "sys-refused", "0"]
