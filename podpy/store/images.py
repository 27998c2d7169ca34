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
import re
import sqlite3
import time
from _thread import _local  # what ``threading.local`` is; ``threading`` itself costs every ``run`` time
from collections import namedtuple
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from podpy.spec.mediatypes import MAX_CONFIG_SIZE, MAX_MANIFEST_SIZE
from podpy.util.errors import ConflictError, ImageNotKnown, InvalidInput, NotFoundError, StoreError

_HEX = "0123456789abcdef"  # the digits of image IDs and digests (lower case only)


def __getattr__(name: str) -> object:
    """The name helpers this module used to import eagerly, still importable from here; ``run`` with a
    full name or ID never needs them, so ``podpy.store.names`` is imported on first use."""
    if name in ("HEX_PREFIX_RE", "short_name_matches", "split_name"):
        from podpy.store import names

        return getattr(names, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
    added REAL NOT NULL                 -- orders an image's names (podman's): pull/load prepend, tag appends
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
SCHEMA_VERSION = 1  # PRAGMA user_version once the tables exist
BUSY_TIMEOUT_MS = 60000


def _retry_busy(conn: sqlite3.Connection, sql: str) -> list:
    """Run ``sql`` and wait out SQLITE_BUSY even where SQLite skips the busy handler.

    Switching to WAL and upgrading a read to a write can return "database is locked" at once
    (deadlock avoidance) when another process opens the same new database at that instant.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    delay = 0.001
    while True:
        try:
            return conn.execute(sql).fetchall()
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) and "busy" not in str(e) or time.monotonic() > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def _open_db(path: Path) -> sqlite3.Connection:
    """Connect, then (first open only) switch to WAL and create the schema in one write transaction.

    ``busy_timeout`` is set before anything reads the file; the schema is created inside
    ``BEGIN IMMEDIATE`` and marked with ``user_version`` so that any number of processes opening
    a new store at once neither fail nor redo it, and later opens only read two pragmas.
    """
    conn = sqlite3.connect(
        path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
    )
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    if conn.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
        if _retry_busy(conn, "PRAGMA journal_mode")[0][0].lower() != "wal":
            _retry_busy(conn, "PRAGMA journal_mode = WAL")
        _retry_busy(conn, "BEGIN IMMEDIATE")
        try:
            if conn.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
                for stmt in SCHEMA.split(";"):
                    if stmt.strip():
                        conn.execute(stmt)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


class LayerRecord(namedtuple("LayerRecord", "digest diff_id media_type size unpacked_size", defaults=(0,))):
    """One layer of an image, as the manifest and config describe it (immutable, compared by value).

    A named tuple, not a dataclass: ``dataclasses`` would add milliseconds to ``podpy images``.
    Fields: ``digest`` (blob digest as stored, compressed or not), ``diff_id`` (sha256 of the
    uncompressed tar), ``media_type``, ``size`` (blob size), ``unpacked_size`` (bytes of the tar stream).
    """

    __slots__ = ()
    digest: str
    diff_id: str
    media_type: str
    size: int
    unpacked_size: int

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


class ImageRecord:
    """An image in the store; ``id`` is the config digest's hex, as podman's image ID.

    Immutable and compared by value except ``extra`` (a plain class for start-up time, see LayerRecord).
    """

    __slots__ = (
        "id",
        "config_digest",
        "manifest_digest",
        "manifest_media_type",
        "index_digest",
        "names",  # oldest first
        "repo_digests",
        "layers",
        "created",
        "size",
        "pulled_at",
        "users",
        "extra",
    )
    id: str
    config_digest: str
    manifest_digest: str
    manifest_media_type: str
    index_digest: str | None
    names: tuple[str, ...]
    repo_digests: tuple[str, ...]
    layers: tuple[LayerRecord, ...]
    created: str | None
    size: int
    pulled_at: float
    users: tuple[str, ...]
    extra: dict

    def __init__(
        self,
        id: str,  # noqa: A002 - the record's field name
        config_digest: str,
        manifest_digest: str,
        manifest_media_type: str,
        index_digest: str | None,
        names: tuple[str, ...],
        repo_digests: tuple[str, ...],
        layers: tuple[LayerRecord, ...],
        created: str | None,
        size: int,
        pulled_at: float,
        users: tuple[str, ...] = (),
        extra: dict | None = None,
    ) -> None:
        values = locals()
        for name in self.__slots__:
            object.__setattr__(self, name, values[name])
        if extra is None:
            object.__setattr__(self, "extra", {})

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"ImageRecord is immutable: cannot set {name!r}")

    def _key(self) -> tuple:
        return tuple(getattr(self, n) for n in self.__slots__[:-1])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ImageRecord) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return "ImageRecord(" + ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__slots__) + ")"

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
        self._local = _local()

    # -- connection handling ------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            return conn
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)  # as Store creates it
        try:
            conn = _open_db(self.path)
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
            old = conn.execute(
                "SELECT extra, index_digest, manifest_digest FROM images WHERE id=?", (image_id,)
            ).fetchone()
            ext = json.loads(old[0]) if old else {}
            ext.update(extra or {})
            # the digest the image was first stored by (podman's ``Digest`` never changes after that)
            ext.setdefault("digest", (old[1] or old[2]) if old else (index_digest or manifest_digest))
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
            # podman (containers/image) puts the names of a pull/load before the image's other names;
            # ``tag`` appends instead. ``added`` orders an image's names, so prepend below the lowest.
            new_names = list(dict.fromkeys(names))
            lo = conn.execute("SELECT MIN(added) FROM names WHERE image_id=?", (image_id,)).fetchone()[0]
            base = (now if lo is None else min(lo, now)) - len(new_names)
            for i, n in enumerate(new_names):
                conn.execute(
                    "INSERT INTO names(name, image_id, added) VALUES (?,?,?)"
                    " ON CONFLICT(name) DO UPDATE SET image_id=excluded.image_id, added=excluded.added",
                    (n, image_id, base + i),
                )
            for rd in repo_digests:
                conn.execute(
                    "INSERT OR IGNORE INTO repo_digests(image_id, repo_digest) VALUES (?,?)", (image_id, rd)
                )
            if new_names:
                self._note_names(conn, image_id)
            row = conn.execute(f"SELECT {self._COLS} FROM images WHERE id=?", (image_id,)).fetchone()
            return self._record(conn, row)

    @staticmethod
    def _note_names(conn: sqlite3.Connection, image_id: str) -> None:
        """Update ``extra["names_history"]`` (podman's NamesHistory, newest first, removed names kept)
        after the image's names changed: containers/storage prepends each current name in turn."""
        names = [
            r[0]
            for r in conn.execute("SELECT name FROM names WHERE image_id=? ORDER BY added, name", (image_id,))
        ]
        row = conn.execute("SELECT extra FROM images WHERE id=?", (image_id,)).fetchone()
        if row is None:
            return
        ext = json.loads(row[0])
        ext["names_history"] = list(dict.fromkeys([*reversed(names), *ext.get("names_history", [])]))
        conn.execute("UPDATE images SET extra=? WHERE id=?", (json.dumps(ext), image_id))

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
            self._note_names(conn, image_id)

    def untag(self, image_id: str, name: str) -> bool:
        with self.write() as conn:
            cur = conn.execute("DELETE FROM names WHERE image_id=? AND name=?", (image_id, name))
            if cur.rowcount > 0:
                self._note_names(conn, image_id)
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
            # every manifest an image was pulled through stays (its size counts, podman keeps it)
            for (rd,) in conn.execute("SELECT repo_digest FROM repo_digests"):
                blobs.add(rd.rpartition("@")[2])
        for (extra,) in extra_rows:
            for d in json.loads(extra).get(
                "blobs", []
            ):  # extra blobs a caller wants kept (e.g. other manifests)
                blobs.add(d)
        return blobs, diffs


# The blob digests the store names files by. Kept as a pattern (``re`` caches it on first use):
# compiling it costs every ``run`` 0.2 ms, and ``well_formed_digest`` answers the usual case.
_DIGEST_PATTERN = r"^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$"
_DIGEST_HEX_LEN = {"sha256": 64, "sha512": 128}


def well_formed_digest(value: str) -> bool:
    """Exactly ``sha256:<64 hex>`` or ``sha512:<128 hex>``, checked without compiling a regex (start-up)."""
    algo, _, hexpart = value.partition(":")
    return len(hexpart) == _DIGEST_HEX_LEN.get(algo, -1) and not hexpart.strip(_HEX)


class ImageReader:
    """Read-only access to image records and their small blobs: what ``images``, ``inspect``,
    ``history`` and ``exists`` need, without ``Store``'s start-up work (leftover cleanup, locks)
    and without importing the blob/layer machinery; ``Store`` extends it for writers."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.db = ImageDB(self.root / "images.db")

    def blob_path(self, digest: str) -> Path:
        """Where the blob lives (``blobs/<algorithm>/<hex>``, as ``BlobStore``); validates the digest."""
        value = digest or ""
        if not (well_formed_digest(value) or re.match(_DIGEST_PATTERN, value)):
            from podpy.spec.digest import parse_digest

            parse_digest(digest)  # raises InvalidInput with the precise reason
            raise InvalidInput(f"invalid digest {digest!r}")
        algo, _, hexpart = digest.partition(":")
        return self.root / "blobs" / algo / hexpart

    def get_blob_bytes(self, digest: str, max_size: int | None = None) -> bytes:
        """Read a whole (small) blob; ``max_size`` refuses blobs larger than that (untrusted docs)."""
        try:
            with open(self.blob_path(digest), "rb") as f:
                size = os.fstat(f.fileno()).st_size
                if max_size is not None and size > max_size:
                    raise InvalidInput(f"blob {digest} is {size} bytes, over the {max_size}-byte limit")
                return f.read()
        except FileNotFoundError:
            raise NotFoundError(f"blob {digest} is not in the store") from None

    def get_image(self, image_id: str) -> ImageRecord:
        """By full ID (hex, or ``sha256:`` + hex); raises ``ImageNotKnown``."""
        iid = image_id.removeprefix("sha256:")
        rec = self.db.get(iid)
        if rec is None:
            raise ImageNotKnown(image_id)
        return rec

    def find_image(
        self, name_or_id: str, search_registries: Sequence[str] = ("docker.io",)
    ) -> ImageRecord | None:
        """Like ``lookup_image`` but returns None when nothing matches."""
        try:
            return self.lookup_image(name_or_id, search_registries)
        except ImageNotKnown:
            return None

    def lookup_image(self, name_or_id: str, search_registries: Sequence[str] = ("docker.io",)) -> ImageRecord:
        """Resolve what a user typed to one image, like Podman's local lookup.

        Order: full ID (optionally ``sha256:``-prefixed); exact name; name + ``:latest``; unique ID
        prefix of at least 3 hex chars; ``name@sha256:…`` against repo digests; short names against
        ``localhost/NAME``, then ``REGISTRY/[library/]NAME`` for ``search_registries``, then any stored
        name whose repository path ends with ``/NAME``. Raises ``ImageNotKnown`` (or ``ConflictError``
        for an ambiguous ID prefix).
        """
        typed = name_or_id.strip()
        if not typed:
            raise ImageNotKnown(name_or_id)
        bare = typed.removeprefix("sha256:")
        if len(bare) == 64 and not bare.strip(_HEX) and (rec := self.db.get(bare)):
            return rec
        iid = self.db.id_by_name(typed)
        if iid is None:  # not a stored name as typed (``run`` with a full name never gets here)
            from podpy.store.names import HEX_PREFIX_RE, split_name

            parts = split_name(typed)
            if not parts.tag and not parts.digest:
                iid = self.db.id_by_name(typed + ":latest")
            if iid is None and HEX_PREFIX_RE.match(bare):
                ids = self.db.ids_with_prefix(bare)
                if len(ids) == 1:
                    iid = ids[0]
                elif len(ids) > 1:
                    raise ConflictError(
                        f"{typed}: short ID is ambiguous, it matches {len(ids)} images; type more of it"
                    )
            if iid is None:
                iid = self._lookup_name(typed, search_registries)
        if iid is None:
            raise ImageNotKnown(name_or_id)
        rec = self.db.get(iid)
        if rec is None:  # removed in between
            raise ImageNotKnown(name_or_id)
        return rec

    def _lookup_name(self, typed: str, search_registries: Sequence[str]) -> str | None:
        from podpy.store.names import short_name_matches, split_name

        parts = split_name(typed)
        if parts.digest:
            if not re.match(_DIGEST_PATTERN, parts.digest):
                return None
            rds = self.db.all_repo_digests()
            wanted = [f"{parts.repo}@{parts.digest}"]
            if not parts.domain:
                wanted += [f"localhost/{parts.path}@{parts.digest}"]
                for reg in search_registries:
                    wanted.append(f"{reg}/{parts.path}@{parts.digest}")
                    if reg == "docker.io" and "/" not in parts.path:
                        wanted.append(f"docker.io/library/{parts.path}@{parts.digest}")
            by_rd = dict(rds)
            for w in wanted:
                if w in by_rd:
                    return by_rd[w]
            if not parts.domain:
                for rd, iid in rds:
                    rp = split_name(rd)
                    if rp.digest == parts.digest and short_name_matches(split_name(parts.path), rp.repo):
                        return iid
            return None
        if parts.domain:
            return None
        tag = parts.tag or "latest"
        candidates = [f"localhost/{parts.path}:{tag}"]
        for reg in search_registries:
            candidates.append(f"{reg}/{parts.path}:{tag}")
            if reg == "docker.io" and "/" not in parts.path:
                candidates.append(f"docker.io/library/{parts.path}:{tag}")
        for c in candidates:
            if (iid := self.db.id_by_name(c)) is not None:
                return iid
        want = split_name(f"{parts.path}:{tag}")
        for name, iid in self.db.all_names():
            if short_name_matches(want, name):
                return iid
        return None

    def list_images(self) -> list[ImageRecord]:
        """All images, most recently pulled first."""
        return self.db.all()

    def image_config(self, rec: ImageRecord) -> dict:
        """The image's config JSON (size-capped)."""
        try:
            return json.loads(self.get_blob_bytes(rec.config_digest, MAX_CONFIG_SIZE))
        except ValueError as e:
            raise StoreError(f"image {rec.id[:12]}: config blob is not valid JSON: {e}") from e

    def image_manifest(self, rec: ImageRecord) -> dict:
        try:
            return json.loads(self.get_blob_bytes(rec.manifest_digest, MAX_MANIFEST_SIZE))
        except ValueError as e:
            raise StoreError(f"image {rec.id[:12]}: manifest blob is not valid JSON: {e}") from e
