"""ensure_userns decisions (create, join, stale pid file, reused pid, already inside) on a fake /proc.

The forking creation itself needs a real kernel: tests/integration/rootless covers it. Here the
syscall seam is the recording fake and ``_create`` is replaced by a stub that "starts" a pause
process by adding it to the fake /proc.
"""

from __future__ import annotations

import errno
import logging
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from podpy.rootless import pause, userns
from podpy.util import syscalls
from podpy.util.errors import RootlessError
from podpy.util.paths import Paths
from podpy.util.syscalls import CLONE_NEWNS, CLONE_NEWUSER, RecordingSyscalls


class FakeProc:
    """A /proc with just what podpy reads: stat, comm, status, ns links, uid_map, task/."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.add("self", comm="python", user="user:[1]", mnt="mnt:[1]", uid_map="0 0 4294967295\n")
        (root / "self/task").mkdir()
        (root / "self/task" / "1").mkdir()

    def add(
        self,
        pid: int | str,
        comm: str = pause.PAUSE_NAME,
        state: str = "S",
        uid: int | None = None,
        user: str = "user:[2]",
        mnt: str = "mnt:[3]",
        uid_map: str = "0 1000 1\n1 100000 65536\n",
    ) -> None:
        d = self.root / str(pid)
        (d / "ns").mkdir(parents=True)
        (d / "stat").write_text(f"{pid} ({comm}) {state} 1 1 1 0\n")
        (d / "comm").write_text(comm + "\n")
        u = os.getuid() if uid is None else uid
        (d / "status").write_text(f"Name:\t{comm}\nUid:\t{u}\t{u}\t{u}\t{u}\n")
        (d / "uid_map").write_text(uid_map)
        (d / "gid_map").write_text(uid_map)
        os.symlink(user, d / "ns/user")
        os.symlink(mnt, d / "ns/mnt")


@pytest.fixture
def proc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeProc:
    fp = FakeProc(tmp_path / "proc")
    monkeypatch.setattr(pause, "PROC", str(fp.root))
    return fp


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    return Paths(root=tmp_path / "root", runroot=tmp_path / "run")


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[RecordingSyscalls]:
    monkeypatch.setattr(os, "environ", dict(os.environ))  # ensure_userns sets markers; keep them local
    os.environ["PODPY_ROOTLESS"] = "1"
    for k in (userns.ENV_CONFIGURED, userns.ENV_ROOTLESS_UID, userns.ENV_ROOTLESS_GID):
        os.environ.pop(k, None)
    with syscalls.use(RecordingSyscalls()) as f:
        yield f  # type: ignore[misc]


@pytest.fixture
def created(monkeypatch: pytest.MonkeyPatch, proc: FakeProc) -> list[int]:
    """Replace the forking creation: each call adds pause process 5000+n and records it."""
    pids: list[int] = []

    def fake_create(p: Paths) -> int:
        pid = 5000 + len(pids)
        proc.add(pid, user=f"user:[{pid}]", mnt=f"mnt:[{pid + 1}]")
        pause.record(p, pid)
        pids.append(pid)
        return pid

    monkeypatch.setattr(userns, "_create", fake_create)
    return pids


def joined(fake: RecordingSyscalls, pid: int, proc: FakeProc) -> list[tuple[str, tuple[object, ...]]]:
    return [
        ("setns", (f"{proc.root}/{pid}/ns/user", CLONE_NEWUSER)),
        ("setns", (f"{proc.root}/{pid}/ns/mnt", CLONE_NEWNS)),
        ("setresgid", (0, 0, 0)),
        ("setresuid", (0, 0, 0)),
    ]


def calls(fake: RecordingSyscalls) -> list[tuple[str, tuple[object, ...]]]:
    return [(c.name, c.args) for c in fake.calls]


def write_pid(paths: Paths, pid: int, ns: str | None = None) -> None:
    paths.runroot.mkdir(parents=True, exist_ok=True)
    (paths.runroot / "pause.pid").write_text(f"{pid}\n")
    if ns is not None:
        (paths.runroot / "pause.ns").write_text(ns)


def test_first_call_creates_then_joins_user_ns_before_mount_ns(
    proc: FakeProc, paths: Paths, fake: RecordingSyscalls, created: list[int]
) -> None:
    userns.ensure_userns(paths)
    assert created == [5000]
    assert calls(fake) == joined(fake, 5000, proc)
    assert (paths.runroot / "pause.pid").read_text() == "5000\n"
    assert (paths.runroot / "pause.ns").read_text() == "user:[5000]\nmnt:[5001]\n"
    assert (paths.runroot.stat().st_mode & 0o777) == 0o700
    assert os.environ[userns.ENV_CONFIGURED] == "1"
    assert os.environ[userns.ENV_ROOTLESS_UID] == str(os.getuid())


def test_live_pause_process_is_joined_not_recreated(
    proc: FakeProc, paths: Paths, fake: RecordingSyscalls, created: list[int]
) -> None:
    proc.add(4242, user="user:[7]", mnt="mnt:[8]")
    write_pid(paths, 4242, "user:[7]\nmnt:[8]\n")
    userns.ensure_userns(paths)
    assert created == []
    assert calls(fake) == joined(fake, 4242, proc)


def test_stale_pid_file_is_recovered(
    proc: FakeProc, paths: Paths, fake: RecordingSyscalls, created: list[int]
) -> None:
    write_pid(paths, 4242, "user:[7]\nmnt:[8]\n")  # no such process
    userns.ensure_userns(paths)
    assert created == [5000]
    assert calls(fake) == joined(fake, 5000, proc)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"comm": "bash"},  # pid reused by another program
        {"state": "Z"},  # the pause process died and nobody reaped it
        {"uid": 4321},  # pid reused by another user's pause process
        {"user": "user:[9]"},  # another runroot's pause process
    ],
    ids=["other-program", "zombie", "other-user", "other-namespace"],
)
def test_pid_that_is_not_our_pause_process_is_replaced(
    proc: FakeProc, paths: Paths, fake: RecordingSyscalls, created: list[int], kwargs: dict[str, object]
) -> None:
    proc.add(4242, **kwargs)  # type: ignore[arg-type]
    write_pid(paths, 4242, "user:[2]\nmnt:[3]\n")
    userns.ensure_userns(paths)
    assert created == [5000]
    assert calls(fake) == joined(fake, 5000, proc)
    assert (paths.runroot / "pause.pid").read_text() == "5000\n"


def test_already_inside_does_nothing(
    proc: FakeProc, paths: Paths, fake: RecordingSyscalls, created: list[int]
) -> None:
    proc.add(4242, user="user:[1]", mnt="mnt:[1]")  # same links as "self"
    write_pid(paths, 4242, "user:[1]\nmnt:[1]\n")
    userns.ensure_userns(paths)
    assert created == [] and fake.calls == []


def test_inside_user_ns_but_other_mount_ns_joins_mount_ns_only(
    proc: FakeProc, paths: Paths, fake: RecordingSyscalls, created: list[int]
) -> None:
    proc.add(4242, user="user:[1]", mnt="mnt:[3]")
    write_pid(paths, 4242)
    userns.ensure_userns(paths)
    assert calls(fake) == [("setns", (f"{proc.root}/4242/ns/mnt", CLONE_NEWNS))]


def test_rootful_is_a_no_op(
    proc: FakeProc, paths: Paths, fake: RecordingSyscalls, created: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    del os.environ["PODPY_ROOTLESS"]
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    userns.ensure_userns(paths)
    assert created == [] and fake.calls == [] and not paths.runroot.exists()


def test_refuses_when_threads_run(
    proc: FakeProc, paths: Paths, fake: RecordingSyscalls, created: list[int]
) -> None:
    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    t.start()
    try:
        with pytest.raises(RootlessError, match="before any thread is started"):
            userns.ensure_userns(paths)
    finally:
        stop.set()
        t.join()
    assert created == [] and fake.calls == []


def test_join_failure_is_a_one_line_rootless_error(
    proc: FakeProc, paths: Paths, fake: RecordingSyscalls, created: list[int]
) -> None:
    fake.fail["setns"] = errno.EPERM
    proc.add(4242, user="user:[7]", mnt="mnt:[8]")
    write_pid(paths, 4242)
    with pytest.raises(RootlessError) as ei:
        userns.ensure_userns(paths)
    msg = ei.value.message
    assert "\n" not in msg
    assert (
        "cannot join podpy's user namespace (pause process 4242)" in msg and "Operation not permitted" in msg
    )
    assert f"setns('{proc.root}/4242/ns/user'" in msg


def test_in_podpy_userns_and_id_maps(
    proc: FakeProc, paths: Paths, fake: RecordingSyscalls, created: list[int]
) -> None:
    assert not userns.in_podpy_userns(paths)
    userns.ensure_userns(paths)
    # the fake setns changed nothing in the fake /proc; pretend we moved into 5000's namespaces
    (proc.root / "self/ns/user").unlink()
    os.symlink("user:[5000]", proc.root / "self/ns/user")
    assert userns.in_podpy_userns(paths)
    uid_map, gid_map = userns.userns_id_maps(paths)
    assert [m.line() for m in uid_map] == ["0 1000 1", "1 100000 65536"]
    assert gid_map == uid_map


# --- mapping decisions of the creating parent (no fork: the writes go to the fake /proc) -----------


@pytest.fixture
def subid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    u, g = tmp_path / "subuid", tmp_path / "subgid"
    u.write_text("")
    g.write_text("")
    monkeypatch.setenv(userns.ENV_SUBUID_FILE, str(u))
    monkeypatch.setenv(userns.ENV_SUBGID_FILE, str(g))
    monkeypatch.setattr(userns, "_user_name", lambda uid: "alice")
    return u, g


def test_ranges_are_mapped_with_newuidmap_and_newgidmap(
    proc: FakeProc, subid: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    subid[0].write_text("alice:100000:65536\n")
    subid[1].write_text("alice:200000:1000\nalice:300000:10\n")
    monkeypatch.setattr(userns, "_check_helper", lambda name, user: f"/usr/bin/{name}")
    ran: list[list[str]] = []

    class Done:
        returncode = 0
        stderr = ""

    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: ran.append(cmd) or Done())
    userns._write_maps(77, 1000, 1000)
    assert ran == [
        ["/usr/bin/newuidmap", "77", "0", "1000", "1", "1", "100000", "65536"],
        ["/usr/bin/newgidmap", "77", "0", "1000", "1", "1", "200000", "1000", "1001", "300000", "10"],
    ]


def test_no_ranges_single_mapping_written_directly_with_a_warning(
    proc: FakeProc,
    subid: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    subid[0].write_text("bob:100000:65536\n")  # someone else's range: the suggestion must avoid it
    d = proc.root / "77"
    d.mkdir()
    for f in ("uid_map", "gid_map", "setgroups"):
        (d / f).write_text("")

    def no_helpers(name: str, user: str) -> str:
        raise AssertionError("newuidmap must not be needed without ranges")

    monkeypatch.setattr(userns, "_check_helper", no_helpers)
    with caplog.at_level(logging.WARNING):
        userns._write_maps(77, 1000, 1001)
    assert (d / "uid_map").read_text() == "0 1000 1\n"
    assert (d / "gid_map").read_text() == "0 1001 1\n"
    assert (d / "setgroups").read_text() == "deny"
    [rec] = caplog.records
    msg = rec.getMessage()
    assert "no subordinate ids for user alice" in msg and "single UID/GID mapping" in msg
    assert "usermod --add-subuids 165536-231071 --add-subgids 165536-231071 alice" in msg
    assert "podpy system migrate" in msg


def test_ranges_but_no_newuidmap_names_the_package(
    proc: FakeProc, subid: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    subid[0].write_text("alice:100000:65536\n")
    subid[1].write_text("alice:100000:65536\n")
    monkeypatch.setattr(userns, "find_helper", lambda name: None)
    with pytest.raises(RootlessError, match=r"newuidmap not found.*install the uidmap package"):
        userns._write_maps(77, 1000, 1000)


def test_newuidmap_without_setuid_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tool = tmp_path / "newuidmap"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    monkeypatch.setattr(userns, "find_helper", lambda name: str(tool))
    with pytest.raises(RootlessError, match=r"neither setuid root nor has file capabilities.*chmod u\+s"):
        userns._check_helper("newuidmap", "alice")


def test_newuidmap_failure_is_reported_in_one_line(
    proc: FakeProc, subid: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    subid[0].write_text("alice:100000:65536\n")
    subid[1].write_text("alice:100000:65536\n")
    monkeypatch.setattr(userns, "_check_helper", lambda name, user: f"/usr/bin/{name}")

    class Failed:
        returncode = 1
        stderr = "newuidmap: uid range [1-65537) -> [100000-165536) not allowed\n"

    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: Failed())
    with pytest.raises(RootlessError) as ei:
        userns._write_maps(77, 1000, 1000)
    assert ei.value.message == (
        "newuidmap failed to map the subordinate uids of user alice: newuidmap: uid range [1-65537) -> "
        "[100000-165536) not allowed; check the uid ranges of alice in /etc/subuid"
    )


def _inside_some_userns(proc: FakeProc) -> None:
    os.environ[userns.ENV_CONFIGURED] = "1"
    (proc.root / "self/uid_map").write_text("0 1000 1\n1 100000 65536\n")


def test_inside_podpy_ns_whose_pause_is_gone_stays_put(
    proc: FakeProc, paths: Paths, fake: RecordingSyscalls, created: list[int]
) -> None:
    _inside_some_userns(proc)
    write_pid(paths, 4242)  # gone: e.g. `podpy system migrate` ran while a `podpy unshare` shell was open
    userns.ensure_userns(paths)
    assert created == [] and fake.calls == []


def test_inside_another_podpy_ns_is_refused(
    proc: FakeProc, paths: Paths, fake: RecordingSyscalls, created: list[int]
) -> None:
    _inside_some_userns(proc)
    proc.add(4242, user="user:[7]", mnt="mnt:[8]")
    write_pid(paths, 4242)
    with pytest.raises(RootlessError, match="inside another podpy user namespace"):
        userns.ensure_userns(paths)
    assert created == [] and fake.calls == []
