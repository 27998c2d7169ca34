"""``kube generate``'s documents and text: the shape podman 4.3.1 printed on this machine for the same
pod (``podman kube generate p1`` of ``pod create --name p1 -p 8080:80`` + ``run --pod p1 --name web -e
FOO=bar -w /tmp -v vol1:/data -v /tmp:/hosttmp:ro busybox sleep 1000``), and every kind podpy writes
validated against the Kubernetes OpenAPI schemas (``kubernetes-validate``, offline)."""

from __future__ import annotations

import random
import re
from typing import Any

import kubernetes_validate
import pytest
import yaml

from podpy.generate import kube
from podpy.generate.kube_yaml import dump, dump_all
from podpy.spec.container import DEFAULT_CAPABILITIES
from podpy.util.errors import PodpyError, UsageError

K8S = kubernetes_validate.latest_version()
BUSYBOX_CFG = {"Cmd": ["sh"], "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]}

# podman 4.3.1's output for the pod above (its SandboxID annotation left out: podpy writes none)
PODMAN_POD = """# Save the output of this file and use kubectl create -f to import
# it into Kubernetes.
#
# Created with podpy-0.1.0
apiVersion: v1
kind: Pod
metadata:
  annotations:
    io.kubernetes.cri-o.ContainerType/web: container
    io.kubernetes.cri-o.TTY/web: "false"
    io.podman.annotations.autoremove/web: "FALSE"
    io.podman.annotations.init/web: "FALSE"
    io.podman.annotations.privileged/web: "FALSE"
    io.podman.annotations.publish-all/web: "FALSE"
  creationTimestamp: "TIME"
  labels:
    app: p1
  name: p1
spec:
  automountServiceAccountToken: false
  containers:
  - command:
    - sleep
    - "1000"
    env:
    - name: FOO
      value: bar
    image: 127.0.0.1:5000/busybox:latest
    name: web
    ports:
    - containerPort: 80
      hostPort: 8080
    resources: {}
    securityContext:
      capabilities:
        drop:
        - CAP_MKNOD
        - CAP_NET_RAW
        - CAP_AUDIT_WRITE
    volumeMounts:
    - mountPath: /hosttmp
      name: tmp-host-0
      readOnly: true
    - mountPath: /data
      name: vol1-pvc
    workingDir: /tmp
  enableServiceLinks: false
  hostname: p1
  restartPolicy: Never
  volumes:
  - hostPath:
      path: /tmp
      type: Directory
    name: tmp-host-0
  - name: vol1-pvc
    persistentVolumeClaim:
      claimName: vol1
status: {}
"""

PODMAN_PVC = """apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  annotations:
    volume.podman.io/driver: local
  creationTimestamp: "TIME"
  name: vol1
spec:
  accessModes:
  - ReadWriteOnce
  resources:
    requests:
      storage: 1Gi
status: {}
"""


def _mount(dest: str, src: str, opts: list[str], volume: str = "", type_: str = "bind") -> dict[str, Any]:
    return {"destination": dest, "source": src, "options": opts, "volume": volume, "type": type_}


def web(**spec: Any) -> kube.CtrFacts:
    base_spec: dict[str, Any] = {
        "env": {"FOO": "bar"},
        "mounts": [
            _mount("/data", "/r/volumes/vol1/_data", ["rw", "rprivate", "nosuid", "nodev", "rbind"], "vol1"),
            _mount("/hosttmp", "/tmp", ["ro", "rprivate", "rbind"]),
            _mount("/etc/hosts", "/r/containers/INFRA/userdata/hosts", ["bind", "rprivate"]),
        ],
        "restart_policy": "",
        "network": "container:INFRA",
    }
    base_spec.update(spec)
    config = {"spec": base_spec, "cmd": ["sleep", "1000"], "entrypoint": None, "cwd": "/tmp", "ports": [],
              "hostname": "p1", "terminal": False}  # fmt: skip
    return kube.CtrFacts(id="c" * 64, name="web", config=config, image="127.0.0.1:5000/busybox:latest",
                         image_config=dict(BUSYBOX_CFG), caps=list(DEFAULT_CAPABILITIES),
                         annotations={"io.container.manager": "podpy", "io.podman.annotations.autoremove": "FALSE",
                                      "io.podman.annotations.privileged": "FALSE",
                                      "io.podman.annotations.init": "FALSE"},
                         userdata="/r/containers/", host_kinds={"/tmp": "Directory"})  # fmt: skip


def pod(*members: kube.CtrFacts, **cfg: Any) -> kube.PodFacts:
    config = {"share": ["ipc", "net", "uts"], "ports": [{"container_port": 80, "host_ip": "", "host_port": 8080,
              "protocol": "tcp"}], "network": "", "dns": [], "add_hosts": [], "infra": True, **cfg}  # fmt: skip
    return kube.PodFacts("p" * 64, "p1", config, list(members))


def untimed(text: str) -> str:
    return re.sub(r'creationTimestamp: "[0-9TZ:-]+"', 'creationTimestamp: "TIME"', text)


def valid(doc: dict[str, Any]) -> None:
    """The document as Kubernetes' schema (strict: no unknown field) accepts it."""
    kubernetes_validate.validate(yaml.safe_load(dump(doc)), K8S, strict=True)


def test_pod_text_is_podmans() -> None:
    assert untimed(dump_all(kube.documents([pod(web())], [], []), "0.1.0")) == PODMAN_POD
    assert untimed(dump(kube.claim_document(kube.VolumeFacts("vol1")))) == PODMAN_PVC


def test_documents_come_in_podmans_order_and_validate() -> None:
    ctr = web(env={"X": "1"}, restart_policy="always", network="slirp4netns",
              mounts=[_mount("/scratch", "/r/volumes/" + "a" * 64 + "/_data", ["rw"], "a" * 64),
                      _mount("/run/t", "tmpfs", ["rw"], type_="tmpfs")])  # fmt: skip
    ctr.name, ctr.config["ports"] = "solo", [{"container_port": 90, "host_ip": "", "host_port": 9090, "protocol": "udp"}]
    ctr.anonymous = {"a" * 64}
    docs = kube.documents([pod(web())], [ctr], [kube.VolumeFacts("vol1", options={"type": "tmpfs"})], service=True)
    assert [d["kind"] for d in docs] == ["PersistentVolumeClaim", "Service", "Service", "Pod", "Pod"]
    for d in docs:
        valid(d)
    assert docs[0]["metadata"]["annotations"]["volume.podman.io/type"] == "tmpfs"
    solo = docs[4]
    assert solo["metadata"]["name"] == "solo-pod" and solo["spec"]["restartPolicy"] == "Always"
    assert "status" not in solo and "resources" not in solo["spec"]["containers"][0]
    vols = {v["name"]: v for v in solo["spec"]["volumes"]}
    assert vols["scratch-empty"] == {"emptyDir": {}, "name": "scratch-empty"}
    assert vols["run-t-empty"] == {"emptyDir": {"medium": "Memory"}, "name": "run-t-empty"}
    assert solo["spec"]["containers"][0]["ports"] == [{"containerPort": 90, "hostPort": 9090, "protocol": "UDP"}]
    (port,) = docs[2]["spec"]["ports"]
    assert port["protocol"] == "UDP" and port["port"] == port["targetPort"] == 90 and 30000 <= port["nodePort"] <= 32767
    assert docs[1]["spec"]["selector"] == {"app": "p1"} and docs[1]["spec"]["type"] == "NodePort"


def test_deployment_and_daemonset_wrap_the_pod() -> None:
    for kind, api in (("deployment", "Deployment"), ("daemonset", "DaemonSet")):
        (doc,) = kube.documents([pod(web())], [], [], kind=kind)
        valid(doc)
        assert (doc["apiVersion"], doc["kind"], doc["metadata"]["name"]) == ("apps/v1", api, f"p1-{kind}")
        assert doc["spec"]["selector"] == {"matchLabels": {"app": "p1"}}
        tmpl = doc["spec"]["template"]
        assert tmpl["metadata"]["name"] == "p1" and "restartPolicy" not in tmpl["spec"]
        assert "&" not in dump(doc)  # no YAML anchors for the shared labels
    (doc,) = kube.documents([pod(web())], [], [], kind="deployment", replicas=3)
    assert doc["spec"]["replicas"] == 3
    with pytest.raises(UsageError, match="Deployments can only have restartPolicy set to Always: the containers have --restart no"):
        kube.documents([pod(web(restart_policy="no"))], [], [], kind="deployment")
    with pytest.raises(UsageError, match="only supported types are pod, deployment and daemonset: job"):
        kube.documents([pod(web())], [], [], kind="job")
    with pytest.raises(UsageError, match="DaemonSets don't allow setting replicas"):
        kube.documents([pod(web())], [], [], kind="daemonset", replicas=2)


def test_container_fields() -> None:
    c = web(user="1000:1000", privileged=False, read_only=True, no_new_privileges=True, interactive=True,
            cap_add=["CAP_NET_ADMIN"])  # fmt: skip
    c.caps = [*DEFAULT_CAPABILITIES, "CAP_NET_ADMIN", "CAP_NET_RAW"]
    c.uid, c.gid = 1000, 1001
    c.config.update(entrypoint=["sh", "-c"], cmd=["echo hi"], terminal=True, cwd="/")
    c.image_config["Env"] = ["FOO=bar"]  # the image's own value is not repeated
    doc, _ = kube.container(c, resources=False)
    assert doc["command"] == ["sh", "-c"] and doc["args"] == ["echo hi"]
    assert "env" not in doc and "workingDir" not in doc and doc["tty"] is True and doc["stdin"] is True
    assert doc["securityContext"] == {"allowPrivilegeEscalation": False, "capabilities": {
        "add": ["CAP_NET_ADMIN"], "drop": ["CAP_MKNOD", "CAP_AUDIT_WRITE"]}, "readOnlyRootFilesystem": True,
        "runAsGroup": 1001, "runAsUser": 1000}  # fmt: skip
    c.config.update(entrypoint=None, cmd=["sh"])  # the image's Cmd: left out
    assert "command" not in kube.container(c, resources=False)[0]
    assert kube.security_context(web(privileged=True)) == {"privileged": True}


def test_pod_options_and_errors() -> None:
    p = pod(web(), dns=["1.1.1.1"], add_hosts=["db:10.0.0.2"], network="host", share=["ipc", "net", "pid", "uts"])
    (doc,) = kube.documents([p], [], [])
    valid(doc)
    spec = doc["spec"]
    assert spec["dnsConfig"] == {"nameservers": ["1.1.1.1"]} and spec["hostNetwork"] is True
    assert spec["hostAliases"] == [{"hostnames": ["db"], "ip": "10.0.0.2"}] and spec["shareProcessNamespace"] is True
    with pytest.raises(PodpyError, match="only has an infra container"):
        kube.documents([pod()], [], [])
    long = web()
    long.annotations["note"] = "x" * 80
    assert kube.annotations(long, True)["note/web"] == "x" * 63


def test_yaml_style() -> None:
    text = dump({"b": ["1", "yes", "multi\nline", "plain"], "a": {}})
    assert text == 'a: {}\nb:\n- "1"\n- "yes"\n- |-\n  multi\n  line\n- plain\n'


def test_service_node_ports_are_unique() -> None:
    (p,) = kube.documents([pod(web())], [], [])
    p["spec"]["containers"][0]["ports"] = [{"containerPort": n} for n in range(1, 200)]
    svc = kube.service_document(p, random.Random(1))
    nodes = [sp["nodePort"] for sp in svc["spec"]["ports"]]
    assert len(set(nodes)) == len(nodes) == 199
