"""``podpy pod ps`` and ``pod inspect`` rendered from a state DB written directly (no containers run)."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from click.testing import CliRunner

from podpy.cli.main import _build_cli
from podpy.engine import pods
from podpy.engine.state import ContainerRecord, State
from podpy.util.gotime import rfc3339_utc
from podpy.util.paths import Paths


def _setup(tmp_path: Path) -> tuple[list[str], pods.PodRecord, ContainerRecord]:
    paths = Paths(root=tmp_path / "root", runroot=tmp_path / "run")
    st = State(paths)
    pod = pods.PodRecord(secrets.token_hex(32), "p1", labels={"team": "a"}, config={"share": ["ipc", "net", "uts"]})
    pods._insert(st, pod)
    infra = st.create(ContainerRecord(id=secrets.token_hex(32), name="p1-infra", state="created",
                                      config={"infra": True, "spec": {"pod": pod.id}}))  # fmt: skip
    with st.write() as c:
        c.execute("UPDATE pods SET infra_id = ? WHERE id = ?", (infra.id, pod.id))
    pod.infra_id = infra.id
    pods._insert(st, pods.PodRecord(secrets.token_hex(32), "empty", created=pod.created - 10**9))
    return ["--root", str(paths.root), "--runroot", str(paths.runroot)], pod, infra


def _run(*args: str) -> str:
    r = CliRunner().invoke(_build_cli()["cli"], list(args), catch_exceptions=False)
    assert r.exit_code == 0, r.output
    return r.output


def test_pod_ps_table_format_filters_and_json(tmp_path: Path) -> None:
    g, pod, infra = _setup(tmp_path)
    lines = _run(*g, "pod", "ps").splitlines()
    assert lines[0].split("  ")[0] == "POD ID" and "# OF CONTAINERS" in lines[0]
    assert lines[1].split()[:3] == [pod.id[:12], "p1", "Created"] and lines[1].split()[-2:] == [infra.id[:12], "1"]
    assert lines[2].split()[1:3] == ["empty", "Created"] and lines[2].split()[-1] == "0"
    names = _run(*g, "pod", "ls", "--ctr-names", "--ctr-ids", "--no-trunc").splitlines()
    assert names[0].split()[-2:] == ["IDS", "NAMES"] and names[1].split()[-2:] == [infra.id, "p1-infra"]
    assert _run(*g, "pod", "list", "-q", "--filter", "label=team") == pod.id + "\n"
    assert _run(*g, "pod", "ps", "--filter", "ctr-number=0", "--format", "{{.Name}}") == "empty\n"
    assert _run(*g, "pod", "ps", "--sort", "name", "--format", "{{.Name}} {{.Labels}}") == "empty map[]\np1 map[team:a]\n"
    table = _run(*g, "pod", "ps", "--format", "table {{.Name}} {{.InfraID}}").splitlines()
    assert table[0].split() == ["NAME", "INFRA", "ID"]
    doc = json.loads(_run(*g, "pod", "ps", "--format", "json", "--filter", "name=^p1$"))
    assert doc == [{"Cgroup": "", "Containers": [{"Id": infra.id, "Names": "p1-infra", "Status": "created"}],
                    "Created": rfc3339_utc(pod.created), "Id": pod.id, "InfraId": infra.id, "Name": "p1",
                    "Namespace": "", "Networks": [], "Status": "Created", "Labels": {"team": "a"}}]  # fmt: skip


def test_pod_inspect_one_and_many(tmp_path: Path) -> None:
    g, pod, infra = _setup(tmp_path)
    doc = json.loads(_run(*g, "pod", "inspect", "p1"))
    assert doc["Id"] == pod.id and doc["InfraContainerID"] == infra.id and doc["SharedNamespaces"] == ["ipc", "net", "uts"]
    assert _run(*g, "pod", "inspect", "--format", "{{.Name}} {{.NumContainers}}", "p1") == "p1 1\n"
    both = json.loads(_run(*g, "pod", "inspect", "p1", "empty"))
    assert [d["Name"] for d in both] == ["p1", "empty"] and both[1]["Containers"] is None
