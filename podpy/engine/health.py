"""Health checks, restart policies and sd_notify: the engine side of the monitor's supervision (issue 4).

The monitor (``podpy/monitor/main.py``) only keeps time and runs commands, so it stays small:
- every health-check ``Interval`` it runs ``health_argv`` (``health_main``: one check, exactly what
  ``podpy healthcheck run`` does, including ``--health-on-failure``);
- when it restarted the container by its ``--restart`` policy it runs ``restarted_argv`` with the new
  pid, restart count and start time (``restarted_main``: the state DB learns them).
A check's results are Podman's JSON ``{"Status", "FailingStreak", "Log": [...]}`` in
``userdata/healthcheck.log``; ``ps`` and ``inspect`` read it. ``podpy stop``/``kill`` leave
``STATE_DIR/stopped-by-user``, which tells the monitor not to restart (Podman's ``StoppedByUser``).
Nothing heavy is imported at module level: ``ps`` imports this for the health column.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from podpy.util.errors import ConflictError, NotFoundError, PodpyError, UsageError
from podpy.util.gotime import rfc3339_nano

TYPE_CHECKING = False  # not typing's: importing typing costs every command start-up time
if TYPE_CHECKING:
    from typing import Any

STARTING, HEALTHY, UNHEALTHY = "starting", "healthy", "unhealthy"
MAX_LOG_ENTRIES = 5  # Podman 4.3's MaxHealthCheckNumberLogs
MAX_OUTPUT = 500  # Podman 4.3's MaxHealthCheckLogLength
STOPPED_MARKER = "stopped-by-user"
NOTIFY_IN_CONTAINER = "/run/notify/notify.sock"
DEFAULT_INTERVAL_NS = 30 * 10**9
DEFAULT_TIMEOUT_NS = 30 * 10**9
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_BOOT = (
    "import sys;sys.path.insert(0,sys.argv.pop(1));"
    "from podpy.engine import health;sys.exit(health.{}(sys.argv[1:]))"
)


# --- run/create flags ------------------------------------------------------------------------------


def cli_monitor_options(kw: dict[str, Any], mounts: list[Any], env: dict[str, str]) -> dict[str, Any]:
    """ContainerSpec fields from ``run``'s --log-*, --restart, --health-*, --sdnotify (Podman's checks).

    ``--sdnotify=container`` binds ``$NOTIFY_SOCKET`` into the container (appended to ``mounts``,
    ``env``) so the container itself says READY=1, as Podman arranges it."""
    from podpy.spec import container as sc

    logopts = sc.parse_log_opts(kw.get("log_opt") or ())
    driver = logopts.get("driver") or sc.parse_log_driver(kw.get("log_driver") or "k8s-file")
    policy, retries = sc.parse_restart(kw["restart"]) if kw.get("restart") else ("", 0)
    hc: dict[str, Any] | None = None
    if kw.get("no_healthcheck"):
        if kw.get("health_cmd"):
            raise UsageError("cannot specify both --no-healthcheck and --health-cmd")
        hc = {"Test": ["NONE"]}
    elif kw.get("health_cmd"):
        hc = sc.make_healthcheck(kw["health_cmd"], kw.get("health_interval") or "30s",
                                 int(kw.get("health_retries", 3)), kw.get("health_timeout") or "30s",
                                 kw.get("health_start_period") or "0s")  # fmt: skip
    on_failure = kw.get("health_on_failure") or "none"
    if (
        on_failure in sc.HEALTH_ON_FAILURE
        and on_failure != "none"
        and hc is not None
        and not sc.has_healthcheck(hc)
    ):
        raise UsageError(f"cannot set on-failure action to {on_failure} without a health check")
    sdnotify = kw.get("sdnotify") or "container"
    sock = os.environ.get("NOTIFY_SOCKET", "")
    if sdnotify == "container" and sock:
        if sock.startswith("@"):
            raise UsageError(
                f"--sdnotify=container: cannot bind the abstract socket {sock} into the container"
            )
        mounts.append(sc.Mount("bind", NOTIFY_IN_CONTAINER, sock, ("bind", "rprivate")))
        env["NOTIFY_SOCKET"] = NOTIFY_IN_CONTAINER
    return {
        "log_driver": driver,
        "log_max_size": int(logopts.get("max_size") or 0),
        "log_path": logopts.get("path"),
        "restart_policy": policy,
        "restart_max": retries,
        "healthcheck": hc,
        "health_on_failure": on_failure,
        "sdnotify": sdnotify,
    }


def needs_monitor(spec: Any, healthcheck: dict[str, Any] | None) -> bool:
    """A restart policy or a health check (``healthcheck``: the flags' or the image's, as ``create``
    resolved it): only a monitor carries them out, for a foreground run too."""
    from podpy.spec.container import has_healthcheck

    return spec.restart_policy not in ("", "no") or has_healthcheck(healthcheck)


def resolve_healthcheck(spec: Any, image_cfg: dict[str, Any]) -> dict[str, Any] | None:
    """The container's health check: the flags', else the image's (``HEALTHCHECK``); for ``create``."""
    from podpy.spec.container import has_healthcheck

    hc = spec.healthcheck
    if hc is None and isinstance(image_cfg.get("Healthcheck"), dict):
        hc = {k: v for k, v in image_cfg["Healthcheck"].items() if v not in (None, 0, [])}
    action = getattr(spec, "health_on_failure", "none")
    if action != "none" and not has_healthcheck(hc):
        raise UsageError(f"cannot set on-failure action to {action} without a health check")
    return hc


def interval_ns(hc: dict[str, Any]) -> int:
    v = hc.get("Interval")
    return DEFAULT_INTERVAL_NS if v is None else int(v)


# --- files -----------------------------------------------------------------------------------------


def health_log_path(rec: Any) -> str:
    return str(rec.config.get("health_log") or "")


def read_health(rec: Any) -> dict[str, Any] | None:
    path = health_log_path(rec)
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def _write_health(path: str, doc: dict[str, Any]) -> None:
    from podpy.util.fsutil import atomic_write

    atomic_write(path, json.dumps(doc), mode=0o600, fsync=False)


def health_status(rec: Any) -> str:
    """``starting``/``healthy``/``unhealthy`` of a container with a health check (the last one found,
    also once it exited: podman 4.3 shows ``Exited (0) 5 seconds ago (healthy)``), else ""."""
    if not rec.config.get("health_log"):
        return ""
    doc = read_health(rec)
    return str(doc.get("Status") or "") if doc else ""


def set_starting(rec: Any) -> None:
    """Podman sets ``starting`` on every start; the failing streak and the log stay."""
    path = health_log_path(rec)
    if not path or not os.path.isdir(os.path.dirname(path)):  # removed meanwhile: never recreate its dir
        return
    from podpy.util.lock import FileLock

    with FileLock(path + ".lock"):
        doc = read_health(rec) or {"Status": "", "FailingStreak": 0, "Log": None}
        doc["Status"] = STARTING
        _write_health(path, doc)


def stopped_marker(state_dir: str | os.PathLike[str]) -> str:
    return os.path.join(state_dir, STOPPED_MARKER)


def mark_stopped_by_user(state_dir: str | os.PathLike[str]) -> None:
    """``podpy stop``/``kill``: the monitor must not restart the container (Podman's StoppedByUser)."""
    if os.path.isdir(state_dir):
        with open(stopped_marker(state_dir), "w"):
            pass


# --- monitor wiring --------------------------------------------------------------------------------


def _boot(func: str, paths: Any, cid: str) -> list[str]:
    return [sys.executable, "-c", _BOOT.format(func), _ROOT, str(paths.root), str(paths.runroot), cid]


def monitor_fields(paths: Any, rec: Any) -> dict[str, Any]:
    """The MonitorConfig fields of the log size, the restart policy and the health-check timer."""
    from podpy.spec.container import has_healthcheck

    cfg = rec.config
    spec = cfg.get("spec") or {}
    policy = spec.get("restart_policy") or ""
    out: dict[str, Any] = {"log_max_size": int(spec.get("log_max_size") or 0)}
    if policy not in ("", "no"):
        out.update(restart_policy=policy, restart_max=int(spec.get("restart_max") or 0),
                   restart_count=int(cfg.get("restart_count") or 0),
                   restarted=_boot("restarted_main", paths, rec.id))  # fmt: skip
    hc = cfg.get("healthcheck")
    if has_healthcheck(hc) and interval_ns(hc) > 0:
        out.update(health_cmd=_boot("health_main", paths, rec.id), health_interval=interval_ns(hc) / 1e9)
    return out


def on_started(rec: Any, monitor_pid: int) -> None:
    """After a start: health status ``starting``; sd_notify as Podman does for ``--sdnotify``
    (``conmon``: MAINPID=monitor + READY=1; ``container``: MAINPID only, READY comes from inside)."""
    from podpy.spec.container import has_healthcheck

    if has_healthcheck(rec.config.get("healthcheck")):
        set_starting(rec)
    mode = (rec.config.get("spec") or {}).get("sdnotify") or "container"
    sock = os.environ.get("NOTIFY_SOCKET") or rec.config.get("notify_socket") or ""
    if mode == "ignore" or not sock or monitor_pid <= 0:
        return
    from podpy.monitor import notify

    msg = f"MAINPID={monitor_pid}" + ("\nREADY=1" if mode == "conmon" else "")
    try:
        notify.sd_notify(msg, sock)
    except OSError as e:
        import logging

        logging.getLogger(__name__).error("Notifying systemd of Conmon PID: %s", e)


def restarted_main(argv: list[str]) -> int:
    """The monitor restarted the container by its policy:
    ``ROOT RUNROOT ID PID COUNT STARTED_NS EXIT_CODE EXITED_NS`` (the last two: the run that ended).
    Events as Podman's: ``died`` (with its exit code), ``restart``, ``init``, ``start``."""
    from podpy.engine.state import State
    from podpy.util.paths import Paths

    root, runroot, cid, pid, count, started, code, exited = argv
    st = State(Paths(root=Path(root), runroot=Path(runroot)))
    try:
        rec = st.get(cid)
        st.update(cid, exit_code=int(code), finished_at=int(exited), event="died")
        rec = st.update(cid, pid=int(pid), started_at=int(started),
                        config={**rec.config, "restart_count": int(count)}, event=("restart", "init", "start"))  # fmt: skip
    except NotFoundError:
        return 0
    from podpy.spec.container import has_healthcheck

    if has_healthcheck(rec.config.get("healthcheck")):
        set_starting(rec)
    return 0


def health_main(argv: list[str]) -> int:
    """One scheduled check, run by the monitor: ``ROOT RUNROOT ID`` (errors go to monitor.log)."""
    from podpy.util.paths import Paths

    root, runroot, cid = argv
    try:
        run_check(Paths(root=Path(root), runroot=Path(runroot)), cid)
    except PodpyError as e:
        print(f"healthcheck {cid[:12]}: {e.message}", file=sys.stderr)
        return 1
    return 0


# --- one check -------------------------------------------------------------------------------------


def health_argv(test: list[str]) -> list[str]:
    """``Test`` -> the command to exec: ``CMD`` as is, ``CMD-SHELL`` through /bin/sh -c."""
    if test[0] == "CMD":
        return list(test[1:])
    if test[0] == "CMD-SHELL":
        return ["/bin/sh", "-c", " ".join(test[1:])]
    return list(test)


def _exec_capture(paths: Any, cid: str, argv: list[str], timeout: float) -> tuple[int, str, bool]:
    """Run ``argv`` in the container with output captured: (exit code, output, timed out).

    A forked child does the exec (the runtime streams to fds 1 and 2, here a pipe); at the timeout its
    process group is killed."""
    import select
    import signal

    r, w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 125
        try:
            os.setpgid(0, 0)
            os.close(r)
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.dup2(w, 1)
            os.dup2(w, 2)
            from podpy.engine import exec as exec_mod

            # undecorated: as Podman 4.3 a check logs no ``exec`` event, only ``exec_died`` after ``health_status``
            code = exec_mod.exec_in.__wrapped__(paths, cid, argv, env={})  # type: ignore[attr-defined]
        except PodpyError as e:
            os.write(2, e.message.encode() + b"\n")
            code = 1 if e.exit_code in (126, 127) else 125
        except BaseException:
            code = 125
        finally:
            os._exit(code)
    os.close(w)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    timed_out = False
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            ready, _, _ = select.select([r], [], [], left)
            if not ready:
                continue
            b = os.read(r, 65536)
            if not b:
                break
            if sum(map(len, chunks)) < 65536:
                chunks.append(b)
    finally:
        os.close(r)
    if timed_out:
        for target in (-pid, pid):
            try:
                os.kill(target, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    return code, b"".join(chunks).decode(errors="replace"), timed_out


def run_check(paths: Any, ref: str) -> tuple[bool, str]:
    """One health check (``podpy healthcheck run``): (passed, the container's health status now).

    Podman's rules: exit 0 is healthy and resets the failing streak; a failure counts (outside the
    start period) and ``Retries`` failures in a row make it unhealthy, which triggers
    ``--health-on-failure``. The last 5 results are kept, each output cut to 500 bytes."""
    from podpy.engine import containers
    from podpy.spec.container import has_healthcheck
    from podpy.util.lock import FileLock

    st = containers.open_state(paths)
    try:
        rec = containers.get(st, paths, ref)
    except NotFoundError as e:
        raise NotFoundError(f"unable to look up {ref} to perform a health check: {e.message}") from None
    if rec.state != "running":
        raise ConflictError(f"container {rec.id} is not running")
    hc = rec.config.get("healthcheck")
    if not has_healthcheck(hc):
        raise PodpyError(f"container {rec.id} has no defined healthcheck")
    timeout_ns = int(hc.get("Timeout") or DEFAULT_TIMEOUT_NS)
    start_ns = time.time_ns()
    code, output, timed_out = _exec_capture(paths, rec.id, health_argv(list(hc["Test"])), timeout_ns / 1e9)
    end_ns = time.time_ns()
    exec_code = code
    if code == 125 and containers.get(st, paths, rec.id).state != "running":
        raise ConflictError(f"container {rec.id} is not running")  # it stopped meanwhile: nothing to record
    error = None
    if timed_out:
        from podpy.engine.ctrinfo import go_duration

        code, output = -1, ""
        error = f"healthcheck command exceeded timeout of {go_duration(timeout_ns / 1e9)}"
    elif code not in (0, 125):
        code = 1
    period = int(hc.get("StartPeriod") or 0)
    in_start_period = period > 0 and start_ns < rec.started_at + period
    entry = {"Start": rfc3339_nano(start_ns), "End": rfc3339_nano(end_ns), "ExitCode": code,
             "Output": output.rstrip("\n")[:MAX_OUTPUT]}  # fmt: skip
    path = health_log_path(rec)
    if not os.path.isdir(os.path.dirname(path)):  # removed while the check ran
        raise NotFoundError(f'no container with name or ID "{ref}" found: no such container')
    with FileLock(path + ".lock"):
        doc = read_health(rec) or {"Status": "", "FailingStreak": 0, "Log": None}
        before = str(doc.get("Status") or "")
        if code == 0:
            doc["Status"], doc["FailingStreak"] = HEALTHY, 0
        else:
            doc["Status"] = doc.get("Status") or HEALTHY
            if not in_start_period:
                doc["FailingStreak"] = int(doc.get("FailingStreak") or 0) + 1
                if doc["FailingStreak"] >= int(hc.get("Retries") or 3):
                    doc["Status"] = UNHEALTHY
        doc["Log"] = [*(doc.get("Log") or []), entry][-MAX_LOG_ENTRIES:]
        _write_health(path, doc)
    status = str(doc["Status"])
    # as Podman 4.3: the event carries the status the check found (before this result counted)
    st.add_event("container", "health_status", rec.id, rec.name, {"health_status": before})
    if not timed_out:
        st.container_event(rec.id, "exec_died", {"containerExitCode": exec_code})
    if status == UNHEALTHY:
        _on_failure(paths, rec)
    if error is not None or code == 125:
        raise PodpyError(error or output.strip() or "the health check could not run")
    return code == 0, status


def _on_failure(paths: Any, rec: Any) -> None:
    """``--health-on-failure``: kill (SIGKILL), stop, or restart (stop + start) an unhealthy container."""
    import signal

    from podpy.engine import containers

    action = (rec.config.get("spec") or {}).get("health_on_failure") or "none"
    if action == "none":
        return
    if action == "kill":
        containers.kill(paths, rec.id, signal.SIGKILL)
        return
    st = containers.open_state(paths)
    with st.lock(rec.id):
        cur = containers.stop_locked(st, paths, st.get(rec.id))
        if action == "restart":
            containers.start_locked(st, paths, cur)


# --- inspect ---------------------------------------------------------------------------------------


def inspect_health(rec: Any) -> dict[str, Any]:
    doc = read_health(rec) if rec.config.get("healthcheck") else None
    if not doc:
        return {"Status": "", "FailingStreak": 0, "Log": None}
    return {"Status": doc.get("Status") or "", "FailingStreak": int(doc.get("FailingStreak") or 0),
            "Log": doc.get("Log")}  # fmt: skip


def inspect_healthcheck(rec: Any) -> dict[str, Any] | None:
    """``Config.Healthcheck`` in Podman's key order (StartPeriod only when set)."""
    hc = rec.config.get("healthcheck")
    if not hc:
        return None
    out: dict[str, Any] = {"Test": list(hc.get("Test") or [])}
    for k in ("StartPeriod", "Interval", "Timeout", "Retries"):
        if hc.get(k):
            out[k] = hc[k]
    return out


def restart_policy(rec: Any) -> dict[str, Any]:
    spec = rec.config.get("spec") or {}
    return {"Name": spec.get("restart_policy") or "", "MaximumRetryCount": int(spec.get("restart_max") or 0)}


def log_config(rec: Any, path: str) -> dict[str, Any]:
    """``HostConfig.LogConfig``: no path for ``none``/``passthrough``; ``Size`` as go-units prints it."""
    from podpy.spec.container import go_human_size

    spec = rec.config.get("spec") or {}
    driver = rec.config.get("log_driver") or "k8s-file"
    return {"Type": driver, "Config": None, "Path": path if driver in ("k8s-file", "json-file") else "",
            "Tag": "", "Size": go_human_size(int(spec.get("log_max_size") or 0))}  # fmt: skip


def create_info(spec: Any, image_cfg: dict[str, Any], bundle: Path) -> dict[str, Any]:
    """What ``create`` records for the monitor's features (``config`` of the state DB record)."""
    from podpy.spec.container import has_healthcheck

    hc = resolve_healthcheck(spec, image_cfg)
    return {
        "log_driver": spec.log_driver,
        "log_path": spec.log_path or "",
        "healthcheck": hc,
        "health_log": str(bundle / "healthcheck.log") if has_healthcheck(hc) else "",
        "notify_socket": os.environ.get("NOTIFY_SOCKET", ""),
        "restart_count": 0,
    }


def inspect_config_extras(rec: Any) -> dict[str, Any]:
    """``Config`` keys after ``StopSignal``: Healthcheck (when there is one), its on-failure action."""
    out: dict[str, Any] = {}
    hc = inspect_healthcheck(rec)
    if hc is not None:
        out["Healthcheck"] = hc
    out["HealthcheckOnFailureAction"] = (rec.config.get("spec") or {}).get("health_on_failure") or "none"
    return out


def inspect_sdnotify(rec: Any) -> dict[str, Any]:
    """``Config.sdNotifyMode``/``sdNotifySocket`` (Podman 4.3 spells them with a small s)."""
    spec = rec.config.get("spec") or {}
    out: dict[str, Any] = {"sdNotifyMode": spec.get("sdnotify") or "container"}
    if rec.config.get("notify_socket"):
        out["sdNotifySocket"] = rec.config["notify_socket"]
    return out
