"""``podpy run`` in the foreground — the minimal path from an image to a running process.

What it does: join podpy's user namespace, find (or pull) the image, mount the rootfs, resolve the
user inside it, write the OCI bundle and run it with podpy's runtime, then unmount and clean up.

Not yet here (each refused by the CLI rather than ignored): a monitor (conmon-like) process, so
there is no ``-d``, no logs, no attach; no state database, so a container kept without ``--rm``
is only a directory under ``containers/`` (its writable layer and config.json) that a later
``podpy ps``/``start`` will pick up; no slirp4netns/pasta yet, so the default ``private`` network
has a loopback interface only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import secrets
import shutil
from pathlib import Path
from typing import Any

from podpy.spec.container import ContainerSpec, Mount
from podpy.util.errors import (
    EXIT_CANNOT_EXEC,
    EXIT_NOT_FOUND,
    ConflictError,
    ImageNotKnown,
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


def _check_name(paths: Paths, name: str, replace: bool = False) -> None:
    base = containers_dir(paths)
    if not base.is_dir():
        return
    for d in base.iterdir():
        with contextlib.suppress(OSError, ValueError):
            meta = json.loads((d / "container.json").read_text())
            if meta.get("name") == name:
                running = (paths.runroot / "runtime" / d.name).exists()
                if replace and not running:
                    shutil.rmtree(d, ignore_errors=True)  # --replace: the old (stopped) one goes
                    continue
                raise ConflictError(
                    f'the container name "{name}" is already in use by {d.name}. '
                    "You have to remove that container to be able to reuse that name: that name is already in use"
                )


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


def run(paths: Paths, spec: ContainerSpec, *, pull: str = "missing", storage_driver: str | None = None,
        pull_kwargs: dict[str, Any] | None = None, runtime: str | None = None, cidfile: str | None = None,
        replace: bool = False) -> int:  # fmt: skip
    """Run ``spec`` in the foreground; returns the container's exit code (Podman's 125/126/127 rules).

    ``pull_kwargs`` go to ``engine.images.pull`` when the image must be pulled (platform,
    tls_verify, progress...). A container that fails before its process starts leaves nothing.
    ``runtime``: None/"podpy" for podpy's own runtime, or an external one ("runc").
    """
    from podpy.rootless.userns import ensure_userns
    from podpy.runtime import executor
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
    ensure_userns(paths)
    if spec.name:
        _check_name(paths, spec.name, replace)
    store, rec = _image(paths, spec.image, pull, pull_kwargs or {})
    image_cfg = (store.image_config(rec).get("config") or {}) if rec else {}
    cid = secrets.token_hex(32)
    cdir = containers_dir(paths) / cid
    cdir.mkdir(parents=True, mode=0o700)
    atomic_write(
        cdir / "container.json",
        json.dumps({"id": cid, "name": spec.name, "image": rec.id, "labels": spec.labels}),
        fsync=False,
    )
    mounted = None
    started = False
    try:
        mounted = mount_rootfs(store.layer_dirs(rec), cdir, storage_driver)
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
        if cidfile:
            atomic_write(cidfile, cid, fsync=False)
        if not spec.interactive:
            _stdin_devnull()
        try:
            if runtime in (None, "podpy") and spec.terminal:
                code = _run_tty(bundle, cid, paths.runroot / "runtime", spec)
            elif runtime in (None, "podpy"):
                code = executor.run(
                    bundle,
                    cid,
                    paths.runroot / "runtime",
                    preserve_fds=spec.preserve_fds,
                    sig_proxy=spec.sig_proxy,
                )
            else:
                from podpy.runtime import external

                root = paths.runroot / runtime
                try:
                    code = external.run(runtime, bundle, cid, root, preserve_fds=spec.preserve_fds)
                finally:
                    external.delete(runtime, cid, root)
            started = True
        except executor.RuntimeError_ as e:
            if e.exit_code == EXIT_NOT_FOUND:
                raise PodpyError(f"{e.message}: OCI runtime attempted to invoke a command that was not found",
                                 EXIT_NOT_FOUND) from None  # fmt: skip
            if e.exit_code == EXIT_CANNOT_EXEC:
                raise PodpyError(
                    f"{e.message}: OCI runtime permission denied error", EXIT_CANNOT_EXEC
                ) from None
            raise PodpyError(f"OCI runtime error: {e.message}") from None
        with contextlib.suppress(OSError):
            (cdir / "exitcode").write_text(str(code))
        return code
    finally:
        if mounted is not None:
            with contextlib.suppress(PodpyError):
                unmount_rootfs(mounted)
        if spec.remove or not started:
            shutil.rmtree(cdir, ignore_errors=True)
