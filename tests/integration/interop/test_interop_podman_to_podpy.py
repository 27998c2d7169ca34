"""Archives `podman save` writes (docker-archive, oci-archive, gzip-compressed, several images, stdin)
load in podpy: the same image ID podman gives the archive, the same inspect fields, the same files when run.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TREE, _podpy_command
from tests.integration.interop.conftest import Podman, config_id, podpy_listing, xattrs_under

pytestmark = [pytest.mark.rootless, pytest.mark.registry]

FORMATS = ["docker-archive", "oci-archive"]
# inspect fields podpy must report exactly as podman does for the same loaded archive
SAME_FIELDS = ("Id", "RepoTags", "Architecture", "Os", "Author", "Labels", "RootFS")
SAME_CONFIG = (
    "Env",
    "Cmd",
    "Entrypoint",
    "WorkingDir",
    "User",
    "Labels",
    "ExposedPorts",
    "Volumes",
    "StopSignal",
)


def _podpy_inspect(cli: Any, ref: str) -> dict[str, Any]:
    proc = cli("image", "inspect", ref)
    assert proc.returncode == 0, f"podpy image inspect {ref}: {proc.stderr}"
    (info,) = json.loads(proc.stdout)
    return dict(info)


def _assert_same_image(cli: Any, reference: Podman, ref: str, want_id: str) -> None:
    """podpy's image ``ref`` is podman's: same ID, the same inspect fields (bare-hex Id as podman prints it)."""
    ours, theirs = _podpy_inspect(cli, ref), reference.inspect(ref)
    assert theirs["Id"] == want_id
    for key in SAME_FIELDS:
        assert ours.get(key) == theirs.get(key), f"{ref}: podpy inspect .{key} {ours.get(key)!r} != podman's"
    for key in SAME_CONFIG:
        a, b = ours["Config"].get(key), theirs["Config"].get(key)
        assert a == b, f"{ref}: podpy inspect .Config.{key} {a!r} != podman's {b!r}"


# podman 4.3 cannot write a zstd layer into a docker-archive ("zstd compression is not supported for docker
# images"), so the OCI image with its zstd layer goes through oci-archive only.
CASES = [
    pytest.param(name, fmt, id=f"{name}-{fmt}")
    for name in ("layered-v2s2", "layered-oci", "special")
    for fmt in FORMATS
    if not (name == "layered-oci" and fmt == "docker-archive")
]


@pytest.mark.parametrize(("name", "fmt"), CASES)
def test_podman_save_loads_in_podpy_same_id_same_files(
    name: str,
    fmt: str,
    testenv: dict[str, Any],
    podpy_cli: Any,
    podpy_root: Any,
    podman: Podman,
    podman2: Podman,
    tmp_path: Path,
) -> None:
    img = testenv["images"][name]
    ref, out = img["ref"], tmp_path / "podman.tar"
    podman("pull", "-q", "--tls-verify=false", ref)
    podman("save", "--format", fmt, "-o", str(out), ref)
    want = config_id(f"{fmt}:{out}")
    if fmt == "docker-archive":  # a docker-archive keeps the config bytes: the pulled image's ID
        assert want == podman.image_id(ref) == img["image_id"]
    loaded = podpy_cli("load", "-i", out, check=True)
    assert loaded.stdout.splitlines() == [f"Loaded image: {ref}"]
    podman2("load", "-q", "-i", str(out))  # the reference: what podman makes of its own archive
    _assert_same_image(podpy_cli, podman2, ref, want)
    assert podpy_listing(podpy_cli, ref) == podman.listing(ref)
    if name.startswith("layered"):
        assert set(xattrs_under(podpy_root.root)) == {b"test"}, (
            "the xattr user.podpy=test did not reach podpy's store"
        )


@pytest.mark.parametrize("fmt", FORMATS)
def test_podman_save_gzipped_loads_in_podpy(
    fmt: str, testenv: dict[str, Any], podpy_cli: Any, podman: Podman, tmp_path: Path
) -> None:
    img = testenv["images"]["layered-v2s2"]
    plain, gz = tmp_path / "podman.tar", tmp_path / "podman.tar.gz"
    podman("pull", "-q", "--tls-verify=false", img["ref"])
    podman("save", "--format", fmt, "-o", str(plain), img["ref"])
    gz.write_bytes(gzip.compress(plain.read_bytes(), compresslevel=1))
    podpy_cli("load", "-q", "-i", gz, check=True)
    got = podpy_cli("image", "inspect", "--format", "{{.Id}}", img["ref"], check=True).stdout.strip()
    assert got.removeprefix("sha256:") == config_id(f"{fmt}:{plain}")


def test_podman_save_multi_image_loads_in_podpy(
    testenv: dict[str, Any], podpy_cli: Any, podman: Podman, tmp_path: Path
) -> None:
    """`podman save -m` of images sharing a layer: podpy loads all of them, each with podman's ID."""
    imgs = [testenv["images"][n] for n in ("busybox", "layered-v2s2", "special")]
    for img in imgs:
        podman("pull", "-q", "--tls-verify=false", img["ref"])
    out = tmp_path / "multi.tar"
    podman("save", "-m", "-o", str(out), *(i["ref"] for i in imgs))
    loaded = podpy_cli("load", "-i", out, check=True).stdout.splitlines()
    assert sorted(loaded) == sorted(f"Loaded image: {i['ref']}" for i in imgs)
    for img in imgs:
        got = podpy_cli("image", "inspect", "--format", "{{.Id}}", img["ref"], check=True).stdout.strip()
        assert got.removeprefix("sha256:") == podman.image_id(img["ref"]) == img["image_id"]


def test_podman_save_piped_into_podpy_load(
    testenv: dict[str, Any], podpy_root: Any, podpy_cli: Any, podman: Podman
) -> None:
    """`podman save IMG | podpy load`: the archive arrives on stdin, unseekable."""
    img = testenv["images"]["layered-v2s2"]
    podman("pull", "-q", "--tls-verify=false", img["ref"])
    env = dict(os.environ, PYTHONPATH=str(TREE), XDG_CONFIG_HOME=str(podpy_root.config_home))
    save = subprocess.Popen(
        [*podman.argv, "save", img["ref"]], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        load = subprocess.run(
            [*_podpy_command(), *podpy_root.args, "load"],
            stdin=save.stdout,
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
    finally:
        assert save.stdout is not None
        save.stdout.close()
        _, save_err = save.communicate(timeout=300)
    assert save.returncode == 0, save_err
    assert load.returncode == 0, load.stderr
    assert load.stdout.splitlines() == [f"Loaded image: {img['ref']}"]
    got = podpy_cli("image", "inspect", "--format", "{{.Id}}", img["ref"], check=True).stdout.strip()
    assert got.removeprefix("sha256:") == img["image_id"]
