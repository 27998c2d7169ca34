"""Units from ``podpy generate systemd --new`` and ``podpy quadlet`` checked by ``systemd-analyze --user
verify`` and then run the way systemd runs them: no systemd is PID 1 here, so the test plays its part
(specifiers, ``Environment=``, a ``NOTIFY_SOCKET`` of its own, ExecStart…ExecStopPost) and sees READY=1
with the monitor's pid as MAINPID, then nothing left after the stop commands."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.generate.unitplay import Service, play_notify_service, stop_service
from tests.system.conftest import BUSYBOX

# a service's main process that ends on SIGTERM at once (a plain `sleep` as PID 1 ignores it: stop would wait)
SERVE = 'trap "exit 0" TERM; sleep 1000 & wait'


def verify(*units: Path) -> None:
    """``systemd-analyze --user verify``: exit 0 and not a word on stderr (warnings count)."""
    exe = shutil.which("systemd-analyze")
    assert exe, "systemd-analyze is part of the test environment (package systemd)"
    r = subprocess.run([exe, "--user", "verify", *map(str, units)], capture_output=True, text=True,
                       cwd=units[0].parent, check=False)  # fmt: skip
    assert r.returncode == 0 and not r.stderr.strip(), r.stderr


def gone(pid: int, wait: float = 30.0) -> bool:
    """Whether ``pid`` ends (or is a zombie) within ``wait`` seconds: the monitor exits on its own after
    the container's cleanup, a moment after ``rm`` returned."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.1)
    return False


def inspect(podpy: Any, ref: str) -> dict[str, Any]:
    r = podpy("inspect", ref)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)[0]


def test_generate_systemd_new_unit_runs_as_a_user_service(podpy: Any, tmp_path: Path) -> None:
    r = podpy("create", "--name", "web", "-e", "GREETING=hello world", "--label", "app=web", BUSYBOX,
              "sh", "-c", f"echo $GREETING; {SERVE}")  # fmt: skip
    assert r.returncode == 0, r.stderr
    r = podpy("generate", "systemd", "--new", "--name", "--no-header", "web")
    assert r.returncode == 0, r.stderr
    unit = tmp_path / "container-web.service"
    unit.write_text(r.stdout)
    assert "ExecStart=" + shutil.which("podpy") in r.stdout  # the podpy that generated it (as podman's os.Executable)
    verify(unit)
    assert podpy("rm", "web").returncode == 0  # the unit creates the container itself

    runtime = tmp_path / "rt"
    runtime.mkdir()
    svc = Service.load(unit, str(runtime))
    note = play_notify_service(svc, tmp_path)
    assert note["READY"] == "1"
    cid = (runtime / "container-web.service.ctr-id").read_text().strip()
    doc = inspect(podpy, "web")
    assert doc["Id"] == cid and doc["State"]["Running"]
    assert int(note["MAINPID"]) == doc["State"]["ConmonPid"]  # MAINPID: the monitor, as conmon's
    assert doc["Config"]["Labels"]["PODMAN_SYSTEMD_UNIT"] == "container-web.service"  # auto-update finds the unit
    assert "GREETING=hello world" in doc["Config"]["Env"]
    assert "hello world" in podpy("logs", "web").stdout

    # a start while the old container still runs (systemd lost track of it) replaces it: --replace
    note2 = play_notify_service(svc, tmp_path)
    assert note2["READY"] == "1" and note2["MAINPID"] != note["MAINPID"]
    assert gone(int(note["MAINPID"]))
    assert podpy("ps", "-q", "--no-trunc").stdout.split() == [(runtime / "container-web.service.ctr-id").read_text()]

    stop_service(svc)
    assert podpy("ps", "-a", "-q").stdout.strip() == ""
    assert gone(int(note2["MAINPID"]))


def test_generate_systemd_files_json_and_errors(podpy: Any, tmp_path: Path, podpy_root: Any) -> None:
    assert podpy("create", "--name", "c1", "--restart", "always", BUSYBOX, "true").returncode == 0
    r = podpy("generate", "systemd", "--new", "--format", "json", "--name", "--container-prefix", "",
              "--restart-sec", "3", "-t", "2", "c1")  # fmt: skip
    assert r.returncode == 0, r.stderr
    units = json.loads(r.stdout)
    assert list(units) == ["c1"]
    assert "Restart=always\nRestartSec=3\nTimeoutStopSec=62\n" in units["c1"]
    assert "--restart" not in units["c1"]  # systemd restarts it, not the monitor

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    cmd = [shutil.which("podpy") or "podpy", *podpy_root.args, "generate", "systemd", "--files", "--name", "c1"]
    r = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, env=env, check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"{tmp_path}/container-c1.service\n"
    text = (tmp_path / "container-c1.service").read_text()
    assert "Type=forking\n" in text and "monitor.pid" in text
    assert "restart policy" in r.stderr  # podman's warning for a container with its own restart policy
    verify(tmp_path / "container-c1.service")

    r = podpy("generate", "systemd", "nosuch")
    assert r.returncode == 125
    assert r.stderr == (
        "Error: nosuch does not refer to a container or pod: no pod with name or ID nosuch found: no such pod: "
        'no container with name or ID "nosuch" found: no such container\n'
    )
    r = podpy("generate", "systemd", "--restart-policy", "bogus", "c1")
    assert (r.returncode, r.stderr) == (125, "Error: bogus is not a valid restart policy\n")
    r = podpy("generate", "systemd", "-t", "1", "--stop-timeout", "2", "c1")
    assert r.stderr == "Error: stop-timeout and time are redundant and cannot be used together\n"
    r = podpy("generate", "systemd", "--format", "yaml", "c1")
    assert r.stderr == "Error: unknown --format argument: yaml\n"


QUADLET_CONTAINER = """\
[Unit]
Description=Web container

[Container]
Image={image}
ContainerName=qweb
GlobalArgs={globals}
Exec=sh -c "echo $$GREETING > /data/greeting; trap 'exit 0' TERM; sleep 1000 & wait"
Environment=GREETING="hi there" OTHER=1
Volume=data.volume:/data
Label=app=qweb
AutoUpdate=local
WorkingDir=/data

[Service]
Restart=always

[Install]
WantedBy=default.target
"""


def test_quadlet_units_run_as_systemd_would(podpy: Any, podpy_root: Any, tmp_path: Path) -> None:
    src = podpy_root.config_home / "containers" / "systemd"
    src.mkdir(parents=True)
    globals_ = " ".join(podpy_root.args)
    (src / "web.container").write_text(QUADLET_CONTAINER.format(image=BUSYBOX, globals=globals_))
    (src / "data.volume").write_text(f"[Volume]\nGlobalArgs={globals_}\nLabel=made=quadlet\n")
    (src / "broken.container").write_text("[Container]\nImage=x\nNoSuchKey=1\n")
    out = tmp_path / "generated"

    r = podpy("quadlet", "--user", "--dryrun", env={"QUADLET_UNIT_DIRS": None})
    assert r.returncode == 1  # broken.container is reported and skipped
    assert "Error converting 'broken.container', ignoring: unsupported key 'NoSuchKey' in group 'Container'" in r.stderr
    assert "---web.service---\n" in r.stdout and "---data-volume.service---\n" in r.stdout

    (src / "broken.container").unlink()
    r = podpy("quadlet", "--user", str(out), env={"QUADLET_UNIT_DIRS": None})
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["data-volume.service", "default.target.wants", "web.service"]
    assert os.readlink(out / "default.target.wants" / "web.service") == "../web.service"
    verify(out / "web.service", out / "data-volume.service")

    runtime = tmp_path / "rt"
    runtime.mkdir()
    vol = Service.load(out / "data-volume.service", str(runtime))
    assert vol.value("Service", "Type") == "oneshot"
    vol.run("ExecStart", {})
    vol.run("ExecStart", {})  # --ignore: a second start of the oneshot is fine

    web = Service.load(out / "web.service", str(runtime))
    assert web.value("Unit", "Requires") == "data-volume.service"
    note = play_notify_service(web, tmp_path)
    assert note["READY"] == "1"
    doc = inspect(podpy, "qweb")
    assert int(note["MAINPID"]) == doc["State"]["ConmonPid"]
    assert doc["Config"]["Labels"] == {"app": "qweb", "io.containers.autoupdate": "local",
                                       "PODMAN_SYSTEMD_UNIT": "web.service"}  # fmt: skip
    assert doc["Config"]["WorkingDir"] == "/data"
    assert any(m["Name"] == "systemd-data" and m["Destination"] == "/data" for m in doc["Mounts"])
    r = podpy("exec", "qweb", "cat", "/data/greeting")
    assert r.stdout == "hi there\n", r.stderr

    stop_service(web)
    assert podpy("ps", "-a", "-q").stdout.strip() == ""
    assert not (runtime / "web.cid").exists()
    assert gone(int(note["MAINPID"]))


@pytest.mark.parametrize("rollback", [True, False])
def test_auto_update_local_policy(podpy: Any, testenv: dict[str, Any], rollback: bool) -> None:
    """A newer local image under the container's name: --dry-run says pending; the update cannot restart
    the unit here (no systemd manager) and says so; with --rollback the name points back to the old image."""
    other = testenv["archives"]["layered-docker-archive"]
    assert podpy("tag", BUSYBOX, "localhost/au:latest").returncode == 0
    r = podpy("run", "-d", "--name", "au", "--label", "io.containers.autoupdate=local", "localhost/au",
              "sleep", "1000", env={"PODMAN_SYSTEMD_UNIT": "au.service"})  # fmt: skip
    assert r.returncode == 0, r.stderr
    doc = inspect(podpy, "au")
    old = doc["Image"]
    r = podpy("auto-update", "--dry-run", "--format", "{{.Unit}} {{.ContainerName}} {{.Policy}} {{.Updated}}")
    assert (r.returncode, r.stdout) == (0, "au.service au local false\n"), r.stderr

    # another image takes the name (as a local build would)
    assert podpy("load", "-i", other["path"]).returncode == 0
    assert podpy("tag", other["image_id"], "localhost/au:latest").returncode == 0
    r = podpy("auto-update", "--dry-run")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0].split() == ["UNIT", "CONTAINER", "IMAGE", "POLICY", "UPDATED"]
    assert r.stdout.splitlines()[1].split() == ["au.service", doc["Id"][:12], "(au)", "localhost/au:latest", "local",
                                                "pending"]  # fmt: skip

    r = podpy("auto-update", f"--rollback={str(rollback).lower()}", "--format", "json")
    assert r.returncode == 125
    assert "cannot restart systemd unit au.service: no systemd manager is running" in r.stderr
    rows = json.loads(r.stdout)
    assert [row["Updated"] for row in rows] == ["rolled back" if rollback else "failed"]
    now = podpy("image", "inspect", "--format", "{{.Id}}", "localhost/au:latest").stdout.strip()
    assert now == (old if rollback else other["image_id"])


def test_auto_update_registry_policy(podpy: Any, testenv: dict[str, Any]) -> None:
    """The registry holds another image under the container's name: --dry-run says pending; the update
    pulls it (the name now points to it) and then cannot restart the unit here; --rollback=false keeps it."""
    reg = testenv["registries"]["open"]["host"]
    name = f"{reg}/podpy-autoupdate-{os.getpid()}-{time.time_ns()}:latest"
    other = testenv["archives"]["layered-docker-archive"]
    assert podpy("tag", BUSYBOX, name).returncode == 0
    r = podpy("push", "--tls-verify=false", name)
    assert r.returncode == 0, r.stderr
    r = podpy("run", "-d", "--name", "aur", "--label", "io.containers.autoupdate=registry", name, "sleep", "1000",
              env={"PODMAN_SYSTEMD_UNIT": "aur.service"})  # fmt: skip
    assert r.returncode == 0, r.stderr
    fmt = "{{.Unit}} {{.Image}} {{.Policy}} {{.Updated}}"
    r = podpy("auto-update", "--dry-run", "--tls-verify=false", "--format", fmt)
    assert (r.returncode, r.stdout) == (0, f"aur.service {name} registry false\n"), r.stderr

    assert podpy("load", "-i", other["path"]).returncode == 0
    assert podpy("tag", other["image_id"], name).returncode == 0
    assert podpy("push", "--tls-verify=false", name).returncode == 0
    assert podpy("tag", BUSYBOX, name).returncode == 0  # locally the name is the running image again
    r = podpy("auto-update", "--dry-run", "--tls-verify=false", "--format", fmt)
    assert (r.returncode, r.stdout) == (0, f"aur.service {name} registry pending\n"), r.stderr

    r = podpy("auto-update", "--tls-verify=false", "--rollback=false", "--format", fmt)
    assert r.returncode == 125
    assert r.stdout == f"aur.service {name} registry failed\n"
    assert "cannot restart systemd unit aur.service" in r.stderr
    now = podpy("image", "inspect", "--format", "{{.Id}}", name).stdout.strip()
    assert now == other["image_id"]  # pulled: the next start of the unit runs the new image


def test_template_unit_runs_one_container_per_instance(podpy: Any, tmp_path: Path) -> None:
    assert podpy("create", "--name", "tpl", BUSYBOX, "sh", "-c", SERVE).returncode == 0
    r = podpy("generate", "systemd", "--template", "--name", "--no-header", "tpl")
    assert r.returncode == 0, r.stderr
    unit = tmp_path / "container-tpl@.service"
    unit.write_text(r.stdout)
    verify(unit)
    svc = Service.load(unit, str(tmp_path), instance="one")
    note = play_notify_service(svc, tmp_path)
    doc = inspect(podpy, "tpl-one")  # --name tpl-%i
    assert doc["State"]["ConmonPid"] == int(note["MAINPID"])
    assert doc["Config"]["Labels"]["PODMAN_SYSTEMD_UNIT"] == "container-tpl@one.service-one"  # %n-%i, as podman
    assert podpy("inspect", "--format", "{{.State.Status}}", "tpl").stdout == "created\n"  # the original stays
    stop_service(svc)
    assert podpy("ps", "-a", "--format", "{{.Names}}").stdout == "tpl\n"
