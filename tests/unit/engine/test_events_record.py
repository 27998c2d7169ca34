"""What the state layer logs for containers (podman 4.3's attributes) and how ``podpy events`` shows it."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from podpy.engine import events
from podpy.engine.state import ContainerRecord, State, record_exec
from podpy.util.errors import PodpyError
from podpy.util.paths import Paths

IMG = "127.0.0.1:5000/busybox:latest"


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    return Paths(root=tmp_path / "root", runroot=tmp_path / "run")


def _ctr(st: State, name: str, labels: dict[str, str] | None = None) -> ContainerRecord:
    return st.create(
        ContainerRecord(id=secrets.token_hex(32), name=name, image_name=IMG, labels=labels or {})
    )


def test_every_container_event_carries_image_and_labels_even_after_rm(paths: Paths) -> None:
    st = State(paths)
    r = _ctr(st, "web", {"app": "x"})
    st.update(r.id, state="running", event=("init", "start"))
    st.update(r.id, state="exited", exit_code=3, event="died")
    st.container_event("web", "cleanup")
    st.add_event("container", "kill", r.id, "web", {"signal": 9})
    st.remove(r.id)
    evs = st.events()
    assert [e.action for e in evs] == ["create", "init", "start", "died", "cleanup", "kill", "remove"]
    assert all(e.attributes["image"] == IMG and e.attributes["labels"] == {"app": "x"} for e in evs)
    assert evs[3].attributes["containerExitCode"] == 3
    assert evs[5].attributes["signal"] == 9
    views = events.EventReader(paths).read(None, None)
    assert {(v.Image, v.Name) for v in views} == {(IMG, "web")}
    assert [v.ContainerExitCode for v in views] == [0, 0, 0, 3, 0, 0, 0]
    assert all(v.Attributes == {"app": "x"} for v in views)  # only labels: podman shows no signal


def test_cleanup_is_logged_once_per_exit(paths: Paths) -> None:
    st = State(paths)
    r = _ctr(st, "c")
    up = st.update(r.id, state="exited", exit_code=0, finished_at=1, event="died")
    st.container_event(r.id, "cleanup", once_since_ns=up.finished_at)
    st.container_event(r.id, "cleanup", once_since_ns=up.finished_at)  # the monitor's cleanup, later
    assert [e.action for e in st.events()] == ["create", "died", "cleanup"]
    st.container_event("gone", "cleanup")  # a removed container logs nothing and raises nothing
    assert len(st.events()) == 3


def test_rename_logs_the_new_name(paths: Paths) -> None:
    st = State(paths)
    r = _ctr(st, "old")
    st.update(r.id, name="new", event="rename")
    assert [(e.action, e.name) for e in st.events()] == [("create", "old"), ("rename", "new")]


def test_record_exec_logs_exec_and_exec_died_with_the_code(paths: Paths) -> None:
    st = State(paths)
    _ctr(st, "x")

    @record_exec
    def fake_exec(paths: Paths, ref: str, cmd: list[str], *, detach: bool = False) -> int:
        if cmd == ["nosuch"]:
            raise PodpyError("executable file not found", exit_code=127)
        return 4

    assert fake_exec(paths, "x", ["sh"]) == 4
    assert fake_exec(paths, "x", ["sleep"], detach=True) == 4
    with pytest.raises(PodpyError):
        fake_exec(paths, "x", ["nosuch"])
    evs = st.events()
    assert [e.action for e in evs] == ["create", "exec", "exec_died", "exec"]
    assert evs[2].attributes["containerExitCode"] == 4


def test_json_and_line_shapes_of_died_and_health_status() -> None:
    died = events.EventView("ab" * 32, IMG, "web", "died", "container", {}, 1_700_000_000_000_000_000, 1, 137)
    d = died.to_json()
    assert list(d) == ["ContainerExitCode", "ID", "Image", "Name", "Status", "Time", "Type", "Attributes"]
    assert d["ContainerExitCode"] == 137 and d["Attributes"] == {}
    ok = events.EventView("ab" * 32, IMG, "web", "died", "container", None, 1_700_000_000_000_000_000, 1)
    assert (
        "ContainerExitCode" not in ok.to_json() and ok.to_json()["Attributes"] == {}
    )  # omitempty, as podman
    hs = events.EventView("ab" * 32, IMG, "web", "health_status", "container", {"a": "b"}, 1, 1, 0, "healthy")
    assert list(hs.to_json())[-2:] == ["health_status", "Attributes"]
    assert hs.line().endswith("(image=127.0.0.1:5000/busybox:latest, name=web, health_status=healthy, a=b)")
    img = events.EventView("", "", IMG, "pull", "image", None, 1, 1)
    assert img.to_json()["Attributes"] is None
