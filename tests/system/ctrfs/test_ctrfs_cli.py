"""``podpy cp``/``diff``/``export``/``commit`` as a user types them (shapes compared with podman 4.3).

Bad input: symlinks planted in the container pointing at ``/`` or at host paths must never make
``cp`` write or read a host file: the path is resolved inside the container's rootfs.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from tests.conftest import TREE, _podpy_command

IMG = "127.0.0.1:5000/busybox:latest"

SETUP = (
    "echo x > /etc/newf; rm /etc/group; mkdir -p /tmp/d/e; echo y >> /etc/passwd; "
    "ln -s / /tmp/rootlink; ln -s {host}/victim /tmp/hostlink; ln -s {host} /tmp/hostdir; "
    "mkdir -p {host}; echo CTR-SECRET > {host}/secret; ln -s {host}/secret /tmp/secretlink; "
    "echo ctrshadow > /etc/shadow; ln -s /etc/shadow /tmp/shadowlink"
)


@pytest.fixture
def hostdir(tmp_path: Path) -> Path:
    """A host directory the user owns, named in the container's planted symlinks."""
    d = tmp_path / "host"
    d.mkdir()
    os.chmod(tmp_path, 0o777)
    os.chmod(d, 0o777)
    (d / "secret").write_text("HOST-SECRET\n")
    os.chmod(d / "secret", 0o666)
    return d


@pytest.fixture
def raw(podpy_root):  # type: ignore[no-untyped-def]
    """Like ``podpy_cli`` but with bytes in and out (tar streams)."""

    def run(*args: str, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        env = dict(os.environ, PYTHONPATH=str(TREE), XDG_CONFIG_HOME=str(podpy_root.config_home))
        return subprocess.run([*_podpy_command(), *podpy_root.args, *args], input=input,
                              capture_output=True, env=env, timeout=300, check=False)  # fmt: skip

    return run


def _ok(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    return r.stdout


@pytest.fixture
def ctr(podpy, hostdir: Path) -> str:  # type: ignore[no-untyped-def]
    _ok(podpy("run", "--name", "c1", IMG, "sh", "-c", SETUP.format(host=hostdir)))
    return "c1"


def _cat(podpy, ctr: str, path: str, tmp: Path) -> str:  # type: ignore[no-untyped-def]
    out = tmp / "catout"
    if out.exists():
        out.unlink()
    _ok(podpy("cp", f"{ctr}:{path}", str(out)))
    return out.read_text()


def test_diff_text_and_json(podpy, ctr: str) -> None:  # type: ignore[no-untyped-def]
    lines = _ok(podpy("diff", ctr)).splitlines()
    for want in (
        "C /etc",
        "D /etc/group",
        "A /etc/newf",
        "C /etc/passwd",
        "C /tmp",
        "A /tmp/d",
        "A /tmp/d/e",
    ):
        assert want in lines
    assert lines == sorted(lines, key=lambda ln: ln[2:])
    assert not [ln for ln in lines if ln[2:] in ("/etc/hosts", "/etc/hostname", "/etc/resolv.conf")]
    doc = json.loads(_ok(podpy("diff", "--format", "json", ctr)))
    assert set(doc) == {"changed", "added", "deleted"}
    assert doc["deleted"] == ["/etc/group"] and "/etc/passwd" in doc["changed"] and "/tmp/d/e" in doc["added"]
    r = podpy("diff", "nosuch")
    assert r.returncode == 125 and "nosuch" in r.stderr


def test_cp_in_through_planted_symlinks_stays_inside(
    podpy, raw, ctr: str, hostdir: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    src = tmp_path / "payload.txt"
    src.write_text("payload\n")
    os.chmod(src, 0o644)
    # /tmp/rootlink -> / : the file lands in the container's /etc, not the host's
    _ok(podpy("cp", str(src), f"{ctr}:/tmp/rootlink/etc/"))
    assert not Path("/etc/payload.txt").exists()
    assert _cat(podpy, ctr, "/etc/payload.txt", tmp_path) == "payload\n"
    # /tmp/hostlink -> HOST/victim (a host path): created as that path in the container
    _ok(podpy("cp", str(src), f"{ctr}:/tmp/hostlink"))
    assert not (hostdir / "victim").exists()
    assert _cat(podpy, ctr, str(hostdir / "victim"), tmp_path) == "payload\n"
    # /tmp/hostdir -> HOST (a host dir): the host's secret is untouched
    src2 = tmp_path / "secret"
    src2.write_text("overwritten\n")
    _ok(podpy("cp", str(src2), f"{ctr}:/tmp/hostdir/"))
    assert (hostdir / "secret").read_text() == "HOST-SECRET\n"
    assert _cat(podpy, ctr, str(hostdir / "secret"), tmp_path) == "overwritten\n"
    # a tar stream whose member goes through the link, or climbs with ../, stays inside too
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name in ("rootlink/etc/viatar", "../../../../etc/climb"):
            data = b"tar\n"
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    r = raw("cp", "-", f"{ctr}:/tmp", input=buf.getvalue())
    assert r.returncode == 0, r.stderr
    assert not Path("/etc/viatar").exists() and not Path("/etc/climb").exists()
    assert _cat(podpy, ctr, "/etc/viatar", tmp_path) == "tar\n"
    assert _cat(podpy, ctr, "/etc/climb", tmp_path) == "tar\n"


def test_cp_out_of_symlinks_reads_the_container(podpy, ctr: str, hostdir: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert _cat(podpy, ctr, "/tmp/shadowlink", tmp_path) == "ctrshadow\n"
    assert _cat(podpy, ctr, "/tmp/secretlink", tmp_path) == "CTR-SECRET\n"
    assert _cat(podpy, ctr, "/tmp/rootlink/etc/shadow", tmp_path) == "ctrshadow\n"
    r = podpy("cp", f"{ctr}:/tmp/hostlink", str(tmp_path / "x"))  # dangling in the container
    assert r.returncode == 125 and "could not be found on container c1" in r.stderr
    assert not (tmp_path / "x").exists()


def test_cp_directories_and_tar_streams(podpy, raw, ctr: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "f").write_text("f\n")
    os.symlink("/etc/passwd", tree / "link")
    _ok(podpy("cp", str(tree), f"{ctr}:/tmp/d"))
    assert _cat(podpy, ctr, "/tmp/d/tree/sub/f", tmp_path) == "f\n"
    r = raw("cp", f"{ctr}:/tmp/d/tree", "-")
    assert r.returncode == 0, r.stderr
    with tarfile.open(fileobj=io.BytesIO(r.stdout)) as tf:
        names = {m.name: m for m in tf.getmembers()}
    assert {"tree", "tree/sub", "tree/sub/f", "tree/link"} <= set(names)
    assert names["tree/link"].issym() and names["tree/link"].linkname == "/etc/passwd"
    assert names["tree/sub/f"].uid == 0  # -a (default): owned by the container's user
    out = tmp_path / "back"
    _ok(podpy("cp", f"{ctr}:/tmp/d/tree", str(out)))
    assert (out / "sub" / "f").read_text() == "f\n" and os.readlink(out / "link") == "/etc/passwd"
    r = podpy("cp", "/nonexist", f"{ctr}:/tmp")
    assert r.returncode == 125 and '"/nonexist" could not be found on the host' in r.stderr
    r = podpy("cp", "nosuch:/etc", str(tmp_path))
    assert (r.returncode, r.stderr.strip()) == (125, 'Error: container "nosuch" does not exist')


def test_export(podpy, raw, ctr: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "fs.tar"
    _ok(podpy("export", "-o", str(out), ctr))
    with tarfile.open(out) as tf:
        names = set(tf.getnames())
        assert tf.extractfile("etc/newf").read() == b"x\n"  # type: ignore[union-attr]
    assert {"bin/sh", "etc/passwd", "tmp/d/e"} <= names and "etc/group" not in names
    r = raw("export", ctr)
    assert r.returncode == 0, r.stderr
    with tarfile.open(fileobj=io.BytesIO(r.stdout)) as tf:
        assert "etc/newf" in tf.getnames()


def test_commit(podpy, ctr: str) -> None:  # type: ignore[no-untyped-def]
    r = podpy("commit", "-m", "msg", "-a", "me", "-c", "CMD=cat /etc/newf", "-c", "ENV=FOO=bar",
              "-c", "LABEL=k=v", "-c", "WORKDIR=/tmp", ctr, "hhimg")  # fmt: skip
    assert r.returncode == 0, r.stderr
    iid = r.stdout.strip()
    assert len(iid) == 64 and "Writing manifest to image destination" in r.stderr
    assert _ok(podpy("run", "--rm", "hhimg")) == "x\n"
    assert (
        _ok(podpy("run", "--rm", "hhimg", "sh", "-c", "echo $FOO; pwd; ls /etc/group || true"))
        == "bar\n/tmp\n"
    )
    r = podpy("commit", "-q", "--format", "docker", ctr, "hhimg2")
    assert r.returncode == 0 and r.stderr == "" and len(r.stdout.strip()) == 64
    r = podpy("commit", "--format", "bad", ctr, "x")
    assert r.returncode == 125 and "bad" in r.stderr
    r = podpy("commit", "-c", "BOGUS x", ctr, "x")
    assert r.returncode == 125 and "BOGUS" in r.stderr


def test_cp_into_running_container(podpy, hostdir: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _ok(podpy("run", "-d", "--name", "live", IMG, "sh", "-c", "ln -s / /tmp/up; sleep 1000"))
    src = tmp_path / "live.txt"
    src.write_text("live\n")
    os.chmod(src, 0o644)
    for _ in range(100):  # the symlink is made by the container once it runs
        if podpy("cp", "live:/tmp/up/etc/passwd", str(tmp_path / "probe")).returncode == 0:
            break
        time.sleep(0.1)
    _ok(podpy("cp", str(src), "live:/tmp/up/etc/"))
    assert not Path("/etc/live.txt").exists()
    assert _cat(podpy, "live", "/etc/live.txt", tmp_path) == "live\n"
    assert "A /etc/live.txt" in _ok(podpy("diff", "live")).splitlines()


def _owned_tar(uid: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        ti = tarfile.TarInfo("owned")
        ti.size, ti.uid, ti.gid = 2, uid, uid
        tf.addfile(ti, io.BytesIO(b"o\n"))
    return buf.getvalue()


def test_cp_archive_flag_owner(podpy, raw, ctr: str) -> None:  # type: ignore[no-untyped-def]
    for flag, want in (("--archive=false", 1000), ("-a", 0)):
        r = raw("cp", flag, "-", f"{ctr}:/tmp", input=_owned_tar(1000))
        assert r.returncode == 0, r.stderr
        r = raw("cp", f"{ctr}:/tmp/owned", "-")
        with tarfile.open(fileobj=io.BytesIO(r.stdout)) as tf:
            assert tf.getmember("owned").uid == want, flag
    r = podpy("cp", "--archive=maybe", "/etc/hostname", f"{ctr}:/tmp")
    assert r.returncode == 125 and "maybe" in r.stderr


def test_keep_id_owners_as_the_container_sees_them(podpy, raw, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A ``--userns=keep-id`` rootfs holds id-shifted owners: cp, export and commit translate them, so
    the container, the tar and the committed image all show the ids the container uses."""
    uid = os.getuid()
    _ok(podpy("run", "-d", "--name", "kid", "--userns=keep-id", IMG, "sh", "-c",
              "echo x > /tmp/inside; sleep 100"))  # fmt: skip
    src = tmp_path / "f.txt"
    src.write_text("hello\n")
    _ok(podpy("cp", str(src), "kid:/tmp/f.txt"))
    for _ in range(100):
        if podpy("exec", "kid", "test", "-e", "/tmp/inside").returncode == 0:
            break
        time.sleep(0.1)
    owners = _ok(podpy("exec", "kid", "stat", "-c", "%n %u:%g", "/bin/busybox", "/tmp/f.txt", "/tmp/inside"))
    assert owners.split("\n")[:3] == ["/bin/busybox 0:0", f"/tmp/f.txt {uid}:{uid}", f"/tmp/inside {uid}:{uid}"]
    tar = raw("export", "kid").stdout
    with tarfile.open(fileobj=io.BytesIO(tar)) as tf:
        got = {m.name: (m.uid, m.gid) for m in tf.getmembers()}
    assert got["bin/busybox"] == (0, 0)
    assert got["tmp/f.txt"] == got["tmp/inside"] == (uid, uid)
    with tarfile.open(fileobj=io.BytesIO(raw("cp", "kid:/tmp/inside", "-").stdout)) as tf:
        assert [(m.name, m.uid) for m in tf.getmembers()] == [("inside", uid)]
    _ok(podpy("commit", "-q", "kid", "kidimg"))
    listed = _ok(podpy("run", "--rm", "kidimg", "stat", "-c", "%n %u:%g", "/bin/busybox", "/tmp/f.txt"))
    assert listed.split("\n")[:2] == ["/bin/busybox 0:0", f"/tmp/f.txt {uid}:{uid}"]


def test_cp_reads_and_writes_a_named_volume_not_the_rootfs_under_it(podpy, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """As podman's resolvePath: a path on a volume is the volume's file, in and out."""
    _ok(podpy("create", "--name", "volctr", "-v", "cpvol:/data", IMG, "true"))
    src = tmp_path / "in.txt"
    src.write_text("into the volume\n")
    os.chmod(src, 0o644)
    _ok(podpy("cp", str(src), "volctr:/data/"))
    out = _ok(podpy("run", "--rm", "-v", "cpvol:/v", IMG, "cat", "/v/in.txt"))
    assert out == "into the volume\n"  # another container sees it: it is in the volume
    _ok(podpy("run", "--rm", "-v", "cpvol:/v", IMG, "sh", "-c", "echo from-volume > /v/out.txt"))
    _ok(podpy("cp", "volctr:/data/out.txt", str(tmp_path / "out.txt")))
    assert (tmp_path / "out.txt").read_text() == "from-volume\n"
    _ok(podpy("rm", "volctr"))
    _ok(podpy("volume", "rm", "cpvol"))
