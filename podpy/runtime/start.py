"""The runtime's ``start``: letting a created container exec its process, and the state files it reads.

Its own module so that the CLI, which starts the containers podpy's monitor created (``run -d``),
imports none of the executor (namespaces, mounts, seccomp) for it.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import time
from pathlib import Path

from podpy.util.errors import PodpyError

TYPE_CHECKING = False  # not typing's: importing typing costs start-up time
if TYPE_CHECKING:
    from typing import Any


def state_dir(root: str | os.PathLike[str], cid: str) -> Path:
    if not cid or "/" in cid or cid in (".", "..") or len(cid) > 1024:
        raise PodpyError(f"invalid container id {cid!r}")
    return Path(root) / cid


def read_state(sdir: Path) -> dict[str, Any]:
    try:
        return json.loads((sdir / "state.json").read_text())
    except FileNotFoundError:
        raise PodpyError(f"container {sdir.name} does not exist") from None


def alive(pid: int, start_time: str | None) -> bool:
    """Alive and the same process (pid not reused); a zombie counts as stopped."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return False
    if fields[0] in ("Z", "X"):
        return False
    return start_time is None or fields[19] == start_time


def status(sdir: Path, data: dict[str, Any]) -> str:
    """The OCI status of the container whose state file ``data`` is: created, running or stopped."""
    if not alive(int(data["pid"]), data.get("start_time")):
        return "stopped"
    return "created" if (sdir / "exec.fifo").exists() else "running"


def start(root: str | os.PathLike[str], cid: str, timeout: float = 10.0) -> None:
    """Let the created container exec its process (opens the other end of ``exec.fifo``)."""
    sdir = state_dir(root, cid)
    data = read_state(sdir)
    now = status(sdir, data)
    if now != "created":
        raise PodpyError(f"container {cid} is {now}, not created: cannot start it")
    pid = int(data["pid"])
    fifo = sdir / "exec.fifo"
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        deadline = time.monotonic() + timeout
        while True:
            r, _, _ = select.select([fd], [], [], 0.05)
            if r:
                try:
                    if os.read(fd, 1):
                        break
                except BlockingIOError:
                    pass
            if not alive(pid, read_state(sdir).get("start_time")):
                raise PodpyError(f"container {cid} exited before it could be started")
            if time.monotonic() > deadline:
                raise PodpyError(f"container {cid} did not start within {timeout:.0f}s")
    finally:
        os.close(fd)
    with contextlib.suppress(FileNotFoundError):
        fifo.unlink()
