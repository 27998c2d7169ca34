"""``podpy run`` as a user types it: Podman's defaults, exit codes and refusals.

The image comes from the test environment's docker-archive (``podpy load``), so these tests do
not depend on the registry client.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

IMG = "127.0.0.1:5000/busybox:latest"


def test_run_defaults(podpy, podpy_root) -> None:  # type: ignore[no-untyped-def]
    r = podpy(
        "run",
        "--rm",
        IMG,
        "sh",
        "-c",
        "id; grep -E 'Cap(Eff|Inh|Amb)' /proc/self/status; grep SigIgn /proc/self/status; ls /proc/self/fd; pwd",
    )
    assert r.returncode == 0, r.stderr
    out = r.stdout.split("\n")
    assert out[0].startswith("uid=0(root) gid=0(root)")
    assert out[1:4] == ["CapInh:\t0000000000000000", "CapEff:\t00000000800405fb", "CapAmb:\t0000000000000000"]
    assert out[4] == "SigIgn:\t0000000000000000"  # Python's ignored SIGPIPE/SIGXFSZ not inherited (as Podman)
    assert r.stdout.split()[-5:] == ["0", "1", "2", "3", "/"]
    assert not any((podpy_root.root / "containers").iterdir())  # --rm left nothing


@pytest.mark.parametrize("code", [0, 1, 3, 255])
def test_exit_codes(podpy, code: int) -> None:  # type: ignore[no-untyped-def]
    assert podpy("run", "--rm", IMG, "sh", "-c", f"exit {code}").returncode == code


def test_not_found_126_127(podpy) -> None:  # type: ignore[no-untyped-def]
    r = podpy("run", "--rm", IMG, "no-such-cmd")
    assert r.returncode == 127
    assert (
        r.stderr.startswith("Error: ")
        and "OCI runtime attempted to invoke a command that was not found" in r.stderr
    )
    r = podpy("run", "--rm", IMG, "/etc/passwd")
    assert r.returncode == 126 and "permission denied" in r.stderr


def test_flags(podpy, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "v").mkdir()
    (tmp_path / "v/f").write_text("vol\n")
    env_file = tmp_path / "env"
    env_file.write_text("# comment\nFROMFILE=yes\n")
    r = podpy(
        "run", "--rm", "-e", "A=1", "--env-file", str(env_file), "-w", "/wd", "-h", "myhost", "-u", "1000:1000",
        "-v", f"{tmp_path / 'v'}:/mnt:ro", "--network", "none", "--name", "n1", IMG,
        "sh", "-c", "echo $A $FROMFILE; pwd; hostname; id -u; cat /mnt/f; touch /mnt/x 2>/dev/null || echo ro",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:6] == ["1 yes", "/wd", "myhost", "1000", "vol", "ro"]


def test_entrypoint_and_stdin(podpy) -> None:  # type: ignore[no-untyped-def]
    r = podpy("run", "--rm", "--entrypoint", '["/bin/echo", "ep"]', IMG, "arg")
    assert r.stdout == "ep arg\n"
    assert podpy("run", "--rm", IMG, "cat", input="ignored").stdout == ""  # no -i: stdin is /dev/null
    assert podpy("run", "--rm", "-i", IMG, "cat", input="kept").stdout == "kept"


def test_read_only(podpy) -> None:  # type: ignore[no-untyped-def]
    r = podpy(
        "run",
        "--rm",
        "--read-only",
        IMG,
        "sh",
        "-c",
        "touch /x 2>/dev/null || echo ro; touch /tmp/y && echo ok",
    )
    assert r.stdout == "ro\nok\n"


@pytest.mark.parametrize(
    "args, msg",
    [
        (["--memory", "10m"], "cgroup"),
        (["--security-opt", "bogus=1"], "invalid --security-opt"),
        (["-v", "./rel:/x"], "relative host paths"),
        (["-v", "/no/such/dir:/x"], "no such file or directory"),
        (["-u", "nosuchuser"], "unable to find user nosuchuser"),
        (["--env-file", "/no/such/file"], "no such file"),
        (["--network", "nosuchnet"], "unable to find network with name or ID nosuchnet: network not found"),
        (["--no-such-flag"], "No such option"),
        (["--cpus", "1"], "cgroup v2"),
        (["--pids-limit", "10"], "cgroup v2"),
        (["-u", "tester:nosuchgroup"], "unable to find group nosuchgroup"),
        (["--group-add", "nosuchgroup"], "unable to find group nosuchgroup"),
        (["--stop-signal", "bogus"], "invalid signal: bogus"),
        (["--userns", "bogus"], "unrecognized namespace mode bogus passed"),
        (["--userns", "auto"], "not supported yet"),
        (["--userns", "keep-id:size=5"], 'unknown option specified: "size"'),
        (["--userns", "nomap:uid=5"], "unrecognized namespace mode nomap:uid=5 passed"),
        (["-v", "/tmp:/x:O,ro"], "can't use 'O' with other options"),
        (["-v", "/tmp:/x:O,upperdir=/tmp"], "must set both `upperdir` and `workdir`"),
        (["-v", "/usr:/x:U"], "refusing to chown /usr"),
        (["-v", "/tmp:x"], "must be an absolute path"),
        (["--mount", "type=image,src=x,dst=/x"], "type must be bind, tmpfs or volume"),
        (["--runtime", "crun"], "crun refuses hybrid cgroups"),
        (["--security-opt", "label=disable"], "not supported yet"),
        (["--security-opt", "seccomp=/no/such/profile.json"], "/no/such/profile.json"),
        (["--tz", "Nowhere/Nothing"], "no such time zone"),
        (["--shm-size", "lots"], "invalid --shm-size"),
        (["--ulimit", "nofile=3:2"], "soft limit 3 must not exceed hard limit 2"),
        (["--cap-add", "bogus"], "unknown capability"),
        (["--init-path", "/x"], "--init-path needs --init"),
        (["-h", "bad_host!"], "invalid hostname"),
    ],
)
def test_refused(podpy, podpy_root, args: list[str], msg: str) -> None:  # type: ignore[no-untyped-def]
    r = podpy("run", "--rm", *args, IMG, "true")
    assert r.returncode == 125, r.stderr
    assert r.stderr.startswith("Error: ") and msg in r.stderr and len(r.stderr.strip().splitlines()) == 1
    cdir = podpy_root.root / "containers"
    assert not cdir.exists() or not any(cdir.iterdir())
    ps = podpy("ps", "-a", "-q")
    assert ps.returncode == 0 and ps.stdout == "", ps.stderr


def test_bad_env_file_line(podpy, podpy_root, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "env"
    f.write_text("GOOD=1\n=novalue\n")
    r = podpy("run", "--rm", "--env-file", str(f), IMG, "true")
    assert r.returncode == 125 and r.stderr == f"Error: {f}:2: invalid environment variable line '=novalue'\n"
    assert podpy("ps", "-a", "-q").stdout == ""


def test_kept_without_rm_and_name_conflict(podpy, podpy_root) -> None:  # type: ignore[no-untyped-def]
    assert podpy("run", "--name", "keep", IMG, "true").returncode == 0
    assert len(list((podpy_root.root / "containers").iterdir())) == 1
    r = podpy("run", "--name", "keep", IMG, "true")
    assert r.returncode == 125 and "already in use" in r.stderr
    assert os.environ.get("HOME") is not None


def test_same_image_under_runc(podpy) -> None:  # type: ignore[no-untyped-def]
    r = podpy("run", "--rm", "--runtime", "runc", IMG, "sh", "-c", "grep CapEff /proc/self/status; exit 4")
    assert r.returncode == 4, r.stderr
    assert r.stdout == "CapEff:\t00000000800405fb\n"


def test_etc_files_and_seccomp(podpy) -> None:  # type: ignore[no-untyped-def]
    r = podpy(
        "run",
        "--rm",
        "-h",
        "box",
        IMG,
        "sh",
        "-c",
        "cat /etc/hostname; echo; grep -c box /etc/hosts; grep ^Seccomp: /proc/self/status",
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:3] == ["box", "1", "Seccomp:\t2"]
    r = podpy(
        "run", "--rm", "--security-opt", "seccomp=unconfined", IMG, "grep", "^Seccomp:", "/proc/self/status"
    )
    assert r.stdout == "Seccomp:\t0\n"


def test_init_shm_tz(podpy) -> None:  # type: ignore[no-untyped-def]
    r = podpy("run", "--rm", "--init", "--shm-size", "1m", "--tz", "UTC", IMG, "sh", "-c",
              "tr '\\0' ' ' < /proc/1/cmdline; echo; df -k /dev/shm | tail -1 | tr -s ' ' | cut -d' ' -f2; date +%Z")  # fmt: skip
    assert r.returncode == 0, r.stderr
    out = r.stdout.split("\n")
    assert out[0].startswith("/run/podman-init -- sh -c") and out[1:3] == ["1024", "UTC"]


def test_cidfile_and_replace(podpy, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cid = tmp_path / "cid"
    assert podpy("run", "--name", "r", "--cidfile", str(cid), IMG, "true").returncode == 0
    assert len(cid.read_text()) == 64
    r = podpy("run", "--rm", "--cidfile", str(cid), IMG, "true")
    assert r.returncode == 125 and "container id file exists" in r.stderr
    assert podpy("run", "--rm", "--name", "r", "--replace", IMG, "true").returncode == 0
    assert podpy("run", "--rm", "--replace", IMG, "true").returncode == 125  # needs --name


def test_tty(podpy) -> None:  # type: ignore[no-untyped-def]
    r = podpy("run", "--rm", "-t", IMG, "sh", "-c", "tty; exit 5")
    assert r.returncode == 5, r.stderr
    assert r.stdout.strip() == "/dev/pts/0"


def test_interactive_tty_under_script(podpy_root, testenv) -> None:  # type: ignore[no-untyped-def]
    import shutil
    import subprocess
    import sys

    if not shutil.which("script"):
        pytest.fail("util-linux script is needed for this test")
    exe = shutil.which("podpy") or f"{sys.executable} -m podpy"
    base = f"{exe} --root {podpy_root.root} --runroot {podpy_root.runroot}"
    load = subprocess.run(f"{base} load -i {testenv['archives']['busybox-docker-archive']['path']}", shell=True,
                          capture_output=True, text=True)  # fmt: skip
    assert load.returncode == 0, load.stderr
    cmd = f"stty rows 33 cols 77; {base} run --rm -it {IMG} sh; echo rc=$?"
    import time

    p = subprocess.Popen(
        ["script", "-qc", cmd, "/dev/null"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        time.sleep(2)  # let the container start and the shell read its terminal
        assert p.stdin is not None
        p.stdin.write("stty size\nexit 3\n")
        p.stdin.flush()
        time.sleep(1)
        p.stdin.close()
        out = (p.stdout.read() if p.stdout else "").replace("\r", "")
        p.wait(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    assert "33 77" in out and "rc=3" in out, out
