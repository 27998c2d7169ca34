"""``Store`` creates its blob and layer parts on first use; its leftover check knows their dirs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

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


_HEX64 = "0123456789abcdef" * 4
ODD_DIGESTS = [
    "sha256:" + _HEX64,
    "sha512:" + _HEX64 * 2,
    "sha256:" + _HEX64.upper(),
    "sha256:" + _HEX64[:-1],
    "sha256:" + _HEX64 + "\n",  # re's ``$`` lets a trailing newline through: kept as it was
    "sha256:../" + _HEX64[3:],
    "md5:" + _HEX64[:32],
    "sha256:" + _HEX64 + ":x",
    "",
]


def _outcome(fn, arg):  # type: ignore[no-untyped-def]
    try:
        return fn(arg)
    except Exception as e:  # noqa: BLE001 - the exception type is what is compared
        return type(e)


@pytest.mark.parametrize("digest", ODD_DIGESTS)
def test_paths_without_the_parts_agree_with_them(tmp_path: Path, digest: str) -> None:
    """``blob_path``/``layer_dir`` skip BlobStore/LayerStore for plain digests (``run``): same answers."""
    from podpy.store.blobs import BlobStore
    from podpy.store.layers import LayerStore

    s = Store(tmp_path / "st")
    assert _outcome(s.blob_path, digest) == _outcome(BlobStore(s.root).blob_path, digest)
    assert _outcome(s.layer_dir, digest) == _outcome(LayerStore(s.root).layer_dir, digest)


def test_gc_result_is_still_exported(tmp_path: Path) -> None:
    res = Store(tmp_path / "st").gc()
    assert isinstance(res, store_mod.GCResult) and not res.skipped


def test_run_path_imports_only_what_it_uses(tmp_path: Path) -> None:
    """What ``run`` does with the store (look up by name, read the config, list layer dirs, import the
    rootfs code) loads neither the writer parts nor the heavy stdlib modules they need."""
    from tests.unit.store.test_store_images import make_image

    root = tmp_path / "st"
    rec = make_image(Store(root), "localhost/x:latest", "a", "b")
    code = (
        f"import sys; sys.path.insert(0, {str(TREE)!r})\n"
        "from pathlib import Path\nfrom podpy.store.store import Store\nimport podpy.store.rootfs\n"
        f"s = Store(Path({str(root)!r}))\n"
        "r = s.lookup_image('localhost/x:latest'); s.image_config(r); print(s.layer_dirs(r))\n"
        "for m in ('podpy.store.blobs', 'podpy.store.layers', 'podpy.store.session', 'podpy.store.names',\n"
        "          'podpy.store.gcresult', 'podpy.spec.digest', 'threading', 'shutil', 'hashlib'):\n"
        "    if m in sys.modules: print('loaded', m)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "loaded" not in r.stdout, r.stdout
    assert r.stdout.strip() == str([Store(root).layers.layer_dir(layer.diff_id) for layer in rec.layers])
