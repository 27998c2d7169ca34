from __future__ import annotations

import hashlib
import os

import pytest

from podpy.store import Store
from podpy.util.errors import InvalidInput, NotFoundError
from tests.unit.store.layerkit import sha


def test_commit_verifies_and_deduplicates(store: Store) -> None:
    data = b"layer bytes" * 1000
    tmp = store.new_temp()
    assert tmp.parent == store.root / "tmp" and not tmp.exists()
    tmp.write_bytes(data)
    path = store.commit_blob(tmp, sha(data), len(data))
    assert path == store.root / "blobs" / "sha256" / hashlib.sha256(data).hexdigest()
    assert path.read_bytes() == data and not tmp.exists()
    assert store.has_blob(sha(data))
    # committing the same content again is harmless and leaves one copy
    tmp2 = store.new_temp()
    tmp2.write_bytes(data)
    assert store.commit_blob(tmp2, sha(data), verify=False) == path
    assert not tmp2.exists()
    assert os.listdir(path.parent) == [path.name]


def test_commit_rejects_wrong_digest_and_leaves_nothing(store: Store) -> None:
    tmp = store.new_temp()
    tmp.write_bytes(b"evil")
    with pytest.raises(InvalidInput, match="does not match its digest"):
        store.commit_blob(tmp, sha(b"good"))
    assert not tmp.exists() and not store.has_blob(sha(b"good"))


def test_commit_rejects_lying_size(store: Store) -> None:
    tmp = store.new_temp()
    tmp.write_bytes(b"12345")
    with pytest.raises(InvalidInput, match="size is 5 bytes, but the descriptor says 4"):
        store.commit_blob(tmp, sha(b"12345"), 4)
    assert not store.has_blob(sha(b"12345"))
    tmp = store.new_temp()
    tmp.write_bytes(b"12345")
    with pytest.raises(InvalidInput, match="descriptor says 6"):
        store.commit_blob(tmp, sha(b"12345"), 6, verify=False)


@pytest.mark.parametrize(
    "bad",
    ["sha256:../x", "sha256:" + "A" * 64, "sha256:" + "a" * 63, "md5:" + "a" * 32, "../../etc/passwd", ""],
)
def test_digest_strings_that_are_path_tricks_are_refused(store: Store, bad: str) -> None:
    with pytest.raises(InvalidInput, match="invalid digest"):
        store.blob_path(bad)
    with pytest.raises(InvalidInput):
        store.has_blob(bad)
    tmp = store.new_temp()
    tmp.write_bytes(b"x")
    with pytest.raises(InvalidInput):
        store.commit_blob(tmp, bad)
    assert not tmp.exists()


def test_put_and_get_bytes(store: Store) -> None:
    d = store.put_blob_bytes(b'{"a": 1}')
    assert d == sha(b'{"a": 1}')
    assert store.put_blob_bytes(b'{"a": 1}') == d
    assert store.get_blob_bytes(d) == b'{"a": 1}'
    with pytest.raises(InvalidInput, match="over the 4-byte limit"):
        store.get_blob_bytes(d, max_size=4)
    with pytest.raises(NotFoundError):
        store.get_blob_bytes(sha(b"missing"))
