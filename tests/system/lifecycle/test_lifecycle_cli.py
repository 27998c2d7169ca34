"""Container lifecycle as a user types it: run/create/start/stop/kill/rm/ps/logs/wait/inspect.

Each output shape and exit code was compared with ``podman`` 4.3 (``tests/env/as-user.sh podman``).
The image comes from the test environment's docker-archive (``podpy load``).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

IMG = "127.0.0.1:5000/busybox:latest"
ID_RE = re.compile(r"[0-9a-f]{64}")


def _ok(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    return r.stdout


def _inspect(podpy, ref: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    doc = json.loads(_ok(podpy("container", "inspect", ref)))
    assert len(doc) == 1
    return doc[0]


def _wait_state(podpy, ref: str, state: str, timeout: float = 20) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Inspect until the container is in ``state`` (it may not even exist yet: a run being created)."""
    deadline = time.monotonic() + timeout
    while True:
        r = podpy("container", "inspect", ref)
        d = json.loads(r.stdout)[0] if r.returncode == 0 else {"State": {"Status": "missing"}}
        if d["State"]["Status"] == state or time.monotonic() > deadline:
            assert d["State"]["Status"] == state, (d["State"], r.stderr)
            return d
        time.sleep(0.1)


def test_foreground_run_is_recorded(podpy) -> None:  # type: ignore[no-untyped-def]
    r = podpy("run", "--name", "fg", IMG, "sh", "-c", "echo hi; echo oops >&2; exit 3")
    assert r.returncode == 3 and r.stdout == "hi\n" and r.stderr == "oops\n"
    lg = podpy("logs", "fg")  # the foreground run was logged too, as through conmon
    assert (lg.returncode, lg.stdout, lg.stderr) == (0, "hi\n", "oops\n")
    d = _inspect(podpy, "fg")
    assert ID_RE.fullmatch(d["Id"]) and d["Name"] == "fg"
    st = d["State"]
    assert (st["Status"], st["Running"], st["ExitCode"], st["Pid"]) == ("exited", False, 3, 0)
    assert st["StartedAt"] <= st["FinishedAt"] and d["Created"] <= st["StartedAt"]
    assert d["Path"] == "sh" and d["Args"] == ["-c", "echo hi; echo oops >&2; exit 3"]
    assert d["Config"]["Cmd"] == ["sh", "-c", "echo hi; echo oops >&2; exit 3"] and d["ImageName"] == IMG
    out = _ok(podpy("ps", "-a"))
    lines = out.splitlines()
    assert lines[0].split() == ["CONTAINER", "ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES"]
    assert re.match(
        rf"{d['Id'][:12]}  {re.escape(IMG)}  sh -c echo hi; ec\.\.\.  .*  Exited \(3\) .* ago +fg$", lines[1]
    )
    assert _ok(podpy("ps")).splitlines()[1:] == []  # not running


def test_name_in_use_names_the_holder(podpy) -> None:  # type: ignore[no-untyped-def]
    cid = _ok(podpy("create", "--name", "dup", IMG, "true")).strip()
    assert ID_RE.fullmatch(cid)
    for args in (("run", "--name", "dup", IMG, "true"), ("create", "--name", "dup", IMG, "true")):
        r = podpy(*args)
        assert r.returncode == 125
        assert (
            f'the container name "dup" is already in use by {cid}. You have to remove that container'
            in r.stderr
        )
    # --replace removes the holder
    new = _ok(podpy("create", "--replace", "--name", "dup", IMG, "true")).strip()
    assert new != cid and _ok(podpy("ps", "-a", "-q", "--no-trunc")).split() == [new]


def test_rm_flag_leaves_nothing(podpy, podpy_root) -> None:  # type: ignore[no-untyped-def]
    assert podpy("run", "--rm", "--name", "gone", IMG, "true").returncode == 0
    assert podpy("container", "exists", "gone").returncode == 1
    assert _ok(podpy("ps", "-a", "-q")) == ""
    assert not any((podpy_root.root / "containers").iterdir())
    # a name freed by --rm can be used again at once
    assert podpy("run", "--rm", "--name", "gone", IMG, "true").returncode == 0


def test_detached_run_outlives_cli_logs_stop_wait_rm(podpy) -> None:  # type: ignore[no-untyped-def]
    r = podpy(
        "container", "run", "-d", "--name", "bg", IMG, "sh", "-c", "echo out1; echo err1 >&2; sleep 1000"
    )
    cid = _ok(r).strip()
    assert ID_RE.fullmatch(cid) and r.stderr == ""
    d = _wait_state(podpy, "bg", "running")
    pid, mon = d["State"]["Pid"], d["State"]["ConmonPid"]
    assert pid > 0 and mon > 0 and os.path.exists(f"/proc/{pid}") and os.path.exists(f"/proc/{mon}")
    assert _ok(podpy("ps", "-q")).split() == [cid[:12]]
    assert re.search(r"Up .* ago", _ok(podpy("ps")))
    deadline = time.monotonic() + 10
    while "err1" not in (lg := podpy("logs", "bg")).stderr and time.monotonic() < deadline:
        time.sleep(0.1)
    assert lg.stdout == "out1\n" and lg.stderr == "err1\n"
    ts = _ok(podpy("logs", "-t", "--tail", "1", "bg"))
    assert ts == "" and re.fullmatch(
        r"\d{4}-\d\d-\d\dT[\d:.]+[+-]\d\d:\d\d err1\n", podpy("logs", "-t", "--tail", "1", "bg").stderr
    )
    r = podpy("rm", "bg")
    assert (
        r.returncode == 2
        and "as it is running - running or paused containers cannot be removed without force" in r.stderr
    )
    assert _ok(podpy("stop", "-t", "0", "bg")) == "bg\n"  # sleep as pid 1 ignores SIGTERM: -t 0 kills at once
    assert _ok(podpy("wait", "bg")) == "137\n"
    d = _inspect(podpy, cid)
    assert d["State"]["Status"] == "exited" and d["State"]["ExitCode"] == 137
    assert not os.path.exists(f"/proc/{pid}")
    assert _ok(podpy("rm", "bg")) == "bg\n"
    r = podpy("rm", "bg")
    assert (
        r.returncode == 1
        and r.stderr == 'Error: no container with name or ID "bg" found: no such container\n'
    )
    assert _ok(podpy("rm", "--ignore", "bg")) == ""


def test_create_start_wait_logs(podpy) -> None:  # type: ignore[no-untyped-def]
    cid = _ok(podpy("create", "--name", "c1", IMG, "sh", "-c", "echo made; exit 4")).strip()
    assert _inspect(podpy, "c1")["State"]["Status"] == "created"
    assert "Created" in _ok(podpy("ps", "-a"))
    assert _ok(podpy("start", "c1")) == "c1\n"
    assert _ok(podpy("wait", cid[:12])) == "4\n"
    assert _ok(podpy("logs", "c1")) == "made\n"
    # start again: a second run appends to the log, as podman's
    r = podpy("start", "-a", "c1")
    assert r.returncode == 4 and r.stdout.endswith("made\n")


def test_kill_signal_and_state_errors(podpy) -> None:  # type: ignore[no-untyped-def]
    _ok(
        podpy(
            "container",
            "run",
            "-d",
            "--name",
            "k",
            IMG,
            "sh",
            "-c",
            "trap 'exit 42' USR1; while :; do sleep 0.1; done",
        )
    )
    _wait_state(podpy, "k", "running")
    time.sleep(0.3)  # the trap is set
    assert _ok(podpy("kill", "-s", "USR1", "k")) == "k\n"
    assert _ok(podpy("wait", "k")) == "42\n"
    r = podpy("kill", "k")
    assert r.returncode == 125
    assert re.fullmatch(
        r"Error: can only kill running containers\. [0-9a-f]{64} is in state exited: container state improper\n",
        r.stderr,
    )
    r = podpy("stop", "nosuch")
    assert r.returncode == 125 and 'no container with name or ID "nosuch" found' in r.stderr
    assert podpy("stop", "--ignore", "nosuch").returncode == 0
    assert podpy("container", "exists", "k").returncode == 0


def test_ps_flags_filters_format(podpy) -> None:  # type: ignore[no-untyped-def]
    a = _ok(podpy("create", "--name", "pa", "-l", "tier=web", IMG, "true")).strip()
    assert podpy("run", "--name", "pb", "-l", "tier=db", IMG, "sh", "-c", "exit 2").returncode == 2
    b = _inspect(podpy, "pb")["Id"]
    q = lambda *f: _ok(podpy("ps", "-a", "-q", "--no-trunc", *f)).split()  # noqa: E731
    assert q() == [b, a]  # newest first
    assert q("--filter", "name=pa") == [a]
    assert q("--filter", f"id={b[:5]}") == [b]
    assert q("--filter", "label=tier=web") == [a] and q("--filter", "label=tier") == [b, a]
    assert q("--filter", "status=exited") == [b] and q("--filter", "status=created") == [a]
    assert q("--filter", "exited=2") == [b]
    assert q("--filter", "ancestor=127.0.0.1:5000/busybox") == [b, a]
    assert q("--filter", "name=pa", "--filter", "name=pb") == [b, a]  # one key: OR
    assert q("--filter", "name=pa", "--filter", "status=exited") == []  # keys: AND
    assert _ok(podpy("ps", "-l", "-q")).split() == [b[:12]]
    assert _ok(podpy("ps", "-n", "1", "-q")).split() == [b[:12]]
    assert _ok(podpy("ps", "-a", "--format", "{{.Names}} {{.ExitCode}} {{.Labels.tier}}")).splitlines() == [
        "pb 2 db",
        "pa 0 web",
    ]
    t = _ok(podpy("ps", "-a", "--format", "table {{.ID}} {{.Names}}")).splitlines()
    assert t[0].split() == ["CONTAINER", "ID", "NAMES"] and t[1].split() == [b[:12], "pb"]
    js = json.loads(_ok(podpy("ps", "-a", "--format", "json")))
    assert [j["Id"] for j in js] == [b, a] and js[0]["Names"] == ["pb"] and js[0]["ExitCode"] == 2
    assert (
        js[0]["State"] == "exited"
        and js[1]["State"] == "created"
        and js[0]["Command"] == ["sh", "-c", "exit 2"]
    )
    r = podpy("ps", "--filter", "status=bogus")
    assert r.returncode == 125 and r.stderr == "Error: unknown container state: bogus: invalid argument\n"
    r = podpy("ps", "--filter", "foo=bar")
    assert r.returncode == 125 and r.stderr == "Error: foo is an invalid filter\n"
    assert _ok(podpy("ps", "-a", "-s")).splitlines()[0].split()[-1] == "SIZE"  # more in test_run_pull_platform


def test_prune_and_cleanup(podpy) -> None:  # type: ignore[no-untyped-def]
    a = _ok(podpy("create", IMG, "true")).strip()
    _ok(podpy("container", "run", "-d", "--name", "live", IMG, "sleep", "1000"))
    name = _inspect(podpy, a)["Name"]
    assert re.fullmatch(r"[a-z]+_[a-z]+", name)  # a generated name, like podman's
    assert _ok(podpy("container", "cleanup", a)) == f"{a}\n"
    assert _ok(podpy("container", "prune", "-f")).split() == [a]
    assert podpy("container", "exists", a).returncode == 1
    assert _inspect(podpy, "live")["State"]["Status"] == "running"


def test_detached_rm_removes_itself(podpy) -> None:  # type: ignore[no-untyped-def]
    cid = _ok(podpy("container", "run", "-d", "--rm", IMG, "true")).strip()
    deadline = time.monotonic() + 20
    while podpy("container", "exists", cid).returncode == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert podpy("container", "exists", cid).returncode == 1


def test_run_errors_keep_codes_detached(podpy) -> None:  # type: ignore[no-untyped-def]
    r = podpy("container", "run", "-d", "--name", "nf", IMG, "no-such-cmd")
    assert r.returncode == 127 and r.stderr.startswith("Error: ")
    d = _inspect(podpy, "nf")
    assert d["State"]["Status"] == "exited" and d["State"]["ExitCode"] == 127
    r = podpy("container", "run", "-d", "--rm", IMG, "/etc/passwd")
    assert r.returncode == 126
    assert _ok(podpy("ps", "-a", "-q")).split() == [d["Id"][:12]]  # --rm removed the failed one


def test_monitor_kill9_is_noticed(podpy) -> None:  # type: ignore[no-untyped-def]
    _ok(podpy("container", "run", "-d", "--name", "m9", IMG, "sleep", "1000"))
    d = _wait_state(podpy, "m9", "running")
    pid, mon = d["State"]["Pid"], d["State"]["ConmonPid"]
    os.kill(mon, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{mon}") and time.monotonic() < deadline:
        time.sleep(0.05)
    out = _ok(podpy("ps", "-a", "--filter", "name=m9", "--format", "{{.Status}}"))
    assert out.startswith("Exited (255)")
    d = _inspect(podpy, "m9")
    assert d["State"]["Status"] == "exited" and d["State"]["ExitCode"] == 255
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(f"/proc/{pid}")  # cleanup killed the orphaned container
    assert _ok(podpy("rm", "m9")) == "m9\n"


def test_logs_follow_returns_when_container_exits(podpy) -> None:  # type: ignore[no-untyped-def]
    _ok(
        podpy(
            "container",
            "run",
            "-d",
            "--name",
            "lf",
            IMG,
            "sh",
            "-c",
            "for i in 1 2 3; do echo $i; sleep 0.3; done",
        )
    )
    r = podpy("logs", "-f", "lf", timeout=60)
    assert r.returncode == 0 and r.stdout == "1\n2\n3\n"


def test_since_until(podpy) -> None:  # type: ignore[no-untyped-def]
    assert podpy("run", "--name", "su", IMG, "true").returncode == 0
    _ok(podpy("container", "run", "-d", "--name", "su2", IMG, "echo", "x"))
    assert _ok(podpy("wait", "su2")) == "0\n"
    assert _ok(podpy("logs", "--since", "2000-01-01T00:00:00Z", "su2")) == "x\n"
    assert _ok(podpy("logs", "--until", "2000-01-01T00:00:00Z", "su2")) == ""
    assert _ok(podpy("logs", "--since", "10m", "su2")) == "x\n"
    assert podpy("logs", "--since", "yesterday", "su2").returncode == 125


def test_inspect_format_and_missing(podpy, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "v").mkdir()
    assert podpy("run", "--name", "ins", "-v", f"{tmp_path / 'v'}:/data:ro", IMG, "true").returncode == 0
    assert (
        _ok(
            podpy(
                "container", "inspect", "-f", "{{.Name}} {{.State.Status}} {{.HostConfig.AutoRemove}}", "ins"
            )
        )
        == "ins exited false\n"
    )
    d = _inspect(podpy, "ins")
    assert [(m["Source"], m["Destination"], m["RW"]) for m in d["Mounts"]] == [
        (str(tmp_path / "v"), "/data", False)
    ]
    r = podpy("container", "inspect", "nosuch")
    assert r.returncode == 125 and "no such container nosuch" in r.stderr and json.loads(r.stdout) == []


def test_restart_and_stop_of_a_foreground_run(podpy, podpy_root) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import _podpy_command

    _ok(podpy("container", "run", "-d", "--name", "rs", IMG, "sleep", "1000"))
    pid1 = _wait_state(podpy, "rs", "running")["State"]["Pid"]
    assert _ok(podpy("restart", "-t", "0", "rs")) == "rs\n"
    pid2 = _wait_state(podpy, "rs", "running")["State"]["Pid"]
    assert pid2 != pid1 and not os.path.exists(f"/proc/{pid1}")
    time.sleep(1)  # the first monitor's cleanup has run by now: it must not touch the restarted container
    assert _inspect(podpy, "rs")["State"]["Status"] == "running" and os.path.exists(f"/proc/{pid2}")
    # a foreground run is a container like any other: another shell sees it running and stops it
    env = dict(os.environ, PYTHONPATH=os.getcwd(), XDG_CONFIG_HOME=str(podpy_root.config_home))
    fg = subprocess.Popen([*_podpy_command(), *podpy_root.args, "run", "--name", "fgs", IMG, "sleep", "1000"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)  # fmt: skip
    try:
        _wait_state(podpy, "fgs", "running")
        assert "fgs" in _ok(podpy("ps", "--format", "{{.Names}}")).split()
        assert _ok(podpy("stop", "-t", "0", "fgs")) == "fgs\n"
        assert fg.wait(timeout=30) == 137
    finally:
        fg.kill()
    d = _inspect(podpy, "fgs")
    assert d["State"]["Status"] == "exited" and d["State"]["ExitCode"] == 137


def test_detached_tty_and_runc(podpy) -> None:  # type: ignore[no-untyped-def]
    """-t under the monitor (it holds the PTY master) and runc driven by the same monitor."""
    _ok(podpy("container", "run", "-d", "-t", "--name", "tt", IMG, "sh", "-c", "tty; echo done"))
    assert _ok(podpy("wait", "tt")) == "0\n"
    assert _ok(podpy("logs", "tt")).replace("\r", "") == "/dev/pts/0\ndone\n"
    assert _inspect(podpy, "tt")["Config"]["Tty"] is True
    _ok(
        podpy(
            "container",
            "run",
            "-d",
            "--runtime",
            "runc",
            "--name",
            "rc",
            IMG,
            "sh",
            "-c",
            "echo runc; exit 6",
        )
    )
    assert _ok(podpy("wait", "rc")) == "6\n"
    assert _ok(podpy("logs", "rc")) == "runc\n" and _inspect(podpy, "rc")["OCIRuntime"] == "runc"


def test_inspect_finds_containers_and_images(podpy) -> None:  # type: ignore[no-untyped-def]
    """``podpy inspect`` (type all): containers first, then images, as podman; ``--type`` narrows."""
    assert podpy("run", "--name", "both", IMG, "true").returncode == 0
    docs = json.loads(_ok(podpy("inspect", "both", IMG)))
    assert docs[0]["Name"] == "both" and docs[0]["State"]["Status"] == "exited"
    assert docs[1]["RepoTags"] == [IMG]
    assert _ok(podpy("inspect", "--type", "container", "-f", "{{.Name}} {{.State.ExitCode}}", "both")) == (
        "both 0\n"
    )
    r = podpy("inspect", "--type", "image", "both")
    assert r.returncode == 125 and "both: image not known" in r.stderr
    r = podpy("inspect", "--type", "container", IMG)
    assert r.returncode == 125 and f"no such container {IMG}" in r.stderr


def test_plain_run_detached(podpy) -> None:  # type: ignore[no-untyped-def]
    """``podpy run -d`` (not only ``container run -d``) prints the ID and leaves the container running."""
    cid = _ok(podpy("run", "-d", "--name", "bg", IMG, "sleep", "1000")).strip()
    assert ID_RE.fullmatch(cid)
    assert _wait_state(podpy, "bg", "running")["Id"] == cid
    assert _ok(podpy("stop", "-t", "0", "bg")) == "bg\n"


def test_stop_filter(podpy) -> None:  # type: ignore[no-untyped-def]
    """podman 4.3: ``stop --filter`` stops what ``ps --filter`` would list and prints full IDs."""
    a = _ok(podpy("run", "-d", "--name", "fa", "--label", "x=1", IMG, "sleep", "1000")).strip()
    _ok(podpy("run", "-d", "--name", "fb", IMG, "sleep", "1000"))
    assert _ok(podpy("stop", "-t", "0", "--filter", "label=x=1")) == a + "\n"
    states = json.loads(_ok(podpy("ps", "-a", "--format", "json")))
    assert sorted((c["Names"][0], c["State"]) for c in states) == [("fa", "exited"), ("fb", "running")], states
    assert _ok(podpy("stop", "-t", "0", "--filter", "name=nomatch")) == ""
    for args, msg in ((["--filter", "label=x=1", "fb"], "--filter takes no arguments"),
                      (["--filter", "bogus=1"], "bogus is an invalid filter")):  # fmt: skip
        r = podpy("stop", *args)
        assert (r.returncode, r.stderr) == (125, f"Error: {msg}\n")


def test_stop_timeout_is_the_containers_default_for_stop(podpy) -> None:  # type: ignore[no-untyped-def]
    """``--stop-timeout`` as Podman keeps it: inspect's Config.StopTimeout, and what ``stop`` without
    ``-t`` waits before SIGKILL (a container that ignores SIGTERM takes that long, not the default 10 s)."""
    _ok(podpy("run", "-d", "--name", "st", "--stop-timeout", "1", IMG, "sh", "-c", "trap '' TERM; while :; do sleep 0.1; done"))
    _ok(podpy("run", "-d", "--name", "dflt", IMG, "sleep", "100"))
    assert _ok(podpy("inspect", "--format", "{{.Config.StopTimeout}}", "st", "dflt")) == "1\n10\n"
    time.sleep(0.3)  # the trap is set
    r = podpy("stop", "st")
    assert r.returncode == 0 and r.stdout == "st\n", r
    assert "StopSignal SIGTERM failed to stop container st in 1 seconds, resorting to SIGKILL" in r.stderr
    assert _inspect(podpy, "st")["State"]["ExitCode"] == 137
    r = podpy("run", "--rm", "--stop-timeout", "-1", IMG, "true")
    assert r.returncode == 125 and r.stderr == "Error: invalid --stop-timeout -1: use 0 or more seconds\n", r
    r = podpy("run", "--rm", "--stop-timeout", "soon", IMG, "true")
    assert r.returncode == 125 and "'soon' is not a valid integer" in r.stderr, r


def test_requires_starts_first_and_guards_rm(podpy) -> None:  # type: ignore[no-untyped-def]
    """``--requires`` as Podman 4.3: checked at create, started first (also by a foreground run),
    inspect's Dependencies; ``rm`` refuses a required container, ``rm --depend`` takes the dependents first."""
    base = _ok(podpy("create", "--name", "base", IMG, "sleep", "100")).strip()
    dep = _ok(podpy("create", "--name", "dep", "--requires", "base", IMG, "sleep", "100")).strip()
    r = podpy("create", "--requires", "nosuch", IMG, "true")
    assert (r.returncode, r.stderr) == (125, 'Error: "nosuch" is not a valid container, cannot be used as a '
                                             'dependency: no container with name or ID "nosuch" found: no such container\n')  # fmt: skip
    _ok(podpy("start", "dep"))
    assert sorted(_ok(podpy("ps", "--format", "{{.Names}}")).split()) == ["base", "dep"]
    assert json.loads(_ok(podpy("inspect", "--format", "{{json .Dependencies}}", "dep"))) == [base]
    r = podpy("rm", "-f", "base")
    assert (r.returncode, r.stderr) == (125, f"Error: container {base} has dependent containers which must be "
                                             f"removed before it: {dep}: container already exists\n")  # fmt: skip
    assert _ok(podpy("rm", "--depend", "-f", "-t", "0", "base")) == f"{dep}\n{base}\n"
    _ok(podpy("create", "--name", "b1", IMG, "sleep", "100"))
    _ok(podpy("create", "--name", "b2", IMG, "sleep", "100"))
    assert _ok(podpy("run", "--rm", "--requires", "b1,b2", IMG, "true")) == ""
    assert sorted(_ok(podpy("ps", "--format", "{{.Names}}")).split()) == ["b1", "b2"]
