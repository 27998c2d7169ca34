"""``Store`` creates its blob and layer parts on first use; its leftover check knows their dirs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from podpy.store import store as store_mod
from podpy.store.store import Store

TREE = Path(__file__).resolve().parents[3]


def test_leftover_dirs_match_the_parts(tmp_path: Path) -> None:
    s = Store(tmp_path / "st")
    assert s.blobs.tmp == s.root / store_mod.BLOB_TMP_DIR
    assert s.layers.dir == s.root / store_mod.LAYER_DIR
    assert Store(tmp_path / "st2", max_unpacked=5).layers.max_unpacked == 5
    assert store_mod.LayerInfo.__name__ == "LayerInfo"  # still re-exported


def test_leftovers_are_cleaned_without_touching_blobs_first(tmp_path: Path) -> None:
    s = Store(tmp_path / "st")
    tmp = s.blobs.new_temp()
    tmp.write_bytes(b"partial")
    (s.root / store_mod.LAYER_DIR / ".tmp-x").mkdir(parents=True)
    Store(tmp_path / "st")  # a new Store (no writer active) removes both
    assert not tmp.exists() and not (s.root / store_mod.LAYER_DIR / ".tmp-x").exists()


def test_lookup_imports_no_blob_code(tmp_path: Path) -> None:
    code = (
        f"import sys; sys.path.insert(0, {str(TREE)!r})\n"
        "from pathlib import Path\nfrom podpy.store.store import Store\n"
        f"s = Store(Path({str(tmp_path / 'st')!r}))\n"
        "print('podpy.store.blobs' in sys.modules, 'hashlib' in sys.modules)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[0] == "False"
