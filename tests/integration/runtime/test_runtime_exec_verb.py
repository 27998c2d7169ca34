"""``exec`` into a running container: podpy's runtime and runc give the same results."""

from __future__ import annotations

import os
import subprocess

from tests.integration.runtime.conftest import TREE, Runtime


def _in_userns(runtime: Runtime, b, script_lines: list[str]) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    def verb(*args: str) -> str:
        return " ".join(runtime.argv(*args))

    script = "; ".join(
        [
            verb("create", "--bundle", str(b.path), "ex") + " </dev/null >/dev/null 2>&1",
            verb("start", "ex"),
            *[line.replace("EXEC", verb("exec")) for line in script_lines],
            verb("delete", "--force", "ex"),
        ]
    )
    env = dict(os.environ, PYTHONPATH=str(TREE))
    return subprocess.run(["unshare", "--user", "--map-root-user", "--map-auto", "--mount", "--", "sh", "-c", script],
                          cwd=b.path, capture_output=True, text=True, timeout=60, env=env,
                          stdin=subprocess.DEVNULL)  # fmt: skip


def test_exec_joins_namespaces_and_applies_the_process(runtime: Runtime, make_bundle) -> None:
    b = make_bundle(["sleep", "60"], hostname="ctrhost", env={"FOO": "bar"}, workdir="/work/dir")
    r = _in_userns(
        runtime,
        b,
        [
            "echo init=$(EXEC ex cat /proc/1/cmdline | tr '\\0' ' ')",
            "EXEC ex sh -c 'echo host=$(hostname) foo=$FOO cwd=$(pwd); grep -E \"Cap|Seccomp:\" /proc/self/status'",
            "EXEC ex sh -c 'exit 3'; echo rc3=$?",
            "EXEC --user 1000:1000 --cwd /tmp ex sh -c 'echo $(id -u):$(id -g) $(pwd)'",
            'EXEC ex sh -c \'ls /proc/self/fd | tr "\\n" " "\'; echo',
        ],
    )
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert "init=sleep 60" in out, out
    assert "host=ctrhost foo=bar cwd=/work/dir" in out
    assert "CapEff:\t00000000800405fb" in out and "CapBnd:\t00000000800405fb" in out
    assert "rc3=3" in out
    assert "1000:1000 /tmp" in out
    assert "0 1 2 3 " in out  # 3 is ls's own handle: nothing of the runtime's leaks in


def test_exec_missing_command_and_stopped_container(podpy_runtime: Runtime, make_bundle) -> None:
    b = make_bundle(["sleep", "60"])
    r = _in_userns(
        podpy_runtime,
        b,
        [
            "EXEC ex nosuch; echo rc=$?",
            "EXEC ex /etc; echo rc=$?",
            "kill -KILL $("
            + " ".join(podpy_runtime.argv("state", "ex"))
            + " | sed -n 's/.*\"pid\": \\([0-9]*\\).*/\\1/p')",
            "sleep 0.3",
            "EXEC ex true; echo rc=$?",
        ],
    )
    assert r.stdout.splitlines() == ["rc=127", "rc=126", "rc=1"], (r.stdout, r.stderr)
    assert "executable file `nosuch` not found in $PATH" in r.stderr
    assert "is a directory: permission denied" in r.stderr
    assert "is stopped: can only exec in a running container" in r.stderr
