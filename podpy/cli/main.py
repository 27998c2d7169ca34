"""The ``podpy`` entry point: global options, lazily loaded commands, errors turned into exit codes.

Commands are listed in ``COMMANDS`` with their one-line help so that ``podpy --help``
imports none of them (start-up must stay fast). Add a command by adding a row.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from dataclasses import dataclass

import click

from podpy import __version__
from podpy.util.errors import EXIT_PODPY, PodpyError
from podpy.util.paths import Paths, default_paths

# name -> (module, attribute, one-line help). Nouns are groups; verbs at top level mirror podman's aliases.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "image": ("podpy.cli.image", "image", "Manage images"),
    "images": ("podpy.cli.image", "images_cmd", "List images in local storage"),
    "pull": ("podpy.cli.image", "pull_cmd", "Pull an image from a registry"),
    "push": ("podpy.cli.transfer", "push_cmd", "Push an image to a specified destination"),
    "tag": ("podpy.cli.image", "tag_cmd", "Add an additional name to a local image"),
    "untag": ("podpy.cli.image", "untag_cmd", "Remove names from a local image"),
    "rmi": ("podpy.cli.image", "rmi_cmd", "Remove one or more images from local storage"),
    "history": ("podpy.cli.image", "history_cmd", "Show history of a specified image"),
    "save": ("podpy.cli.transfer", "save_cmd", "Save image(s) to an archive"),
    "load": ("podpy.cli.transfer", "load_cmd", "Load image(s) from a tar archive"),
    "import": ("podpy.cli.transfer", "import_cmd", "Import a tarball to create a filesystem image"),
    "inspect": ("podpy.cli.inspect", "inspect_cmd", "Display the configuration of object denoted by ID"),
    "login": ("podpy.cli.login", "login_cmd", "Log in to a container registry"),
    "logout": ("podpy.cli.login", "logout_cmd", "Log out of a container registry"),
    "run": ("podpy.cli.container", "run_cmd", "Run a command in a new container"),
    "unshare": ("podpy.cli.unshare", "unshare_cmd", "Run a command in a modified user namespace"),
}

log = logging.getLogger("podpy")


@dataclass
class GlobalOptions:
    """What every command may need from the global flags."""

    paths: Paths
    log_level: str
    storage_driver: str | None


class LazyGroup(click.Group):
    """A click group whose subcommands are imported only when invoked."""

    def __init__(
        self, *args: object, commands_table: dict[str, tuple[str, str, str]], **kwargs: object
    ) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._table = commands_table

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self._table) | set(super().list_commands(ctx)))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self._table:
            module, attr, _ = self._table[cmd_name]
            cmd = getattr(importlib.import_module(module), attr)
            cmd.name = cmd_name if cmd_name not in ("image",) else cmd.name
            return cmd
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, self._table[name][2]) for name in sorted(self._table)]
        rows += [
            (n, c.get_short_help_str()) for n, c in sorted(self.commands.items()) if n not in self._table
        ]
        if rows:
            with formatter.section("Available Commands"):
                formatter.write_dl(sorted(rows))


@click.group(
    cls=LazyGroup,
    commands_table=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(
    __version__, "-v", "--version", prog_name="podpy", message="%(prog)s version %(version)s"
)
@click.option(
    "--root", type=click.Path(), default=None, help="Path to the root directory in which data is stored"
)
@click.option(
    "--runroot", type=click.Path(), default=None, help="Path to the 'run directory' where state is stored"
)
@click.option(
    "--log-level",
    type=click.Choice(["trace", "debug", "info", "warn", "warning", "error", "fatal", "panic"]),
    default="warn",
    show_default=True,
    help="Log messages above specified level",
)
@click.option("--storage-driver", default=None, help="Select which storage driver is used (overlay, vfs)")
@click.option(
    "--url", default=None, hidden=True, help="Remote podman service (not supported: podpy has no daemon)"
)
@click.pass_context
def cli(
    ctx: click.Context,
    root: str | None,
    runroot: str | None,
    log_level: str,
    storage_driver: str | None,
    url: str | None,
) -> None:
    """Manage pods, containers and images — daemonless and rootless."""
    if url:
        raise PodpyError("--url is not supported: podpy has no service; run podpy on the machine itself")
    level = {"trace": 5, "debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING}.get(
        log_level, logging.WARNING if log_level == "warning" else logging.ERROR
    )
    logging.basicConfig(
        level=level, format="time=%(asctime)s level=%(levelname)s msg=%(message)s", stream=sys.stderr
    )
    if storage_driver and storage_driver not in ("overlay", "vfs"):
        raise PodpyError(f"unsupported storage driver {storage_driver!r}: use overlay or vfs")
    ctx.obj = GlobalOptions(
        paths=default_paths(root, runroot), log_level=log_level, storage_driver=storage_driver
    )


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; every PodpyError becomes ``Error: ...`` and its exit code."""
    try:
        rv = cli.main(args=argv, prog_name="podpy", standalone_mode=False)
    except PodpyError as e:
        click.echo(f"Error: {e.message}", err=True)
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted!", err=True)
        sys.exit(EXIT_PODPY)
    except click.ClickException as e:
        click.echo(f"Error: {e.format_message()}", err=True)
        sys.exit(EXIT_PODPY)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        # A reader such as `head` went away: not an error for a CLI.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
    sys.exit(rv if isinstance(rv, int) else 0)
