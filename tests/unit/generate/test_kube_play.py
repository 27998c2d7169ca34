"""``kube play``'s reading of the YAML (``podpy.engine.kube_play``: load and plan, no state touched):
what each Kubernetes field becomes in ``run``'s option values, and the one-line errors."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from podpy.engine import kube_play
from podpy.util.errors import PodpyError

CM = """
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data: {COLOR: blue, app.conf: "key=value\\n"}
---
apiVersion: v1
kind: Secret
metadata: {name: sec}
data: {PASSWORD: czNjcjN0}
stringData: {TOKEN: tok}
"""


def pod_yaml(tmp: Path, **over: Any) -> str:
    ctr = {
        "name": "main", "image": "busybox", "command": ["sh", "-c"], "args": ["env"], "workingDir": "/work",
        "env": [{"name": "PLAIN", "value": 1},
                {"name": "FROMCM", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "COLOR"}}},
                {"name": "FROMSEC", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "PASSWORD"}}}],
        "envFrom": [{"configMapRef": {"name": "cfg"}, "prefix": "CM_"}, {"secretRef": {"name": "sec"}}],
        "ports": [{"containerPort": 80, "hostPort": 8080}, {"containerPort": 81, "protocol": "UDP"}],
        "securityContext": {"runAsUser": 1000, "capabilities": {"drop": ["NET_RAW"]}},
        "volumeMounts": [{"name": "host", "mountPath": "/host", "readOnly": True},
                         {"name": "scratch", "mountPath": "/scratch"},
                         {"name": "cfgvol", "mountPath": "/etc/cfg"},
                         {"name": "secvol", "mountPath": "/etc/app.conf", "subPath": "app.conf"},
                         {"name": "mem", "mountPath": "/mem"},
                         {"name": "pvc", "mountPath": "/data"}],
    }  # fmt: skip
    ctr.update(over)
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "demo", "labels": {"app": "demo"}},
           "spec": {"restartPolicy": "OnFailure", "hostname": "h1", "securityContext": {"runAsGroup": 2000},
                    "hostAliases": [{"ip": "10.0.0.2", "hostnames": ["db", "db2"]}],
                    "containers": [ctr],
                    "volumes": [{"name": "host", "hostPath": {"path": str(tmp / "new"), "type": "DirectoryOrCreate"}},
                                {"name": "scratch", "emptyDir": {}},
                                {"name": "mem", "emptyDir": {"medium": "Memory"}},
                                {"name": "cfgvol", "configMap": {"name": "cfg", "items": [{"key": "COLOR", "path": "c/color", "mode": 0o600}]}},
                                {"name": "secvol", "secret": {"secretName": "sec", "defaultMode": 0o400}},
                                {"name": "pvc", "persistentVolumeClaim": {"claimName": "data", "readOnly": True}}]}}  # fmt: skip
    return CM + "---\n" + json.dumps(pod) + "\n---\napiVersion: v1\nkind: Service\nmetadata: {name: demo}\n"


def test_plan_maps_the_pod_to_run_options(tmp_path: Path) -> None:
    plan = kube_play.plan(kube_play.load(pod_yaml(tmp_path)))
    (pp,) = plan.pods
    assert pp.name == "demo" and not plan.volumes
    o = pp.options
    assert (o.name, o.hostname, o.labels, o.add_hosts) == ("demo", "h1", {"app": "demo"}, ["db:10.0.0.2", "db2:10.0.0.2"])
    assert [(p["host_port"], p["container_port"], p["protocol"]) for p in o.ports] == [(8080, 80, "tcp"), (81, 81, "udp")]
    (cp,) = pp.containers
    run = cp.run
    assert run["name"] == "demo-main" and run["image"] == "busybox" and run["restart"] == "on-failure"
    assert json.loads(run["entrypoint"]) == ["sh", "-c"] and run["command"] == ("env",)
    assert run["workdir"] == "/work" and run["user"] == "1000:2000" and run["cap_drop"] == ("NET_RAW",)
    assert run["pull"] == "missing"
    assert run["env"] == ("CM_COLOR=blue", "CM_app.conf=key=value\n", "PASSWORD=s3cr3t", "TOKEN=tok", "PLAIN=1",
                          "FROMCM=blue", "FROMSEC=s3cr3t")  # fmt: skip
    kinds = [(m.kind, m.source, m.destination, m.read_only, m.sub_path) for m in cp.mounts]
    assert kinds == [("host", str(tmp_path / "new"), "/host", True, ""), ("empty", "scratch", "/scratch", False, ""),
                     ("files", "cfgvol", "/etc/cfg", True, ""), ("files", "secvol", "/etc/app.conf", True, "app.conf"),
                     ("tmpfs", "", "/mem", False, ""), ("pvc", "data", "/data", True, "")]  # fmt: skip
    assert pp.files == {"cfgvol": {"c/color": (b"blue", 0o600)},
                        "secvol": {"PASSWORD": (b"s3cr3t", 0o400), "TOKEN": (b"tok", 0o400)}}  # fmt: skip
    assert pp.empty_dirs == ["scratch"] and pp.host_paths == [(str(tmp_path / "new"), "DirectoryOrCreate")]
    assert not (tmp_path / "new").exists()  # planning creates nothing


def test_controllers_claims_and_configmap_files(tmp_path: Path) -> None:
    text = textwrap.dedent("""
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web}
        spec:
          replicas: 3
          template:
            metadata: {labels: {app: web}}
            spec:
              containers:
              - {name: c, image: busybox, imagePullPolicy: Always, envFrom: [{configMapRef: {name: extra}}]}
        ---
        apiVersion: apps/v1
        kind: DaemonSet
        metadata: {name: ds}
        spec: {template: {spec: {hostNetwork: true, shareProcessNamespace: true, containers: [{name: c, image: busybox}]}}}
        ---
        apiVersion: v1
        kind: PersistentVolumeClaim
        metadata: {name: data, labels: {a: b}, annotations: {volume.podman.io/type: tmpfs, volume.podman.io/device: tmpfs}}
        """)  # fmt: skip
    extra = kube_play.configmap_docs("kind: ConfigMap\nmetadata: {name: extra}\ndata: {K: v}\n", "cm.yaml")
    plan = kube_play.plan(kube_play.load(text), configmaps=extra)
    assert [p.name for p in plan.pods] == ["web-pod", "ds-pod"]
    assert kube_play.pod_names(kube_play.load(text)) == ["web-pod", "ds-pod"]
    web, ds = plan.pods
    assert web.containers[0].run["pull"] == "always" and web.containers[0].run["env"] == ("K=v",)
    assert web.containers[0].run["restart"] == "always" and web.options.labels == {"app": "web"}
    assert ds.options.network == "host" and "pid" in ds.options.share
    (vol,) = plan.volumes
    assert (vol.name, vol.labels, vol.options) == ("data", {"a": "b"}, {"type": "tmpfs", "device": "tmpfs"})
    assert kube_play.plan(kube_play.load(text), configmaps=extra, network="none").pods[0].options.network == "none"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: [b\n", "multi doc yaml could not be split: yaml: line 2: expected ',' or ']'"),
        ("- a\n", "YAML document 1 is not a mapping"),
        ("kind: Job\nmetadata: {name: j}\n", "YAML document does not contain any supported kube kind (found Job)"),
        ("kind: Pod\nspec: {}\n", "Pod: metadata.name is missing"),
        ("kind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c}]}\n", "pod p: container c: no image given"),
        ("kind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: i, volumeMounts: [{name: v, mountPath: /v}]}]}\n",
         "pod p: container c: volume mount v specified for container but not configured in volumes"),
        ("kind: Pod\nmetadata: {name: p}\nspec: {volumes: [{name: v, nfs: {}}], containers: []}\n",
         "pod p: volume v: unsupported volume source nfs"),
        ("kind: Pod\nmetadata: {name: p}\nspec: {volumes: [{name: v, configMap: {name: nope}}], containers: []}\n",
         "pod p: volume v: ConfigMap 'nope' is not defined"),
        ("kind: Pod\nmetadata: {name: p}\nspec: {volumes: [{name: v, hostPath: {path: /nonexistent-hk, type: Directory}}]}\n",
         "hostPath /nonexistent-hk does not exist (type Directory)"),
        ("kind: Pod\nmetadata: {name: p}\nspec: {restartPolicy: Sometimes}\n", "invalid restartPolicy 'Sometimes'"),
        ("kind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: i, env: [{name: E, valueFrom: {secretKeyRef: {name: s, key: k}}}]}]}\n",
         "env E: key 'k' of Secret 's' is not defined"),
        ("kind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: i}, {name: c, image: i}]}\n",
         "container name c is used twice"),
        ("kind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: i, ports: [{hostPort: 1}]}]}\n",
         "a port has no containerPort"),
        ("kind: Secret\nmetadata: {name: s}\ndata: {k: '!!'}\n", "Secret s: the value of k is not valid base64"),
    ],
)  # fmt: skip
def test_errors_are_one_line(text: str, message: str) -> None:
    with pytest.raises(PodpyError) as e:
        kube_play.plan(kube_play.load(text))
    assert message in e.value.message and "\n" not in e.value.message
    assert e.value.exit_code == 125


def test_configmap_flag_takes_configmaps_only() -> None:
    with pytest.raises(PodpyError, match="--configmap files hold ConfigMap documents only, found kind Pod"):
        kube_play.configmap_docs("kind: Pod\nmetadata: {name: p}\n", "x.yaml")
    with pytest.raises(PodpyError, match="open /nonexistent/k.yaml: no such file or directory"):
        kube_play.read_file("/nonexistent/k.yaml")


def test_liveness_probe_becomes_a_health_check() -> None:
    run = kube_play.probe({"exec": {"command": ["cat", "/ok"]}, "periodSeconds": 5, "failureThreshold": 2}, "x")
    assert run == {"health_cmd": '["CMD", "cat", "/ok"]', "health_interval": "5s", "health_timeout": "1s",
                   "health_start_period": "0s", "health_retries": 2, "health_on_failure": "restart"}  # fmt: skip
    tcp = kube_play.probe({"tcpSocket": {"port": 80}, "initialDelaySeconds": 3}, "x")
    assert json.loads(tcp["health_cmd"]) == ["CMD-SHELL", "nc -z -v localhost 80 || exit 1"]
    assert tcp["health_start_period"] == "3s"
    http = kube_play.probe({"httpGet": {"path": "/h", "port": 8080}}, "x")
    assert json.loads(http["health_cmd"]) == ["CMD-SHELL", "curl -f http://localhost:8080/h || exit 1"]
    with pytest.raises(PodpyError, match="x: livenessProbe needs exec, httpGet or tcpSocket"):
        kube_play.probe({"grpc": {"port": 1}}, "x")


def test_host_network_pod_publishes_nothing() -> None:
    text = "kind: Pod\nmetadata: {name: h}\nspec: {hostNetwork: true, containers: [{name: c, image: i, ports: [{containerPort: 80}]}]}\n"
    (pp,) = kube_play.plan(kube_play.load(text)).pods
    assert pp.options.network == "host" and pp.options.ports == []


def test_memory_empty_dir_size() -> None:
    assert kube_play.tmpfs_size("64Mi", "x") == str(64 << 20)
    assert kube_play.tmpfs_size("1G", "x") == "1000000000" and kube_play.tmpfs_size(None, "x") == ""
    with pytest.raises(PodpyError, match="x: invalid emptyDir sizeLimit '1.5Gi'"):
        kube_play.tmpfs_size("1.5Gi", "x")


def test_plan_speaks_runs_option_names(tmp_path: Path) -> None:
    """Every value the plan gives is one of ``run``'s options (the CLI creates containers from them)."""
    from podpy.cli.container import RUN_ARGUMENTS, RUN_OPTIONS
    from podpy.cli.kube import run_defaults

    known = {dest for dest, _, _ in RUN_OPTIONS} | set(RUN_ARGUMENTS)
    (pp,) = kube_play.plan(kube_play.load(pod_yaml(tmp_path, livenessProbe={"exec": {"command": ["true"]}},
                                                   tty=True, stdin=True))).pods  # fmt: skip
    run = pp.containers[0].run
    assert set(run) | {"pod", "volume", "tmpfs"} <= known
    assert set(run_defaults()) == known - {"image"}
