"""``wait --condition``, ``start -a/-i``, ``rm --depend`` and the ``podpy container`` group, as typed.

Outputs and exit codes as ``tests/env/as-user.sh podman`` 4.3 gives them: ``wait`` prints the exit code
for exited/stopped (the default) and -1 for a state condition; an unknown condition or container fails
125 before any wait; ``start -a`` relays stdin when the container was created with ``-i`` and exits
with the container's code; ``start -i`` alone only starts; ``rm --depend`` prints full IDs.
"""

from __future__ import annotations

import re
import subprocess

import pytest

IMG = "127.0.0.1:5000/busybox:latest"
ID_RE = re.compile(r"^[0-9a-f]{64}\n$")


def _ok(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    return r.stdout


def test_wait_conditions(podpy) -> None:  # type: ignore[no-untyped-def]
    _ok(podpy("create", "--name", "wc", IMG, "sh", "-c", "exit 3"))
    assert _ok(podpy("wait", "--condition", "created", "wc")) == "-1\n"
    assert _ok(podpy("wait", "--condition", "configured,created", "wc")) == "-1\n"
    assert _ok(podpy("wait", "wc")) == "0\n"  # created: not running, as podman 4.3 answers at once
    _ok(podpy("run", "-d", "--name", "wr", IMG, "sleep", "1000"))
    assert _ok(podpy("wait", "--condition", "running", "wr")) == "-1\n"
    assert _ok(podpy("wait", "--condition", "stopped", "--condition", "running", "-i", "100", "wr")) == "-1\n"
    _ok(podpy("start", "wc"))
    assert _ok(podpy("wait", "--condition", "exited", "wc")) == "3\n"
    assert _ok(podpy("wait", "--interval", "50ms", "wc", "wc")) == "3\n3\n"  # several containers
    for args, msg in (
        (["--condition", "bogus", "wr"], "Error: unknown container state: bogus: invalid argument\n"),
        (["-i", "bogus", "wr"], 'Error: time: invalid duration "bogus"\n'),
        (["wc", "nosuch"], 'Error: no container with name or ID "nosuch" found: no such container\n'),
    ):
        r = podpy("wait", *args)
        assert (r.returncode, r.stdout, r.stderr) == (125, "", msg), args
    # a --rm container removed before we look still reports its exit code (from its "died" event)
    _ok(podpy("run", "-d", "--rm", "--name", "wrm", IMG, "sh", "-c", "sleep 1; exit 6"))
    assert _ok(podpy("wait", "wrm")) == "6\n"
    assert podpy("container", "exists", "wrm").returncode == 1
    # removing: returns -1 once the container is gone (--rm removes it after 3 s, long after the lookup)
    _ok(podpy("run", "-d", "--rm", "--name", "wgone", IMG, "sleep", "3"))
    assert _ok(podpy("wait", "--condition", "removing", "wgone")) == "-1\n"
    assert podpy("container", "exists", "wgone").returncode == 1


def test_wait_health_conditions(podpy) -> None:  # type: ignore[no-untyped-def]
    _ok(podpy("run", "-d", "--name", "hy", "--health-cmd", "true", "--health-interval", "1s", IMG, "sleep", "1000"))
    _ok(podpy("run", "-d", "--name", "hn", "--health-cmd", "false", "--health-interval", "1s",
              "--health-retries", "1", IMG, "sleep", "1000"))  # fmt: skip
    assert _ok(podpy("wait", "--condition", "healthy", "hy")) == "-1\n"
    assert _ok(podpy("wait", "--condition", "unhealthy", "hn")) == "-1\n"
    assert "(unhealthy)" in _ok(podpy("ps", "--filter", "name=hn"))


def test_start_attach_and_interactive(podpy) -> None:  # type: ignore[no-untyped-def]
    _ok(podpy("create", "-i", "--name", "sa", IMG, "sh", "-c", "cat; echo err >&2; exit 3"))
    r = podpy("start", "-a", "sa", input="hello\n")
    assert (r.returncode, r.stdout, r.stderr) == (3, "hello\n", "err\n")
    r = podpy("start", "-i", "sa", input="hello\n")  # -i alone only starts it
    assert (r.returncode, r.stdout) == (0, "sa\n")
    _ok(podpy("stop", "-t", "0", "sa"))
    _ok(podpy("create", "--name", "sn", IMG, "sh", "-c", "cat; exit 2"))  # no -i: no stdin to relay
    r = podpy("start", "-a", "-i", "sn", input="hello\n")
    assert (r.returncode, r.stdout) == (2, "")
    _ok(podpy("run", "-d", "-i", "--name", "sj", IMG, "sh", "-c", "read x; echo got $x; exit 4"))
    r = podpy("start", "-a", "sj", input="hi\n")  # running already: attaches; exits 0 as podman 4.3
    assert (r.returncode, r.stdout) == (0, "got hi\n")
    assert _ok(podpy("wait", "sj")) == "4\n"
    for args, msg in (
        (["--sig-proxy", "true", "sn"], "Error: you cannot use sig-proxy without --attach: invalid argument\n"),
        (["-a", "sa", "sn"], "Error: you cannot start and attach multiple containers at once\n"),
        (["-a", "--detach-keys", "ctrl-zz", "sn"], "Error: invalid detach keys: Unknown character: 'ctrl-zz'\n"),
    ):
        r = podpy("start", *args)
        assert (r.returncode, r.stderr) == (125, msg), args


def test_rm_depend(podpy) -> None:  # type: ignore[no-untyped-def]
    cid = _ok(podpy("create", "--name", "rd", IMG, "true")).strip()
    assert _ok(podpy("rm", "--depend", "rd")) == cid + "\n"  # nothing depends on it: just it, by full ID
    _ok(podpy("run", "-d", "--name", "rdr", IMG, "sleep", "1000"))
    r = podpy("rm", "--depend", "rdr")
    assert r.returncode == 2 and "cannot remove container" in r.stderr and "without force" in r.stderr
    assert ID_RE.match(_ok(podpy("rm", "--depend", "-f", "-t", "0", "rdr")))
    r = podpy("rm", "--depend", "rdr")
    assert r.returncode == 1


@pytest.mark.parametrize(
    "sub",
    ["attach", "exec", "cp", "diff", "export", "commit", "rename", "top", "port", "stats", "pause", "unpause"],
)
def test_container_group_has_the_commands(podpy, sub: str) -> None:  # type: ignore[no-untyped-def]
    r = podpy("container", sub, "--help")
    top = podpy(sub, "--help")
    assert r.returncode == 0 and r.stdout.replace("container " + sub, sub) == top.stdout


def test_container_group_runs_them(podpy) -> None:  # type: ignore[no-untyped-def]
    _ok(podpy("run", "-d", "--name", "cg", IMG, "sleep", "1000"))
    assert _ok(podpy("container", "exec", "cg", "echo", "hi")) == "hi\n"
    _ok(podpy("container", "rename", "cg", "cg2"))
    assert "sleep 1000" in _ok(podpy("container", "top", "cg2"))
    assert _ok(podpy("container", "diff", "cg2")) == _ok(podpy("diff", "cg2"))
