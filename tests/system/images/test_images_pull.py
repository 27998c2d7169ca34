"""`podpy pull` as a user types it, against the test registries, compared with podman."""

from __future__ import annotations

import json
import os
import random
import signal
import stat
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

Run = Callable[..., "subprocess.CompletedProcess[str]"]


@pytest.mark.parametrize("name", ["busybox", "busybox-oci", "layered-v2s2", "layered-oci"])
def test_pull_by_tag_gives_config_digest_id(
    podpy_cli: Run, img: Callable[[str], dict[str, Any]], name: str
) -> None:
    i = img(name)
    p = podpy_cli("pull", "--tls-verify=false", i["ref"])
    assert p.returncode == 0, p.stderr
    assert p.stdout == i["image_id"] + "\n"
    # podman's plain (non-TTY) progress lines, on stderr
    assert f"Trying to pull {i['ref']}...\n" in p.stderr
    assert "Getting image source signatures\n" in p.stderr
    for layer in i["layers"]:
        assert f"Copying blob {layer['digest']}\n" in p.stderr
    assert f"Copying config {i['config_digest']}\n" in p.stderr
    assert "Writing manifest to image destination\n" in p.stderr
    out = podpy_cli("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}} {{.Digest}}", check=True).stdout
    assert out == f"{i['ref']} {i['image_id'][:12]} {i['manifest_digest']}\n"
    insp = json.loads(podpy_cli("image", "inspect", i["ref"], check=True).stdout)[0]
    assert insp["ManifestType"] == i["manifest_media_type"]
    assert insp["RootFS"]["Layers"] == [layer["diff_id"] for layer in i["layers"]]


def test_pull_quiet_and_by_digest(podpy_cli: Run, img: Callable[[str], dict[str, Any]]) -> None:
    i = img("busybox")
    p = podpy_cli("pull", "-q", "--tls-verify=false", i["digest_ref"])
    assert (p.returncode, p.stdout, p.stderr) == (0, i["image_id"] + "\n", "")
    rows = podpy_cli("images", "--format", "{{.Repository}} {{.Tag}} {{.Names}}", check=True).stdout
    repo = i["ref"].rsplit(":", 1)[0]
    assert rows == f"{repo} <none> [{i['digest_ref']}]\n"
    insp = json.loads(podpy_cli("image", "inspect", i["digest_ref"], check=True).stdout)[0]
    assert f"{repo}@{i['manifest_digest']}" in insp["RepoDigests"]


def test_same_id_as_podman(podpy_cli: Run, podman: Run, img: Callable[[str], dict[str, Any]]) -> None:
    i = img("layered-oci")
    ours = podpy_cli("pull", "-q", "--tls-verify=false", i["ref"], check=True).stdout.strip()
    theirs = podman("pull", "-q", "--tls-verify=false", i["ref"]).stdout.strip()
    assert ours == theirs == i["image_id"]


def test_multiplatform(podpy_cli: Run, img: Callable[[str], dict[str, Any]]) -> None:
    m = img("multiarch-oci")
    arm = next(p for p in m["platforms"] if p["platform"]["architecture"] == "arm64")
    p = podpy_cli("pull", "-q", "--tls-verify=false", "--platform", "linux/arm64/v8", m["ref"])
    assert (p.returncode, p.stdout) == (0, arm["image_id"] + "\n"), p.stderr
    p = podpy_cli("pull", "-q", "--tls-verify=false", "--arch", "arm64", m["ref"])
    assert (p.returncode, p.stdout) == (0, arm["image_id"] + "\n"), p.stderr
    insp = json.loads(podpy_cli("image", "inspect", m["ref"], check=True).stdout)[0]
    assert (insp["Architecture"], insp.get("Variant")) == ("arm64", "v8")
    p = podpy_cli("pull", "--tls-verify=false", "--platform", "linux/s390x", m["ref"])
    assert p.returncode == 125
    lines = p.stderr.strip().splitlines()
    assert lines == [f"Trying to pull {m['ref']}...", lines[-1]] and lines[-1].startswith("Error: ")
    assert "linux/amd64" in p.stderr and "linux/arm64/v8" in p.stderr  # the available platforms
    assert "s390x" in p.stderr


def test_unknown_image_and_unreachable_registry(podpy_cli: Run) -> None:
    p = podpy_cli("pull", "--tls-verify=false", "127.0.0.1:5000/does-not-exist:latest")
    assert p.returncode == 125 and p.stderr.splitlines()[-1].startswith("Error: ")
    assert podpy_cli("images", "-q", check=True).stdout == ""
    p = podpy_cli("pull", "--tls-verify=false", "--retry", "0", "127.0.0.1:5999/nothing:latest")
    assert p.returncode == 125 and "Error: " in p.stderr


def test_short_name_resolution(podpy_cli: Run, podpy_root: Any, img: Callable[[str], dict[str, Any]]) -> None:
    conf = podpy_root.config_home / "containers" / "registries.conf"
    conf.parent.mkdir(parents=True, exist_ok=True)
    # the first search registry does not answer: its failure is reported only if all fail
    conf.write_text(
        'unqualified-search-registries = ["127.0.0.1:5999", "127.0.0.1:5000"]\n'
        'short-name-mode = "permissive"\n'
        '[[registry]]\nlocation = "127.0.0.1:5000"\ninsecure = true\n'
        '[[registry]]\nlocation = "127.0.0.1:5999"\ninsecure = true\n'
    )
    i = img("busybox")
    env = {"CONTAINERS_REGISTRIES_CONF": str(conf)}
    p = podpy_cli("pull", "--retry", "0", "busybox", env=env)
    assert p.returncode == 0, p.stderr
    assert p.stdout == i["image_id"] + "\n"
    assert "Trying to pull 127.0.0.1:5000/busybox:latest...\n" in p.stderr
    # the short name now finds the local image
    assert podpy_cli("image", "exists", "busybox", env=env).returncode == 0
    p = podpy_cli("pull", "--retry", "0", "no-such-image-anywhere", env=env)
    assert p.returncode == 125
    assert "127.0.0.1:5999" in p.stderr and "127.0.0.1:5000" in p.stderr  # every failure reported


def test_second_image_shares_layers(
    podpy_cli: Run, podpy_root: Any, img: Callable[[str], dict[str, Any]]
) -> None:
    bb, lay = img("busybox"), img("layered-v2s2")
    podpy_cli("pull", "-q", "--tls-verify=false", bb["ref"], check=True)
    overlay = podpy_root.root / "storage" / "overlay"
    before = {p.name: p.stat().st_ino for p in overlay.iterdir() if not p.name.startswith(".")}
    p = podpy_cli("pull", "--tls-verify=false", lay["ref"], check=True)
    after = {p.name: p.stat().st_ino for p in overlay.iterdir() if not p.name.startswith(".")}
    shared = bb["layers"][0]["diff_id"].split(":")[1]
    assert after[shared] == before[shared]  # not unpacked again
    assert len(after) == 3
    assert p.stdout.strip() == lay["image_id"]


def test_two_identical_pulls_at_once(podpy_root: Any, img: Callable[[str], dict[str, Any]]) -> None:
    from tests.conftest import _podpy_command

    i = img("layered-oci")
    env = dict(os.environ, XDG_CONFIG_HOME=str(podpy_root.config_home))
    cmd = [*_podpy_command(), *podpy_root.args, "pull", "-q", "--tls-verify=false", i["ref"]]
    procs = [
        subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
        assert out.strip() == i["image_id"]
    blobs = sorted(x.name for x in (podpy_root.root / "storage" / "blobs" / "sha256").iterdir())
    want = {layer["digest"].split(":")[1] for layer in i["layers"]} | {i["config_digest"].split(":")[1]}
    assert want <= set(blobs) and len(blobs) == len(set(blobs))
    layers = [x for x in (podpy_root.root / "storage" / "overlay").iterdir() if not x.name.startswith(".")]
    assert len(layers) == len(i["layers"])


def test_kill_9_then_pull_repairs(
    podpy_cli: Run, podpy_root: Any, img: Callable[[str], dict[str, Any]]
) -> None:
    from tests.conftest import _podpy_command

    i = img("layered-oci")
    env = dict(os.environ, XDG_CONFIG_HOME=str(podpy_root.config_home))
    cmd = [*_podpy_command(), *podpy_root.args, "pull", "-q", "--tls-verify=false", i["ref"]]
    rnd = random.Random(1234)
    for _ in range(6):
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        time.sleep(rnd.uniform(0.05, 1.2))
        p.send_signal(signal.SIGKILL)
        p.wait()
        listed = podpy_cli("images", "-q", "--no-trunc", check=True).stdout.split()
        assert listed in ([], ["sha256:" + i["image_id"]])  # never a partial image
        if listed:
            podpy_cli("rmi", "-a", check=True)
    out = podpy_cli("pull", "-q", "--tls-verify=false", i["ref"])
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == i["image_id"]
    assert podpy_cli("images", "-q", "--no-trunc", check=True).stdout.split() == ["sha256:" + i["image_id"]]
    assert not list((podpy_root.root / "storage" / "overlay").glob(".tmp-*"))


def test_unpacked_layer_file_facts(
    podpy_cli: Run, podpy_root: Any, testenv: dict[str, Any], img: Callable[[str], dict[str, Any]]
) -> None:
    i = img("layered-oci")
    podpy_cli("pull", "-q", "--tls-verify=false", i["ref"], check=True)
    sub = testenv["user"]["subuid"]["start"]
    subg = testenv["user"]["subgid"]["start"]
    uid, gid = testenv["user"]["uid"], testenv["user"]["gid"]
    ov = podpy_root.root / "storage" / "overlay"
    l2 = ov / i["layers"][1]["diff_id"].split(":")[1] / "diff"
    l3 = ov / i["layers"][2]["diff_id"].split(":")[1] / "diff"
    st = os.lstat(l2 / "data/owned-1000.txt")
    assert (st.st_uid, st.st_gid) == (sub + 1000 - 1, subg + 1000 - 1)  # container 1000 -> subuid range
    st = os.lstat(l2 / "data/owned-nobody.txt")
    assert (st.st_uid, st.st_gid) == (sub + 65534 - 1, subg + 65534 - 1)
    assert os.lstat(l2 / "data/hello.txt").st_uid == uid  # container root -> the user
    st = os.lstat(l2 / "data/setuid-bin")
    assert stat.S_IMODE(st.st_mode) == 0o4755
    assert stat.S_IMODE(os.lstat(l2 / "data/sticky").st_mode) == 0o1777
    assert os.getxattr(l2 / "data/xattr-file", "user.podpy", follow_symlinks=False) == b"test"
    a, b = os.lstat(l2 / "data/hardlink-src.txt"), os.lstat(l2 / "data/hardlink.txt")
    assert a.st_ino == b.st_ino and a.st_nlink == 3
    assert os.readlink(l2 / "data/abs-link") == "/data/hello.txt"
    assert int(os.lstat(l2 / "data/old-mtime.txt").st_mtime) == 1234567890
    # layer 3 in overlay form: whiteouts are 0/0 char devices, /opq is opaque
    wh = os.lstat(l3 / "data/to-delete.txt")
    assert stat.S_ISCHR(wh.st_mode) and os.major(wh.st_rdev) == 0 and os.minor(wh.st_rdev) == 0
    assert (wh.st_uid, wh.st_gid) == (uid, gid)
    assert stat.S_ISCHR(os.lstat(l3 / "data/deleted-dir").st_mode)
    assert os.getxattr(l3 / "opq", "user.overlay.opaque", follow_symlinks=False) == b"y"
    assert not list(Path(l3).rglob(".wh.*"))


def test_all_tags(podpy_cli: Run, img: Callable[[str], dict[str, Any]]) -> None:
    v2, oci = img("layered-v2s2"), img("layered-oci")
    repo = v2["ref"].rsplit(":", 1)[0]
    p = podpy_cli("pull", "-q", "--tls-verify=false", "--all-tags", repo)
    assert p.returncode == 0, p.stderr
    assert sorted(p.stdout.split()) == sorted([v2["image_id"], oci["image_id"]])
    tags = podpy_cli("images", "--format", "{{.Tag}}", check=True).stdout.split()
    assert sorted(tags) == ["oci", "v2s2"]
    p = podpy_cli("pull", "--tls-verify=false", "--all-tags", v2["ref"])
    assert p.returncode == 125 and "tag can't be used with --all-tags/-a" in p.stderr


def test_authenticated_registries(
    podpy_cli: Run, testenv: dict[str, Any], img: Callable[[str], dict[str, Any]]
) -> None:
    basic, tok_pub, tok_priv = img("busybox-basic"), img("busybox-token-public"), img("busybox-token-private")
    creds = f"{testenv['registries']['basic']['username']}:{testenv['registries']['basic']['password']}"
    p = podpy_cli("pull", "-q", "--tls-verify=false", basic["ref"])
    assert p.returncode == 125 and p.stdout == "" and "Error: " in p.stderr
    p = podpy_cli("pull", "-q", "--tls-verify=false", "--creds", "testuser:wrong", basic["ref"])
    assert p.returncode == 125
    p = podpy_cli("pull", "-q", "--tls-verify=false", "--creds", creds, basic["ref"])
    assert (p.returncode, p.stdout) == (0, basic["image_id"] + "\n"), p.stderr
    p = podpy_cli("pull", "-q", "--tls-verify=false", tok_pub["ref"])
    assert (p.returncode, p.stdout) == (0, tok_pub["image_id"] + "\n"), p.stderr
    p = podpy_cli("pull", "-q", "--tls-verify=false", tok_priv["ref"])
    assert p.returncode == 125
    p = podpy_cli("pull", "-q", "--tls-verify=false", "--creds", creds, tok_priv["ref"])
    assert (p.returncode, p.stdout) == (0, tok_priv["image_id"] + "\n"), p.stderr
