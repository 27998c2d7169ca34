"""``podpy run`` and ``podpy create``: from an image to a recorded container, run or started.

``create``: claim the name in the state DB (atomically: a taken name fails at once, naming the
holder), find (or pull) the image, mount the rootfs, resolve the user inside it, write the OCI
bundle; the record is then "created". ``run`` in the foreground runs the bundle with the runtime
directly, this process acting as the monitor (its pid is recorded, so ``kill -9`` of the CLI is
noticed like a dead monitor) and the container's stdio being the terminal's; ``run -d`` starts it
under the conmon-like monitor (``engine.containers.start``) and returns at once; ``run -t`` starts it
there too and attaches to it (``engine.attach``: PTY, detach keys, ``podpy attach`` later).
Networking (``engine.network``): create resolves the mode and ports and writes /etc files; the
namespace and slirp4netns/pasta are set up when the container starts (as in Podman).
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

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
from podpy.util.log import get_logger
from podpy.util.paths import Paths

TYPE_CHECKING = False  # not typing's: importing typing costs every command start-up time
if TYPE_CHECKING:
    from typing import Any

log = get_logger(__name__)

PULL_POLICIES = ("always", "missing", "never", "newer")
INIT_CANDIDATES = ("/usr/libexec/podman/catatonit", "/usr/bin/catatonit", "/usr/local/bin/catatonit")
ZONEINFO = Path("/usr/share/zoneinfo")


def find_init(path: str | None = None) -> str:
    """--init: catatonit (as Podman), from --init-path or the usual places."""
    import shutil

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


class _SearchRegistries(Sequence[str]):
    """registries.conf's unqualified-search registries, read only if a short name needs them
    (``images.lookup`` reads the file for every lookup; ``run IMG`` with a full name never needs it)."""

    def __init__(self) -> None:
        self._regs: list[str] | None = None

    def _get(self) -> list[str]:
        if self._regs is None:
            from podpy.engine.images import search_registries

            self._regs = search_registries()
        return self._regs

    def __getitem__(self, i):  # type: ignore[no-untyped-def, override]
        return self._get()[i]

    def __len__(self) -> int:
        return len(self._get())


_HOST_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}


def _platform_of(cfg: dict[str, Any]):  # type: ignore[no-untyped-def]
    from podpy.spec.platform import Platform

    return Platform(str(cfg.get("os") or "linux"), str(cfg.get("architecture") or ""),
                    str(cfg.get("variant") or "")).normalized()  # fmt: skip


def _platform_matches(cfg: dict[str, Any], want: Any) -> bool:
    """Whether an image config's os/architecture/variant is the wanted platform (None: the host's)."""
    if (want is None and not cfg.get("variant") and (cfg.get("os") or "linux") == "linux"
            and cfg.get("architecture") == _HOST_ARCH.get(os.uname().machine)):  # fmt: skip
        return True  # the usual case, decided without importing the platform module
    from podpy.spec.platform import host_platform

    return (want or host_platform()).matches(_platform_of(cfg))


def _go_platform(p: Any) -> str:
    """A platform as podman 4.3 prints its Go struct: ``{arm64 linux  [] v8}``."""
    return f"{{{p.architecture} {p.os}  [] {p.variant}}}"


def _remote_differs(name: str, rec: Any, pull_kwargs: dict[str, Any]) -> bool:
    """``--pull=newer``: whether the registry holds another image under ``name`` (for the wanted
    platform) than the local ``rec``. A registry that cannot be asked means no: the local image is
    used, silently, as Podman does."""
    from podpy.registry.client import RegistryClient
    from podpy.registry.config import load_registries_conf
    from podpy.registry.resolve import resolve_image
    from podpy.spec.platform import host_platform

    try:
        conf = load_registries_conf()
        ref = conf.candidates(name)[0]
        client = RegistryClient(conf, authfile=pull_kwargs.get("authfile"), creds=pull_kwargs.get("creds"),
                                tls_verify=pull_kwargs.get("tls_verify"), retry=0)  # fmt: skip
        try:
            remote = resolve_image(client, ref, pull_kwargs.get("platform") or host_platform())
        finally:
            client.close()
    except (PodpyError, IndexError) as e:
        log.debug("--pull=newer: cannot check %s in its registry (%s): using the local image", name, e)
        return False
    return remote.image_id != rec.id


def _image(paths: Paths, name: str, pull: str, pull_kwargs: dict[str, Any], state: Any = None):  # type: ignore[no-untyped-def]
    """The image to run: (store, record, its config document), pulled as ``--pull`` says.

    As podman 4.3: a local image of another platform than ``--platform`` is pulled again (``never``:
    used with a warning); without ``--platform`` a local image of a foreign platform is used with that
    warning; ``newer`` pulls when the registry's image differs from the local one.
    """
    from podpy.engine import imagestore

    store = imagestore.open_store(paths)
    rec = None
    if pull != "always":
        with contextlib.suppress(ImageNotKnown):
            rec = store.lookup_image(name, _SearchRegistries())
    cfg: dict[str, Any] = store.image_config(rec) if rec is not None else {}
    want = pull_kwargs.get("platform")
    foreign = rec is not None and not _platform_matches(cfg, want)
    if foreign and want is not None and pull != "never":
        rec = None  # pull the wanted platform
    bare = name.removeprefix("sha256:")
    by_id = rec is not None and rec.id.startswith(bare) and all(c in "0123456789abcdef" for c in bare)
    if rec is not None and pull == "newer" and not by_id and _remote_differs(_image_name(rec, name), rec, pull_kwargs):
        rec = None
    if rec is not None and foreign:
        from podpy.spec.platform import host_platform

        log.warning("image platform (%s) does not match the expected platform (%s)",
                    _go_platform(_platform_of(cfg)), _go_platform(want or host_platform()))  # fmt: skip
    if rec is not None:  # podman 4.3 logs "pull" (the name typed) for an image found locally too
        imagestore.record_event(paths, "pull", "", name, state)
    if rec is None:
        if pull == "never":
            raise ImageNotKnown(name)
        from podpy.engine import images

        ids = images.pull(paths, name, **pull_kwargs)
        store = imagestore.open_store(paths)
        rec = store.lookup_image(ids[0]) if ids else images.lookup(store, name)
        cfg = store.image_config(rec)
    return store, rec, cfg


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


def _write_all(fd: int, data: bytes) -> None:
    while data:
        n = os.write(fd, data)
        data = data[n:]


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


def _image_stop_signal(image_cfg: dict[str, Any]) -> int:
    """The image's StopSignal (``SIGQUIT``, ``3``, ``RTMIN+3``) as a number; 15 without one."""
    from podpy.spec.container import parse_signal

    sig = image_cfg.get("StopSignal")
    return parse_signal(str(sig)) if sig else 15


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
           replace: bool = False, starting: bool = False) -> ContainerRecord:  # fmt: skip
    """``podpy create``: the record (name claimed first, atomically), the rootfs and the bundle.

    Leaves the container "created" with its rootfs mounted; ``containers.start`` runs it. A failure
    before that leaves nothing behind (no record, no directory). ``starting``: it is started right
    after (``run``), so its network namespace is made meanwhile (``network.start_early``).
    """
    from podpy.engine import autoupdate, containers, health, network
    from podpy.engine.names import random_name
    from podpy.monitor import liveness
    from podpy.rootless.userns import ensure_userns
    from podpy.runtime import spec as rs
    from podpy.runtime.users import resolve_user, setup_keep_id
    from podpy.store.rootfs import mount_rootfs, prepare_volumes, rootfs_idmap, unmount_rootfs

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
        holder = st.get_by_name(spec.name)
        if holder is not None:
            if not replace:
                raise name_in_use(spec.name, holder.id)
            with contextlib.suppress(NotFoundError):
                containers.remove(paths, holder.id, force=True, timeout=0)
    if spec.name or spec.pod:  # a pod's name is no container's; --pod makes the spec a member's (engine.pods)
        from podpy.engine import pods

        spec = pods.on_create(paths, st, spec)
    requires = containers.resolve_requirements(st, spec.requires)
    store, rec, full_cfg = _image(paths, spec.image, pull, pull_kwargs or {}, st)
    image_cfg = full_cfg.get("config") or {}
    spec = network.prepare(paths, spec, image_cfg)  # mode, Podman's conflicts, host ports (issue 5)
    cid = os.urandom(32).hex()  # as secrets.token_hex(32), without importing hashlib/hmac/random
    record = ContainerRecord(id=cid, name=spec.name or random_name(), image_id=rec.id,
                             image_name=_image_name(rec, spec.image), state="configured",
                             labels={**(image_cfg.get("Labels") or {}), **autoupdate.systemd_labels(), **spec.labels},
                             monitor_pid=os.getpid(),
                             monitor_start=liveness.proc_start_time(os.getpid()) or 0)  # fmt: skip
    for _ in range(20):
        try:
            st.create(record, event=False)  # "create" when it is created (a failed create logs nothing)
            break
        except ConflictError:
            if spec.name:
                raise
            record.name = random_name()
    cdir = containers_dir(paths) / cid
    mounted = None
    try:
        if starting:
            network.start_early(paths, spec, cid)
        cdir.mkdir(parents=True, mode=0o700)
        host = rs.HostLimits.current()
        uidm, gidm, kuid, kgid = rs.userns_mappings(spec.userns, host) if spec.userns != "host" else ([], [], -1, -1)
        idmap = rootfs_idmap(uidm, gidm)  # --userns keep-id/nomap: the rootfs gets shifted owners
        mounted = mount_rootfs(store.layer_dirs(rec), cdir, choice.driver, mount_program=choice.mount_program,
                               idmap=idmap)  # fmt: skip
        log.debug("container %s: rootfs %s (%s)", cid[:12], mounted.path, mounted.driver)
        if spec.userns.startswith("keep-id") and spec.user is None and not image_cfg.get("User"):
            spec = spec.replace(user=f"{kuid}:{kgid}")  # as Podman: unless --user or USER
        user = resolve_user(str(mounted.path), spec.user if spec.user is not None else image_cfg.get("User") or "",
                            spec.group_add)  # fmt: skip
        if spec.userns.startswith("keep-id"):
            user = setup_keep_id(str(mounted.path), user, userns=spec.userns, uid=kuid, gid=kgid,
                                 host_ids=(host.uid_map[0][1], host.gid_map[0][1]),
                                 workdir=spec.workdir or image_cfg.get("WorkingDir") or "/",
                                 mount_dests=[m.destination for m in spec.mounts],
                                 root_owner=(idmap.uid(0), idmap.gid(0)) if idmap else (0, 0))  # fmt: skip
        from podpy.engine import volume_mounts  # named/anonymous volumes, --volumes-from, copy-up

        spec = volume_mounts.resolve(paths, spec, image_cfg, mounted.path, user.uid, user.gid, idmap)
        spec = spec.replace(mounts=prepare_volumes(spec.mounts, cdir, user.uid, user.gid, idmap))
        bundle = cdir / "userdata"
        bundle.mkdir(exist_ok=True)
        # --network host keeps the host's name (in its own UTS namespace), as Podman does
        spec = spec.replace(
            hostname=spec.hostname or (os.uname().nodename if spec.network == "host" else cid[:12])
        )
        spec.mounts = spec.mounts + network.etc_files(paths, spec, bundle, spec.hostname, record.name)
        run_spec = spec  # with the secrets, which the record (inspect, kube generate) never shows
        if spec.secrets:
            from podpy.engine import secrets

            run_spec = secrets.apply(paths, spec, bundle, idmap)
        hidden = {k for k, v in run_spec.env.items() if spec.env.get(k) != v}
        config = rs.generate(run_spec, image_cfg, rootfs=str(mounted.path), container_id=cid, user=user,
                             host=host, seccomp_profile=_seccomp_profile(spec),
                             netns_path=network.bundle_netns(paths, spec, cid))  # fmt: skip
        atomic_write(bundle / "config.json", json.dumps(config), fsync=False)  # compact as podman's (and indent= is pure Python)
        proc = config.get("process") or {}
        stop_sig = spec.stop_signal or _image_stop_signal(image_cfg)
        info = {
            "spec": spec.as_dict(),
            "ports": spec.ports,  # published ports: what ``podpy port`` lists and the network setup forwards
            "args": list(proc.get("args") or []),
            "env": [e for e in proc.get("env") or [] if e.partition("=")[0] not in hidden],
            "cwd": proc.get("cwd") or "/",
            "cmd": spec.command if spec.command is not None else image_cfg.get("Cmd"),
            "entrypoint": spec.entrypoint if spec.entrypoint is not None else image_cfg.get("Entrypoint"),
            "runtime": runtime or "podpy",
            **health.create_info(spec, image_cfg, bundle),  # log driver, health check, sd_notify
            "mount_program": choice.mount_program or "",
            "terminal": spec.terminal,
            "interactive": spec.interactive,
            "remove": spec.remove,
            "hostname": spec.hostname,
            "stop_signal": stop_sig,
            "stop_timeout": spec.stop_timeout,
            "requires": requires,
            "cidfile": os.path.abspath(cidfile) if cidfile else "",
            "create_command": ["podpy", *sys.argv[1:]],
        }
        record = st.update(cid, state="created", config=info, monitor_pid=0, monitor_start=0, event="create")
        if cidfile:
            atomic_write(cidfile, cid, fsync=False)
    except BaseException:
        network.drop_early(paths, cid)
        if mounted is not None:
            with contextlib.suppress(PodpyError):
                unmount_rootfs(mounted)
        import shutil

        shutil.rmtree(cdir, ignore_errors=True)
        with contextlib.suppress(NotFoundError):
            st.remove(cid, event=False)
        from podpy.engine.volumes import remove_anonymous  # the anonymous volumes this create made

        with contextlib.suppress(PodpyError):
            remove_anonymous(paths, {"spec": spec.as_dict()})
        raise
    return record


def _relay(streams: dict[int, tuple[int, bytes]], log_file: str, max_size: int = 0) -> None:
    """The relay child's loop: copy each pipe to its terminal fd and to the log until every pipe ends."""
    import select

    from podpy.monitor.logfmt import LogWriter

    log_w = LogWriter(log_file, max_size)
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
    # closed without LogWriter.close()'s fsync: conmon does not sync its logs either, and ``run``
    # waits for this process to end
    os.close(log_w.fd)


def _start_log_relay(log_file: str, max_size: int = 0) -> tuple[int, list[int]]:
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
            _relay({out_r: (saved[0], b"stdout"), err_r: (saved[1], b"stderr")}, log_file, max_size)
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
    try:
        got, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return  # reaped by the runtime's wait loop already
    if got:
        return
    # still our unreaped child, so its pid cannot be reused: wait on a pidfd (no polling sleeps)
    import select

    pidfd = os.pidfd_open(pid)
    try:
        done = bool(select.select([pidfd], [], [], drain)[0])
    finally:
        os.close(pidfd)
    if not done:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def _foreground(paths: Paths, rec: ContainerRecord, spec: ContainerSpec) -> int:
    """Run a created container with this process as its monitor (no second process: fast, and the
    container's stdio is ours). The record says so: ``monitor_pid`` is this process, so a ``kill -9``
    of the CLI is noticed like a dead monitor. What needs a real monitor (-t, a restart policy, a
    health check) runs under one instead, with this process attached to it."""
    from podpy.engine import containers, health, network
    from podpy.monitor import exitfile, liveness
    from podpy.runtime import executor

    # -t, a restart policy or a health check: under the monitor, attached to it (detach keys,
    # ``podpy attach`` later; the monitor restarts the container and runs its checks)
    if spec.terminal or health.needs_monitor(spec, rec.config.get("healthcheck")):
        from podpy.engine import attach
        from podpy.monitor.spawn import MonitorError

        try:
            how, code = attach.start_attached(paths, rec.id, stdin=spec.terminal or spec.interactive,
                                              detach_keys=spec.detach_keys, sig_proxy=spec.sig_proxy)  # fmt: skip
        except MonitorError as e:
            raise runtime_error(e.message, e.exit_code) from None
        if how == "exited":
            _wait_cleaned_up(paths, rec.id)
        return code
    st = containers.open_state(paths)
    runtime = rec.config.get("runtime")
    root = containers.runtime_root(paths, runtime)
    bundle = containers.container_dir(paths, rec.id) / "userdata"
    sdir = containers.state_dir(paths, rec.id)
    sdir.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(sdir / "exit")
    containers.start_requirements(paths, rec)  # --requires: those run first
    # its namespace, slirp4netns/pasta and port forwards before the runtime runs; slirp4netns gets
    # ready while the runtime creates the container (``network_ready`` before the process starts)
    network_ready = network.setup(paths, rec, defer=True)
    me = os.getpid()
    st.update(rec.id, state="running", monitor_pid=me, monitor_start=liveness.proc_start_time(me) or 0,
              started_at=time.time_ns(), exit_code=None, finished_at=0, event=("init", "start", "attach"))  # fmt: skip
    health.on_started(rec, me)  # sd_notify: MAINPID (and READY=1 for conmon) as Podman sends them
    containers.write_pidfiles(rec, 0, me)  # --conmon-pidfile: this process; --pidfile: the runtime writes it
    if not spec.interactive:
        _stdin_devnull()
    code = 255
    error: PodpyError | None = None
    relay = (
        None  # the container writes to our stdio directly, no log kept
        if spec.log_driver in ("none", "passthrough")
        else _start_log_relay(containers.log_path(paths, rec), spec.log_max_size)
    )
    try:
        if containers.is_podpy_runtime(runtime):
            code = executor.run(bundle, rec.id, root, preserve_fds=spec.preserve_fds, sig_proxy=spec.sig_proxy,
                                before_start=network_ready, pid_file=spec.pidfile or None)  # fmt: skip
        else:
            from podpy.runtime import external

            network_ready()

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
            exitfile.write_exit_file(str(sdir / "exit"), code, time.time_ns(), sync=False)  # read back below
        try:
            containers.cleanup(paths, rec.id)
        except NotFoundError:
            pass  # removed meanwhile (``rm -f`` from another shell): the exit code still stands
        except PodpyError as e:
            log.warning("cleaning up container %s: %s", rec.id[:12], e.message)
    if error is not None:
        raise error
    return code


def _wait_cleaned_up(paths: Paths, cid: str, timeout: float = 30.0) -> None:
    """As ``podman run``: return only when the container's cleanup is done (network helper stopped,
    rootfs unmounted, ``--rm`` container removed), i.e. when its monitor, which runs it, has exited."""
    import select

    from podpy.engine import containers

    try:
        rec = containers.open_state(paths).get(cid)
    except NotFoundError:
        return  # removed: the cleanup is done
    if rec.monitor_pid <= 0:
        return
    try:
        fd = os.pidfd_open(rec.monitor_pid)
    except OSError:
        return  # exited already
    try:
        from podpy.monitor import liveness

        if liveness.is_alive(rec.monitor_pid, rec.monitor_start):  # still that monitor (not a reused pid)
            select.select([fd], [], [], timeout)
    finally:
        os.close(fd)


def _early_monitor(paths: Paths, spec: ContainerSpec, runtime: str | None) -> Any:
    """``run -d`` (parsed by click; the fast path started it already): start the monitor now, so that
    its start-up runs on the other CPU while this process creates the container; ``containers.start``
    hands it the config. With podpy's runtime it is ``engine.premonitor``'s adopting monitor; with
    runc, the monitor's interpreter, forked once this process is inside podpy's namespace."""
    from podpy.engine import premonitor

    passthrough = spec.log_driver == "passthrough"
    monitor = premonitor.start(paths, runtime, passthrough)
    if monitor is not None:
        return monitor
    from podpy.monitor.spawn import PendingMonitor
    from podpy.rootless.userns import ensure_userns

    ensure_userns(paths)  # the monitor must be forked inside podpy's namespace
    return PendingMonitor(passthrough=passthrough)


def run(paths: Paths, spec: ContainerSpec, *, pull: str = "missing", storage_driver: str | None = None,
        pull_kwargs: dict[str, Any] | None = None, runtime: str | None = None, cidfile: str | None = None,
        replace: bool = False, detach: bool = False, create_only: bool = False,
        on_id: Callable[[str], None] | None = None, monitor: Any = None) -> int:  # fmt: skip
    """``podpy run``: create, then run in the foreground (returns the container's exit code, with
    Podman's 125/126/127 rules) or, with ``detach``, start it under a monitor and return 0 at once.

    ``on_id`` receives the container ID (``run -d`` and ``create`` print it). ``pull_kwargs`` go to
    ``engine.images.pull`` when the image must be pulled. ``runtime``: None/"podpy" or "runc".
    ``monitor``: the monitor ``engine.premonitor`` started for it (cancelled unless used).
    """
    from podpy.engine import containers

    ov = run_overrides.get() or {}
    detach = bool(ov.get("detach", detach))
    create_only = bool(ov.get("create_only", create_only))
    on_id = ov.get("on_id", on_id)
    if monitor is not None and (create_only or not detach):
        monitor.cancel()
        monitor = None
    if monitor is None and detach and not create_only:
        monitor = _early_monitor(paths, spec, runtime)
    try:
        rec = create(paths, spec, pull=pull, storage_driver=storage_driver, pull_kwargs=pull_kwargs,
                     runtime=runtime, cidfile=cidfile, replace=replace, starting=not create_only)  # fmt: skip
    except BaseException:
        if monitor is not None:
            monitor.cancel()
        raise
    if create_only or detach:
        if detach:
            containers.start(paths, rec.id, monitor=monitor)
        if on_id is not None:
            on_id(rec.id)
        return 0
    return _foreground(paths, rec, spec)
