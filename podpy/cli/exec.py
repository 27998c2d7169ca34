"""``podpy exec``: run a process in a running container (parsing and exit code only; engine.exec wires).

Its flags are a table (``EXEC_OPTIONS``), as ``run``'s: click's command is built from it when click
parses the line, and ``cli.main``'s fast path reads the same rows without importing click.
"""

from __future__ import annotations

import os
import sys

from podpy.util.errors import PodpyError, UsageError

TYPE_CHECKING = False  # not typing's: importing typing costs start-up time
if TYPE_CHECKING:
    from typing import Any

# (name, flags, click.option keywords); "type": "int" is click's IntRange(min=0) here
EXEC_OPTIONS: tuple[tuple[str, tuple[str, ...], dict[str, Any]], ...] = (
    ("detach", ("-d", "--detach"), dict(is_flag=True, help="Run the exec session in detached mode (backgrounded)")),
    ("env", ("-e", "--env"), dict(multiple=True, help="Set environment variables")),
    ("env_file", ("--env-file",), dict(multiple=True, help="Read in a file of environment variables")),
    ("interactive", ("-i", "--interactive"), dict(is_flag=True, help="Keep STDIN open even if not attached")),
    ("preserve_fds", ("--preserve-fds",), dict(type="int", default=0,
                                                help="Pass N additional file descriptors to the container")),
    ("privileged", ("--privileged",), dict(is_flag=True, help="Give the process extended Linux capabilities")),
    ("tty", ("-t", "--tty"), dict(is_flag=True, help="Allocate a pseudo-TTY. The default is false")),
    ("user", ("-u", "--user"), dict(default=None, help="Sets the username or UID used")),
    ("workdir", ("-w", "--workdir"), dict(default=None, help="Working directory inside the container")),
)  # fmt: skip
EXEC_ARGUMENTS = ("container", "command")  # CONTAINER COMMAND [ARG...]: options stop at CONTAINER


def _build_exec_cmd() -> Any:
    import click

    cb: Any = click.pass_context(_exec_callback)
    for dest, decls, kw in reversed(EXEC_OPTIONS):
        kw = {**kw, "type": click.IntRange(min=0)} if "type" in kw else kw
        cb = click.option(*decls, dest, **kw)(cb)
    cb = click.argument("command", nargs=-1, required=True)(cb)
    cb = click.argument("container")(cb)
    return click.command("exec", context_settings={"help_option_names": ["-h", "--help"],
                                                   "allow_interspersed_args": False})(cb)  # fmt: skip


_BUILT: dict[str, Any] = {}


def __getattr__(name: str) -> Any:
    """``exec_cmd``, the click command, is built on first use: the fast path never needs click."""
    if name == "exec_cmd":
        if not _BUILT:
            _BUILT["exec_cmd"] = _build_exec_cmd()
        return _BUILT["exec_cmd"]
    raise AttributeError(name)


def _exec_callback(ctx: Any, **kw: Any) -> None:
    """Run a process in a running container."""
    import click

    from podpy.cli.main import options_of

    try:
        code = exec_main(kw, options_of(ctx))
    except PodpyError as e:
        click.echo(f"Error: {e.message}", err=True)
        sys.exit(e.exit_code)
    sys.exit(code)


def fast_kwargs(args: list[str]) -> dict[str, Any] | None:
    """The fast path's reading of ``exec``'s words after the command: what click would pass, or None
    where click must parse (and word the errors): bad flags, no COMMAND, a negative --preserve-fds."""
    from podpy.cli.fastargs import parse_options

    kw = parse_options(args, EXEC_OPTIONS, EXEC_ARGUMENTS)  # type: ignore[arg-type]
    if kw is None or not kw["command"] or int(kw["preserve_fds"]) < 0:  # type: ignore[call-overload]
        return None
    return kw


def exec_main(kw: dict[str, Any], opts: Any) -> int:
    """``exec`` once its flags are parsed (by click or the fast path): the process's exit code."""
    from podpy.cli.container import read_env_file
    from podpy.engine import exec as eng
    from podpy.spec.container import parse_env

    tty, detach, workdir, preserve_fds = kw["tty"], kw["detach"], kw["workdir"], kw["preserve_fds"]
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
    for f in kw["env_file"]:
        items += read_env_file(f)
    items += list(kw["env"])
    code = eng.exec_in(opts.paths, kw["container"], list(kw["command"]), env=parse_env(items, dict(os.environ)),
                       user=kw["user"], workdir=workdir, privileged=kw["privileged"],
                       interactive=kw["interactive"], preserve_fds=preserve_fds, detach=detach, tty=tty)  # fmt: skip
    if detach:
        sys.stdout.write(os.urandom(32).hex() + "\n")  # podman prints the exec session's ID
    sys.stdout.flush()
    return code
