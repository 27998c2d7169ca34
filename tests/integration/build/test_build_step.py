"""engine.build_step as the user: a RUN in a working overlay becomes a layer holding only its changes."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from tests.conftest import TREE

pytestmark = [pytest.mark.rootless, pytest.mark.registry]

SCRIPT = r"""
import json, sys, tarfile
from pathlib import Path
from podpy.engine import build_step as eng, images
from podpy.spec.container import Mount
from podpy.util.paths import Paths

root, runroot, ref, src = sys.argv[1:5]
paths = Paths(Path(root), Path(runroot))
store = eng.open_store(paths)
rec = images.lookup(store, ref)
layers = [la.diff_id for la in rec.layers]
cfg = store.image_config(rec)["config"]
with eng.WorkRoot(paths, layers) as wr:
    code = wr.run(["/bin/sh", "-c", "echo new > /etc/new && rm /etc/os-release && mkdir -p /w && cat /m/in > /w/copy"],
                  image_cfg=cfg, env={"PATH": "/bin"}, user="", workdir="/w", network="none",
                  mounts=[Mount("bind", "/m", src, ("bind", "ro", "rprivate"))], quiet=True)
    layer = wr.commit_layer()
with tarfile.open(store.blob_path(layer.diff_id)) as tf:
    members = sorted(m.name for m in tf.getmembers())
    copy = tf.extractfile("w/copy").read().decode()
image = eng.commit_image(paths, [*rec.layers, layer], {**store.image_config(rec), "rootfs": {
    "type": "layers", "diff_ids": [*layers, layer.diff_id]}})
print(json.dumps({"code": code, "members": members, "copy": copy,
                  "exists": [eng.exists_in_layers(paths, [*layers, layer.diff_id], p)
                             for p in ("/etc/new", "/etc/os-release", "/w", "/m", "/etc/passwd")],
                  "left": sorted(p.name for p in (Path(root) / "build-work").iterdir()),
                  "image": image}))
"""


def test_run_layer_holds_only_the_changes(
    user_paths: Any, podpy_cli: Any, testenv: dict[str, Any], tmp_path: Any
) -> None:
    ref = testenv["images"]["busybox"]["ref"]
    assert podpy_cli("pull", "-q", "--tls-verify=false", ref).returncode == 0
    src = tmp_path / "src"
    src.mkdir()
    (src / "in").write_text("from the host\n")
    p = subprocess.run([sys.executable, "-c", SCRIPT, str(user_paths.root), str(user_paths.runroot), ref, str(src)],
                       capture_output=True, text=True, cwd=TREE, check=False)  # fmt: skip
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["code"] == 0 and out["copy"] == "from the host\n"
    # the new file, the whiteout and the new dir: not /etc/hosts, resolv.conf, hostname or the /m mount point
    assert out["members"] == ["etc", "etc/.wh.os-release", "etc/new", "w", "w/copy"]
    assert out["exists"] == [True, False, True, False, True]
    assert out["left"] == []  # the working dir is gone
    run = podpy_cli("run", "--rm", out["image"], "cat", "/etc/new", "/w/copy")
    assert run.stdout == "new\nfrom the host\n", run.stderr
