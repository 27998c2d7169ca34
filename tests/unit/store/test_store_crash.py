"""kill -9 of a writer at random instants: the store lists no partial image and the next run repairs it."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from podpy.store import Store
from tests.unit.store.layerkit import entry, layer

PULL = r"""
import json, sys, time
from pathlib import Path
from podpy.store import Store, LayerRecord
root, spec = Path(sys.argv[1]), json.loads(Path(sys.argv[2]).read_text())
s = Store(root)
with s.session():
    recs = []
    for lay in spec["layers"]:
        src = Path(lay["file"])
        if not s.has_blob(lay["digest"]):
            tmp = s.new_temp()
            with open(tmp, "wb") as f:            # a slow "download"
                data = src.read_bytes()
                for i in range(0, len(data), 65536):
                    f.write(data[i:i + 65536])
            s.commit_blob(tmp, lay["digest"], len(data))
        s.unpack_layer(s.blob_path(lay["digest"]), lay["media_type"], lay["diff_id"])
        recs.append(LayerRecord(lay["digest"], lay["diff_id"], lay["media_type"], lay["size"]))
    cfg = s.put_blob_bytes(spec["config"].encode())
    man = s.put_blob_bytes(spec["manifest"].encode())
    s.add_image(config_digest=cfg, manifest_digest=man, manifest_media_type="application/vnd.oci.image.manifest.v1+json",
                layers=recs, names=["localhost/crash:latest"])
print("done")
"""


def _spec(tmp_path: Path) -> Path:
    layers = []
    for n in range(3):
        lay = layer(*[entry(f"l{n}/d{i}/f{j}", data=os.urandom(3000)) for i in range(20) for j in range(20)])
        f = tmp_path / f"layer{n}"
        f.write_bytes(lay.blob)
        layers.append(
            {
                "file": str(f),
                "digest": lay.digest,
                "diff_id": lay.diff_id,
                "media_type": lay.media_type,
                "size": len(lay.blob),
            }
        )
    config = json.dumps({"rootfs": {"type": "layers", "diff_ids": [x["diff_id"] for x in layers]}})
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"layers": layers, "config": config, "manifest": json.dumps({"c": config})}))
    return spec


def _check_consistent(root: Path) -> None:
    s = Store(root)  # opening cleans leftovers of the killed writer
    assert not list((root / "tmp").glob("*")) if (root / "tmp").exists() else True
    overlay = root / "overlay"
    if overlay.exists():
        assert not [p for p in overlay.iterdir() if p.name.startswith(".tmp-")]
        for p in overlay.iterdir():  # every layer dir that exists is complete
            assert (p / "layer.json").is_file() and (p / "diff").is_dir()
    for rec in s.list_images():  # any listed image is whole
        assert s.has_blob(rec.config_digest) and s.has_blob(rec.manifest_digest)
        for lay in rec.layers:
            assert s.has_blob(lay.digest) and s.has_layer(lay.diff_id)


def test_kill_9_at_random_moments_then_pull_succeeds(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    root = tmp_path / "storage"
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    args = [sys.executable, "-c", PULL, str(root), str(spec)]
    # How long a full run takes, to spread the kills over it.
    t0 = time.monotonic()
    subprocess.run(args, env=env, check=True, capture_output=True, cwd=os.getcwd())
    full = time.monotonic() - t0
    Store(root).remove_image(_only_id(root))  # start again from an empty store
    rng = random.Random(1234)
    for _ in range(6):
        p = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(rng.uniform(0.05, full))
        p.send_signal(signal.SIGKILL)
        p.communicate()
        _check_consistent(root)
    out = subprocess.run(args, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    _check_consistent(root)
    s = Store(root)
    rec = s.lookup_image("crash")
    assert len(rec.layers) == 3
    assert len(list((root / "overlay").iterdir())) == 3


def _only_id(root: Path) -> str:
    (rec,) = Store(root).list_images()
    return rec.id
