"""The exec process spec built from the container's bundle (pure), and runc's error line."""

from __future__ import annotations

from pathlib import Path

import pytest

from podpy.engine.exec import _runc_message, build_process
from podpy.runtime import nsexec
from podpy.util.errors import PodpyError

CFG = {
    "process": {
        "args": ["sleep", "1000"],
        "env": ["PATH=/bin", "HOME=/root", "KEEP=1"],
        "cwd": "/srv",
        "user": {"uid": 0, "gid": 0, "umask": 18},
        "noNewPrivileges": True,
        "capabilities": {"bounding": ["CAP_CHOWN"], "effective": ["CAP_CHOWN"], "permitted": ["CAP_CHOWN"]},
        "terminal": True,
    }
}


@pytest.fixture
def rootfs(tmp_path: Path) -> str:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n"
    )
    (tmp_path / "etc/group").write_text("root:x:0:\nuser:x:1000:\nwheel:x:10:user\n")
    return str(tmp_path)


def test_defaults_come_from_the_container(rootfs: str) -> None:
    p = build_process(CFG, ["id"], env={"KEEP": "2", "NEW": "x"}, user=None, workdir=None,
                      privileged=False, rootfs=rootfs)  # fmt: skip
    assert p["args"] == ["id"] and p["terminal"] is False and p["cwd"] == "/srv"
    assert p["env"] == ["PATH=/bin", "HOME=/root", "KEEP=2", "NEW=x"]
    assert p["user"] == {"uid": 0, "gid": 0, "umask": 18} and p["noNewPrivileges"] is True
    assert p["capabilities"]["effective"] == ["CAP_CHOWN"]
    assert CFG["process"]["args"] == ["sleep", "1000"]  # the bundle's process is not modified


def test_user_workdir_privileged(rootfs: str) -> None:
    p = build_process(CFG, ["id"], env={}, user="user", workdir="/tmp", privileged=False, rootfs=rootfs)
    assert p["user"] == {"uid": 1000, "gid": 1000, "umask": 18} and p["cwd"] == "/tmp"
    assert "HOME=/home/user" in p["env"]
    assert p["capabilities"] == {"bounding": ["CAP_CHOWN"], "effective": [], "permitted": []}
    p = build_process(
        CFG, ["id"], env={"HOME": "/h"}, user="user", workdir=None, privileged=False, rootfs=rootfs
    )
    assert "HOME=/h" in p["env"]  # -e wins over the user's home
    p = build_process(CFG, ["id"], env={}, user=None, workdir=None, privileged=True, rootfs=rootfs)
    assert (
        "CAP_SYS_ADMIN" in p["capabilities"]["effective"] and "CAP_SYS_ADMIN" in p["capabilities"]["bounding"]
    )
    with pytest.raises(PodpyError, match="unable to find user nobody"):
        build_process(CFG, ["id"], env={}, user="nobody", workdir=None, privileged=False, rootfs=rootfs)


def test_runc_message() -> None:
    line = 'time="2026-11-29T05:41:03Z" level=error msg="exec failed: exec: \\"nosuch\\": not found in $PATH"'
    assert _runc_message("warn\n" + line + "\n") == 'exec failed: exec: "nosuch": not found in $PATH'
    assert _runc_message("plain error\n") == "plain error"
    js = '{"level":"error","msg":"exec failed: \\"x\\" denied","time":"t"}\nexec failed: plain\n'
    assert _runc_message(js) == 'exec failed: "x" denied'  # --log-format json: the JSON line wins


def test_open_namespaces_skips_shared_ones() -> None:
    # our own process: every namespace is the one we are in, so nothing is joined
    assert nsexec.open_namespaces(__import__("os").getpid(), {"mount", "pid", "network", "ipc", "uts"}) == []
