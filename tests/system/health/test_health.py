"""Health checks as a user types them: --health-* flags, the monitor's timer, ``healthcheck run``,
``ps`` STATUS and ``--filter health=``, ``inspect`` State.Health / Config.Healthcheck, --health-on-failure.

Output shapes, messages and exit codes were compared with podman 4.3 (``tests/env/as-user.sh podman``);
podman runs its timers through systemd, podpy's monitor runs them itself. No timed assertions: every
wait polls with a generous deadline, intervals are 1s.
"""

from __future__ import annotations

import hashlib
import io
import json
import posixpath
import tarfile
from pathlib import Path
from typing import Any

import pytest

from tests.cliutil import inspect as _inspect
from tests.cliutil import ok as _ok
from tests.cliutil import poll as _poll

IMG = "127.0.0.1:5000/busybox:latest"


def test_scheduled_checks_make_it_healthy(podpy: Any) -> None:
    _ok(
        podpy(
            "run",
            "-d",
            "--name",
            "hc",
            "--health-cmd",
            "echo ok",
            "--health-interval",
            "1s",
            IMG,
            "sleep",
            "1000",
        )
    )
    st = _poll(lambda: _inspect(podpy, "hc")["State"]["Health"], lambda h: len(h["Log"] or []) >= 2)
    assert st["Status"] == "healthy" and st["FailingStreak"] == 0, st
    entry = st["Log"][0]
    assert entry["ExitCode"] == 0 and entry["Output"] == "ok"  # podman keeps the output without its newline
    assert entry["Start"].endswith("Z") and entry["Start"] <= entry["End"]
    status = _ok(podpy("ps", "--format", "{{.Status}}"))
    assert status.startswith("Up ") and status.endswith(" (healthy)\n"), status
    assert _ok(podpy("ps", "--filter", "health=healthy", "--format", "{{.Names}}")) == "hc\n"
    assert _ok(podpy("ps", "--filter", "health=unhealthy", "--format", "{{.Names}}")) == ""
    hc = _inspect(podpy, "hc")["Config"]
    assert hc["Healthcheck"] == {"Test": ["CMD-SHELL", "echo ok"], "Interval": 1_000_000_000,
                                 "Timeout": 30_000_000_000, "Retries": 3}  # fmt: skip
    assert hc["HealthcheckOnFailureAction"] == "none"
    r = podpy("healthcheck", "run", "hc")
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    # as podman 4.3: the last status stays in ps and inspect once the container exited
    _ok(podpy("stop", "-t", "0", "hc"))
    status = _ok(podpy("ps", "-a", "--format", "{{.Status}}"))
    assert status.startswith("Exited (") and status.endswith(" (healthy)\n"), status
    assert _ok(podpy("ps", "-a", "--filter", "health=healthy", "--format", "{{.Names}}")) == "hc\n"


def test_status_is_starting_until_the_first_check(podpy: Any) -> None:
    _ok(
        podpy(
            "run",
            "-d",
            "--name",
            "st",
            "--health-cmd",
            "true",
            "--health-interval",
            "disable",
            IMG,
            "sleep",
            "1000",
        )
    )
    assert _ok(podpy("ps", "--format", "{{.Status}}")).endswith(" (starting)\n")
    assert _inspect(podpy, "st")["State"]["Health"] == {"Status": "starting", "FailingStreak": 0, "Log": None}
    assert _ok(podpy("ps", "--filter", "health=starting", "--format", "{{.Names}}")) == "st\n"
    _ok(podpy("healthcheck", "run", "st"))  # "disable": no timer, but a check on demand runs
    assert _inspect(podpy, "st")["State"]["Health"]["Status"] == "healthy"


def test_failing_check_turns_unhealthy_after_retries(podpy: Any) -> None:
    _ok(podpy("run", "-d", "--name", "badhc", "--health-cmd", "echo broken >&2; exit 2", "--health-retries", "2",
              "--health-interval", "disable", IMG, "sleep", "1000"))  # fmt: skip
    r = podpy("healthcheck", "run", "badhc")
    assert (r.returncode, r.stdout) == (1, "unhealthy\n")  # a failed check says so even before the retries
    h = _inspect(podpy, "badhc")["State"]["Health"]
    assert (h["Status"], h["FailingStreak"]) == ("starting", 1)
    assert h["Log"][-1]["ExitCode"] == 1 and h["Log"][-1]["Output"] == "broken"
    r = podpy("healthcheck", "run", "badhc")
    assert (r.returncode, r.stdout) == (1, "unhealthy\n")
    h = _inspect(podpy, "badhc")["State"]["Health"]
    assert (h["Status"], h["FailingStreak"]) == ("unhealthy", 2)
    assert _ok(podpy("ps", "--format", "{{.Status}}")).endswith(" (unhealthy)\n")
    assert _ok(podpy("ps", "--filter", "health=unhealthy", "--format", "{{.Names}}")) == "badhc\n"
    for _ in range(5):
        podpy("healthcheck", "run", "badhc")
    assert len(_inspect(podpy, "badhc")["State"]["Health"]["Log"]) == 5  # podman keeps the last 5


def test_scheduled_failures_reach_unhealthy(podpy: Any) -> None:
    _ok(podpy("run", "-d", "--name", "sf", "--health-cmd", "false", "--health-retries", "2",
              "--health-interval", "1s", IMG, "sleep", "1000"))  # fmt: skip
    h = _poll(lambda: _inspect(podpy, "sf")["State"]["Health"], lambda h: h["Status"] == "unhealthy")
    assert h["Status"] == "unhealthy" and h["FailingStreak"] >= 2, h


def test_start_period_failures_do_not_count(podpy: Any) -> None:
    _ok(podpy("run", "-d", "--name", "sp", "--health-cmd", "false", "--health-start-period", "1h",
              "--health-interval", "disable", "--health-retries", "1", IMG, "sleep", "1000"))  # fmt: skip
    r = podpy("healthcheck", "run", "sp")
    assert (r.returncode, r.stdout) == (1, "unhealthy\n")
    h = _inspect(podpy, "sp")["State"]["Health"]
    assert (h["Status"], h["FailingStreak"], len(h["Log"])) == ("starting", 0, 1)
    assert _inspect(podpy, "sp")["Config"]["Healthcheck"]["StartPeriod"] == 3600 * 10**9


def test_timeout_is_a_failure_with_podmans_error(podpy: Any) -> None:
    _ok(podpy("run", "-d", "--name", "to", "--health-cmd", "sleep 30", "--health-timeout", "1s",
              "--health-interval", "disable", IMG, "sleep", "1000"))  # fmt: skip
    r = podpy("healthcheck", "run", "to")
    assert r.returncode == 125 and r.stderr == "Error: healthcheck command exceeded timeout of 1s\n"
    entry = _inspect(podpy, "to")["State"]["Health"]["Log"][-1]
    assert (entry["ExitCode"], entry["Output"]) == (-1, "")
    # unlike podman 4.3 (which waits for it), the overdue command was killed
    assert "sleep 30" not in _ok(podpy("top", "to"))


@pytest.mark.parametrize(
    ("action", "state"), [("kill", "exited"), ("stop", "exited"), ("restart", "running")]
)
def test_on_failure_actions(podpy: Any, action: str, state: str) -> None:
    _ok(podpy("run", "-d", "--name", "of", "--health-cmd", "false", "--health-retries", "1",
              "--health-interval", "1s", "--health-on-failure", action, IMG, "sleep", "1000"))  # fmt: skip
    first = _inspect(podpy, "of")["State"]
    assert _inspect(podpy, "of")["Config"]["HealthcheckOnFailureAction"] == action
    if action == "restart":
        d = _poll(
            lambda: _inspect(podpy, "of")["State"],
            lambda s: s["Running"] and s["StartedAt"] != first["StartedAt"],
        )
        assert d["Running"] and d["Pid"] != first["Pid"], d
    else:
        d = _poll(lambda: _inspect(podpy, "of")["State"], lambda s: s["Status"] == state)
        assert d["Status"] == state, d
        assert d["ExitCode"] == 137 if action == "kill" else d["ExitCode"] in (137, 143), d


def test_healthcheck_run_errors(podpy: Any) -> None:
    r = podpy("healthcheck", "run", "nosuch")
    assert r.returncode == 125
    assert r.stderr == ('Error: unable to look up nosuch to perform a health check: '
                        'no container with name or ID "nosuch" found: no such container\n')  # fmt: skip
    cid = _ok(podpy("run", "-d", "--name", "plain", IMG, "sleep", "1000")).strip()
    r = podpy("healthcheck", "run", "plain")
    assert (r.returncode, r.stderr) == (125, f"Error: container {cid} has no defined healthcheck\n")
    cid = _ok(podpy("create", "--name", "cr", "--health-cmd", "true", IMG, "true")).strip()
    r = podpy("healthcheck", "run", "cr")
    assert (r.returncode, r.stderr) == (125, f"Error: container {cid} is not running\n")
    assert _inspect(podpy, "cr")["State"]["Health"] == {"Status": "", "FailingStreak": 0, "Log": None}
    r = podpy("healthcheck", "run")
    assert (r.returncode, r.stderr) == (125, "Error: accepts 1 arg(s), received 0\n")


@pytest.mark.parametrize(
    ("cmd", "test"),
    [
        ("ls -l", ["CMD-SHELL", "ls -l"]),
        ('["CMD-SHELL","ls -l"]', ["CMD-SHELL", "ls -l"]),
        ('["ls","-l"]', ["CMD", "ls", "-l"]),
        ('["CMD","ls","-l"]', ["CMD", "ls", "-l"]),
        ('["nonexist"]', ["CMD-SHELL", "nonexist"]),
        ("CMD ls", ["CMD", "ls"]),
        ("none", ["NONE"]),
    ],
)
def test_health_cmd_forms(podpy: Any, cmd: str, test: list[str]) -> None:
    _ok(podpy("create", "--name", "form", "--health-cmd", cmd, "--health-start-period", "5s", IMG, "true"))
    assert _inspect(podpy, "form")["Config"]["Healthcheck"] == {
        "Test": test, "StartPeriod": 5_000_000_000, "Interval": 30_000_000_000, "Timeout": 30_000_000_000,
        "Retries": 3}  # fmt: skip


def test_no_healthcheck_and_cmd_array_runs_without_shell(podpy: Any) -> None:
    _ok(podpy("create", "--name", "n", "--no-healthcheck", IMG, "true"))
    assert _inspect(podpy, "n")["Config"]["Healthcheck"] == {"Test": ["NONE"]}
    _ok(podpy("run", "-d", "--name", "arr", "--health-cmd", '["echo","a  b"]', "--health-interval", "disable",
              IMG, "sleep", "1000"))  # fmt: skip
    _ok(podpy("healthcheck", "run", "arr"))
    assert _inspect(podpy, "arr")["State"]["Health"]["Log"][-1]["Output"] == "a  b"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ["--health-cmd=true", "--health-interval=x"],
            'invalid healthcheck-interval: time: invalid duration "x"',
        ),
        (["--health-cmd=true", "--health-retries=0"], "healthcheck-retries must be greater than 0"),
        (["--health-cmd=true", "--health-timeout=0s"], "healthcheck-timeout must be at least 1 second"),
        (
            ["--health-cmd=true", "--health-timeout=x"],
            'invalid healthcheck-timeout: time: invalid duration "x"',
        ),
        (
            ["--health-cmd=true", "--health-start-period=-1s"],
            "healthcheck-start-period must be 0 seconds or greater",
        ),
        (
            ["--health-cmd=true", "--health-on-failure=x"],
            'invalid on-failure action "x" for health check: supported actions are none,kill,restart,stop',
        ),
        (["--health-cmd=true", "--no-healthcheck"], "cannot specify both --no-healthcheck and --health-cmd"),
        (["--health-on-failure=kill"], "cannot set on-failure action to kill without a health check"),
    ],
)
def test_bad_health_flags(podpy: Any, flags: list[str], message: str) -> None:
    r = podpy("create", *flags, IMG, "true")
    assert (r.returncode, r.stdout, r.stderr) == (125, "", f"Error: {message}\n")
    assert _ok(podpy("ps", "-a", "-q")) == ""


def test_foreground_run_with_a_health_check(podpy: Any) -> None:
    """Without -d the checks still run (under the monitor the run is attached to)."""
    r = podpy("run", "--name", "fh", "--health-cmd", "true", "--health-interval", "1s", IMG,
              "sh", "-c", "sleep 3; echo done")  # fmt: skip
    assert (r.returncode, r.stdout) == (0, "done\n"), r.stderr
    health = json.loads(_ok(podpy("inspect", "--format", "{{json .State.Health}}", "fh")))
    assert health["Status"] == "healthy" and health["Log"], health


def _image_with_healthcheck(src: str, dest: Path, name: str, healthcheck: dict[str, Any]) -> None:
    """A copy of the busybox docker-archive whose config has ``Healthcheck`` (Dockerfile HEALTHCHECK)."""
    with tarfile.open(src) as t:
        manifest = json.loads(t.extractfile("manifest.json").read())  # type: ignore[union-attr]
        cfg = json.loads(t.extractfile(manifest[0]["Config"]).read())  # type: ignore[union-attr]
        member = t.getmember(manifest[0]["Layers"][0])
        if member.issym():  # docker save links the layer to a shared file
            member = t.getmember(
                posixpath.normpath(posixpath.join(posixpath.dirname(member.name), member.linkname))
            )
        layer = t.extractfile(member).read()  # type: ignore[union-attr]
    cfg["config"]["Healthcheck"] = healthcheck
    raw = json.dumps(cfg).encode()
    cfg_name = hashlib.sha256(raw).hexdigest() + ".json"
    files = {cfg_name: raw, "layer.tar": layer,
             "manifest.json": json.dumps([{"Config": cfg_name, "RepoTags": [name], "Layers": ["layer.tar"]}]).encode()}  # fmt: skip
    with tarfile.open(dest, "w") as t:
        for fname, data in files.items():
            info = tarfile.TarInfo(fname)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))


def test_image_healthcheck_is_used_and_can_be_disabled(
    podpy: Any, testenv: dict[str, Any], tmp_path: Path
) -> None:
    archive = tmp_path / "hc.tar"
    _image_with_healthcheck(testenv["archives"]["busybox-docker-archive"]["path"], archive, "localhost/hc:latest",
                            {"Test": ["CMD-SHELL", "echo from-image"], "Interval": 1_000_000_000, "Retries": 2})  # fmt: skip
    _ok(podpy("load", "-i", str(archive)))
    _ok(podpy("run", "-d", "--name", "img", "localhost/hc:latest", "sleep", "1000"))
    assert _inspect(podpy, "img")["Config"]["Healthcheck"] == {
        "Test": ["CMD-SHELL", "echo from-image"], "Interval": 1_000_000_000, "Retries": 2}  # fmt: skip
    h = _poll(lambda: _inspect(podpy, "img")["State"]["Health"], lambda h: bool(h["Log"]))
    assert h["Status"] == "healthy" and h["Log"][0]["Output"] == "from-image", h
    _ok(podpy("run", "-d", "--name", "off", "--no-healthcheck", "localhost/hc:latest", "sleep", "1000"))
    r = podpy("healthcheck", "run", "off")
    assert r.returncode == 125 and r.stderr.endswith(" has no defined healthcheck\n")
    assert _ok(podpy("ps", "--filter", "name=off", "--format", "{{.Status}}")).startswith("Up ")
    assert "(" not in _ok(podpy("ps", "--filter", "name=off", "--format", "{{.Status}}"))


def test_each_check_is_an_event_with_the_status_it_found(podpy: Any) -> None:
    _ok(podpy("run", "-d", "--name", "ev", "--health-cmd", "exit 1", "--health-retries", "1",
              "--health-interval", "disable", IMG, "sleep", "1000"))  # fmt: skip
    for _ in range(2):
        podpy("healthcheck", "run", "ev")
    out = _ok(podpy("events", "--stream=false", "--filter", "event=health_status"))
    # as podman 4.3: the status before the check counted (starting, then unhealthy)
    assert [ln.rsplit("health_status=", 1)[1] for ln in out.splitlines()] == ["starting)", "unhealthy)"], out
