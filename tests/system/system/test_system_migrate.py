"""`podpy system migrate` and users without subordinate ID ranges, as a user meets them.

A user without ranges is simulated with PODPY_SUBUID_FILE/PODPY_SUBGID_FILE (podpy reads its ranges
there instead of /etc/subuid; newuidmap is not involved when there are none). Changing the file
and running `podpy system migrate` is what an admin's `usermod --add-subuids` + migrate does.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from podpy.rootless.pause import read_pid
from podpy.util.paths import Paths

NO_RANGES = {"PODPY_SUBUID_FILE": "", "PODPY_SUBGID_FILE": ""}


@pytest.fixture
def empty_subid(tmp_path: Path) -> dict[str, str]:
    f = tmp_path / "subid-empty"
    f.write_text("# no ranges for anybody\n")
    return {"PODPY_SUBUID_FILE": str(f), "PODPY_SUBGID_FILE": str(f)}


def gone(pid: int | None) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except (OSError, IndexError):
        return True


def uid_map(podpy_cli: Any, **kw: Any) -> list[list[int]]:
    r = podpy_cli("unshare", "cat", "/proc/self/uid_map", check=True, **kw)
    return [[int(x) for x in line.split()] for line in r.stdout.splitlines()]


def test_migrate_after_ranges_were_added(
    podpy_cli: Any, paths: Paths, empty_subid: dict[str, str], testenv: dict[str, Any]
) -> None:
    u = testenv["user"]
    r = podpy_cli("unshare", "cat", "/proc/self/uid_map", env=empty_subid, check=True)
    assert [ln.split() for ln in r.stdout.splitlines()] == [["0", str(u["uid"]), "1"]]
    assert "no subordinate ids" in r.stderr and "podpy system migrate" in r.stderr
    old = read_pid(paths)
    # the admin adds ranges (here: the real /etc/subuid applies again); the namespace is unchanged ...
    assert uid_map(podpy_cli) == [[0, u["uid"], 1]]
    # ... until migrate
    r = podpy_cli("system", "migrate", check=True)
    assert (r.stdout, r.stderr) == ("", "")
    assert read_pid(paths) is None and gone(old)
    assert uid_map(podpy_cli) == [[0, u["uid"], 1], [1, u["subuid"]["start"], u["subuid"]["count"]]]
    assert read_pid(paths) not in (None, old)
    info = json.loads(podpy_cli("info", "--format", "json", check=True).stdout)
    assert info["host"]["idMappings"]["uidmap"][1] == {
        "container_id": 1,
        "host_id": u["subuid"]["start"],
        "size": u["subuid"]["count"],
    }


def test_migrate_without_a_namespace_is_quiet(podpy_cli: Any, paths: Paths) -> None:
    r = podpy_cli("system", "migrate")
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    r = podpy_cli("system", "migrate", "--new-runtime", "crun")
    assert r.returncode == 125 and "--new-runtime is not supported" in r.stderr


def test_migrate_leaves_a_process_using_the_old_namespace_alone(podpy_cli: Any, paths: Paths) -> None:
    import subprocess

    podpy_cli("unshare", "true", check=True)
    exe = __import__("shutil").which("podpy")
    args = [exe, "--root", str(paths.root), "--runroot", str(paths.runroot), "unshare", "sleep", "60"]
    sleeper = subprocess.Popen(args)
    try:
        podpy_cli("system", "migrate", check=True)
        assert sleeper.poll() is None  # still running in the old namespace
    finally:
        sleeper.send_signal(signal.SIGKILL)
        sleeper.wait()


def test_no_ranges_single_mapping_image_with_other_owners_fails_clearly(
    podpy_cli: Any, paths: Paths, empty_subid: dict[str, str], testenv: dict[str, Any]
) -> None:
    busybox, layered = testenv["images"]["busybox"]["ref"], testenv["images"]["layered-v2s2"]["ref"]
    # an image whose files all belong to root works, with the warning once
    r = podpy_cli("pull", "-q", "--tls-verify=false", busybox, env=empty_subid)
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("no subordinate ids for user") == 1
    assert "using a single UID/GID mapping" in r.stderr
    r = podpy_cli("info", "--format", "{{json .Host.IDMappings.UIDMap}}", env=empty_subid, check=True)
    assert json.loads(r.stdout) == [{"container_id": 0, "host_id": testenv["user"]["uid"], "size": 1}]
    # files owned by uid 1000 and 65534 cannot be represented: one clear error, exit 125
    r = podpy_cli("pull", "-q", "--tls-verify=false", layered, env=empty_subid)
    assert r.returncode == 125
    [line] = r.stderr.splitlines()
    assert line.startswith("Error: ")
    assert "not mapped in podpy's user namespace" in line
    assert "/etc/subuid" in line and "usermod --add-subuids" in line and "podpy system migrate" in line
    r = podpy_cli("images", "--format", "{{.Repository}}:{{.Tag}}", env=empty_subid, check=True)
    assert r.stdout.splitlines() == [busybox]  # nothing of the failed image is left as an image


def test_concurrent_first_commands_after_migrate_share_one_new_namespace(
    podpy_cli: Any, paths: Paths
) -> None:
    import shutil
    import subprocess

    podpy_cli("unshare", "true", check=True)
    old = read_pid(paths)
    for _ in range(2):
        podpy_cli("system", "migrate", check=True)
        exe = shutil.which("podpy")
        args = [exe, "--root", str(paths.root), "--runroot", str(paths.runroot)]
        procs = [
            subprocess.Popen(
                [
                    *args,
                    *(
                        ["info", "--format", "{{.Store.GraphDriverName}}"]
                        if i % 3 == 0
                        else ["unshare", "readlink", "/proc/self/ns/user"]
                    ),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i in range(9)
        ]
        results = [(p.communicate(timeout=60), p.returncode) for p in procs]
        assert all(rc == 0 for _, rc in results), results
        namespaces = {out for i, ((out, _), _) in enumerate(results) if i % 3}
        assert len(namespaces) == 1
        [ns] = namespaces
        pid = read_pid(paths)
        assert pid is not None and pid != old and not gone(pid)
        old = pid
        live = [
            p
            for p in map(int, filter(str.isdigit, os.listdir("/proc")))
            if not gone(p) and _comm(p) == "podpy pause" and _userns(p) == ns.strip()
        ]
        assert live == [pid]


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _userns(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/ns/user")
    except OSError:
        return ""
