"""``--pod-id-file`` (pod create/start/stop/rm, run/create) and ``pod create --replace``, as podman 4.3
behaves on this machine (same outputs, errors and exit codes)."""

from __future__ import annotations

import re
from pathlib import Path

IMG = "127.0.0.1:5000/busybox:latest"


def test_pod_id_file_round(podpy, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "pod.id"
    r = podpy("pod", "create", "--pod-id-file", str(f), "--name", "pp")
    assert r.returncode == 0 and re.fullmatch(r"[0-9a-f]{64}\n", r.stdout)
    pid = r.stdout.strip()
    assert f.read_text() == pid
    r = podpy("pod", "create", "--pod-id-file", str(f), "--name", "pp2")
    assert (r.returncode, r.stderr) == (125, f"Error: pod id file exists. Ensure another pod is not using it or delete {f}\n")
    r = podpy("run", "--rm", "--pod-id-file", str(f), IMG, "hostname")
    assert (r.returncode, r.stdout) == (0, "pp\n"), r
    r = podpy("run", "--rm", "--pod-id-file", "/nonexistent", IMG, "true")
    assert (r.returncode, r.stderr) == (125, "Error: reading pod ID file: open /nonexistent: no such file or directory\n")
    r = podpy("run", "--rm", "--pod", "pp", "--pod-id-file", str(f), IMG, "true")
    assert (r.returncode, r.stderr) == (125, "Error: cannot specify both --pod and --pod-id-file\n")
    for verb in ("stop", "start"):
        r = podpy("pod", verb, "--pod-id-file", str(f))
        assert (r.returncode, r.stdout) == (0, pid + "\n"), (verb, r)
    r = podpy("pod", "rm", "-f", "--pod-id-file", str(f))
    assert (r.returncode, r.stdout) == (0, pid + "\n")
    assert f.exists()  # left in place, as Podman leaves it
    r = podpy("pod", "rm", "--pod-id-file", str(f))
    assert (r.returncode, r.stderr) == (1, f"Error: no pod with name or ID {pid} found: no such pod\n")
    r = podpy("pod", "create", "--pod-id-file", "/nonexistent/dir/pod.id", "--name", "never")
    assert (r.returncode, r.stderr) == (125, "Error: --pod-id-file /nonexistent/dir/pod.id: its directory does not exist\n")
    assert podpy("pod", "ps", "-q").stdout == ""  # nothing made


def test_pod_create_replace(podpy) -> None:  # type: ignore[no-untyped-def]
    first = podpy("pod", "create", "--replace", "--name", "rr").stdout.strip()
    second = podpy("pod", "create", "--replace", "--name", "rr")
    assert second.returncode == 0 and second.stdout.strip() != first
    assert podpy("pod", "ps", "--format", "{{.Name}} {{.ID}}", "--no-trunc").stdout == f"rr {second.stdout.strip()}\n"
    r = podpy("pod", "create", "--replace")
    assert (r.returncode, r.stderr) == (125, "Error: cannot replace a pod without --name being set\n")
