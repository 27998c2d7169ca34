"""storage.conf and --storage-driver: which rootfs driver podpy uses, as Podman would read it."""

from __future__ import annotations

from pathlib import Path

import pytest

from podpy.engine import storage_conf
from podpy.util.errors import PodpyError


@pytest.fixture
def conf_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty XDG_CONFIG_HOME; no CONTAINERS_STORAGE_CONF; no system files."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.delenv(storage_conf.ENV_CONF, raising=False)
    monkeypatch.setattr(storage_conf, "SYSTEM_FILES", (tmp_path / "etc-storage.conf",))
    return tmp_path / "cfg"


def write_user_conf(home: Path, text: str) -> Path:
    p = home / "containers" / "storage.conf"
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return p


def fake_program(tmp_path: Path) -> str:
    exe = tmp_path / "fuse-overlayfs"
    exe.write_text("#!/bin/sh\necho 'fuse-overlayfs: version 9.9'\n")
    exe.chmod(0o755)
    return str(exe)


def test_nothing_configured_is_automatic_overlay(conf_home: Path) -> None:
    c = storage_conf.choose()
    assert (c.name, c.driver, c.mount_program, c.source) == ("overlay", None, None, "default")
    assert c.config_file == conf_home / "containers" / "storage.conf"  # reported even when missing


def test_user_conf_sets_vfs_and_the_flag_wins(conf_home: Path) -> None:
    p = write_user_conf(conf_home, '[storage]\ndriver = "vfs"\n')
    c = storage_conf.choose()
    assert (c.name, c.driver, c.source) == ("vfs", "vfs", str(p))
    c = storage_conf.choose("overlay")
    assert (c.name, c.driver, c.source) == ("overlay", "overlay", "flag")


def test_mount_program_means_fuse_overlayfs(conf_home: Path, tmp_path: Path) -> None:
    exe = fake_program(tmp_path)
    write_user_conf(
        conf_home, f'[storage]\ndriver = "overlay"\n[storage.options.overlay]\nmount_program = "{exe}"\n'
    )
    c = storage_conf.choose()
    assert (c.name, c.driver, c.mount_program) == ("overlay", "fuse-overlayfs", exe)
    assert storage_conf.mount_program_info(c) == {
        "Executable": exe,
        "Package": "Unknown",
        "Version": "fuse-overlayfs: version 9.9",
    }
    # the older [storage.options] spelling, and vfs ignoring it
    write_user_conf(conf_home, f'[storage.options]\nmount_program = "{exe}"\n')
    assert storage_conf.choose().driver == "fuse-overlayfs"
    c = storage_conf.choose("vfs")
    assert (c.driver, c.mount_program, storage_conf.mount_program_info(c)) == ("vfs", None, None)


def test_explicit_overlay_without_mount_program(conf_home: Path) -> None:
    write_user_conf(conf_home, '[storage]\ndriver = "overlay"\n')
    assert storage_conf.choose().driver == "overlay"  # kernel overlay, fuse-overlayfs fallback: not vfs


def test_env_var_and_system_file(conf_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    system = tmp_path / "etc-storage.conf"
    system.write_text('[storage]\ndriver = "vfs"\ngraphroot = "/var/lib/containers/storage"\n')
    assert storage_conf.choose().source == str(system)
    write_user_conf(conf_home, '[storage]\ndriver = "overlay"\n')
    assert storage_conf.choose().name == "overlay"  # the user's file replaces the system one
    env = tmp_path / "env.conf"
    env.write_text('[storage]\ndriver = "vfs"\n')
    monkeypatch.setenv(storage_conf.ENV_CONF, str(env))
    c = storage_conf.choose()
    assert (c.name, c.config_file) == ("vfs", env)
    monkeypatch.setenv(storage_conf.ENV_CONF, str(tmp_path / "missing.conf"))
    with pytest.raises(PodpyError, match=r"CONTAINERS_STORAGE_CONF=.*missing.conf: no such file"):
        storage_conf.choose()


@pytest.mark.parametrize(
    ("text", "msg"),
    [
        (
            '[storage]\ndriver = "btrfs"\n',
            r"unsupported storage driver 'btrfs' \(.*storage.conf\): podpy supports overlay and vfs",
        ),
        ("[storage\ndriver=", r"storage.conf: invalid storage.conf: "),
        ("[storage]\ndriver = 3\n", r"driver must be a string"),
        (
            '[storage.options.overlay]\nmount_program = "/nonexistent/fuse"\n',
            r"mount_program /nonexistent/fuse .* not an executable",
        ),
    ],
)
def test_bad_config_is_an_error_naming_the_file(conf_home: Path, text: str, msg: str) -> None:
    write_user_conf(conf_home, text)
    with pytest.raises(PodpyError, match=msg):
        storage_conf.choose()


def test_bad_flag(conf_home: Path) -> None:
    with pytest.raises(PodpyError, match="unsupported storage driver 'zfs' .--storage-driver."):
        storage_conf.choose("zfs")
