"""--userns=keep-id|nomap|host: the OCI mappings of the container's namespace inside podpy's."""

from __future__ import annotations

import pytest

from podpy.rootless import idmap
from podpy.rootless.subid import IDMapping
from podpy.util.errors import UsageError

# podpy's namespace as seen from inside: 0 -> the user (1001), 1..65536 -> 100000..
NS = [IDMapping(0, 1001, 1), IDMapping(1, 100000, 65536)]
NS_SINGLE = [IDMapping(0, 1001, 1)]
ROOTFUL = [IDMapping(0, 0, 4294967295)]


def m(c: int, h: int, s: int) -> dict[str, int]:
    return {"containerID": c, "hostID": h, "size": s}


def test_keep_id_maps_the_users_uid_to_itself_like_podman() -> None:
    p = idmap.plan("keep-id", NS, NS, 1001, 1002)
    assert p.uid_mappings == [m(0, 1, 1001), m(1001, 0, 1), m(1002, 1002, 64535)]
    assert p.gid_mappings == [m(0, 1, 1002), m(1002, 0, 1), m(1003, 1003, 64534)]
    assert (p.uid, p.gid, p.new_userns, p.mode) == (1001, 1002, True, "keep-id")
    # every ID of podpy's namespace is used exactly once
    assert sum(x["size"] for x in p.uid_mappings) == 65537


def test_keep_id_with_uid_and_gid_options() -> None:
    p = idmap.plan("keep-id:uid=200,gid=210", NS, NS, 1001, 1001)
    assert p.uid_mappings == [m(0, 1, 200), m(200, 0, 1), m(201, 201, 65336)]
    assert (p.uid, p.gid) == (200, 210)


def test_keep_id_uid_above_the_subordinate_range_and_without_ranges() -> None:
    small = [IDMapping(0, 100000, 1), IDMapping(1, 200000, 1000)]
    assert idmap.plan("keep-id", small, small, 100000, 100000).uid_mappings == [
        m(0, 1, 1000),
        m(100000, 0, 1),
    ]
    p = idmap.plan("keep-id", NS_SINGLE, NS_SINGLE, 1001, 1001)
    assert p.uid_mappings == [m(1001, 0, 1)]


def test_nomap_leaves_the_user_out() -> None:
    p = idmap.plan("nomap", NS, NS, 1001, 1001)
    assert p.uid_mappings == p.gid_mappings == [m(0, 1, 65536)]
    assert (p.uid, p.gid) == (None, None)
    with pytest.raises(UsageError, match="needs subordinate ids.*/etc/subuid.*podpy system migrate"):
        idmap.plan("nomap", NS_SINGLE, NS_SINGLE, 1001, 1001)


def test_host_and_default_need_no_new_namespace() -> None:
    for text in ("host", ""):
        p = idmap.plan(text, NS, NS, 1001, 1001)
        assert (p.mode, p.uid_mappings, p.gid_mappings, p.new_userns) == ("host", [], [], False)
    assert not idmap.plan("host", ROOTFUL, ROOTFUL, 0, 0).new_userns


def test_keep_id_and_nomap_need_rootless() -> None:
    for mode in ("keep-id", "nomap"):
        with pytest.raises(UsageError, match="only supported in rootless mode"):
            idmap.plan(mode, ROOTFUL, ROOTFUL, 0, 0)


@pytest.mark.parametrize(
    ("text", "msg"),
    [
        ("auto", "unrecognized namespace mode auto passed"),
        ("keep-id:size=5", "unknown option 'size=5'"),
        ("keep-id:uid=x", "unknown option 'uid=x'"),
        ("nomap:uid=1", "nomap takes no options"),
        ("host:x", "host takes no options"),
    ],
)
def test_bad_modes_are_usage_errors(text: str, msg: str) -> None:
    with pytest.raises(UsageError, match=msg):
        idmap.parse_mode(text)


def test_ns_size_counts_consecutive_ids_from_zero() -> None:
    assert idmap.ns_size(NS) == 65537
    assert idmap.ns_size([IDMapping(1, 5, 10), IDMapping(0, 1, 1)]) == 11
    assert idmap.ns_size([IDMapping(0, 1, 1), IDMapping(5, 100, 10)]) == 1
    assert idmap.ns_size([]) == 0


def test_current_plan_reads_this_process_maps(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "self").mkdir()
    (tmp_path / "self/uid_map").write_text(
        "         0       1001          1\n         1     100000      65536\n"
    )
    (tmp_path / "self/gid_map").write_text("         0       1001          1\n")
    monkeypatch.setattr("podpy.rootless.userns.rootless_uid", lambda: 1001)
    monkeypatch.setattr("podpy.rootless.userns.rootless_gid", lambda: 1001)
    p = idmap.current_plan("keep-id", proc=str(tmp_path))
    assert p.uid_mappings == [m(0, 1, 1001), m(1001, 0, 1), m(1002, 1002, 64535)]
    assert p.gid_mappings == [m(1001, 0, 1)]
