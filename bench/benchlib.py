"""Shared plumbing for the benchmarks: where things live and which registry to use.

The registry is the test environment's open registry (127.0.0.1:5000, from /opt/podpy-test/env.json)
when it answers; otherwise a private `docker-registry` on 127.0.0.1:5800 that this module starts,
with its access log in the bench work directory. The access log is what lets bench_pull_shared count
the blob downloads of each pull.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

DEFAULT_WORKDIR = Path(os.environ.get("PODPY_BENCH_DIR", "/var/tmp/podpy-bench"))
TESTENV_JSON = Path(os.environ.get("PODPY_TESTENV", "/opt/podpy-test/env.json"))
OWN_REGISTRY = "127.0.0.1:5800"
TESTENV_OPEN_LOG = Path("/opt/podpy-test/registries/open.log")


def registry_from_args(ap: argparse.ArgumentParser) -> None:
    """Add the registry options every benchmark shares."""
    ap.add_argument(
        "--registry",
        default=os.environ.get("PODPY_BENCH_REGISTRY"),
        help="HOST:PORT of a plain-http registry (default: the test env's open registry, else a private "
        f"one on {OWN_REGISTRY})",
    )
    ap.add_argument("--registry-log", type=Path, default=None, help="that registry's access log (stderr)")


def registry_up(addr: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://{addr}/v2/", timeout=2) as resp:
            return resp.status == 200
    except urllib.error.HTTPError as exc:
        return exc.code == 401
    except (urllib.error.URLError, OSError):
        return False


def _testenv_registry() -> tuple[str, Path | None] | None:
    """The test env's open registry and its log, when env.json names one that answers."""
    try:
        env = json.loads(TESTENV_JSON.read_text())
    except (OSError, ValueError):
        return None
    regs = env.get("registries", {})
    open_reg = regs.get("open") if isinstance(regs, dict) else None
    addr = None
    log = None
    if isinstance(open_reg, dict):
        addr = open_reg.get("host") or open_reg.get("address") or open_reg.get("addr")
        log = open_reg.get("log")
    elif isinstance(open_reg, str):
        addr = open_reg
    if not addr:
        return None
    addr = re.sub(r"^https?://", "", addr).rstrip("/")
    if not registry_up(addr):
        return None
    log_path = Path(log) if log else (TESTENV_OPEN_LOG if TESTENV_OPEN_LOG.exists() else None)
    return addr, log_path


def start_own_registry(workdir: Path, addr: str = OWN_REGISTRY) -> Path:
    """Start a private docker-registry (idempotent); return its log path."""
    regdir = workdir / "registry"
    regdir.mkdir(parents=True, exist_ok=True)
    log = regdir / "registry.log"
    if registry_up(addr):
        return log
    (regdir / "data").mkdir(exist_ok=True)
    config = regdir / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: info\n  accesslog:\n    disabled: false\n"
        f"storage:\n  filesystem:\n    rootdirectory: {regdir / 'data'}\n"
        "  delete:\n    enabled: true\n  cache:\n    blobdescriptor: inmemory\n"
        f"http:\n  addr: {addr}\n  secret: podpy-bench\n"
    )
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            ["docker-registry", "serve", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            start_new_session=True,
            cwd="/",
        )
    (regdir / "registry.pid").write_text(f"{proc.pid}\n")
    for _ in range(100):
        if registry_up(addr):
            os.chmod(log, 0o644)
            return log
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    raise SystemExit(f"docker-registry did not come up on {addr}; see {log}")


def stop_own_registry(workdir: Path = DEFAULT_WORKDIR) -> None:
    """Stop the private registry this module started (by its recorded pid only)."""
    pidfile = workdir / "registry" / "registry.pid"
    try:
        pid = int(pidfile.read_text())
    except (OSError, ValueError):
        return
    try:
        os.kill(pid, 15)
    except ProcessLookupError:
        pass
    pidfile.unlink(missing_ok=True)


def ensure_registry(args: argparse.Namespace) -> str:
    """Resolve args.registry / args.registry_log, starting the private registry when needed."""
    workdir: Path = getattr(args, "workdir", DEFAULT_WORKDIR)
    if args.registry:
        if not registry_up(args.registry):
            if args.registry == OWN_REGISTRY:
                args.registry_log = start_own_registry(workdir)
            else:
                raise SystemExit(f"registry {args.registry} does not answer on http://{args.registry}/v2/")
        elif args.registry == OWN_REGISTRY and args.registry_log is None:
            args.registry_log = workdir / "registry" / "registry.log"
        return args.registry
    found = _testenv_registry()
    if found:
        args.registry, log = found
        if args.registry_log is None:
            args.registry_log = log
        return args.registry
    args.registry = OWN_REGISTRY
    args.registry_log = start_own_registry(workdir)
    return args.registry


_ACCESS = re.compile(
    r'"(?P<method>GET|HEAD) (?P<path>/v2/[^ ]*) HTTP/[0-9.]+" (?P<status>\d{3}) (?P<size>\d+|-)'
)


class RegistryLog:
    """Counts blob downloads in a registry access log from a remembered offset onward."""

    def __init__(self, path: Path | None):
        self.path = path
        self.offset = 0

    @property
    def available(self) -> bool:
        return self.path is not None and self.path.exists() and os.access(self.path, os.R_OK)

    def mark(self) -> None:
        if self.available:
            assert self.path is not None
            self.offset = self.path.stat().st_size

    def blob_gets(self, repo_prefix: str) -> list[tuple[str, int]]:
        """(digest, bytes sent) for each successful blob GET below /v2/REPO_PREFIX since mark()."""
        if not self.available:
            return []
        assert self.path is not None
        with open(self.path, "rb") as fh:
            fh.seek(self.offset)
            text = fh.read().decode("utf-8", "replace")
        out = []
        for m in _ACCESS.finditer(text):
            path = m["path"]
            if m["method"] != "GET" or not path.startswith(f"/v2/{repo_prefix}") or "/blobs/" not in path:
                continue
            if m["status"] not in ("200", "206"):
                continue
            size = 0 if m["size"] == "-" else int(m["size"])
            out.append((path.rsplit("/", 1)[-1], size))
        return out


def add_image_args(ap: argparse.ArgumentParser) -> None:
    """Options of the benchmarks that pull the images built by make_pull_image.py."""
    ap.add_argument(
        "--workdir", type=Path, default=DEFAULT_WORKDIR, help="image build cache and private registry"
    )
    registry_from_args(ap)


def prepare_images(args: argparse.Namespace) -> dict:
    """Make sure the bench images are built and in the registry; return make_pull_image's summary.

    Building needs a writable --workdir (run once as root, e.g. through run_all.sh); afterwards the
    unprivileged user only reads the cached summary and checks the registry.
    """
    from make_pull_image import prepare

    registry = ensure_registry(args)
    try:
        return prepare(args.workdir, registry)
    except PermissionError as exc:
        raise SystemExit(
            f"cannot build the bench images in {args.workdir} ({exc}): run `python3 bench/make_pull_image.py` "
            "as root once, or pass a writable --workdir"
        ) from None


def store_kb(path: Path) -> int:
    """Disk usage of a store in KiB, counted inside the user namespace (files on subordinate ids)."""
    cmd = ["du", "-sk", str(path)]
    if os.geteuid() != 0:
        cmd = ["podman", "unshare", *cmd]
    res = subprocess.run(cmd, capture_output=True, text=True)
    try:
        return int(res.stdout.split()[0])
    except (IndexError, ValueError):
        return -1
