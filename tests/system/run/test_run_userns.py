"""``podpy run --userns=keep-id|nomap``: the container's own user namespace over an id-shifted rootfs.

Every expected value is what ``podman run`` 4.3.1 prints for the same command as podpytest (uid
1001, subordinate range 100000+65536) on this machine, e.g. ``podman run --rm --userns=keep-id
busybox id`` → ``uid=1001(podpytest) gid=1001(podpytest) groups=1001(podpytest)``.
"""

from __future__ import annotations

import json
import os
import pwd
from pathlib import Path
from typing import Any

import pytest

from tests.system.run.test_run_cli import IMG
from tests.system.run.test_run_flags import out

ME = pwd.getpwuid(os.getuid())


def _keep_id_map(uid: int, size: int = 65537) -> list[str]:
    """/proc/self/uid_map of a keep-id container (podman's output, columns normalised)."""
    return [f"0 1 {uid}", f"{uid} 0 1", f"{uid + 1} {uid + 1} {size - 1 - uid}"]


def _norm(lines: list[str]) -> list[str]:
    return [" ".join(ln.split()) for ln in lines]


@pytest.fixture
def layered(podpy, testenv: dict[str, Any]) -> str:  # type: ignore[no-untyped-def]
    """The layered test image (USER 1000:1000, WORKDIR /data, hard links, whiteouts, opaque dir)."""
    r = podpy("load", "-i", testenv["archives"]["layered-oci-archive"]["path"])
    assert r.returncode == 0, r.stderr
    return str(testenv["images"]["layered-oci"]["image_id"])


def test_keep_id_identity_passwd_home(podpy) -> None:  # type: ignore[no-untyped-def]
    script = (f"id; echo HOME=$HOME; pwd; grep ^{ME.pw_name}: /etc/passwd; grep ^{ME.pw_name}: /etc/group;"
              " cat /proc/self/uid_map; grep Groups /proc/self/status")  # fmt: skip
    lines = out(podpy("run", "--rm", "--userns=keep-id", IMG, "sh", "-c", script))
    u = os.getuid()
    assert lines[0] == f"uid={u}({ME.pw_name}) gid={os.getgid()}({ME.pw_name}) groups={os.getgid()}({ME.pw_name})"
    assert lines[1:3] == ["HOME=/", "/"]
    assert lines[3] == f"{ME.pw_name}:*:{u}:{os.getgid()}:{ME.pw_gecos}:/:/bin/sh"
    assert lines[4] == f"{ME.pw_name}:x:{os.getgid()}:{ME.pw_name}"
    assert _norm(lines[5:8]) == _keep_id_map(u)
    assert lines[8].split() == ["Groups:", str(os.getgid())]
    # -w: HOME and the passwd entry follow the working directory
    lines = out(podpy("run", "--rm", "--userns=keep-id", "-w", "/tmp", IMG, "sh", "-c", "echo $HOME; pwd; tail -1 /etc/passwd"))
    assert lines == ["/tmp", "/tmp", f"{ME.pw_name}:*:{u}:{os.getgid()}:{ME.pw_gecos}:/tmp:/bin/sh"]
    # --user wins; the user's group is still added, HOME stays the keep-id one
    lines = out(podpy("run", "--rm", "--userns=keep-id", "-u", "0", IMG, "sh", "-c", "id -u; id -G; echo $HOME"))
    assert lines[0] == "0" and str(os.getgid()) in lines[1].split() and lines[2] == "/"


def test_keep_id_rootfs_owners_and_writes(podpy) -> None:  # type: ignore[no-untyped-def]
    lines = out(podpy("run", "--rm", "--userns=keep-id", IMG, "sh", "-c",
                      "stat -c '%n %u:%g %a' / /bin/busybox /etc/passwd /root /tmp; touch /tmp/x; stat -c %u:%g /tmp/x;"
                      " touch /root/x 2>&1 | sed 's/.*: //'"))  # fmt: skip
    assert lines[:5] == ["/ 0:0 755", "/bin/busybox 0:0 755", "/etc/passwd 0:0 644", "/root 0:0 700",
                         "/tmp 0:0 1777"]  # fmt: skip
    assert lines[5] == f"{os.getuid()}:{os.getgid()}"
    assert lines[6] == "Permission denied"  # the user is not root inside


def test_keep_id_bind_mount_writes_as_the_user(podpy, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    d = tmp_path / "vol"
    d.mkdir()
    (d / "mine").write_text("m")
    lines = out(podpy("run", "--rm", "--userns=keep-id", "-v", f"{d}:/data", IMG, "sh", "-c",
                      "stat -c %u:%g /data/mine; echo hi > /data/new; mkdir /data/dir"))  # fmt: skip
    assert lines == [f"{os.getuid()}:{os.getgid()}"]
    for name in ("new", "dir"):
        st = os.stat(d / name)
        assert (st.st_uid, st.st_gid) == (os.getuid(), os.getgid())
    # the host home mounted at the user's home becomes HOME (podman: home = the mount destination)
    lines = out(podpy("run", "--rm", "--userns=keep-id", "-v", f"{d}:{ME.pw_dir}", IMG, "sh", "-c",
                      "echo $HOME; tail -1 /etc/passwd"))  # fmt: skip
    assert lines == [ME.pw_dir, f"{ME.pw_name}:*:{os.getuid()}:{os.getgid()}:{ME.pw_gecos}:{ME.pw_dir}:/bin/sh"]


def test_keep_id_uid_gid_options(podpy) -> None:  # type: ignore[no-untyped-def]
    lines = out(podpy("run", "--rm", "--userns=keep-id:uid=200,gid=210", IMG, "sh", "-c",
                      "id; tail -1 /etc/passwd; tail -1 /etc/group; cat /proc/self/uid_map; echo $HOME"))  # fmt: skip
    assert lines[0] == "uid=200(200) gid=210(210) groups=210(210)"
    assert lines[1:3] == ["200:*:200:210:container user:/:/bin/sh", "210:x:210:200"]
    assert _norm(lines[3:6]) == ["0 1 200", "200 0 1", "201 201 65336"]
    assert lines[6] == "/"


def test_keep_id_image_user_wins(podpy, layered: str) -> None:  # type: ignore[no-untyped-def]
    """An image USER (1000:1000) is kept, as in Podman; the layered image's files keep their owners."""
    lines = out(podpy("run", "--rm", "--userns=keep-id", "--entrypoint", "sh", layered, "-c",
                      "id -u; id -g; echo $HOME; pwd; cd /; stat -c '%n %u:%g %a %h' data/hardlink.txt"
                      " data/owned-1000.txt data/owned-nobody.txt data/setuid-bin; stat -c '%n %u:%g' home/tester; ls opq"))  # fmt: skip
    assert lines[:4] == ["1000", "1000", "/data", "/data"]
    assert lines[4:9] == ["data/hardlink.txt 0:0 644 3", "data/owned-1000.txt 1000:1000 640 1",
                          "data/owned-nobody.txt 65534:65534 600 1", "data/setuid-bin 0:0 4755 1",
                          "home/tester 1000:1000"]  # fmt: skip
    assert lines[9:] == ["new.txt"]  # the opaque dir still hides the lower layer's files


def searchable(podpy_root) -> None:  # type: ignore[no-untyped-def]
    """nomap: the container's root is none of the user's IDs, so it needs o+x on the dirs above the
    container's (pytest's tmp dirs are 0700; podpy's own dirs and a home under /home are fine)."""
    for p in Path(podpy_root.root).parents:
        if p.stat().st_uid == os.getuid():
            p.chmod(p.stat().st_mode | 0o001)


def test_nomap(podpy, podpy_root) -> None:  # type: ignore[no-untyped-def]
    r = podpy("run", "--rm", "--userns=nomap", IMG, "true")
    assert r.returncode == 125 and "is not searchable by the container's user namespace" in r.stderr
    assert "chmod o+x" in r.stderr and len(r.stderr.splitlines()) == 1
    searchable(podpy_root)
    lines = out(podpy("run", "--rm", "--userns=nomap", IMG, "sh", "-c",
                      "id -u; cat /proc/self/uid_map; stat -c '%u:%g' / /etc/passwd; touch /x; stat -c %u:%g /x"))  # fmt: skip
    assert lines[0] == "0" and _norm(lines[1:2]) == ["0 1 65536"]
    assert lines[2:] == ["0:0", "0:0", "0:0"]


@pytest.mark.parametrize("mode", ["keep-id", "nomap"])
def test_runc_and_restart(podpy, podpy_root, mode: str) -> None:  # type: ignore[no-untyped-def]
    """The same container under runc; stopped and started again, the rootfs is remounted with its mapping."""
    searchable(podpy_root)
    r = podpy("run", "--name", "c", "--runtime", "runc", f"--userns={mode}", IMG, "sh", "-c",
              "id -u; stat -c %u:%g /etc/passwd; touch /tmp/kept")  # fmt: skip
    uid = str(os.getuid()) if mode == "keep-id" else "0"
    assert out(r) == [uid, "0:0"]
    assert out(podpy("start", "-a", "c")) == [uid, "0:0"]
    insp = json.loads(podpy("inspect", "c").stdout)[0]
    assert insp["State"]["ExitCode"] == 0


def test_exec_into_keep_id_container(podpy) -> None:  # type: ignore[no-untyped-def]
    r = podpy("run", "-d", "--name", "k", "--userns=keep-id", IMG, "sleep", "60")
    assert r.returncode == 0, r.stderr
    assert out(podpy("exec", "k", "id", "-u")) == [str(os.getuid())]
    lines = out(podpy("exec", "-u", "0", "k", "sh", "-c", "id -u; head -1 /proc/self/uid_map"))
    assert lines[0] == "0" and _norm(lines[1:]) == [f"0 1 {os.getuid()}"]


def test_storage_driver_vfs(podpy) -> None:  # type: ignore[no-untyped-def]
    lines = out(podpy("--storage-driver", "vfs", "run", "--rm", "--userns=keep-id", IMG, "sh", "-c",
                      "id -u; stat -c '%u:%g %a' / /bin/busybox /root; touch /tmp/f; stat -c %u /tmp/f"))  # fmt: skip
    assert lines == [str(os.getuid()), "0:0 755", "0:0 755", "0:0 700", str(os.getuid())]


def test_fuse_overlayfs_mount_program_maps_on_the_fly(podpy, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """With storage.conf's mount_program (as Podman), fuse-overlayfs shifts the ids itself: no copies."""
    conf = tmp_path / "storage.conf"
    conf.write_text('[storage]\ndriver = "overlay"\n[storage.options.overlay]\nmount_program = "/usr/bin/fuse-overlayfs"\n')
    lines = out(podpy("run", "--rm", "--userns=keep-id", IMG, "sh", "-c",
                      "stat -c %u:%g / /etc/passwd /bin/busybox; touch /tmp/x; stat -c %u /tmp/x;"
                      " grep ' / ' /proc/self/mounts | cut -d' ' -f3", env={"CONTAINERS_STORAGE_CONF": str(conf)}))  # fmt: skip
    assert lines == ["0:0", "0:0", "0:0", str(os.getuid()), "fuse.fuse-overlayfs"]


def test_inspect_shows_the_mapping_as_podman(podpy) -> None:  # type: ignore[no-untyped-def]
    """podman 4.3 for keep-id: UsernsMode "private", IDMappings as "C:H:S" (podpy's namespace = its host side)."""
    uid = os.getuid()
    assert podpy("create", "--name", "kim", "--userns=keep-id", IMG, "true").returncode == 0
    assert podpy("create", "--name", "hom", IMG, "true").returncode == 0
    fmt = "{{json .HostConfig.UsernsMode}} {{json .HostConfig.IDMappings}}"
    mode, maps = podpy("inspect", "--format", fmt, "kim").stdout.split(" ", 1)
    assert mode == '"private"'
    uidmap = json.loads(maps)["UidMap"]
    assert uidmap[:2] == [f"0:1:{uid}", f"{uid}:0:1"] and uidmap[2].startswith(f"{uid + 1}:{uid + 1}:"), uidmap
    assert podpy("inspect", "--format", fmt, "hom").stdout == '"" null\n'
