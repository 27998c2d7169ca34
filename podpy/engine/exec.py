"""``podpy exec``: one more process in a running container, through the container's own runtime.

The exec process spec starts from the container's (bundle ``config.json``): same capabilities,
seccomp, no_new_privs, rlimits, env, user, cwd; the flags override env (merged), user, cwd, and
``--privileged`` gives every capability. The process runs in the foreground with our stdio (no
monitor), so its exit code is ours.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from podpy.engine import containers
from podpy.engine.state import record_exec
from podpy.util.errors import ConflictError, PodpyError
from podpy.util.paths import Paths

TYPE_CHECKING = False  # not typing's: importing typing costs every ``exec`` start-up time
if TYPE_CHECKING:
    from typing import Any

NOT_RUNNING = "can only create exec sessions on running containers: container state improper"
EXIT_NOT_RUNNING = 255  # what podman 4.3 exits with here (its exec errors are not 125)
_SUFFIX = {
    127: ": OCI runtime attempted to invoke a command that was not found",
    126: ": OCI permission denied",
}


def build_process(cfg: dict[str, Any], cmd: list[str], *, env: dict[str, str], user: str | None,
                  workdir: str | None, privileged: bool, rootfs: str) -> dict[str, Any]:  # fmt: skip
    """The exec's ``process``: the container's, overridden by the flags (pure but for reading passwd)."""
    proc = json.loads(json.dumps(cfg.get("process") or {}))  # a deep copy (JSON data), without ``copy``
    proc["args"] = list(cmd)
    proc["terminal"] = False
    old_user = proc.get("user") or {}
    merged: dict[str, str] = {}
    for item in proc.get("env") or []:
        k, _, v = item.partition("=")
        merged[k] = v
    if user:
        from podpy.runtime.users import resolve_user

        u = resolve_user(rootfs, user)
        proc["user"] = {"uid": u.uid, "gid": u.gid}  # as Podman's exec -u: no supplementary groups
        if "umask" in old_user:
            proc["user"]["umask"] = old_user["umask"]
        if u.uid != int(old_user.get("uid", 0)):
            merged["HOME"] = u.home
    merged.update(env)
    proc["env"] = [f"{k}={v}" for k, v in merged.items()]
    if workdir:
        proc["cwd"] = workdir
    caps = dict(proc.get("capabilities") or {})
    if privileged:
        from podpy.util.syscalls import CAPABILITIES

        every = sorted(CAPABILITIES, key=CAPABILITIES.__getitem__)
        caps = {"bounding": every, "effective": every, "permitted": every}
    if int((proc.get("user") or {}).get("uid", 0)) != 0 and int(old_user.get("uid", 0)) == 0:
        # as Podman: a non-root exec user gets no effective/permitted capabilities from a root container
        caps = {"bounding": caps.get("bounding") or [], "effective": [], "permitted": []}
    proc["capabilities"] = caps
    return proc


@record_exec  # podman's exec and exec_died events
def exec_in(paths: Paths, ref: str, cmd: list[str], *, env: dict[str, str], user: str | None = None,
            workdir: str | None = None, privileged: bool = False, interactive: bool = False,
            preserve_fds: int = 0, detach: bool = False, tty: bool = False) -> int:  # fmt: skip
    """Run ``cmd`` in container ``ref``; the command's exit code (125/126/127 raised as errors).

    ``tty``: a PTY in the container (our terminal in raw mode while it runs), as ``podman exec -t``.
    """
    st = containers.open_state(paths)
    rec = containers.get(st, paths, ref)
    if rec.state != "running":
        raise ConflictError(NOT_RUNNING, exit_code=EXIT_NOT_RUNNING)
    from podpy.rootless.userns import ensure_userns

    ensure_userns(paths)
    bundle = containers.container_dir(paths, rec.id) / "userdata"
    try:
        cfg = json.loads((bundle / "config.json").read_text())
    except (OSError, ValueError) as e:
        raise PodpyError(f"reading the bundle of container {rec.id[:12]}: {e}") from None
    rootfs = str(cfg.get("root", {}).get("path") or "")
    if rootfs and not os.path.isabs(rootfs):
        rootfs = str(bundle / rootfs)
    proc = build_process(cfg, cmd, env=env, user=user, workdir=workdir, privileged=privileged, rootfs=rootfs)
    if tty:
        proc["terminal"] = True
        if not any(e.startswith("TERM=") for e in proc["env"]):
            proc["env"].append("TERM=xterm")
    runtime = rec.config.get("runtime")
    root = containers.runtime_root(paths, runtime)
    if containers.is_podpy_runtime(runtime):
        from podpy.runtime import nsexec

        try:
            return nsexec.exec_process(root, rec.id, proc, preserve_fds=preserve_fds, stdin_null=not interactive,
                                       detach=detach, console=_console(interactive) if tty else None)  # fmt: skip
        except nsexec.ContainerNotRunning:
            raise ConflictError(NOT_RUNNING, exit_code=EXIT_NOT_RUNNING) from None
        except PodpyError as e:
            if e.exit_code in _SUFFIX:
                raise PodpyError(e.message + _SUFFIX[e.exit_code], exit_code=e.exit_code) from None
            raise
    if tty:
        return _exec_external_tty(str(runtime), root, rec.id, proc, preserve_fds, interactive)
    return _exec_external(str(runtime), root, rec.id, proc, preserve_fds, interactive, detach)


def _console(interactive: bool) -> Any:
    from podpy.engine import attach

    return lambda master: attach.relay_pty(master, stdin=interactive)


def _exec_external(runtime: str, root: Path, cid: str, proc: dict[str, Any], preserve_fds: int,
                   interactive: bool, detach: bool) -> int:  # fmt: skip
    """``runc exec --process FILE``: runc joins the namespaces and applies the process itself.

    The command keeps our stdio (streamed, never buffered); runc's own errors go to ``--log``.
    With ``process.terminal`` (``-t``) runc relays the PTY to our stdio itself (raw mode, resize).
    """
    import subprocess  # only for runc: podpy's own runtime execs in-process
    import tempfile

    from podpy.runtime import external

    with tempfile.TemporaryDirectory(prefix="podpy-exec-") as tmp:
        pfile, logfile = os.path.join(tmp, "process.json"), os.path.join(tmp, "log.json")
        with open(pfile, "w") as f:
            json.dump(proc, f)
        extra = [f"--preserve-fds={preserve_fds}"] if preserve_fds else []
        extra += ["--detach"] if detach else []
        argv = [external.find(runtime), "--log", logfile, "--log-format", "json", "--root", str(root),
                "exec", *extra, "--process", pfile, cid]  # fmt: skip
        stdin = None if interactive and not detach else subprocess.DEVNULL
        out = subprocess.DEVNULL if detach else None
        r = subprocess.run(argv, stdin=stdin, stdout=out, stderr=out, check=False,
                           pass_fds=tuple(range(3, 3 + preserve_fds)))  # fmt: skip
        try:
            with open(logfile, encoding="utf-8", errors="replace") as f:
                log = f.read()
        except OSError:
            log = ""
    err = _runc_message(log) if log.strip() else ""
    if r.returncode == 255 and err:
        raise _runc_error(runtime, err)
    return 128 - r.returncode if r.returncode < 0 else r.returncode


def _runc_error(runtime: str, err: str) -> PodpyError:
    if "not found" in err or "no such file" in err.lower():
        return PodpyError(f"{runtime}: {err}{_SUFFIX[127]}", exit_code=127)
    if "permission denied" in err:
        return PodpyError(f"{runtime}: {err}{_SUFFIX[126]}", exit_code=126)
    return PodpyError(f"{runtime}: {err}", exit_code=125)


def _exec_external_tty(runtime: str, root: Path, cid: str, proc: dict[str, Any], preserve_fds: int,
                       interactive: bool) -> int:  # fmt: skip
    """``exec -t`` with runc, as conmon drives it: ``runc exec --detach --console-socket`` hands us
    the PTY master; being a child subreaper, we inherit the process when runc exits and wait for it.
    (Plain ``runc exec -t`` needs a controlling terminal of its own, which scripts do not have.)"""
    import socket
    import subprocess
    import tempfile

    from podpy.engine import attach
    from podpy.runtime import external
    from podpy.util import syscalls

    syscalls.get().set_child_subreaper(True)
    size = attach.window_size()
    if size is not None:  # runc sizes the terminal before the process runs (we get the master later)
        proc = {**proc, "consoleSize": {"height": size[0], "width": size[1]}}
    with tempfile.TemporaryDirectory(prefix="podpy-exec-") as tmp:
        pfile, logfile = os.path.join(tmp, "process.json"), os.path.join(tmp, "log.json")
        sock_path, pid_file = os.path.join(tmp, "console.sock"), os.path.join(tmp, "pid")
        with open(pfile, "w") as f:
            json.dump(proc, f)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC) as srv:
            srv.bind(sock_path)
            srv.listen(1)  # runc connects and sends the master into the backlog, then exits
            extra = [f"--preserve-fds={preserve_fds}"] if preserve_fds else []
            argv = [external.find(runtime), "--log", logfile, "--log-format", "json", "--root", str(root),
                    "exec", "--detach", "--console-socket", sock_path, "--pid-file", pid_file, *extra,
                    "--process", pfile, cid]  # fmt: skip
            r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, check=False,
                               pass_fds=tuple(range(3, 3 + preserve_fds)))  # fmt: skip
            if r.returncode != 0:
                try:
                    with open(logfile, encoding="utf-8", errors="replace") as f:
                        err = _runc_message(f.read())
                except OSError:
                    err = ""
                raise _runc_error(runtime, err or f"exec failed (status {r.returncode})")
            with open(pid_file) as f:
                pid = int(f.read().strip())
            srv.settimeout(10)
            conn, _ = srv.accept()
            with conn:
                _, fds, _, _ = socket.recv_fds(conn, 64, 1)
    if fds:
        try:
            attach.relay_pty(fds[0], stdin=interactive)
        finally:
            os.close(fds[0])
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)
        except InterruptedError:
            continue
        except ChildProcessError:
            return 255  # not reparented to us (no subreaper): its exit code is unknown


def _runc_message(log: str) -> str:
    """The ``msg`` of runc's last error: a JSON log line, or logfmt (``level=error msg="..."``)."""
    import re

    lines = [ln for ln in log.strip().splitlines() if ln.strip()]
    for ln in reversed(lines):
        if ln.startswith("{"):
            try:
                doc = json.loads(ln)
            except ValueError:
                continue
            if doc.get("level") in ("error", "fatal") and doc.get("msg"):
                return str(doc["msg"])
    last = lines[-1] if lines else ""
    m = re.search(r'msg="((?:[^"\\]|\\.)*)"', last)
    return m.group(1).replace('\\"', '"') if m else last
