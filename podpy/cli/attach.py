"""``podpy attach``: this terminal to a running container's stdio (parsing and printing only)."""

from __future__ import annotations

import sys

import click

from podpy.util.errors import UsageError

DETACH_HELP = (
    "Select the key sequence for detaching a container. Format is a single character [a-Z] or a comma "
    "separated sequence of `ctrl-<value>`, where `<value>` is one of: `a-z`, `@`, `^`, `[`, `\\`, `]`, "
    '`^` or `_` (default "ctrl-p,ctrl-q")'
)


@click.command("attach", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--detach-keys", default=None, help=DETACH_HELP)
@click.option("-l", "--latest", is_flag=True, help="Act on the latest container podpy is aware of")
@click.option("--no-stdin", is_flag=True, help="Do not attach STDIN. The default is false")
@click.option("--sig-proxy", type=click.BOOL, default=True, help="Proxy received signals to the process (default true)")
@click.argument("containers", nargs=-1)
@click.pass_context
def attach_cmd(ctx: click.Context, detach_keys: str | None, latest: bool, no_stdin: bool, sig_proxy: bool,
               containers: tuple[str, ...]) -> None:  # fmt: skip
    """Attach to a running container."""
    from podpy.cli.lifecycle import _targets
    from podpy.cli.main import options_of as _opts
    from podpy.engine import attach as eng

    if len(containers) > 1:
        raise UsageError("`podpy attach` accepts at most one argument")
    if not latest and not containers:
        raise UsageError('"podpy attach" requires a name, id, or the "--latest" flag')
    eng.detach_bytes(detach_keys)  # a bad spec fails before anything else
    ref = _targets(ctx, containers, False, latest)
    if not ref:
        raise UsageError("no containers to attach to")
    eng.attach(_opts(ctx).paths, ref[0], stdin=not no_stdin, detach_keys=detach_keys, sig_proxy=sig_proxy)
    sys.stdout.write("\n")  # as Podman, after the container exited or we detached
    sys.stdout.flush()
