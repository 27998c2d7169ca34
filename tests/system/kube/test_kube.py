"""``kube generate`` / ``kube play`` / ``kube down`` as a user types them. Output shapes are podman 4.3.1's
on this machine (checked with tests/env/as-user.sh podman kube ...). Containers trap SIGTERM so that
``kube down`` (a pod stop with the default 10 s timeout, as in Podman) is quick.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

from tests.system.conftest import BUSYBOX as IMG
from tests.system.network.test_network import connect_read, free_port, wait_clean

ID = r"[0-9a-f]{64}"
# stops at once on SIGTERM; writes a line into /data on every start
SERVE = "trap 'exit 0' TERM; date >> /data/starts; while true; do echo hello | nc -l -p 8080; done & wait"


def ok(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == 0, r.stderr
    return r.stdout


def error(r: subprocess.CompletedProcess[str], text: str) -> None:
    """Exit 125 and exactly one ``Error: ...`` line naming ``text``."""
    assert r.returncode == 125, (r.returncode, r.stdout, r.stderr)
    assert r.stderr.startswith("Error: ") and r.stderr.count("\n") == 1, r.stderr
    assert text in r.stderr, r.stderr


def facts(podpy: Any, ctr: str) -> dict[str, Any]:
    """What makes two containers equivalent: process, env, workdir, user mounts, the pod's ports."""
    doc = json.loads(ok(podpy("inspect", ctr)))[0]
    pod = json.loads(ok(podpy("pod", "inspect", doc["Pod"])))
    env = sorted(e for e in doc["Config"]["Env"] if e.startswith("FOO="))
    mounts = sorted((m["Type"], m.get("Name", m["Source"]), m["Destination"], m["RW"]) for m in doc["Mounts"]
                    if not m["Destination"].startswith("/etc/"))  # a member's /etc files are its infra's
    return {"args": [doc["Path"], *doc["Args"]], "env": env, "workdir": doc["Config"]["WorkingDir"],
            "mounts": mounts, "ports": pod["InfraConfig"]["PortBindings"], "image": doc["ImageName"]}  # fmt: skip


def validate(text: str) -> list[str]:
    """Every document valid for Kubernetes (strict: no field it does not know); their kinds."""
    docs = list(yaml.safe_load_all(text))
    version = kubernetes_validate.latest_version()
    for d in docs:
        kubernetes_validate.validate(d, version, strict=True)
    return [d["kind"] for d in docs]


def test_round_trip_generate_down_play(podpy: Any, podpy_root: Any, tmp_path: Path) -> None:
    port = free_port()
    host = tmp_path / "shared"
    host.mkdir()
    (host / "hello.txt").write_text("from the host\n")
    pod_id = ok(podpy("pod", "create", "--name", "rt", "-p", f"{port}:8080")).strip()
    ok(podpy("run", "-d", "--pod", "rt", "--name", "web", "-e", "FOO=bar", "-w", "/data", "-v", "rtvol:/data",
             "-v", f"{host}:/shared:ro", IMG, "sh", "-c", SERVE))  # fmt: skip
    before = facts(podpy, "web")
    assert connect_read(port) == b"hello\n"

    out = tmp_path / "rt.yaml"
    ok(podpy("kube", "generate", "-s", "-f", str(out), "rt", "rtvol"))
    text = out.read_text()
    assert text.startswith("# Save the output of this file and use kubectl create -f to import\n")
    assert validate(text) == ["PersistentVolumeClaim", "Service", "Pod"]
    assert validate(ok(podpy("generate", "kube", "--type", "deployment", "rt"))) == ["Deployment"]
    assert validate(ok(podpy("kube", "generate", "--type", "daemonset", "rt"))) == ["DaemonSet"]
    pod_doc = yaml.safe_load_all(text)
    ctr = list(pod_doc)[2]["spec"]["containers"][0]
    assert ctr["name"] == "web" and ctr["ports"] == [{"containerPort": 8080, "hostPort": port}]
    assert ctr["env"] == [{"name": "FOO", "value": "bar"}] and ctr["workingDir"] == "/data"
    error(podpy("kube", "generate", "-f", str(out), "rt"), f'cannot write to "{out}"; file exists')

    # down: the pod goes, the named volume stays
    assert ok(podpy("kube", "down", str(out))) == f"Pods stopped:\n{pod_id}\nPods removed:\n{pod_id}\n"
    assert ok(podpy("ps", "-a", "-q")) == "" and ok(podpy("pod", "ps", "-q")) == ""
    assert podpy("volume", "exists", "rtvol").returncode == 0
    error(podpy("kube", "down", str(out)), "no pod with name or ID rt found: no such pod")

    # play: an equivalent pod (its container named POD-CTR, as Podman names it), on the same volume
    played = ok(podpy("kube", "play", str(out)))
    m = re.fullmatch(rf"Volumes:\nrtvol\nPod:\n({ID})\nContainer:\n({ID})\n\n", played)
    assert m, played
    names = ok(podpy("ps", "--format", "{{.Names}} {{.PodName}}", "--filter", "pod=rt")).splitlines()
    assert sorted(names) == [f"{m.group(1)[:12]}-infra rt", "rt-web rt"]
    after = facts(podpy, "rt-web")
    assert after == before
    assert connect_read(port) == b"hello\n"
    assert ok(podpy("exec", "rt-web", "sh", "-c", "cat /shared/hello.txt; wc -l < starts; pwd")) == \
        "from the host\n2\n/data\n"  # fmt: skip

    # --replace: down first (printed), then a new pod; play again without it: the name is taken
    error(podpy("kube", "play", str(out)), 'adding pod to state: name "rt" is in use: pod already exists')
    replaced = ok(podpy("play", "kube", "--replace", "--start=false", str(out)))
    assert replaced.startswith(f"Pods stopped:\n{m.group(1)}\nPods removed:\n{m.group(1)}\nVolumes:\nrtvol\nPod:\n")
    assert ok(podpy("pod", "ps", "--format", "{{.Name}} {{.Status}}")) == "rt Created\n"
    ok(podpy("kube", "play", "--down", str(out)))
    assert ok(podpy("ps", "-a", "-q")) == "" and ok(podpy("pod", "ps", "-q")) == ""
    assert wait_clean(podpy_root.runroot) == ([], [])


def test_play_configmap_secret_hostpath_emptydir(podpy: Any, podpy_root: Any, tmp_path: Path) -> None:
    cm_file = tmp_path / "cm.yaml"
    cm_file.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra}\ndata: {EXTRA: from-flag}\n")
    hostdir = tmp_path / "made" / "here"
    kubefile = tmp_path / "app.yaml"
    kubefile.write_text(textwrap.dedent(f"""\
        apiVersion: v1
        kind: ConfigMap
        metadata: {{name: cfg}}
        data:
          COLOR: blue
          app.conf: |
            key=value
        ---
        apiVersion: v1
        kind: Secret
        metadata: {{name: sec}}
        data: {{PASSWORD: {base64.b64encode(b"s3cr3t").decode()}}}
        ---
        apiVersion: apps/v1
        kind: Deployment
        metadata: {{name: app}}
        spec:
          template:
            metadata: {{labels: {{app: app}}}}
            spec:
              volumes:
              - {{name: host, hostPath: {{path: {hostdir}, type: DirectoryOrCreate}}}}
              - {{name: scratch, emptyDir: {{}}}}
              - {{name: mem, emptyDir: {{medium: Memory, sizeLimit: 8Mi}}}}
              - {{name: cfgvol, configMap: {{name: cfg}}}}
              - {{name: secvol, secret: {{secretName: sec, defaultMode: 0400}}}}
              containers:
              - name: writer
                image: {IMG}
                command: [sh, -c]
                args: ["trap 'exit 0' TERM; echo shared > /scratch/f; sleep 1000 & wait"]
                workingDir: /scratch
                securityContext: {{runAsUser: 1000, runAsGroup: 1000}}
                env:
                - {{name: FROMSEC, valueFrom: {{secretKeyRef: {{name: sec, key: PASSWORD}}}}}}
                - {{name: FROMCM, valueFrom: {{configMapKeyRef: {{name: cfg, key: COLOR}}}}}}
                envFrom: [{{configMapRef: {{name: extra}}}}]
                volumeMounts:
                - {{name: host, mountPath: /host}}
                - {{name: scratch, mountPath: /scratch}}
                - {{name: cfgvol, mountPath: /etc/cfg}}
                - {{name: secvol, mountPath: /etc/sec, readOnly: true}}
              - name: reader
                image: {IMG}
                command: [sh, -c, "trap 'exit 0' TERM; sleep 1000 & wait"]
                livenessProbe: {{exec: {{command: ["true"]}}, periodSeconds: 30}}
                volumeMounts:
                - {{name: scratch, mountPath: /shared}}
                - {{name: cfgvol, mountPath: /app.conf, subPath: app.conf}}
                - {{name: secvol, mountPath: /etc/sec}}
                - {{name: host, mountPath: /host}}
                - {{name: mem, mountPath: /mem}}
        """))  # fmt: skip
    error(podpy("kube", "play", str(kubefile)), "envFrom: ConfigMap 'extra' is not defined")
    assert not hostdir.exists()  # nothing made for a file that cannot be played
    out = ok(podpy("kube", "play", "--configmap", str(cm_file), str(kubefile)))
    assert re.fullmatch(rf"Pod:\n{ID}\nContainers:\n{ID}\n{ID}\n\n", out), out
    names = ok(podpy("ps", "--format", "{{.Names}}", "--filter", "pod=app-pod")).split()
    assert sorted(n for n in names if not n.endswith("-infra")) == ["app-pod-reader", "app-pod-writer"]
    script = "id -u; id -g; pwd; echo $FROMSEC $FROMCM $EXTRA; cat /etc/cfg/COLOR; echo; " \
             "stat -c %a /etc/sec/PASSWORD; touch /etc/cfg/x 2>/dev/null || echo ro"  # fmt: skip
    assert ok(podpy("exec", "app-pod-writer", "sh", "-c", script)).split("\n") == \
        ["1000", "1000", "/scratch", "s3cr3t blue from-flag", "blue", "400", "ro", ""]  # fmt: skip
    # the emptyDir is one volume for both containers; the hostPath was created and is shared with the host
    wait = "for i in $(seq 50); do [ -e /shared/f ] && break; sleep 0.1; done; cat /shared/f /app.conf /etc/sec/PASSWORD; echo out > /host/f; grep ' /mem ' /proc/mounts | cut -d' ' -f3,4"
    seen = ok(podpy("exec", "app-pod-reader", "sh", "-c", wait))
    assert seen.startswith("shared\nkey=value\ns3cr3ttmpfs rw,") and ",size=8192k" in seen, seen
    assert (hostdir / "f").read_text() == "out\n"
    assert ok(podpy("inspect", "app-pod-writer", "--format", "{{.HostConfig.RestartPolicy.Name}}")) == "always\n"
    assert len(ok(podpy("volume", "ls", "-q")).split()) == 1  # the emptyDir's anonymous volume
    hc = json.loads(ok(podpy("inspect", "app-pod-reader", "--format", "{{json .Config.Healthcheck}}")))
    assert hc["Test"] == ["CMD", "true"] and hc["Interval"] == 30_000_000_000

    down = ok(podpy("kube", "down", str(kubefile)))
    assert re.fullmatch(rf"Pods stopped:\n{ID}\nPods removed:\n{ID}\n", down), down
    assert ok(podpy("ps", "-a", "-q")) == "" and ok(podpy("pod", "ps", "-q")) == ""
    assert ok(podpy("volume", "ls", "-q")) == ""
    assert not any((podpy_root.root / "kube").iterdir())
    assert wait_clean(podpy_root.runroot) == ([], [])


def test_bad_input(podpy: Any, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [b\n")
    error(podpy("kube", "play", str(bad)), "multi doc yaml could not be split: yaml: line 2:")
    bad.write_text("apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\n")
    error(podpy("kube", "play", str(bad)), "YAML document does not contain any supported kube kind (found Job)")
    error(podpy("kube", "play", str(tmp_path / "none.yaml")), f"open {tmp_path}/none.yaml: no such file or directory")
    error(podpy("kube", "generate", "nope"), 'name or ID "nope" not found')
    error(podpy("kube", "generate"), "requires at least 1 arg(s), only received 0")
    error(podpy("kube", "play", "--network", "container:x", str(bad)), "--network container: cannot be used")
    ok(podpy("pod", "create", "--name", "bp"))
    ok(podpy("create", "--pod", "bp", "--name", "member", "--restart", "no", IMG, "true"))
    error(podpy("kube", "generate", "member"), "is associated with pod")
    error(podpy("kube", "generate", "--type", "deployment", "bp"),
          "k8s Deployments can only have restartPolicy set to Always: the containers have --restart no")
    bad.write_text(f"kind: Pod\nmetadata: {{name: bp}}\nspec: {{containers: [{{name: c, image: {IMG}}}]}}\n")
    error(podpy("kube", "play", str(bad)), 'adding pod to state: name "bp" is in use: pod already exists')
    assert ok(podpy("ps", "-a", "--format", "{{.Names}}")).split().count("bp-c") == 0
    # stdin as the file; a container that cannot be created leaves no pod behind
    r = podpy("kube", "play", "-", input="kind: Pod\nmetadata: {name: np}\nspec: {containers: [{name: c, image: 127.0.0.1:5000/nope, imagePullPolicy: Never}]}\n")
    assert r.returncode == 125 and "nope" in r.stderr, r.stderr
    assert ok(podpy("pod", "ps", "--format", "{{.Name}}")) == "bp\n"
