"""Where podpy keeps things: the same places rootless Podman uses, overridable for tests.

Data (images, containers) lives under ``$XDG_DATA_HOME/podpy`` (``~/.local/share/podpy``);
runtime files under ``$XDG_RUNTIME_DIR/podpy``, or ``/tmp/podpy-run-$UID`` when that
variable is unset (e.g. under ``su``), as Podman falls back to a private /tmp dir.
``--root``/``--runroot`` (or ``PODPY_ROOT``/``PODPY_RUNROOT``) override both.
"""

from __future__ import annotations

import os
from pathlib import Path


def _debug(msg: str, *args: object) -> None:
    """Log lazily: ``logging`` costs start-up time on every command, and this runs on every command."""
    import logging

    logging.getLogger(__name__).debug(msg, *args)


def home() -> Path:
    return Path(os.environ.get("HOME") or os.path.expanduser("~"))


def xdg_config_home() -> Path:
    return Path(os.environ.get("XDG_CONFIG_HOME") or home() / ".config")


def home_cache() -> Path:
    """``$XDG_CACHE_HOME`` (``~/.cache``): parsed config files, never data."""
    return Path(os.environ.get("XDG_CACHE_HOME") or home() / ".cache")


def xdg_data_home() -> Path:
    return Path(os.environ.get("XDG_DATA_HOME") or home() / ".local" / "share")


def real_uid() -> int:
    """The user's own uid, also inside podpy's user namespace (where getuid() is 0)."""
    return int(os.environ.get("_PODPY_ROOTLESS_UID") or os.getuid())


def xdg_runtime_dir() -> Path:
    """The user's runtime dir; a private 0700 dir in /tmp when XDG_RUNTIME_DIR is unset or unusable."""
    value = os.environ.get("XDG_RUNTIME_DIR")
    uid = real_uid()
    if value:
        p = Path(value)
        try:
            st = p.stat()
            if st.st_uid in (uid, os.getuid()):
                return p
            _debug("XDG_RUNTIME_DIR=%s is not owned by uid %d; using a private dir in /tmp", value, uid)
        except OSError:
            _debug("XDG_RUNTIME_DIR=%s does not exist; using a private dir in /tmp", value)
    else:
        _debug("XDG_RUNTIME_DIR is unset; using a private dir in /tmp")
    p = Path(f"/tmp/podpy-run-{uid}")
    try:
        p.mkdir(mode=0o700, exist_ok=True)
    except OSError:
        pass
    return p


class Paths:
    """The directories of one podpy invocation (a plain class: ``dataclasses`` is slow to import)."""

    __slots__ = ("root", "runroot")

    def __init__(self, root: Path, runroot: Path) -> None:
        self.root = root  # persistent data: store, containers, volumes
        self.runroot = runroot  # runtime state: pause pid, locks, sockets

    def __setattr__(self, name: str, value: object) -> None:
        if hasattr(self, name):
            raise AttributeError(f"Paths is immutable: cannot set {name}")
        object.__setattr__(self, name, value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Paths) and (self.root, self.runroot) == (other.root, other.runroot)

    def __hash__(self) -> int:
        return hash((self.root, self.runroot))

    def __repr__(self) -> str:
        return f"Paths(root={self.root!r}, runroot={self.runroot!r})"

    @property
    def storage(self) -> Path:
        return self.root / "storage"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"


def default_paths(
    root: str | os.PathLike[str] | None = None, runroot: str | os.PathLike[str] | None = None
) -> Paths:
    root = root or os.environ.get("PODPY_ROOT")
    runroot = runroot or os.environ.get("PODPY_RUNROOT")
    if os.geteuid() == 0 and not os.environ.get("PODPY_ROOTLESS"):
        r = Path(root) if root else Path("/var/lib/podpy")
        rr = Path(runroot) if runroot else Path("/run/podpy")
    else:
        r = Path(root) if root else xdg_data_home() / "podpy"
        rr = Path(runroot) if runroot else xdg_runtime_dir() / "podpy"
    return Paths(root=r, runroot=rr)


def config_search(*names: str) -> list[Path]:
    """Candidate config files, most specific first: user config, then /etc, then /usr/share."""
    out: list[Path] = []
    for base in (xdg_config_home() / "containers", Path("/etc/containers"), Path("/usr/share/containers")):
        for n in names:
            out.append(base / n)
    return out
