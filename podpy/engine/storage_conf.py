"""Which rootfs driver to use: ``--storage-driver``, else ``storage.conf``, else automatic.

Read like containers/storage does for a rootless user: ``$CONTAINERS_STORAGE_CONF`` if set, else
the first of ``$XDG_CONFIG_HOME/containers/storage.conf``, ``/etc/containers/storage.conf``,
``/usr/share/containers/storage.conf`` that exists. podpy honours::

    [storage]
    driver = "overlay"            # or "vfs"
    [storage.options.overlay]     # ([storage.options] mount_program is the older spelling)
    mount_program = "/usr/bin/fuse-overlayfs"

Its own ``graphroot``/``runroot`` stay podpy's (``--root``/``--runroot``): podpy's store layout is
not containers/storage's, so sharing Podman's directories would corrupt both.

The result is a :class:`StorageChoice` whose ``driver``/``mount_program`` go straight to
``podpy.store.rootfs.mount_rootfs``; ``name`` is what ``podpy info`` reports as graphDriverName.
"""

from __future__ import annotations

import os
from pathlib import Path

from podpy.util.errors import PodpyError
from podpy.util.log import get_logger
from podpy.util.paths import xdg_config_home
from podpy.util.record import FrozenRecord

TYPE_CHECKING = False  # not typing's: importing typing costs every command start-up time
if TYPE_CHECKING:
    from typing import Any

log = get_logger(__name__)

ENV_CONF = "CONTAINERS_STORAGE_CONF"
SYSTEM_FILES = (Path("/etc/containers/storage.conf"), Path("/usr/share/containers/storage.conf"))
DRIVERS = ("overlay", "vfs")
MAX_CONF = 1 << 20


class StorageChoice(FrozenRecord):
    """The rootfs driver podpy uses and where that choice came from."""

    __slots__ = ("name", "driver", "mount_program", "config_file", "source")
    __match_args__ = __slots__  # as a dataclass's

    name: str  # "overlay" or "vfs": Podman's graphDriverName
    driver: str | None  # for mount_rootfs: None = automatic (overlay → fuse-overlayfs → vfs)
    mount_program: str | None  # fuse-overlayfs to use instead of kernel overlay
    config_file: Path  # the file Podman reports (the user's, even when it does not exist)
    source: str  # "flag", the file that set it, or "default"

    def __init__(self, name: str, driver: str | None, mount_program: str | None, config_file: Path,
                 source: str) -> None:  # fmt: skip
        self.name = name
        self.driver = driver
        self.mount_program = mount_program
        self.config_file = config_file
        self.source = source


def user_conf() -> Path:
    return xdg_config_home() / "containers" / "storage.conf"


def conf_file() -> Path | None:
    """The storage.conf that applies, or None."""
    env = os.environ.get(ENV_CONF)
    if env:
        return Path(env)
    for p in (user_conf(), *SYSTEM_FILES):
        if p.is_file():
            return p
    return None


def load(path: Path) -> dict[str, Any]:
    """Parse one storage.conf (TOML); a broken file is an error that names it (Podman refuses too)."""
    from podpy.util import tomlcache

    try:
        conf = tomlcache.load(path, MAX_CONF)
    except tomlcache.TomlError as e:
        raise PodpyError(f"{path}: invalid storage.conf: {e}") from None
    if conf is None:
        if os.environ.get(ENV_CONF):
            raise PodpyError(f"{ENV_CONF}={path}: no such file") from None
        return {}
    return conf


def _table(d: Any, *keys: str) -> dict[str, Any]:
    for k in keys:
        d = d.get(k) if isinstance(d, dict) else None
    return d if isinstance(d, dict) else {}


def _check_driver(name: str, where: str) -> str:
    if name not in DRIVERS:
        raise PodpyError(f"unsupported storage driver {name!r} ({where}): podpy supports overlay and vfs")
    return name


def choose(flag: str | None = None) -> StorageChoice:
    """The driver for this invocation: the --storage-driver flag wins over storage.conf.

    ``overlay`` (the default) mounts kernel overlayfs and falls back to fuse-overlayfs when the
    kernel refuses; a ``mount_program`` makes it always use that program, as in Podman;
    with no configuration at all, ``vfs`` (a copy) is the last resort.
    """
    path = conf_file()
    conf = load(path) if path else {}
    storage = _table(conf, "storage")
    overlay_opts = _table(storage, "options", "overlay")
    mount_program = overlay_opts.get("mount_program") or _table(storage, "options").get("mount_program")
    if mount_program is not None and not isinstance(mount_program, str):
        raise PodpyError(f"{path}: mount_program must be a string")
    conf_driver = storage.get("driver") or None
    if conf_driver is not None and not isinstance(conf_driver, str):
        raise PodpyError(f"{path}: [storage] driver must be a string")
    if flag:
        name, source = _check_driver(flag, "--storage-driver"), "flag"
    elif conf_driver:
        name, source = _check_driver(conf_driver, str(path)), str(path)
    else:
        name, source = "overlay", "default"
    if name != "overlay":
        mount_program = None
    if mount_program and not (os.path.isfile(mount_program) and os.access(mount_program, os.X_OK)):
        raise PodpyError(
            f"mount_program {mount_program} ({path}) is not an executable file: install fuse-overlayfs "
            "or remove the setting"
        )
    driver: str | None
    if name == "vfs":
        driver = "vfs"
    elif mount_program:
        driver = "fuse-overlayfs"
    elif source == "default":
        driver = None
    else:
        driver = "overlay"
    report_path = Path(os.environ[ENV_CONF]) if os.environ.get(ENV_CONF) else user_conf()
    return StorageChoice(name, driver, mount_program, report_path, source)


def mount_program_info(choice: StorageChoice) -> dict[str, str] | None:
    """Podman's ``graphOptions["overlay.mount_program"]``: the program and its version line."""
    exe = choice.mount_program
    if not exe:
        return None
    import subprocess

    try:
        r = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=5)
        version = (r.stdout + r.stderr).strip()
    except (OSError, subprocess.SubprocessError):
        version = ""
    return {"Executable": exe, "Package": "Unknown", "Version": version}
