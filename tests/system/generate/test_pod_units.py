"""``generate systemd POD`` (existing pod, ``Type=forking``): the pod's unit starts the infra container,
each member's unit is bound to it; run as systemd would (ExecStart, the PIDFile names the live monitor,
ExecStop/ExecStopPost); with ``--new`` the units recreate the pod and its container."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.integration.generate.unitplay import Service, play_notify_service, stop_service
from tests.system.conftest import BUSYBOX
from tests.system.generate.test_systemd_units_run import SERVE, gone, inspect, verify


def test_pod_units_start_and_stop_the_pod(podpy: Any, tmp_path: Path) -> None:
    assert podpy("pod", "create", "--name", "pu").returncode == 0
    assert podpy("create", "--pod", "pu", "--name", "puc", BUSYBOX, "sh", "-c", SERVE).returncode == 0
    r = podpy("generate", "systemd", "--name", "--format", "json", "pu")
    assert r.returncode == 0, r.stderr
    units = json.loads(r.stdout)
    assert list(units) == ["pod-pu", "container-puc"]
    pod_text, ctr_text = units["pod-pu"], units["container-puc"]
    assert "Wants=container-puc.service\nBefore=container-puc.service\n" in pod_text
    assert "BindsTo=pod-pu.service\nAfter=pod-pu.service\n" in ctr_text
    for name, text in units.items():
        (tmp_path / f"{name}.service").write_text(text)
    verify(tmp_path / "pod-pu.service", tmp_path / "container-puc.service")

    pod_svc = Service.load(tmp_path / "pod-pu.service", str(tmp_path))
    ctr_svc = Service.load(tmp_path / "container-puc.service", str(tmp_path))
    pids = []
    for svc, ref in ((pod_svc, None), (ctr_svc, "puc")):
        svc.run("ExecStart", {})
        pid = int(Path(svc.value("Service", "PIDFile") or "").read_text())  # Type=forking: systemd reads it now
        infra = json.loads(podpy("pod", "inspect", "pu").stdout)
        infra = infra[0] if isinstance(infra, list) else infra
        doc = inspect(podpy, ref or infra["InfraContainerID"])
        assert doc["State"]["Running"] and doc["State"]["ConmonPid"] == pid
        pids.append(pid)
    for svc in (ctr_svc, pod_svc):  # systemd stops the bound container first
        svc.run("ExecStop", {})
        svc.run("ExecStopPost", {})
    assert all(gone(p) for p in pids)
    assert podpy("ps", "-q").stdout.strip() == ""



def test_pod_units_new_recreate_the_pod(podpy: Any, tmp_path: Path) -> None:
    """``--new``: the pod's unit (oneshot: podpy has no pod-id/pid files) recreates the pod, the member's unit
    recreates the container in it; both go at stop."""
    assert podpy("pod", "create", "--name", "pn", "--label", "k=v").returncode == 0
    assert podpy("create", "--pod", "pn", "--name", "pnc", BUSYBOX, "sh", "-c", SERVE).returncode == 0
    r = podpy("generate", "systemd", "--new", "--name", "--format", "json", "pn")
    assert r.returncode == 0, r.stderr
    units = json.loads(r.stdout)
    assert list(units) == ["pod-pn", "container-pnc"]
    assert "\t--pod pn " in units["container-pnc"]
    for name, text in units.items():
        (tmp_path / f"{name}.service").write_text(text)
    verify(tmp_path / "pod-pn.service", tmp_path / "container-pnc.service")
    old_pod = json.loads(podpy("pod", "inspect", "pn").stdout)
    old_pod = old_pod[0] if isinstance(old_pod, list) else old_pod
    assert podpy("rm", "pnc").returncode == 0  # the member goes; the pod's unit replaces the pod itself

    pod_svc = Service.load(tmp_path / "pod-pn.service", str(tmp_path))
    ctr_svc = Service.load(tmp_path / "container-pnc.service", str(tmp_path))
    pod_svc.run("ExecStartPre", {})
    pod_svc.run("ExecStart", {})
    note = play_notify_service(ctr_svc, tmp_path)
    new_pod = json.loads(podpy("pod", "inspect", "pn").stdout)
    new_pod = new_pod[0] if isinstance(new_pod, list) else new_pod
    assert new_pod["Id"] != old_pod["Id"] and new_pod["Labels"] == {"k": "v"}
    doc = inspect(podpy, "pnc")
    assert doc["Pod"] == new_pod["Id"] and doc["State"]["ConmonPid"] == int(note["MAINPID"])

    stop_service(ctr_svc)
    pod_svc.run("ExecStop", {})
    pod_svc.run("ExecStopPost", {})
    assert podpy("pod", "ps", "-q").stdout.strip() == "" and podpy("ps", "-a", "-q").stdout.strip() == ""
    assert gone(int(note["MAINPID"]))


def test_quadlet_pod_and_its_container(podpy: Any, podpy_root: Any, tmp_path: Path) -> None:
    src = podpy_root.config_home / "containers" / "systemd"
    src.mkdir(parents=True)
    globals_ = " ".join(podpy_root.args)
    (src / "app.pod").write_text(f"[Pod]\nGlobalArgs={globals_}\nLabel=tier=app\n")
    (src / "web.container").write_text(
        f"[Container]\nImage={BUSYBOX}\nPod=app.pod\nGlobalArgs={globals_}\nExec=sh -c '{SERVE}'\n"
    )
    (src / "stray.container").write_text(f"[Container]\nImage={BUSYBOX}\nPod=nope.pod\n")
    out = tmp_path / "out"
    r = podpy("quadlet", "--user", str(out))
    assert r.returncode == 1
    assert "Error converting 'stray.container', ignoring: quadlet pod unit nope.pod does not exist" in r.stderr
    verify(out / "app-pod.service", out / "web.service")

    pod_svc = Service.load(out / "app-pod.service", str(tmp_path))
    web = Service.load(out / "web.service", str(tmp_path))
    assert pod_svc.value("Unit", "Wants") == "web.service" and pod_svc.value("Unit", "Before") == "web.service"
    assert web.value("Unit", "BindsTo") == "app-pod.service"
    pod_svc.run("ExecStartPre", {})  # oneshot: systemd runs ExecStartPre, ExecStart and calls it started
    pod_svc.run("ExecStart", {})
    note = play_notify_service(web, tmp_path)
    pod_doc = json.loads(podpy("pod", "inspect", "systemd-app").stdout)
    pod_doc = pod_doc[0] if isinstance(pod_doc, list) else pod_doc
    doc = inspect(podpy, "systemd-web")
    assert doc["Pod"] == pod_doc["Id"] and doc["State"]["ConmonPid"] == int(note["MAINPID"])
    assert pod_doc["Labels"] == {"tier": "app"}

    stop_service(web)
    pod_svc.run("ExecStop", {})
    pod_svc.run("ExecStopPost", {})
    assert podpy("pod", "ps", "-q").stdout.strip() == ""
    assert podpy("ps", "-a", "-q").stdout.strip() == ""
    assert gone(int(note["MAINPID"]))


KUBE_YAML = """\
apiVersion: v1
kind: Pod
metadata:
  name: kapp
spec:
  containers:
  - name: web
    image: {image}
    command: {command}
"""


def test_quadlet_kube_plays_and_downs(podpy: Any, podpy_root: Any, tmp_path: Path) -> None:
    src = podpy_root.config_home / "containers" / "systemd"
    src.mkdir(parents=True)
    (src / "app.yml").write_text(KUBE_YAML.format(image=BUSYBOX, command=json.dumps(["sh", "-c", SERVE])))
    (src / "app.kube").write_text(f"[Kube]\nYaml=app.yml\nGlobalArgs={' '.join(podpy_root.args)}\n")
    out = tmp_path / "out"
    r = podpy("quadlet", "--user", str(out))
    assert r.returncode == 0, r.stderr
    verify(out / "app.service")
    svc = Service.load(out / "app.service", str(tmp_path))
    assert svc.value("Service", "Type") == "oneshot"
    svc.run("ExecStart", {"PODMAN_SYSTEMD_UNIT": "app.service"})
    assert podpy("ps", "--format", "{{.Names}}", "--filter", "name=kapp-web").stdout == "kapp-web\n"
    svc.run("ExecStopPost", {})
    assert podpy("pod", "ps", "-q").stdout.strip() == "" and podpy("ps", "-a", "-q").stdout.strip() == ""
