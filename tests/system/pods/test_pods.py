"""Pods as a user types them: ``pod create -p``, two containers talking over the pod's localhost, the
port published on the pod, ``pod ps``/``inspect``/``top``/``logs``, stop/start, ``pod rm -f`` leaving
nothing behind, and bad input. Expected texts are what podman 4.3.1 prints on this machine (checked
with tests/env/as-user.sh podman pod ...). One pod serves most assertions, to keep this fast.
"""

from __future__ import annotations

import json
import re
import subprocess
from typing import Any

from tests.system.conftest import BUSYBOX as IMG
from tests.system.network.test_network import connect_read, free_port, wait_clean

# the member's client retries until the server listens (it starts a moment after ``run -d`` returns)
CLIENT = "for i in $(seq 100); do out=$(nc localhost 8080 </dev/null) && [ -n \"$out\" ] && break; sleep 0.1; done; echo $out"


def ok(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == 0, r.stderr
    return r.stdout


def error(r: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    """Exit ``code`` and exactly one ``Error: ...`` line naming ``text``."""
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    assert r.stderr.startswith("Error: ") and r.stderr.count("\n") == 1, r.stderr
    assert text in r.stderr, r.stderr


def test_pod_shares_localhost_publishes_ports_and_cleans_up(podpy: Any, podpy_root: Any) -> None:
    port = free_port()
    pod_id = ok(podpy("pod", "create", "--name", "tp", "-p", f"{port}:8080", "--label", "team=a")).strip()
    assert re.fullmatch(r"[0-9a-f]{64}", pod_id)
    infra = f"{pod_id[:12]}-infra"
    assert ok(podpy("pod", "ps", "--format", "{{.Name}} {{.Status}} {{.NumberOfContainers}} {{.Labels}}")) == \
        "tp Created 1 map[team:a]\n"  # fmt: skip
    assert ok(podpy("pod", "ps", "-q", "--filter", "label=team=a", "--filter", "status=created")) == pod_id + "\n"
    assert ok(podpy("pod", "ls", "-q", "--filter", "name=^nomatch")) == ""
    assert ok(podpy("ps", "-a", "--filter", "pod=tp", "--format", "{{.Names}}")) == infra + "\n"
    assert ok(podpy("ps", "-a", "--filter", "pod=tp", "--format", "{{.Pod}} {{.PodName}}")) == f"{pod_id[:12]} tp\n"
    (row,) = json.loads(ok(podpy("ps", "-a", "--filter", "pod=tp", "--format", "json")))
    assert (row["Pod"], row["PodName"], row["IsInfra"]) == (pod_id, "tp", True)

    # a server and a client in the pod: the client reaches the server on localhost; so does the host
    loop = "while true; do echo served; echo pong | nc -l -p 8080; done"
    ok(podpy("run", "-d", "--pod", "tp", "--name", "srv", IMG, "sh", "-c", loop))
    assert ok(podpy("run", "--rm", "--pod", "tp", IMG, "sh", "-c", "hostname; " + CLIENT)) == "tp\npong\n"
    assert connect_read(port) == b"pong\n"
    # the member shares the infra's ipc, uts and net namespaces (a container outside the pod does not)
    ns = "for n in ipc uts net; do readlink /proc/self/ns/$n; done"
    inside = ok(podpy("run", "--rm", "--pod", "tp", IMG, "sh", "-c", ns))
    assert ok(podpy("exec", "srv", "sh", "-c", ns)) == inside
    assert ok(podpy("run", "--rm", "--network", "none", IMG, "sh", "-c", ns)).split()[0] != inside.split()[0]

    table = ok(podpy("pod", "ps", "--ctr-names", "--ctr-status")).splitlines()
    assert table[0].split() == ["POD", "ID", "NAME", "STATUS", "CREATED", "INFRA", "ID", "NAMES", "STATUS"]
    assert table[1].split()[:3] == [pod_id[:12], "tp", "Running"]
    assert f"{infra},srv" in table[1] and "running,running" in table[1]
    doc = json.loads(ok(podpy("pod", "inspect", "tp")))
    assert doc["Id"] == pod_id and doc["Name"] == "tp" and doc["State"] == "Running"
    assert doc["Labels"] == {"team": "a"} and doc["SharedNamespaces"] == ["ipc", "net", "uts"]
    assert doc["InfraConfig"]["PortBindings"] == {"8080/tcp": [{"HostIp": "", "HostPort": str(port)}]}
    assert doc["NumContainers"] == 2 and [c["Name"] for c in doc["Containers"]] == [infra, "srv"]
    assert ok(podpy("inspect", "srv", "--format", "{{.Pod}} {{.IsInfra}} {{.HostConfig.NetworkMode}}")) == \
        f"{pod_id} false container:{doc['InfraContainerID']}\n"  # fmt: skip
    assert ok(podpy("ps", "--pod", "--filter", "name=srv")).splitlines()[1].split()[-2:] == [pod_id[:12], "tp"]
    top = ok(podpy("pod", "top", "tp"))
    assert "/podpy-pause" in top and "nc -l -p 8080" in top
    assert "served" in ok(podpy("pod", "logs", "tp")) and "srv served" in ok(podpy("pod", "logs", "-n", "tp"))

    error(podpy("rm", "-f", infra), 125,
          f"container {doc['InfraContainerID']} is the infra container of pod {pod_id} and cannot be removed "
          "without removing the pod")  # fmt: skip
    error(podpy("pod", "rm", "tp"), 125, "as it is running - running or paused containers cannot be removed without force")

    # stop: nothing of the network left; start again: the members rejoin the new infra's namespaces
    assert ok(podpy("pod", "stop", "-t", "0", "tp")) == pod_id + "\n"
    assert ok(podpy("pod", "ps", "--format", "{{.Status}}")) == "Exited\n"
    assert wait_clean(podpy_root.runroot) == ([], [])
    assert ok(podpy("pod", "start", "tp")) == pod_id + "\n"
    assert connect_read(port) == b"pong\n"
    assert ok(podpy("pod", "kill", "tp")) == pod_id + "\n"
    assert ok(podpy("pod", "ps", "--format", "{{.Status}}")) == "Exited\n"
    assert ok(podpy("pod", "restart", "tp")) == pod_id + "\n"
    assert connect_read(port) == b"pong\n"

    assert ok(podpy("pod", "rm", "-f", "-t", "0", "tp")) == pod_id + "\n"
    assert podpy("pod", "exists", "tp").returncode == 1
    assert ok(podpy("ps", "-a", "-q")) == ""
    assert wait_clean(podpy_root.runroot) == ([], [])
    mounts = ok(podpy("unshare", "cat", "/proc/self/mountinfo"))
    assert str(podpy_root.runroot) not in mounts and f"{podpy_root.root}/containers" not in mounts


def test_pod_bad_input_and_new_pod(podpy: Any) -> None:
    ok(podpy("pod", "create", "--name", "bp"))
    error(podpy("pod", "create", "--name", "bp"), 125, 'adding pod to state: name "bp" is in use: pod already exists')
    error(podpy("create", "--name", "bp", IMG), 125, 'name "bp" is in use: pod already exists')
    error(podpy("run", "--rm", "--pod", "nope", IMG, "true"), 125, "no pod with name or ID nope found: no such pod")
    error(podpy("run", "--rm", "--pod", "bp", "-p", "9999:80", IMG, "true"), 125,
          "invalid config provided: published or exposed ports must be defined when the pod is created: "
          "network cannot be configured when it is shared with a pod")  # fmt: skip
    error(podpy("pod", "create", "--share", "bogus"), 125, "invalid kernel namespace to share: bogus")
    error(podpy("pod", "inspect", "nope"), 125, "inspecting object: no such pod nope")
    error(podpy("pod", "rm", "nope"), 1, "no pod with name or ID nope found: no such pod")
    error(podpy("pod", "ps", "--filter", "bogus=1"), 125, "bogus is an invalid filter")
    assert podpy("pod", "exists", "nope").returncode == 1
    assert podpy("pod", "rm", "-f", "nope").returncode == 0

    # --pod new:NAME creates the pod (named after it: the hostname); prune takes it once it has exited
    assert ok(podpy("run", "--rm", "--pod", "new:np", IMG, "hostname")) == "np\n"
    assert podpy("pod", "exists", "np").returncode == 0
    np_id = ok(podpy("pod", "stop", "np")).strip()
    assert ok(podpy("pod", "prune", "-f")) == np_id + "\n"
    assert ok(podpy("pod", "ps", "--format", "{{.Name}}")) == "bp\n"


def test_pod_sharing_pid_namespace(podpy: Any) -> None:
    ok(podpy("pod", "create", "--name", "sp", "--share", "pid,net,ipc", "--infra-name", "spinf", "--hostname", "hh"))
    assert ok(podpy("pod", "inspect", "sp", "--format", "{{.SharedNamespaces}} {{.Hostname}}")) == "[ipc net pid] hh\n"
    # the infra's pause program is PID 1 of every member; the UTS namespace is not shared: own hostname
    out = ok(podpy("run", "--rm", "--pod", "sp", IMG, "sh", "-c", "tr '\\0' ' ' </proc/1/cmdline; echo; hostname"))
    pid1, hostname = out.splitlines()
    assert pid1.strip() == "/podpy-pause" and hostname != "hh"
    assert ok(podpy("ps", "--format", "{{.Names}}")) == "spinf\n"
    pod_id = ok(podpy("pod", "rm", "-f", "-t", "0", "sp")).strip()
    assert re.fullmatch(r"[0-9a-f]{64}", pod_id) and ok(podpy("pod", "ps", "-q")) == ""


def test_pod_on_a_user_network_is_resolved_by_its_name(podpy: Any) -> None:
    """As Podman: a pod's name is a DNS alias on its networks; its members serve under it."""
    ok(podpy("network", "create", "podnet"))
    try:
        ok(podpy("pod", "create", "--name", "webpod", "--network", "podnet"))
        ok(podpy("run", "-d", "--pod", "webpod", "--name", "websrv", IMG, "httpd", "-f", "-p", "8080", "-h", "/etc"))
        assert ok(podpy("inspect", "--format", "{{len .Mounts}}", "websrv")) == "0\n"  # not the infra's /etc files
        fetch = "for i in $(seq 50); do wget -q -O- http://webpod:8080/hostname && break; sleep 0.1; done"
        assert ok(podpy("run", "--rm", "--network", "podnet", IMG, "sh", "-c", fetch)) == "webpod"  # no newline, as podman
        ok(podpy("network", "rm", "-f", "-t", "0", "podnet"))  # the pod (infra and member) goes with it
        assert ok(podpy("pod", "ps", "-q")) == "" and ok(podpy("ps", "-aq")) == ""
    finally:
        podpy("pod", "rm", "-f", "-t", "0", "webpod")
        podpy("network", "rm", "-f", "podnet")
