"""Archives podpy writes load in podman and read in skopeo: same image ID, same files when run.

The images are the registry's multi-layer ones (gzip, zstd and uncompressed layers, whiteouts, an opaque
directory, hard links, symlinks, setuid bits, owners, old mtimes), pulled by podpy, saved by podpy, then
loaded by podman into its own private store and run there; the container's file listing must equal the
one podpy's own container shows.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pytest

from tests.integration.interop.conftest import Podman, config_id, podpy_listing, skopeo, xattrs_under

pytestmark = [pytest.mark.rootless, pytest.mark.registry]

FORMATS = ["docker-archive", "oci-archive"]


def _pull_and_save(cli: Any, img: dict[str, Any], fmt: str, out: Path, *extra: str) -> None:
    cli("pull", "-q", "--tls-verify=false", img["ref"], check=True)
    cli("save", "-q", "--format", fmt, "-o", out, *extra, img["ref"], check=True)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", ["layered-oci", "layered-v2s2"])
def test_podpy_save_reads_in_skopeo_loads_and_runs_in_podman(
    name: str, fmt: str, testenv: dict[str, Any], podpy_cli: Any, podman: Podman, tmp_path: Path
) -> None:
    img = testenv["images"][name]
    ref, out = img["ref"], tmp_path / "podpy.tar"
    _pull_and_save(podpy_cli, img, fmt, out)
    info = skopeo("inspect", f"{fmt}:{out}")
    assert len(info["Layers"]) == img["layer_count"], info
    assert (info["Os"], info["Architecture"]) == ("linux", img["platform"]["architecture"]), info
    assert info["Labels"] == img["config"]["Labels"], info
    assert config_id(f"{fmt}:{out}") == img["image_id"], "podpy changed the config: the image ID differs"
    loaded = podman("load", "-i", str(out))
    assert f"Loaded image: {ref}" in loaded.stdout.splitlines(), loaded.stdout
    assert podman.image_id(ref) == img["image_id"]
    pm = podman.inspect(ref)
    assert pm["RootFS"]["Layers"] == [la["diff_id"] for la in img["layers"]]
    assert pm["Config"]["Entrypoint"] == img["config"]["Entrypoint"]
    assert podman.listing(ref) == podpy_listing(podpy_cli, ref)
    assert set(xattrs_under(podman.root)) == {b"test"}, (
        "the xattr user.podpy=test did not reach podman's store"
    )


def test_podpy_save_gzipped_loads_in_podman(
    testenv: dict[str, Any], podpy_cli: Any, podman: Podman, tmp_path: Path
) -> None:
    """`podpy save --format oci-archive | gzip`: podman load takes it.

    Only oci-archive: podman 4.3 loads no gzipped docker-archive at all, not even one `podman save` wrote
    ("loading tar component manifest.json: archive/tar: invalid tar header"); podpy loads both
    (test_interop_podman_to_podpy.py::test_podman_save_gzipped_loads_in_podpy).
    """
    fmt = "oci-archive"
    img = testenv["images"]["layered-oci"]
    plain = tmp_path / "podpy.tar"
    _pull_and_save(podpy_cli, img, fmt, plain)
    gz = tmp_path / "podpy.tar.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes(), compresslevel=1))
    assert config_id(f"{fmt}:{gz}") == img["image_id"]
    podman("load", "-i", str(gz))
    assert podman.image_id(img["ref"]) == img["image_id"]


def test_podpy_save_multi_image_loads_in_podman(
    testenv: dict[str, Any], podpy_cli: Any, podman: Podman, tmp_path: Path
) -> None:
    """`podpy save -m` of two images sharing a layer: podman loads both, with their IDs and tags."""
    a, b = testenv["images"]["busybox"], testenv["images"]["layered-v2s2"]
    for img in (a, b):
        podpy_cli("pull", "-q", "--tls-verify=false", img["ref"], check=True)
    out = tmp_path / "multi.tar"
    podpy_cli("save", "-q", "-m", "-o", out, a["ref"], b["ref"], check=True)
    loaded = podman("load", "-i", str(out)).stdout.splitlines()
    assert f"Loaded image: {a['ref']}" in loaded and f"Loaded image: {b['ref']}" in loaded, loaded
    assert podman.image_id(a["ref"]) == a["image_id"]
    assert podman.image_id(b["ref"]) == b["image_id"]


def test_podpy_save_of_podman_archive_round_trips(
    testenv: dict[str, Any], podpy_cli: Any, podman: Podman, podman2: Podman, tmp_path: Path
) -> None:
    """podman save -> podpy load -> podpy save -> podman load (a fresh store): the ID survives both ways."""
    img = testenv["images"]["layered-v2s2"]
    podman("pull", "-q", "--tls-verify=false", img["ref"])
    first = tmp_path / "podman.tar"
    podman("save", "-o", str(first), img["ref"])
    podpy_cli("load", "-q", "-i", first, check=True)
    second = tmp_path / "podpy.tar"
    podpy_cli("save", "-q", "-o", second, img["ref"], check=True)
    podman2("load", "-q", "-i", str(second))
    assert podman2.image_id(img["ref"]) == podman.image_id(img["ref"]) == img["image_id"]
    assert podman2.listing(img["ref"]) == podman.listing(img["ref"])
