"""``podpy generate systemd``: systemd units for a container or a pod; ``generate kube`` is
``podpy kube generate`` (podpy/cli/kube.py) under podman's older name.

The unit runs the podpy that generated it (this process's executable).
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import click

from podpy.cli.main import options_of as _opts
from podpy.util.errors import PodpyError, UsageError

CTX = {"help_option_names": ["-h", "--help"]}


@click.group("generate", context_settings=CTX)
def generate_group() -> None:
    """Generate structured data based on containers, volumes, and pods."""


def _add_kube_alias() -> None:
    """``generate kube``: ``kube generate`` under its older name (podpy.cli.kube, helper H-K)."""
    from podpy.cli.kube import generate_cmd

    generate_group.add_command(generate_cmd, "kube")


_add_kube_alias()


def run_takes_value() -> Any:
    """Which of ``run``'s options take a value (so a recorded create command splits as ``run`` parses it)."""
    from podpy.cli.container import run_cmd

    value_opts: set[str] = set()
    for p in run_cmd.params:
        if isinstance(p, click.Option) and not p.is_flag and not p.count:
            value_opts.update(p.opts)
            value_opts.update(p.secondary_opts)
    return value_opts.__contains__


def podpy_argv() -> list[str]:
    """The running podpy as a unit's command: the script's absolute path, or ``python -m podpy``."""
    argv0 = sys.argv[0] if sys.argv else ""
    if argv0 and not argv0.endswith(".py") and os.path.isfile(argv0) and os.access(argv0, os.X_OK):
        return [os.path.abspath(argv0)]
    return [sys.executable, "-m", "podpy"]


def podpy_executable() -> str:
    from podpy.generate.systemd import escape_arg

    return " ".join(escape_arg(w) for w in podpy_argv())


def _unit_env(items: tuple[str, ...]) -> list[str]:
    """``--env KEY=VALUE``; ``--env KEY`` takes this process's value (left out when it has none)."""
    out = []
    for e in items:
        if "=" in e:
            out.append(e)
        elif e in os.environ:
            out.append(f"{e}={os.environ[e]}")
    return out


@generate_group.command("systemd", context_settings=CTX)
@click.option("--after", multiple=True, help="Add dependencies order to the generated unit file")
@click.option("--container-prefix", default="container", help="Systemd unit name prefix for containers")
@click.option("-e", "--env", multiple=True, help="Set environment variables to the systemd unit files")
@click.option("-f", "--files", is_flag=True, help="Generate .service files instead of printing to stdout")
@click.option("--format", "fmt", default="", help="Print the created units in specified format (json)")
@click.option("-n", "--name", "use_name", is_flag=True, help="Use container/pod names instead of IDs")
@click.option("--new", is_flag=True, help="Create a new container or pod instead of starting an existing one")
@click.option("--no-header", is_flag=True, help="Skip header generation")
@click.option("--pod-prefix", default="pod", help="Systemd unit name prefix for pods")
@click.option("--requires", multiple=True, help="Similar to wants, but declares stronger requirement dependencies")
@click.option("--restart-policy", default=None, help='Systemd restart-policy (default "on-failure")')
@click.option("--restart-sec", type=click.IntRange(min=0), default=None, help="Systemd restart-sec")
@click.option("--separator", default="-", help="Systemd unit name separator between name/id and prefix")
@click.option("--start-timeout", type=click.IntRange(min=0), default=None, help="Start timeout override")
@click.option("--stop-timeout", type=click.IntRange(min=0), default=None, help="Stop timeout override (default 10)")
@click.option("-t", "--time", "time_", type=click.IntRange(min=0), default=None, hidden=True,
              help="Stop timeout override (deprecated: use --stop-timeout)")  # fmt: skip
@click.option("--template", is_flag=True, help="Make it a template file and use %i and %I specifiers")
@click.option("--wants", multiple=True, help="Add (weak) requirement dependencies to the generated unit file")
@click.argument("ref", nargs=-1)
@click.pass_context
def systemd_cmd(ctx: click.Context, ref: tuple[str, ...], fmt: str, files: bool, time_: int | None,
                stop_timeout: int | None, env: tuple[str, ...], **kw: Any) -> None:  # fmt: skip
    """Generate systemd units for a container or pod.

    \b
    Example: podpy generate systemd --new --name CTR
    """
    from podpy import __version__
    from podpy.generate.collect import generate_units
    from podpy.generate.systemd import Options, unit_file_name

    if len(ref) != 1:
        raise UsageError(f"accepts 1 arg(s), received {len(ref)}")
    if fmt and fmt != "json":
        raise UsageError(f"unknown --format argument: {fmt}")
    if time_ is not None and stop_timeout is not None:
        raise UsageError("stop-timeout and time are redundant and cannot be used together")
    opts = Options(
        **kw,
        stop_timeout=stop_timeout if stop_timeout is not None else time_,
        env=_unit_env(env),
        executable=podpy_executable(),
        version=__version__,
        timestamp=time.strftime("%a %b %e %H:%M:%S %Z %Y"),
    )
    units = generate_units(_opts(ctx).paths, ref[0], opts, run_takes_value())
    if files:
        from podpy.util.fsutil import atomic_write

        written = {}
        for service, text in units:
            path = os.path.join(os.getcwd(), unit_file_name(service, opts.template))
            atomic_write(path, text, fsync=False)
            written[service] = path
        if fmt == "json":
            click.echo(json.dumps(written, indent=1))
        else:
            for path in written.values():
                click.echo(path)
        return
    if fmt == "json":
        click.echo(json.dumps(dict(units), indent=1))
        return
    for _service, text in units:
        click.echo(text, nl=False)


_AU_FORMAT = "{{range . }}{{.Unit}}\t{{.Container}}\t{{.Image}}\t{{.Policy}}\t{{.Updated}}\n{{end -}}"
_AU_HEADERS = {"Unit": "UNIT", "Container": "CONTAINER", "ContainerID": "CONTAINER ID", "ContainerName": "CONTAINER NAME",
               "Image": "IMAGE", "Policy": "POLICY", "Updated": "UPDATED"}  # fmt: skip


@click.command("auto-update", context_settings=CTX)
@click.option("--authfile", default=None, help="Path to the authentication file")
@click.option("--dry-run", is_flag=True, help="Check for pending updates")
@click.option("--format", "fmt", default="", help="Change the output format to JSON or a Go template")
@click.option("--rollback", type=click.BOOL, default=True, help="Rollback to previous image if update fails (default true)")
@click.option("--tls-verify", type=click.BOOL, default=None, help="Require HTTPS and verify certificates when contacting registries")
@click.pass_context
def auto_update_cmd(ctx: click.Context, authfile: str | None, dry_run: bool, fmt: str, rollback: bool,
                    tls_verify: bool | None) -> None:  # fmt: skip
    """Auto update containers according to their auto-update policy.

    Running containers labelled io.containers.autoupdate=registry|local and started by a systemd unit
    (label PODMAN_SYSTEMD_UNIT) get the newer image and their unit is restarted with systemctl.

    \b
    Example: podpy auto-update --dry-run
    """
    from podpy.cli import template
    from podpy.engine.autoupdate import auto_update

    pull_kwargs: dict[str, Any] = {}
    if authfile:
        pull_kwargs["authfile"] = authfile
    if tls_verify is not None:
        pull_kwargs["tls_verify"] = tls_verify
    reports, errors = auto_update(_opts(ctx).paths, dry_run=dry_run, rollback=rollback, pull_kwargs=pull_kwargs)
    rows = [r.as_dict() for r in reports]
    if fmt and template.is_json(fmt):
        from podpy.cli.output import print_json

        print_json(rows)
    elif rows:
        if fmt:
            sys.stdout.write(template.render(fmt, rows, name="auto-update", headers=_AU_HEADERS))
        else:
            sys.stdout.write(template.render(_AU_FORMAT, rows, name="auto-update", headers=_AU_HEADERS, user=False))
    if len(errors) == 1:
        raise PodpyError(errors[0])
    if errors:
        raise PodpyError(f"{len(errors)} errors occurred:\n" + "\n".join(f"\t* {e}" for e in errors))
