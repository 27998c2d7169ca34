"""Container lifecycle commands: create, start, stop, kill, rm, wait, logs, inspect, exists,
cleanup, prune, and the ``podpy container`` group (which also has ``run`` with ``-d``).

``create`` and ``container run`` take exactly ``podpy run``'s flags: they reuse the parameters of
``podpy.cli.container.run_cmd`` and call it with ``engine.run.run_overrides`` set (create only / detach).
Output and exit codes follow Podman 4.3: commands acting on several containers print each one as
typed (``rm`` the full ID) and report every failure, exiting with the last one's code.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from podpy.cli.main import paths_of as _paths
from podpy.cli.ps import ps_cmd
from podpy.util.errors import NotFoundError, PodpyError, UsageError

CTX = {"help_option_names": ["-h", "--help"]}
# options several commands share, declared once
_time_opt = click.option("-t", "--time", "timeout", type=int, default=None,
                         help="Seconds to wait for stop before killing the container")  # fmt: skip
_cidfile_opt = click.option("--cidfile", multiple=True, help="Read the container ID from the file")
_latest_opt = click.option(
    "-l", "--latest", is_flag=True, help="Act on the latest container podman is aware of"
)


def _each(refs: list[str], action: Callable[[str], str | None], *, ignore_missing: bool = False,
          missing_code: int | None = None) -> None:  # fmt: skip
    """Run ``action`` on every ref; print what it returns; errors go to stderr, the last code is the exit code."""
    code = 0
    for ref in refs:
        try:
            out = action(ref)
        except NotFoundError as e:
            if ignore_missing:
                continue
            click.echo(f"Error: {e.message}", err=True)
            code = missing_code or e.exit_code
            continue
        except PodpyError as e:
            click.echo(f"Error: {e.message}", err=True)
            code = e.exit_code
            continue
        if out is not None:
            click.echo(out)
    if code:
        sys.exit(code)


def _targets(ctx: click.Context, refs: tuple[str, ...], all_: bool, latest: bool = False,
             states: tuple[str, ...] | None = None) -> list[str]:  # fmt: skip
    from podpy.engine import containers

    if (all_ or latest) and refs:
        raise UsageError("--all, --latest and containers cannot be used together")
    if not (all_ or latest or refs):
        raise UsageError("you must provide at least one container name or id")
    if refs:
        return list(refs)
    paths = _paths(ctx)
    recs = containers.list_containers(containers.open_state(paths), paths)
    if states is not None:
        recs = [r for r in recs if r.state in states]
    if latest:
        recs = recs[:1]
    return [r.id for r in recs]


def _read_cidfiles(files: tuple[str, ...]) -> list[str]:
    out = []
    for f in files:
        try:
            with open(f, encoding="utf-8") as fh:
                out.append(fh.read().strip())
        except OSError as e:
            raise UsageError(f"reading CIDFile: open {f}: {(e.strerror or str(e)).lower()}") from None
    return out


def _with_cidfiles(files: tuple[str, ...], refs: tuple[str, ...]) -> tuple[str, ...]:
    return (*_read_cidfiles(files), *refs)


def _run_params(drop: tuple[str, ...] = ()) -> list[click.Parameter]:
    from podpy.cli.container import run_cmd

    return [p for p in run_cmd.params if p.name not in drop]


def _invoke_run(ctx: click.Context, kw: dict[str, Any], overrides: dict[str, Any]) -> None:
    from podpy.cli.container import run_cmd
    from podpy.engine import run as engine_run

    token = engine_run.run_overrides.set(overrides)
    try:
        ctx.invoke(run_cmd.callback, **kw)  # type: ignore[arg-type]
    finally:
        engine_run.run_overrides.reset(token)


# --- create, run -d -------------------------------------------------------------------------------


def _create(ctx: click.Context, **kw: Any) -> None:
    """Create but do not start a container."""
    kw.setdefault("detach", False)
    kw.setdefault("sig_proxy", True)
    _invoke_run(ctx, kw, {"create_only": True, "on_id": click.echo})


def _container_run(ctx: click.Context, **kw: Any) -> None:
    """Run a command in a new container."""
    detach = kw.pop("detach")
    kw["detach"] = False
    _invoke_run(ctx, kw, {"detach": True, "on_id": click.echo} if detach else {})


def _run_like(name: str, callback: Callable[..., None], drop: tuple[str, ...], help_: str) -> click.Command:
    """A command with ``run``'s parameters (whatever flags run_cmd has, these have)."""
    return click.Command(name, callback=click.pass_context(callback), help=help_, params=_run_params(drop),
                         context_settings={"help_option_names": ["--help"], "allow_interspersed_args": False})  # fmt: skip


create_cmd = _run_like("create", _create, ("detach", "sig_proxy"), "Create but do not start a container")
container_run_cmd = _run_like("run", _container_run, (), "Run a command in a new container")


# --- start ----------------------------------------------------------------------------------------


@click.command("start", context_settings=CTX)
@click.option("-a", "--attach", is_flag=True, help="Attach container's STDOUT and STDERR")
@click.option("--detach-keys", default=None, help="Select the key sequence for detaching a container")
@click.option("-i", "--interactive", is_flag=True, help="Keep STDIN open even if not attached")
@click.option(
    "--all", "all_", is_flag=True, help="Start all containers regardless of their state or configuration"
)
@click.option("--sig-proxy", type=click.BOOL, default=None, help="Proxy received signals to the process")
@click.argument("containers", nargs=-1)
@click.pass_context
def start_cmd(ctx: click.Context, attach: bool, detach_keys: str | None, interactive: bool, all_: bool,
              sig_proxy: bool | None, containers: tuple[str, ...]) -> None:  # fmt: skip
    """Start one or more containers.

    As Podman: ``-a`` relays the container's output (and our stdin when it was created with ``-i``)
    and exits with its code; ``-i`` alone only starts it.
    """
    from podpy.engine import containers as eng

    if sig_proxy is not None and not attach:
        raise UsageError("you cannot use sig-proxy without --attach: invalid argument")
    paths = _paths(ctx)
    refs = _targets(ctx, containers, all_, states=("created", "exited", "stopped"))
    if attach:
        from podpy.engine import attach as att

        if len(refs) != 1:
            raise UsageError("you cannot start and attach multiple containers at once")
        att.detach_bytes(detach_keys)  # a bad spec fails before the start
        _how, code = att.start_attached(paths, refs[0], detach_keys=detach_keys,
                                        sig_proxy=True if sig_proxy is None else sig_proxy)  # fmt: skip
        sys.exit(code)
    _each(refs, lambda r: (eng.start(paths, r), r)[1])


# --- stop, kill -----------------------------------------------------------------------------------


@click.command("stop", context_settings=CTX)
@click.option("-a", "--all", "all_", is_flag=True, help="Stop all running containers")
@_cidfile_opt
@click.option("-f", "--filter", "filters", multiple=True, help="Filter output based on conditions given")
@click.option("-i", "--ignore", is_flag=True, help="Ignore errors when a specified container is missing")
@_latest_opt
@_time_opt
@click.argument("containers", nargs=-1)
@click.pass_context
def stop_cmd(ctx: click.Context, all_: bool, cidfile: tuple[str, ...], filters: tuple[str, ...], ignore: bool,
             latest: bool, timeout: int | None, containers: tuple[str, ...]) -> None:  # fmt: skip
    """Stop one or more containers."""
    from podpy.engine import containers as eng

    paths = _paths(ctx)
    if filters:  # as Podman: the containers ps --filter would list, by full ID
        from podpy.cli.psview import match, parse_filters

        if containers or cidfile:
            raise UsageError("--filter takes no arguments")
        flt = parse_filters(filters)
        recs = eng.list_containers(eng.open_state(paths), paths)
        by_ref = {k: r for r in recs for k in (r.id, r.name)}
        refs = [r.id for r in recs if match(flt, r, by_ref)]
        _each(refs, lambda r: (eng.stop(paths, r, timeout), r)[1], ignore_missing=ignore)
        return
    refs = _targets(ctx, _with_cidfiles(cidfile, containers), all_, latest, states=("running", "paused"))
    _each(refs, lambda r: (eng.stop(paths, r, timeout), r)[1], ignore_missing=ignore)


@click.command("kill", context_settings=CTX)
@click.option("-a", "--all", "all_", is_flag=True, help="Signal all running containers")
@_cidfile_opt
@_latest_opt
@click.option("-s", "--signal", "sig", default="KILL", help="Signal to send to the container")
@click.argument("containers", nargs=-1)
@click.pass_context
def kill_cmd(ctx: click.Context, all_: bool, cidfile: tuple[str, ...], latest: bool, sig: str,
             containers: tuple[str, ...]) -> None:  # fmt: skip
    """Kill one or more running containers with a specific signal."""
    from podpy.engine import containers as eng

    signum = eng.parse_signal(sig)
    paths = _paths(ctx)
    refs = _targets(ctx, _with_cidfiles(cidfile, containers), all_, latest, states=("running", "paused"))
    _each(refs, lambda r: (eng.kill(paths, r, signum), r)[1])


@click.command("restart", context_settings=CTX)
@click.option("-a", "--all", "all_", is_flag=True, help="Restart all non-running containers")
@_cidfile_opt
@_latest_opt
@click.option("--running", is_flag=True, help="Restart only running containers")
@_time_opt
@click.argument("containers", nargs=-1)
@click.pass_context
def restart_cmd(ctx: click.Context, all_: bool, cidfile: tuple[str, ...], latest: bool, running: bool,
                timeout: int | None, containers: tuple[str, ...]) -> None:  # fmt: skip
    """Restart one or more containers."""
    from podpy.engine import containers as eng

    paths = _paths(ctx)
    states = ("running", "paused") if running else None
    refs = _targets(ctx, _with_cidfiles(cidfile, containers), all_ or running, latest, states=states)

    def one(ref: str) -> str:
        eng.open_state(paths).container_event(ref, "restart")  # first, as Podman 4.3 logs it
        eng.stop(paths, ref, timeout)
        eng.start(paths, ref)
        return ref

    _each(refs, one)


# --- rm, prune ------------------------------------------------------------------------------------


@click.command("rm", context_settings=CTX)
@click.option("-a", "--all", "all_", is_flag=True, help="Remove all containers")
@_cidfile_opt
@click.option(
    "--depend", is_flag=True, help="Remove container and all containers that depend on the selected container"
)
@click.option("-f", "--force", is_flag=True, help="Force removal of a running or unusable container")
@click.option("-i", "--ignore", is_flag=True, help="Ignore errors when a specified container is missing")
@_latest_opt
@_time_opt
@click.option(
    "-v",
    "--volumes",
    is_flag=True,
    help="Remove anonymous volumes associated with the container",
)
@click.argument("containers", nargs=-1)
@click.pass_context
def rm_cmd(ctx: click.Context, all_: bool, cidfile: tuple[str, ...], depend: bool, force: bool, ignore: bool,
           latest: bool, timeout: int | None, volumes: bool, containers: tuple[str, ...]) -> None:  # fmt: skip
    """Remove one or more containers."""
    from podpy.engine import containers as eng

    paths = _paths(ctx)
    refs = _targets(ctx, _with_cidfiles(cidfile, containers), all_, latest)
    if depend:  # the container and every container requiring it (--requires), dependents first, by full ID
        refs = list(dict.fromkeys(cid for r in refs for cid in _removal_order(paths, r)))
    from podpy.engine.volumes import remove_container  # containers.remove, then (-v) its anonymous volumes

    rm = remove_container if volumes else eng.remove
    if all_:  # as Podman: ``rm -a`` removes pods' infra containers with their pods (engine.pods)
        from podpy.engine.pods import with_pods

        rm = with_pods(rm)
    _each(refs, lambda r: (rm(paths, r, force=force, timeout=timeout), r)[0 if depend else 1],
          ignore_missing=ignore, missing_code=1)  # fmt: skip


def _removal_order(paths: Any, ref: str) -> list[str]:
    from podpy.engine import containers as eng

    try:
        return eng.removal_order(paths, ref)
    except NotFoundError:
        return [ref]  # reported (or ignored with -i) by the removal itself


@click.command("prune", context_settings=CTX)
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation.  The default is false")
@click.option("--filter", "filters", multiple=True, help="Provide filter values (e.g. 'label=<key>=<value>')")
@click.pass_context
def prune_cmd(ctx: click.Context, force: bool, filters: tuple[str, ...]) -> None:
    """Remove all non running containers."""
    from podpy.cli.ps import match, parse_filters
    from podpy.engine import containers as eng

    flt = parse_filters(filters)
    if not force:
        from podpy.cli.output import confirm

        if not confirm("WARNING! This will remove all non running containers.\n"):
            return
    paths = _paths(ctx)
    recs = [r for r in eng.list_containers(eng.open_state(paths), paths)  # not a pod's infra: it goes with its pod
            if r.state in ("created", "exited", "stopped", "configured") and match(flt, r, {})
            and not r.config.get("infra")]  # fmt: skip
    _each([r.id for r in recs], lambda r: eng.remove(paths, r), ignore_missing=True)


# --- wait, logs -----------------------------------------------------------------------------------


@click.command("wait", context_settings=CTX)
@click.option("--condition", multiple=True, help="Condition to wait on")
@click.option("-i", "--interval", default="250ms", help="Time Interval to wait before polling for completion")
@_latest_opt
@click.argument("containers", nargs=-1)
@click.pass_context
def wait_cmd(ctx: click.Context, condition: tuple[str, ...], interval: str, latest: bool,
             containers: tuple[str, ...]) -> None:  # fmt: skip
    """Block on one or more containers.

    Prints, per container, its exit code (``exited``/``stopped``, the default) or -1 (a state or health
    condition), as Podman. Every container is looked up before any wait: an unknown one fails at once.
    """
    from podpy.engine import containers as eng
    from podpy.spec.container import parse_go_duration

    conds = eng.check_conditions(c for item in condition for c in item.split(",") if c)
    poll = int(interval) / 1000 if interval.isdigit() else parse_go_duration(interval) / 1e9  # digits: ms
    paths = _paths(ctx)
    refs = _targets(ctx, containers, False, latest)
    st = eng.open_state(paths)
    ids = [st.get(r).id for r in refs]
    _each(ids, lambda r: str(eng.wait(paths, r, conds, max(poll, 0.01))))


def _stream_logs(paths: Any, rec: Any, *, follow: bool = False, tail: int = -1, timestamps: bool = False,
                 since_ns: int | None = None, until_ns: int | None = None, prefix: str = "") -> None:  # fmt: skip
    from podpy.engine import containers as eng
    from podpy.monitor import logread

    path = eng.log_path(paths, rec)
    outs = {"stdout": sys.stdout.buffer, "stderr": sys.stderr.buffer}

    def emit(ts: str, stream: str, text: bytes) -> None:
        if since_ns is not None or until_ns is not None:
            t = _parse_k8s_ts(ts)
            if (since_ns is not None and t < since_ns) or (until_ns is not None and t > until_ns):
                return
        out = outs.get(stream, sys.stdout.buffer)
        out.write(prefix.encode() + (ts.encode() + b" " if timestamps else b"") + text)
        out.flush()

    try:
        msgs = logread.read_messages(path)
    except FileNotFoundError:
        msgs = []
    if tail >= 0:
        msgs = msgs[len(msgs) - tail :] if tail else []
    for ts, stream, text in msgs:
        emit(ts, stream, text)
    if not follow or rec.state not in eng.ACTIVE:
        return
    st = eng.open_state(paths)
    skip = sum(1 for _ in _raw_lines(path))
    pending: dict[str, tuple[str, bytes]] = {}

    def done() -> bool:
        try:
            return eng.refresh(st, paths, st.get(rec.id)).state not in eng.ACTIVE
        except NotFoundError:
            return True

    for n, line in enumerate(logread.follow(path, done)):
        if n < skip:
            continue
        ts, stream, partial, text = logread.parse_line(line)
        first, acc = pending.pop(stream, (ts, b""))
        if partial:
            pending[stream] = (first, acc + text)
        else:
            emit(first, stream, acc + text + b"\n")


def _raw_lines(path: str) -> Any:
    try:
        with open(path, "rb") as f:
            yield from f
    except FileNotFoundError:
        return


def _parse_k8s_ts(ts: str) -> int:
    import datetime as _dt

    base, _, rest = ts.partition(".")
    frac, off = rest[:9], rest[9:]
    t = _dt.datetime.fromisoformat(base + off)
    return int(t.timestamp()) * 1_000_000_000 + int(frac or 0)


def parse_time_ns(value: str, flag: str) -> int:
    """``--since``/``--until``: RFC 3339 times, Unix seconds, or Go durations before now (``10m``)."""
    import datetime as _dt
    import re
    import time

    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)", value)
    if m:
        mult = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}[m.group(2)]
        return int((time.time() - float(m.group(1)) * mult) * 1e9)
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return int(float(value) * 1e9)
    try:
        t = _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"invalid {flag} {value!r}: use an RFC 3339 time, Unix seconds or a duration like 10m"
        ) from None
    if t.tzinfo is None:
        t = t.astimezone()
    return int(t.timestamp() * 1e9)


@click.command("logs", context_settings=CTX)
@click.option("-f", "--follow", is_flag=True, help="Follow log output.  The default is false")
@_latest_opt
@click.option("-n", "--names", is_flag=True, help="Output the container name in the log")
@click.option("--since", default=None, help="Show logs since TIMESTAMP")
@click.option(
    "--tail", type=int, default=-1, help="Output the specified number of LINES at the end of the logs."
)
@click.option("-t", "--timestamps", is_flag=True, help="Output the timestamps in the log")
@click.option("--until", default=None, help="Show logs until TIMESTAMP")
@click.argument("containers", nargs=-1)
@click.pass_context
def logs_cmd(ctx: click.Context, follow: bool, latest: bool, names: bool, since: str | None, tail: int,
             timestamps: bool, until: str | None, containers: tuple[str, ...]) -> None:  # fmt: skip
    """Fetch the logs of one or more containers."""
    from podpy.engine import containers as eng

    paths = _paths(ctx)
    refs = _targets(ctx, containers, False, latest)
    since_ns = parse_time_ns(since, "--since") if since else None
    until_ns = parse_time_ns(until, "--until") if until else None
    st = eng.open_state(paths)
    recs = [eng.get(st, paths, r) for r in refs]
    for rec in recs:
        driver = rec.config.get("log_driver", "k8s-file")
        if driver not in ("k8s-file", "json-file"):
            raise PodpyError(
                f"this container is using the '{driver}' log driver, cannot read logs: "
                "this container is not logging output"
            )
    for rec in recs:
        prefix = f"{rec.id[:12]} " if names or len(recs) > 1 else ""
        _stream_logs(paths, rec, follow=follow, tail=tail, timestamps=timestamps, since_ns=since_ns,
                     until_ns=until_ns, prefix=prefix)  # fmt: skip


# --- inspect, exists, cleanup ---------------------------------------------------------------------


def inspect_containers(paths: Any, refs: list[str]) -> tuple[list[dict[str, Any]], list[str]]:
    """Podman's inspect documents for ``refs`` and the refs that are no container (for ``podpy inspect``)."""
    from podpy.engine import containers as eng

    st = eng.open_state(paths)
    docs, missing = [], []
    for ref in refs:
        try:
            docs.append(eng.inspect(paths, eng.get(st, paths, ref)))
        except NotFoundError:
            missing.append(ref)
    return docs, missing


@click.command("inspect", context_settings=CTX)
@click.option("-f", "--format", "fmt", default=None, help="Format the output to a Go template or json")
@_latest_opt
@click.option("-s", "--size", is_flag=True, help="Display total file size")
@click.argument("containers", nargs=-1)
@click.pass_context
def inspect_cmd(
    ctx: click.Context, fmt: str | None, latest: bool, size: bool, containers: tuple[str, ...]
) -> None:
    """Display the configuration of a container."""
    from podpy.cli.output import print_json

    if size:
        raise UsageError("--size is not supported yet by podpy container inspect")
    docs, missing = inspect_containers(_paths(ctx), _targets(ctx, containers, False, latest))
    for ref in missing:
        click.echo(f"Error: no such container {ref}", err=True)
    if fmt and fmt not in ("json", "{{json .}}"):
        from podpy.cli.template import render_one

        for d in docs:
            sys.stdout.write(render_one(fmt, d, name="inspect"))
    else:
        print_json(docs)
    if missing:
        sys.exit(125)


@click.command("exists", context_settings=CTX)
@click.option(
    "--external", is_flag=True, help="Check external storage containers as well as Podman containers"
)
@click.argument("container")
@click.pass_context
def exists_cmd(ctx: click.Context, external: bool, container: str) -> None:
    """Check if a container exists in local storage (exit 0: yes, 1: no)."""
    from podpy.engine import containers as eng

    if external:
        raise UsageError("--external is not supported: podpy has no external (Buildah) containers")
    sys.exit(0 if eng.open_state(_paths(ctx)).exists(container) else 1)


@click.command("cleanup", context_settings=CTX)
@click.option("-a", "--all", "all_", is_flag=True, help="Cleans up all containers")
@_latest_opt
@click.option("--rm", "remove", is_flag=True, help="After cleanup, remove the container entirely")
@click.argument("containers", nargs=-1)
@click.pass_context
def cleanup_cmd(
    ctx: click.Context, all_: bool, latest: bool, remove: bool, containers: tuple[str, ...]
) -> None:
    """Clean up the network and mountpoints of one or more containers."""
    from podpy.engine import containers as eng

    paths = _paths(ctx)
    refs = _targets(ctx, containers, all_, latest, states=("created", "exited", "stopped"))

    def one(ref: str) -> str:
        rec = eng.cleanup(paths, ref)
        if remove and rec is not None and rec.state not in eng.ACTIVE:
            eng.remove(paths, rec.id)
        return ref

    _each(refs, one)


# --- the container group --------------------------------------------------------------------------


@click.group("container", context_settings=CTX)
def container_group() -> None:
    """Manage containers."""


def _container_commands() -> tuple[tuple[str, click.Command], ...]:
    from podpy.cli.attach import attach_cmd
    from podpy.cli.ctrfs import commit_cmd, cp_cmd, diff_cmd, export_cmd
    from podpy.cli.ctrinfo import pause_cmd, port_cmd, rename_cmd, stats_cmd, top_cmd, unpause_cmd
    from podpy.cli.exec import exec_cmd
    from podpy.cli.mount import mount_cmd, unmount_cmd

    return (("create", create_cmd), ("run", container_run_cmd), ("start", start_cmd), ("stop", stop_cmd),
            ("kill", kill_cmd), ("restart", restart_cmd), ("rm", rm_cmd), ("prune", prune_cmd), ("wait", wait_cmd),
            ("logs", logs_cmd), ("inspect", inspect_cmd), ("exists", exists_cmd), ("cleanup", cleanup_cmd),
            ("ps", ps_cmd), ("ls", ps_cmd), ("list", ps_cmd), ("attach", attach_cmd), ("exec", exec_cmd),
            ("cp", cp_cmd), ("diff", diff_cmd), ("export", export_cmd), ("commit", commit_cmd),
            ("rename", rename_cmd), ("top", top_cmd), ("port", port_cmd), ("stats", stats_cmd),
            ("pause", pause_cmd), ("unpause", unpause_cmd), ("mount", mount_cmd), ("unmount", unmount_cmd),
            ("umount", unmount_cmd))  # fmt: skip


for _name, _cmd in _container_commands():
    container_group.add_command(_cmd, _name)
