"""``run -it`` under the monitor, detach keys, ``podpy attach`` back, on a real terminal (a PTY pair).

Expected behaviour taken from ``tests/env/as-user.sh podman`` 4.3: detaching leaves the container
running and exits 0 without a message; ``attach`` prints a newline at its end and exits 0 (also when
the container exited: ``wait`` has its code); attaching to a container that is not running fails 125.
"""

from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import time
from typing import Any

import pytest

from tests.conftest import _podpy_command
from tests.system.run.test_run_tty import Term

IMG = "127.0.0.1:5000/busybox:latest"


@pytest.fixture
def term_base(podpy, podpy_root) -> list[str]:  # type: ignore[no-untyped-def]
    """``podpy --root R --runroot RR`` for the ``podpy`` fixture's store (busybox loaded, rm -fa at the end)."""
    return [*_podpy_command(), *podpy_root.args]


def _state(podpy, ref: str) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    r = podpy("container", "inspect", ref)
    assert r.returncode == 0, r.stderr
    return dict(json.loads(r.stdout)[0]["State"])


def _prompt(t: Term) -> None:
    """Enter until the shell's prompt comes back (the attach client may still be connecting)."""
    for _ in range(60):
        t.send("\r")
        try:
            t.expect("# ", deadline=1)
            return
        except AssertionError:
            continue
    raise AssertionError(f"no prompt through attach; got {t.buf!r}")


def _detach(t: Term, keys: str = "\x10\x11") -> None:
    t.send(keys)
    assert t.proc.wait(timeout=60) == 0  # as Podman: detaching is success


@pytest.mark.parametrize("runtime", ["podpy", "runc"])
def test_run_it_detach_attach_exit(podpy, term_base: list[str], runtime: str) -> None:  # type: ignore[no-untyped-def]
    before = set(glob.glob("/tmp/podpy-tty-*"))
    t = Term([*term_base, "run", "--name", "dk", "--runtime", runtime, "-it", IMG, "sh"], 24, 80)
    try:
        t.expect("# ")
        t.send("stty size; tty; echo a$((1+2))\r")
        seen = t.expect("a3")
        assert "24 80" in seen and "/dev/pts/0" in seen
        _detach(t)
    finally:
        t.close()
    assert _state(podpy, "dk")["Running"] is True  # detached, not stopped
    t = Term([*term_base, "attach", "dk"], 30, 100)
    try:
        _prompt(t)
        t.send("stty size; echo b$((2+2))\r")
        assert "30 100" in t.expect("b4")  # the attaching terminal's size was sent through ctl
        _detach(t)
    finally:
        t.close()
    t = Term([*term_base, "attach", "dk"], 30, 100)
    try:
        _prompt(t)
        t.send("exit 7\r")
        assert t.proc.wait(timeout=60) == 0  # podman attach exits 0; wait has the container's code
    finally:
        t.close()
    assert podpy("wait", "dk").stdout == "7\n"
    r = podpy("attach", "dk")
    assert (r.returncode, r.stderr) == (125, "Error: you can only attach to running containers\n")
    assert set(glob.glob("/tmp/podpy-tty-*")) <= before  # no console-socket dirs left in /tmp


@pytest.mark.parametrize("runtime", ["podpy", "runc"])
def test_window_size_set_before_the_process_starts(podpy, term_base: list[str], runtime: str) -> None:  # type: ignore[no-untyped-def]
    for _ in range(3):  # a race would show as "0 0" (stty: an error) now and then
        t = Term([*term_base, "run", "--rm", "--runtime", runtime, "-it", IMG, "stty", "size"], 21, 67)
        try:
            assert t.proc.wait(timeout=60) == 0
            assert "21 67" in t.expect("\n")
        finally:
            t.close()


def test_detach_keys_custom_and_disabled(podpy, term_base: list[str]) -> None:  # type: ignore[no-untyped-def]
    t = Term([*term_base, "run", "--rm", "--name", "ck", "--detach-keys", "ctrl-x,y", "-it", IMG, "sh"], 24, 80)
    try:
        t.expect("# ")
        t.send("\x10\x11echo still$((1+1))\r")  # the default keys are plain input now
        t.expect("still2")
        t.send("\x18y")
        assert t.proc.wait(timeout=60) == 0
    finally:
        t.close()
    assert _state(podpy, "ck")["Running"] is True
    t = Term([*term_base, "attach", "--detach-keys", "", "ck"], 24, 80)
    try:
        _prompt(t)
        t.send("\x10\x11\x18y")  # no detach keys: all of it is input for the shell's line editor
        t.send("\x03")  # raw mode: ^C goes to the container's terminal, which interrupts the line
        t.expect("# ")
        t.send("exit 3\r")
        assert t.proc.wait(timeout=60) == 0
    finally:
        t.close()
    deadline = time.monotonic() + 30
    while podpy("container", "exists", "ck").returncode == 0:  # --rm: the monitor's cleanup removes it
        assert time.monotonic() < deadline, "the --rm container was never removed"
        time.sleep(0.1)


def test_run_it_exit_code_and_rm(podpy, term_base: list[str]) -> None:  # type: ignore[no-untyped-def]
    t = Term([*term_base, "run", "--rm", "-it", IMG, "sh"], 24, 80)
    try:
        t.expect("# ")
        t.send("exit 5\r")
        assert t.proc.wait(timeout=60) == 5
    finally:
        t.close()
    r = podpy("run", "--rm", "-t", IMG, "sh", "-c", "tty; exit 4")  # no terminal on our side: still a PTY
    assert (r.returncode, r.stdout.strip()) == (4, "/dev/pts/0")
    r = podpy("run", "--rm", "-t", "--detach-keys", "ctrl-zz", IMG, "true")
    assert r.returncode == 125 and "invalid detach keys" in r.stderr


def test_kill_cli_leaves_container_running(podpy, term_base: list[str]) -> None:  # type: ignore[no-untyped-def]
    t = Term([*term_base, "run", "--name", "kc", "-it", IMG, "sh"], 24, 80)
    try:
        t.expect("# ")
        t.proc.kill()  # as with Podman, the container lives on under its monitor
        t.proc.wait(timeout=30)
    finally:
        t.close()
    assert _state(podpy, "kc")["Running"] is True
    assert podpy("stop", "-t", "0", "kc").returncode == 0


def test_attach_pipes_stdin_sig_proxy_and_errors(podpy, term_base: list[str]) -> None:  # type: ignore[no-untyped-def]
    assert podpy("run", "-d", "-i", "--name", "ai", IMG, "sh", "-c", "read x; echo got $x; exit 4").returncode == 0
    r = podpy("attach", "ai", input="hi\n")
    assert (r.returncode, r.stdout) == (0, "got hi\n\n")  # Podman's extra newline at the end
    assert podpy("wait", "ai").stdout == "4\n"
    script = "trap 'echo got-term; exit 9' TERM; while :; do echo tick; sleep 0.2; done"
    assert podpy("run", "-d", "--name", "sp", IMG, "sh", "-c", script).returncode == 0
    p = subprocess.Popen([*term_base, "attach", "--no-stdin", "sp"], stdout=subprocess.PIPE,
                         stdin=subprocess.DEVNULL, text=True)  # fmt: skip
    try:
        assert p.stdout is not None
        assert p.stdout.readline() == "tick\n"  # attached
        p.send_signal(signal.SIGTERM)  # --sig-proxy (default): through the monitor to the container
        rest = p.stdout.read()
        assert p.wait(timeout=60) == 0 and "got-term" in rest
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert podpy("wait", "sp").stdout == "9\n"
    for args, code, msg in (
        (["attach"], 125, '"podpy attach" requires a name, id, or the "--latest" flag'),
        (["attach", "a", "b"], 125, "`podpy attach` accepts at most one argument"),
        (["attach", "nosuch"], 125, 'no container with name or ID "nosuch" found: no such container'),
        (["attach", "--detach-keys", "ctrl-zz", "ai"], 125, "invalid detach keys"),
    ):
        r = podpy(*args)
        assert r.returncode == code and msg in r.stderr, (args, r.stderr)


def test_gone_clients_are_dropped_by_the_monitor(podpy, term_base: list[str]) -> None:  # type: ignore[no-untyped-def]
    """A quiet terminal container: only the hang-up tells the monitor that a client went away."""
    assert podpy("run", "-d", "-it", "--name", "tk", IMG, "sh").returncode == 0
    mon = _state(podpy, "tk")["ConmonPid"]
    baseline = len(os.listdir(f"/proc/{mon}/fd"))
    for i in range(3):
        p = subprocess.Popen([*term_base, "attach", "tk"], stdout=subprocess.PIPE, stdin=subprocess.PIPE)
        assert p.stdin is not None and p.stdout is not None
        p.stdin.write(f"echo x{i}$((1+1))\n".encode())
        p.stdin.flush()
        seen = b""
        while f"x{i}2".encode() not in seen:  # connected and relaying
            chunk = p.stdout.read1(4096)
            assert chunk, seen
            seen += chunk
        p.kill()
        p.wait()
        p.stdin.close()
        p.stdout.close()
    deadline = time.monotonic() + 30
    while len(os.listdir(f"/proc/{mon}/fd")) > baseline:
        assert time.monotonic() < deadline, "the monitor keeps sockets of clients that are gone"
        time.sleep(0.1)
