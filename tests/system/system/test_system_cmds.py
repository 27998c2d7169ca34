"""`podpy version`, `info` vs Podman's shape, `system df`, `prune`, `reset`, `check`, `doctor` as the user types them."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from podpy.rootless.pause import read_pid
from podpy.util.paths import Paths

from .test_system_migrate import gone

# keys Podman 4.3 has that podpy leaves out on purpose: no API service (remoteSocket), no buildah
# library (buildahVersion; podpy builds itself), no Go linker (linkmode)
PODMAN_ONLY = {"host.remoteSocket", "host.buildahVersion", "host.linkmode"}


def keys(doc: Any, prefix: str = "") -> set[str]:
    """Dotted key paths of the nested dicts (maps whose keys are data, like registries, stop there)."""
    out: set[str] = set()
    if isinstance(doc, dict):
        for k, v in doc.items():
            p = f"{prefix}{k}"
            out.add(p)
            if p not in ("registries", "store.graphOptions", "store.graphStatus"):
                out |= keys(v, p + ".")
    elif isinstance(doc, list) and doc and isinstance(doc[0], dict):
        out |= keys(doc[0], prefix)
    return out


def test_info_has_podmans_keys_and_version_formats(podpy_cli: Any, paths: Paths) -> None:
    r = subprocess.run(["podman", "info", "--format", "json"], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    want = {
        k for k in keys(json.loads(r.stdout)) if not any(k == p or k.startswith(p + ".") for p in PODMAN_ONLY)
    }
    got = keys(json.loads(podpy_cli("info", "--format", "json", check=True).stdout))
    assert want - got == set()
    assert {"host.pasta", "host.conmon.version", "plugins.log", "store.graphStatus"} <= got
    fmt = '{{.Host.Conmon.Package}}|{{.Host.CPUUtilization.IdlePercent}}|{{index .Store.GraphStatus "Supports d_type"}}'
    out = podpy_cli("info", "--format", fmt, check=True).stdout
    assert out.startswith("podpy ") and out.endswith("|true\n")
    version = podpy_cli("version", "--format", "{{.Client.Version}}", check=True).stdout.strip()
    assert version == podpy_cli("--version", check=True).stdout.split()[-1]
    doc = json.loads(podpy_cli("version", "--format", "json", check=True).stdout)
    assert doc["Client"]["Version"] == version and doc["Client"]["OsArch"].startswith("linux/")
    lines = podpy_cli("version", check=True).stdout.splitlines()
    assert lines[0].split() == ["Client:", "podpy"] and lines[1].split() == ["Version:", version]


def _df(podpy: Any) -> dict[str, dict[str, Any]]:
    return {r["Type"]: r for r in json.loads(podpy("system", "df", "--format", "json", check=True).stdout)}


def test_df_and_prune_remove_exactly_the_unused(podpy: Any, paths: Paths, testenv: dict[str, Any]) -> None:
    bb = "127.0.0.1:5000/busybox:latest"
    podpy("load", "-i", testenv["archives"]["layered-docker-archive"]["path"], check=True)
    layered = podpy("images", "--format", "{{.ID}} {{.Repository}}", check=True).stdout
    [(lid, lname)] = [ln.split() for ln in layered.splitlines() if "layered" in ln]
    podpy("untag", lid, check=True)  # now dangling
    done = podpy("run", "--network", "none", "--name", "done", bb, "sh", "-c", "head -c 5000 /dev/zero > /f",
                 check=True)  # fmt: skip
    assert done.returncode == 0
    podpy("create", "--name", "kept", "--label", "keep=1", bb, "true", check=True)
    podpy("run", "-d", "--network", "none", "--name", "busy", bb, "sleep", "60", check=True)
    df = _df(podpy)
    assert (df["Images"]["Total"], df["Images"]["Active"]) == (2, 1)
    assert (df["Containers"]["Total"], df["Containers"]["Active"]) == (3, 1)
    assert df["Containers"]["RawSize"] >= 5000 and df["Containers"]["RawReclaimable"] >= 5000
    assert df["Local Volumes"]["Total"] == 0
    text = podpy("system", "df", check=True).stdout.splitlines()
    assert text[0].split() == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    assert text[2].split()[:3] == ["Containers", "3", "1"]
    verbose = podpy("system", "df", "-v", check=True).stdout
    assert "Containers space usage:" in verbose and " done\n" in verbose

    # without -f: Podman's prompt; "n" (or no answer) removes nothing
    r = podpy("system", "prune", input="n\n", check=True)
    assert r.stdout.startswith("WARNING! This command removes:\n\t- all stopped containers\n")
    assert r.stdout.endswith("Are you sure you want to continue? [y/N] ")
    assert _df(podpy)["Containers"]["Total"] == 3
    r = podpy("system", "prune", "--filter", "bogus=1")
    assert (r.returncode, r.stderr) == (125, "Error: bogus is an invalid filter\n")

    r = podpy("system", "prune", "-f", "--filter", "label!=keep", check=True)
    ids = {n: podpy("inspect", "--format", "{{.Id}}", n).stdout.strip() for n in ("kept", "busy")}
    out = r.stdout.splitlines()
    assert (
        out[0] == "Deleted Containers"
        and out[2] == "Deleted Images"
        and out[3].startswith(lid)
        and len(out[3]) == 64
    )
    assert len(out[1]) == 64 and out[1] not in ids.values()
    assert out[-1].startswith("Total reclaimed space: ") and out[-1] != "Total reclaimed space: 0B"
    names = podpy("ps", "-a", "--format", "{{.Names}}", check=True).stdout.split()
    assert sorted(names) == ["busy", "kept"]
    assert podpy("images", "-q", check=True).stdout.split() == [podpy("images", "-q", bb).stdout.strip()]
    # -a: the image still has users, so it stays; the created container goes now (no filter)
    r = podpy("system", "prune", "-a", "-f", check=True)
    assert r.stdout.splitlines()[:2] == ["Deleted Containers", ids["kept"]]
    assert podpy("images", "-q", check=True).stdout.strip() != ""


def test_reset_leaves_nothing(podpy: Any, paths: Paths, tmp_path: Path) -> None:
    podpy("run", "-d", "--network", "none", "--name", "r1", "127.0.0.1:5000/busybox:latest", "sleep", "60",
          check=True)  # fmt: skip
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "data").write_text("keep me")
    (paths.root / "bound").mkdir()  # a host dir mounted inside the root (in podpy's mount namespace)
    podpy("unshare", "mount", "--bind", str(precious), str(paths.root / "bound"), check=True)
    pause = read_pid(paths)
    assert pause is not None
    r = podpy("system", "reset", input="no\n", check=True)
    assert "WARNING! This will remove:" in r.stdout and f'the graphRoot directory: "{paths.root}"' in r.stdout
    assert paths.root.exists()
    r = podpy("system", "reset", "-f", check=True)
    assert (r.stdout, r.stderr) == ("", "")
    assert not paths.root.exists() and not paths.runroot.exists()
    assert (precious / "data").read_text() == "keep me"  # detached, not deleted through the mount
    assert gone(pause)
    assert podpy("ps", "-a", "-q", check=True).stdout == ""
    assert podpy("images", "-q", check=True).stdout == ""
    assert _df(podpy)["Images"]["Total"] == 0


def test_check_finds_and_repairs_planted_damage(podpy: Any, paths: Paths) -> None:
    store = paths.storage
    r = podpy("system", "check", check=True)
    assert r.stdout.endswith(": no problems found\n")
    orphan = "ab" * 32
    (store / "overlay" / orphan / "diff").mkdir(parents=True)
    (store / "overlay" / orphan / "layer.json").write_text(
        json.dumps({"diff_id": f"sha256:{orphan}", "size": 0})
    )
    (store / "tmp").mkdir(exist_ok=True)
    (store / "tmp" / "blob-99-dead").write_bytes(b"half a download")
    (paths.root / "build-work" / "step1" / "upper").mkdir(parents=True)
    (paths.root / "build-work" / "step1" / "pid").write_text("999999999")  # no such process
    layer = max((store / "blobs" / "sha256").iterdir(), key=lambda p: p.stat().st_size)
    os.chmod(layer, 0o644)
    with open(layer, "r+b") as f:
        f.truncate(100)
    r = podpy("system", "check", "--quick")
    assert r.returncode == 1
    assert f"orphaned layer sha256:{orphan}: no image uses it\n" in r.stdout
    assert f"corrupt blob sha256:{layer.name}: 100 bytes, but the image's manifest says " in r.stdout
    assert "leftover tmp/blob-99-dead: temp file of an interrupted download\n" in r.stdout
    assert "leftover build-work/step1: working dir of an interrupted build\n" in r.stdout
    assert "damaged image " in r.stdout and "127.0.0.1:5000/busybox:latest" in r.stdout
    assert r.stdout.endswith("problem(s) remain; run `podpy system check --repair` to fix them\n")
    r = podpy("system", "check", "--repair")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "NOT repaired" not in r.stdout and r.stdout.endswith("found and repaired\n")
    assert not (store / "overlay" / orphan).exists() and not layer.exists()
    assert not (paths.root / "build-work" / "step1").exists()
    assert podpy("system", "check", check=True).stdout.endswith("no problems found\n")
    assert podpy("images", "-q", check=True).stdout == ""  # the damaged image went; a pull restores it


def test_check_container_whose_image_vanished(podpy: Any, paths: Paths) -> None:
    podpy("create", "--name", "orphan", "127.0.0.1:5000/busybox:latest", "true", check=True)
    from podpy.store.images import ImageDB

    db = ImageDB(paths.storage / "images.db")
    [rec] = db.all()
    db.remove(rec.id, force=True)  # what a bug or a hand edit can do
    r = podpy("system", "check", "--repair")
    assert r.returncode == 1
    assert f"its image {rec.id[:12]} is no longer in the store" in r.stdout
    assert "add --force to remove the container" in r.stdout
    r = podpy("system", "check", "--repair", "--force")
    assert r.returncode == 0, r.stdout
    assert podpy("ps", "-a", "-q", check=True).stdout == ""


def test_doctor_reports_missing_subuid_with_the_fix(podpy_cli: Any, paths: Paths, tmp_path: Path) -> None:
    r = podpy_cli("system", "doctor", check=True)
    assert "fail" not in r.stdout.split()
    assert any(ln.startswith("ok    subuid ") for ln in r.stdout.splitlines())
    empty = tmp_path / "subuid"
    empty.write_text("# no ranges\n")
    r = podpy_cli("system", "doctor", env={"PODPY_SUBUID_FILE": str(empty)})
    assert r.returncode == 1
    lines = r.stdout.splitlines()
    i = next(i for i, ln in enumerate(lines) if ln.startswith("fail  subuid "))
    assert str(empty) in lines[i] and "usermod --add-subuids" in lines[i + 1]
    assert lines[-1].startswith("14 checks: 1 failed")
    rows = json.loads(
        podpy_cli("system", "doctor", "--format", "json", env={"PODPY_SUBUID_FILE": str(empty)}).stdout
    )
    assert {r["Check"]: r["Status"] for r in rows}["subuid"] == "fail"


def test_migrate_stops_running_containers_like_podman(podpy: Any, paths: Paths) -> None:
    podpy("run", "-d", "--network", "none", "--name", "m1", "127.0.0.1:5000/busybox:latest",
          "sh", "-c", "trap 'exit 3' TERM; sleep 60 & wait", check=True)  # fmt: skip
    old = read_pid(paths)
    r = podpy("system", "migrate", check=True)
    assert (r.stdout, r.stderr) == ("", "")
    assert gone(old)
    assert (
        podpy("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", "m1", check=True).stdout
        == "exited 3\n"
    )
    podpy("start", "m1", check=True)  # in the new namespace
    assert read_pid(paths) not in (None, old)


def test_volumes_and_networks_in_df_prune_and_reset(podpy: Any, paths: Paths) -> None:
    for v in ("used", "idle"):
        podpy("volume", "create", v, check=True)
    podpy("network", "create", "idlenet", check=True)
    podpy("run", "--network", "none", "-v", "used:/data", "127.0.0.1:5000/busybox:latest",
          "sh", "-c", "head -c 3000 /dev/zero > /data/f", check=True)  # fmt: skip
    vols = _df(podpy)["Local Volumes"]
    assert (vols["Total"], vols["Active"], vols["RawSize"], vols["RawReclaimable"]) == (2, 1, 3000, 0)
    verbose = podpy("system", "df", "-v", check=True).stdout
    assert verbose.endswith(
        "VOLUME NAME  LINKS       SIZE\nidle         0           0B\nused         1           3kB\n"
    )
    r = podpy("system", "prune", "-f", check=True)  # volumes stay without --volumes
    assert "Deleted Volumes" not in r.stdout and r.stdout.splitlines()[-3:-1] == [
        "Deleted Networks",
        "idlenet",
    ]
    r = podpy("system", "prune", "-f", "--volumes", check=True)  # the container went above: both unused
    assert r.stdout == "Deleted Volumes\nidle\nused\nTotal reclaimed space: 3kB\n"
    podpy("volume", "create", "again", check=True)
    podpy("network", "create", "againnet", check=True)
    podpy("system", "reset", "-f", check=True)
    assert podpy("volume", "ls", "-q", check=True).stdout == ""
    assert podpy("network", "ls", "--format", "{{.Name}}", check=True).stdout == "podman\n"


def test_info_registries_match_podmans_for_the_same_registries_conf(podpy_cli: Any, podpy_root: Any) -> None:
    conf = podpy_root.config_home / "containers" / "registries.conf"
    conf.parent.mkdir(parents=True, exist_ok=True)
    conf.write_text(
        'unqualified-search-registries = ["127.0.0.1:5000", "docker.io"]\n'
        '[[registry]]\nprefix = "example.com/foo"\nlocation = "127.0.0.1:5000/foo"\ninsecure = true\n'
        '[[registry.mirror]]\nlocation = "127.0.0.1:5001"\n'
    )
    env = dict(os.environ, CONTAINERS_REGISTRIES_CONF=str(conf))
    r = subprocess.run(["podman", "info", "--format", "{{json .Registries}}"], capture_output=True, text=True,
                       env=env, check=False)  # fmt: skip
    assert r.returncode == 0, r.stderr
    # podpy reads the same file through XDG_CONFIG_HOME (podpy_cli's config home)
    got = podpy_cli("info", "--format", "{{json .Registries}}", check=True).stdout
    assert json.loads(got) == json.loads(r.stdout)


def test_prune_and_reset_take_pods_with_their_infra(podpy: Any, paths: Paths) -> None:
    """As podman: ``system prune`` deletes stopped pods (their infra containers go with them, not as
    containers); ``system reset`` removes running pods too, network helpers included."""
    pod_id = podpy("pod", "create", "--name", "pp", check=True).stdout.strip()
    podpy("pod", "start", "pp", check=True)
    podpy("pod", "stop", "pp", check=True)
    r = podpy("system", "prune", "-f", check=True)
    assert r.stdout.startswith(f"Deleted Pods\n{pod_id}\n") and "Deleted Containers" not in r.stdout, r.stdout
    assert podpy("pod", "ps", "-q", check=True).stdout == ""
    podpy("pod", "create", "--name", "live", check=True)
    podpy("pod", "start", "live", check=True)
    r = podpy("system", "reset", "-f", check=True)
    assert (r.stdout, r.stderr) == ("", "")
    left = subprocess.run(["pgrep", "-f", f"slirp4netns.*{paths.runroot}"], capture_output=True, text=True)
    assert left.stdout == "", left.stdout
