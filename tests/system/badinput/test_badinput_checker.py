"""The "nothing half-stored" checker itself catches each kind of leak (else the other tests prove nothing).

Leaks are planted by hand in a store podpy created (`podpy images` makes an empty one), the way a
broken pull would leave them: a committed blob, a temp download, a half-unpacked layer dir, a
complete-looking layer dir, a database row, a file written outside the store, and the removal of
a blob that belonged to an existing image.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.system.badinput import storecheck


def _blob(store: Path, data: bytes) -> Path:
    import hashlib

    p = store / "blobs" / "sha256" / hashlib.sha256(data).hexdigest()
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    return p


def _plant_db_row(store: Path) -> None:
    conn = sqlite3.connect(store / "images.db")
    try:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        assert names, "podpy images created no tables in images.db"
        conn.execute("CREATE TABLE badinput_probe (x)")
        conn.execute("INSERT INTO badinput_probe VALUES (1)")
        conn.commit()
    finally:
        conn.close()


LEAKS: dict[str, Callable[[Path], Any]] = {
    "blob": lambda s: _blob(s, b"a committed blob of a failed pull"),
    "temp-file": lambda s: (s / "tmp").mkdir(exist_ok=True) or (s / "tmp" / "blob-1-abc").write_bytes(b"x"),
    "tmp-layer-dir": lambda s: (s / "overlay" / ".tmp-0123456789abcdef-1-ab" / "diff").mkdir(parents=True),
    "layer-dir": lambda s: (s / "overlay" / ("ab" * 32) / "diff").mkdir(parents=True),
    "db-row": _plant_db_row,
    "escape": lambda s: Path("/tmp/pwned.txt").write_text("pwned"),
}


@pytest.mark.parametrize("leak", sorted(LEAKS))
def test_checker_catches_leak(leak: str, podpy_cli: Any, podpy_root: Any) -> None:
    if leak == "escape" and os.path.lexists("/tmp/pwned.txt"):
        pytest.fail("/tmp/pwned.txt exists before the test: an escape test wrote it earlier? remove it")
    before = storecheck.take(podpy_root.root, podpy_cli)
    store = storecheck.store_dir(podpy_root.root)
    assert store.is_dir(), f"podpy images made no store at {store}: the layout in podpy/store changed?"
    LEAKS[leak](store)
    try:
        with pytest.raises(AssertionError, match="half-stored"):
            storecheck.assert_unchanged(before, podpy_cli, f"planted {leak}")
    finally:
        if leak == "escape":
            os.unlink("/tmp/pwned.txt")


def test_checker_catches_removed_blob(podpy_cli: Any, podpy_root: Any) -> None:
    storecheck.list_images(podpy_cli)
    store = storecheck.store_dir(podpy_root.root)
    blob = _blob(store, b"a blob of an image that exists")
    before = storecheck.take(podpy_root.root, podpy_cli)
    blob.unlink()
    with pytest.raises(AssertionError, match="removed from --root"):
        storecheck.assert_unchanged(before, podpy_cli, "removed blob")


def test_checker_accepts_untouched_store(podpy_cli: Any, podpy_root: Any) -> None:
    storecheck.list_images(podpy_cli)
    before = storecheck.take(podpy_root.root, podpy_cli)
    storecheck.assert_unchanged(before, podpy_cli, "nothing happened")
