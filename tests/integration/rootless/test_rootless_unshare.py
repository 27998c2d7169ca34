"""podpy's user namespace as the unprivileged user: `podpy unshare`, the pause process, ID maps."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from podpy.rootless import userns
from podpy.rootless.pause import read_pid
from podpy.util.paths import Paths

from .conftest import pause_processes


def ns_of(podpy_cli: Any, **kw: Any) -> str:
    r = podpy_cli("unshare", "readlink", "/proc/self/ns/user", check=True, **kw)
    return r.stdout.strip()


def map_lines(text: str) -> list[list[int]]:
    return [[int(x) for x in line.split()] for line in text.splitlines()]


def test_uid_and_gid_maps_are_own_id_then_subordinate_range(
    podpy_cli: Any, user_paths: Paths, testenv: dict[str, Any]
) -> None:
    u = testenv["user"]
    assert os.getuid() == u["uid"]
    r = podpy_cli("unshare", "cat", "/proc/self/uid_map", check=True)
    assert map_lines(r.stdout) == [[0, u["uid"], 1], [1, u["subuid"]["start"], u["subuid"]["count"]]]
    r = podpy_cli("unshare", "cat", "/proc/self/gid_map", check=True)
    assert map_lines(r.stdout) == [[0, u["gid"], 1], [1, u["subgid"]["start"], u["subgid"]["count"]]]
    assert r.stderr == ""  # ranges exist: no warning


def test_inside_is_root_with_podpy_paths_and_same_cwd(
    podpy_cli: Any, user_paths: Paths, tmp_path: Path
) -> None:
    assert podpy_cli("unshare", "id", "-u", check=True).stdout == "0\n"
    assert podpy_cli("unshare", "id", "-g", check=True).stdout == "0\n"
    r = podpy_cli("unshare", "sh", "-c", 'echo "$CONTAINERS_GRAPHROOT $CONTAINERS_RUNROOT"; pwd', check=True)
    assert r.stdout.splitlines() == [f"{user_paths.root} {user_paths.runroot}", os.getcwd()]


def test_calls_share_one_namespace_and_its_mounts(podpy_cli: Any, user_paths: Paths, tmp_path: Path) -> None:
    outside = os.readlink("/proc/self/ns/user")
    first = ns_of(podpy_cli)
    assert first != outside
    assert ns_of(podpy_cli) == first
    d = tmp_path / "mnt"
    d.mkdir()
    podpy_cli("unshare", "sh", "-c", f"mount -t tmpfs none {d} && echo hi > {d}/marker", check=True)
    assert podpy_cli("unshare", "cat", f"{d}/marker", check=True).stdout == "hi\n"
    assert not (d / "marker").exists()  # the mount lives in podpy's mount namespace only
    r = podpy_cli("unshare", "findmnt", "-n", "-o", "PROPAGATION", "/", check=True)
    assert r.stdout.strip() == "private"


def test_concurrent_first_invocations_create_one_pause_process(podpy_cli: Any, user_paths: Paths) -> None:
    import shutil

    exe = shutil.which("podpy")
    assert exe
    args = [exe, "--root", str(user_paths.root), "--runroot", str(user_paths.runroot)]
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[3]))
    procs = [
        subprocess.Popen(
            [*args, "unshare", "readlink", "/proc/self/ns/user"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(10)
    ]
    results = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0] * 10, results
    namespaces = {out.strip() for out, _ in results}
    assert len(namespaces) == 1
    [ns] = namespaces
    assert pause_processes(ns) == [read_pid(user_paths)]


def test_dead_pause_process_is_replaced(podpy_cli: Any, user_paths: Paths) -> None:
    first = ns_of(podpy_cli)
    pid = read_pid(user_paths)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while pause_processes(first) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert (user_paths.runroot / "pause.pid").read_text() == f"{pid}\n"  # stale file left behind
    second = ns_of(podpy_cli)
    assert second != first
    assert pause_processes(second) == [read_pid(user_paths)] != [pid]


def test_pid_file_naming_another_process_is_not_trusted(podpy_cli: Any, user_paths: Paths) -> None:
    other = subprocess.Popen(["sleep", "60"])
    try:
        user_paths.runroot.mkdir(parents=True, exist_ok=True)
        (user_paths.runroot / "pause.pid").write_text(f"{other.pid}\n")
        ns = ns_of(podpy_cli)
        assert ns != os.readlink(f"/proc/{other.pid}/ns/user")
        assert read_pid(user_paths) != other.pid
        assert other.poll() is None  # the unrelated process was left alone
    finally:
        other.kill()
        other.wait()


def test_migrate_stops_the_pause_process(podpy_cli: Any, user_paths: Paths) -> None:
    first = ns_of(podpy_cli)
    pid = read_pid(user_paths)
    assert userns.migrate(user_paths) is True
    assert pause_processes(first) == []
    assert not (user_paths.runroot / "pause.pid").exists()
    assert userns.migrate(user_paths) is False
    assert ns_of(podpy_cli) != first
    assert read_pid(user_paths) != pid


def test_chown_inside_lands_on_the_subordinate_range(
    podpy_cli: Any, user_paths: Paths, testenv: dict[str, Any]
) -> None:
    f = user_paths.root / "owned"
    f.write_text("x")
    podpy_cli("unshare", "chown", "1000:1000", str(f), check=True)
    st = f.stat()
    start_u, start_g = testenv["user"]["subuid"]["start"], testenv["user"]["subgid"]["start"]
    assert (st.st_uid, st.st_gid) == (start_u + 999, start_g + 999)
    r = podpy_cli("unshare", "stat", "-c", "%u:%g", str(f), check=True)
    assert r.stdout == "1000:1000\n"


def test_without_subordinate_ids_single_mapping_and_one_warning(
    podpy_cli: Any, user_paths: Paths, tmp_path: Path, testenv: dict[str, Any]
) -> None:
    empty = tmp_path / "empty"
    empty.write_text("")
    env = {userns.ENV_SUBUID_FILE: str(empty), userns.ENV_SUBGID_FILE: str(empty)}
    r = podpy_cli("unshare", "cat", "/proc/self/uid_map", "/proc/self/gid_map", env=env, check=True)
    u = testenv["user"]
    assert map_lines(r.stdout) == [[0, u["uid"], 1], [0, u["gid"], 1]]
    name = u["name"]
    assert f"no subordinate ids for user {name}" in r.stderr
    assert "usermod --add-subuids 100000-165535 --add-subgids 100000-165535" in r.stderr
    assert "podpy system migrate" in r.stderr
    # joining the existing namespace warns no more; other IDs cannot be used
    r = podpy_cli("unshare", "chown", "1000", str(empty), env=env)
    assert r.returncode != 0 and "no subordinate ids" not in r.stderr
    assert "Invalid argument" in r.stderr


def test_exit_codes(podpy_cli: Any, user_paths: Paths, tmp_path: Path) -> None:
    assert podpy_cli("unshare", "true").returncode == 0
    assert podpy_cli("unshare", "sh", "-c", "exit 42").returncode == 42
    r = podpy_cli("unshare", "no-such-command-podpy")
    assert r.returncode == 127
    assert r.stderr == 'Error: exec: "no-such-command-podpy": executable file not found in $PATH\n'
    script = tmp_path / "script"
    script.write_text("#!/bin/sh\necho hi\n")  # not executable
    r = podpy_cli("unshare", str(script))
    assert r.returncode == 126
    assert r.stderr == f'Error: exec: "{script}": permission denied\n'
    r = podpy_cli("unshare", "sh", "-c", "kill -TERM $$")
    assert r.returncode == -signal.SIGTERM  # the command replaced podpy: its death is reported as is


def test_default_command_is_the_users_shell(podpy_cli: Any, user_paths: Paths) -> None:
    r = podpy_cli("unshare", input="id -u; exit 5\n", env={"SHELL": "/bin/sh"})
    assert (r.returncode, r.stdout) == (5, "0\n")
    r = podpy_cli("unshare", input="id -u\n", env={"SHELL": None})
    assert (r.returncode, r.stdout) == (0, "0\n")


def test_nested_podpy_uses_the_same_namespace(podpy_cli: Any, user_paths: Paths) -> None:
    ns = ns_of(podpy_cli)
    r = podpy_cli("unshare", "podpy", "unshare", "readlink", "/proc/self/ns/user", check=True)
    assert r.stdout.strip() == ns


def test_without_xdg_runtime_dir_the_runroot_is_private_in_tmp(podpy_root: Any, user_paths: Paths) -> None:
    import shutil

    exe = shutil.which("podpy")
    assert exe
    fallback = Path(f"/tmp/podpy-run-{os.getuid()}")
    paths = Paths(root=podpy_root.root, runroot=fallback / "podpy")
    had_pause = read_pid(paths) is not None
    env = {k: v for k, v in os.environ.items() if k not in ("XDG_RUNTIME_DIR", "PODPY_RUNROOT")}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[3])
    try:
        r = subprocess.run(
            [exe, "--root", str(podpy_root.root), "unshare", "sh", "-c", 'echo "$CONTAINERS_RUNROOT"; id -u'],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        assert r.returncode == 0, r.stderr
        assert r.stdout.splitlines() == [str(paths.runroot), "0"]
        assert (fallback.stat().st_mode & 0o777) == 0o700
        assert (paths.runroot.stat().st_mode & 0o777) == 0o700
        assert read_pid(paths) is not None
    finally:
        if not had_pause:
            userns.stop_pause_process(paths)


def test_ensure_userns_in_process_as_the_store_uses_it(
    podpy_cli: Any, user_paths: Paths, tmp_path: Path
) -> None:
    import sys

    script = f"""
import os, sys
from pathlib import Path
from podpy.rootless import userns
from podpy.util.paths import Paths
paths = Paths(root=Path({str(user_paths.root)!r}), runroot=Path({str(user_paths.runroot)!r}))
assert not userns.in_podpy_userns(paths)
userns.ensure_userns(paths)
userns.ensure_userns(paths)  # idempotent
f = Path("made-inside")
f.write_text("x")
os.chown(f, 5, 6)
print(os.getuid(), os.getgid(), os.getcwd(), userns.in_podpy_userns(paths), userns.in_podpy_userns(),
      userns.rootless_uid(), os.readlink("/proc/self/ns/user"))
"""
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[3]))
    r = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, env=env, check=False
    )
    assert r.returncode == 0, r.stderr
    uid, gid, cwd, in_paths, in_any, ruid, ns = r.stdout.split()
    assert (uid, gid, cwd, in_paths, in_any, ruid) == (
        "0",
        "0",
        str(tmp_path),
        "True",
        "True",
        str(os.getuid()),
    )
    assert ns == ns_of(podpy_cli)
    st = (tmp_path / "made-inside").stat()
    maps = podpy_cli("unshare", "cat", "/proc/self/uid_map", check=True).stdout
    sub_start = map_lines(maps)[1][1]
    assert st.st_uid == sub_start + 4
    podpy_cli("unshare", "rm", str(tmp_path / "made-inside"), check=True)


def _pause_processes_tagged(tag: str) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        try:
            if not name.isdigit() or Path(f"/proc/{name}/comm").read_text().strip() != "podpy pause":
                continue
            state = Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()[0]
            if state != "Z" and tag.encode() in Path(f"/proc/{name}/environ").read_bytes():
                found.append(int(name))
        except OSError:
            continue
    return found


def test_pause_process_exits_when_its_creator_fails_before_recording_it(user_paths: Paths) -> None:
    import sys
    import uuid

    tag = f"PODPY_TEST_TAG={uuid.uuid4().hex}"
    script = f"""
from pathlib import Path
from podpy.rootless import pause, userns
from podpy.util.errors import RootlessError
from podpy.util.paths import Paths
def broken_record(paths, pid):
    raise OSError("disk full")
pause.record = broken_record
try:
    userns.ensure_userns(Paths(root=Path({str(user_paths.root)!r}), runroot=Path({str(user_paths.runroot)!r})))
except OSError as e:
    print("failed:", e)
"""
    key, value = tag.split("=")
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[3]), **{key: value})
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=False)
    assert r.stdout == "failed: disk full\n", r.stderr
    deadline = time.monotonic() + 5
    while _pause_processes_tagged(tag) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _pause_processes_tagged(tag) == []
    assert read_pid(user_paths) is None
