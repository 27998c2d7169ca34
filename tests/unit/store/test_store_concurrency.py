"""Many podpy processes using one store at once: no 'database is locked', no lost or half records."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from podpy.store import Store

WORKER = r"""
import json, sys
from pathlib import Path
from podpy.store import Store, LayerRecord
root, n = Path(sys.argv[1]), int(sys.argv[2])
s = Store(root)
for i in range(15):
    cfg = s.put_blob_bytes(json.dumps({"worker": n, "i": i}).encode())
    rec = s.add_image(config_digest=cfg, manifest_digest=cfg, manifest_media_type="x", layers=[],
                      names=[f"localhost/w{n}:{i}", "localhost/shared:latest"])
    s.tag_image(rec.id, f"localhost/moving:{i % 3}")
    s.lookup_image("shared")
    s.list_images()
print("ok")
"""


def test_parallel_processes_add_and_tag(tmp_path: Path) -> None:
    root = tmp_path / "storage"
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(root), str(n)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for n in range(8)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1].decode()[-800:] for o in outs]
    s = Store(root)
    recs = s.list_images()
    assert len(recs) == 8 * 15
    names = [n for r in recs for n in r.names]
    assert len(names) == len(set(names))  # every name on exactly one image
    assert "localhost/shared:latest" in names and sum(n.startswith("localhost/moving:") for n in names) == 3
    assert all(f"localhost/w{n}:{i}" in names for n in range(8) for i in range(15))
