"""``podpy help [COMMAND...]``: a command's ``--help``, as Podman's (cobra's) help command prints it."""

from __future__ import annotations

import click

from podpy.util.errors import UsageError


@click.command("help", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("words", nargs=-1)
@click.pass_context
def help_cmd(ctx: click.Context, words: tuple[str, ...]) -> None:
    """Help about any command."""
    root = ctx.find_root()
    cmd: click.Command = root.command
    cur = click.Context(cmd, info_name=root.info_name or "podpy", obj=root.obj, **cmd.context_settings)
    for word in words:
        sub = cmd.get_command(cur, word) if isinstance(cmd, click.Group) else None
        if sub is None:
            raise UsageError(f'unknown help topic "{" ".join(words)}": see podpy --help for the commands')
        cmd = sub
        cur = click.Context(cmd, info_name=word, parent=cur, obj=root.obj, **cmd.context_settings)
    click.echo(cmd.get_help(cur))
