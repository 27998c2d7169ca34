"""``podpy events`` records what podman 4.3 records, action by action (the CLI as a user types it).

The expected sequences were taken from podman 4.3.1 rootless (file event logger, runc) as the test
user, e.g. ``podman run --name r1 --label a=b busybox sh -c 'exit 3'`` then
``podman events --stream=false --since 1m --format json``:

  run (foreground)   image pull NAME-TYPED; create, init, start, attach, died (ContainerExitCode 3), cleanup
  run -d             image pull; create, init, start
  run --rm           image pull; create, init, start, attach, died, remove        (no cleanup)
  start -a           init, start, attach, died, cleanup
  exec (0, then 4)   exec, exec_died, exec_died; exec, exec_died (4), exec_died (4)
  exec nosuchcmd     nothing
  exec -d            exec ... exec_died when the command ends
  stop               stop, died, cleanup, cleanup  -- podman writes ``stop`` only when its stop wins the
                     race with conmon's cleanup process (podman 4.3 libpod ``stop()``), and ``cleanup``
                     twice (stop's and conmon's); podpy writes stop, died, cleanup every time.
  kill               kill, died (137), cleanup
  rename             rename (with the new name)
  rm                 remove
  commit             commit (no image event)
  pause (cgroup v1)  refused; podman 4.3 still logs ``pause`` (a bug): podpy logs nothing.

Every container event has ``Image`` (the container's image name) and ``Attributes`` = the
container's labels (``{}`` without labels); ``died``/``exec_died`` have ``ContainerExitCode`` when it
is not 0 (Go's omitempty). Podman 4.3 writes the image ``pull`` of ``run`` late in its file (an
asynchronous writer) though its time is before ``create``; podpy writes it in time order.

Image events (``podman ... ; podman events --filter type=image``), ``Attributes`` always null:

  pull REF           pull, Name=REF as typed, no ID (also by ``run``/``create`` of a local image)
  tag IMG NEW        tag, ID, Name=NEW as typed
  untag IMG NAME     untag, ID, Name=NAME
  save -o PATH IMG   save, ID, Name=PATH (``/dev/stdout`` here; podman names its pipe)
  rmi NAME           untag (each name), remove Name=NAME; a name of a multi-name image: untag + remove
  rmi -a / prune -a  untag (each name), remove without Name
  load -i PATH       loadfromarchive, Name=PATH, no ID
  push IMG DEST      push, ID, Name=DEST as typed (docker-archive:PATH too, without a save event)
  import TAR NAME    tag, ID, Name=NAME (nothing when unnamed)
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

IMG = "127.0.0.1:5000/busybox:latest"


def _ok(r: Any) -> str:
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    return str(r.stdout)


def _events(podpy: Any, *filters: str) -> list[dict[str, Any]]:
    args = [f"--filter={f}" for f in filters]
    out = _ok(podpy("events", "--stream=false", "--since", "10m", "--format", "json", *args))
    return [json.loads(ln) for ln in out.splitlines()]


def _statuses(docs: list[dict[str, Any]]) -> list[str]:
    return [d["Status"] for d in docs]


def _wait_for(podpy: Any, name: str, status: str) -> list[dict[str, Any]]:
    """The monitor's cleanup runs on its own after an exit: wait (bounded) until ``status`` is logged."""
    deadline = time.monotonic() + 30
    docs = _events(podpy, f"container={name}")
    while status not in _statuses(docs) and time.monotonic() < deadline:
        time.sleep(0.1)
        docs = _events(podpy, f"container={name}")
    return docs


def test_run_foreground_logs_podmans_sequence_with_image_labels_and_exit_code(podpy: Any) -> None:
    r = podpy("run", "--name", "r1", "--label", "a=b", IMG, "sh", "-c", "exit 3")
    assert r.returncode == 3, r.stderr
    docs = _events(podpy, "container=r1")
    assert _statuses(docs) == ["create", "init", "start", "attach", "died", "cleanup"]
    assert all(d["Image"] == IMG and d["Attributes"] == {"a": "b"} and d["Type"] == "container" for d in docs)
    assert [d.get("ContainerExitCode") for d in docs] == [None, None, None, None, 3, None]
    assert len({d["ID"] for d in docs}) == 1
    pulls = [d for d in _events(podpy, "type=image") if d["Status"] == "pull"]
    assert pulls == [
        {"Name": IMG, "Status": "pull", "Time": pulls[0]["Time"], "Type": "image", "Attributes": None}
    ]
    _ok(podpy("rm", "r1"))
    docs = _events(podpy, "container=r1")
    assert (
        docs[-1]["Status"] == "remove" and docs[-1]["Attributes"] == {"a": "b"} and docs[-1]["Image"] == IMG
    )
    line = _ok(podpy("events", "--stream=false", "--filter", "container=r1", "--filter", "event=died"))
    assert line.rstrip().endswith(f"container died {docs[0]['ID']} (image={IMG}, name=r1, a=b)"), line
    code = _ok(
        podpy("events", "--stream=false", "--filter", "event=died", "--format", "{{.ContainerExitCode}}")
    )
    assert code == "3\n"


def test_run_rm_logs_remove_and_no_cleanup(podpy: Any) -> None:
    _ok(podpy("run", "--rm", "--name", "rr", IMG, "true"))
    docs = _events(podpy, "container=rr")
    assert _statuses(docs) == ["create", "init", "start", "attach", "died", "remove"]
    assert all("ContainerExitCode" not in d and d["Attributes"] == {} for d in docs)


def test_run_d_exec_stop_rm(podpy: Any) -> None:
    _ok(podpy("run", "-d", "--name", "d1", "--label", "x=y", IMG, "sleep", "1000"))
    assert _statuses(_events(podpy, "container=d1")) == ["create", "init", "start"]
    _ok(podpy("exec", "d1", "true"))
    assert podpy("exec", "d1", "sh", "-c", "exit 4").returncode == 4
    assert podpy("exec", "d1", "nosuchcmd").returncode == 127  # podman logs nothing for it
    _ok(podpy("stop", "-t", "1", "d1"))  # sleep as PID 1 ignores SIGTERM: SIGKILL, 137
    docs = _wait_for(podpy, "d1", "cleanup")
    assert _statuses(docs) == ["create", "init", "start", "exec", "exec_died", "exec", "exec_died",
                               "stop", "died", "cleanup"]  # fmt: skip
    assert [d.get("ContainerExitCode") for d in docs][3:] == [None, None, None, 4, None, 137, None]
    assert all(d["Attributes"] == {"x": "y"} and d["Image"] == IMG for d in docs)
    _ok(podpy("rm", "d1"))
    assert _statuses(_events(podpy, "container=d1"))[-2:] == ["cleanup", "remove"]  # cleanup logged once


def test_start_attach_logs_attach(podpy: Any) -> None:
    """``podman start -a``: init, start, attach, died, cleanup after its create."""
    _ok(podpy("create", "--name", "sa", IMG, "echo", "hi"))
    assert _ok(podpy("start", "-a", "sa")) == "hi\n"
    docs = _wait_for(podpy, "sa", "cleanup")
    assert _statuses(docs) == ["create", "init", "start", "attach", "died", "cleanup"]


def test_create_start_kill_rename_commit(podpy: Any) -> None:
    cid = _ok(podpy("create", "--name", "k1", IMG, "sleep", "1000")).strip()
    _ok(podpy("start", "k1"))
    _ok(podpy("kill", "k1"))
    _ok(podpy("wait", "k1"))
    _wait_for(podpy, "k1", "cleanup")
    _ok(podpy("rename", "k1", "k2"))
    _ok(podpy("commit", "-q", "k2", "localhost/ev-commit:1"))
    docs = _events(podpy, f"container={cid}")
    assert _statuses(docs) == ["create", "init", "start", "kill", "died", "cleanup", "rename", "commit"]
    assert [d["Name"] for d in docs] == ["k1"] * 6 + ["k2"] * 2
    assert docs[4]["ContainerExitCode"] == 137 and "signal" not in docs[3]["Attributes"]
    assert "tag" not in _statuses(_events(podpy, "type=image"))  # podman 4.3: commit is no image event


def test_image_events_in_podmans_order_and_fields(podpy_cli: Any, tmp_path: Any) -> None:
    podpy = podpy_cli
    _ok(podpy("pull", "-q", "--tls-verify=false", IMG))
    iid = _ok(podpy("image", "inspect", "--format", "{{.Id}}", IMG)).strip()
    _ok(podpy("tag", IMG, "localhost/ev/bb:t1"))
    _ok(podpy("untag", IMG, "localhost/ev/bb:t1"))
    archive = str(tmp_path / "bb.tar")
    _ok(podpy("save", "-o", archive, IMG))
    _ok(podpy("rmi", IMG))
    _ok(podpy("load", "-q", "-i", archive))
    dest = f"127.0.0.1:5000/podpy-events/{uuid.uuid4().hex[:10]}:pushed"
    _ok(podpy("push", "-q", "--tls-verify=false", IMG, dest))
    _ok(podpy("tag", IMG, "ev2"))
    _ok(podpy("rmi", "ev2"))  # a name of an image with two: only untagged, and yet "remove"
    _ok(podpy("import", "-q", "/opt/podpy-test/images/busybox-rootfs.tar", "localhost/ev/imp:1"))
    imp = _ok(podpy("image", "inspect", "--format", "{{.Id}}", "localhost/ev/imp:1")).strip()
    _ok(podpy("rmi", "-f", "localhost/ev/imp:1"))
    _ok(podpy("image", "prune", "-a", "-f"))
    got = [(d["Status"], d.get("ID", ""), d.get("Name", "")) for d in _events(podpy, "type=image")]
    assert got == [
        ("pull", "", IMG),
        ("tag", iid, "localhost/ev/bb:t1"),
        ("untag", iid, "localhost/ev/bb:t1"),
        ("save", iid, archive),
        ("untag", iid, IMG),
        ("remove", iid, IMG),
        ("loadfromarchive", "", archive),
        ("push", iid, dest),
        ("tag", iid, "ev2"),
        ("untag", iid, "localhost/ev2:latest"),
        ("remove", iid, "ev2"),
        ("tag", imp, "localhost/ev/imp:1"),
        ("untag", imp, "localhost/ev/imp:1"),
        ("remove", imp, "localhost/ev/imp:1"),
        ("untag", iid, IMG),
        ("remove", iid, ""),
    ], got
    assert all(d["Attributes"] is None for d in _events(podpy, "type=image"))
    # the default line: ``TIME image pull  NAME`` (no ID), as podman
    line = _ok(podpy("events", "--stream=false", "--filter", "event=pull"))
    assert line.rstrip().endswith(f" image pull  {IMG}"), line


def test_push_to_archive_is_one_push_event(podpy: Any, tmp_path: Any) -> None:
    target = f"docker-archive:{tmp_path / 'p.tar'}"
    _ok(podpy("push", "-q", IMG, target))
    _ok(podpy("save", IMG, "-o", str(tmp_path / "s.tar")))
    got = [(d["Status"], d.get("Name")) for d in _events(podpy, "type=image")]
    assert got[-2:] == [("push", target), ("save", str(tmp_path / "s.tar"))], got


def test_restart_logs_restart_first(podpy: Any) -> None:
    """podman 4.3 ``restart`` of a running container: restart, stop, died, cleanup…, init, start."""
    _ok(podpy("run", "-d", "--name", "rs", IMG, "sleep", "1000"))
    _ok(podpy("restart", "-t", "0", "rs"))
    sts = _statuses(_events(podpy, "container=rs"))
    assert sts[:4] == ["create", "init", "start", "restart"], sts
    assert sts[-2:] == ["init", "start"] and "died" in sts[4:], sts


def test_health_check_logs_health_status_then_exec_died(podpy: Any) -> None:
    """As podman 4.3: a check is no ``exec``; ``health_status`` then ``exec_died``."""
    _ok(podpy("run", "-d", "--name", "hc", "--health-cmd", "sh -c 'exit 2'", "--health-interval", "1h", IMG,
              "sleep", "1000"))  # fmt: skip
    assert podpy("healthcheck", "run", "hc").returncode == 1
    docs = [d for d in _events(podpy, "container=hc") if d["Status"] not in ("create", "init", "start")]
    assert _statuses(docs) == ["health_status", "exec_died"], docs
    assert docs[1].get("ContainerExitCode") == 2
