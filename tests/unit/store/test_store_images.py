"""Image records: add, look up like podman, tag/untag, remove, gc, leftovers."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from podpy.spec import mediatypes as mt
from podpy.store import ImageRecord, LayerRecord, Store
from podpy.util.errors import ConflictError, ImageNotKnown, StoreError
from tests.unit.store.layerkit import entry, layer, unpack


def make_image(store: Store, tag: str | None, *files: str, seed: str = "") -> ImageRecord:
    """A complete image: layers unpacked, config + manifest blobs, record added."""
    layers = [layer(entry(f, data=(f + seed).encode())) for f in files]
    for lay in layers:
        unpack(store, lay)
    config = {
        "created": "2024-05-06T07:08:09Z",
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [lay.diff_id for lay in layers]},
        "seed": seed,
    }
    cfg = store.put_blob_bytes(json.dumps(config).encode())
    manifest = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {"mediaType": mt.OCI_CONFIG, "digest": cfg},
        "layers": [
            {"mediaType": lay.media_type, "digest": lay.digest, "size": len(lay.blob)} for lay in layers
        ],
    }
    man = store.put_blob_bytes(json.dumps(manifest).encode())
    repo = tag.rsplit(":", 1)[0] if tag else None
    return store.add_image(
        config_digest=cfg,
        manifest_digest=man,
        manifest_media_type=mt.OCI_MANIFEST,
        layers=[LayerRecord(lay.digest, lay.diff_id, lay.media_type, len(lay.blob)) for lay in layers],
        names=[tag] if tag else [],
        repo_digests=[f"{repo}@{man}"] if repo else [],
    )


def test_add_and_get(store: Store) -> None:
    rec = make_image(store, "docker.io/library/busybox:latest", "a", "b")
    assert rec.id == rec.config_digest.split(":")[1] and len(rec.id) == 64
    assert rec.names == ("docker.io/library/busybox:latest",)
    assert rec.repo_digests == (f"docker.io/library/busybox@{rec.manifest_digest}",)
    assert rec.created == "2024-05-06T07:08:09Z"
    assert len(rec.layers) == 2 and all(layer.unpacked_size > 0 for layer in rec.layers)
    assert rec.size == sum(layer.unpacked_size for layer in rec.layers)
    assert store.get_image(rec.id) == rec == store.get_image("sha256:" + rec.id)
    assert [r.id for r in store.list_images()] == [rec.id]
    assert store.image_config(rec)["seed"] == ""
    assert store.layer_dirs(rec)[0].joinpath("a").read_bytes() == b"a"
    # a second Store object (another process) sees the same
    assert Store(store.root).get_image(rec.id) == rec


def test_add_image_refuses_missing_blobs_or_layers(store: Store) -> None:
    cfg = store.put_blob_bytes(b"{}")
    lay = layer(entry("f", data=b"1"))
    with pytest.raises(StoreError, match="missing from the store"):
        store.add_image(
            config_digest=cfg,
            manifest_digest=cfg,
            manifest_media_type=mt.OCI_MANIFEST,
            layers=[LayerRecord(lay.digest, lay.diff_id, lay.media_type, len(lay.blob))],
            names=["localhost/x:latest"],
        )
    assert store.list_images() == []
    with pytest.raises(ImageNotKnown):
        store.lookup_image("localhost/x")


@pytest.mark.parametrize(
    "typed",
    [
        "docker.io/library/busybox:latest",
        "docker.io/library/busybox",
        "busybox",
        "busybox:latest",
        "library/busybox",
        "docker.io/busybox",
    ],
)
def test_lookup_by_name(store: Store, typed: str) -> None:
    rec = make_image(store, "docker.io/library/busybox:latest", "a")
    make_image(store, "quay.io/other/thing:1.0", "b")
    if typed == "docker.io/busybox":
        with pytest.raises(ImageNotKnown, match="docker.io/busybox: image not known"):
            store.lookup_image(typed)
    else:
        assert store.lookup_image(typed).id == rec.id


def test_lookup_short_names_and_ids(store: Store) -> None:
    bb = make_image(store, "docker.io/library/busybox:latest", "a")
    loc = make_image(store, "localhost/busybox:latest", "b")
    quay = make_image(store, "quay.io/team/tool:2", "c")
    assert store.lookup_image("busybox").id == loc.id  # localhost/ wins, as in podman
    assert store.lookup_image("tool:2").id == quay.id
    assert store.lookup_image("team/tool:2").id == quay.id
    with pytest.raises(ImageNotKnown):
        store.lookup_image("tool")  # :latest is implied
    for i in (bb, loc, quay):
        assert store.lookup_image(i.id).id == i.id
        assert store.lookup_image(i.id[:12]).id == i.id
        assert store.lookup_image("sha256:" + i.id).id == i.id
    # digests
    assert store.lookup_image(bb.repo_digests[0]).id == bb.id
    assert store.lookup_image("busybox@" + bb.manifest_digest).id == bb.id
    with pytest.raises(ImageNotKnown):
        store.lookup_image("nothere")
    with pytest.raises(ImageNotKnown):
        store.lookup_image("ab")  # too short to be an ID prefix


def test_ambiguous_id_prefix(store: Store) -> None:
    recs = [make_image(store, None, "f", seed=str(i)) for i in range(40)]
    by_first = {}
    for r in recs:
        by_first.setdefault(r.id[0], []).append(r)
    dup = next(v for v in by_first.values() if len(v) > 1)
    common = os.path.commonprefix([dup[0].id, dup[1].id])
    if len(common) >= 3:
        with pytest.raises(ConflictError, match="ambiguous"):
            store.lookup_image(common)
    with pytest.raises(ImageNotKnown):
        store.lookup_image(dup[0].id[0])  # 1 char is never an ID prefix


def test_tag_moves_names_and_untag(store: Store) -> None:
    a = make_image(store, "localhost/app:1", "a")
    b = make_image(store, "localhost/app:2", "b")
    store.tag_image(a.id, "localhost/app:latest")
    assert store.lookup_image("app").id == a.id
    store.tag_image(b.id, "localhost/app:latest")  # moves
    assert store.lookup_image("app").id == b.id
    assert store.get_image(a.id).names == ("localhost/app:1",)
    assert set(store.get_image(b.id).names) == {"localhost/app:2", "localhost/app:latest"}
    store.untag_image(b.id, "localhost/app:latest")
    with pytest.raises(ImageNotKnown):
        store.lookup_image("app")
    with pytest.raises(ImageNotKnown):
        store.untag_image(b.id, "localhost/app:latest")
    with pytest.raises(ImageNotKnown):
        store.tag_image("f" * 64, "localhost/x:1")


def test_readding_an_image_moves_names(store: Store) -> None:
    old = make_image(store, "localhost/app:latest", "a", seed="1")
    new = make_image(store, "localhost/app:latest", "a", seed="2")
    assert store.lookup_image("localhost/app").id == new.id
    assert store.get_image(old.id).names == ()  # dangling, like podman's <none>
    again = make_image(store, "localhost/app:v2", "a", seed="2")
    assert again.id == new.id and set(again.names) == {"localhost/app:latest", "localhost/app:v2"}


def test_shared_layers_are_stored_once_and_survive_removal_of_one_image(store: Store) -> None:
    a = make_image(store, "localhost/a:latest", "base", "a")
    b = make_image(store, "localhost/b:latest", "base", "b")
    assert a.layers[0] == b.layers[0]
    assert len(os.listdir(store.root / "overlay")) == 3
    store.remove_image(a.id)
    with pytest.raises(ImageNotKnown):
        store.get_image(a.id)
    left = sorted(os.listdir(store.root / "overlay"))
    assert left == sorted(layer.diff_id.split(":")[1] for layer in b.layers)
    assert store.has_blob(b.layers[0].digest) and not store.has_blob(a.layers[1].digest)
    assert not store.has_blob(a.config_digest) and not store.has_blob(a.manifest_digest)
    store.remove_image(b.id)
    assert os.listdir(store.root / "overlay") == []
    assert os.listdir(store.root / "blobs" / "sha256") == []


def test_images_in_use_need_force(store: Store) -> None:
    a = make_image(store, "localhost/a:latest", "a")
    store.add_image_user(a.id, "c0ffee" * 10 + "abcd")
    assert store.get_image(a.id).users == ("c0ffee" * 10 + "abcd",)
    with pytest.raises(ConflictError, match="in use by 1 container"):
        store.remove_image(a.id)
    store.remove_image_user(a.id, "c0ffee" * 10 + "abcd")
    store.remove_image(a.id)
    b = make_image(store, "localhost/b:latest", "b")
    store.add_image_user(b.id, "x")
    store.remove_image(b.id, force=True)
    assert store.list_images() == []


def test_gc_removes_unreferenced_data_and_leftovers(store: Store) -> None:
    keep = make_image(store, "localhost/keep:latest", "k")
    orphan = layer(entry("orphan", data=b"o"))
    unpack(store, orphan)  # committed and unpacked, but never recorded (a pull killed before add_image)
    tmp = store.new_temp()
    tmp.write_bytes(b"partial download")
    half = store.root / "overlay" / ".tmp-deadbeef-1-abcd"
    (half / "diff" / "usr").mkdir(parents=True)
    res = store.gc()
    assert not res.skipped and res.temps == 2
    assert orphan.digest in res.blobs and orphan.diff_id in res.layers
    assert not tmp.exists() and not half.exists()
    assert store.has_layer(keep.layers[0].diff_id) and store.has_blob(keep.config_digest)


def test_gc_and_cleanup_leave_an_active_writer_alone(store: Store, tmp_path: Path) -> None:
    """While another process holds a session (a pull in progress) its temp files survive."""
    import subprocess
    import sys

    code = (
        "import sys, time; from pathlib import Path; from podpy.store import Store;"
        "s = Store(Path(sys.argv[1]));\n"
        "with s.session():\n"
        "    t = s.new_temp(); t.write_bytes(b'downloading'); print(t, flush=True); time.sleep(30)\n"
    )
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    p = subprocess.Popen([sys.executable, "-c", code, str(store.root)], stdout=subprocess.PIPE, env=env)
    try:
        assert p.stdout is not None
        tmp = Path(p.stdout.readline().decode().strip())
        assert tmp.exists()
        assert Store(store.root).gc(wait=0.2).skipped
        assert Store(store.root).clean_leftovers() == 0
        assert tmp.exists()
    finally:
        p.kill()
        p.wait()
    # the writer is gone (killed): the next open cleans its leftovers
    Store(store.root)
    assert not tmp.exists()


def test_leftovers_are_cleaned_on_open(tmp_path: Path) -> None:
    s = Store(tmp_path / "st")
    tmp = s.new_temp()
    tmp.write_bytes(b"x")
    (s.root / "overlay" / ".tmp-0123-9-ff" / "diff").mkdir(parents=True)
    s2 = Store(tmp_path / "st")
    assert not tmp.exists() and os.listdir(s2.root / "overlay") == []


def _add(store: Store, *layers_, name: str = "localhost/evil:latest") -> ImageRecord:  # type: ignore[no-untyped-def]
    for lay in layers_:
        unpack(store, lay)
    cfg = store.put_blob_bytes(json.dumps({"rootfs": {"diff_ids": [x.diff_id for x in layers_]}}).encode())
    return store.add_image(
        config_digest=cfg,
        manifest_digest=cfg,
        manifest_media_type=mt.OCI_MANIFEST,
        layers=[LayerRecord(x.digest, x.diff_id, x.media_type, len(x.blob)) for x in layers_],
        names=[name],
    )


def test_layer_writing_through_a_lower_layers_symlink_is_refused(store: Store) -> None:
    lower = layer(entry("data", "dir"), entry("data/link", "symlink", link="../../../../../../tmp"))
    upper = layer(entry("data/link/pwned.txt", data=b"x"))
    from podpy.util.errors import InvalidInput

    with pytest.raises(InvalidInput, match="writes below 'data/link', a symlink planted by the lower layer"):
        _add(store, lower, upper)
    assert store.list_images() == []
    with pytest.raises(InvalidInput):
        store.check_layer_stack([lower.diff_id, upper.diff_id])


def test_legitimate_stacks_pass_the_symlink_check(store: Store) -> None:
    base = layer(
        entry("lib", "symlink", link="usr/lib"),
        entry("usr/lib/a", data=b"a"),
        entry("x", "symlink", link="/"),
    )
    replaced = layer(entry("lib", "dir"), entry("lib/b", data=b"b"))  # an explicit dir replaces the link
    whited = layer(entry(".wh.x"))
    after = layer(entry("x/file", data=b"f"))  # x was whited out first: no symlink there any more
    plain = layer(entry("usr/lib/c", data=b"c"))
    rec = _add(store, base, replaced, whited, after, plain, name="localhost/ok:latest")
    assert len(rec.layers) == 5
    # the same upper layer right on top of base would write through x
    from podpy.util.errors import InvalidInput

    with pytest.raises(InvalidInput, match="'x'"):
        store.check_layer_stack([base.diff_id, after.diff_id])
