"""``podpy exec``: run a process in a running container (parsing and exit code only; engine.exec wires)."""

from __future__ import annotations

import os
import sys

import click

from podpy.util.errors import PodpyError, UsageError


@click.command("exec", context_settings={"help_option_names": ["-h", "--help"],
                                         "allow_interspersed_args": False})  # fmt: skip
@click.option("-d", "--detach", is_flag=True, help="Run the exec session in detached mode (backgrounded)")
@click.option("-e", "--env", multiple=True, help="Set environment variables")
@click.option("--env-file", multiple=True, help="Read in a file of environment variables")
@click.option("-i", "--interactive", is_flag=True, help="Keep STDIN open even if not attached")
@click.option("--preserve-fds", type=click.IntRange(min=0), default=0,
              help="Pass N additional file descriptors to the container")  # fmt: skip
@click.option("--privileged", is_flag=True, help="Give the process extended Linux capabilities")
@click.option("-t", "--tty", is_flag=True, help="Allocate a pseudo-TTY. The default is false")
@click.option("-u", "--user", default=None, help="Sets the username or UID used")
@click.option("-w", "--workdir", default=None, help="Working directory inside the container")
@click.argument("container")
@click.argument("command", nargs=-1, required=True)
@click.pass_context
def exec_cmd(ctx: click.Context, detach: bool, env: tuple[str, ...], env_file: tuple[str, ...],
             interactive: bool, preserve_fds: int, privileged: bool, tty: bool, user: str | None,
             workdir: str | None, container: str, command: tuple[str, ...]) -> None:  # fmt: skip
    """Run a process in a running container."""
    from podpy.cli.container import read_env_file
    from podpy.cli.main import options_of as _opts
    from podpy.engine import exec as eng
    from podpy.spec.container import parse_env

    try:
        if tty and detach:
            raise UsageError("exec --detach --tty is not supported by podpy: no monitor would hold a detached "
                             "exec's terminal; drop -t (its output goes nowhere anyway)")  # fmt: skip
        if workdir is not None and not workdir.startswith("/"):
            raise UsageError(f"invalid --workdir {workdir!r}: must be an absolute path")
        for fd in range(3, 3 + preserve_fds):
            try:
                os.fstat(fd)
            except OSError:
                raise UsageError(f"--preserve-fds={preserve_fds}: file descriptor {fd} is not open") from None
        items: list[str] = []
        for f in env_file:
            items += read_env_file(f)
        items += list(env)
        code = eng.exec_in(_opts(ctx).paths, container, list(command), env=parse_env(items, dict(os.environ)),
                           user=user, workdir=workdir, privileged=privileged, interactive=interactive,
                           preserve_fds=preserve_fds, detach=detach, tty=tty)  # fmt: skip
    except PodpyError as e:
        click.echo(f"Error: {e.message}", err=True)
        sys.exit(e.exit_code)
    if detach:
        click.echo(os.urandom(32).hex())  # podman prints the exec session's ID
    sys.stdout.flush()
    sys.exit(code)
