"""Named volumes without containers: records on disk, Podman's shapes and messages, filters, the
``-v``/``--mount`` parsing, copy-up and the inspect ``Mounts`` entries."""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path

import pytest

from podpy.engine import volume_mounts, volumes
from podpy.engine.state import ContainerRecord, State
from podpy.spec.container import Mount, parse_mount, parse_volume
from podpy.util.errors import ConflictError, NotFoundError, PodpyError, UsageError
from podpy.util.paths import Paths


def test_create_get_inspect_and_layout(paths: Paths) -> None:
    vol = volumes.create(paths, "myvol", labels={"a": "b"})
    assert (paths.root / "volumes/myvol/_data").is_dir()
    assert json.loads((paths.root / "volumes/myvol/volume.json").read_text())["name"] == "myvol"
    doc = volumes.inspect(paths, volumes.get(paths, "myvol"))
    assert list(doc) == ["Name", "Driver", "Mountpoint", "CreatedAt", "Labels", "Scope", "Options", "MountCount",
                         "NeedsCopyUp", "NeedsChown"]  # fmt: skip
    assert doc["Mountpoint"] == str(paths.root / "volumes/myvol/_data") and doc["Labels"] == {"a": "b"}
    assert doc["CreatedAt"].endswith("Z") and doc["CreatedAt"][:4].isdigit() and vol.driver == "local"
    anon = volumes.create(paths, anonymous=True)
    assert len(anon.name) == 64 and volumes.inspect(paths, anon)["Anonymous"] is True
    assert [v.name for v in volumes.list_volumes(paths)] == sorted([anon.name, "myvol"])
    assert volumes.get(paths, "myv").name == "myvol"  # a unique prefix, as Podman
    vol.needs_copy_up = vol.needs_chown = False
    volumes.save(paths, vol)
    assert "NeedsCopyUp" not in volumes.inspect(paths, volumes.get(paths, "myvol"))


def test_create_conflicts_and_bad_input(paths: Paths) -> None:
    volumes.create(paths, "v1")
    with pytest.raises(ConflictError, match="volume with name v1 already exists: volume already exists"):
        volumes.create(paths, "v1")
    assert volumes.create(paths, "v1", ignore=True).name == "v1"
    with pytest.raises(UsageError, match=r"names must match \[a-zA-Z0-9\]"):
        volumes.create(paths, "bad name!")
    with pytest.raises(PodpyError, match="no volume plugin with name foo available"):
        volumes.create(paths, "x", driver="foo")
    with pytest.raises(UsageError, match="invalid mount option foo for driver 'local': invalid argument"):
        volumes.parse_options(["foo=bar"])
    with pytest.raises(UsageError, match="type=tmpfs or -o type=bind"):
        volumes.parse_options(["type=nfs", "device=x"])
    with pytest.raises(UsageError, match="stat /no/such/dir: no such file or directory"):
        volumes.parse_options(["type=bind", "device=/no/such/dir"])
    with pytest.raises(UsageError, match="invalid volume option o=bogus"):
        volumes.parse_options(["type=tmpfs", "device=tmpfs", "o=bogus"])
    assert volumes.parse_options(["type=tmpfs", "device=tmpfs", "o=size=1m,nodev"])["o"] == "size=1m,nodev"
    with pytest.raises(NotFoundError, match='no volume with name "nosuch" found: no such volume'):
        volumes.get(paths, "nosuch")
    with pytest.raises(NotFoundError) as ei:
        volumes.remove(paths, "nosuch")
    assert ei.value.exit_code == 1
    assert not any(p.name.startswith(".") for p in (paths.root / "volumes").iterdir())


def _container(paths: Paths, name: str, vols: list[str]) -> str:
    cid = os.urandom(32).hex()
    mounts = [{"type": "bind", "destination": f"/m{i}", "source": "/x", "options": ["rw"], "volume": v}
              for i, v in enumerate(vols)]  # fmt: skip
    State(paths).create(
        ContainerRecord(id=cid, name=name, state="created", config={"spec": {"mounts": mounts}})
    )
    return cid


def test_in_use_filters_prune_and_remove_anonymous(paths: Paths) -> None:
    volumes.create(paths, "used", labels={"k": "v"})
    volumes.create(paths, "free", labels={"k": "w", "flag": ""})
    anon = volumes.create(paths, anonymous=True).name
    cid = _container(paths, "c1", ["used", anon])
    with pytest.raises(ConflictError) as ei:
        volumes.remove(paths, "used")
    assert ei.value.exit_code == 2 and ei.value.message == (
        f"volume used is being used by the following container(s): {cid}: volume is being used"
    )
    used = volumes.users(paths)
    pick = lambda *f: [v.name for v in volumes.list_volumes(paths)  # noqa: E731
                       if volumes.matches(v, volumes.parse_filters(f), used)]  # fmt: skip
    assert pick("dangling=true") == ["free"]
    assert (
        pick("label=k=v") == ["used"]
        and pick("label=flag") == ["free"]
        and pick("label!=k=v") == [anon, "free"]
    )
    assert pick("name=fr", "name=us") == ["free", "used"] and pick("driver=local", "name=^u") == ["used"]
    with pytest.raises(UsageError, match='"bogus" is an invalid volume filter'):
        volumes.parse_filters(["bogus=1"])
    assert volumes.prune(paths, volumes.parse_filters(["label=k=w"], prune=True)) == [("free", 0)]
    assert volumes.remove_anonymous(paths, State(paths).get(cid).config) == []  # still used by c1
    State(paths).remove(cid)
    assert volumes.remove_anonymous(paths, {"spec": {"mounts": [{"volume": anon}, {"volume": "used"}]}}) == [
        anon
    ]
    assert [v.name for v in volumes.list_volumes(paths)] == ["used"]  # a named volume stays


def test_export_import_round_trip(paths: Paths) -> None:
    volumes.create(paths, "src")
    data = volumes.mountpoint(paths, "src")
    (data / "sub").mkdir()
    (data / "sub/f.txt").write_text("hello")
    os.symlink("sub/f.txt", data / "link")
    buf = io.BytesIO()
    volumes.export(paths, "src", buf)
    with tarfile.open(fileobj=io.BytesIO(buf.getvalue())) as tf:
        names = sorted(tf.getnames())
    assert names == ["link", "sub", "sub/f.txt"]
    volumes.create(paths, "dst")
    volumes.import_(paths, "dst", io.BufferedReader(io.BytesIO(buf.getvalue())))  # type: ignore[arg-type]
    out = volumes.mountpoint(paths, "dst")
    assert (out / "sub/f.txt").read_text() == "hello" and os.readlink(out / "link") == "sub/f.txt"
    assert volumes.get(paths, "dst").needs_copy_up is True  # as podman; copy_up never writes into content
    with pytest.raises(NotFoundError, match="no such volume nosuch"):
        volumes.export(paths, "nosuch", io.BytesIO())
    evil = io.BytesIO()
    with tarfile.open(fileobj=evil, mode="w") as tf:
        ti = tarfile.TarInfo("../escape.txt")
        tf.addfile(ti, io.BytesIO(b""))
    with pytest.raises(PodpyError):
        volumes.import_(paths, "dst", io.BufferedReader(io.BytesIO(evil.getvalue())))  # type: ignore[arg-type]
    assert not (paths.root / "volumes/escape.txt").exists()


def test_parse_volume_and_mount() -> None:
    assert parse_volume("data:/d") == Mount(
        "volume", "/d", "data", ("rw", "rprivate", "nosuid", "nodev", "rbind")
    )
    m = parse_volume("data:/d:ro,U,nocopy,z")
    assert m.options[0] == "ro" and m.chown and m.nocopy and m.source == "data"
    assert parse_volume("/anon") == Mount(
        "volume", "/anon", "", ("rw", "rprivate", "nosuid", "nodev", "rbind")
    )
    with pytest.raises(UsageError, match="can only specify 1 'copy' or 'nocopy' option"):
        parse_volume("data:/d:nocopy,copy")
    with pytest.raises(UsageError, match="O \\(overlay\\) is not supported"):
        parse_volume("data:/d:O")
    with pytest.raises(UsageError, match="names must match"):
        parse_volume("bad!:/d")
    m = parse_mount("type=volume,source=v,target=/t,ro,volume-nocopy")
    assert (m.type, m.source, m.destination, m.options[0], m.nocopy) == ("volume", "v", "/t", "ro", True)
    assert parse_mount("type=volume,dst=/t").source == ""
    with pytest.raises(UsageError, match="unsupported option"):
        parse_mount("type=volume,src=v,dst=/t,volume-opt=x=y")


def test_copy_up_keeps_content_and_metadata(tmp_path: Path) -> None:
    rootfs, data = tmp_path / "rootfs", tmp_path / "vol/_data"
    (rootfs / "etc/sub").mkdir(parents=True)
    (rootfs / "etc/a").write_text("A")
    os.chmod(rootfs / "etc/a", 0o640)
    os.link(rootfs / "etc/a", rootfs / "etc/sub/hard")
    os.symlink("/etc/a", rootfs / "etc/abs")
    os.utime(rootfs / "etc/a", (1_234_567_890, 1_234_567_890))
    os.symlink("/", rootfs / "escape")
    data.mkdir(parents=True)
    assert volume_mounts.copy_up(rootfs, "/nothing", data) is None
    assert volume_mounts.copy_up(rootfs, "/escape/etc", data) is True  # resolved inside the rootfs
    assert (data / "a").read_text() == "A" and os.stat(data / "a").st_mode & 0o777 == 0o640
    assert (
        os.stat(data / "a").st_ino == os.stat(data / "sub/hard").st_ino
        and os.readlink(data / "abs") == "/etc/a"
    )
    assert os.stat(data / "a").st_mtime == 1_234_567_890
    assert volume_mounts.copy_up(rootfs, "/etc", data) is False  # not empty any more: kept
    volume_mounts.fix_permissions(rootfs, "/etc", data, os.getuid(), os.getgid(), None)
    assert os.stat(data).st_mode & 0o7777 == os.stat(rootfs / "etc").st_mode & 0o7777


def test_inspect_mounts_shapes(paths: Paths) -> None:
    spec = {"mounts": [
        {"type": "bind", "destination": "/etc", "source": "/x/_data", "volume": "newv",
         "options": ["rw", "rprivate", "nosuid", "nodev", "rbind"]},
        {"type": "bind", "destination": "/h", "source": "/host", "options": ["ro", "rprivate", "rbind"]},
        {"type": "bind", "destination": "/etc/hosts", "source": "/c/userdata/hosts", "options": []},
    ]}  # fmt: skip
    got = volume_mounts.inspect_mounts(paths, spec, "/c/userdata")
    assert got[0] == {"Type": "volume", "Name": "newv", "Source": str(paths.root / "volumes/newv/_data"),
                      "Destination": "/etc", "Driver": "local", "Mode": "", "Options": ["nosuid", "nodev", "rbind"],
                      "RW": True, "Propagation": "rprivate"}  # fmt: skip
    assert got[1]["Type"] == "bind" and got[1]["RW"] is False and len(got) == 2
    assert volume_mounts.bind_spec(got[0]) == "newv:/etc:rw,rprivate,nosuid,nodev,rbind"
    assert volume_mounts.bind_spec(got[1]) == "/host:/h"


def test_resolve_path_for_cp(tmp_path: Path) -> None:
    root, vol = tmp_path / "merged", tmp_path / "vol/_data"
    (root / "data").mkdir(parents=True)
    (root / "etc").mkdir()
    vol.mkdir(parents=True)
    os.symlink("/data", root / "link")
    os.symlink("/", vol / "up")
    cfg = {"spec": {"mounts": [{"type": "bind", "destination": "/data", "source": str(vol), "volume": "v"},
                               {"type": "tmpfs", "destination": "/t", "source": "tmpfs"}]}}  # fmt: skip
    assert volume_mounts.resolve_path(cfg, str(root), "/data/f") == (str(vol), str(vol / "f"))
    assert volume_mounts.resolve_path(cfg, str(root), "/link/f") == (
        str(vol),
        str(vol / "f"),
    )  # symlink first
    assert volume_mounts.resolve_path(cfg, str(root), "/data/up/etc") == (
        str(vol),
        str(vol / "etc"),
    )  # stays in
    assert volume_mounts.resolve_path(cfg, str(root), "/etc/x") == (str(root), str(root / "etc/x"))
    assert volume_mounts.resolve_path(cfg, str(root), "/datax") == (str(root), str(root / "datax"))
