"""Image records in SQLite: which manifest, config and layers make an image, and its names.

Why SQLite (stdlib ``sqlite3``) and not JSON files: many podpy processes read and write records at
once (parallel pulls, ``images`` while pulling, ``tag``); SQLite in WAL mode gives readers a
consistent snapshot without blocking writers, ``busy_timeout`` queues writers instead of failing with
"database is locked", and one ``BEGIN IMMEDIATE`` transaction moves a name from one image to another
or inserts an image with its names atomically. Transactions are short (no I/O on blobs inside), so
contention stays low. A killed process leaves either the whole transaction or none of it.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from podpy.util.errors import ConflictError, ImageNotKnown, StoreError

SCHEMA = """
CREATE TABLE IF NOT EXISTS images (
    id TEXT PRIMARY KEY,                -- config digest hex (podman's image ID)
    config_digest TEXT NOT NULL,
    manifest_digest TEXT NOT NULL,
    manifest_media_type TEXT NOT NULL,
    index_digest TEXT,
    created TEXT,                       -- from the config, RFC 3339
    size INTEGER NOT NULL,              -- sum of unpacked layer sizes
    pulled_at REAL NOT NULL,            -- when it was pulled/loaded/committed (unix time)
    layers TEXT NOT NULL,               -- JSON list of LayerRecord dicts, base layer first
    extra TEXT NOT NULL DEFAULT '{}'    -- JSON for later additions
);
CREATE TABLE IF NOT EXISTS names (
    name TEXT PRIMARY KEY,              -- unique across images: tagging moves a name
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    added REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS names_image ON names(image_id);
CREATE TABLE IF NOT EXISTS repo_digests (
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    repo_digest TEXT NOT NULL,          -- registry/repo@sha256:<manifest digest>
    PRIMARY KEY (image_id, repo_digest)
);
CREATE TABLE IF NOT EXISTS image_users (
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL,              -- e.g. a container ID: rmi refuses while users exist
    PRIMARY KEY (image_id, user_id)
);
"""


@dataclass(frozen=True)
class LayerRecord:
    """One layer of an image, as the manifest and config describe it."""

    digest: str  # blob digest (as stored: compressed or not)
    diff_id: str  # sha256 of the uncompressed tar (config rootfs.diff_ids)
    media_type: str
    size: int  # blob (compressed) size
    unpacked_size: int = 0  # bytes of the uncompressed tar stream

    def to_json(self) -> dict:
        return {
            "digest": self.digest,
            "diff_id": self.diff_id,
            "media_type": self.media_type,
            "size": self.size,
            "unpacked_size": self.unpacked_size,
        }

    @classmethod
    def from_json(cls, d: dict) -> LayerRecord:
        return cls(d["digest"], d["diff_id"], d["media_type"], int(d["size"]), int(d.get("unpacked_size", 0)))


@dataclass(frozen=True)
class ImageRecord:
    """An image in the store; ``id`` is the config digest's hex, as podman's image ID."""

    id: str
    config_digest: str
    manifest_digest: str
    manifest_media_type: str
    index_digest: str | None
    names: tuple[str, ...]  # oldest first
    repo_digests: tuple[str, ...]
    layers: tuple[LayerRecord, ...]
    created: str | None
    size: int
    pulled_at: float
    users: tuple[str, ...] = ()
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def digest(self) -> str:
        """The manifest digest (podman's ``Digest``)."""
        return self.manifest_digest

    @property
    def diff_ids(self) -> tuple[str, ...]:
        return tuple(layer.diff_id for layer in self.layers)


class ImageDB:
    """The ``images.db`` SQLite database; one connection per thread (and per process after fork)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()

    # -- connection handling ------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            return conn
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout = 60000")
            mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
            if mode.lower() != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.executescript(SCHEMA)
        except sqlite3.Error as e:
            raise StoreError(f"cannot open the image database {self.path}: {e}") from e
        self._local.conn = conn
        self._local.pid = os.getpid()
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            conn.close()
        self._local.conn = None

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A short write transaction (``BEGIN IMMEDIATE``: takes the write lock up front)."""
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as e:
            raise StoreError(f"cannot write the image database {self.path}: {e}") from e
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot for several SELECTs."""
        conn = self._conn()
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    # -- records --------------------------------------------------------------------------------
    def _record(
        self,
        conn: sqlite3.Connection,
        row: tuple,
        related: tuple[dict[str, list[str]], dict[str, list[str]], dict[str, list[str]]] | None = None,
    ) -> ImageRecord:
        (iid, cfg, man, mt, idx, created, size, pulled, layers, extra) = row
        if related is None:
            related = self._related(conn, iid)
        names, rds, users = (tuple(m.get(iid, ())) for m in related)
        return ImageRecord(
            id=iid,
            config_digest=cfg,
            manifest_digest=man,
            manifest_media_type=mt,
            index_digest=idx,
            names=names,
            repo_digests=rds,
            layers=tuple(LayerRecord.from_json(d) for d in json.loads(layers)),
            created=created,
            size=size,
            pulled_at=pulled,
            users=users,
            extra=json.loads(extra),
        )

    @staticmethod
    def _related(
        conn: sqlite3.Connection, image_id: str | None = None
    ) -> tuple[dict[str, list[str]], dict[str, list[str]], dict[str, list[str]]]:
        """Names, repo digests and users, grouped by image (of one image, or of all in 3 queries)."""
        where, args = ("WHERE image_id=?", (image_id,)) if image_id else ("", ())
        out: list[dict[str, list[str]]] = []
        for sql in (
            f"SELECT image_id, name FROM names {where} ORDER BY added, name",
            f"SELECT image_id, repo_digest FROM repo_digests {where} ORDER BY repo_digest",
            f"SELECT image_id, user_id FROM image_users {where} ORDER BY user_id",
        ):
            m: dict[str, list[str]] = {}
            for iid, val in conn.execute(sql, args):
                m.setdefault(iid, []).append(val)
            out.append(m)
        return out[0], out[1], out[2]

    _COLS = "id, config_digest, manifest_digest, manifest_media_type, index_digest, created, size, pulled_at, layers, extra"

    def get(self, image_id: str) -> ImageRecord | None:
        with self.read() as conn:
            row = conn.execute(f"SELECT {self._COLS} FROM images WHERE id=?", (image_id,)).fetchone()
            return self._record(conn, row) if row else None

    def all(self) -> list[ImageRecord]:
        with self.read() as conn:
            rows = conn.execute(f"SELECT {self._COLS} FROM images ORDER BY pulled_at DESC, id").fetchall()
            related = self._related(conn)
            return [self._record(conn, r, related) for r in rows]

    def ids_with_prefix(self, prefix: str) -> list[str]:
        hi = prefix + "\uffff"
        with self.read() as conn:
            return [
                r[0] for r in conn.execute("SELECT id FROM images WHERE id >= ? AND id < ?", (prefix, hi))
            ]

    def id_by_name(self, name: str) -> str | None:
        with self.read() as conn:
            row = conn.execute("SELECT image_id FROM names WHERE name=?", (name,)).fetchone()
            return row[0] if row else None

    def all_names(self) -> list[tuple[str, str]]:
        with self.read() as conn:
            return [
                (r[0], r[1]) for r in conn.execute("SELECT name, image_id FROM names ORDER BY added, name")
            ]

    def all_repo_digests(self) -> list[tuple[str, str]]:
        with self.read() as conn:
            return [(r[0], r[1]) for r in conn.execute("SELECT repo_digest, image_id FROM repo_digests")]

    def upsert(
        self,
        image_id: str,
        config_digest: str,
        manifest_digest: str,
        manifest_media_type: str,
        index_digest: str | None,
        layers: Sequence[LayerRecord],
        names: Iterable[str],
        repo_digests: Iterable[str],
        created: str | None,
        size: int,
        extra: dict | None = None,
        check: callable | None = None,  # type: ignore[valid-type]
    ) -> ImageRecord:
        """Insert or update an image and move ``names`` to it, in one transaction.

        ``check`` runs inside the transaction (holding the write lock) to verify that blobs and
        layers still exist, so a concurrent removal cannot slip in between check and insert.
        """
        now = time.time()
        with self.write() as conn:
            if check is not None:
                check()
            layers_json = json.dumps([layer.to_json() for layer in layers])
            old = conn.execute("SELECT extra FROM images WHERE id=?", (image_id,)).fetchone()
            ext = json.loads(old[0]) if old else {}
            ext.update(extra or {})
            conn.execute(
                "INSERT INTO images(id, config_digest, manifest_digest, manifest_media_type, index_digest, created,"
                " size, pulled_at, layers, extra) VALUES (?,?,?,?,?,?,?,?,?,?)"
                " ON CONFLICT(id) DO UPDATE SET manifest_digest=excluded.manifest_digest,"
                " manifest_media_type=excluded.manifest_media_type,"
                " index_digest=COALESCE(excluded.index_digest, images.index_digest),"
                " layers=excluded.layers, size=excluded.size, created=excluded.created, extra=excluded.extra",
                (
                    image_id,
                    config_digest,
                    manifest_digest,
                    manifest_media_type,
                    index_digest,
                    created,
                    size,
                    now,
                    layers_json,
                    json.dumps(ext),
                ),
            )
            for n in names:
                conn.execute(
                    "INSERT INTO names(name, image_id, added) VALUES (?,?,?)"
                    " ON CONFLICT(name) DO UPDATE SET image_id=excluded.image_id, added=excluded.added"
                    " WHERE names.image_id != excluded.image_id",
                    (n, image_id, now),
                )
            for rd in repo_digests:
                conn.execute(
                    "INSERT OR IGNORE INTO repo_digests(image_id, repo_digest) VALUES (?,?)", (image_id, rd)
                )
            row = conn.execute(f"SELECT {self._COLS} FROM images WHERE id=?", (image_id,)).fetchone()
            return self._record(conn, row)

    def tag(self, image_id: str, name: str) -> None:
        with self.write() as conn:
            if not conn.execute("SELECT 1 FROM images WHERE id=?", (image_id,)).fetchone():
                raise ImageNotKnown(image_id)
            conn.execute(
                "INSERT INTO names(name, image_id, added) VALUES (?,?,?)"
                " ON CONFLICT(name) DO UPDATE SET image_id=excluded.image_id, added=excluded.added"
                " WHERE names.image_id != excluded.image_id",
                (name, image_id, time.time()),
            )

    def untag(self, image_id: str, name: str) -> bool:
        with self.write() as conn:
            cur = conn.execute("DELETE FROM names WHERE image_id=? AND name=?", (image_id, name))
            return cur.rowcount > 0

    def remove(self, image_id: str, force: bool = False) -> ImageRecord:
        with self.write() as conn:
            row = conn.execute(f"SELECT {self._COLS} FROM images WHERE id=?", (image_id,)).fetchone()
            if not row:
                raise ImageNotKnown(image_id)
            rec = self._record(conn, row)
            if rec.users and not force:
                raise ConflictError(
                    f"image {image_id[:12]} is in use by {len(rec.users)} container(s): {', '.join(u[:12] for u in rec.users)};"
                    " remove them first or use --force"
                )
            conn.execute("DELETE FROM images WHERE id=?", (image_id,))
            return rec

    def add_user(self, image_id: str, user_id: str) -> None:
        with self.write() as conn:
            if not conn.execute("SELECT 1 FROM images WHERE id=?", (image_id,)).fetchone():
                raise ImageNotKnown(image_id)
            conn.execute(
                "INSERT OR IGNORE INTO image_users(image_id, user_id) VALUES (?,?)", (image_id, user_id)
            )

    def remove_user(self, image_id: str, user_id: str) -> None:
        with self.write() as conn:
            conn.execute("DELETE FROM image_users WHERE image_id=? AND user_id=?", (image_id, user_id))

    def referenced(self) -> tuple[set[str], set[str]]:
        """(blob digests, diff IDs) that some image record names."""
        blobs: set[str] = set()
        diffs: set[str] = set()
        with self.read() as conn:
            for cfg, man, idx, layers in conn.execute(
                "SELECT config_digest, manifest_digest, index_digest, layers FROM images"
            ):
                blobs.add(cfg)
                blobs.add(man)
                if idx:
                    blobs.add(idx)
                for d in json.loads(layers):
                    blobs.add(d["digest"])
                    diffs.add(d["diff_id"])
            extra_rows = conn.execute("SELECT extra FROM images").fetchall()
        for (extra,) in extra_rows:
            for d in json.loads(extra).get(
                "blobs", []
            ):  # extra blobs a caller wants kept (e.g. other manifests)
                blobs.add(d)
        return blobs, diffs
