"""`podpy info` / `podpy system info`: Podman's shape, the storage driver choice, --format."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import yaml

from podpy.util.paths import Paths

from .conftest import write_storage_conf


def shape(v: Any) -> Any:
    """The keys of a document, recursively (lists by their first element)."""
    if isinstance(v, dict):
        return {k: shape(x) for k, x in v.items()}
    if isinstance(v, list):
        return [shape(v[0])] if v else []
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return "number"  # a float that happens to be 0 prints as "0" (YAML then reads an int), as in Podman
    return type(v).__name__


def info_json(podpy_cli: Any, *args: str, **kw: Any) -> dict[str, Any]:
    r = podpy_cli(*args, "info", "--format", "json", check=True, **kw)
    return json.loads(r.stdout)


def test_default_output_is_yaml_with_podmans_keys(
    podpy_cli: Any, paths: Paths, testenv: dict[str, Any]
) -> None:
    r = podpy_cli("info", check=True)
    assert r.stderr == ""
    doc = yaml.safe_load(r.stdout)
    assert set(doc) >= {"host", "store", "version", "registries"}
    host, store = doc["host"], doc["store"]
    assert host["arch"] == {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    assert host["os"] == "linux"
    assert host["kernel"] == os.uname().release
    assert host["security"]["rootless"] is True
    assert store["graphRoot"] == str(paths.root)
    assert store["runRoot"] == str(paths.runroot)
    assert store["graphDriverName"] == "overlay"
    assert store["imageStore"] == {"number": 0}
    assert isinstance(doc["version"]["Version"], str)
    # the same document as --format json (values that change between two calls aside)
    assert shape(doc) == shape(info_json(podpy_cli))
    assert doc["host"]["idMappings"] == info_json(podpy_cli)["host"]["idMappings"]


def test_id_mappings_match_podmans_and_the_namespace(
    podpy_cli: Any, paths: Paths, testenv: dict[str, Any]
) -> None:
    u = testenv["user"]
    want_u = [{"container_id": 0, "host_id": u["uid"], "size": 1},
              {"container_id": 1, "host_id": u["subuid"]["start"], "size": u["subuid"]["count"]}]  # fmt: skip
    want_g = [{"container_id": 0, "host_id": u["gid"], "size": 1},
              {"container_id": 1, "host_id": u["subgid"]["start"], "size": u["subgid"]["count"]}]  # fmt: skip
    before = info_json(podpy_cli)["host"]["idMappings"]  # no namespace yet: computed from /etc/subuid
    assert before == {"gidmap": want_g, "uidmap": want_u}
    assert not (paths.runroot / "pause.pid").exists()  # info does not create the namespace
    podpy_cli("unshare", "true", check=True)
    assert info_json(podpy_cli)["host"]["idMappings"] == before  # read from the pause process
    r = subprocess.run(["podman", "info", "--format", "{{json .Host.IDMappings}}"],
                       capture_output=True, text=True, check=False)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == before


def test_go_templates_use_podmans_field_names(podpy_cli: Any, paths: Paths, testenv: dict[str, Any]) -> None:
    u = testenv["user"]
    fmt = ("{{.Host.Arch}}|{{.Host.OS}}|{{.Host.Security.Rootless}}|{{.Store.GraphDriverName}}|"
           "{{.Store.ImageStore.Number}}|{{.Host.IDMappings.UIDMap}}|{{json .Store.ImageStore}}|{{.Version.OsArch}}")  # fmt: skip
    r = podpy_cli("info", "--format", fmt, check=True)
    arch = info_json(podpy_cli)["host"]["arch"]
    assert r.stdout == (
        f"{arch}|linux|true|overlay|0|[{{0 {u['uid']} 1}} {{1 {u['subuid']['start']} {u['subuid']['count']}}}]"
        f'|{{"number":0}}|linux/{arch}\n'
    )
    r = podpy_cli("system", "info", "-f", "{{.Host.Nope}}")
    assert r.returncode == 125
    assert r.stderr.startswith("Error: template: info:1:")
    assert r.stderr.endswith(
        ': executing "info" at <.Host.Nope>: can\'t evaluate field Nope in type *define.HostInfo\n'
    )


def test_system_info_is_info(podpy_cli: Any, paths: Paths) -> None:
    a = podpy_cli("system", "info", "--format", "{{.Store.GraphRoot}} {{.Host.Kernel}}", check=True)
    b = podpy_cli("info", "--format", "{{.Store.GraphRoot}} {{.Host.Kernel}}", check=True)
    assert a.stdout == b.stdout == f"{paths.root} {os.uname().release}\n"


def test_driver_from_storage_conf_and_flag(podpy_cli: Any, podpy_root: Any, paths: Paths) -> None:
    conf = write_storage_conf(podpy_root.config_home, '[storage]\ndriver = "vfs"\n')
    store = info_json(podpy_cli)["store"]
    assert (store["graphDriverName"], store["configFile"]) == ("vfs", str(conf))
    assert info_json(podpy_cli, "--storage-driver", "overlay")["store"]["graphDriverName"] == "overlay"
    write_storage_conf(podpy_root.config_home, '[storage]\ndriver = "overlay"\n'
                       '[storage.options.overlay]\nmount_program = "/usr/bin/fuse-overlayfs"\n')  # fmt: skip
    store = info_json(podpy_cli)["store"]
    assert store["graphDriverName"] == "overlay"
    mp = store["graphOptions"]["overlay.mount_program"]
    assert mp["Executable"] == "/usr/bin/fuse-overlayfs" and "fuse-overlayfs" in mp["Version"]


def test_bad_storage_conf_is_an_error_naming_the_file(podpy_cli: Any, podpy_root: Any, paths: Paths) -> None:
    conf = write_storage_conf(podpy_root.config_home, '[storage]\ndriver = "btrfs"\n')
    r = podpy_cli("info")
    assert (r.returncode, r.stdout) == (125, "")
    assert r.stderr == f"Error: unsupported storage driver 'btrfs' ({conf}): podpy supports overlay and vfs\n"
    conf.write_text("[storage\n")
    r = podpy_cli("info")
    assert r.returncode == 125 and r.stderr.startswith(f"Error: {conf}: invalid storage.conf: ")


def test_image_count_follows_the_store(podpy_cli: Any, paths: Paths, testenv: dict[str, Any]) -> None:
    podpy_cli("pull", "-q", "--tls-verify=false", testenv["images"]["busybox"]["ref"], check=True)
    r = podpy_cli("info", "--format", "{{.Store.ImageStore.Number}}", check=True)
    assert r.stdout == "1\n"


def test_storage_driver_flag_is_used_by_run(podpy_cli: Any, paths: Paths, testenv: dict[str, Any]) -> None:
    ref = testenv["images"]["busybox"]["ref"]
    podpy_cli("pull", "-q", "--tls-verify=false", ref, check=True)
    for driver in ("vfs", "overlay"):
        r = podpy_cli("--log-level", "debug", "--storage-driver", driver, "run", "--rm", "--network", "none", ref,
                      "cat", "/etc/os-release")  # fmt: skip
        assert r.returncode == 0, r.stderr
        assert f"merged ({driver})" in r.stderr


def test_vfs_from_storage_conf_is_used_by_run(
    podpy_cli: Any, podpy_root: Any, paths: Paths, testenv: dict[str, Any]
) -> None:
    """The driver chosen in storage.conf is the one a container's rootfs gets."""
    write_storage_conf(podpy_root.config_home, '[storage]\ndriver = "vfs"\n')
    ref = testenv["images"]["busybox"]["ref"]
    podpy_cli("pull", "-q", "--tls-verify=false", ref, check=True)
    r = podpy_cli("--log-level", "debug", "run", "--rm", "--network", "none", ref, "cat", "/etc/os-release")
    assert r.returncode == 0, r.stderr
    assert "merged (vfs)" in r.stderr


def test_info_outside_a_home(tmp_path: Path, podpy_cli: Any, paths: Paths) -> None:
    """XDG dirs of a fresh user: info works and names the user's storage.conf even when missing."""
    env = {"XDG_CONFIG_HOME": str(tmp_path / "cfg"), "HOME": str(tmp_path)}
    store = info_json(podpy_cli, env=env)["store"]
    assert store["configFile"] == str(tmp_path / "cfg/containers/storage.conf")
