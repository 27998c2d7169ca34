"""The init's privilege-dropping sequence, checked on the recording syscall seam."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from podpy.runtime import executor
from podpy.util import syscalls
from podpy.util.errors import PodpyError


def test_caps_and_user_order() -> None:
    proc = {
        "user": {"uid": 1000, "gid": 1000, "additionalGids": [1000, 10]},
        "capabilities": {
            "bounding": ["CAP_NET_RAW"],
            "effective": ["CAP_NET_RAW"],
            "permitted": ["CAP_NET_RAW"],
            "inheritable": ["CAP_NET_RAW"],
            "ambient": ["CAP_NET_RAW"],
        },
    }
    with syscalls.use(syscalls.RecordingSyscalls()) as fake:
        executor._set_user_and_caps(proc)
    names = fake.names()
    drops = [c.args[1] for c in fake.of("prctl") if c.args[0] == syscalls.PR_CAPBSET_DROP]
    assert 13 not in drops and 0 in drops and 21 in drops
    # keepcaps on before the uid change, off after; groups and gid before uid
    i_uid = names.index("setresuid")
    assert names.index("setresgid") < i_uid
    keep = [
        (i, c.args[1])
        for i, c in enumerate(fake.calls)
        if c.name == "prctl" and c.args[0] == syscalls.PR_SET_KEEPCAPS
    ]
    assert keep[0][0] < i_uid < keep[1][0] and [k[1] for k in keep] == [1, 0]
    cap = fake.of("capset")[0].args[0]
    assert cap.effective == cap.permitted == cap.inheritable == 1 << 13
    amb = [c.args for c in fake.of("prctl") if c.args[0] == syscalls.PR_CAP_AMBIENT]
    assert amb[0][1] == syscalls.PR_CAP_AMBIENT_CLEAR_ALL and amb[1][1:3] == (
        syscalls.PR_CAP_AMBIENT_RAISE,
        13,
    )


@pytest.mark.parametrize(
    "patch, msg",
    [
        ({"linux": {"seccomp": {"defaultAction": "SCMP_ACT_NOTIFY"}}}, "SCMP_ACT_NOTIFY is not supported"),
        (
            {"linux": {"namespaces": [{"type": "user"}]}},
            "uidMappings and gidMappings go with a new user namespace",
        ),
        (
            {"linux": {"uidMappings": [{"containerID": 0, "hostID": 1, "size": 1}]}},
            "uidMappings and gidMappings",
        ),
        (
            {
                "linux": {
                    "namespaces": [{"type": "user"}],
                    "uidMappings": [{"containerID": 0, "hostID": 1, "size": 1}],
                }
            },
            "it needs both",
        ),
        ({"process": {"args": [], "cwd": "/"}}, "process.args"),
    ],
)
def test_refused_configs(tmp_path: Path, patch: dict, msg: str) -> None:
    cfg = {"ociVersion": "1.0.2", "process": {"args": ["true"], "cwd": "/"}, "root": {"path": "rootfs"}}
    cfg.update(patch)
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(PodpyError, match=msg):
        executor.load_config(tmp_path)


def test_state_of_unknown_container(tmp_path: Path) -> None:
    with pytest.raises(PodpyError, match="does not exist"):
        executor.state(tmp_path, "nope")
    with pytest.raises(PodpyError, match="invalid container id"):
        executor.state(tmp_path, "../x")


def test_exit_code_mapping() -> None:
    assert executor.exit_code(3 << 8) == 3
    assert executor.exit_code(9) == 137


def test_terminal_needs_console_socket(tmp_path: Path) -> None:
    cfg = {"process": {"args": ["sh"], "terminal": True}, "root": {"path": "rootfs"}}
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(PodpyError, match="console-socket is required"):
        executor.create(tmp_path, "t", tmp_path / "state")
    assert not (tmp_path / "state" / "t").exists()
