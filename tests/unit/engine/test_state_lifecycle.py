"""Container lifecycle bookkeeping without namespaces: reconcile, refresh from the exit file,
``ps`` rows/filters/JSON, time parsing for ``logs --since``, generated names."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest

from podpy.cli import lifecycle, ps, psview
from podpy.engine import containers
from podpy.engine.names import random_name
from podpy.engine.state import ContainerRecord, State
from podpy.monitor import exitfile, liveness
from podpy.util.errors import UsageError
from podpy.util.paths import Paths


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    return Paths(root=tmp_path / "root", runroot=tmp_path / "run")


def _rec(name: str, **kw: object) -> ContainerRecord:
    return ContainerRecord(id=secrets.token_hex(32), name=name, **kw)  # type: ignore[arg-type]


def _dead_pid() -> tuple[int, int]:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid, 1


def test_created_without_monitor_is_left_alone(paths: Paths) -> None:
    st = State(paths)
    r = st.create(_rec("c", state="created"))
    assert containers.refresh(st, paths, r).state == "created"
    assert st.reconcile(r.id, containers.exit_path(paths, r.id)).state == "created"


def test_dead_monitor_without_exit_file_is_exited_255(paths: Paths) -> None:
    st = State(paths)
    pid, start = _dead_pid()
    r = st.create(_rec("m", state="running", monitor_pid=pid, monitor_start=start))
    got = containers.refresh(st, paths, r)
    assert (got.state, got.exit_code) == ("exited", 255) and got.finished_at > 0
    evs = st.events()
    assert [e.action for e in evs][-2:] == ["died", "cleanup"]  # podman's order after an exit
    assert evs[-2].attributes["containerExitCode"] == 255


def test_exit_file_wins_over_a_live_monitor(paths: Paths) -> None:
    """The monitor writes the exit file before its cleanup runs: any command that looks first records it."""
    st = State(paths)
    me = os.getpid()
    r = st.create(_rec("x", state="running", monitor_pid=me, monitor_start=liveness.proc_start_time(me) or 0))
    assert containers.refresh(st, paths, r).state == "running"  # alive, no exit file: unchanged
    ef = containers.exit_path(paths, r.id)
    os.makedirs(os.path.dirname(ef))
    exitfile.write_exit_file(ef, 7, 1_700_000_000_000_000_000)
    got = containers.refresh(st, paths, st.get(r.id))
    assert (got.state, got.exit_code, got.finished_at) == ("exited", 7, 1_700_000_000_000_000_000)


def test_rm_flag_removes_on_cleanup(paths: Paths) -> None:
    st = State(paths)
    pid, start = _dead_pid()
    r = st.create(
        _rec("gone", state="running", monitor_pid=pid, monitor_start=start, config={"remove": True})
    )
    containers.container_dir(paths, r.id).mkdir(parents=True)
    assert containers.cleanup(paths, r.id) is None
    assert not st.exists(r.id) and not containers.container_dir(paths, r.id).exists()


def test_remove_running_needs_force_exit_2(paths: Paths) -> None:
    st = State(paths)
    me = os.getpid()
    st.create(_rec("busy", state="running", monitor_pid=me, monitor_start=liveness.proc_start_time(me) or 0))
    with pytest.raises(containers.StateImproper) as ei:
        containers.remove(paths, "busy")
    assert ei.value.exit_code == 2 and "cannot be removed without force" in ei.value.message


def test_status_text_like_podman() -> None:
    now = time.time()
    ns = int((now - 5) * 1e9)
    assert ps.status_text(_rec("a", state="running", started_at=ns), now) == "Up 5 seconds ago"
    assert (
        ps.status_text(_rec("a", state="exited", exit_code=3, finished_at=ns), now)
        == "Exited (3) 5 seconds ago"
    )
    assert ps.status_text(_rec("a", state="created"), now) == "Created"


def test_ps_row_command_truncation_and_json() -> None:
    r = _rec(
        "web",
        state="exited",
        exit_code=2,
        image_name="img:1",
        config={"args": ["sh", "-c", "echo hi; exit 3"]},
    )
    row = ps.PsRow(r, no_trunc=False, now=time.time())
    assert row.Command() == "sh -c echo hi; ex..." and len(row.Command()) == 20
    assert ps.PsRow(r, no_trunc=True, now=time.time()).Command() == "sh -c echo hi; exit 3"
    assert row.ID() == r.id[:12]
    j = row.to_json()
    assert j["Names"] == ["web"] and j["ExitCode"] == 2 and j["Exited"] and j["State"] == "exited"
    assert j["Command"] == ["sh", "-c", "echo hi; exit 3"] and j["Labels"] is None
    out = ps.ps_text([r], fmt="{{.Names}}:{{.ExitCode}}")
    assert out == "web:2\n"
    assert json.loads(ps.ps_text([r], fmt="json"))[0]["Id"] == r.id


def test_filters_parse_and_match() -> None:
    with pytest.raises(UsageError, match="^foo is an invalid filter$"):
        ps.parse_filters(["foo=bar"])
    with pytest.raises(UsageError, match="unknown container state: bogus"):
        ps.parse_filters(["status=bogus"])
    a = _rec("alpha", state="running", labels={"tier": "web"}, image_name="127.0.0.1:5000/busybox:latest",
             image_id="ab" * 32)  # fmt: skip
    f = ps.parse_filters(["name=alp", "label=tier=web", "ancestor=busybox", "status=running"])
    assert ps.match(f, a, {})
    assert not ps.match(ps.parse_filters(["label=tier=db"]), a, {})
    assert ps.match(ps.parse_filters(["ancestor=abab"]), a, {})
    assert ps.match(ps.parse_filters(["name=zzz", "name=alpha"]), a, {})  # same key: OR


def test_time_parsing() -> None:
    assert lifecycle.parse_time_ns("1700000000", "--since") == 1_700_000_000 * 10**9
    assert lifecycle.parse_time_ns("2023-11-14T22:13:20Z", "--since") == 1_700_000_000 * 10**9
    assert abs(lifecycle.parse_time_ns("10m", "--since") - (time.time() - 600) * 1e9) < 5e9
    with pytest.raises(UsageError):
        lifecycle.parse_time_ns("yesterday", "--since")
    assert lifecycle._parse_k8s_ts("2023-11-14T23:13:20.000000005+01:00") == 1_700_000_000 * 10**9 + 5


def test_random_names() -> None:
    names = {random_name() for _ in range(50)}
    assert all(re.fullmatch(r"[a-z]+_[a-z]+", n) for n in names) and len(names) > 10


def test_half_created_by_a_killed_cli_disappears(paths: Paths) -> None:
    """``kill -9`` of ``podpy create`` after the name was claimed: the next listing frees the name."""
    st = State(paths)
    pid, start = _dead_pid()
    dead = st.create(_rec("half", state="configured", monitor_pid=pid, monitor_start=start))
    me = os.getpid()
    busy = st.create(
        _rec("busy", state="configured", monitor_pid=me, monitor_start=liveness.proc_start_time(me) or 0)
    )
    assert [r.id for r in containers.list_containers(st, paths)] == [busy.id]
    assert not st.exists(dead.id) and st.exists(busy.id)


def test_fast_ps_takes_only_the_plain_shapes(paths: Paths, capsys: pytest.CaptureFixture[str]) -> None:
    """``fast_ps`` (no click) prints what ``ps_cmd`` would, or declines so click handles the rest."""
    st = State(paths)
    r = st.create(_rec("fast", state="created", image_name="img:1", config={"args": ["true"]}))
    g = ["--root", str(paths.root), "--runroot", str(paths.runroot)]
    assert psview.fast_ps([*g, "ps", "-a", "-q", "--no-trunc"])
    assert capsys.readouterr().out == r.id + "\n"
    assert psview.fast_ps([*g, "container", "ls", "--all", "--noheading"])
    out = capsys.readouterr().out
    assert out.startswith(r.id[:12]) and out.rstrip().endswith("fast") and "Created" in out
    assert psview.fast_ps([*g, "ps"]) and capsys.readouterr().out.startswith("CONTAINER ID")
    for declined in (
        ["ps", "--format", "json"],
        ["ps", "-n", "1"],
        ["ps", "--bogus"],
        ["images"],
        ["--root"],
    ):
        assert not psview.fast_ps([*g, *declined] if declined != ["--root"] else declined)
    assert capsys.readouterr().out == ""
