"""system df/prune/check/doctor pieces on synthetic stores and fake inputs (no namespaces, no network)."""

from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path
from typing import Any

import pytest

from podpy.cli.system import DfSummaryRow, df_text, go_human_size, version_text
from podpy.engine import system_doctor as doc
from podpy.engine.system_df import ContainerUsage, DiskUsage, ImageUsage, _image_rows
from podpy.engine.system_peers import VolumeUsage
from podpy.engine.system_prune import parse_filters, until_time
from podpy.store.check import StoreChecker
from podpy.util.errors import StoreError, UsageError
from podpy.util.paths import Paths

from .conftest import MakeImage


@pytest.mark.parametrize(
    ("n", "want"),
    [
        (0, "0B"),
        (12, "12B"),
        (10240, "10.24kB"),
        (2141951, "2.142MB"),
        (10_770_000, "10.77MB"),
        (5 * 10**9, "5GB"),
    ],
)
def test_go_human_size_is_go_units_humansize(n: int, want: str) -> None:
    assert go_human_size(n) == want


def _du() -> DiskUsage:
    t = _dt.datetime(2023, 1, 1, tzinfo=_dt.UTC)
    img = "31e4c878a05cce3dfd1b646f40f047b7a5dd8d3d32f7f81bf6896504a47c5db9"
    return DiskUsage(
        images=[
            ImageUsage("127.0.0.1:5000/busybox", "latest", img, t, 2141951, 0, 2141951, 1),
            ImageUsage("<none>", "<none>", "ab" * 32, t, 1000, 0, 1000, 0),
        ],  # fmt: skip
        images_size=2142951,
        containers=[
            ContainerUsage("cd" * 32, img, ["sleep", "9"], 1, 12, 0, "running", "c1"),
            ContainerUsage("ef" * 32, img, ["true"], 0, 30, 0, "exited", "c2"),
        ],  # fmt: skip
        volumes=[VolumeUsage("v1", 1, 5), VolumeUsage("v2", 0, 7)],
    )


def test_df_summary_table_and_numbers_as_podman() -> None:
    out = df_text(_du(), None, False)
    assert out.splitlines() == [
        "TYPE           TOTAL       ACTIVE      SIZE        RECLAIMABLE",
        "Images         2           1           2.143MB     1kB (0%)",
        "Containers     2           1           42B         30B (71%)",
        "Local Volumes  2           1           12B         7B (58%)",
    ]
    rows = json.loads(df_text(_du(), "json", False))
    assert [r["Type"] for r in rows] == ["Images", "Containers", "Local Volumes"]
    assert rows[1] == {"Type": "Containers", "Total": 2, "Active": 1, "RawSize": 42, "RawReclaimable": 30,
                       "TotalCount": 2, "Size": "42B", "Reclaimable": "30B (71%)"}  # fmt: skip
    assert (
        df_text(_du(), "{{.Type}}={{.RawReclaimable}}", False)
        == "Images=1000\nContainers=30\nLocal Volumes=7\n"
    )
    assert df_text(_du(), "table {{.Type}} {{.Total}}", False).splitlines()[0] == "TYPE           TOTAL"
    with pytest.raises(UsageError, match="cannot combine --format and --verbose"):
        df_text(_du(), "json", True)


def test_df_verbose_sections() -> None:
    out = df_text(_du(), None, True)
    assert out.startswith("Images space usage:\n\nREPOSITORY              TAG         IMAGE ID      CREATED")
    assert "\n127.0.0.1:5000/busybox  latest      31e4c878a05c  " in out
    assert "\nContainers space usage:\n\nCONTAINER ID  IMAGE         COMMAND     LOCAL VOLUMES  SIZE" in out
    assert "\ncdcdcdcdcdcd  31e4c878a05c  sleep 9     1              12B" in out
    assert out.endswith("\nLocal Volumes space usage:\n\nVOLUME NAME  LINKS       SIZE\nv1           1           5B\n"
                        "v2           0           7B\n")  # fmt: skip


def test_reclaimable_percent_rounds_and_survives_zero() -> None:
    from podpy.engine.system_df import Summary

    assert DfSummaryRow(Summary("Images", 0, 0, 0, 0)).Reclaimable() == "0B (0%)"
    assert DfSummaryRow(Summary("Images", 1, 0, 1000, 205)).Reclaimable() == "205B (21%)"


def test_image_rows_shared_and_unique(paths: Paths, make_image: MakeImage) -> None:
    a = make_image(["localhost/a:1", "localhost/a:2"], layers=[{"base": b"x" * 100}, {"a": b"a"}])
    b = make_image([], layers=[{"base": b"x" * 100}, {"b": b"bb"}])
    rows, total = _image_rows(paths, {a: 1})
    by = {(r.repository, r.tag): r for r in rows}
    assert set(by) == {("localhost/a", "1"), ("localhost/a", "2"), ("<none>", "<none>")}
    ra, rb = by["localhost/a", "1"], by["<none>", "<none>"]
    assert ra.image_id == a and rb.image_id == b and ra.containers == 1 and rb.containers == 0
    assert ra.shared_size == rb.shared_size > 0  # the base layer
    assert ra.unique_size == ra.size - ra.shared_size
    assert total == ra.size + rb.size - ra.shared_size  # the shared layer counted once


def test_version_text_formats() -> None:
    v = {"APIVersion": "1", "Version": "1", "GoVersion": "python3.11.2", "GitCommit": "", "BuiltTime": "T",
         "Built": 0, "OsArch": "linux/amd64", "Os": "linux"}  # fmt: skip
    assert version_text(v, None).splitlines()[:2] == ["Client:          podpy", "Version:         1"]
    assert json.loads(version_text(v, "json")) == {"Client": v}
    assert version_text(v, "{{.Client.Version}} {{.Client.OsArch}}") == "1 linux/amd64\n"


def test_prune_filters() -> None:
    f = parse_filters(["label=a=b", "label!=c", "until=1h"], now=10_000.0)
    assert f.until == 10_000.0 - 3600
    assert f.match({"a": "b"}, 1.0) and not f.match({"a": "b", "c": "x"}, 1.0)
    assert not f.match({"a": "x"}, 1.0) and not f.match({"a": "b"}, 9999.0)
    assert until_time("2023-01-01T00:00:00Z") == _dt.datetime(2023, 1, 1, tzinfo=_dt.UTC).timestamp()
    assert until_time("1700000000") == 1_700_000_000.0
    with pytest.raises(UsageError, match="foo is an invalid filter"):
        parse_filters(["foo=1"])
    with pytest.raises(UsageError, match="invalid until"):
        parse_filters(["until=yesterday"])


# --- store check --------------------------------------------------------------------------------


def _kinds(rep: Any) -> list[tuple[str, str]]:
    return [(f.kind, f.subject) for f in rep.findings]


def test_check_clean_store_and_planted_problems(paths: Paths, make_image: MakeImage) -> None:
    iid = make_image(["localhost/a:1"], layers=[{"f": b"data" * 1000}])
    root = paths.storage
    chk = StoreChecker(root)
    assert chk.check().findings == []
    from podpy.store.images import ImageDB

    rec = ImageDB(root / "images.db").get(iid)
    assert rec is not None
    layer_blob = root / "blobs" / rec.layers[0].digest.replace(":", "/")
    orphan = "sha256:" + "ab" * 32
    (root / "overlay" / ("ab" * 32) / "diff").mkdir(parents=True)
    (root / "overlay" / ("ab" * 32) / "layer.json").write_text(json.dumps({"diff_id": orphan, "size": 0}))
    (root / "overlay" / ".tmp-0123-1-abcd" / "diff").mkdir(parents=True)
    (root / "tmp").mkdir(exist_ok=True)
    (root / "tmp" / "blob-1-ff").write_bytes(b"partial")
    os.chmod(layer_blob, 0o644)
    layer_blob.write_bytes(layer_blob.read_bytes()[:10])  # truncated
    rep = chk.check()
    assert set(_kinds(rep)) == {
        ("temp", "tmp/blob-1-ff"),
        ("temp", "overlay/.tmp-0123-1-abcd"),
        ("corrupt-blob", rec.layers[0].digest),
        ("damaged-image", iid),
        ("orphan-layer", orphan),
    }
    assert (root / "tmp" / "blob-1-ff").exists()  # checking alone changes nothing
    # a damaged image a container uses stays (the caller says so through keep_images)
    rep = chk.check(repair=True, keep_images={iid})
    by = {f.kind: f for f in rep.findings}
    assert by["damaged-image"].repaired is False and "in use" in by["damaged-image"].error
    assert all(f.repaired for f in rep.findings if f.kind != "damaged-image")
    assert not layer_blob.exists() and not (root / "overlay" / ("ab" * 32)).exists()
    rep = chk.check(repair=True)
    assert {f.kind for f in rep.findings} >= {"damaged-image", "unreferenced-blob", "orphan-layer"}
    assert all(f.repaired for f in rep.findings)
    assert chk.check().findings == [] and ImageDB(root / "images.db").all() == []


def test_quick_check_skips_hashing_but_not_sizes(paths: Paths, make_image: MakeImage) -> None:
    iid = make_image(["localhost/a:1"])
    root = paths.storage
    from podpy.store.images import ImageDB

    rec = ImageDB(root / "images.db").get(iid)
    assert rec is not None
    cfg = root / "blobs" / rec.config_digest.replace(":", "/")
    os.chmod(cfg, 0o644)
    data = cfg.read_bytes()
    cfg.write_bytes(data.replace(b"amd64", b"arm64"))  # same size, other content
    assert StoreChecker(root).check(quick=True).findings == []
    assert ("corrupt-blob", rec.config_digest) in _kinds(StoreChecker(root).check())


def test_check_refuses_while_a_writer_is_active(paths: Paths, make_image: MakeImage) -> None:
    make_image(["localhost/a:1"])
    from podpy.store import session

    with session.shared(paths.storage / "locks" / "store.lock"), pytest.raises(StoreError, match="busy"):
        StoreChecker(paths.storage).check(wait=0)


# --- doctor -------------------------------------------------------------------------------------


def test_doctor_subuid_missing_and_small(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pwd

    me = pwd.getpwuid(os.getuid()).pw_name
    f = tmp_path / "subuid"
    f.write_text("# nobody\n")
    monkeypatch.setenv("PODPY_SUBUID_FILE", str(f))
    monkeypatch.setenv("PODPY_SUBGID_FILE", str(f))
    c = doc.check_subuid()
    assert c.status == doc.FAIL and str(f) in c.message and "usermod --add-subuids" in c.fix
    f.write_text(f"{me}:200000:1000\n")
    c = doc.check_subgid()
    assert c.status == doc.WARN and "only 1000 subordinate gids" in c.message
    f.write_text(f"{me}:200000:65536\n")
    assert doc.check_subuid().status == doc.OK


def test_doctor_sysctls_from_a_fake_proc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "user").mkdir()
    (tmp_path / "net/ipv4").mkdir(parents=True)
    (tmp_path / "user/max_user_namespaces").write_text("0\n")
    (tmp_path / "net/ipv4/ip_unprivileged_port_start").write_text("1024\n")
    monkeypatch.setattr(doc, "PROC_SYS", str(tmp_path))
    assert doc.check_userns().status == doc.FAIL
    c = doc.check_ports()
    assert c.status == doc.WARN and "ip_unprivileged_port_start=80" in c.fix
    (tmp_path / "net/ipv4/ip_unprivileged_port_start").write_text("0\n")
    assert doc.check_ports().status == doc.OK


def test_doctor_runtime_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    assert doc.check_runtime_dir().status == doc.WARN
    d = tmp_path / "xdg"
    d.mkdir(mode=0o755)
    os.chmod(d, 0o755)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(d))
    c = doc.check_runtime_dir()
    assert c.status == doc.FAIL and "mode 0755, not 0700" in c.message and "chmod 0700" in c.fix
    os.chmod(d, 0o700)
    assert doc.check_runtime_dir().status == doc.OK
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "missing"))
    assert doc.check_runtime_dir().status == doc.FAIL


def test_doctor_store_on_nfs_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from podpy.engine import info

    monkeypatch.setattr(info, "mount_of", lambda p: ("/srv", "nfs4", "rw"))
    c = doc.check_store_fs(Paths(tmp_path, tmp_path))
    assert c.status == doc.FAIL and "nfs4" in c.message and "--root" in c.fix


def test_mount_of_picks_the_longest_mount_point(tmp_path: Path) -> None:
    from podpy.engine.info import mount_of

    mi = tmp_path / "mountinfo"
    mi.write_text(
        "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
        f"30 22 0:5 / {tmp_path} rw - tmpfs tmpfs rw,size=10k\n"
        "31 22 0:6 / /srv\\040x rw - nfs4 host:/x rw\n"
    )
    assert mount_of(tmp_path / "a/b", str(mi))[:2] == (str(tmp_path), "tmpfs")
    assert mount_of(Path("/srv x/y"), str(mi))[:2] == ("/srv x", "nfs4")
    assert mount_of(Path("/usr"), str(mi))[:2] == ("/", "ext4")


# --- volumes and networks as the system commands see them -----------------------------------------


def test_peers_on_real_volumes_and_networks(paths: Paths) -> None:
    from podpy.engine import networks, volumes
    from podpy.engine import system_peers as peers

    volumes.create(paths, "v1", labels={"a": "b"})
    (paths.root / "volumes" / "v1" / "_data" / "f").write_bytes(b"x" * 300)
    volumes.create(paths, "v2", labels={"keep": "1"})
    networks.create(paths, name="n1", labels={"k": "v"})
    assert [(u.name, u.links, u.size, u.reclaimable, u.labels) for u in peers.volume_usage(paths)] == [
        ("v1", 0, 300, 300, {"a": "b"}), ("v2", 0, 0, 0, {"keep": "1"})]  # fmt: skip
    assert peers.volume_count({"spec": {"mounts": [{"type": "bind", "volume": "v1"}, {"type": "bind"}]}}) == 1
    assert peers.prune_volumes(paths, ["label=a"]) == [("v1", 300)]  # only what the filter names
    assert peers.prune_networks(paths, ["until=1h", "label!=k"]) == []  # until is dropped; label!=k spares n1
    assert peers.remove_all_volumes(paths) == ["v2"]
    assert peers.remove_all_networks(paths) == ["n1"]  # the built-in default is never removed
    assert peers.list_networks(paths) in ([], ["podman"])
