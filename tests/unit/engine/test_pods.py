"""Pods without namespaces: the pause program, the pods table, a member's spec, pod status, inspect."""

from __future__ import annotations

import io
import os
import secrets
import shutil
import signal
import subprocess
import tarfile
from pathlib import Path

import pytest

from podpy.engine import pod_pause, pods
from podpy.engine.state import ContainerRecord, State
from podpy.spec.container import ContainerSpec
from podpy.util.errors import ConflictError, NotFoundError, UsageError
from podpy.util.paths import Paths


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    return Paths(root=tmp_path / "root", runroot=tmp_path / "run")


def _ctr(st: State, name: str, state: str = "created", **config: object) -> ContainerRecord:
    return st.create(ContainerRecord(id=secrets.token_hex(32), name=name, state=state, config=dict(config)))


def _pod(st: State, name: str, share: tuple[str, ...] = pods.DEFAULT_SHARE, hostname: str = "") -> pods.PodRecord:
    """A pod recorded as ``pods.create`` records it, with an infra container record."""
    pod = pods.PodRecord(secrets.token_hex(32), name, config={"share": list(share), "infra": True})
    pods._insert(st, pod)
    infra = _ctr(st, f"{pod.id[:12]}-infra", hostname=hostname or name, infra=True, spec={"pod": pod.id})
    with st.write() as c:
        c.execute("UPDATE pods SET infra_id = ? WHERE id = ?", (infra.id, pod.id))
    pod.infra_id = infra.id
    return pod


# --- the pause program and image -----------------------------------------------------------------------


@pytest.mark.skipif(not (shutil.which("as") and shutil.which("ld")), reason="binutils not installed")
def test_embedded_pause_binary_is_the_assembled_source(tmp_path: Path) -> None:
    (tmp_path / "pause.S").write_text(pod_pause.PAUSE_S)
    subprocess.run(["as", "pause.S", "-o", "pause.o"], cwd=tmp_path, check=True)
    subprocess.run(["ld", "-s", "-N", "-o", "pause", "pause.o"], cwd=tmp_path, check=True, capture_output=True)
    assert (tmp_path / "pause").read_bytes() == pod_pause.PAUSE_BINARY


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="the pause program is x86_64 code")
def test_pause_sleeps_until_sigterm_and_exits_0(tmp_path: Path) -> None:
    exe = tmp_path / "pause"
    exe.write_bytes(pod_pause.PAUSE_BINARY)
    exe.chmod(0o755)
    p = subprocess.Popen([str(exe)])
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            p.wait(0.2)  # still pausing
        p.send_signal(signal.SIGCHLD)  # reaped nothing, keeps pausing
        with pytest.raises(subprocess.TimeoutExpired):
            p.wait(0.1)
        p.send_signal(signal.SIGTERM)
        assert p.wait(5) == 0
    finally:
        p.kill()


def test_pause_layer_is_reproducible_and_holds_the_binary() -> None:
    data = pod_pause.layer_tar()
    assert data == pod_pause.layer_tar()
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        member = tf.getmember("podpy-pause")
        assert member.mode == 0o755 and member.uid == 0 and member.mtime == 0
        assert tf.extractfile(member).read() == pod_pause.PAUSE_BINARY  # type: ignore[union-attr]
        assert {"dev", "proc", "sys", "etc"} <= set(tf.getnames())


# --- flags ----------------------------------------------------------------------------------------------


def test_parse_share() -> None:
    assert pods.parse_share("ipc,net,uts") == ["ipc", "net", "uts"]
    assert pods.parse_share("pid, net,net") == ["pid", "net"]
    assert pods.parse_share("none") == []
    with pytest.raises(UsageError, match=r"invalid kernel namespace to share: bogus\. Options are: cgroup, ipc"):
        pods.parse_share("net,bogus")


def test_options_without_infra() -> None:
    assert pods.PodOptions(infra=False).validate().share == []
    with pytest.raises(UsageError, match="--publish needs an infra container"):
        pods.PodOptions(infra=False, ports=[{"container_port": 80}]).validate()
    with pytest.raises(UsageError, match="invalid pod name"):
        pods.PodOptions(name="-bad").validate()


# --- the table ------------------------------------------------------------------------------------------


def test_lookup_by_name_id_prefix_and_conflicts(paths: Paths) -> None:
    st = State(paths)
    assert pods.list_pods(st) == [] and not pods.name_taken(st, "p1")
    pod = _pod(st, "p1")
    assert pods.get(st, "p1").id == pod.id
    assert pods.get(st, pod.id[:5]).name == "p1"
    assert pods.get(st, pod.id).infra_id == pod.infra_id
    with pytest.raises(NotFoundError, match="^no pod with name or ID nope found: no such pod$"):
        pods.get(st, "nope")
    with pytest.raises(ConflictError, match='name "p1" is in use: pod already exists'):
        pods._insert(st, pods.PodRecord(secrets.token_hex(32), "p1"))
    _ctr(st, "web")
    with pytest.raises(ConflictError, match='name "web" is in use: container already exists'):
        pods._insert(st, pods.PodRecord(secrets.token_hex(32), "web"))
    assert pods.name_taken(st, "p1") and not pods.name_taken(st, "web")


def test_status_from_container_states() -> None:
    def recs(*states: str) -> list[ContainerRecord]:
        return [ContainerRecord(id=str(i), name=str(i), state=s) for i, s in enumerate(states)]

    assert pods.status([]) == "Created"
    assert pods.status(recs("created", "created")) == "Created"
    assert pods.status(recs("running", "running")) == "Running"
    assert pods.status(recs("running", "exited")) == "Degraded"
    assert pods.status(recs("exited", "exited")) == "Exited"
    assert pods.status(recs("exited", "created")) == "Exited"
    assert pods.status(recs("stopped", "stopped")) == "Stopped"


# --- a member's spec --------------------------------------------------------------------------------


def test_member_spec_joins_the_infra(paths: Paths) -> None:
    st = State(paths)
    pod = _pod(st, "p1")
    spec = pods.on_create(paths, st, ContainerSpec(image="busybox", pod="p1"))
    assert spec.pod == pod.id
    assert spec.network == f"container:{pod.infra_id}"
    assert spec.hostname == "p1"
    unshared = _pod(st, "p2", share=("ipc",))
    spec = pods.on_create(paths, st, ContainerSpec(image="busybox", pod="p2", ports=[{"container_port": 80}]))
    assert spec.pod == unshared.id and spec.network == "private" and spec.hostname is None


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"ports": [{"container_port": 80}]}, "published or exposed ports must be defined when the pod is created: "
                                              "network cannot be configured when it is shared with a pod"),
        ({"publish_all": True}, "published or exposed ports must be defined"),
        ({"network": "none"}, "networks must be defined when the pod is created"),
        ({"dns": ["1.1.1.1"]}, "DNS and /etc/hosts options must be set when the pod is created"),
        ({"hostname": "h"}, "cannot set hostname when joining the pod UTS namespace"),
    ],
)  # fmt: skip
def test_member_spec_refuses_what_the_pod_owns(paths: Paths, kw: dict[str, object], message: str) -> None:
    st = State(paths)
    _pod(st, "p1")
    with pytest.raises(UsageError, match=message):
        pods.on_create(paths, st, ContainerSpec(image="busybox", pod="p1", **kw))  # type: ignore[arg-type]


def test_container_name_of_a_pod_and_unknown_pod(paths: Paths) -> None:
    st = State(paths)
    plain = ContainerSpec(image="busybox", name="c1")
    assert pods.on_create(paths, st, plain) is plain  # no pods table yet: nothing to check
    _pod(st, "p1")
    with pytest.raises(ConflictError, match='^name "p1" is in use: pod already exists$'):
        pods.on_create(paths, st, ContainerSpec(image="busybox", name="p1"))
    with pytest.raises(NotFoundError, match="no pod with name or ID nope found"):
        pods.on_create(paths, st, ContainerSpec(image="busybox", pod="nope"))


def test_inspect_ps_filter_and_names(paths: Paths) -> None:
    st = State(paths)
    pod = _pod(st, "p1")
    member = _ctr(st, "web", state="running", spec={"pod": pod.id})
    other = _ctr(st, "alone")
    recs = st.list()
    ctrs = pods.members(recs, pod)
    assert [c.name for c in ctrs] == [f"{pod.id[:12]}-infra", "web"]
    doc = pods.inspect(pods.get(st, "p1"), ctrs)
    assert doc["Id"] == pod.id and doc["State"] == "Degraded" and doc["NumContainers"] == 2
    assert doc["InfraContainerID"] == pod.infra_id and doc["SharedNamespaces"] == ["ipc", "net", "uts"]
    assert [c["Name"] for c in doc["Containers"]] == [f"{pod.id[:12]}-infra", "web"]
    assert [r.id for r in pods.in_pods(paths, recs, ["p1"])] == [r.id for r in recs if r.id != other.id]
    assert pods.in_pods(paths, recs, ["nope"]) == []
    assert pods.pod_names(paths) == {pod.id: "p1"}
    assert pods.pod_of(member) == pod.id and pods.pod_of(other) == ""


def test_join_namespaces_points_the_bundle_at_the_infra() -> None:
    cfg = {"hostname": "abc", "linux": {"namespaces": [{"type": "pid"}, {"type": "network", "path": "/x"},
                                                       {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}]}}  # fmt: skip
    assert pods.join_namespaces(cfg, 42, ["ipc", "net", "uts"]) is True
    assert cfg["linux"]["namespaces"] == [{"type": "pid"}, {"type": "network", "path": "/x"},  # net: container:INFRA
                                          {"type": "ipc", "path": "/proc/42/ns/ipc"},
                                          {"type": "uts", "path": "/proc/42/ns/uts"}, {"type": "mount"}]  # fmt: skip
    assert "hostname" not in cfg  # the infra's UTS namespace has the pod's hostname
    assert pods.join_namespaces(cfg, 42, ["ipc", "net", "uts"]) is False  # already done: no rewrite
    assert pods.join_namespaces(cfg, 43, ["pid"]) is True
    assert cfg["linux"]["namespaces"][0] == {"type": "pid", "path": "/proc/43/ns/pid"}
