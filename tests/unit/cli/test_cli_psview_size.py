"""``ps --size``: Podman's SIZE text and JSON shape (podpy.cli.psview)."""

from __future__ import annotations

from types import SimpleNamespace

from podpy.cli.psview import PsRow, ps_text, size_text


def _rec(**kw):  # type: ignore[no-untyped-def]
    base = dict(id="a" * 64, name="n", image_name="img", image_id="b" * 64, labels={}, pid=0, state="exited",
                exit_code=0, config={"args": ["true"]}, created=0, started_at=0, finished_at=0)  # fmt: skip
    base.update(kw)
    return SimpleNamespace(**base)


def test_size_text() -> None:
    assert size_text((12, 1984346)) == "12B (virtual 1.98MB)"
    assert size_text((5012, 0)) == "5.01kB (virtual 0B)"


def test_row_and_table() -> None:
    row = PsRow(_rec(), False, 0.0, (8, 1984346))
    assert row.Size == "8B (virtual 1.98MB)"
    assert row.to_json()["Size"] == {"rootFsSize": 1984346, "rwSize": 8}
    assert PsRow(_rec(), False, 0.0).to_json()["Size"] is None
    text = ps_text([_rec()], sizes={"a" * 64: (8, 1984346)})
    head, line = text.splitlines()
    assert head.split()[-2:] == ["NAMES", "SIZE"] and line.endswith("n           8B (virtual 1.98MB)")
    assert "SIZE" not in ps_text([_rec()])
