"""``podpy exec`` as a user types it, for podpy's runtime and runc.

Expected outputs and exit codes were taken from ``tests/env/as-user.sh podman exec`` (podman 4.3).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

from tests.conftest import TREE, _podpy_command

IMG = "127.0.0.1:5000/busybox:latest"
# run argv[2:] with the fd argv[1] as fd 3 (dash cannot redirect fds above 9)
_DUP_TO_3 = "import os,sys;f=int(sys.argv[1]);os.dup2(f,3);os.close(f);os.execvp(sys.argv[2],sys.argv[2:])"


def _status(out: str, key: str) -> str:
    return next(ln.split(":", 1)[1].strip() for ln in out.splitlines() if ln.startswith(key + ":"))


def test_exit_codes(ctr) -> None:  # type: ignore[no-untyped-def]
    podpy, name = ctr
    r = podpy("exec", name, "true")
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    r = podpy("exec", name, "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (r.returncode, r.stdout, r.stderr) == (3, "out\n", "err\n")
    r = podpy("exec", name, "nosuch")
    assert r.returncode == 127
    assert "executable file" in r.stderr and "not found in $PATH" in r.stderr
    assert r.stderr.rstrip().endswith("OCI runtime attempted to invoke a command that was not found")
    r = podpy("exec", name, "/etc")
    assert r.returncode == 126 and r.stderr.rstrip().endswith("OCI permission denied"), r.stderr


def test_same_pid_namespace_caps_and_fds(ctr) -> None:  # type: ignore[no-untyped-def]
    podpy, name = ctr
    r = podpy("exec", name, "cat", "/proc/1/cmdline")
    assert (r.returncode, r.stdout) == (0, "sleep\x001000\x00"), r.stderr
    r = podpy("exec", name, "sh", "-c", "grep -E 'Cap|NoNewPrivs|Seccomp:' /proc/self/status")
    assert r.returncode == 0, r.stderr
    init = podpy("exec", name, "cat", "/proc/1/status").stdout
    for key in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp"):
        assert _status(r.stdout, key) == _status(init, key), key
    assert _status(r.stdout, "CapEff") == "00000000800405fb"  # Podman's default set, not ours
    assert _status(r.stdout, "Seccomp") == "2"  # the container's filter is on the exec'd process too
    r = podpy("exec", name, "ls", "/proc/self/fd")
    assert r.stdout.split() == ["0", "1", "2", "3"], r.stdout  # 3 is ls's own directory handle
    r = podpy("exec", name, "hostname")
    assert r.stdout.strip() == podpy("inspect", "--format", "{{.Config.Hostname}}", name).stdout.strip()


def test_env_user_workdir(ctr, tmp_path) -> None:  # type: ignore[no-untyped-def]
    podpy, name = ctr
    envf = tmp_path / "env"
    envf.write_text("# comment\nFROMFILE=f1\nFOO=file\n")
    os.chmod(tmp_path, 0o755)
    os.chmod(envf, 0o644)
    r = podpy("exec", "--env-file", str(envf), "-e", "FOO=bar", name,
              "sh", "-c", "echo $FOO $FROMFILE $HOME $PATH; pwd; id")  # fmt: skip
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert out[:2] == ["bar f1 /root /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "/"], out
    assert out[2].startswith("uid=0(root) gid=0(root)"), out
    r = podpy(
        "exec",
        "-u",
        "1000",
        "-w",
        "/tmp",
        name,
        "sh",
        "-c",
        "id; pwd; echo $HOME; grep Cap /proc/self/status",
    )
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert out[:3] == ["uid=1000(tester) gid=1000(tester)", "/tmp", "/home/tester"], out
    assert _status(r.stdout, "CapEff") == "0000000000000000"
    assert _status(r.stdout, "CapBnd") == "00000000800405fb"
    r = podpy("exec", "--privileged", name, "grep", "CapEff", "/proc/self/status")
    assert r.returncode == 0 and _status(r.stdout, "CapEff") != "00000000800405fb", r.stdout


def test_stdin_only_with_i(ctr) -> None:  # type: ignore[no-untyped-def]
    podpy, name = ctr
    r = podpy("exec", "-i", name, "cat", input="piped\n")
    assert (r.returncode, r.stdout) == (0, "piped\n"), r.stderr
    r = podpy("exec", name, "cat", input="piped\n")
    assert (r.returncode, r.stdout) == (0, ""), r.stderr


def test_preserve_fds(ctr, podpy_root) -> None:  # type: ignore[no-untyped-def]
    """fd 3 of the caller reaches the exec'd process with --preserve-fds=1, and only then."""
    _, name = ctr
    env = dict(os.environ, PYTHONPATH=str(TREE), XDG_CONFIG_HOME=str(podpy_root.config_home))
    base = [*_podpy_command(), *podpy_root.args, "exec"]
    rd, wr = os.pipe()
    os.write(wr, b"through fd 3\n")
    os.close(wr)
    try:
        wrap = [sys.executable, "-c", _DUP_TO_3, str(rd)]
        r = subprocess.run([*wrap, *base, "--preserve-fds=1", name, "cat", "/proc/self/fd/3"],
                           pass_fds=(rd,), capture_output=True, text=True, env=env, check=False)  # fmt: skip
        assert (r.returncode, r.stdout) == (0, "through fd 3\n"), r.stderr
        r = subprocess.run([*wrap, *base, name, "ls", "/proc/self/fd"],
                           pass_fds=(rd,), capture_output=True, text=True, env=env, check=False)  # fmt: skip
        assert r.stdout.split() == ["0", "1", "2", "3"], r.stdout  # fd 3 of the caller did not leak in
    finally:
        os.close(rd)
    r = subprocess.run([*base, "--preserve-fds=1", name, "true"], capture_output=True, text=True, env=env,
                       check=False)  # fmt: skip
    assert r.returncode == 125 and "file descriptor 3 is not open" in r.stderr


def test_detach(ctr) -> None:  # type: ignore[no-untyped-def]
    """-d prints a session ID and returns while the process runs on; exec errors still come back."""
    podpy, name = ctr
    r = podpy("exec", "-d", name, "sh", "-c", "echo hidden; sleep 1; touch /tmp/detached-done")
    assert r.returncode == 0 and re.fullmatch(r"[0-9a-f]{64}\n", r.stdout), (r.stdout, r.stderr)
    assert "hidden" not in r.stdout and r.stderr == ""
    deadline = time.monotonic() + 20
    while podpy("exec", name, "test", "-e", "/tmp/detached-done").returncode != 0:
        assert time.monotonic() < deadline, "the detached exec never finished"
        time.sleep(0.2)
    r = podpy("exec", "-d", name, "nosuch")
    assert r.returncode == 127 and "not found in $PATH" in r.stderr and r.stdout == ""


def test_refused_flags_and_stopped_container(ctr) -> None:  # type: ignore[no-untyped-def]
    podpy, name = ctr
    r = podpy("exec", "-w", "rel", name, "true")
    assert r.returncode == 125 and "absolute" in r.stderr
    r = podpy("exec", "nosuchctr", "true")
    assert r.returncode == 125
    assert r.stderr == 'Error: no container with name or ID "nosuchctr" found: no such container\n'
    assert podpy("stop", "-t", "0", name).returncode == 0
    r = podpy("exec", name, "true")
    assert r.returncode == 255  # podman 4.3 exits 255 here, not 125
    assert (
        r.stderr == "Error: can only create exec sessions on running containers: container state improper\n"
    )
