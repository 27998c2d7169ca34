"""The container state database: one SQLite file shared by every concurrent podpy process.

Why SQLite and this shape: podpy has no daemon, so many short-lived processes (``run``, ``ps``,
``rm -f`` in parallel, plus the monitors' cleanup calls) read and write the same state at once.
WAL lets readers run beside a writer; every write is a short ``BEGIN IMMEDIATE`` transaction so
writers queue on the busy timeout instead of failing with "database is locked" (a deferred
transaction that upgrades from read to write can fail at once; an immediate one never does).

Longer operations on one container (start, stop, rm) take that container's ``lock(id)``, a
flock under the runroot, so they serialize per container while different containers proceed
in parallel. The DB itself is never locked across slow work.

The event log (``podpy events``) is an append-only table in the same file, so an event can be
written in the same transaction as the state change it describes.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from podpy.util.errors import ConflictError, NotFoundError, PodpyError
from podpy.util.lock import FileLock
from podpy.util.log import get_logger
from podpy.util.paths import Paths
from podpy.util.record import FRESH, Record

TYPE_CHECKING = False  # not typing's: importing typing costs every command start-up time
if TYPE_CHECKING:
    from typing import Any

log = get_logger(__name__)

SCHEMA_VERSION = 1
BUSY_TIMEOUT_MS = 60_000

STATES = ("configured", "created", "running", "paused", "stopping", "stopped", "exited", "removing")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS containers (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    image_id      TEXT NOT NULL DEFAULT '',
    image_name    TEXT NOT NULL DEFAULT '',
    created       INTEGER NOT NULL,
    state         TEXT NOT NULL,
    pid           INTEGER NOT NULL DEFAULT 0,
    monitor_pid   INTEGER NOT NULL DEFAULT 0,
    monitor_start INTEGER NOT NULL DEFAULT 0,
    exit_code     INTEGER,
    started_at    INTEGER NOT NULL DEFAULT 0,
    finished_at   INTEGER NOT NULL DEFAULT 0,
    config        TEXT NOT NULL DEFAULT '{}',
    labels        TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    time_ns    INTEGER NOT NULL,
    type       TEXT NOT NULL,
    action     TEXT NOT NULL,
    id         TEXT NOT NULL DEFAULT '',
    name       TEXT NOT NULL DEFAULT '',
    attributes TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS events_time ON events (time_ns);
"""


class ContainerRecord(Record):
    """One container as the state DB keeps it. Times are Unix nanoseconds (0 = never)."""

    __slots__ = ("id", "name", "image_id", "image_name", "created", "state", "pid", "monitor_pid", "monitor_start",
                 "exit_code", "started_at", "finished_at", "config", "labels")  # fmt: skip
    __match_args__ = __slots__  # as a dataclass's
    __hash__ = None  # type: ignore[assignment]  # mutable, so unhashable (eq without frozen, as before)

    id: str
    name: str
    image_id: str
    image_name: str
    created: int
    state: str
    pid: int
    monitor_pid: int
    monitor_start: int  # /proc/PID/stat start time of the monitor, to tell a reused pid apart
    exit_code: int | None
    started_at: int
    finished_at: int
    config: dict[str, Any]
    labels: dict[str, str]

    def __init__(
        self,
        id: str,
        name: str,
        image_id: str = "",
        image_name: str = "",
        created: int = FRESH,  # default: now (time.time_ns())
        state: str = "configured",
        pid: int = 0,
        monitor_pid: int = 0,
        monitor_start: int = 0,
        exit_code: int | None = None,
        started_at: int = 0,
        finished_at: int = 0,
        config: dict[str, Any] = FRESH,
        labels: dict[str, str] = FRESH,
    ) -> None:
        self.id = id
        self.name = name
        self.image_id = image_id
        self.image_name = image_name
        self.created = time.time_ns() if created is FRESH else created
        self.state = state
        self.pid = pid
        self.monitor_pid = monitor_pid
        self.monitor_start = monitor_start
        self.exit_code = exit_code
        self.started_at = started_at
        self.finished_at = finished_at
        self.config = {} if config is FRESH else config
        self.labels = {} if labels is FRESH else labels

    def to_dict(self) -> dict[str, Any]:
        return self.as_dict()


class Event(Record):
    """One entry of the event log (``podpy events``)."""

    __slots__ = ("seq", "time_ns", "type", "action", "id", "name", "attributes")
    __match_args__ = __slots__  # as a dataclass's
    __hash__ = None  # type: ignore[assignment]  # mutable, so unhashable (eq without frozen, as before)

    seq: int
    time_ns: int
    type: str
    action: str
    id: str
    name: str
    attributes: dict[str, Any]

    def __init__(
        self,
        seq: int,
        time_ns: int,
        type: str,
        action: str,
        id: str,
        name: str,
        attributes: dict[str, Any],
    ) -> None:
        self.seq = seq
        self.time_ns = time_ns
        self.type = type
        self.action = action
        self.id = id
        self.name = name
        self.attributes = attributes


_COLUMNS: tuple[str, ...] = ContainerRecord.__slots__
_JSON_COLUMNS = ("config", "labels")
_UPDATABLE = frozenset(_COLUMNS) - {"id"}


def _row_to_record(row: sqlite3.Row) -> ContainerRecord:
    d = {k: row[k] for k in _COLUMNS}
    for k in _JSON_COLUMNS:
        d[k] = json.loads(d[k])
    return ContainerRecord(**d)


def _to_db(key: str, value: Any) -> Any:
    if key in _JSON_COLUMNS:
        return json.dumps(value, sort_keys=True)
    if key == "state" and value not in STATES:
        raise PodpyError(f"invalid container state {value!r}")
    return value


def _ctr_attrs(image_name: str, labels: Mapping[str, str]) -> dict[str, Any]:
    """What every container event stores: the image name and the container's labels, so a reader
    needs nothing but the event (the container may be long gone)."""
    return {"image": image_name, "labels": dict(labels)}


def _row_attrs(row: sqlite3.Row, action: str) -> dict[str, Any]:
    attrs = _ctr_attrs(row["image_name"], json.loads(row["labels"]))
    if action == "died" and row["exit_code"] is not None:
        attrs["containerExitCode"] = int(row["exit_code"])  # podman's {{.ContainerExitCode}}
    return attrs


def name_in_use(name: str, holder: str) -> ConflictError:
    return ConflictError(
        f'the container name "{name}" is already in use by {holder}. '
        "You have to remove that container to be able to reuse that name: that name is already in use"
    )


class State:
    """The container state of one podpy root. Cheap to create; one per process (not thread-safe)."""

    def __init__(self, paths: Paths) -> None:
        self.paths = paths
        self.db_path = Path(paths.root) / "state.db"
        self.lock_dir = Path(paths.runroot) / "locks"
        self._conn: sqlite3.Connection | None = None
        self._conn_pid = 0

    # --- connection -------------------------------------------------------------------------------

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None or self._conn_pid != os.getpid():
            self._conn = self._open()
            self._conn_pid = os.getpid()
        return self._conn

    def _open(self) -> sqlite3.Connection:
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(
            self.db_path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
        )
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if conn.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
            # first use: one process sets WAL and the schema; the others wait on the file lock
            with FileLock(self.db_path.with_name("state.db.init.lock")):
                if conn.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
                    conn.execute("PRAGMA journal_mode = WAL")
                    conn.execute("BEGIN IMMEDIATE")
                    try:
                        for stmt in _SCHEMA.split(";"):
                            if stmt.strip():
                                conn.execute(stmt)
                    except BaseException:
                        conn.execute("ROLLBACK")
                        raise
                    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                    conn.execute("COMMIT")
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A short write transaction (BEGIN IMMEDIATE: waits for other writers, never 'locked')."""
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    # --- containers -------------------------------------------------------------------------------

    def create(self, record: ContainerRecord, *, event: bool = True) -> ContainerRecord:
        """Record a new container; ConflictError when the name (or id) is taken."""
        _to_db("state", record.state)
        values = [_to_db(k, getattr(record, k)) for k in _COLUMNS]
        with self.write() as c:
            row = c.execute(
                "SELECT id, name FROM containers WHERE name = ? OR id = ?", (record.name, record.id)
            ).fetchone()
            if row is not None:
                if row["name"] == record.name:
                    raise name_in_use(record.name, row["id"])
                raise ConflictError(f"container ID {record.id} is already in use")
            c.execute(
                f"INSERT INTO containers ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
                values,
            )
            if event:
                attrs = _ctr_attrs(record.image_name, record.labels)
                self._event(c, "container", "create", record.id, record.name, attrs)
        return record

    def _resolve(self, c: sqlite3.Connection, ref: str) -> sqlite3.Row:
        row = c.execute("SELECT * FROM containers WHERE id = ?", (ref,)).fetchone()
        if row is None:
            row = c.execute("SELECT * FROM containers WHERE name = ?", (ref,)).fetchone()
        if row is None and ref and all(ch in "0123456789abcdef" for ch in ref):
            rows = c.execute(
                "SELECT * FROM containers WHERE substr(id, 1, ?) = ? LIMIT 2", (len(ref), ref)
            ).fetchall()
            if len(rows) > 1:
                raise ConflictError(f'more than one result for container "{ref}": please use a longer ID')
            row = rows[0] if rows else None
        if row is None:
            raise NotFoundError(f'no container with name or ID "{ref}" found: no such container')
        return row

    def get(self, ref: str) -> ContainerRecord:
        """By full id, name, or unique id prefix. NotFoundError / ConflictError (ambiguous prefix)."""
        return _row_to_record(self._resolve(self.conn, ref))

    def get_by_name(self, name: str) -> ContainerRecord | None:
        """Exactly this name (no ID-prefix match): what a new container's ``--name`` collides with."""
        row = self.conn.execute("SELECT * FROM containers WHERE name = ?", (name,)).fetchone()
        return _row_to_record(row) if row is not None else None

    def exists(self, ref: str) -> bool:
        try:
            self.get(ref)
        except NotFoundError:
            return False
        return True

    def mentioning(self, text: str) -> list[ContainerRecord]:
        """The containers whose config holds ``text`` (a cheap pre-filter: SQLite scans, only the hits
        are decoded), newest first."""
        rows = self.conn.execute(
            "SELECT * FROM containers WHERE instr(config, ?) > 0 ORDER BY created DESC, id", (text,)
        ).fetchall()
        return [_row_to_record(r) for r in rows]

    def list(self) -> list[ContainerRecord]:
        """All containers, newest first (one consistent snapshot)."""
        rows = self.conn.execute("SELECT * FROM containers ORDER BY created DESC, id").fetchall()
        return [_row_to_record(r) for r in rows]

    def update(
        self, ref: str, *, event: str | tuple[str, ...] | None = None, **changes: Any
    ) -> ContainerRecord:
        """Change fields of one container atomically; ``event`` also logs that action (or those actions,
        in order, e.g. ``("init", "start")``) in the same transaction."""
        bad = set(changes) - _UPDATABLE
        if bad:
            raise PodpyError(f"cannot update container field(s) {', '.join(sorted(bad))}")
        with self.write() as c:
            row = self._resolve(c, ref)
            if "name" in changes and changes["name"] != row["name"]:
                other = c.execute("SELECT id FROM containers WHERE name = ?", (changes["name"],)).fetchone()
                if other is not None:
                    raise name_in_use(changes["name"], other["id"])
            if changes:
                sets = ", ".join(f"{k} = ?" for k in changes)
                c.execute(
                    f"UPDATE containers SET {sets} WHERE id = ?",
                    [*(_to_db(k, v) for k, v in changes.items()), row["id"]],
                )
            new = c.execute("SELECT * FROM containers WHERE id = ?", (row["id"],)).fetchone()
            for action in (event,) if isinstance(event, str) else event or ():
                self._event(c, "container", action, new["id"], new["name"], _row_attrs(new, action))
        return _row_to_record(new)

    def remove(self, ref: str, *, event: bool = True) -> ContainerRecord:
        """Delete the record; returns what was removed. NotFoundError if it is gone already."""
        with self.write() as c:
            row = self._resolve(c, ref)
            c.execute("DELETE FROM containers WHERE id = ?", (row["id"],))
            if event:
                self._event(c, "container", "remove", row["id"], row["name"], _row_attrs(row, "remove"))
        return _row_to_record(row)

    def reconcile(self, ref: str, exit_file: str) -> ContainerRecord:
        """Catch up with a container whose monitor is gone (``kill -9``, reboot): never stuck running.

        When the record says created/running/paused/stopping but the monitor (pid + start time) no
        longer runs, the container is marked exited with the exit file's code and time, or with
        exit code 255 and now when the monitor died before writing one. Call it under
        ``lock(id)``; the caller then runs the cleanup (``RUNTIME delete --force``, unmount).
        """
        from podpy.monitor import exitfile, liveness

        rec = self.get(ref)
        if rec.state not in ("created", "running", "paused", "stopping"):
            return rec
        if rec.state == "created" and not rec.monitor_pid:
            return rec  # created but never started: nothing watches it, and nothing has to
        if rec.monitor_pid and liveness.is_alive(rec.monitor_pid, rec.monitor_start or None):
            return rec
        ex = exitfile.read_exit_file(exit_file)
        if ex is None:
            code, when = 255, time.time_ns()
        else:
            code, when = int(ex["exit_code"] or 0), int(ex["exited_at_ns"] or time.time_ns())
        return self.update(rec.id, state="exited", exit_code=code, finished_at=when, pid=0, event="died")

    def lock(self, cid: str) -> FileLock:
        """The per-container lock (use as ``with state.lock(rec.id):``); pass the full id."""
        if not cid or "/" in cid or cid.startswith("."):
            raise PodpyError(f"invalid container id {cid!r}")
        return FileLock(self.lock_dir / f"ctr-{cid}.lock")

    # --- events -----------------------------------------------------------------------------------

    @staticmethod
    def _event(
        c: sqlite3.Connection, type_: str, action: str, id_: str, name: str, attributes: Mapping[str, Any]
    ) -> None:
        c.execute(
            "INSERT INTO events (time_ns, type, action, id, name, attributes) VALUES (?, ?, ?, ?, ?, ?)",
            (time.time_ns(), type_, action, id_, name, json.dumps(dict(attributes), sort_keys=True)),
        )

    def add_event(
        self,
        type_: str,
        action: str,
        id_: str = "",
        name: str = "",
        attributes: Mapping[str, Any] | None = None,
    ) -> None:
        """Log one event. A container event gets the container's image and labels (as every podman
        container event carries them) when the container is still recorded."""
        with self.write() as c:
            attrs = dict(attributes or {})
            if type_ == "container" and "image" not in attrs:
                row = c.execute("SELECT * FROM containers WHERE id = ?", (id_,)).fetchone()
                if row is not None:
                    attrs = {**_row_attrs(row, action), **attrs}
            self._event(c, type_, action, id_, name, attrs)

    def container_event(
        self,
        ref: str,
        action: str,
        attributes: Mapping[str, Any] | None = None,
        *,
        once_since_ns: int | None = None,
    ) -> None:
        """Log ``action`` for container ``ref`` (id, name or prefix) with its image and labels.

        ``once_since_ns``: skip it when the container already has an ``action`` event from that time
        on (``cleanup`` runs again when the monitor's cleanup comes after a ``stop`` did it).
        A container that is gone logs nothing.
        """
        with self.write() as c:
            try:
                row = self._resolve(c, ref)
            except NotFoundError:
                return
            seen = "SELECT 1 FROM events WHERE time_ns >= ? AND id = ? AND action = ? LIMIT 1"
            if once_since_ns is not None and c.execute(seen, (once_since_ns, row["id"], action)).fetchone():
                return
            attrs = {**_row_attrs(row, action), **(attributes or {})}
            self._event(c, "container", action, row["id"], row["name"], attrs)

    def events(
        self, *, since_ns: int | None = None, until_ns: int | None = None, after_seq: int = 0
    ) -> list[Event]:
        """Events in order; ``after_seq`` lets ``events --stream`` poll for what is new."""
        q = "SELECT * FROM events WHERE seq > ?"
        args: list[Any] = [after_seq]
        if since_ns is not None:
            q += " AND time_ns >= ?"
            args.append(since_ns)
        if until_ns is not None:
            q += " AND time_ns <= ?"
            args.append(until_ns)
        rows = self.conn.execute(q + " ORDER BY seq", args).fetchall()
        return [
            Event(
                r["seq"],
                r["time_ns"],
                r["type"],
                r["action"],
                r["id"],
                r["name"],
                json.loads(r["attributes"]),
            )
            for r in rows
        ]


def record_exec(fn: Callable[..., int]) -> Callable[..., int]:
    """Decorates ``exec_in(paths, ref, ...)``: logs podman's ``exec`` and, when the command has ended
    (not ``-d``), ``exec_died`` with its exit code. As podman 4.3, a command that could not be run
    (126/127, raised) logs nothing. Both are written when the command returns, in one transaction."""

    @functools.wraps(fn)
    def wrapper(paths: Paths, ref: str, *args: Any, **kwargs: Any) -> int:
        code = fn(paths, ref, *args, **kwargs)
        st = State(paths)
        try:
            with st.write() as c:
                row = st._resolve(c, ref)
                st._event(c, "container", "exec", row["id"], row["name"], _row_attrs(row, "exec"))
                if not kwargs.get("detach"):
                    attrs = {**_row_attrs(row, "exec_died"), "containerExitCode": int(code)}
                    st._event(c, "container", "exec_died", row["id"], row["name"], attrs)
        except (PodpyError, sqlite3.Error) as e:  # the command ran: its exit code matters more
            log.warning("recording the exec event of %s: %s", ref, e)
        finally:
            st.close()
        return code

    return wrapper
