"""Hostile layers: each is refused with a one-line InvalidInput naming the layer, and nothing remains."""

from __future__ import annotations

import errno
import gzip
import io
import os
import tarfile
from pathlib import Path

import pytest

from podpy.spec import mediatypes as mt
from podpy.store import Store
from podpy.util.errors import InvalidInput, StoreError
from tests.unit.store.layerkit import Layer, add_blob, entry, layer, make_tar, sha, unpack


def _nothing_left(store: Store, lay: Layer) -> None:
    assert not store.has_layer(lay.diff_id)
    overlay = store.root / "overlay"
    assert not overlay.exists() or os.listdir(overlay) == []


def _refused(store: Store, lay: Layer, match: str, max_size: int | None = None) -> InvalidInput:
    with pytest.raises(InvalidInput, match=match) as ei:
        unpack(store, lay, max_size=max_size)
    msg = str(ei.value)
    assert "\n" not in msg and lay.digest in msg  # one line, names the layer blob
    _nothing_left(store, lay)
    return ei.value


@pytest.mark.parametrize("name", ["../evil", "a/../../evil", "a/b/../../../evil", "./../evil"])
def test_dotdot_members_are_refused(store: Store, tmp_path: Path, name: str) -> None:
    lay = layer(entry("ok", data=b"1"), entry(name, data=b"pwned"))
    _refused(store, lay, "contains '..'")
    assert not (tmp_path / "evil").exists() and not (store.root / "evil").exists()


@pytest.mark.parametrize("name", ["/abs-escape.txt", "//twice", "/../evil"])
def test_absolute_paths_are_refused(store: Store, name: str) -> None:
    """Docker strips the leading '/', but no legitimate layer has one: the issue's rule is to refuse."""
    lay = layer(entry("ok", data=b"1"), entry(name, data=b"in"))
    _refused(store, lay, "is an absolute path")


def test_dot_slash_names_are_normal(store: Store) -> None:
    lay = layer(entry("./", "dir"), entry("./a/./b", data=b"in"))
    assert (unpack(store, lay).path / "a/b").read_bytes() == b"in"


def test_write_through_planted_symlink_is_refused(store: Store, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    lay = layer(entry("escape", "symlink", link=str(outside)), entry("escape/pwned", data=b"x"))
    _refused(store, lay, "through the symlink 'escape'")
    assert os.listdir(outside) == []


def test_write_through_relative_symlink_is_refused(store: Store, tmp_path: Path) -> None:
    lay = layer(
        entry("d", "dir"),
        entry("d/up", "symlink", link="../../../../../../../../.."),
        entry("d/up/tmp/pwned", data=b"x"),
    )
    _refused(store, lay, "through the symlink 'd/up'")


def test_symlink_to_file_then_write_replaces_the_link_not_the_target(store: Store, tmp_path: Path) -> None:
    target = tmp_path / "victim"
    target.write_text("precious")
    lay = layer(entry("f", "symlink", link=str(target)), entry("f", data=b"overwritten"))
    root = unpack(store, lay).path
    assert target.read_text() == "precious"
    assert (root / "f").read_bytes() == b"overwritten" and not (root / "f").is_symlink()


def test_hardlink_to_outside_is_refused(store: Store, tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("secret")
    lay = layer(entry("stolen", "hardlink", link=str(victim)))
    _refused(store, lay, "is an absolute path")
    lay = layer(entry("stolen", "hardlink", link="etc/passwd"))
    _refused(store, lay, "not in this layer")
    lay = layer(entry("stolen", "hardlink", link="../../../../" + str(victim)))
    _refused(store, lay, "contains '..'")
    assert victim.stat().st_nlink == 1


def test_hardlink_through_symlink_is_refused(store: Store, tmp_path: Path) -> None:
    (tmp_path / "victim").write_text("secret")
    lay = layer(entry("s", "symlink", link=str(tmp_path)), entry("stolen", "hardlink", link="s/victim"))
    _refused(store, lay, "through the symlink 's'")
    assert (tmp_path / "victim").stat().st_nlink == 1


def test_hardlink_to_symlink_links_the_symlink_itself(store: Store, tmp_path: Path) -> None:
    lay = layer(entry("s", "symlink", link="/etc/shadow"), entry("h", "hardlink", link="s"))
    root = unpack(store, lay).path
    assert os.readlink(root / "h") == "/etc/shadow"


def test_decompression_bomb_is_capped(store: Store) -> None:
    lay = layer(entry("zeros", data=b"\0" * (8 * 1024 * 1024)))  # 8 MiB that compress to a few KiB
    assert len(lay.blob) < 100_000
    _refused(store, lay, "unpacks to more than 1048576 bytes", max_size=1024 * 1024)


@pytest.mark.parametrize("kind", ["gzip", "zstd"])
def test_truncated_compressed_layers(store: Store, kind: str) -> None:
    full = layer(entry("f", data=os.urandom(200_000)), kind=kind)
    lay = Layer(full.blob[: len(full.blob) // 2], full.raw, kind)
    _refused(store, lay, f"truncated {kind} stream")


@pytest.mark.parametrize("kind", ["gzip", "zstd"])
def test_garbage_compressed_layers(store: Store, kind: str) -> None:
    magic = b"\x1f\x8b\x08\x00" if kind == "gzip" else b"\x28\xb5\x2f\xfd"
    lay = Layer(magic + os.urandom(5000), b"whatever", kind)
    _refused(store, lay, f"invalid {kind} data")


@pytest.mark.parametrize("kind", ["gzip", "zstd"])
def test_media_type_says_compressed_but_data_is_not(store: Store, kind: str) -> None:
    raw = make_tar(entry("f", data=b"1"))
    lay = Layer(raw, raw, kind)
    _refused(store, lay, f"not {kind} data")


def test_garbage_tar(store: Store) -> None:
    raw = os.urandom(4096)
    _refused(store, Layer(gzip.compress(raw), raw, "gzip"), "not a valid tar archive")


def test_truncated_tar(store: Store) -> None:
    raw = make_tar(entry("f", data=os.urandom(100_000)))[:50_000]
    _refused(store, Layer(gzip.compress(raw), raw, "gzip"), "truncated tar stream")


def test_unknown_media_type(store: Store) -> None:
    lay = layer(entry("f", data=b"1"))
    path = add_blob(store, lay.blob)
    with pytest.raises(InvalidInput, match="unknown layer media type 'application/x-foo'"):
        store.unpack_layer(path, "application/x-foo", lay.diff_id)
    _nothing_left(store, lay)


def test_diff_id_mismatch_leaves_nothing(store: Store) -> None:
    lay = layer(entry("f", data=b"1"), entry("g", data=b"2"))
    path = add_blob(store, lay.blob)
    wrong = sha(b"something else")
    with pytest.raises(InvalidInput, match="does not match the config's diff ID"):
        store.unpack_layer(path, lay.media_type, wrong)
    assert not store.has_layer(wrong)
    assert os.listdir(store.root / "overlay") == []


def test_overlay_private_xattrs_from_the_image_are_ignored(store: Store) -> None:
    lay = layer(entry("d", "dir", xattrs={"user.overlay.opaque": b"y", "user.overlay.redirect": b"/etc"}))
    root = unpack(store, lay).path
    assert os.listxattr(root / "d") == []


def test_unmapped_owner_gives_a_clear_error(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rootless without subuid ranges, chown to an unmapped ID fails with EINVAL: say how to fix it.

    A real user namespace without ranges is exercised in tests/integration/store; this unit test
    patches fchown because the unit tests run as root, where every chown succeeds.
    """

    def fake_fchown(fd: int, uid: int, gid: int) -> None:
        raise OSError(errno.EINVAL, "Invalid argument")

    monkeypatch.setattr(os, "fchown", fake_fchown)
    lay = layer(entry("f", data=b"1", uid=1000, gid=1000))
    with pytest.raises(StoreError, match="not mapped in podpy's user namespace.*/etc/subuid"):
        unpack(store, lay)
    _nothing_left(store, lay)


def test_uncompressed_media_type_with_gzip_data_is_still_read(store: Store) -> None:
    """Docker's 'diff.tar' type is sometimes used for gzip data: the magic bytes decide."""
    lay = layer(entry("f", data=b"1"))
    path = add_blob(store, lay.blob)
    info = store.unpack_layer(path, mt.DOCKER_LAYER, lay.diff_id)
    assert (info.path / "f").read_bytes() == b"1"


def test_symlink_planted_in_a_lower_layer_is_not_followed(store: Store, tmp_path: Path) -> None:
    """Each layer is unpacked into its own dir, so a lower layer's symlink cannot redirect writes."""
    outside = tmp_path / "outside"
    outside.mkdir()
    lower = layer(entry("etc", "symlink", link=str(outside)))
    upper = layer(entry("etc/pwned", data=b"x"))
    low = unpack(store, lower).path
    up = unpack(store, upper).path
    assert os.listdir(outside) == []
    assert os.path.islink(low / "etc") and (up / "etc/pwned").read_bytes() == b"x"
    assert not os.path.islink(up / "etc")


def test_very_deep_trees_unpack_and_stay_confined(store: Store, tmp_path: Path) -> None:
    deep = "/".join(f"d{i}" for i in range(150))
    lay = layer(entry(f"{deep}/f", data=b"deep"), entry(f"{deep}/g", data=b"g"), entry("top", data=b"t"))
    root = unpack(store, lay).path
    assert (root / deep / "f").read_bytes() == b"deep" and (root / deep / "g").read_bytes() == b"g"
    outside = tmp_path / "out"
    outside.mkdir()
    evil = layer(entry(f"{deep}/s", "symlink", link=str(outside)), entry(f"{deep}/s/pwned", data=b"x"))
    with pytest.raises(InvalidInput, match="through the symlink 'd0/d1/.*/d149/s'"):
        unpack(store, evil)
    assert os.listdir(outside) == [] and not store.has_layer(evil.diff_id)
    assert os.listdir(store.root / "overlay") == [lay.diff_id.split(":")[1]]


def test_read_only_dirs_from_the_image_can_be_removed(store: Store) -> None:
    lay = layer(
        entry("ro", "dir", mode=0o555),
        entry("ro/f", data=b"1", mode=0o444),
        entry("ro/sub", "dir", mode=0o500),
    )
    info = unpack(store, lay)
    assert os.stat(info.path / "ro").st_mode & 0o777 == 0o555
    res = store.gc()
    assert res.layers == [lay.diff_id] and not info.path.exists()


def test_huge_pax_header_is_refused(store: Store) -> None:
    ti = tarfile.TarInfo("x")
    ti.type = tarfile.XHDTYPE
    ti.size = 1 << 40  # declares a 1 TiB PAX header
    raw = ti.tobuf(tarfile.GNU_FORMAT) + b"\0" * 1024
    _refused(store, Layer(gzip.compress(raw), raw, "gzip"), "tar header of 1099511627776 bytes")


def test_non_utf8_names_round_trip(store: Store) -> None:
    name = b"caf\xe9-\xff".decode("utf-8", "surrogateescape")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT, errors="surrogateescape") as tf:
        ti = tarfile.TarInfo(name)
        ti.size = 1
        ti.uid, ti.gid = os.geteuid(), os.getegid()
        tf.addfile(ti, io.BytesIO(b"1"))
    raw = buf.getvalue()
    root = unpack(store, Layer(gzip.compress(raw), raw, "gzip")).path
    assert os.listdir(os.fsencode(root)) == [b"caf\xe9-\xff"]
