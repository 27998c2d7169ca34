"""The TOML parse cache: a changed file is parsed again, a broken one is an error, a cache never lies."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from podpy.util import tomlcache


@pytest.fixture(autouse=True)
def _cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(tomlcache, "_memo", {})


def test_missing_file_is_none(tmp_path: Path) -> None:
    assert tomlcache.load(tmp_path / "nope.conf") is None


def test_parse_is_cached_and_a_change_is_seen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conf = tmp_path / "storage.conf"
    conf.write_text('[storage]\ndriver = "vfs"\n')
    assert tomlcache.load(conf) == {"storage": {"driver": "vfs"}}
    cached = list((tmp_path / "cache" / "podpy" / "conf").iterdir())
    assert len(cached) == 1 and cached[0].stat().st_mode & 0o777 == 0o600

    def no_parse(path: str, data: bytes) -> dict[str, object]:
        raise AssertionError("parsed again although the file did not change")

    monkeypatch.setattr(tomlcache, "_memo", {})
    monkeypatch.setattr(tomlcache, "_parse", no_parse)
    assert tomlcache.load(conf) == {"storage": {"driver": "vfs"}}  # from the JSON cache

    monkeypatch.undo()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    conf.write_text('[storage]\ndriver = "overlay"\n')  # same size, new contents: ctime/mtime differ
    st = conf.stat()
    os.utime(conf, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert tomlcache.load(conf) == {"storage": {"driver": "overlay"}}


def test_invalid_toml_is_an_error_and_not_cached(tmp_path: Path) -> None:
    conf = tmp_path / "containers.conf"
    conf.write_text("[network\n")
    with pytest.raises(tomlcache.TomlError):
        tomlcache.load(conf)
    assert not (tmp_path / "cache" / "podpy" / "conf").exists()


def test_a_corrupt_cache_file_is_ignored(tmp_path: Path) -> None:
    conf = tmp_path / "storage.conf"
    conf.write_text('[storage]\ndriver = "vfs"\n')
    tomlcache.load(conf)
    for f in (tmp_path / "cache" / "podpy" / "conf").iterdir():
        f.write_text("{not json")
    tomlcache._memo.clear()
    assert tomlcache.load(conf) == {"storage": {"driver": "vfs"}}
