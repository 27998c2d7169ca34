"""`podpy load` of hostile archives, and `kill -9` of `podpy load`: the layers inside an archive are as
untrusted as a registry's, and a load killed at any moment leaves no partial image behind.

Each archive is a complete, well-formed docker-archive or oci-archive around one bad layer, so a
loader that skipped the layer checks would succeed and the test would fail.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

from tests.system.badinput import storecheck
from tests.system.badinput.conftest import assert_names, error_line
from tests.system.badinput.fakereg import make_config, sha256, tar_of
from tests.system.badinput.test_badinput_crash import kill_at_random

ESCAPE = r"\.\.|escap|outside|unsafe"


def _layer(kind: str) -> bytes:
    """An uncompressed layer tar with one attack (names follow env.json's evil images)."""
    entries: list[tuple[str, str, bytes | str]] = [("dir", "data", b""), ("file", "data/ok.txt", b"fine\n")]
    entries += {
        "dotdot": [("file", "data/../../escape.txt", b"escaped\n")],
        "absolute": [("file", "/abs-escape.txt", b"escaped\n")],
        "symlink": [("symlink", "data/link", "/tmp"), ("file", "data/link/pwned.txt", b"pwned\n")],
        "hardlink": [("hardlink", "data/hl", "../etc/passwd")],
    }.get(kind, [])
    return tar_of(entries)


def _docker_archive(layer: bytes, tag: str) -> bytes:
    config = make_config([sha256(layer)])
    cfg_name, layer_name = sha256(config)[7:] + ".json", sha256(layer)[7:] + ".tar"
    manifest = [{"Config": cfg_name, "RepoTags": [tag], "Layers": [layer_name]}]
    docs = [(layer_name, layer), (cfg_name, config), ("manifest.json", json.dumps(manifest).encode())]
    return tar_of([("file", name, data) for name, data in docs])


def _oci_archive(layer: bytes, tag: str) -> bytes:
    config = make_config([sha256(layer)])
    gz = gzip.compress(layer, mtime=0)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": sha256(config),
                "size": len(config),
            },
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": sha256(gz),
                    "size": len(gz),
                }
            ],
        }
    ).encode()
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": sha256(manifest),
                "size": len(manifest),
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }
        ],
    }
    return tar_of(
        [
            ("file", "oci-layout", b'{"imageLayoutVersion":"1.0.0"}'),
            ("file", "index.json", json.dumps(index).encode()),
            ("dir", "blobs", b""),
            ("dir", "blobs/sha256", b""),
            *(("file", f"blobs/sha256/{sha256(d)[7:]}", d) for d in (config, gz, manifest)),
        ]
    )


ATTACKS: dict[str, tuple[str, ...]] = {
    "dotdot": (r"escape\.txt", ESCAPE),
    "absolute": (r"abs-escape\.txt", r"absolute|" + ESCAPE),
    "symlink": (r"pwned\.txt|data/link", r"symlink"),
    "hardlink": (r"hard ?link", r"etc/passwd|data/hl"),
}


@pytest.mark.parametrize("fmt", ["docker-archive", "oci-archive"])
@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_hostile_layer_in_archive_refused(
    attack: str, fmt: str, podpy_cli: Any, podpy_root: Any, tmp_path: Path
) -> None:
    """`podpy load` unpacks an archive's layers with the same checks as a pull: refused, nothing stored."""
    tag = f"localhost/evil-{attack}:latest"
    build = _docker_archive if fmt == "docker-archive" else _oci_archive
    archive = tmp_path / f"{attack}.tar"
    archive.write_bytes(build(_layer(attack), tag))
    # the archive itself is well-formed (only the layer inside is hostile): skopeo reads it
    peer = subprocess.run(
        ["skopeo", "inspect", f"{fmt}:{archive}"], capture_output=True, text=True, timeout=60
    )
    assert peer.returncode == 0, f"skopeo cannot read the test's {fmt}: {peer.stderr}"
    storecheck.list_images(podpy_cli)
    before = storecheck.take(podpy_root.root, podpy_cli)
    proc = podpy_cli("load", "-i", archive)
    what = f"podpy load -i {fmt} with a {attack} layer"
    line = error_line(proc, what)
    assert_names(line, ATTACKS[attack], what)
    storecheck.assert_unchanged(before, podpy_cli, what)
    print(f"\n{what}\n  -> {line}")


def test_hostile_layer_control_loads(podpy_cli: Any, tmp_path: Path) -> None:
    """The same archive with a harmless layer loads: the refusals above are about the attack, not the archive."""
    for build, fmt in ((_docker_archive, "docker"), (_oci_archive, "oci")):
        archive = tmp_path / f"ok-{fmt}.tar"
        archive.write_bytes(build(_layer("none"), f"localhost/ok-{fmt}:latest"))
        proc = podpy_cli("load", "-i", archive)
        assert proc.returncode == 0, f"{fmt}: {proc.stderr}"
        assert proc.stdout.splitlines() == [f"Loaded image: localhost/ok-{fmt}:latest"]


KILLS = 10


@pytest.mark.slow
def test_kill9_during_load_then_load_succeeds(
    testenv: dict[str, Any], podpy_cli: Any, podpy_root: Any
) -> None:
    """`kill -9` of `podpy load` at random moments: never a listed partial image; the next load completes it."""
    arch = testenv["archives"]["layered-docker-archive"]
    root = podpy_root.root

    def check(why: str, _k: int, _finished: bool) -> None:
        images = storecheck.list_images(podpy_cli)
        assert images in ([], [arch["image_id"]]), f"{why}: podpy images -a lists {images}"
        if images:  # it completed: everything is there; remove it so the next kill hits a real load
            ok = podpy_cli("image", "inspect", arch["name"])
            assert ok.returncode == 0, f"{why}: listed but not inspectable: {ok.stderr}"
            assert podpy_cli("rmi", "-f", arch["name"]).returncode == 0

    tag = kill_at_random(podpy_root, ["load", "-q", "-i", arch["path"]], check, "load", KILLS)
    final = podpy_cli("load", "-q", "-i", arch["path"])
    assert final.returncode == 0, f"{tag} the load after the kills failed: {final.stderr[-3000:]}"
    assert storecheck.list_images(podpy_cli) == [arch["image_id"]]
    leftovers = storecheck.temp_leftovers(root)
    assert not leftovers, f"{tag} temp leftovers after a successful load: {leftovers}"
    img = testenv["images"][arch["image"]]
    assert set(storecheck.layer_dirs(root)) == storecheck.expected_layers(img)
    run = podpy_cli("run", "--rm", "--network", "none", arch["name"], "cat /data/replaced.txt")
    assert run.returncode == 0 and run.stdout == "version 2\n", run.stderr


@pytest.mark.slow
def test_kill9_during_save_then_save_succeeds(
    testenv: dict[str, Any], podpy_cli: Any, podpy_root: Any, tmp_path: Path
) -> None:
    """`kill -9` of `podpy save -o FILE`: FILE is absent or complete, never half; the next save leaves no temp."""
    img = testenv["images"]["layered-oci"]  # zstd + gzip layers: save decompresses through root/tmp
    pulled = podpy_cli("pull", "-q", "--tls-verify=false", img["ref"])
    assert pulled.returncode == 0, pulled.stderr
    out = tmp_path / "out" / "a.tar"
    out.parent.mkdir()

    def check(why: str, _k: int, _finished: bool) -> None:
        if out.exists():  # renamed into place only when complete: it must be a whole archive
            with tarfile.open(out) as tf:
                assert "manifest.json" in tf.getnames(), f"{why}: {out} is not a whole archive"
            out.unlink()

    tag = kill_at_random(podpy_root, ["save", "-q", "-o", str(out), img["ref"]], check, "save", KILLS)
    final = podpy_cli("save", "-q", "-o", out, img["ref"])
    assert final.returncode == 0, f"{tag} the save after the kills failed: {final.stderr[-3000:]}"
    assert [p.name for p in out.parent.iterdir()] == ["a.tar"], f"{tag} left next to the output"
    assert not storecheck.temp_leftovers(podpy_root.root), f"{tag} temp leftovers under --root"
    with tarfile.open(out) as tf:
        assert len(json.loads(tf.extractfile("manifest.json").read())[0]["Layers"]) == img["layer_count"]  # type: ignore[union-attr]
