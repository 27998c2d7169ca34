"""pasta (from passt) for one container, with the arguments Podman 4.4+ gives it.

``pasta --config-net [-t IP/HOST-END:CTR-END ...] [-u ...] OPTIONS [-t none] [-u none] [-T none]
[-U none] [--no-map-gw] --netns NETNS``: the namespace gets a copy of the host's addresses and
routes. pasta puts itself in the background once the namespace is configured, so its exit status
says whether it worked; ``--pid`` tells podpy whom to stop at teardown.
"""

from __future__ import annotations

import contextlib
import os
import subprocess

from podpy.network import helper
from podpy.util.errors import PodpyError


def argv(binary: str, extra: list[str], netns: str, ports: list[dict[str, object]], pid_file: str) -> list[str]:
    out = [binary, "--config-net"]
    for p in ports:
        addr = f"{p['host_ip']}/" if p.get("host_ip") else ""
        out += ["-t" if p["protocol"] == "tcp" else "-u", f"{addr}{p['host_port']}:{p['container_port']}"]
    extra = list(extra)
    given = set(extra)
    map_gw = "--map-gw" in given
    extra = [a for a in extra if a != "--map-gw"]  # not a pasta option: Podman's way to keep the mapping
    out += extra
    if not ports and not given & {"-t", "--tcp-ports"}:
        out += ["-t", "none"]
    if not any(p["protocol"] == "udp" for p in ports) and not given & {"-u", "--udp-ports"}:
        out += ["-u", "none"]
    if not given & {"-T", "--tcp-ns"}:
        out += ["-T", "none"]
    if not given & {"-U", "--udp-ns"}:
        out += ["-U", "none"]
    if not map_gw:
        out.append("--no-map-gw")
    return out + ["--netns", netns, "--pid", pid_file]


def start(binary: str, extra: list[str], netns: str, ports: list[dict[str, object]], pid_file: str,
          log_path: str) -> int:  # fmt: skip
    """Run pasta until it daemonizes (the namespace is then configured); the daemon's pid."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(pid_file)
    cmd = argv(binary, extra, netns, ports, pid_file)
    try:
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30, check=False)
    except subprocess.TimeoutExpired:
        raise PodpyError("pasta did not configure the network namespace within 30s") from None
    except FileNotFoundError:
        if "/" in binary:
            raise
        raise helper.not_found(binary) from None  # a bare name: looked up on $PATH, as ``helper.spawn`` does
    out = "; ".join(ln for ln in (r.stderr + r.stdout).splitlines() if ln.strip() and "syslog" not in ln)
    with contextlib.suppress(OSError), open(log_path, "w") as f:
        f.write(r.stdout + r.stderr)
    if r.returncode != 0:
        hint = f": as root run `chmod 0666 {helper.TUN}`" if "/dev/net/tun" in out else ""
        raise PodpyError(f"pasta failed with exit code {r.returncode}: {out[-1500:]}{hint}")
    try:
        with open(pid_file) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        raise PodpyError(f"pasta wrote no pid file ({pid_file})") from None
