"""The monitor's supervision with real containers as the user: restart policies and sd_notify.

``--restart`` is carried out by the monitor (it restarts the container from the same bundle and
tells the state DB through ``podpy.engine.health.restarted_main``); ``podpy stop``/``kill`` leave a
marker so it does not. ``--sdnotify``: a real AF_UNIX datagram socket stands for systemd's.
Behaviour compared with podman 4.3 (``tests/env/as-user.sh podman``). No timed assertions.
"""

from __future__ import annotations

import os
import socket
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.cliutil import inspect as _inspect
from tests.cliutil import ok as _ok
from tests.cliutil import poll as _poll

IMG = "127.0.0.1:5000/busybox:latest"


@pytest.fixture
def podpy(podpy_cli: Any, testenv: dict[str, Any]) -> Iterator[Any]:
    r = podpy_cli("load", "-i", testenv["archives"]["busybox-docker-archive"]["path"])
    assert r.returncode == 0, r.stderr
    yield podpy_cli
    podpy_cli("rm", "-f", "-a", "-t", "0")


def test_on_failure_restarts_at_most_n_times(podpy: Any) -> None:
    _ok(podpy("run", "-d", "--name", "of", "--restart", "on-failure:2", IMG, "sh", "-c", "echo run; exit 3"))
    d = _poll(
        lambda: _inspect(podpy, "of"), lambda d: d["RestartCount"] == 2 and d["State"]["Status"] == "exited"
    )
    assert (d["State"]["Status"], d["RestartCount"], d["State"]["ExitCode"]) == ("exited", 2, 3), d["State"]
    assert d["HostConfig"]["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}
    assert _ok(podpy("logs", "of")) == "run\nrun\nrun\n"  # first run + 2 restarts, one log
    events = _ok(podpy("events", "--stream=false", "--format", "{{.Status}} {{.ContainerExitCode}}"))
    lines = events.splitlines()
    assert (lines.count("died 3"), lines.count("restart 0")) == (3, 2), lines  # as podman: died, restart, …
    assert lines[lines.index("restart 0") + 1 : lines.index("restart 0") + 3] == ["init 0", "start 0"], lines
    # as podman: a start by the user does not reset the count, so no more restarts
    _ok(podpy("start", "of"))
    d = _poll(lambda: _inspect(podpy, "of"), lambda d: d["State"]["Status"] == "exited")
    assert (d["State"]["Status"], d["RestartCount"]) == ("exited", 2)


def test_on_failure_does_not_restart_a_success(podpy: Any) -> None:
    _ok(podpy("run", "-d", "--name", "ok", "--restart", "on-failure", IMG, "true"))
    d = _poll(lambda: _inspect(podpy, "ok"), lambda d: d["State"]["Status"] == "exited")
    assert (d["State"]["ExitCode"], d["RestartCount"]) == (0, 0)


def test_always_restarts_and_ps_shows_it_running_again(podpy: Any) -> None:
    _ok(podpy("run", "-d", "--name", "al", "--restart", "always", IMG, "sh", "-c", "sleep 0.3; exit 1"))
    first = _inspect(podpy, "al")["State"]["Pid"]
    d = _poll(lambda: _inspect(podpy, "al"), lambda d: d["RestartCount"] >= 2 and d["State"]["Running"])
    assert d["RestartCount"] >= 2 and d["State"]["Running"] and d["State"]["Pid"] != first, d["State"]
    assert d["State"]["ConmonPid"] > 0 and os.path.exists(f"/proc/{d['State']['ConmonPid']}")
    ps = _poll(
        lambda: _ok(podpy("ps", "--format", "{{.Names}} {{.Status}}")), lambda s: s.startswith("al Up")
    )
    assert ps.startswith("al Up "), ps
    # the user's stop wins over the policy
    _ok(podpy("stop", "-t", "2", "al"))
    d = _inspect(podpy, "al")
    assert d["State"]["Status"] == "exited", d["State"]
    n = d["RestartCount"]
    time.sleep(1)  # not a timed assertion: a restart that should not happen must have a chance to
    d = _inspect(podpy, "al")
    assert (d["State"]["Status"], d["RestartCount"]) == ("exited", n)


def test_kill_prevents_the_restart(podpy: Any) -> None:
    _ok(podpy("run", "-d", "--name", "k", "--restart", "unless-stopped", IMG, "sleep", "1000"))
    assert _inspect(podpy, "k")["HostConfig"]["RestartPolicy"] == {
        "Name": "unless-stopped",
        "MaximumRetryCount": 0,
    }
    _ok(podpy("kill", "k"))
    d = _poll(lambda: _inspect(podpy, "k"), lambda d: d["State"]["Status"] == "exited")
    assert (d["State"]["Status"], d["State"]["ExitCode"], d["RestartCount"]) == ("exited", 137, 0)
    # a later start clears the user's stop: the policy applies again
    _ok(podpy("start", "k"))
    pid = _inspect(podpy, "k")["State"]["Pid"]
    os.kill(pid, 9)  # the container dies on its own account (not `podpy kill`): restarted
    d = _poll(lambda: _inspect(podpy, "k"), lambda d: d["RestartCount"] == 1 and d["State"]["Running"])
    assert (d["RestartCount"], d["State"]["Running"]) == (1, True), d["State"]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (
            ["--rm", "--restart=always"],
            'the --rm option conflicts with --restart, when the restartPolicy is not "" and "no"',
        ),
        (
            ["--restart=bogus"],
            'running container create option: "bogus" is not a valid restart policy: invalid argument',
        ),
        (
            ["--restart=always:3"],
            "restart policy retries can only be specified with on-failure restart policy",
        ),
        (
            ["--restart=on-failure:x"],
            'parsing restart policy retry count: strconv.Atoi: parsing "x": invalid syntax',
        ),
        (["--restart=on-failure:-1"], "must specify restart policy retry count as a number greater than 0"),
        (
            ["--sdnotify=x"],
            'invalid config provided: invalid argument: invalid sdnotify value "x": must be container, conmon or ignore',
        ),
    ],
)
def test_bad_policy_flags(podpy: Any, flags: list[str], message: str) -> None:
    r = podpy("create", *flags, IMG, "true")
    assert (r.returncode, r.stdout, r.stderr) == (125, "", f"Error: {message}\n")


def test_foreground_run_restarts_under_the_monitor(podpy: Any) -> None:
    """Without -d the policy still holds: the run goes through the monitor, attached; every run's
    output is shown and the last exit code returned."""
    r = podpy("run", "--name", "fg", "--restart", "on-failure:2", IMG, "sh", "-c", "echo run; exit 3")
    assert (r.returncode, r.stdout) == (3, "run\nrun\nrun\n"), r.stderr
    d = _poll(lambda: _inspect(podpy, "fg"), lambda d: d["State"]["Status"] == "exited")
    assert (d["State"]["ExitCode"], d["RestartCount"]) == (3, 2)


def test_foreground_run_sdnotify_conmon(podpy: Any, notify_socket: Any) -> None:
    s, path = notify_socket
    r = podpy("run", "--name", "fgn", "--sdnotify=conmon", IMG, "true", env={"NOTIFY_SOCKET": path})
    assert r.returncode == 0, r.stderr
    msg = s.recv(4096).decode()
    assert msg.startswith("MAINPID=") and msg.endswith("\nREADY=1"), msg


@pytest.fixture
def notify_socket() -> Iterator[tuple[socket.socket, str]]:
    d = tempfile.mkdtemp(prefix="podpy-notify-")
    path = os.path.join(d, "notify.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    s.settimeout(30)
    try:
        yield s, path
    finally:
        s.close()
        os.unlink(path)
        os.rmdir(d)


def _no_more(s: socket.socket) -> list[bytes]:
    s.setblocking(False)
    out = []
    try:
        while True:
            out.append(s.recv(4096))
    except BlockingIOError:
        return out
    finally:
        s.settimeout(30)


def test_sdnotify_conmon_sends_ready_and_the_monitor_pid(podpy: Any, notify_socket: Any) -> None:
    s, path = notify_socket
    _ok(
        podpy(
            "run", "-d", "--name", "ctr", "--sdnotify=conmon", IMG, "sleep", "1000", env={"NOTIFY_SOCKET": path}
        )
    )
    msg = s.recv(4096).decode()
    d = _inspect(podpy, "ctr")
    assert msg == f"MAINPID={d['State']['ConmonPid']}\nREADY=1", msg
    assert d["Config"]["sdNotifyMode"] == "conmon" and d["Config"]["sdNotifySocket"] == path
    assert "NOTIFY_SOCKET" not in " ".join(d["Config"]["Env"])  # the container is not told


def test_sdnotify_container_lets_the_container_say_ready(podpy: Any, notify_socket: Any) -> None:
    s, path = notify_socket
    _ok(podpy("run", "-d", "--name", "ctr", IMG, "sleep", "1000", env={"NOTIFY_SOCKET": path}))  # the default
    d = _inspect(podpy, "ctr")
    assert s.recv(4096).decode() == f"MAINPID={d['State']['ConmonPid']}"  # READY is the container's to send
    assert d["Config"]["sdNotifyMode"] == "container"
    assert "NOTIFY_SOCKET=/run/notify/notify.sock" in d["Config"]["Env"]
    # the socket the container sees is systemd's (here ours): a datagram sent to it arrives
    c = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    c.sendto(b"READY=1", f"/proc/{d['State']['Pid']}/root/run/notify/notify.sock")
    c.close()
    assert s.recv(4096) == b"READY=1"


def test_sdnotify_ignore_sends_nothing(podpy: Any, notify_socket: Any) -> None:
    s, path = notify_socket
    _ok(
        podpy(
            "run", "-d", "--name", "ign", "--sdnotify=ignore", IMG, "sleep", "1000", env={"NOTIFY_SOCKET": path}
        )
    )
    _ok(
        podpy(
            "run", "-d", "--name", "ctr", "--sdnotify=conmon", IMG, "sleep", "1000", env={"NOTIFY_SOCKET": path}
        )
    )
    first = s.recv(4096).decode()  # datagrams keep their order: the ignored container sent nothing before
    assert first == f"MAINPID={_inspect(podpy, 'ctr')['State']['ConmonPid']}\nREADY=1"
    assert _no_more(s) == []
    assert "NOTIFY_SOCKET" not in " ".join(_inspect(podpy, "ign")["Config"]["Env"])
