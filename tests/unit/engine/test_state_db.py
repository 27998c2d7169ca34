"""The SQLite container state: records, lookups, name conflicts, events, locks, and concurrency."""

from __future__ import annotations

import multiprocessing
import os
import secrets
import sqlite3
import time
from pathlib import Path

import pytest

from podpy.engine.state import ContainerRecord, State
from podpy.util.errors import ConflictError, NotFoundError, PodpyError
from podpy.util.paths import Paths


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    return Paths(root=tmp_path / "root", runroot=tmp_path / "run")


def _rec(name: str, **kw: object) -> ContainerRecord:
    return ContainerRecord(id=secrets.token_hex(32), name=name, **kw)  # type: ignore[arg-type]


def test_create_get_roundtrip_by_id_name_prefix(paths: Paths) -> None:
    st = State(paths)
    r = st.create(_rec("web", image_id="ab" * 32, config={"Cmd": ["sh"]}, labels={"a": "b"}))
    for ref in (r.id, "web", r.id[:12], r.id[:3]):
        got = st.get(ref)
        assert got == r
    # a second State (another process in real life) sees the same
    assert State(paths).get("web").config == {"Cmd": ["sh"]}
    assert st.db_path.exists()
    assert st.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_get_by_name_ignores_id_prefixes(paths: Paths) -> None:
    """``run --name c`` must not collide with a container whose ID starts with "c"."""
    st = State(paths)
    r = st.create(ContainerRecord(id="c" + secrets.token_hex(32)[1:], name="web"))
    assert st.get("c") == r  # commands take ID prefixes...
    assert st.get_by_name("c") is None  # ...a new name collides only with a name
    assert st.get_by_name("web") == r


def test_name_conflict_names_the_holder(paths: Paths) -> None:
    st = State(paths)
    first = st.create(_rec("dup"))
    with pytest.raises(ConflictError) as e:
        st.create(_rec("dup"))
    assert str(e.value) == (
        f'the container name "dup" is already in use by {first.id}. You have to remove that container '
        "to be able to reuse that name: that name is already in use"
    )
    assert e.value.exit_code == 125
    assert len(st.list()) == 1


def test_not_found_and_ambiguous_prefix(paths: Paths) -> None:
    st = State(paths)
    with pytest.raises(NotFoundError, match='no container with name or ID "nope" found: no such container'):
        st.get("nope")
    st.create(ContainerRecord(id="aa" + "0" * 62, name="one"))
    st.create(ContainerRecord(id="aa" + "1" * 62, name="two"))
    with pytest.raises(ConflictError, match="more than one result"):
        st.get("aa")
    assert st.get("aa0").name == "one"
    assert not st.exists("zzz") and st.exists("two")


def test_update_and_remove(paths: Paths) -> None:
    st = State(paths)
    r = st.create(_rec("u"))
    t = time.time_ns()
    up = st.update("u", state="running", pid=1234, monitor_pid=99, started_at=t, event="start")
    assert (up.state, up.pid, up.monitor_pid, up.started_at) == ("running", 1234, 99, t)
    up = st.update(r.id[:8], state="exited", exit_code=3, finished_at=t + 1)
    assert st.get("u").exit_code == 3
    with pytest.raises(PodpyError, match="invalid container state"):
        st.update("u", state="bogus")
    with pytest.raises(PodpyError, match="cannot update"):
        st.update("u", id="x")
    st.create(_rec("other"))
    with pytest.raises(ConflictError, match='name "other" is already in use'):
        st.update("u", name="other")
    assert st.update("u", name="renamed").name == "renamed"
    gone = st.remove("renamed")
    assert gone.id == r.id
    with pytest.raises(NotFoundError):
        st.get(r.id)
    with pytest.raises(NotFoundError):
        st.remove(r.id)
    # the name is free again
    st.create(_rec("u"))


def test_failed_write_leaves_nothing(paths: Paths) -> None:
    st = State(paths)
    with pytest.raises(RuntimeError), st.write() as c:
        c.execute("INSERT INTO containers (id, name, created, state) VALUES ('x', 'x', 0, 'created')")
        raise RuntimeError("boom")
    assert st.list() == []


def test_events_are_appended_in_order(paths: Paths) -> None:
    st = State(paths)
    t0 = time.time_ns()
    r = st.create(_rec("ev", image_name="busybox"))
    st.update("ev", state="running", event="start")
    st.add_event("image", "pull", "sha", "busybox", {"x": 1})
    st.remove("ev")
    evs = st.events()
    assert [(e.type, e.action) for e in evs] == [
        ("container", "create"),
        ("container", "start"),
        ("image", "pull"),
        ("container", "remove"),
    ]
    assert evs[0].id == r.id and evs[0].attributes == {"image": "busybox", "labels": {}}
    assert evs[3].attributes == {"image": "busybox", "labels": {}}  # the removed container's too
    assert all(e.time_ns >= t0 for e in evs)
    assert [e.action for e in st.events(after_seq=evs[1].seq)] == ["pull", "remove"]
    assert st.events(until_ns=t0 - 1) == []


def test_lock_is_per_container(paths: Paths) -> None:
    st = State(paths)
    a, b = "a" * 64, "b" * 64
    with st.lock(a):
        assert not State(paths).lock(a).acquire(blocking=False)
        other = State(paths).lock(b)
        assert other.acquire(blocking=False)
        other.release()
    lk = st.lock(a)
    assert lk.acquire(blocking=False)
    lk.release()
    with pytest.raises(PodpyError):
        st.lock("../x")


# --- concurrency: 20 processes at once ------------------------------------------------------------

N_PROCS = 20
ROUNDS = 15


def _worker(root: str, runroot: str, n: int, q: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    errors: list[str] = []
    kept: list[str] = []
    try:
        st = State(Paths(Path(root), Path(runroot)))
        for i in range(ROUNDS):
            try:
                rec = st.create(_rec(f"w{n}-{i}"))
                # everyone also tries the same shared name: exactly one wins per round
                try:
                    st.create(_rec(f"shared-{i}"))
                except ConflictError:
                    pass
                with st.lock(rec.id):
                    st.update(rec.id, state="running", pid=os.getpid(), event="start")
                    st.update(rec.id, state="exited", exit_code=i, event="died")
                st.list()
                if i % 3 == 0:
                    st.remove(rec.id)
                else:
                    kept.append(rec.id)
            except sqlite3.OperationalError as e:
                errors.append(f"{type(e).__name__}: {e}")
            except PodpyError as e:
                errors.append(f"{type(e).__name__}: {e}")
    except BaseException as e:  # noqa: BLE001 - reported to the parent
        errors.append(repr(e))
    q.put((n, errors, kept))


def _lister(root: str, runroot: str, stop: multiprocessing.Event, q: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    errors: list[str] = []
    loops = 0
    st = State(Paths(Path(root), Path(runroot)))
    while not stop.is_set():
        try:
            for r in st.list():
                assert r.name and r.id and r.state in ("configured", "running", "exited"), r
            loops += 1
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))
    q.put(("lister", errors, loops))


@pytest.mark.slow
def test_twenty_processes_no_locked_errors_consistent_state(paths: Paths) -> None:
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    stop = ctx.Event()
    args = (str(paths.root), str(paths.runroot))
    listers = [ctx.Process(target=_lister, args=(*args, stop, q)) for _ in range(3)]
    workers = [ctx.Process(target=_worker, args=(*args, n, q)) for n in range(N_PROCS)]
    for p in listers + workers:
        p.start()
    results = [q.get(timeout=300) for _ in workers]
    stop.set()
    lister_results = [q.get(timeout=60) for _ in listers]
    for p in listers + workers:
        p.join(timeout=60)
        assert p.exitcode == 0
    all_errors = [e for _, errs, _ in results + lister_results for e in errs]
    assert all_errors == []
    assert all(loops > 0 for _, _, loops in lister_results)
    kept = {cid for _, _, k in results for cid in k}
    st = State(paths)
    final = st.list()
    workers_left = {r.id for r in final if r.name.startswith("w")}
    assert workers_left == kept
    assert len(kept) == N_PROCS * (ROUNDS - len(range(0, ROUNDS, 3)))
    assert all(r.state == "exited" for r in final if r.name.startswith("w"))
    shared = sorted(r.name for r in final if r.name.startswith("shared-"))
    assert shared == sorted(f"shared-{i}" for i in range(ROUNDS))
    # every state change logged once: create+start+died per worker round, + shared creates, + removes
    actions = [e.action for e in st.events() if e.name.startswith("w")]
    assert actions.count("create") == N_PROCS * ROUNDS
    assert actions.count("died") == N_PROCS * ROUNDS
    assert actions.count("remove") == N_PROCS * len(range(0, ROUNDS, 3))


def test_reconcile_marks_a_container_with_a_dead_monitor_exited(paths: Paths, tmp_path: Path) -> None:
    import subprocess

    from podpy.monitor import exitfile, liveness

    st = State(paths)
    # a live "monitor": the record stays as it is
    live = subprocess.Popen(["sleep", "30"])
    try:
        start = liveness.proc_start_time(live.pid) or 0
        st.create(_rec("alive", state="running", monitor_pid=live.pid, monitor_start=start))
        assert st.reconcile("alive", str(tmp_path / "none")).state == "running"
        # same pid but another start time: a reused pid is not our monitor
        st.update("alive", monitor_start=start + 1)
        assert st.reconcile("alive", str(tmp_path / "none")).state == "exited"
    finally:
        live.kill()
        live.wait()
    # dead monitor with an exit file: its code and time
    exitfile.write_exit_file(str(tmp_path / "exit"), 3, 1_700_000_000_000_000_000)
    st.create(_rec("done", state="running", monitor_pid=live.pid, pid=123))
    r = st.reconcile("done", str(tmp_path / "exit"))
    assert (r.state, r.exit_code, r.finished_at, r.pid) == ("exited", 3, 1_700_000_000_000_000_000, 0)
    # dead monitor, no exit file (kill -9 before the container exited): 255
    st.create(_rec("killed", state="running", monitor_pid=live.pid))
    assert st.reconcile("killed", str(tmp_path / "missing")).exit_code == 255
    # not running: untouched
    st.create(_rec("cfg", state="configured"))
    assert st.reconcile("cfg", str(tmp_path / "missing")).state == "configured"
    assert [e.action for e in st.events() if e.name == "done"][-1] == "died"
