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
from podpy.engine import system_peers as peers
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
    return {"executable": exe, "package": package_of(exe), "version": version}


def package_of(path: str) -> str:
    """The distribution package owning ``path`` as Podman names it (``slirp4netns_1.2.0-1_amd64``).

    Podman asks rpm or dpkg the same way; "Unknown" when neither knows the file.
    """
    import subprocess

    real = os.path.realpath(path)
    try:
        r = subprocess.run(["rpm", "-qf", "--queryformat", "%{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}", real],
                           capture_output=True, text=True, timeout=5)  # fmt: skip
        if r.returncode == 0 and r.stdout.strip():
            return r.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        r = subprocess.run(["dpkg", "-S", real], capture_output=True, text=True, timeout=5)
        pkg = r.stdout.split(":", 1)[0].strip() if r.returncode == 0 else ""
        if pkg:
            q = subprocess.run(["dpkg-query", "-W", "-f", "${Package}_${Version}_${Architecture}", pkg],
                               capture_output=True, text=True, timeout=5)  # fmt: skip
            if q.returncode == 0 and q.stdout.strip():
                return q.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return "Unknown"


def _cpu_utilization() -> dict[str, float]:
    """Podman's ``cpuUtilization``: the shares of CPU time since boot, from /proc/stat."""
    try:
        f = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return {"userPercent": 0.0, "systemPercent": 0.0, "idlePercent": 0.0}
    total = sum(f[:8]) or 1
    return {
        "userPercent": round((f[0] + f[1]) * 100 / total, 2),
        "systemPercent": round(f[2] * 100 / total, 2),
        "idlePercent": round(f[3] * 100 / total, 2),
    }


def cgroup_controllers() -> list[str]:
    """Controllers available to this user's cgroup (v2 only; Podman shows [] on v1 and hybrid)."""
    if cgroup_version() != "v2":
        return []
    rel = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            if line.startswith("0::"):
                rel = line[3:].strip().lstrip("/")
    try:
        return Path("/sys/fs/cgroup", rel, "cgroup.controllers").read_text().split()
    except OSError:
        return []


def _monitor_info() -> dict[str, str]:
    """Podman's ``conmon`` block: podpy's own monitor plays conmon's part."""
    import podpy.monitor

    return {
        "package": f"podpy {__version__}",
        "path": os.path.dirname(os.path.abspath(podpy.monitor.__file__)),
        "version": f"podpy monitor version {__version__}",
    }


def unescape_mountinfo(field: str) -> str:
    return field.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")


def mount_of(path: Path, mountinfo: str = "/proc/self/mountinfo") -> tuple[str, str, str]:
    """(mount point, filesystem type, options) of the mount holding ``path``, from mountinfo."""
    real = os.path.realpath(os.path.abspath(path))  # resolves what exists, keeps the rest
    best = ("/", "unknown", "")
    try:
        lines = Path(mountinfo).read_text().splitlines()
    except OSError:
        return best
    for line in lines:
        left, sep, right = line.partition(" - ")
        f, r = left.split(), right.split()
        if not sep or len(f) < 6 or not r:
            continue
        mp = unescape_mountinfo(f[4])
        inside = real == mp or real.startswith(mp.rstrip("/") + "/")
        if inside and len(mp) >= len(best[0]):
            best = (mp, r[0], f[5] + ("," + r[2] if len(r) > 2 else ""))
    return best


def backing_fs(path: Path) -> str:
    """containers/storage's name of the filesystem holding ``path`` (graphStatus "Backing Filesystem")."""
    fstype = mount_of(path)[1]
    return "extfs" if fstype in ("ext2", "ext3", "ext4") else fstype


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
        "cgroupControllers": cgroup_controllers(),
        "conmon": _monitor_info(),
        "cpuUtilization": _cpu_utilization(),
        "cpus": os.cpu_count() or 1,
        "distribution": _os_release(),
        "eventLogger": "file",
        "hostname": socket.gethostname(),
        "idMappings": _maps(paths) if rootless_mode() else {"gidmap": [], "uidmap": []},
        "kernel": platform.release(),
        "logDriver": "k8s-file",
        "memFree": mem.get("MemFree", 0),
        "memTotal": mem.get("MemTotal", 0),
        "networkBackend": peers.NETWORK_BACKEND,
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
    pasta = _program("pasta")
    if pasta is not None:
        host["pasta"] = pasta
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
        "graphStatus": _graph_status(paths, choice),
        "imageCopyTmpDir": os.environ.get("TMPDIR") or "/var/tmp",
        "imageStore": {"number": _image_count(paths)},
        "runRoot": str(os.path.abspath(paths.runroot)),
        "volumePath": str(os.path.abspath(Path(paths.root) / "volumes")),
    }


def _graph_status(paths: Paths, choice: Any) -> dict[str, str]:
    """containers/storage's driver status strings (overlay: native diff unless a mount program)."""
    status = {"Backing Filesystem": backing_fs(Path(paths.root))}
    if choice.name == "overlay":
        status["Native Overlay Diff"] = "false" if choice.mount_program else "true"
        status["Supports d_type"] = "true"
        status["Using metacopy"] = "false"
    return status


def registries_info() -> dict[str, Any]:
    """Podman's ``registries``: each ``[[registry]]`` by prefix, and ``search`` (unqualified-search)."""
    from podpy.registry.config import load_registries_conf

    conf = load_registries_conf()
    out: dict[str, Any] = {}
    for r in conf.registries:
        out[r.prefix] = {
            "Prefix": r.prefix,
            "Location": r.location,
            "Insecure": r.insecure,
            "PullFromMirror": "",
            "Mirrors": [
                {
                    "Location": m.location,
                    "Insecure": m.insecure,
                    "PullFromMirror": "" if m.pull_from_mirror == "all" else m.pull_from_mirror,
                }
                for m in r.mirrors
            ]
            or None,
            "Blocked": r.blocked,
            "MirrorByDigestOnly": r.mirror_by_digest_only,
        }
    if conf.unqualified_search_registries:
        out["search"] = list(conf.unqualified_search_registries)
    return out


def plugins_info() -> dict[str, Any]:
    """Podman's ``plugins``: the volume, network and log drivers podpy has."""
    from podpy.spec.container import LOG_DRIVERS

    return {
        "volume": ["local"],
        "network": list(peers.NETWORK_DRIVERS),
        "log": list(LOG_DRIVERS),
        "authorization": None,
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
        "registries": registries_info(),
        "plugins": plugins_info(),
        "version": version_info(),
    }
