"""``run`` flags for the process's environment, umask, sysctls, labels from a file and pid files,
each compared by hand with ``podman run`` 4.3 on this machine (outputs and errors as it prints them)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tests.system.run.test_run_cli import IMG
from tests.system.run.test_run_flags import out


def test_unsetenv_and_unsetenv_all(podpy) -> None:  # type: ignore[no-untyped-def]
    # without PATH, podpy's runtime looks a bare name up as execvp does (/bin:/usr/bin); runc says 127
    got = out(podpy("run", "--rm", "--unsetenv", "PATH", "--unsetenv", "TERM", "-e", "FOO=1", IMG, "env"))
    assert sorted(v.split("=")[0] for v in got) == ["FOO", "HOME", "HOSTNAME", "container"]
    got = out(podpy("run", "--rm", "--unsetenv", "TERM", "--unsetenv", "container", IMG, "/bin/env"))
    assert not any(v.startswith(("TERM=", "container=")) for v in got) and any(v.startswith("PATH=") for v in got)
    got = out(podpy("run", "--rm", "--unsetenv-all", "-e", "FOO=1", IMG, "/bin/env"))
    assert sorted(v.split("=")[0] for v in got) == ["FOO", "HOME", "HOSTNAME"]


def test_umask(podpy) -> None:  # type: ignore[no-untyped-def]
    assert out(podpy("run", "--rm", "--umask", "0077", IMG, "sh", "-c", "umask")) == ["0077"]
    assert out(podpy("run", "--rm", IMG, "sh", "-c", "umask")) == ["0022"]
    for bad in ("99", "0888", "01777"):
        r = podpy("run", "--rm", "--umask", bad, IMG, "true")
        assert (r.returncode, r.stderr) == (125, f"Error: invalid umask string {bad}: use an octal mask such as 0022\n")


def test_sysctls(podpy) -> None:  # type: ignore[no-untyped-def]
    got = out(podpy("run", "--rm", "--sysctl", "net.ipv4.ip_forward=1", "--sysctl", "kernel.shmmax=123456", IMG,
                    "sh", "-c", "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmax"))  # fmt: skip
    assert got == ["1", "123456"]
    for args, err in ((["--sysctl", "vm.swappiness=1"], "Error: sysctl 'vm.swappiness' is not allowed\n"),
                      (["--sysctl", "foo"], "Error: foo is invalid, sysctl values must be in the form of KEY=VALUE\n"),
                      (["--network", "host", "--sysctl", "net.ipv4.ip_forward=1"],
                       "Error: sysctl net.ipv4.ip_forward=1 can't be set since Network Namespace set to host\n")):  # fmt: skip
        r = podpy("run", "--rm", *args, IMG, "true")
        assert (r.returncode, r.stderr) == (125, err), args


def test_label_file(podpy, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "labels"
    f.write_text("a=b\n# c\n\nx=y z\nnoval\n")
    out(podpy("create", "--name", "lf", "--label-file", str(f), "--label", "a=override", IMG, "true"))
    labels = json.loads(out(podpy("inspect", "--format", "{{json .Config.Labels}}", "lf"))[0])
    assert {k: labels[k] for k in ("a", "x")} == {"a": "override", "x": "y z"} and "noval" not in labels
    r = podpy("run", "--rm", "--label-file", "/nonexistent", IMG, "true")
    assert (r.returncode, r.stderr) == (125, "Error: unable to process labels: open /nonexistent: no such file or directory\n")


def test_pidfile_and_conmon_pidfile(podpy, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pf, cpf = tmp_path / "pid", tmp_path / "conmon.pid"
    out(podpy("run", "-d", "--name", "pf", "--pidfile", str(pf), "--conmon-pidfile", str(cpf), IMG, "sleep", "100"))
    state = out(podpy("inspect", "--format", "{{.State.Pid}} {{.State.ConmonPid}} {{.PidFile}} {{.ConmonPidFile}}", "pf"))
    assert state == [f"{pf.read_text()} {cpf.read_text()} {pf} {cpf}"]
    assert Path(f"/proc/{pf.read_text()}/cmdline").read_bytes().startswith(b"sleep\0")
    out(podpy("rm", "-f", "-t", "0", "pf"))
    assert pf.exists() and cpf.exists()  # left in place, as Podman leaves them
    fg = tmp_path / "fg.pid"
    assert out(podpy("run", "--rm", "--pidfile", str(fg), IMG, "sh", "-c", "echo $$")) == ["1"]
    assert fg.read_text().isdigit()
    r = podpy("run", "--rm", "--pidfile", "/nonexistent/dir/pid", IMG, "true")
    assert (r.returncode, r.stderr) == (125, "Error: --pidfile /nonexistent/dir/pid: its directory does not exist\n")


def test_rmi(podpy) -> None:  # type: ignore[no-untyped-def]
    """``--rmi`` (implies ``--rm``): the image goes by the name it ran by, unless a container uses it."""
    out(podpy("tag", IMG, "localhost/other:1"))
    assert out(podpy("run", "--rmi", IMG, "echo", "hi")) == ["hi"]
    assert out(podpy("images", "--format", "{{.Repository}}:{{.Tag}}")) == ["localhost/other:1"]  # only that name
    assert out(podpy("ps", "-a", "-q")) == []
    out(podpy("run", "-d", "--name", "keep", "localhost/other:1", "sleep", "100"))
    r = podpy("run", "--rmi", "localhost/other:1", "sh", "-c", "exit 3")
    assert r.returncode == 3 and "image is in use by a container" in r.stderr, r  # logged; the code is the container's
    out(podpy("rm", "-f", "-t", "0", "keep"))
    out(podpy("run", "-d", "--rmi", "localhost/other:1", "true"))  # detached: the monitor's cleanup removes it
    deadline = time.monotonic() + 10
    while podpy("images", "-q").stdout and time.monotonic() < deadline:
        time.sleep(0.1)
    assert out(podpy("images", "-q")) == [] and out(podpy("ps", "-a", "-q")) == []
