"""Kernel overlay rootfs inside a user namespace: whiteouts honoured, writes go to the container layer."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.integration.runtime.conftest import TREE

SCRIPT = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from podpy.store.rootfs import mount_rootfs, unmount_rootfs
    t = Path(sys.argv[1])
    l1, l2 = t / "l1", t / "l2"
    for d in (l1 / "dir", l2 / "dir"):
        d.mkdir(parents=True)
    (l1 / "keep").write_text("k"); (l1 / "gone").write_text("g"); (l1 / "dir/old").write_text("o")
    (l2 / "dir/new").write_text("n")
    os.mknod(l2 / "gone", 0o600 | 0o020000, os.makedev(0, 0))
    os.setxattr(l2 / "dir", "user.overlay.opaque", b"y")
    m = mount_rootfs([l1, l2], t / "ctr")
    print(m.driver)
    print(sorted(os.listdir(m.path)), sorted(os.listdir(m.path / "dir")))
    (m.path / "written").write_text("w")
    os.unlink(m.path / "keep")
    unmount_rootfs(m)
    print(sorted(os.listdir(m.path)), sorted(os.listdir(t / "ctr/diff")))
    """
)


def test_overlay_mount(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(TREE))
    r = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", sys.executable, "-c", SCRIPT, str(tmp_path)],
                       capture_output=True, text=True, env=env, timeout=60)  # fmt: skip
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "overlay"
    assert lines[1] == "['dir', 'keep'] ['new']"
    assert lines[2] == "[] ['keep', 'written']"  # merged empty after unmount; upper has the write + whiteout
