"""Paths and user databases are resolved inside the rootfs: image symlinks never reach the host."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from podpy.runtime.rootpath import mkdir_in_root, read_file_in_root, secure_join
from podpy.runtime.users import ExecUser, append_in_root, keep_id_additions, resolve_user
from podpy.util.errors import InvalidInput, PodpyError


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    r = tmp_path / "rootfs"
    (r / "etc").mkdir(parents=True)
    (r / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/sh\nu:x:1000:1000::/home/u:/bin/sh\nbad:line\n")
    (r / "etc/group").write_text("root:x:0:\nu:x:1000:\nwheel:x:10:u,other\n")
    return r


def test_secure_join_keeps_symlinks_inside(rootfs: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(str(outside), rootfs / "abs")  # absolute link to a host dir
    os.symlink("../../../../..", rootfs / "up")
    assert secure_join(str(rootfs), "/abs/x") == str(rootfs) + str(outside) + "/x"
    assert secure_join(str(rootfs), "/up/etc") == str(rootfs / "etc")
    assert secure_join(str(rootfs), "../../etc/passwd") == str(rootfs / "etc/passwd")
    os.symlink("loop", rootfs / "loop")
    with pytest.raises(InvalidInput, match="too many levels"):
        secure_join(str(rootfs), "/loop")


def test_mkdir_in_root_through_escaping_symlink(rootfs: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(str(outside), rootfs / "work")
    made = mkdir_in_root(str(rootfs), "/work/sub")
    assert made.startswith(str(rootfs) + "/") and os.path.isdir(made)
    assert not (outside / "sub").exists()


def test_read_file_refuses_fifo_and_huge_and_follows_links_inside(rootfs: Path, tmp_path: Path) -> None:
    os.mkfifo(rootfs / "fifo")
    with pytest.raises(InvalidInput, match="not a regular file"):
        read_file_in_root(str(rootfs), "/fifo", 100)
    (rootfs / "big").write_bytes(b"x" * 101)
    with pytest.raises(InvalidInput, match="too large"):
        read_file_in_root(str(rootfs), "/big", 100)
    assert read_file_in_root(str(rootfs), "/missing", 100) is None
    host = tmp_path / "hostfile"
    host.write_text("secret")
    os.symlink(str(host), rootfs / "link")
    assert read_file_in_root(str(rootfs), "/link", 100) is None  # resolved inside: rootfs/<host path>


def test_resolve_user_forms(rootfs: Path) -> None:
    r = str(rootfs)
    assert resolve_user(r, "").as_dict() == {"uid": 0, "gid": 0, "additional_gids": [], "home": "/root"}
    u = resolve_user(r, "u")
    assert (u.uid, u.gid, u.additional_gids, u.home) == (1000, 1000, [1000, 10], "/home/u")
    assert resolve_user(r, "1000:10").gid == 10
    assert resolve_user(r, "u:wheel").additional_gids == [10]
    n = resolve_user(r, "4242")
    assert (n.uid, n.gid, n.home) == (4242, 0, "/")
    assert resolve_user(r, "u", ["wheel", "55"]).additional_gids == [1000, 10, 55]
    with pytest.raises(PodpyError, match="unable to find user nobody: no matching entries in passwd file"):
        resolve_user(r, "nobody")
    with pytest.raises(PodpyError, match="unable to find group nogroup"):
        resolve_user(r, "u:nogroup")


def test_passwd_symlink_to_host_file_is_not_used(rootfs: Path, tmp_path: Path) -> None:
    host = tmp_path / "host-passwd"
    host.write_text("evil:x:4242:4242::/evil:/bin/sh\n")
    (rootfs / "etc/passwd").unlink()
    os.symlink(str(host), rootfs / "etc/passwd")
    with pytest.raises(PodpyError, match="unable to find user evil"):
        resolve_user(str(rootfs), "evil")


def test_passwd_fifo_or_huge_refused(rootfs: Path) -> None:
    (rootfs / "etc/passwd").unlink()
    os.mkfifo(rootfs / "etc/passwd")
    with pytest.raises(InvalidInput, match="not a regular file"):
        resolve_user(str(rootfs), "root")
    (rootfs / "etc/passwd").unlink()
    with open(rootfs / "etc/passwd", "wb") as f:
        f.truncate(1 << 30)  # 1 GiB, sparse
    with pytest.raises(InvalidInput, match="too large"):
        resolve_user(str(rootfs), "root")


def test_keep_id_passwd_lines_as_podman(rootfs: Path) -> None:
    root = str(rootfs)
    me = ExecUser(1001, 1001, [1001], "/")
    host = ("podpytest", "", "/home/podpytest", "podpytest")
    a = keep_id_additions(root, me, uid=1001, gid=1001, host_user=host, workdir="/", mount_dests=[])
    assert a.passwd == "podpytest:*:1001:1001::/:/bin/sh\n" and a.group == "podpytest:x:1001:podpytest\n"
    a = keep_id_additions(root, me, uid=1001, gid=1001, host_user=host, workdir="/w",
                          mount_dests=["/home/podpytest"])  # fmt: skip
    assert a.passwd.split(":")[5] == "/home/podpytest" and a.user.home == "/home/podpytest"
    a = keep_id_additions(root, me, uid=1001, gid=1001, host_user=host, workdir="/w", mount_dests=[])
    assert a.user.home == "/w"
    # keep-id:uid=200,gid=210 -> the "container user" entry (podman 4.3's exact lines)
    a = keep_id_additions(root, me, uid=200, gid=210, host_user=None, workdir="/", mount_dests=[])
    assert (a.passwd, a.group) == ("200:*:200:210:container user:/:/bin/sh\n", "210:x:210:200\n")
    # the image knows the user already (by uid, or by name): nothing is added
    a = keep_id_additions(root, me, uid=1000, gid=1000, host_user=None, workdir="/", mount_dests=[])
    assert (a.passwd, a.group, a.user) == ("", "", me)


def test_append_in_root_stays_inside(rootfs: Path, tmp_path: Path) -> None:
    root = rootfs
    host_file = tmp_path / "host-passwd"
    host_file.write_text("host\n")
    (root / "etc/passwd").unlink()
    os.symlink(str(host_file), root / "etc/passwd")  # a hostile image: /etc/passwd -> a host path
    append_in_root(str(root), "/etc/passwd", "u:*:1:1::/:/bin/sh\n", (os.getuid(), os.getgid()))
    assert host_file.read_text() == "host\n"
    assert (root / str(host_file).lstrip("/")).read_text() == "u:*:1:1::/:/bin/sh\n"  # resolved inside
    (root / "etc/group").write_text("root:x:0:")  # no final newline: one is added first
    append_in_root(str(root), "/etc/group", "g:x:5:u\n", (os.getuid(), os.getgid()))
    assert (root / "etc/group").read_text() == "root:x:0:\ng:x:5:u\n"
