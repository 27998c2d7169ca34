"""``podpy run`` and ``podpy create``: from an image to a recorded container, run or started.

``create``: claim the name in the state DB (atomically: a taken name fails at once, naming the
holder), find (or pull) the image, mount the rootfs, resolve the user inside it, write the OCI
bundle; the record is then "created". ``run`` in the foreground runs the bundle with the runtime
directly, this process acting as the monitor (its pid is recorded, so ``kill -9`` of the CLI is
noticed like a dead monitor) and the container's stdio being the terminal's; ``run -d`` starts it
under the conmon-like monitor (``engine.containers.start``) and returns at once.
Networking: no slirp4netns/pasta yet, so the default ``private`` network has a loopback only.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import json
import logging
import os
import secrets
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from podpy.engine.state import ContainerRecord, name_in_use
from podpy.spec.container import ContainerSpec, Mount
from podpy.util.errors import (
    EXIT_CANNOT_EXEC,
    EXIT_NOT_FOUND,
    ConflictError,
    ImageNotKnown,
    NotFoundError,
    PodpyError,
    UsageError,
)
from podpy.util.fsutil import atomic_write
from podpy.util.paths import Paths

log = logging.getLogger(__name__)

PULL_POLICIES = ("always", "missing", "never", "newer")
INIT_CANDIDATES = ("/usr/libexec/podman/catatonit", "/usr/bin/catatonit", "/usr/local/bin/catatonit")
ZONEINFO = Path("/usr/share/zoneinfo")


def find_init(path: str | None = None) -> str:
    """--init: catatonit (as Podman), from --init-path or the usual places."""
    for p in [path] if path else [*INIT_CANDIDATES, shutil.which("catatonit")]:
        if p and os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    where = path or " or ".join(INIT_CANDIDATES)
    raise PodpyError(f"--init: no init binary at {where}: install catatonit or pass --init-path")


def tz_mount(tz: str) -> Mount:
    """--tz: ``local`` binds the host's /etc/localtime; ``Area/City`` that zone's file, read-only."""
    if tz == "local":
        src = os.path.realpath("/etc/localtime")
    else:
        if tz.startswith("/") or ".." in tz.split("/") or not tz:
            raise UsageError(f"invalid --tz {tz!r}: use local or a zone name like Europe/Berlin")
        src = str(ZONEINFO / tz)
    if not os.path.isfile(src):
        raise UsageError(f"--tz {tz}: no such time zone ({src} not found)")
    return Mount("bind", "/etc/localtime", src, ("bind", "ro", "rprivate"))


def containers_dir(paths: Paths) -> Path:
    return paths.root / "containers"


def _image(paths: Paths, name: str, pull: str, pull_kwargs: dict[str, Any]):  # type: ignore[no-untyped-def]
    from podpy.engine import images

    store = images.open_store(paths)
    rec = None
    if pull != "always":
        with contextlib.suppress(ImageNotKnown):
            rec = images.lookup(store, name)
    if rec is None or pull == "always":
        if pull == "never":
            raise ImageNotKnown(name)
        images.pull(paths, name, **pull_kwargs)
        store = images.open_store(paths)
        rec = images.lookup(store, name)
    return store, rec


def _seccomp_profile(spec: ContainerSpec) -> dict[str, Any] | None:
    from podpy.runtime import seccomp

    if spec.privileged or spec.seccomp == "unconfined":
        return None
    if spec.seccomp:
        return seccomp.load_profile(spec.seccomp)
    profile = seccomp.load_default_profile()
    if profile is None:
        log.warning("no seccomp profile found (%s): running without a seccomp filter",
                    " or ".join(map(str, seccomp.PROFILE_PATHS)))  # fmt: skip
    return profile


def _etc_files(spec: ContainerSpec, userdata: Path, hostname: str) -> list[Mount]:
    """/etc/hostname, /etc/hosts and /etc/resolv.conf written per container and bound in, as Podman does.

    resolv.conf: the host's for --network host; for a private network the host's minus loopback
    nameservers (they would point into the container itself). slirp4netns DNS comes with networking.
    """
    wanted = {m.destination for m in spec.mounts}
    files = {
        "/etc/hostname": f"{hostname}\n",
        "/etc/hosts": "127.0.0.1\tlocalhost localhost.localdomain localhost4 localhost4.localdomain4\n"
        "::1\tlocalhost localhost.localdomain localhost6 localhost6.localdomain6\n"
        + (f"127.0.1.1\t{hostname}\n" if spec.network != "host" else ""),
    }
    try:
        with open("/etc/resolv.conf", encoding="utf-8", errors="replace") as f:
            resolv = f.read(65536)
    except OSError:
        resolv = ""
    if spec.network != "host":
        resolv = "".join(
            ln for ln in resolv.splitlines(keepends=True)
            if not (ln.startswith("nameserver") and ln.split()[1:2] and ln.split()[1].startswith(("127.", "::1")))
        )  # fmt: skip
    files["/etc/resolv.conf"] = resolv
    if spec.network == "host":
        with contextlib.suppress(OSError), open("/etc/hosts", encoding="utf-8", errors="replace") as f:
            files["/etc/hosts"] = f.read(1 << 20)
    mounts = []
    for dest, content in files.items():
        if dest in wanted:
            continue
        path = userdata / os.path.basename(dest)
        path.write_text(content)
        mounts.append(Mount("bind", dest, str(path), ("bind", "rprivate")))
    return mounts


def _copy_winsize(src: int, dst: int) -> None:
    import fcntl
    import termios

    with contextlib.suppress(OSError):
        ws = fcntl.ioctl(src, termios.TIOCGWINSZ, b"\0" * 8)
        fcntl.ioctl(dst, termios.TIOCSWINSZ, ws)


def _write_all(fd: int, data: bytes) -> None:
    while data:
        n = os.write(fd, data)
        data = data[n:]


def _run_tty(bundle: Path, cid: str, root: Path, spec: ContainerSpec) -> int:
    """-t in the foreground: receive the PTY master from the runtime and relay it to our terminal.

    Raw mode on our terminal while the container runs; window size copied at start and on
    SIGWINCH. (This moves into the monitor, with attach and detach keys, when it exists.)
    """
    import select
    import signal
    import socket
    import tempfile
    import termios
    import tty

    from podpy.runtime import executor
    from podpy.util import syscalls

    syscalls.get().set_child_subreaper(True)
    sock_dir = tempfile.mkdtemp(prefix="podpy-tty-")  # short: unix socket paths are limited to 108 bytes
    path = os.path.join(sock_dir, "console.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    pid = 0
    master = -1
    our_tty = next((fd for fd in (0, 1) if os.isatty(fd)), None)
    saved = None
    old_handlers: dict[int, Any] = {}
    try:
        pid = executor.create(bundle, cid, root, console_socket=path, preserve_fds=spec.preserve_fds)
        srv.settimeout(10)
        conn, _ = srv.accept()
        with conn:
            _, fds, _, _ = socket.recv_fds(conn, 64, 1)
        if not fds:
            raise PodpyError("the runtime sent no console")
        master = fds[0]
        if our_tty is not None:
            _copy_winsize(our_tty, master)
            old_handlers[signal.SIGWINCH] = signal.signal(
                signal.SIGWINCH, lambda *_: _copy_winsize(our_tty, master)
            )
        if spec.sig_proxy:
            for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2):
                old_handlers[sig] = signal.signal(sig, lambda n, _f: os.kill(pid, n))
        if spec.interactive and os.isatty(0):
            saved = termios.tcgetattr(0)
            tty.setraw(0)
        executor.start(root, cid)
        watch = [master] + ([0] if spec.interactive else [])
        while True:
            try:
                ready, _, _ = select.select(watch, [], [])
            except InterruptedError:
                continue
            if master in ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: every holder of the slave side is gone
                    data = b""
                if not data:
                    break
                _write_all(1, data)
            if 0 in ready:
                data = os.read(0, 65536)
                if data:
                    _write_all(master, data)
                else:
                    watch.remove(0)
        while True:
            try:
                return executor.exit_code(os.waitpid(pid, 0)[1])
            except InterruptedError:
                continue
    except BaseException:
        if pid:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(OSError):
                os.waitpid(pid, 0)
        raise
    finally:
        if saved is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, saved)
        for sig, h in old_handlers.items():
            signal.signal(sig, h)
        if master >= 0:
            os.close(master)
        srv.close()
        shutil.rmtree(sock_dir, ignore_errors=True)
        with contextlib.suppress(PodpyError):
            executor.delete(root, cid, force=True)


def _stdin_devnull() -> None:
    """Without -i the container's stdin is /dev/null (Podman's behaviour)."""
    fd = os.open(os.devnull, os.O_RDONLY)
    os.dup2(fd, 0)
    os.close(fd)


def _image_name(rec: Any, typed: str) -> str:
    """The name ``ps``/``inspect`` show: the stored name the user meant (``busybox`` → ``…/busybox:latest``)."""
    names = list(getattr(rec, "names", ()) or ())
    for cand in (typed, f"{typed}:latest"):
        if cand in names:
            return cand
    for n in names:
        if n.rsplit(":", 1)[0].endswith("/" + typed.split(":")[0]) or n.startswith(typed):
            return n
    return names[0] if names else typed


def runtime_error(message: str, code: int) -> PodpyError:
    """The runtime's error as Podman words it (127 not found, 126 cannot exec, else 125)."""
    if code == EXIT_NOT_FOUND:
        return PodpyError(f"{message}: OCI runtime attempted to invoke a command that was not found", code)
    if code == EXIT_CANNOT_EXEC:
        return PodpyError(f"{message}: OCI runtime permission denied error", code)
    return PodpyError(f"OCI runtime error: {message}")


# The seam for commands that share ``run``'s flags (``podpy create``, ``podpy container run -d``)
# while podpy/cli/container.py:run_cmd does not pass ``detach``/``create_only`` itself: they set
# these for the duration of one ``run_cmd`` call (see podpy/cli/lifecycle.py).
run_overrides: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "run_overrides", default=None
)


def create(paths: Paths, spec: ContainerSpec, *, pull: str = "missing", storage_driver: str | None = None,
           pull_kwargs: dict[str, Any] | None = None, runtime: str | None = None, cidfile: str | None = None,
           replace: bool = False) -> ContainerRecord:  # fmt: skip
    """``podpy create``: the record (name claimed first, atomically), the rootfs and the bundle.

    Leaves the container "created" with its rootfs mounted; ``containers.start`` runs it. A failure
    before that leaves nothing behind (no record, no directory).
    """
    from podpy.engine import containers
    from podpy.engine.names import random_name
    from podpy.monitor import liveness
    from podpy.rootless.userns import ensure_userns
    from podpy.runtime import spec as rs
    from podpy.runtime.users import resolve_user
    from podpy.store.rootfs import mount_rootfs, unmount_rootfs

    if pull not in PULL_POLICIES:
        raise UsageError(f"invalid pull policy {pull!r}: use one of {', '.join(PULL_POLICIES)}")
    spec.validate()
    for m in spec.mounts:
        if m.type == "bind" and not os.path.exists(m.source):
            raise PodpyError(f"statfs {m.source}: no such file or directory")
    if replace and not spec.name:
        raise UsageError("cannot replace a container without --name being set")
    if cidfile and os.path.exists(cidfile):
        raise PodpyError(
            f"container id file exists. Ensure another container is not using it or delete {cidfile}"
        )
    from podpy.engine import storage_conf

    choice = storage_conf.choose(storage_driver)  # flag > storage.conf > automatic; a bad file fails here
    ensure_userns(paths)
    st = containers.open_state(paths)
    if spec.name:
        try:
            holder = st.get(spec.name)
        except NotFoundError:
            holder = None
        if holder is not None:
            if not replace:
                raise name_in_use(spec.name, holder.id)
            with contextlib.suppress(NotFoundError):
                containers.remove(paths, holder.id, force=True, timeout=0)
    store, rec = _image(paths, spec.image, pull, pull_kwargs or {})
    image_cfg = (store.image_config(rec).get("config") or {}) if rec else {}
    cid = secrets.token_hex(32)
    record = ContainerRecord(id=cid, name=spec.name or random_name(), image_id=rec.id,
                             image_name=_image_name(rec, spec.image), state="configured",
                             labels=dict(spec.labels), monitor_pid=os.getpid(),
                             monitor_start=liveness.proc_start_time(os.getpid()) or 0)  # fmt: skip
    for _ in range(20):
        try:
            st.create(record)
            break
        except ConflictError:
            if spec.name:
                raise
            record.name = random_name()
    cdir = containers_dir(paths) / cid
    mounted = None
    try:
        cdir.mkdir(parents=True, mode=0o700)
        mounted = mount_rootfs(store.layer_dirs(rec), cdir, choice.driver, mount_program=choice.mount_program)
        log.debug("container %s: rootfs %s (%s)", cid[:12], mounted.path, mounted.driver)
        user = resolve_user(str(mounted.path), spec.user if spec.user is not None else image_cfg.get("User") or "",
                            spec.group_add)  # fmt: skip
        bundle = cdir / "userdata"
        bundle.mkdir(exist_ok=True)
        spec = dataclasses.replace(spec, hostname=spec.hostname or cid[:12])
        spec.mounts = spec.mounts + _etc_files(spec, bundle, spec.hostname or cid[:12])
        config = rs.generate(spec, image_cfg, rootfs=str(mounted.path), container_id=cid, user=user,
                             host=rs.HostLimits.current(), seccomp_profile=_seccomp_profile(spec))  # fmt: skip
        atomic_write(bundle / "config.json", json.dumps(config, indent=1), fsync=False)
        proc = config.get("process") or {}
        stop_sig = image_cfg.get("StopSignal")
        from podpy.runtime.oci_cli import parse_signal

        info = {
            "spec": dataclasses.asdict(spec),
            "args": list(proc.get("args") or []),
            "env": list(proc.get("env") or []),
            "cwd": proc.get("cwd") or "/",
            "cmd": spec.command if spec.command is not None else image_cfg.get("Cmd"),
            "entrypoint": spec.entrypoint if spec.entrypoint is not None else image_cfg.get("Entrypoint"),
            "runtime": runtime or "podpy",
            "log_driver": "k8s-file",
            "mount_program": choice.mount_program or "",
            "terminal": spec.terminal,
            "interactive": spec.interactive,
            "remove": spec.remove,
            "hostname": spec.hostname,
            "stop_signal": parse_signal(str(stop_sig)) if stop_sig else 15,
            "cidfile": os.path.abspath(cidfile) if cidfile else "",
            "create_command": ["podpy", *sys.argv[1:]],
        }
        record = st.update(cid, state="created", config=info, monitor_pid=0, monitor_start=0)
        if cidfile:
            atomic_write(cidfile, cid, fsync=False)
    except BaseException:
        if mounted is not None:
            with contextlib.suppress(PodpyError):
                unmount_rootfs(mounted)
        shutil.rmtree(cdir, ignore_errors=True)
        with contextlib.suppress(NotFoundError):
            st.remove(cid, event=False)
        raise
    return record


def _relay(streams: dict[int, tuple[int, bytes]], log_file: str) -> None:
    """The relay child's loop: copy each pipe to its terminal fd and to the log until every pipe ends."""
    import select

    from podpy.monitor.logfmt import LogWriter

    log_w = LogWriter(log_file)
    poller = select.poll()
    for fd in streams:
        poller.register(fd, select.POLLIN)
    live = dict(streams)
    while live:
        for fd, _ev in poller.poll():
            data = os.read(fd, 65536) if fd in live else b""
            if not data:
                poller.unregister(fd)
                live.pop(fd, None)
                continue
            dest, name = live[fd]
            log_w.write(name, data)
            with contextlib.suppress(OSError):  # the terminal may be gone; the log still gets it
                _write_all(dest, data)
    log_w.close()


def _start_log_relay(log_file: str) -> tuple[int, list[int]]:
    """Foreground without -t: the container writes into pipes; a forked relay copies them to our
    stdout/stderr and to the k8s-file log, so ``podpy logs`` works for foreground runs as in Podman.
    A process (not a thread): the runtime forks right after, and forking with threads is unsafe."""
    import signal

    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    saved = [os.dup(1), os.dup(2)]
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the relay child
        code = 0
        try:
            for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGTERM):
                signal.signal(sig, signal.SIG_IGN)  # the CLI forwards signals; the relay must outlive them
            os.close(out_w)
            os.close(err_w)
            _relay({out_r: (saved[0], b"stdout"), err_r: (saved[1], b"stderr")}, log_file)
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    os.close(out_r)
    os.close(err_r)
    os.dup2(out_w, 1)
    os.dup2(err_w, 2)
    os.close(out_w)
    os.close(err_w)
    return pid, saved


def _stop_log_relay(pid: int, saved: list[int], drain: float = 2.0) -> None:
    """Give our stdout/stderr back and let the relay finish (it ends when the last writer is gone;
    a daemon left inside the container may keep a pipe open: then it is stopped after ``drain``)."""
    import signal

    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(saved[0], 1)
    os.dup2(saved[1], 2)
    for fd in saved:
        os.close(fd)
    deadline = time.monotonic() + drain
    while True:
        try:
            got, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return  # reaped by the runtime's wait loop already
        if got:
            return
        if time.monotonic() > deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
            return
        time.sleep(0.005)


def _foreground(paths: Paths, rec: ContainerRecord, spec: ContainerSpec) -> int:
    """Run a created container with this process as its monitor (no second process: fast, and the
    container's stdio is ours). The record says so: ``monitor_pid`` is this process, so a ``kill -9``
    of the CLI is noticed like a dead monitor."""
    from podpy.engine import containers
    from podpy.monitor import exitfile, liveness
    from podpy.runtime import executor

    st = containers.open_state(paths)
    runtime = rec.config.get("runtime")
    root = containers.runtime_root(paths, runtime)
    bundle = containers.container_dir(paths, rec.id) / "userdata"
    sdir = containers.state_dir(paths, rec.id)
    sdir.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(sdir / "exit")
    me = os.getpid()
    st.update(rec.id, state="running", monitor_pid=me, monitor_start=liveness.proc_start_time(me) or 0,
              started_at=time.time_ns(), exit_code=None, finished_at=0, event="start")  # fmt: skip
    if not spec.interactive:
        _stdin_devnull()
    code = 255
    error: PodpyError | None = None
    relay = None if spec.terminal else _start_log_relay(containers.log_path(paths, rec))
    try:
        if containers.is_podpy_runtime(runtime) and spec.terminal:
            code = _run_tty(bundle, rec.id, root, spec)
        elif containers.is_podpy_runtime(runtime):
            code = executor.run(
                bundle, rec.id, root, preserve_fds=spec.preserve_fds, sig_proxy=spec.sig_proxy
            )
        else:
            from podpy.runtime import external

            try:
                code = external.run(str(runtime), bundle, rec.id, root, preserve_fds=spec.preserve_fds)
            finally:
                external.delete(str(runtime), rec.id, root)
    except executor.RuntimeError_ as e:
        error = runtime_error(e.message, e.exit_code)
        code = error.exit_code
    finally:
        if relay is not None:
            _stop_log_relay(*relay)
        with contextlib.suppress(OSError):
            exitfile.write_exit_file(str(sdir / "exit"), code, time.time_ns())
        try:
            containers.cleanup(paths, rec.id)
        except NotFoundError:
            pass  # removed meanwhile (``rm -f`` from another shell): the exit code still stands
        except PodpyError as e:
            log.warning("cleaning up container %s: %s", rec.id[:12], e.message)
    if error is not None:
        raise error
    return code


def run(paths: Paths, spec: ContainerSpec, *, pull: str = "missing", storage_driver: str | None = None,
        pull_kwargs: dict[str, Any] | None = None, runtime: str | None = None, cidfile: str | None = None,
        replace: bool = False, detach: bool = False, create_only: bool = False,
        on_id: Callable[[str], None] | None = None) -> int:  # fmt: skip
    """``podpy run``: create, then run in the foreground (returns the container's exit code, with
    Podman's 125/126/127 rules) or, with ``detach``, start it under a monitor and return 0 at once.

    ``on_id`` receives the container ID (``run -d`` and ``create`` print it). ``pull_kwargs`` go to
    ``engine.images.pull`` when the image must be pulled. ``runtime``: None/"podpy" or "runc".
    """
    from podpy.engine import containers

    ov = run_overrides.get() or {}
    detach = bool(ov.get("detach", detach))
    create_only = bool(ov.get("create_only", create_only))
    on_id = ov.get("on_id", on_id)
    rec = create(paths, spec, pull=pull, storage_driver=storage_driver, pull_kwargs=pull_kwargs,
                 runtime=runtime, cidfile=cidfile, replace=replace)  # fmt: skip
    if create_only or detach:
        if detach:
            containers.start(paths, rec.id)
        if on_id is not None:
            on_id(rec.id)
        return 0
    return _foreground(paths, rec, spec)
