"""Id-shifted rootfs pieces that need no namespace: mappings, the shifted copy (with IDs that map to
the test user), keep-id passwd lines, -v U/O preparation, the bundle parts of keep-id/nomap."""

from __future__ import annotations

import json
import os
import stat
import struct
from pathlib import Path

import pytest

from podpy.runtime import spec as rs
from podpy.runtime.users import ExecUser
from podpy.spec.container import ContainerSpec, Mount
from podpy.store import idshift
from podpy.store.idshift import IdMap
from podpy.store.rootfs import mount_rootfs, prepare_volumes, recorded_idmap, reset_volume_overlays
from podpy.util.errors import StoreError, UsageError

KEEP_ID = IdMap.from_oci(
    [{"containerID": 0, "hostID": 1, "size": 1001}, {"containerID": 1001, "hostID": 0, "size": 1},
     {"containerID": 1002, "hostID": 1002, "size": 64535}],
    [{"containerID": 0, "hostID": 1, "size": 1001}, {"containerID": 1001, "hostID": 0, "size": 1}],
)  # fmt: skip
U, G = os.getuid(), os.getgid()
# Maps container root and the test user's own ids onto the test user: copies can chown without privileges.
SELF = IdMap(((0, U, 1), (U, U, 1)), ((0, G, 1), (G, G, 1)))


def test_idmap_shifts_like_the_kernel() -> None:
    assert [KEEP_ID.uid(i) for i in (0, 1000, 1001, 1002, 65536)] == [1, 1001, 0, 1002, 65536]
    assert KEEP_ID.gid(1001) == 0
    assert KEEP_ID.container_ids(0, 1) == (1001, 0) and KEEP_ID.container_ids(1002, 5000) == (1002, -1)
    with pytest.raises(StoreError, match="container gid 1002 cannot be mapped"):
        KEEP_ID.gid(1002)
    assert IdMap.from_json(KEEP_ID.to_json()) == KEEP_ID and IdMap.from_json(None) is None
    assert KEEP_ID.key == IdMap.from_json(json.loads(json.dumps(KEEP_ID.to_json()))).key  # stable
    assert KEEP_ID.key != SELF.key and len(KEEP_ID.key) == 16
    # what containers/storage passes to fuse-overlayfs (checked: on-disk 0 shows as 1, 1001 as 0)
    assert KEEP_ID.fuse_options() == (
        "uidmapping=0:1:1001:1001:0:1:1002:1002:64535,gidmapping=0:1:1001:1001:0:1"
    )


def test_file_capability_is_rerooted_at_the_container_root() -> None:
    v2 = struct.pack("<IIIII", 0x02000001, 1 << 13, 0, 0, 0)  # effective flag, CAP_NET_RAW
    v3 = idshift._fix_capability(v2, 4242)  # noqa: SLF001
    assert struct.unpack("<IIIIII", v3) == (0x03000001, 1 << 13, 0, 0, 0, 4242)
    assert idshift._fix_capability(v3, 7)[-4:] == struct.pack("<I", 7)  # noqa: SLF001
    assert idshift._fix_capability(b"junk", 1) == b"junk"  # noqa: SLF001


def _sample(src: Path) -> None:
    (src / "d/e").mkdir(parents=True)
    (src / "d/f").write_text("f")
    os.link(src / "d/f", src / "d/e/hard")
    os.symlink("/etc/shadow", src / "abs-link")
    os.mkfifo(src / "fifo", 0o640)
    (src / "suid").write_text("x")
    os.chmod(src / "suid", 0o4755)
    os.setxattr(src / "d/f", "user.podpy", b"v")
    os.utime(src / "d/f", ns=(1_000_000_000, 1_234_567_890_000_000_000))
    os.chmod(src / "d", 0o750)


def test_copy_shifted_keeps_everything_but_the_owners(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    _sample(src)
    dst = tmp_path / "dst"
    idshift.copy_shifted(src, dst, SELF)
    assert os.stat(dst / "d/f").st_ino == os.stat(dst / "d/e/hard").st_ino  # hard link kept
    assert os.stat(dst / "d/f").st_ino != os.stat(src / "d/f").st_ino  # a copy, not the layer's inode
    assert os.readlink(dst / "abs-link") == "/etc/shadow"  # never followed
    assert stat.S_ISFIFO(os.lstat(dst / "fifo").st_mode) and stat.S_IMODE(os.lstat(dst / "fifo").st_mode) == 0o640
    assert stat.S_IMODE(os.stat(dst / "suid").st_mode) == 0o4755  # chmod after chown keeps setuid
    assert stat.S_IMODE(os.stat(dst / "d").st_mode) == 0o750
    assert os.getxattr(dst / "d/f", "user.podpy") == b"v"
    assert os.stat(dst / "d/f").st_mtime_ns == 1_234_567_890_000_000_000
    assert (os.stat(dst / "d/f").st_uid, os.stat(dst / "d/f").st_gid) == (U, G)


def test_shifted_layer_is_made_once_and_cleans_leftovers(tmp_path: Path) -> None:
    layer = tmp_path / "overlay/abc/diff"
    layer.mkdir(parents=True)
    (layer / "file").write_text("x")
    (tmp_path / "overlay/abc/mapped").mkdir()
    (tmp_path / f"overlay/abc/mapped/.tmp-{SELF.key}-1-dead").mkdir()  # a killed copier's leftover
    out = idshift.shifted_layer(layer, SELF)
    assert out == tmp_path / "overlay/abc/mapped" / SELF.key and (out / "file").read_text() == "x"
    assert sorted(p.name for p in out.parent.iterdir()) == [".lock", SELF.key]
    (out / "marker").write_text("m")
    assert idshift.shifted_layer(layer, SELF) == out and (out / "marker").exists()  # reused
    with pytest.raises(StoreError, match="layer directory .* is missing"):
        idshift.shifted_layer(tmp_path / "overlay/nope/diff", SELF)


def test_unmappable_owner_fails_clearly(tmp_path: Path) -> None:
    layer = tmp_path / "l/diff"
    layer.mkdir(parents=True)
    (layer / "f").write_text("x")
    other = IdMap(((U + 1, 1, 1),), ((G + 1, 1, 1),))  # the test user's own ids are not in it
    with pytest.raises(StoreError, match=f"container uid {U} cannot be mapped to a host ID"):
        idshift.shifted_layer(layer, other)
    assert [p.name for p in (tmp_path / "l/mapped").iterdir()] == [".lock"]  # nothing half-made left


def test_chown_tree_refuses_system_dirs_and_follows_no_symlink(tmp_path: Path) -> None:
    for d in ("/", "/usr", "/etc", "/home"):
        with pytest.raises(StoreError, match=f"refusing to chown {d}"):
            idshift.chown_tree(d, U, G)
    d = tmp_path / "v"
    (d / "a").mkdir(parents=True)
    (d / "a/f").write_text("x")
    os.symlink("/etc", d / "a/etc-link")
    idshift.chown_tree(str(d), U, G)  # to ourselves: allowed unprivileged, walks everything
    assert os.stat("/etc").st_uid == 0  # the symlink's target was not touched


def test_vfs_rootfs_with_a_mapping_is_recorded_and_kept(tmp_path: Path) -> None:
    layer = tmp_path / "layer"
    (layer / "etc").mkdir(parents=True)
    (layer / "etc/passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    cdir = tmp_path / "ctr"
    cdir.mkdir()
    m = mount_rootfs([layer], cdir, "vfs", idmap=SELF)
    assert m.driver == "vfs" and (m.path / "etc/passwd").exists()
    assert stat.S_IMODE(os.stat(m.path).st_mode) == 0o755 and stat.S_IMODE(os.stat(cdir).st_mode) == 0o711
    assert recorded_idmap(cdir) == SELF
    assert json.loads((cdir / "driver").read_text())["shifted"] is True
    assert mount_rootfs([layer], cdir, "vfs").driver == "vfs"  # again, with the recorded mapping
    with pytest.raises(StoreError, match="another user namespace mapping"):
        mount_rootfs([layer], cdir, "vfs", idmap=KEEP_ID)


def test_unsearchable_parent_is_named(tmp_path: Path) -> None:
    top = tmp_path / "private"
    (top / "ctr").mkdir(parents=True)
    top.chmod(0o700)
    nomap = IdMap(((0, U + 1, 100),), ((0, G + 1, 100),))  # like nomap: the owner (the user) is not mapped
    with pytest.raises(StoreError, match=f"{top} is not searchable .* run chmod o\\+x {top}"):
        mount_rootfs([], top / "ctr", "vfs", idmap=nomap)


NS_HOST = rs.HostLimits(1024, 1024, 1024, 1024, ((0, 1001, 1), (1, 100000, 65536)), ((0, 1001, 1), (1, 100000, 65536)))  # fmt: skip


def test_bundle_keep_id_image_user_and_foreign_netns() -> None:
    tester = ExecUser(1000, 1000, [1000], "/data")
    spec = ContainerSpec(image="x", command=["id"], userns="keep-id")
    cfg = rs.generate(spec, {"User": "1000:1000"}, rootfs="R", container_id="c" * 12, user=tester, host=NS_HOST)
    assert cfg["process"]["user"] == {"uid": 1000, "gid": 1000, "umask": 0o022, "additionalGids": [1000, 1001]}
    assert cfg["linux"]["sysctl"] == {"net.ipv4.ping_group_range": "0 0"}
    sys_mount = next(m for m in cfg["mounts"] if m["destination"] == "/sys")
    assert sys_mount["type"] == "sysfs"
    # a network namespace made in podpy's namespace: no sysctl, the host's /sys bound
    cfg = rs.generate(spec, {}, rootfs="R", container_id="c" * 12, user=tester, host=NS_HOST, netns_path="/run/x")
    assert "sysctl" not in cfg["linux"]
    assert next(m for m in cfg["mounts"] if m["destination"] == "/sys")["type"] == "bind"
    opt = rs.generate(ContainerSpec(image="x", command=["id"], userns="keep-id:uid=200,gid=210"), {}, rootfs="R",
                      container_id="c" * 12, user=tester, host=NS_HOST)  # fmt: skip
    assert opt["linux"]["uidMappings"][1] == {"containerID": 200, "hostID": 0, "size": 1}
    assert opt["process"]["user"]["uid"] == 200 and opt["process"]["user"]["gid"] == 210


def test_overlay_volume_entry() -> None:
    m = Mount("bind", "/data", "/src", (), overlay=True, upperdir="/c/u", workdir="/c/w")
    assert rs.overlay_volume(m) == {"destination": "/data", "type": "overlay", "source": "overlay",
                                    "options": ["lowerdir=/src", "upperdir=/c/u", "workdir=/c/w", "userxattr"]}  # fmt: skip
    with pytest.raises(UsageError, match="no upper and work directory"):
        rs.overlay_volume(Mount("bind", "/data", "/src", (), overlay=True))


def test_prepare_and_reset_overlay_volumes(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    src.chmod(0o750)
    cdir = tmp_path / "ctr"
    cdir.mkdir()
    mounts = [Mount("bind", "/a", str(src), ("rprivate", "rbind")), Mount("bind", "/b", str(src), (), overlay=True)]
    out = prepare_volumes(mounts, cdir, 0, 0, SELF)
    assert out[0] == mounts[0]
    upper, work = cdir / "volume-overlays/1/upper", cdir / "volume-overlays/1/work"
    assert (out[1].upperdir, out[1].workdir) == (str(upper), str(work))
    assert stat.S_IMODE(os.stat(upper).st_mode) == 0o750  # looks like the source
    (upper / "changed").write_text("c")
    (work / "w").mkdir()
    reset_volume_overlays(cdir)
    assert list(upper.iterdir()) == [] and list(work.iterdir()) == [] and upper.is_dir()
    given = Mount("bind", "/c", str(src), (), overlay=True, upperdir=str(tmp_path / "no-up"), workdir=str(src))
    with pytest.raises(StoreError, match="no-up: no such file or directory"):
        prepare_volumes([given], cdir, 0, 0, None)
