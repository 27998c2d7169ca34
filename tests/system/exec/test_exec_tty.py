"""``podpy exec -t``/``-it``: a PTY in the container's own devpts, for podpy's runtime and runc.

Outputs as ``tests/env/as-user.sh podman exec -t`` (podman 4.3) prints them: ``/dev/pts/0\\r\\n``,
TERM=xterm, the command's exit code; on a real terminal raw mode, the window size, resize.
"""

from __future__ import annotations

import subprocess
import termios

from tests.conftest import _podpy_command
from tests.system.run.test_run_tty import Term


def test_exec_t_without_a_terminal(ctr) -> None:  # type: ignore[no-untyped-def]
    podpy, name = ctr
    r = podpy("exec", "-t", name, "sh", "-c", "tty; echo $TERM; exit 3")
    assert (r.returncode, r.stdout.split()) == (3, ["/dev/pts/0", "xterm"])
    r = podpy("exec", "-i", "-t", name, "sh", "-c", "read x; echo got-$x", input="hi\n")
    assert r.returncode == 0 and "got-hi" in r.stdout
    r = podpy("exec", "-d", "-t", name, "true")
    assert r.returncode == 125 and "--detach --tty is not supported" in r.stderr
    r = podpy("exec", "-t", name, "nosuch")
    assert r.returncode == 127 and "not found" in r.stderr
    r = podpy("exec", "-i", name, "tty")  # no -t: no terminal, as before
    assert (r.returncode, r.stdout) == (1, "not a tty\n")
    r = podpy("exec", name, "grep", "SigIgn", "/proc/self/status")
    assert r.stdout.split() == ["SigIgn:", "0000000000000000"]  # as Podman: no signal ignored


def test_exec_it_on_a_terminal(ctr, podpy_root) -> None:  # type: ignore[no-untyped-def]
    _podpy, name = ctr
    t = Term([*_podpy_command(), *podpy_root.args, "exec", "-it", name, "sh"], 27, 91)
    try:
        t.expect("# ")
        assert not termios.tcgetattr(t.slave)[3] & termios.ICANON  # our terminal is raw while it runs
        t.send("stty size; echo x$((2+2))\r")
        assert "27 91" in t.expect("x4")
        t.resize_seen(33, 77)
        t.send("exit 9\r")
        assert t.proc.wait(timeout=60) == 9
        assert termios.tcgetattr(t.slave)[3] & termios.ICANON  # restored
    finally:
        t.close()


def test_exec_t_leaves_nothing_in_tmp(ctr) -> None:  # type: ignore[no-untyped-def]
    podpy, name = ctr
    before = set(subprocess.run(["sh", "-c", "ls -d /tmp/podpy-exec-* 2>/dev/null"], capture_output=True,
                                text=True).stdout.split())  # fmt: skip
    assert podpy("exec", "-t", name, "true").returncode == 0
    after = set(subprocess.run(["sh", "-c", "ls -d /tmp/podpy-exec-* 2>/dev/null"], capture_output=True,
                               text=True).stdout.split())  # fmt: skip
    assert after <= before


def test_exec_window_size_before_the_process_runs(ctr, podpy_root) -> None:  # type: ignore[no-untyped-def]
    _podpy, name = ctr
    for _ in range(3):  # a race would show as "0 0" (stty: an error) now and then
        t = Term([*_podpy_command(), *podpy_root.args, "exec", "-it", name, "stty", "size"], 19, 73)
        try:
            assert t.proc.wait(timeout=60) == 0
            assert "19 73" in t.expect("\n")
        finally:
            t.close()
