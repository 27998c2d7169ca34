"""``podpy volume …`` and volumes in containers, as a user types them (shapes and messages of podman 4.3)."""

from __future__ import annotations

import json
import os
import tarfile
from pathlib import Path
from typing import Any

IMG = "127.0.0.1:5000/busybox:latest"


def _ok(r: Any) -> str:
    assert r.returncode == 0, r.stderr
    return str(r.stdout)


def test_volume_commands(podpy_cli, podpy_root, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert _ok(podpy_cli("volume", "create", "--label", "a=b", "-l", "c", "myvol")) == "myvol\n"
    anon = _ok(podpy_cli("volume", "create")).strip()
    assert len(anon) == 64
    assert _ok(
        podpy_cli("volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "-o", "o=nodev", "tvol")
    )
    r = podpy_cli("volume", "create", "myvol")
    assert (r.returncode, r.stderr) == (
        125,
        "Error: volume with name myvol already exists: volume already exists\n",
    )
    assert _ok(podpy_cli("volume", "create", "--ignore", "myvol")) == "myvol\n"
    (doc,) = json.loads(_ok(podpy_cli("volume", "inspect", "myvol")))
    assert doc == {"Name": "myvol", "Driver": "local", "Mountpoint": f"{podpy_root.root}/volumes/myvol/_data",
                   "CreatedAt": doc["CreatedAt"], "Labels": {"a": "b", "c": ""}, "Scope": "local", "Options": {},
                   "MountCount": 0, "NeedsCopyUp": True, "NeedsChown": True}  # fmt: skip
    (t,) = json.loads(_ok(podpy_cli("volume", "inspect", "tvol")))
    assert t["Options"] == {"type": "tmpfs", "device": "tmpfs", "o": "nodev"}
    assert _ok(podpy_cli("volume", "ls")).splitlines() == ["DRIVER      VOLUME NAME", f"local       {anon}",
                                                          "local       myvol", "local       tvol"]  # fmt: skip
    assert _ok(podpy_cli("volume", "ls", "-q", "--filter", "label=a=b")) == "myvol\n"
    assert _ok(podpy_cli("volume", "ls", "--format", "{{.Name}} {{.Driver}} {{.Labels}}", "-f", "name=my")) == \
        "myvol local map[a:b c:]\n"  # fmt: skip
    assert [d["Name"] for d in json.loads(_ok(podpy_cli("volume", "ls", "--format", "json")))] == [
        anon,
        "myvol",
        "tvol",
    ]
    assert _ok(podpy_cli("volume", "inspect", "--format", "{{.Name}} {{.Scope}}", "myvol")) == "myvol local\n"
    assert podpy_cli("volume", "exists", "myvol").returncode == 0
    assert podpy_cli("volume", "exists", "nosuch").returncode == 1
    # bad input: podman's messages and exit codes
    r = podpy_cli("volume", "inspect", "nosuch")
    assert (r.returncode, r.stdout, r.stderr) == (
        125,
        "[]\n",
        "Error: inspecting object: no such volume nosuch\n",
    )
    r = podpy_cli("volume", "rm", "nosuch")
    assert (r.returncode, r.stderr) == (1, 'Error: no volume with name "nosuch" found: no such volume\n')
    for args, msg in [(["-o", "foo=bar"], "invalid mount option foo for driver 'local': invalid argument"),
                      (["-o", "type=bind", "-o", "device=/no/such"], "stat /no/such: no such file or directory"),
                      (["-o", "type=tmpfs", "-o", "device=tmpfs", "-o", "o=bogus"], "invalid volume option o=bogus"),
                      (["--driver", "foo"], "no volume plugin with name foo available"),
                      (["bad name!"], "names must match")]:  # fmt: skip
        r = podpy_cli("volume", "create", *args)
        assert r.returncode == 125 and r.stderr.startswith("Error: ") and msg in r.stderr, (args, r.stderr)
    r = podpy_cli("volume", "ls", "--filter", "bogus=1")
    assert (r.returncode, r.stderr) == (125, 'Error: "bogus" is an invalid volume filter\n')
    # export / import (an empty volume exports an empty tar)
    out = tmp_path / "v.tar"
    assert podpy_cli("volume", "export", "-o", str(out), "myvol").returncode == 0
    with tarfile.open(out) as tf:
        assert tf.getnames() == []
    r = podpy_cli("volume", "export", "nosuch", "-o", str(tmp_path / "x.tar"))
    assert (r.returncode, r.stderr) == (125, "Error: no such volume nosuch\n") and not (
        tmp_path / "x.tar"
    ).exists()
    # prune asks first; -f with a filter removes only what matches
    r = podpy_cli("volume", "prune", input="n\n")
    assert (
        r.returncode == 0 and "The following volumes will be removed:" in r.stdout and "myvol\n" in r.stdout
    )
    assert _ok(podpy_cli("volume", "prune", "-f", "--filter", "label=a=b")) == "myvol\n"
    assert _ok(podpy_cli("volume", "rm", "tvol", anon)) == f"tvol\n{anon}\n"
    assert _ok(podpy_cli("volume", "ls", "-q")) == ""
    assert not [p for p in (podpy_root.root / "volumes").iterdir()]


def test_volumes_in_containers(podpy, podpy_root, testenv, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # data persists across containers; -v NAME creates the volume
    _ok(podpy("run", "--name", "holder", "-v", "data:/data", IMG, "sh", "-c", "echo hi > /data/f"))
    assert _ok(podpy("run", "--rm", "-v", "data:/d:ro", IMG, "cat", "/d/f")) == "hi\n"
    (m,) = json.loads(_ok(podpy("inspect", "--format", "{{json .Mounts}}", "holder")))
    assert m == {"Type": "volume", "Name": "data", "Source": f"{podpy_root.root}/volumes/data/_data",
                 "Destination": "/data", "Driver": "local", "Mode": "", "Options": ["nosuid", "nodev", "rbind"],
                 "RW": True, "Propagation": "rprivate"}  # fmt: skip
    (doc,) = json.loads(_ok(podpy("volume", "inspect", "data")))
    assert "NeedsCopyUp" in doc and "NeedsChown" not in doc  # busybox has no /data: nothing copied up yet
    # in use: podman's error naming the container, exit 2
    holder = _ok(podpy("inspect", "--format", "{{.Id}}", "holder")).strip()
    r = podpy("volume", "rm", "data")
    assert r.returncode == 2 and r.stderr == (
        f"Error: volume data is being used by the following container(s): {holder}: volume is being used\n"
    )
    # --volumes-from CTR:ro
    r = podpy("run", "--rm", "--volumes-from", "holder:ro", IMG, "sh", "-c", "cat /data/f; touch /data/y")
    assert r.returncode == 1 and r.stdout == "hi\n" and "Read-only file system" in r.stderr
    # copy-up of the image's /etc into a new volume, keeping owners and modes
    _ok(podpy("run", "--rm", "-v", "etcv:/etc", IMG, "true"))
    out = _ok(
        podpy("run", "--rm", "--mount", "type=volume,src=etcv,dst=/mnt", IMG, "ls", "-ln", "/mnt/passwd")
    )
    assert out.startswith("-rw-r--r--") and " 0        0 " in out and " 129 " in out
    (doc,) = json.loads(_ok(podpy("volume", "inspect", "etcv")))
    assert "NeedsCopyUp" not in doc and "NeedsChown" not in doc
    _ok(podpy("run", "--rm", "-v", "nocp:/etc:nocopy", IMG, "true"))
    assert "passwd" not in _ok(podpy("run", "--rm", "-v", "nocp:/mnt", IMG, "ls", "/mnt"))
    # :U gives the volume to a non-root container user
    out = _ok(podpy("run", "--rm", "--user", "1000:1000", "-v", "uvol:/u:U", IMG, "sh", "-c",
                    "stat -c %u:%g /u && touch /u/mine && stat -c %u /u/mine"))  # fmt: skip
    assert out == "1000:1000\n1000\n"
    # anonymous volumes: -v /path and the image's VOLUME; rm -v and run --rm remove them, named ones stay
    assert _ok(podpy("load", "-i", testenv["archives"]["layered-docker-archive"]["path"]))
    _ok(podpy("create", "--name", "anon", "-v", "/scratch", "127.0.0.1:5000/layered:v2s2", "true"))
    mounts = json.loads(_ok(podpy("inspect", "--format", "{{json .Mounts}}", "anon")))
    assert sorted(m["Destination"] for m in mounts) == ["/data/vol", "/scratch"]
    anon_names = {m["Name"] for m in mounts}
    assert all(len(n) == 64 for n in anon_names)
    assert {m["Options"][1] for m in mounts} == {
        "exec",
        "nodev",
    }  # the image's VOLUME: nodev,exec,nosuid,rbind
    listed = _ok(podpy("volume", "ls", "--format", "{{.Name}} {{.Anonymous}}")).splitlines()
    assert {ln.split()[0] for ln in listed if ln.endswith(" true")} == anon_names
    _ok(podpy("run", "--rm", "-v", "/scratch2", IMG, "true"))
    _ok(podpy("rm", "-v", "anon"))
    assert set(_ok(podpy("volume", "ls", "-q")).split()) == {"data", "etcv", "nocp", "uvol"}
    # export / import round trip
    tar = tmp_path / "data.tar"
    _ok(podpy("volume", "export", "data", "-o", str(tar)))
    _ok(podpy("volume", "create", "copy"))
    _ok(podpy("volume", "import", "copy", str(tar)))
    assert _ok(podpy("run", "--rm", "-v", "copy:/c", IMG, "cat", "/c/f")) == "hi\n"
    # -o type=bind|tmpfs volumes are mounted in the container itself
    host = tmp_path / "bound"
    host.mkdir()
    _ok(podpy("volume", "create", "-o", "type=bind", "-o", f"device={host}", "-o", "o=bind", "bvol"))
    _ok(podpy("volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "-o", "o=size=1m,noexec", "tvol"))
    out = _ok(podpy("run", "--rm", "-v", "bvol:/b", "-v", "tvol:/t", IMG, "sh", "-c",
                    "echo x > /b/from-ctr && grep ' /t ' /proc/mounts"))  # fmt: skip
    assert out.startswith("tmpfs /t tmpfs rw,nosuid,nodev,noexec,") and "size=1024k" in out
    assert (host / "from-ctr").read_text() == "x\n" and (host / "from-ctr").stat().st_uid == os.getuid()
    # rm -f removes the containers using the volume, then the volume
    assert _ok(podpy("volume", "rm", "-f", "data")) == "data\n"
    assert podpy("container", "exists", "holder").returncode == 1
