"""Parsing /etc/subuid-style files and building the namespace's ID maps."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from podpy.rootless.subid import (
    IDMapping,
    IDRange,
    build_id_map,
    format_map,
    newidmap_args,
    parse_proc_map,
    parse_subid,
    ranges_for,
    read_ranges,
    suggest_range,
)

SAMPLE = """\
# subordinate ids
alice:100000:65536

bob:165536:65536
  # indented comment
1001:300000:1000
alice:400000:10
broken line
carol:abc:10
dave:10
eve:500000:0
alice:100000:65536
frank:4294967290:100
"""


def test_parse_skips_comments_blank_and_malformed_lines(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="podpy.rootless.subid"):
        entries = parse_subid(SAMPLE, "/etc/subuid")
    assert entries == [
        ("alice", IDRange(100000, 65536)),
        ("bob", IDRange(165536, 65536)),
        ("1001", IDRange(300000, 1000)),
        ("alice", IDRange(400000, 10)),
        ("alice", IDRange(100000, 65536)),
    ]
    notes = caplog.text
    assert "/etc/subuid:8" in notes and "broken line" in notes
    assert "carol:abc:10" in notes and "dave:10" in notes and "eve:500000:0" in notes
    assert "frank" in notes  # beyond the 32-bit ID space


def test_ranges_by_name_and_by_uid_in_file_order_without_duplicates() -> None:
    entries = parse_subid(SAMPLE)
    assert ranges_for(entries, "alice", 1000) == [IDRange(100000, 65536), IDRange(400000, 10)]
    # a user whose ranges are listed under the numeric uid
    assert ranges_for(entries, "zed", 1001) == [IDRange(300000, 1000)]
    assert ranges_for(entries, "nobody", 4242) == []
    assert ranges_for(entries, None, 1001) == [IDRange(300000, 1000)]


def test_read_ranges_missing_file_means_none(tmp_path: Path) -> None:
    assert read_ranges(tmp_path / "nope", "alice", 1000) == []
    f = tmp_path / "subuid"
    f.write_text(SAMPLE)
    assert read_ranges(f, "bob", 1002) == [IDRange(165536, 65536)]


def test_map_is_own_id_then_ranges_packed_from_one() -> None:
    maps = build_id_map(1000, [IDRange(100000, 65536), IDRange(400000, 10)])
    assert maps == [IDMapping(0, 1000, 1), IDMapping(1, 100000, 65536), IDMapping(65537, 400000, 10)]
    assert format_map(maps) == "0 1000 1\n1 100000 65536\n65537 400000 10\n"
    assert newidmap_args(maps[:2]) == ["0", "1000", "1", "1", "100000", "65536"]


def test_map_without_ranges_is_single() -> None:
    assert build_id_map(1000, []) == [IDMapping(0, 1000, 1)]


def test_range_containing_own_uid_is_split_around_it() -> None:
    maps = build_id_map(1005, [IDRange(1000, 10)])
    assert maps == [IDMapping(0, 1005, 1), IDMapping(1, 1000, 5), IDMapping(6, 1006, 4)]


def test_overlapping_ranges_are_not_mapped_twice() -> None:
    maps = build_id_map(1000, [IDRange(100000, 100), IDRange(100050, 100), IDRange(200000, 5)])
    assert maps == [IDMapping(0, 1000, 1), IDMapping(1, 100000, 100), IDMapping(101, 200000, 5)]


def test_at_most_340_map_lines() -> None:
    ranges = [IDRange(100000 + 10 * i, 5) for i in range(400)]
    maps = build_id_map(1000, ranges)
    assert len(maps) == 340
    assert maps[-1] == IDMapping(1 + 5 * 338, 100000 + 10 * 338, 5)


def test_parse_proc_map_reads_kernel_columns() -> None:
    text = "         0       1001          1\n         1     100000      65536\n"
    assert parse_proc_map(text) == [IDMapping(0, 1001, 1), IDMapping(1, 100000, 65536)]


def test_suggest_range_starts_after_every_existing_range() -> None:
    assert suggest_range([]) == IDRange(100000, 65536)
    assert suggest_range(["a:100000:65536\nb:165536:65536\n", "c:100000:70000\n"]) == IDRange(231072, 65536)
