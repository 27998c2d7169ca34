"""First open of a new ``images.db`` by many processes at the same instant.

Every process must get a usable, WAL-mode database with the schema, without "database is locked"
and without any lock outside SQLite (the engine used to serialize first opens with a flock).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from podpy.store.images import SCHEMA_VERSION, ImageDB

WORKER = r"""
import os, sys, time
from pathlib import Path
from podpy.store.images import ImageDB
db_path, go, n = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
while not go.exists():
    time.sleep(0.0005)
db = ImageDB(db_path)
db.upsert(f"{int(n):064x}", "sha256:" + "a" * 64, "sha256:" + "b" * 64, "x", None, [],
          [f"localhost/p{n}:latest"], [], None, 0)
assert len(db.all()) >= 1
print("ok")
"""

PROCS = 12
ROUNDS = 4


def test_many_processes_open_a_new_database_at_once(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    for r in range(ROUNDS):
        db_path = tmp_path / f"round{r}" / "images.db"
        go = tmp_path / f"go{r}"
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", WORKER, str(db_path), str(go), str(n)],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for n in range(PROCS)
        ]
        time.sleep(0.5)  # let every worker reach the start line
        go.touch()
        for p in procs:
            out, err = p.communicate(timeout=120)
            assert p.returncode == 0 and out.strip() == "ok", err
        conn = sqlite3.connect(db_path)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("SELECT count(*) FROM images").fetchone()[0] == PROCS
        assert conn.execute("SELECT count(*) FROM names").fetchone()[0] == PROCS
        conn.close()


def test_existing_database_without_version_gets_schema_marked(tmp_path: Path) -> None:
    """A database created before ``user_version`` was set keeps its rows and is marked once."""
    path = tmp_path / "images.db"
    db = ImageDB(path)
    db.upsert(
        "c" * 64, "sha256:" + "c" * 64, "sha256:" + "d" * 64, "x", None, [], ["localhost/a:1"], [], None, 0
    )
    db.close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 0")
    conn.commit()
    conn.close()
    db2 = ImageDB(path)
    assert [r.names for r in db2.all()] == [("localhost/a:1",)]
    assert db2._conn().execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
