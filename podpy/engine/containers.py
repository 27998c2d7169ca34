"""Container lifecycle without a daemon: start/stop/kill/rm/wait/cleanup over the state DB.

Where a container lives:
- ``ROOT/containers/ID``: the writable layer, ``userdata/config.json`` (the bundle) and
  ``userdata/ctr.log`` (the k8s-file log) — survives a reboot;
- ``RUNROOT/c/ID[:16]``: the monitor's files (attach socket, ctl FIFO, pid files, ``exit``) — short,
  because it holds unix sockets (108-byte limit);
- the record in ``ROOT/state.db`` (``engine.state``): name, image, state, pids, exit code, times,
  and ``config`` (what ``run``/``create`` asked for: the spec, the process args, runtime, log driver).

Who changes the state: the command that starts the container (``running``, with the monitor's pid and
start time), and whoever first notices it exited: the monitor's cleanup command (``podpy container
cleanup ID``), or any later command that sees the exit file, or — after ``kill -9`` of the monitor —
that the monitor is gone (``State.reconcile``: exit code 255). So no container stays "running" or
"stopping" once nothing watches it. Slow work on one container happens under ``State.lock(id)``;
``FileLock`` is not re-entrant, so functions named ``*_locked`` expect the caller to hold it.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from pathlib import Path

from podpy.engine.state import ContainerRecord, State
from podpy.util.errors import ConflictError, NotFoundError, PodpyError
from podpy.util.gotime import rfc3339_utc
from podpy.util.log import get_logger
from podpy.util.paths import Paths

TYPE_CHECKING = False  # not typing's: importing typing costs every command start-up time
if TYPE_CHECKING:
    from typing import Any

log = get_logger(__name__)

ACTIVE = ("running", "paused", "stopping")
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_RUNTIME_BOOT = (
    "import sys;sys.path.insert(0,sys.argv.pop(1));"
    "from podpy.runtime.oci_cli import main;sys.exit(main(sys.argv[1:]))"
)
_CLEANUP_BOOT = (
    "import sys;sys.path.insert(0,sys.argv.pop(1));"
    "from podpy.engine.containers import cleanup_main;sys.exit(cleanup_main(sys.argv[1:]))"
)
DEFAULT_STOP_TIMEOUT = 10


def stop_timeout(rec: ContainerRecord) -> int:
    """Seconds ``stop`` (and ``rm -f``, ``restart``) waits before SIGKILL when no ``-t`` is given:
    the container's ``--stop-timeout``, else Podman's default."""
    t = rec.config.get("stop_timeout")
    return DEFAULT_STOP_TIMEOUT if t is None else int(t)


class StateImproper(ConflictError):
    """Podman's "container state improper" (rm of a running container exits 2, as podman rm does)."""


# --- paths ----------------------------------------------------------------------------------------


def container_dir(paths: Paths, cid: str) -> Path:
    return Path(paths.root) / "containers" / cid


def state_dir(paths: Paths, cid: str) -> Path:
    return Path(paths.runroot) / "c" / cid[:16]


def exit_path(paths: Paths, cid: str) -> str:
    return str(state_dir(paths, cid) / "exit")


def log_path(paths: Paths, rec: ContainerRecord) -> str:
    return str(rec.config.get("log_path") or container_dir(paths, rec.id) / "userdata" / "ctr.log")


def is_podpy_runtime(runtime: str | None) -> bool:
    return runtime in (None, "", "podpy")


def runtime_root(paths: Paths, runtime: str | None) -> Path:
    return Path(paths.runroot) / ("runtime" if is_podpy_runtime(runtime) else str(runtime))


def runtime_entry(runtime: str | None) -> str | None:
    """podpy's runtime CLI entry point, with which the monitor creates the container in-process
    (``monitor.spawn``, ``adopt``); None for runc."""
    from podpy.engine.premonitor import ENTRY

    return ENTRY if is_podpy_runtime(runtime) else None


def runtime_argv(runtime: str | None) -> list[str]:
    """The OCI runtime CLI the monitor runs: podpy's own (``python -m podpy.runtime``) or runc."""
    if is_podpy_runtime(runtime):
        return [sys.executable, "-S", "-c", _RUNTIME_BOOT, _ROOT]  # -S: stdlib only, no site start-up
    from podpy.runtime import external

    return [external.find(str(runtime))]


def cleanup_argv(paths: Paths, cid: str) -> list[str]:
    """What the monitor runs once the container exited (``podpy container cleanup``, without click)."""
    return [sys.executable, "-c", _CLEANUP_BOOT, _ROOT, str(paths.root), str(paths.runroot), cid]


# --- state ----------------------------------------------------------------------------------------


def open_state(paths: Paths) -> State:
    return State(paths)


def _needs_refresh(rec: ContainerRecord) -> bool:
    """Active, or "configured" (being created: ``monitor_pid`` is the creating CLI, which may be dead)."""
    return rec.state in ACTIVE or (rec.state in ("created", "configured") and rec.monitor_pid > 0)


def _exited_update(st: State, paths: Paths, rec: ContainerRecord) -> ContainerRecord:
    """The container is no longer running: record that (exit file, or 255 when its watcher died)."""
    from podpy.monitor import exitfile, liveness

    ex = exitfile.read_exit_file(exit_path(paths, rec.id))
    if ex is not None:
        return st.update(rec.id, state="exited", exit_code=int(ex["exit_code"] or 0),
                         finished_at=int(ex["exited_at_ns"] or time.time_ns()), pid=0, event="died")  # fmt: skip
    if rec.monitor_pid and liveness.is_alive(rec.monitor_pid, rec.monitor_start or None):
        return rec
    return st.reconcile(rec.id, exit_path(paths, rec.id))


def refresh_locked(st: State, paths: Paths, rec: ContainerRecord) -> ContainerRecord:
    """Bring one record up to date (caller holds its lock); cleans up after a dead monitor."""
    if not _needs_refresh(rec):
        return rec
    if rec.state == "configured":
        from podpy.monitor import liveness

        if not liveness.is_alive(rec.monitor_pid, rec.monitor_start or None):
            remove_locked(st, paths, rec)  # its create was killed half-way: it never existed for the user
        return rec
    new = _exited_update(st, paths, rec)
    if new.state == "exited":
        cleanup_locked(st, paths, new)
        with contextlib.suppress(NotFoundError):
            new = st.get(new.id)
    return new


def refresh(st: State, paths: Paths, rec: ContainerRecord) -> ContainerRecord:
    """Cheap when nothing changed (an exit-file stat, a /proc read); locks only to record a change."""
    from podpy.monitor import liveness

    if not _needs_refresh(rec):
        return rec
    if not os.path.exists(exit_path(paths, rec.id)) and liveness.is_alive(
        rec.monitor_pid, rec.monitor_start or None
    ):
        return rec
    with st.lock(rec.id):
        try:
            rec = st.get(rec.id)
        except NotFoundError:
            return rec
        rec = refresh_locked(st, paths, rec)
    if rec.state == "configured" and not st.exists(rec.id):
        raise NotFoundError(f'no container with name or ID "{rec.id}" found: no such container')
    return rec


def _join_userns(paths: Paths) -> None:
    """Unmounting, the runtime's state and files owned by subordinate ids need podpy's namespace;
    joined only when there is such work (``ps`` with nothing to clean up never joins)."""
    from podpy.rootless.userns import ensure_userns

    ensure_userns(paths)


def get(st: State, paths: Paths, ref: str) -> ContainerRecord:
    return refresh(st, paths, st.get(ref))


def list_containers(st: State, paths: Paths) -> list[ContainerRecord]:
    out = []
    for rec in st.list():
        with contextlib.suppress(NotFoundError):
            out.append(refresh(st, paths, rec))
    return out


def _tree_size(path: Path) -> int:
    """Apparent bytes of the files and symlinks under ``path`` (directories count 0), as Podman's sizes."""
    total = 0
    stack = [str(path)]
    while stack:
        try:
            it = os.scandir(stack.pop())
        except OSError:
            continue
        with it:
            for e in it:
                with contextlib.suppress(OSError):
                    if e.is_dir(follow_symlinks=False):
                        stack.append(e.path)
                    else:
                        total += e.stat(follow_symlinks=False).st_size
    return total


def sizes(paths: Paths, rec: ContainerRecord) -> tuple[int, int]:
    """``ps -s``: (rwSize, rootFsSize) as Podman reports them: the bytes in the container's writable
    layer, and in its image's layers."""
    from podpy.engine import images

    _join_userns(paths)  # the writable layer holds directories of subordinate ids
    rw = _tree_size(container_dir(paths, rec.id) / "diff")
    try:
        store = images.open_store(paths)
        dirs = store.layer_dirs(store.get_image(rec.image_id))
    except PodpyError:
        dirs = []
    return rw, sum(_tree_size(d) for d in dirs)


# --- rootfs, runtime ------------------------------------------------------------------------------


def recorded_driver(cdir: Path) -> str | None:
    """The storage driver the container's rootfs was mounted with (``CDIR/driver``); None if unknown."""
    import json

    try:
        return str(json.loads((cdir / "driver").read_text())["driver"])
    except (OSError, ValueError, KeyError):
        return None


USER_MOUNTS = "user-mounts"  # CDIR/user-mounts: how many ``podpy mount``s hold the rootfs (engine.rootfs_mounts)


def unmount(paths: Paths, cid: str, force: bool = False) -> None:
    """Unmount the rootfs, unless the user mounted it (``podpy mount``) and this is no ``force``."""
    from podpy.store.rootfs import RootfsMount, unmount_rootfs

    cdir = container_dir(paths, cid)
    if not force and (cdir / USER_MOUNTS).exists():
        return
    drv = recorded_driver(cdir)
    if drv and drv != "vfs":
        _join_userns(paths)  # the mount is only visible inside podpy's mount namespace
        if os.path.ismount(cdir / "merged"):
            unmount_rootfs(RootfsMount(cdir / "merged", drv, cdir))


def ensure_mounted(paths: Paths, rec: ContainerRecord) -> None:
    """Mount the rootfs again for ``start`` (after a cleanup or a reboot unmounted it)."""
    from podpy.store.rootfs import mount_rootfs, reset_volume_overlays

    cdir = container_dir(paths, rec.id)
    if rec.state not in ACTIVE:
        reset_volume_overlays(cdir)  # -v …:O: each run starts from the source again, as in Podman
    drv = recorded_driver(cdir)
    if drv in (None, "vfs") or os.path.ismount(cdir / "merged"):
        return
    from podpy.engine import images  # only to mount again: not on ``run``'s path

    store = images.open_store(paths)
    img = images.lookup(store, rec.image_id)
    mount_rootfs(store.layer_dirs(img), cdir, drv, mount_program=rec.config.get("mount_program") or None)


def runtime_delete(paths: Paths, rec: ContainerRecord) -> None:
    """``RUNTIME delete --force``: kills what is left of the container and forgets it."""
    runtime = rec.config.get("runtime")
    root = runtime_root(paths, runtime)
    if not (root / rec.id).exists():
        return
    _join_userns(paths)
    if is_podpy_runtime(runtime):
        from podpy.runtime import executor

        with contextlib.suppress(PodpyError):
            executor.delete(root, rec.id, force=True)
    else:
        from podpy.runtime import external

        external.delete(str(runtime), rec.id, root)


def send_signal(paths: Paths, rec: ContainerRecord, sig: int) -> None:
    """Signal the container's init through its runtime (it checks the pid is still that container)."""
    runtime = rec.config.get("runtime")
    root = runtime_root(paths, runtime)
    if is_podpy_runtime(runtime):
        from podpy.runtime import executor

        executor.kill(root, rec.id, sig)
        return
    import subprocess

    from podpy.runtime import external

    r = subprocess.run([*external.argv(str(runtime), root, "kill", rec.id, str(sig))],
                       capture_output=True, text=True, check=False)  # fmt: skip
    if r.returncode != 0:
        raise PodpyError(f"{runtime} kill {rec.id[:12]}: {r.stderr.strip() or r.returncode}")


def parse_signal(text: str) -> int:
    """``-s KILL``, ``SIGTERM``, ``9``: as the runtime CLI parses them."""
    from podpy.runtime.oci_cli import parse_signal as _parse

    return _parse(text)


# --- start ----------------------------------------------------------------------------------------


def start_locked(st: State, paths: Paths, rec: ContainerRecord, attach: Any = None,
                 monitor: Any = None) -> ContainerRecord:  # fmt: skip
    """Start a created or exited container through a new monitor; returns the running record.

    ``attach(handle)`` is called once the monitor serves the attach socket and before the container's
    process starts (so an attach client misses no output); then this process starts it, for runc too.

    A runtime error (command not found: 127, not executable: 126) leaves it exited with that code
    and raises the runtime's message, as Podman does. ``monitor``: a ``PendingMonitor`` started
    earlier (``run -d`` starts it before creating the container) to use instead of a new one.
    """
    from podpy.engine import health
    from podpy.monitor.spawn import MonitorConfig, MonitorError, spawn_monitor

    rec = refresh_locked(st, paths, rec)
    if rec.state in ACTIVE:
        return rec
    start_requirements(paths, rec)
    _join_userns(paths)
    ensure_mounted(paths, rec)
    runtime_delete(paths, rec)
    from podpy.engine import network

    sdir = state_dir(paths, rec.id)
    cfg = rec.config
    # podpy's runtime: the monitor only creates; ``start`` runs here, in-process (it opens the
    # exec FIFO), which saves starting a second runtime interpreter
    own_start = is_podpy_runtime(cfg.get("runtime")) or attach is not None
    # the namespace and its helper before the runtime creates the container; when ``start`` is ours,
    # the helper gets ready (and forwards ports) while the monitor creates it
    network_ready = network.setup(paths, rec, st, defer=own_start)
    mcfg = MonitorConfig(
        container_id=rec.id,
        bundle=str(container_dir(paths, rec.id) / "userdata"),
        state_dir=str(sdir),
        runtime=runtime_argv(cfg.get("runtime")),
        runtime_root=str(runtime_root(paths, cfg.get("runtime"))),
        log_driver=cfg.get("log_driver", "k8s-file"),
        log_path=log_path(paths, rec),
        terminal=bool(cfg.get("terminal")),
        stdin=bool(cfg.get("interactive")),
        cleanup=cleanup_argv(paths, rec.id),
        start=not own_start,
        **health.monitor_fields(paths, rec),  # log max-size, restart policy, health-check timer
    )
    try:
        h = spawn_monitor(mcfg, pending=monitor, adopt=runtime_entry(cfg.get("runtime")))
    except MonitorError as e:
        st.update(rec.id, state="exited", exit_code=e.exit_code, finished_at=time.time_ns(), pid=0)
        with contextlib.suppress(PodpyError):
            cleanup_locked(st, paths, st.get(rec.id))
        raise
    rec = st.update(rec.id, state="running", pid=h.pid, monitor_pid=h.monitor_pid,
                    monitor_start=h.monitor_start, started_at=time.time_ns(), exit_code=None,
                    finished_at=0, event=("init", "start", "attach") if attach else ("init", "start"))  # fmt: skip
    if attach is not None:
        attach(h)
    if own_start:
        from podpy.runtime import start as runtime_start  # not the executor: none of it is needed here

        try:
            network_ready()
            if is_podpy_runtime(cfg.get("runtime")):
                runtime_start.start(runtime_root(paths, cfg.get("runtime")), rec.id)
            else:
                _external_start(paths, rec)
        except PodpyError as e:
            code = getattr(e, "exit_code", 125)
            runtime_delete(paths, rec)  # kills the waiting init: the monitor then exits
            st.update(rec.id, state="exited", exit_code=code, finished_at=time.time_ns(), pid=0)
            with contextlib.suppress(PodpyError):
                cleanup_locked(st, paths, st.get(rec.id))
            raise MonitorError(e.message, code) from None
    write_pidfiles(rec, h.pid, h.monitor_pid)
    health.on_started(rec, h.monitor_pid)  # health "starting", sd_notify READY/MAINPID
    return rec


def write_pidfiles(rec: ContainerRecord, pid: int, monitor_pid: int) -> None:
    """``--pidfile``/``--conmon-pidfile``: the container's and its monitor's pids, written at each
    start (and left in place at removal), as Podman does."""
    from podpy.util.fsutil import atomic_write

    spec = rec.config.get("spec") or {}
    for path, value in ((spec.get("pidfile"), pid), (spec.get("conmon_pidfile"), monitor_pid)):
        if path and value:
            try:
                atomic_write(path, str(value), fsync=False)
            except OSError as e:
                log.warning("cannot write %s: %s", path, e.strerror or e)


def resolve_requirements(st: State, refs: list[str]) -> list[str]:
    """``--requires``: the IDs of the named containers (each must exist, as Podman checks at create)."""
    ids = []
    for ref in refs:
        try:
            ids.append(st.get(ref).id)
        except NotFoundError as e:
            raise NotFoundError(f'"{ref}" is not a valid container, cannot be used as a dependency: {e.message}') from None
    return ids


def start_requirements(paths: Paths, rec: ContainerRecord) -> None:
    """Start the containers ``rec`` requires (``--requires``) that do not run, each with its own."""
    requires = rec.config.get("requires") or []
    if not requires:
        return
    st = open_state(paths)
    for rid in requires:
        try:
            dep = refresh(st, paths, st.get(rid))
        except NotFoundError:
            raise NotFoundError(f"container {rec.name} requires container {rid}, which no longer exists") from None
        if dep.state not in ACTIVE:
            start(paths, rid)


def dependents(st: State, paths: Paths, cid: str) -> list[ContainerRecord]:
    """The containers that require ``cid`` (``--requires``): from the records as they are (no refresh,
    which may lock: callers hold a container's lock); only records naming ``cid`` are decoded."""
    return [r for r in st.mentioning(cid) if cid in (r.config.get("requires") or [])]


def removal_order(paths: Paths, ref: str) -> list[str]:
    """``rm --depend``: ``ref`` and every container that requires it (transitively), dependents first."""
    st = open_state(paths)
    out: list[str] = []

    def visit(cid: str) -> None:
        for d in dependents(st, paths, cid):
            if d.id not in out:
                visit(d.id)
        if cid not in out:
            out.append(cid)

    visit(st.get(ref).id)
    return out


def _external_start(paths: Paths, rec: ContainerRecord) -> None:
    import subprocess

    from podpy.runtime import external

    runtime = str(rec.config.get("runtime"))
    r = subprocess.run(external.argv(runtime, runtime_root(paths, runtime), "start", rec.id),
                       capture_output=True, text=True, check=False)  # fmt: skip
    if r.returncode != 0:
        raise PodpyError(f"{runtime} start {rec.id[:12]}: {r.stderr.strip() or r.returncode}")


def start(paths: Paths, ref: str, attach: Any = None, monitor: Any = None) -> ContainerRecord:
    st = open_state(paths)
    rec = st.get(ref)
    with st.lock(rec.id):
        return start_locked(st, paths, st.get(rec.id), attach, monitor)


# --- stop, kill -----------------------------------------------------------------------------------


def _wait_exit_file(paths: Paths, rec: ContainerRecord, timeout: float | None) -> bool:
    from podpy.monitor import liveness

    if rec.monitor_pid <= 0:
        return True
    return liveness.wait_exit(exit_path(paths, rec.id), rec.monitor_pid, rec.monitor_start or None,
                              timeout) is not None or not liveness.is_alive(rec.monitor_pid, rec.monitor_start or None)  # fmt: skip


def stop_locked(
    st: State, paths: Paths, rec: ContainerRecord, timeout: float | None = None
) -> ContainerRecord:
    """SIGTERM (the stop signal), ``timeout`` seconds, then SIGKILL; returns the exited record."""
    rec = refresh_locked(st, paths, rec)
    if rec.state not in ACTIVE:
        return rec
    _join_userns(paths)
    import signal  # enums: not imported for ``run``

    from podpy.engine.health import mark_stopped_by_user

    mark_stopped_by_user(state_dir(paths, rec.id))  # before the signal: the monitor must not restart it
    t = stop_timeout(rec) if timeout is None else max(0.0, timeout)
    sig = int(rec.config.get("stop_signal") or signal.SIGTERM)
    with contextlib.suppress(PodpyError):
        if t > 0:
            send_signal(paths, rec, sig)
    if t <= 0 or not _wait_exit_file(paths, rec, t):
        if t > 0:
            log.warning("StopSignal %s failed to stop container %s in %g seconds, resorting to SIGKILL",
                        signal.Signals(sig).name if sig in signal.Signals._value2member_map_ else sig, rec.name, t)  # fmt: skip
        with contextlib.suppress(PodpyError):
            send_signal(paths, rec, signal.SIGKILL)
        _wait_exit_file(paths, rec, 30)
    st.container_event(rec.id, "stop")  # podman 4.3's order: stop, died, cleanup
    return refresh_locked(st, paths, st.get(rec.id))


def stop(paths: Paths, ref: str, timeout: float | None = None) -> ContainerRecord:
    st = open_state(paths)
    rec = st.get(ref)
    with st.lock(rec.id):
        return stop_locked(st, paths, st.get(rec.id), timeout)


def kill(paths: Paths, ref: str, sig: int = 9) -> ContainerRecord:  # SIGKILL
    st = open_state(paths)
    rec = st.get(ref)
    with st.lock(rec.id):
        rec = refresh_locked(st, paths, st.get(rec.id))
        if rec.state not in ACTIVE:
            raise ConflictError(
                f"can only kill running containers. {rec.id} is in state {rec.state}: container state improper"
            )
        _join_userns(paths)
        from podpy.engine.health import mark_stopped_by_user

        mark_stopped_by_user(state_dir(paths, rec.id))  # as Podman: a killed container is not restarted
        send_signal(paths, rec, sig)
        st.add_event("container", "kill", rec.id, rec.name, {"signal": sig})
    return rec


# --- wait -----------------------------------------------------------------------------------------


WAIT_CONDITIONS = ("configured", "created", "exited", "healthy", "initialized", "paused", "removing", "running",
                   "stopped", "stopping", "unhealthy")  # fmt: skip
_EXIT_CONDITIONS = {"exited", "stopped"}


def check_conditions(conditions: Any) -> set[str]:
    """``wait --condition`` values (Podman's names); UsageError with Podman's words for others."""
    from podpy.util.errors import UsageError

    conds = set(conditions) or {"stopped"}
    for c in sorted(conds):
        if c not in WAIT_CONDITIONS:
            raise UsageError(f"unknown container state: {c}: invalid argument")
    return conds


def _died_code(st: State, cid: str) -> int | None:
    """The exit code a removed container (``--rm``) died with, from its last ``died`` event."""
    import json

    row = st.conn.execute("SELECT attributes FROM events WHERE id = ? AND action = 'died' ORDER BY seq DESC LIMIT 1",
                          (cid,)).fetchone()  # fmt: skip
    if row is None:
        return None
    code = json.loads(row[0]).get("containerExitCode")
    return None if code is None else int(code)


def wait(paths: Paths, ref: str, conditions: Any = ("stopped",), interval: float = 0.25) -> int:
    """Block until the container meets one of ``conditions`` (Podman's ``wait --condition``).

    ``exited``/``stopped``: it is not running (a created one counts, as in Podman 4.3); returns its
    exit code, also when ``--rm`` removed it meanwhile. A state (``running``, ``paused``, ...) or a
    health status (``healthy``/``unhealthy``): returns -1 once it holds. ``removing``: once the
    container is gone. ``initialized`` (created by the runtime, not yet started) is never visible in
    podpy, whose start does both under one lock, so it only matches together with another condition.
    """
    conds = check_conditions(conditions)
    want_exit = bool(conds & _EXIT_CONDITIONS)
    want_health = conds & {"healthy", "unhealthy"}
    st = open_state(paths)
    cid = st.get(ref).id
    while True:
        try:
            rec = refresh(st, paths, st.get(cid))
        except NotFoundError:
            if "removing" in conds:
                return -1
            code = _died_code(st, cid) if want_exit else None
            if code is None:
                raise
            return code
        if want_exit and rec.state not in ACTIVE:
            return int(rec.exit_code or 0)
        if rec.state in conds:
            return -1
        if want_health:
            from podpy.engine import health

            if health.health_status(rec) in want_health:
                return -1
        if want_exit and conds <= _EXIT_CONDITIONS and rec.monitor_pid > 0:
            _wait_exit_file(paths, rec, 1.0)  # wakes as the monitor exits (pidfd), not by polling
        else:
            time.sleep(interval)


# --- cleanup, rm ----------------------------------------------------------------------------------


def _network_teardown(paths: Paths, cid: str) -> None:
    """slirp4netns/pasta stopped, the network namespace unmounted (podpy.engine.network)."""
    from podpy.engine import network

    network.teardown(paths, cid)


def cleanup_locked(st: State, paths: Paths, rec: ContainerRecord) -> None:
    """After the container exited: runtime state deleted, rootfs unmounted; ``--rm`` removes it."""
    runtime_delete(paths, rec)
    _network_teardown(paths, rec.id)
    unmount(paths, rec.id)
    if rec.config.get("remove"):
        remove_locked(st, paths, rec)
        from podpy.engine.volumes import remove_anonymous

        remove_anonymous(paths, rec.config)  # run --rm: its anonymous volumes go too, as in Podman
        if (rec.config.get("spec") or {}).get("rmi"):
            _remove_image(paths, rec)
    else:  # once per exit: the monitor's cleanup may come after a stop or ps did it
        st.container_event(rec.id, "cleanup", once_since_ns=rec.finished_at)


def _remove_image(paths: Paths, rec: ContainerRecord) -> None:
    """``run --rmi``: the image the container ran, by that name (``rmi NAME``: another name keeps it),
    unless another container uses it; a failure is logged, as Podman does, and changes no exit code."""
    from podpy.engine import images

    try:
        report = images.remove(paths, [rec.image_name or rec.image_id])
    except PodpyError as e:
        log.error("%s", e.message)
        return
    for e in report.errors:
        log.error("%s", e.message)


def cleanup(paths: Paths, ref: str) -> ContainerRecord | None:
    """``podpy container cleanup``: what the monitor runs when the container exited."""
    st = open_state(paths)
    rec = st.get(ref)
    with st.lock(rec.id):
        try:
            rec = st.get(rec.id)
        except NotFoundError:
            return None
        rec = _exited_update(st, paths, rec) if _needs_refresh(rec) else rec
        if rec.state in ACTIVE:
            return rec
        cleanup_locked(st, paths, rec)
    with contextlib.suppress(NotFoundError):
        return st.get(rec.id)
    return None


def cleanup_main(argv: list[str]) -> int:
    """Entry point of the monitor's cleanup command: ``ROOT RUNROOT ID`` (no click: it runs per exit)."""
    root, runroot, cid = argv
    paths = Paths(root=Path(root), runroot=Path(runroot))
    try:
        rec = open_state(paths).get(cid)
        if rec.monitor_pid and rec.monitor_pid != os.getppid():
            return 0  # a monitor of an earlier start: the container has been started again since
        cleanup(paths, cid)
    except NotFoundError:
        return 0
    except PodpyError as e:
        print(f"cleanup {cid[:12]}: {e.message}", file=sys.stderr)
        return 125
    return 0


def _rmtree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def remove_locked(st: State, paths: Paths, rec: ContainerRecord, *, force: bool = False,
                  timeout: float | None = None) -> None:  # fmt: skip
    if rec.state != "configured":
        rec = refresh_locked(st, paths, rec)
    deps = dependents(st, paths, rec.id)
    if deps:
        raise ConflictError(f"container {rec.id} has dependent containers which must be removed before it: "
                            f"{','.join(d.id for d in deps)}: container already exists")  # fmt: skip
    if rec.state in ACTIVE:
        if not force:
            raise StateImproper(
                f"cannot remove container {rec.id} as it is running - running or paused containers "
                "cannot be removed without force: container state improper",
                2,
            )
        rec = stop_locked(st, paths, rec, timeout)
    if container_dir(paths, rec.id).exists():
        _join_userns(paths)  # the writable layer holds files of subordinate ids
    runtime_delete(paths, rec)
    _network_teardown(paths, rec.id)
    unmount(paths, rec.id, force=True)
    _rmtree(container_dir(paths, rec.id))
    _rmtree(state_dir(paths, rec.id))
    with contextlib.suppress(NotFoundError):
        st.remove(rec.id)


def remove(paths: Paths, ref: str, *, force: bool = False, timeout: float | None = None) -> str:
    """``podpy rm``: the full id of what was removed."""
    st = open_state(paths)
    rec = st.get(ref)
    with st.lock(rec.id):
        try:
            rec = st.get(rec.id)
        except NotFoundError:
            raise NotFoundError(f'no container with name or ID "{ref}" found: no such container', 1) from None
        if rec.config.get("infra"):  # a pod's infra goes with its pod only (``pod rm``)
            from podpy.engine.pods import infra_removal_error

            raise infra_removal_error(rec)
        remove_locked(st, paths, rec, force=force, timeout=timeout)
    return rec.id


# --- inspect --------------------------------------------------------------------------------------


def _userns_inspect(cdir: Path, userns: str) -> dict[str, Any]:
    """HostConfig's UsernsMode/IDMappings as Podman 4.3 shows them: a container with its own user
    namespace (keep-id, nomap) is "private" with "C:H:S" maps; podpy's own namespace is "" and null."""
    from podpy.store.rootfs import recorded_idmap

    m = recorded_idmap(cdir) if userns not in ("", "host") else None
    if m is None:
        return {"UsernsMode": "", "IDMappings": None}
    return {"UsernsMode": "private", "IDMappings": {"UidMap": [f"{c}:{h}:{n}" for c, h, n in m.uids],
                                                    "GidMap": [f"{c}:{h}:{n}" for c, h, n in m.gids]}}  # fmt: skip


def inspect(paths: Paths, rec: ContainerRecord) -> dict[str, Any]:
    """Podman's ``inspect`` shape for a container (the fields podpy knows; the rest empty)."""
    from podpy.engine import health, network
    from podpy.network.report import inspect_ports

    cfg = rec.config
    spec = cfg.get("spec") or {}
    args = list(cfg.get("args") or [])
    cdir = container_dir(paths, rec.id)
    userdata = cdir / "userdata"
    running = rec.state in ACTIVE
    from podpy.engine.volume_mounts import bind_spec, inspect_mounts

    mounts = inspect_mounts(paths, spec, str(userdata))  # user binds and volumes (Type "volume", Name)
    return {
        "Id": rec.id,
        "Created": rfc3339_utc(rec.created),
        "Path": args[0] if args else "",
        "Args": args[1:],
        "State": {
            "OciVersion": "1.0.2",
            "Status": rec.state,
            "Running": rec.state == "running",
            "Paused": rec.state == "paused",
            "Restarting": False,
            "OOMKilled": False,
            "Dead": False,
            "Pid": rec.pid if running else 0,
            "ConmonPid": rec.monitor_pid if running else 0,
            "ExitCode": int(rec.exit_code or 0),
            "Error": "",
            "StartedAt": rfc3339_utc(rec.started_at),
            "FinishedAt": rfc3339_utc(rec.finished_at),
            "Health": health.inspect_health(rec),
        },
        "Image": rec.image_id,
        "ImageName": rec.image_name,
        "Rootfs": "",
        "Pod": spec.get("pod") or "",
        "ResolvConfPath": str(userdata / "resolv.conf"),
        "HostnamePath": str(userdata / "hostname"),
        "HostsPath": str(userdata / "hosts"),
        "StaticDir": str(userdata),
        "OCIConfigPath": str(userdata / "config.json"),
        "OCIRuntime": cfg.get("runtime") or "podpy",
        "ConmonPidFile": spec.get("conmon_pidfile") or str(state_dir(paths, rec.id) / "monitor.pid"),
        "PidFile": spec.get("pidfile") or str(state_dir(paths, rec.id) / "pidfile"),
        "Name": rec.name,
        "RestartCount": int(cfg.get("restart_count") or 0),
        "Driver": recorded_driver(cdir) or "",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": [],
        "GraphDriver": {
            "Name": recorded_driver(cdir) or "",
            "Data": {
                "UpperDir": str(cdir / "diff"),
                "WorkDir": str(cdir / "work"),
                "MergedDir": str(cdir / "merged"),
            },
        },  # fmt: skip
        "Mounts": mounts,
        "Dependencies": list(cfg.get("requires") or []),
        "NetworkSettings": network.inspect_settings(paths, rec),
        "Namespace": "",
        "IsInfra": bool(cfg.get("infra")),
        "IsService": False,
        "Config": {
            "Hostname": cfg.get("hostname") or rec.id[:12],
            "Domainname": "",
            "User": spec.get("user") or "",
            "AttachStdin": False,
            "AttachStdout": False,
            "AttachStderr": False,
            "Tty": bool(cfg.get("terminal")),
            "OpenStdin": bool(cfg.get("interactive")),
            "StdinOnce": False,
            "Env": list(cfg.get("env") or []),
            "Cmd": cfg.get("cmd"),
            "Image": rec.image_name,
            "Volumes": None,
            "WorkingDir": cfg.get("cwd") or "/",
            "Entrypoint": " ".join(cfg.get("entrypoint") or []),
            "OnBuild": None,
            "Labels": rec.labels or None,
            "Annotations": dict(spec.get("annotations") or {}),
            "StopSignal": int(cfg.get("stop_signal") or 15),  # SIGTERM
            **health.inspect_config_extras(rec),  # Healthcheck, HealthcheckOnFailureAction
            "CreateCommand": list(cfg.get("create_command") or []),
            "StopTimeout": stop_timeout(rec),
            **health.inspect_sdnotify(rec),
        },
        "HostConfig": {
            "Binds": [bind_spec(m) for m in mounts],
            "ContainerIDFile": cfg.get("cidfile") or "",
            "LogConfig": health.log_config(rec, log_path(paths, rec)),
            "NetworkMode": spec.get("network") or "private",
            "PortBindings": inspect_ports(cfg.get("ports")),
            **_userns_inspect(cdir, str(spec.get("userns") or "")),
            "RestartPolicy": health.restart_policy(rec),
            "AutoRemove": bool(cfg.get("remove")),
            "CapAdd": list(spec.get("cap_add") or []),
            "CapDrop": list(spec.get("cap_drop") or []),
            "GroupAdd": list(spec.get("group_add") or []),
            "Privileged": bool(spec.get("privileged")),
            "ReadonlyRootfs": bool(spec.get("read_only")),
            "SecurityOpt": [],
            "Tmpfs": {},
            "ShmSize": int(spec.get("shm_size") or 65536000),
            "Init": bool(spec.get("init_path")),
        },
    }
