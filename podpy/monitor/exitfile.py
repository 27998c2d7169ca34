"""The exit file: the container's exit code and exit time, written once, atomically.

Content is one JSON object ``{"exit_code": 3, "exited_at_ns": ..., "signal": null}``; a reader
(the engine, ``podpy wait``) sees no file or the whole file, never half of it. A plain integer
(what conmon writes) is also accepted, with the file's mtime as the exit time.
"""

from __future__ import annotations

import os


def exit_code_from_status(status: int) -> tuple[int, int | None]:
    """``(exit code, signal or None)`` from a waitpid status; a signal gives 128+N like a shell."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        return 128 + sig, sig
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status), None
    return 255, None


def write_exit_file(path: str, exit_code: int, exited_at_ns: int, signal: int | None = None,
                    sync: bool = True) -> None:  # fmt: skip
    """Atomically (temp + rename). ``sync=False``: no fsyncs, for a writer that reads the file back
    itself at once (a foreground ``run`` is its own monitor); a monitor's file must survive it."""
    sig = "null" if signal is None else str(int(signal))
    data = f'{{"exit_code": {int(exit_code)}, "exited_at_ns": {int(exited_at_ns)}, "signal": {sig}}}'.encode()
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, data + b"\n")
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, path)
    if not sync:
        return
    dfd = os.open(os.path.dirname(path) or ".", os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def read_exit_file(path: str) -> dict[str, int | None] | None:
    """``{"exit_code", "exited_at_ns", "signal"}``, or None while the container has not exited."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
            mtime_ns = os.fstat(f.fileno()).st_mtime_ns
    except FileNotFoundError:
        return None
    import json

    text = raw.strip()
    if text.lstrip(b"-").isdigit():
        return {"exit_code": int(text), "exited_at_ns": mtime_ns, "signal": None}
    d = json.loads(text)
    return {
        "exit_code": int(d["exit_code"]),
        "exited_at_ns": int(d["exited_at_ns"]),
        "signal": d.get("signal"),
    }
