"""An id-shifted rootfs (``--userns=keep-id|nomap``) under each storage driver, run by podpy's runtime
and by runc: image root stays root inside, the user's own uid shows as the user, whiteouts and
opaque dirs still work on the shifted copies, writes land with the right owners.

Everything runs in one ``unshare --user --map-root-user --map-auto --mount`` (the stand-in for
podpy's namespace: 0 = the test user, 1.. = the subordinate range), since the mounts live there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.integration.runtime.conftest import TREE, Runtime, build_rootfs

SCRIPT = textwrap.dedent(
    """
    import json, os, subprocess, sys
    from pathlib import Path
    from podpy.runtime import spec as rs
    from podpy.runtime.users import ExecUser
    from podpy.spec.container import ContainerSpec, Mount
    from podpy.store.idshift import IdMap
    from podpy.store.rootfs import mount_rootfs, prepare_volumes, unmount_rootfs

    t, driver, mode, runtime = Path(sys.argv[1]), sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
    base, top = t / "base", t / "top"            # two layers in overlay form, as the store keeps them
    (top / "etc").mkdir(parents=True); (top / "opq").mkdir()
    os.chown(base / "home/user", 1000, 1000); os.chown(base / "home/user/f", 1000, 1000)
    os.mknod(top / "gone", 0o600 | 0o020000, os.makedev(0, 0))   # whiteout of base's /gone
    os.setxattr(top / "opq", "user.overlay.opaque", b"y")         # hides base's /opq/old
    (top / "opq/new").write_text("n")
    host = rs.HostLimits.current()
    uidm, gidm, uid, gid = rs.userns_mappings(mode, host)
    idmap = IdMap.from_oci(uidm, gidm)
    cdir = t / "ctr"; cdir.mkdir(mode=0o700)
    m = mount_rootfs([base, top], cdir, driver, idmap=idmap)
    vol = t / "vol"; vol.mkdir(); vol.chmod(0o777)
    ro = t / "ro"; ro.mkdir(); ro.chmod(0o777); (ro / "src").write_text("s\\n")
    mounts = prepare_volumes([Mount("bind", "/vol", str(vol), ("rbind", "rprivate")),
                              Mount("bind", "/ro", str(ro), (), overlay=True)], cdir, max(uid, 0), max(gid, 0), idmap)
    spec = ContainerSpec(image="x", command=["sh", "-c", sys.argv[5]], userns=mode, network="none", mounts=mounts)
    user = ExecUser(uid, gid, [gid], "/") if mode == "keep-id" else ExecUser(0, 0, [], "/root")
    cfg = rs.generate(spec, {"Env": ["PATH=/bin"]}, rootfs=str(m.path), container_id="c" * 12, user=user, host=host)
    (t / "bundle").mkdir(); (t / "bundle/config.json").write_text(json.dumps(cfg))
    r = subprocess.run(runtime + ["run", "--bundle", str(t / "bundle"), "ctr"], capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, timeout=60)
    print(json.dumps({"driver": m.driver, "rc": r.returncode, "out": r.stdout, "err": r.stderr,
                      "vol": sorted((p.name, p.stat().st_uid) for p in vol.iterdir()),
                      "ro": sorted(p.name for p in ro.iterdir()),
                      "upper_root": os.stat(cdir / "diff").st_uid}))
    unmount_rootfs(m)
    import shutil
    for d in (cdir, t / "mapped", vol):  # subordinate-owned files: removed here, inside the namespace
        shutil.rmtree(d, ignore_errors=True)
    """
)

INSIDE = (
    "id -u; stat -c '%n %u:%g' / /bin/busybox /home/user/f /etc/passwd; ls /opq; ls /gone 2>/dev/null || echo gone;"
    " touch /tmp/w && stat -c %u /tmp/w; touch /vol/w; cat /ro/src; echo x > /ro/new && ls /ro | tr '\\n' ' '"
)


def _run(tmp_path: Path, runtime: Runtime, driver: str, mode: str) -> dict[str, object]:
    base = build_rootfs(tmp_path / "base")
    (base / "home/user").mkdir(parents=True)
    (base / "home/user/f").write_text("u")
    (base / "gone").write_text("g")
    (base / "opq").mkdir()
    (base / "opq/old").write_text("o")
    (base / "tmp").chmod(0o1777)
    env = dict(os.environ, PYTHONPATH=str(TREE))
    argv = runtime.argv()
    r = subprocess.run(["unshare", "--user", "--map-root-user", "--map-auto", "--mount", sys.executable, "-c",
                        SCRIPT, str(tmp_path), driver, mode, json.dumps(argv), INSIDE],
                       capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    assert r.returncode == 0, r.stderr
    res: dict[str, object] = json.loads(r.stdout.splitlines()[-1])
    assert res["rc"] == 0, res["err"]
    return res


@pytest.mark.parametrize("driver", ["overlay", "fuse-overlayfs", "vfs"])
def test_keep_id_rootfs(tmp_path: Path, runtime: Runtime, driver: str) -> None:
    res = _run(tmp_path, runtime, driver, "keep-id")
    me = str(os.getuid())
    assert res["driver"] == driver
    lines = str(res["out"]).splitlines()
    assert lines[0] == me  # the process runs as the user's own uid
    assert lines[1:5] == ["/ 0:0", "/bin/busybox 0:0", "/home/user/f 1000:1000", "/etc/passwd 0:0"]
    assert lines[5:7] == ["new", "gone"]  # opaque dir and whiteout honoured
    assert lines[7] == me  # a file the user writes in the rootfs is the user's
    assert lines[8:] == ["s", "new src "]  # the overlay volume: source visible, writes accepted
    assert res["vol"] == [["w", 0]]  # in the bind-mounted dir the user's file is the user's (0 here = host user)
    assert res["ro"] == ["src"]  # the overlay volume's source is untouched
    assert res["upper_root"] == (1 if driver == "overlay" else 0)  # fuse shifts on the fly; vfs has no upper


def test_nomap_rootfs(tmp_path: Path, runtime: Runtime) -> None:
    for p in tmp_path.parents:  # the container's root is none of the user's ids: it needs o+x above
        if p.stat().st_uid == os.getuid():
            p.chmod(p.stat().st_mode | 0o001)
    tmp_path.chmod(0o711)
    res = _run(tmp_path, runtime, "overlay", "nomap")
    lines = str(res["out"]).splitlines()
    assert lines[0] == "0"
    assert lines[1:5] == ["/ 0:0", "/bin/busybox 0:0", "/home/user/f 1000:1000", "/etc/passwd 0:0"]
    assert lines[7] == "0" and res["vol"] == [["w", 1]]  # container root = the first subordinate id
