"""``podpy healthcheck run``: one health check now, with Podman 4.3's output and exit codes.

Prints ``unhealthy`` and exits 1 when the check failed (even before ``--health-retries`` failures in
a row make the container unhealthy), prints nothing and exits 0 when it passed; 125 with Podman's
message when the container is unknown, not running, or has no health check. The scheduled checks
run the same code from the monitor (``podpy.engine.health``).
"""

from __future__ import annotations

from typing import Any

import click

from podpy.cli.main import options_of as _opts
from podpy.util.errors import UsageError

CTX = {"help_option_names": ["-h", "--help"]}


@click.group("healthcheck", context_settings=CTX)
def healthcheck_group() -> None:
    """Manage health checks on containers."""


@healthcheck_group.command("run", context_settings=CTX)
@click.argument("container", nargs=-1)
@click.pass_context
def run_cmd(ctx: click.Context, container: tuple[str, ...]) -> Any:
    """Run the health check of a container."""
    if len(container) != 1:
        raise UsageError(f"accepts 1 arg(s), received {len(container)}")
    from podpy.engine import health

    passed, _status = health.run_check(_opts(ctx).paths, container[0])
    if not passed:
        click.echo("unhealthy")
        ctx.exit(1)
