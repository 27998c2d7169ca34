"""``podpy info``: the host, the store and the version, in Podman's ``info`` JSON shape.

Keys and nesting follow Podman 4.3 (``host.idMappings.uidmap[].container_id``,
``store.graphDriverName``, ``version.Version``...), so scripts reading ``podman info --format json``
read podpy's too. Values are podpy's own: its rootfs driver choice (``storage_conf``), its runtime
and its user namespace. Nothing here creates the namespace: the ID maps come from the running
pause process, else from /etc/subuid, /etc/subgid as the next namespace would get them.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import socket
import sys
import time
from pathlib import Path
from typing import Any

from podpy import __version__
from podpy.util.paths import Paths

# Podman's seccomp profile locations (runtime.seccomp.PROFILE_PATHS): read lazily there.
_SECCOMP_PATHS = ("/etc/containers/seccomp.json", "/usr/share/containers/seccomp.json")


def _os_release() -> dict[str, str]:
    out: dict[str, str] = {}
    for p in ("/etc/os-release", "/usr/lib/os-release"):
        with contextlib.suppress(OSError):
            for line in Path(p).read_text(errors="replace").splitlines():
                k, eq, v = line.partition("=")
                if eq:
                    out[k.strip()] = v.strip().strip("\"'")
            break
    dist = {"distribution": out.get("ID", "unknown"), "version": out.get("VERSION_ID", "unknown")}
    if out.get("VARIANT_ID"):
        dist["variant"] = out["VARIANT_ID"]
    if out.get("VERSION_CODENAME"):
        dist["codename"] = out["VERSION_CODENAME"]
    return dist


def _meminfo() -> dict[str, int]:
    out: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            k, _, v = line.partition(":")
            f = v.split()
            if f and f[0].isdigit():
                out[k] = int(f[0]) * (1024 if f[1:] == ["kB"] else 1)
    return out


def uptime_text(seconds: float) -> str:
    """Podman's ``13h 54m 36.00s (Approximately 0.54 days)`` (days from the whole hours, as Podman)."""
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{int(h)}h {int(m)}m {float(int(s)):.2f}s (Approximately {int(h) / 24:.2f} days)"


def _uptime() -> str:
    try:
        return uptime_text(float(Path("/proc/uptime").read_text().split()[0]))
    except (OSError, ValueError, IndexError):
        return ""


def cgroup_version() -> str:
    return "v2" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else "v1"


def _program(name: str) -> dict[str, str] | None:
    exe = shutil.which(name)
    if not exe:
        return None
    import subprocess

    try:
        r = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=5)
        version = r.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        version = ""
    return {"executable": exe, "package": "Unknown", "version": version}


def _maps(paths: Paths) -> dict[str, list[dict[str, int]]]:
    from podpy.rootless.userns import userns_id_maps

    umap, gmap = userns_id_maps(paths)

    def conv(maps: Any) -> list[dict[str, int]]:
        return [{"container_id": m.container_id, "host_id": m.host_id, "size": m.size} for m in maps]

    return {"gidmap": conv(gmap), "uidmap": conv(umap)}


def _disk(path: Path) -> tuple[int, int]:
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        st = os.statvfs(p)
    except OSError:
        return 0, 0
    return st.f_blocks * st.f_frsize, (st.f_blocks - st.f_bfree) * st.f_frsize


def _image_count(paths: Paths) -> int:
    """Images in the store, without creating one where none exists yet."""
    if not (paths.storage / "images.db").exists():
        return 0
    from podpy.engine.images import open_store

    return len(open_store(paths).db.all())


def _container_counts(paths: Paths) -> dict[str, int]:
    counts = {"number": 0, "paused": 0, "running": 0, "stopped": 0}
    if not (Path(paths.root) / "state.db").exists():
        return counts
    from podpy.engine.state import State

    for rec in State(paths).list():
        counts["number"] += 1
        key = rec.state if rec.state in ("paused", "running") else "stopped"
        counts[key] += 1
    return counts


def running_containers(paths: Paths) -> int:
    """How many containers the state DB says are running (or paused): they keep the old namespace."""
    c = _container_counts(paths)
    return c["running"] + c["paused"]


def host_info(paths: Paths) -> dict[str, Any]:
    from podpy.rootless.userns import rootless_mode
    from podpy.spec.container import DEFAULT_CAPABILITIES
    from podpy.spec.platform import host_platform

    mem = _meminfo()
    seccomp_path = next((p for p in _SECCOMP_PATHS if os.path.isfile(p)), "")
    host: dict[str, Any] = {
        "arch": host_platform().architecture,
        "cgroupManager": "cgroupfs",
        "cgroupVersion": cgroup_version(),
        "cgroupControllers": [],
        "cpus": os.cpu_count() or 1,
        "distribution": _os_release(),
        "eventLogger": "file",
        "hostname": socket.gethostname(),
        "idMappings": _maps(paths) if rootless_mode() else {"gidmap": [], "uidmap": []},
        "kernel": platform.release(),
        "logDriver": "k8s-file",
        "memFree": mem.get("MemFree", 0),
        "memTotal": mem.get("MemTotal", 0),
        "ociRuntime": {
            "name": "podpy",
            "package": f"podpy {__version__}",
            "path": sys.executable,
            "version": f"podpy runtime {__version__} (python {platform.python_version()})",
        },
        "os": "linux",
        "security": {
            "apparmorEnabled": False,
            "capabilities": ",".join(DEFAULT_CAPABILITIES),
            "rootless": rootless_mode(),
            "seccompEnabled": True,
            "seccompProfilePath": seccomp_path,
            "selinuxEnabled": False,
        },
        "serviceIsRemote": False,
        "slirp4netns": _program("slirp4netns"),
        "swapFree": mem.get("SwapFree", 0),
        "swapTotal": mem.get("SwapTotal", 0),
        "uptime": _uptime(),
    }
    if host["slirp4netns"] is None:
        del host["slirp4netns"]
    return host


def store_info(paths: Paths, storage_driver: str | None = None) -> dict[str, Any]:
    from podpy.engine.storage_conf import choose, mount_program_info

    choice = choose(storage_driver)
    options: dict[str, Any] = {}
    mp = mount_program_info(choice)
    if mp:
        options["overlay.mount_program"] = mp
    allocated, used = _disk(Path(paths.root))
    return {
        "configFile": str(choice.config_file),
        "containerStore": _container_counts(paths),
        "graphDriverName": choice.name,
        "graphOptions": options,
        "graphRoot": str(os.path.abspath(paths.root)),
        "graphRootAllocated": allocated,
        "graphRootUsed": used,
        "graphStatus": {},
        "imageCopyTmpDir": os.environ.get("TMPDIR") or "/var/tmp",
        "imageStore": {"number": _image_count(paths)},
        "runRoot": str(os.path.abspath(paths.runroot)),
        "volumePath": str(os.path.abspath(Path(paths.root) / "volumes")),
    }


def version_info() -> dict[str, Any]:
    """Podman's version block; GoVersion names the Python podpy runs on (there is no Go)."""
    from podpy.spec.platform import host_platform

    built = 0
    with contextlib.suppress(OSError):
        built = int(os.stat(__file__).st_mtime)
    return {
        "APIVersion": __version__,
        "Version": __version__,
        "GoVersion": f"python{platform.python_version()}",
        "GitCommit": "",
        "BuiltTime": time.asctime(time.gmtime(built)),
        "Built": built,
        "OsArch": f"linux/{host_platform().architecture}",
        "Os": "linux",
    }


def info(paths: Paths, storage_driver: str | None = None) -> dict[str, Any]:
    """The whole ``podpy info`` document (JSON keys as Podman's)."""
    return {
        "host": host_info(paths),
        "store": store_info(paths, storage_driver),
        "registries": {},
        "version": version_info(),
    }
