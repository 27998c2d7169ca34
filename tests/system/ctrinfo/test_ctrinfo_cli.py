"""events, rename, top, port, stats, pause/unpause as a user types them.

Output shapes and error texts were compared with ``podman`` 4.3 (``tests/env/as-user.sh podman``):
rootless on cgroup v1 podman refuses ``stats`` and ``pause``; podpy computes stats from /proc and
refuses pause with podman's error.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time

from tests.conftest import TREE, _podpy_command

IMG = "127.0.0.1:5000/busybox:latest"
LINE_RE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? [+-]\d{4} \S+ container (\w+) ([0-9a-f]{64}) \(image=(\S+), name=(\S+)\)$"
)


SH = "sleep 100 & sleep 200 & wait"



def _interruptible() -> None:
    """Ctrl-C as at a terminal: a shell starts background jobs (a CI runner may be one) with SIGINT ignored,
    and an ignored signal stays ignored across exec."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)

def _wait_procs(podpy, ref: str, n: int) -> None:  # type: ignore[no-untyped-def]
    """The shell forks its children after ``run -d`` returns: wait until all ``n`` exist."""
    deadline = time.monotonic() + 20
    while len(_ok(podpy("top", ref, "pid")).splitlines()) - 1 < n and time.monotonic() < deadline:
        time.sleep(0.1)


def _ok(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    return r.stdout


def _err(r: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    assert r.stderr.startswith("Error: ") and text in r.stderr, r.stderr


def test_events_records_lifecycle_in_podman_line_format(podpy) -> None:  # type: ignore[no-untyped-def]
    cid = _ok(podpy("create", "--name", "ev1", IMG, "true")).strip()
    _ok(podpy("start", "ev1"))
    _ok(podpy("wait", "ev1"))
    _ok(podpy("rm", "ev1"))
    lines = _ok(podpy("events", "--stream=false")).splitlines()
    mine = [LINE_RE.match(ln) for ln in lines if cid in ln]
    assert all(mine), lines
    actions = [m.group(1) for m in mine if m]
    assert actions[0] == "create" and actions[-1] == "remove", actions
    assert "start" in actions and "died" in actions, actions
    assert {m.group(3) for m in mine if m} == {IMG}  # image= on every event, even after rm
    assert {m.group(4) for m in mine if m} == {"ev1"}


def test_events_filters_format_json_and_time_bounds(podpy) -> None:  # type: ignore[no-untyped-def]
    a = _ok(podpy("create", "--name", "eva", IMG, "true")).strip()
    _ok(podpy("create", "--name", "evb", IMG, "true"))
    out = _ok(podpy("events", "--stream=false", "--filter", "container=eva", "--format", "{{.Status}} {{.Name}}"))
    assert out == "create eva\n"
    out = _ok(podpy("events", "--stream=false", "--filter", "event=create", "--filter", "container=evb",
                    "--format", "json"))  # fmt: skip
    docs = [json.loads(ln) for ln in out.splitlines()]
    assert [(d["Status"], d["Name"], d["Type"], d["Image"]) for d in docs] == [("create", "evb", "container", IMG)]
    assert docs[0]["Time"].endswith("Z") or re.search(r"[+-]\d\d:\d\d$", docs[0]["Time"])
    images = _ok(podpy("events", "--stream=false", "--filter", "type=image", "--format", "{{.Status}}"))
    assert images == "loadfromarchive\npull\npull\n"  # the fixture's load; podman's pull for each create
    assert _ok(podpy("events", "--stream=false", "--until", "2000-01-01T00:00:00Z")) == ""
    assert _ok(podpy("events", "--stream=false", "--since", "1h", "--filter", "container=" + a[:12],
                     "--format", "{{.ID}}")) == a + "\n"  # fmt: skip
    assert _ok(podpy("events", "--stream=false", "--since", "1h", "--no-trunc=false", "--filter",
                     "container=eva", "--format", "{{.ID}}")) == a[:12] + "\n"  # fmt: skip
    _err(podpy("events", "--stream=false", "--filter", "bogus=1"), 125, "invalid filter")
    _err(podpy("events", "--stream=false", "--since", "yesterday-ish"), 125, "--since")


def test_events_stream_follows_new_events_and_ctrl_c_exits_0(podpy, podpy_root) -> None:  # type: ignore[no-untyped-def]
    env = dict(os.environ, PYTHONPATH=str(TREE), XDG_CONFIG_HOME=str(podpy_root.config_home))
    proc = subprocess.Popen([*_podpy_command(), *podpy_root.args, "events", "--filter", "type=container",
                             "--format", "{{.Status}} {{.Name}}"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=_interruptible)  # fmt: skip
    try:
        _ok(podpy("create", "--name", "live1", IMG, "true"))
        assert proc.stdout is not None
        assert proc.stdout.readline() == "create live1\n"  # appears while the command keeps running
        _ok(podpy("rename", "live1", "live2"))
        assert proc.stdout.readline() == "rename live2\n"
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err


def test_rename(podpy) -> None:  # type: ignore[no-untyped-def]
    cid = _ok(podpy("run", "-d", "--name", "r1", IMG, "sleep", "100")).strip()
    _ok(podpy("create", "--name", "r2", IMG, "true"))
    _err(podpy("rename", "r1", "r2"), 125, f"renaming container {cid}: name r2 already in use")
    _err(podpy("rename", "r1", "bad/name"), 125, "names must match [a-zA-Z0-9][a-zA-Z0-9_.-]*")
    _err(podpy("rename", "nope", "x"), 125, 'no container with name or ID "nope" found')
    assert _ok(podpy("rename", "r1", "r3")) == ""  # podman prints nothing
    assert _ok(podpy("ps", "--format", "{{.Names}} {{.ID}}")) == f"r3 {cid[:12]}\n"
    assert podpy("container", "exists", "r1").returncode == 1
    _ok(podpy("create", "--name", "r1", IMG, "true"))  # the old name is free again


def test_top_default_columns_and_descriptors(podpy) -> None:  # type: ignore[no-untyped-def]
    _ok(podpy("run", "-d", "--name", "t1", IMG, "sh", "-c", SH))
    _wait_procs(podpy, "t1", 3)
    out = _ok(podpy("top", "t1"))
    lines = out.splitlines()
    assert lines[0].split() == ["USER", "PID", "PPID", "%CPU", "ELAPSED", "TTY", "TIME", "COMMAND"]
    rows = [ln.split(None, 7) for ln in lines[1:]]
    assert rows[0][:3] == ["root", "1", "0"] and rows[0][7].startswith("sh -c " + SH)
    cmds = sorted(r[7].strip() for r in rows[1:])
    assert cmds == ["sleep 100", "sleep 200"], out
    assert all(r[2] == "1" and r[5] == "?" and r[6] == "0s" for r in rows[1:])
    assert re.fullmatch(r"\d+\.\d{3}", rows[0][3]) and rows[0][4].endswith("s")
    out = _ok(podpy("top", "t1", "pid", "comm", "huser"))
    assert out.splitlines()[0].split() == ["PID", "COMMAND", "HUSER"]
    assert out.splitlines()[1].split()[:2] == ["1", "sh"]
    _err(podpy("top", "t1", "bogus"), 125, "unknown descriptor: bogus")
    _ok(podpy("create", "--name", "t2", IMG, "true"))
    _err(podpy("top", "t2"), 125, "top can only be used on running containers")


def test_port_without_published_ports_prints_nothing(podpy) -> None:  # type: ignore[no-untyped-def]
    _ok(podpy("run", "-d", "--name", "p1", IMG, "sleep", "100"))
    assert _ok(podpy("port", "p1")) == ""
    assert _ok(podpy("port", "-a")) == ""
    assert _ok(podpy("port", "p1", "80")) == ""
    _err(podpy("port"), 125, "you must supply a running container name or id")
    _err(podpy("port", "nope"), 125, 'no container with name or ID "nope" found')


def test_stats_no_stream_from_proc(podpy) -> None:  # type: ignore[no-untyped-def]
    cid = _ok(podpy("run", "-d", "--name", "s1", IMG, "sh", "-c", SH)).strip()
    _ok(podpy("create", "--name", "s2", IMG, "true"))
    _wait_procs(podpy, "s1", 3)
    out = _ok(podpy("stats", "--no-stream"))
    head, *rows = out.splitlines()
    assert re.split(r"\s{2,}", head.strip()) == ["ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "NET IO",
                                                  "BLOCK IO", "PIDS", "CPU TIME", "AVG CPU %"]  # fmt: skip
    assert len(rows) == 1 and rows[0].startswith(cid[:12]), out  # only running containers
    cells = re.split(r"\s{2,}", rows[0].strip())
    assert cells[1] == "s1" and cells[7] == "3", cells  # sh and its two sleeps
    assert re.fullmatch(r"[\d.]+[kMG]?B / [\d.]+[kMG]?B", cells[3]), cells
    doc = json.loads(_ok(podpy("stats", "--no-stream", "--format", "json", "s1")))
    assert doc[0]["ContainerID"] == cid and doc[0]["PIDs"] == "3"
    assert _ok(podpy("stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}")) == "s1 3\n"
    _err(podpy("stats", "--no-stream", "s2"), 125, "is not running")


def test_stats_streams_until_interrupted(podpy, podpy_root) -> None:  # type: ignore[no-untyped-def]
    _ok(podpy("run", "-d", "--name", "ss", IMG, "sleep", "100"))
    env = dict(os.environ, PYTHONPATH=str(TREE), XDG_CONFIG_HOME=str(podpy_root.config_home))
    proc = subprocess.Popen([*_podpy_command(), *podpy_root.args, "stats", "-i", "1", "--format", "{{.Name}}"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            preexec_fn=_interruptible)  # fmt: skip
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().endswith("ss\n")
        assert proc.stdout.readline().endswith("ss\n")  # a second report: it keeps refreshing
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err


def test_pause_unpause_refused_without_freezer(podpy) -> None:  # type: ignore[no-untyped-def]
    _ok(podpy("run", "-d", "--name", "pz", IMG, "sleep", "100"))
    _err(podpy("pause", "pz"), 125, "can not pause containers on rootless containers with cgroup V1")
    _err(podpy("unpause", "pz"), 125, "unpause is not supported for cgroupv1 rootless containers")
    _err(podpy("pause", "nope"), 125, 'no container with name or ID "nope" found')
    assert _ok(podpy("inspect", "--format", "{{.State.Status}}", "pz")) == "running\n"
