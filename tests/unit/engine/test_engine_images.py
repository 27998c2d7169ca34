"""Engine image operations on a real store filled with synthetic images."""

from __future__ import annotations

import pytest

from podpy.engine import images as eng
from podpy.util.errors import ImageNotKnown, NotFoundError, UsageError
from podpy.util.paths import Paths

from .conftest import MakeImage


def test_normalize_local_name() -> None:
    assert eng.normalize_local_name("foo") == "localhost/foo:latest"
    assert eng.normalize_local_name("foo/bar:x") == "localhost/foo/bar:x"
    assert eng.normalize_local_name("quay.io/a/b") == "quay.io/a/b:latest"
    assert eng.normalize_local_name("docker.io/busybox:1") == "docker.io/library/busybox:1"
    with pytest.raises(UsageError):
        eng.normalize_local_name("Foo")


def test_list_filters(paths: Paths, make_image: MakeImage) -> None:
    a = make_image(
        ["127.0.0.1:5000/busybox:latest"], labels={"podpy.test": "a"}, created="2023-01-01T00:00:00Z"
    )
    b = make_image(
        ["127.0.0.1:5000/layered:v2s2"], layers=[{"x": b"1"}, {"y": b"2"}], labels={"podpy.test": "b"}
    )
    d = make_image([], layers=[{"z": b"dangling"}], created="2022-01-01T00:00:00Z")

    def ids(*f: str) -> list[str]:
        return [s.id for s in eng.list_images(paths, list(f))]

    assert ids() == [b, a, d] or set(ids()) == {a, b, d}
    assert ids("reference=busybox") == [a]
    assert ids("reference=lay*") == [b]
    assert ids("reference=127.0.0.1:5000/busybox:latest") == [a]
    assert ids("reference=*/busybox") == [a]
    assert ids("reference=busybox", "reference=layered") == sorted([a, b], key=ids().index)
    assert ids("dangling=true") == [d]
    assert set(ids("dangling=false")) == {a, b}
    assert ids("label=podpy.test=b") == [b]
    assert set(ids("label=podpy.test")) == {a, b}
    assert ids("before=127.0.0.1:5000/busybox") == [d]
    assert ids("since=127.0.0.1:5000/busybox") == [b]
    assert ids(f"id={a[:5]}") == [a]
    with pytest.raises(UsageError, match='unsupported image filter "bogus"'):
        ids("bogus=1")


def test_summary_json_shape(paths: Paths, make_image: MakeImage) -> None:
    make_image(["localhost/test:1"], labels={"a": "b"})
    (s,) = eng.list_images(paths)
    j = s.to_json()
    assert list(j) == [
        "Id", "ParentId", "RepoTags", "RepoDigests", "Size", "SharedSize", "VirtualSize", "Labels",
        "Containers", "Names", "Digest", "History", "Created", "CreatedAt",
    ]  # fmt: skip
    assert j["RepoTags"] is None and j["Names"] == ["localhost/test:1"]
    assert j["RepoDigests"] == [f"localhost/test@{s.digest}"]
    assert j["CreatedAt"] == "2023-11-14T22:13:20Z" and j["Created"] == 1699999999 + 1


def test_inspect_shape(paths: Paths, make_image: MakeImage) -> None:
    iid = make_image(
        ["localhost/test:1"], layers=[{"a": b"1"}, {"b": b"2"}], extra_config={"User": "1000", "Env": ["A=1"]}
    )
    doc = eng.inspect_image(paths, "test:1")
    assert list(doc)[:12] == [
        "Id", "Digest", "RepoTags", "RepoDigests", "Parent", "Comment", "Created", "Config", "Version",
        "Author", "Architecture", "Os",
    ]  # fmt: skip
    assert list(doc)[12:] == [
        "Size", "VirtualSize", "GraphDriver", "RootFS", "Labels", "Annotations", "ManifestType", "User",
        "History", "NamesHistory",
    ]  # fmt: skip
    assert doc["Id"] == iid
    assert list(doc["Config"]) == ["User", "Env", "Cmd"]
    assert doc["RootFS"]["Type"] == "layers" and len(doc["RootFS"]["Layers"]) == 2
    assert doc["GraphDriver"]["Name"] == "overlay"
    assert doc["GraphDriver"]["Data"]["LowerDir"].endswith("/diff")
    assert doc["User"] == "1000" and doc["Labels"] is None and doc["Annotations"] == {}
    with pytest.raises(ImageNotKnown):
        eng.inspect_image(paths, "nope")


def test_history_rows(paths: Paths, make_image: MakeImage) -> None:
    base = make_image(["localhost/base:1"], layers=[{"a": b"1"}])
    hist = [
        {"created": "2023-11-14T22:13:20Z", "created_by": "ADD a"},
        {"created": "2023-11-14T22:13:20Z", "created_by": "ENV x", "empty_layer": True},
        {"created": "2023-11-14T22:13:20Z", "created_by": "ADD b", "comment": "c"},
        {"created": "2023-11-14T22:13:20Z", "created_by": "CMD", "empty_layer": True},
    ]
    top = make_image(["localhost/top:1"], layers=[{"a": b"1"}, {"b": b"22"}], history=hist)
    rows = eng.history(paths, "top:1")
    assert [r.created_by for r in rows] == ["CMD", "ADD b", "ENV x", "ADD a"]
    # as podman: the base image ID lands on the first row (newest first) whose layer is its top layer
    assert [r.id for r in rows] == [top, "<missing>", base, "<missing>"]
    assert rows[0].size == 0 and rows[1].size > 0 and rows[2].size == 0 and rows[3].size > 0
    assert rows[1].comment == "c"


def test_tag_untag_exists(paths: Paths, make_image: MakeImage) -> None:
    iid = make_image(["localhost/test:1"])
    eng.tag(paths, "test:1", ["foo", "quay.io/x/y:2"])
    (s,) = eng.list_images(paths)
    assert s.names == ["localhost/test:1", "localhost/foo:latest", "quay.io/x/y:2"]
    assert eng.exists(paths, "foo") and eng.exists(paths, iid[:6]) and not eng.exists(paths, "nope")
    assert eng.untag(paths, iid, ["foo"]) == ["localhost/foo:latest"]
    with pytest.raises(NotFoundError, match="tag not known"):
        eng.untag(paths, iid, ["foo"])
    assert eng.untag(paths, iid) == ["localhost/test:1", "quay.io/x/y:2"]
    (s,) = eng.list_images(paths)
    assert s.dangling


def test_remove_and_prune(paths: Paths, make_image: MakeImage) -> None:
    a = make_image(["localhost/a:1", "localhost/b:1"], layers=[{"a": b"shared"}])
    rep = eng.remove(paths, [a])
    assert rep.errors and "by ID with more than one tag" in rep.errors[0].message
    rep = eng.remove(paths, ["a:1"])
    assert rep.untagged == ["localhost/a:1"] and rep.deleted == []
    rep = eng.remove(paths, ["b:1", "nope"])
    assert rep.untagged == ["localhost/b:1"] and rep.deleted == [a]
    assert rep.exit_code == eng.EXIT_NO_SUCH_IMAGE
    d = make_image([], layers=[{"d": b"dangling"}])
    keep = make_image(["localhost/keep:1"], layers=[{"k": b"keep"}])
    assert eng.prune(paths) == [d]
    assert eng.prune(paths, all_=True) == [keep]
    assert eng.list_images(paths) == []
    from podpy.store.store import Store

    st = Store(paths.storage)
    assert st.blobs.list_blobs() == [] and st.layers.list_layers() == []


def test_image_in_use_needs_force(paths: Paths, make_image: MakeImage) -> None:
    from podpy.store.store import Store

    iid = make_image(["localhost/used:1"])
    Store(paths.storage).add_image_user(iid, "c" * 64)
    rep = eng.remove(paths, ["used:1"])
    assert rep.exit_code == eng.EXIT_IMAGE_IN_USE and "in use by a container" in rep.errors[0].message
    assert eng.prune(paths, all_=True) == []  # prune never removes images in use
    rep = eng.remove(paths, ["used:1"], force=True)
    assert rep.deleted == [iid] and not rep.errors


@pytest.mark.parametrize(
    ("name", "repo", "tag"),
    [
        ("127.0.0.1:5000/busybox:latest", "127.0.0.1:5000/busybox", "latest"),
        ("docker.io/library/busybox:1.36", "docker.io/library/busybox", "1.36"),
        ("localhost/a/b:x", "localhost/a/b", "x"),
        ("quay.io/a/b@sha256:" + "a" * 64, "quay.io/a/b", "<none>"),
    ],
)
def test_repo_tag_display(name: str, repo: str, tag: str) -> None:
    assert eng.repo_tag(name) == (repo, tag)
    assert eng.repo_of(name) == repo


def test_rows_one_per_tag_and_none_for_digest_only(paths: Paths, make_image: MakeImage) -> None:
    from podpy.cli.output import image_rows

    make_image(["quay.io/a/b@sha256:" + "b" * 64], layers=[{"q": b"1"}])
    make_image(["localhost/x:1", "localhost/y:2", "quay.io/z@sha256:" + "c" * 64], layers=[{"r": b"2"}])
    rows = image_rows(eng.list_images(paths), no_trunc=False)
    got = sorted((r.Repository, r.Tag) for r in rows)
    assert got == [("localhost/x", "1"), ("localhost/y", "2"), ("quay.io/a/b", "<none>")]
