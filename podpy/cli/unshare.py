"""``podpy unshare [CMD [ARGS...]]``: run a command inside podpy's user namespace, like ``podman unshare``.

The command replaces podpy (exec), so its exit status, signals and terminal are its own.
"""

from __future__ import annotations

import os
import sys

import click

from podpy.util.errors import EXIT_CANNOT_EXEC, EXIT_NOT_FOUND, PodpyError


@click.command(
    "unshare",
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.pass_obj
def unshare_cmd(opts: object, command: tuple[str, ...]) -> None:
    """Run a command in a modified user namespace.

    Runs COMMAND (default: $SHELL, else /bin/sh) as root inside podpy's user and mount namespace,
    where the user's subordinate IDs are mapped: handy to inspect or clean up the store.
    CONTAINERS_GRAPHROOT and CONTAINERS_RUNROOT name podpy's directories.
    """
    from podpy.rootless.userns import ensure_userns

    paths = opts.paths  # type: ignore[attr-defined]
    ensure_userns(paths)
    argv = list(command) or [os.environ.get("SHELL") or "/bin/sh"]
    env = dict(os.environ)
    env.update(
        CONTAINERS_GRAPHROOT=str(os.path.abspath(paths.root)),
        CONTAINERS_RUNROOT=str(os.path.abspath(paths.runroot)),
        # a podpy started in there must use the same store, not root's
        PODPY_ROOT=str(os.path.abspath(paths.root)),
        PODPY_RUNROOT=str(os.path.abspath(paths.runroot)),
    )
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvpe(argv[0], argv, env)
    except FileNotFoundError:
        raise PodpyError(f'exec: "{argv[0]}": executable file not found in $PATH', EXIT_NOT_FOUND) from None
    except PermissionError:
        raise PodpyError(f'exec: "{argv[0]}": permission denied', EXIT_CANNOT_EXEC) from None
    except OSError as e:
        raise PodpyError(f'exec: "{argv[0]}": {e.strerror}', EXIT_CANNOT_EXEC) from None
