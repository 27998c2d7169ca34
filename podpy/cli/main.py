"""The ``podpy`` entry point: global options, lazily loaded commands, errors turned into exit codes.

Commands are listed in ``COMMANDS`` with their one-line help so that ``podpy --help``
imports none of them (start-up must stay fast). Add a command by adding a row.

Start-up: this module imports neither click nor logging at import time. ``main`` first tries a
fast path for the hottest, simplest invocations (``--version``; ``images``/``image ls`` with
only boolean flags; ``ps``; ``run`` and ``exec``, whose flag tables click's commands are built
from too), which print exactly what the click command prints from the same code; everything
else, including every error and ``--help``, goes through click (built on first use by ``_build_cli``).
"""

from __future__ import annotations

import gc
import os
import sys

from podpy import __version__
from podpy.util.deferred import defer
from podpy.util.errors import EXIT_PODPY, PodpyError

defer("inspect")  # imported by dataclasses for a call podpy's dataclasses never make
defer("urllib.parse", functions=("quote_from_bytes",))  # imported by pathlib for Path.as_uri

TYPE_CHECKING = False  # not ``typing.TYPE_CHECKING``: importing typing costs start-up time
if TYPE_CHECKING:
    from typing import Any

    import click

    from podpy.util.paths import Paths

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
    "info": ("podpy.cli.system", "info_cmd", "Display podpy system information"),
    "system": ("podpy.cli.system", "system", "Manage podpy"),
    "unshare": ("podpy.cli.unshare", "unshare_cmd", "Run a command in a modified user namespace"),
    "container": ("podpy.cli.lifecycle", "container_group", "Manage containers"),
    "create": ("podpy.cli.lifecycle", "create_cmd", "Create but do not start a container"),
    "start": ("podpy.cli.lifecycle", "start_cmd", "Start one or more containers"),
    "stop": ("podpy.cli.lifecycle", "stop_cmd", "Stop one or more containers"),
    "kill": ("podpy.cli.lifecycle", "kill_cmd", "Kill one or more running containers with a specific signal"),
    "rm": ("podpy.cli.lifecycle", "rm_cmd", "Remove one or more containers"),
    "restart": ("podpy.cli.lifecycle", "restart_cmd", "Restart one or more containers"),
    "wait": ("podpy.cli.lifecycle", "wait_cmd", "Block on one or more containers"),
    "logs": ("podpy.cli.lifecycle", "logs_cmd", "Fetch the logs of one or more containers"),
    "ps": ("podpy.cli.ps", "ps_cmd", "List containers"),
    "cp": ("podpy.cli.ctrfs", "cp_cmd", "Copy files/folders between a container and the local filesystem"),
    "diff": ("podpy.cli.ctrfs", "diff_cmd", "Display the changes to the object's file system"),
    "export": ("podpy.cli.ctrfs", "export_cmd", "Export container's filesystem contents as a tar archive"),
    "commit": ("podpy.cli.ctrfs", "commit_cmd", "Create new image based on the changed container"),
    "exec": ("podpy.cli.exec", "exec_cmd", "Run a process in a running container"),
    "attach": ("podpy.cli.attach", "attach_cmd", "Attach to a running container"),
    "events": ("podpy.cli.events", "events_cmd", "Show podpy events"),
    "rename": ("podpy.cli.ctrinfo", "rename_cmd", "Rename an existing container"),
    "top": ("podpy.cli.ctrinfo", "top_cmd", "Display the running processes of a container"),
    "port": ("podpy.cli.ctrinfo", "port_cmd", "List port mappings or a specific mapping for the container"),
    "stats": (
        "podpy.cli.ctrinfo",
        "stats_cmd",
        "Display a live stream of container resource usage statistics",
    ),
    "pause": ("podpy.cli.ctrinfo", "pause_cmd", "Pause all the processes in one or more containers"),
    "unpause": ("podpy.cli.ctrinfo", "unpause_cmd", "Unpause the processes in one or more containers"),
    "healthcheck": ("podpy.cli.healthcheck", "healthcheck_group", "Manage health checks on containers"),
    "generate": ("podpy.cli.generate", "generate_group", "Generate structured data based on containers, volumes, and pods"),
    "quadlet": ("podpy.cli.quadlet", "quadlet_cmd", "Generate systemd units from Quadlet files"),
    "auto-update": ("podpy.cli.generate", "auto_update_cmd", "Auto update containers according to their auto-update policy"),
    "version": ("podpy.cli.system", "version_cmd", "Display the podpy version information"),
    "volume": ("podpy.cli.volume", "volume", "Manage volumes"),
    "secret": ("podpy.cli.secret", "secret", "Manage secrets"),
    "help": ("podpy.cli.help", "help_cmd", "Help about any command"),
    "mount": ("podpy.cli.mount", "mount_cmd", "Mount a working container's root filesystem"),
    "unmount": ("podpy.cli.mount", "unmount_cmd", "Unmount working container's root filesystem"),
    "umount": ("podpy.cli.mount", "unmount_cmd", "Unmount working container's root filesystem"),
    "pod": ("podpy.cli.pod", "pod_group", "Manage pods"),
    "build": ("podpy.cli.build", "build_cmd", "Build an image using instructions from Containerfiles"),
    "network": ("podpy.cli.network", "network", "Manage networks"),
    "completion": ("podpy.cli.completion", "completion_cmd", "Generate shell autocompletions"),
    "kube": ("podpy.cli.kube", "kube_group", "Play containers, pods or volumes from a structured file"),
    "play": ("podpy.cli.kube", "play_group", "Play containers, pods or volumes from a structured file"),
}


class GlobalOptions:
    """What every command may need from the global flags (a plain class: no dataclasses at start-up)."""

    __slots__ = ("log_level", "paths", "storage_driver")

    def __init__(self, paths: Paths, log_level: str, storage_driver: str | None) -> None:
        self.paths = paths
        self.log_level = log_level
        self.storage_driver = storage_driver

    def __repr__(self) -> str:
        return f"GlobalOptions(paths={self.paths!r}, log_level={self.log_level!r}, storage_driver={self.storage_driver!r})"


def global_options(root: str | None, runroot: str | None, log_level: str = "warn",
                   storage_driver: str | None = None) -> GlobalOptions:  # fmt: skip
    """The global flags checked and applied: the root group's callback and the click-free ``run``."""
    from podpy.util import log  # ``logging`` itself is imported only when a message is emitted
    from podpy.util.paths import default_paths

    log.configure(log.level_of(log_level))
    if storage_driver and storage_driver not in ("overlay", "vfs"):
        raise PodpyError(f"unsupported storage driver {storage_driver!r}: use overlay or vfs")
    return GlobalOptions(paths=default_paths(root, runroot), log_level=log_level, storage_driver=storage_driver)


def options_of(ctx: Any) -> GlobalOptions:
    """The global flags a click command sees; the defaults when it runs without the root group (tests)."""
    obj = ctx.find_object(GlobalOptions)
    if obj is None:
        from podpy.util.paths import default_paths

        obj = GlobalOptions(paths=default_paths(), log_level="warn", storage_driver=None)
    return obj


def paths_of(ctx: Any) -> Paths:
    return options_of(ctx).paths


_BUILT: dict[str, Any] = {}

_REMOTE = "podpy has no service; run podpy on the machine itself"
# podman's global flags podpy refuses: name -> (short flag, why, is a flag without value)
_REFUSED_GLOBALS: dict[str, tuple[str, str, bool]] = {
    "url": ("", _REMOTE, False),
    "remote": ("-r", _REMOTE, True),
    "connection": ("-c", _REMOTE, False),
    "identity": ("", _REMOTE, False),
    "ssh": ("", _REMOTE, False),
    "conmon": ("", "podpy runs its own container monitor, not conmon", False),
    "hooks_dir": ("", "podpy runs no OCI hooks", False),
    "namespace": ("", "podpy has no libpod namespaces; use another --root", False),
    "network_cmd_path": ("", "podpy runs slirp4netns or pasta from PATH", False),
    "network_config_dir": ("", "podpy keeps network configurations under --root", False),
    "runtime": ("", "choose the OCI runtime per container with run/create --runtime", False),
    "runtime_flag": ("", "podpy passes no global flags to the OCI runtime", False),
    "storage_opt": ("", "set storage options in storage.conf (CONTAINERS_STORAGE_CONF)", False),
    "syslog": ("", "podpy logs to stderr only", True),
    "tmpdir": ("", "podpy keeps its temporary state under --runroot", False),
    "volumepath": ("", "podpy keeps volumes under --root", False),
}


def __getattr__(name: str) -> Any:
    """``cli`` and ``LazyGroup`` need click: build them on first access."""
    if name in ("cli", "LazyGroup"):
        return _build_cli()[name]
    raise AttributeError(name)


def _build_cli() -> dict[str, Any]:
    if _BUILT:
        return _BUILT
    import importlib

    import click

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
            else:
                cmd = super().get_command(ctx, cmd_name)
            if cmd is not None:
                from podpy.cli.examples import decorate  # --help examples, shell completions

                decorate(cmd, " ".join([*ctx.command_path.split()[1:], cmd_name]))
            return cmd

        def shell_complete(self, ctx: click.Context, incomplete: str) -> list[Any]:
            from podpy.cli.completion import group_complete  # names from the table: imports no command

            return group_complete(self, self._table, ctx, incomplete)

        def _main_shell_completion(self, ctx_args: Any, prog_name: str, complete_var: str | None = None) -> None:
            if os.environ.get("_PODPY_COMPLETE"):  # a shell asks: podpy's answer formats first (--no-desc)
                from podpy.cli.completion import setup

                setup()
            super()._main_shell_completion(ctx_args, prog_name, complete_var)

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
        "--cgroup-manager",
        default="cgroupfs",
        show_default=True,
        help='Cgroup manager to use ("cgroupfs"; "systemd" is not supported)',
        shell_complete=lambda ctx, p, inc: [v for v in ("cgroupfs", "systemd") if v.startswith(inc)],
    )
    @click.option(
        "--events-backend",
        default="file",
        show_default=True,
        help='Events backend to use ("file"; "journald" and "none" are not supported)',
        shell_complete=lambda ctx, p, inc: [v for v in ("file", "journald", "none") if v.startswith(inc)],
    )
    @click.option("--noout", is_flag=True, help="do not output to stdout")
    @click.pass_context
    def cli(
        ctx: click.Context,
        root: str | None,
        runroot: str | None,
        log_level: str,
        storage_driver: str | None,
        cgroup_manager: str,
        events_backend: str,
        noout: bool,
        **refused: Any,
    ) -> None:
        """Manage pods, containers and images — daemonless and rootless."""
        for name, value in refused.items():
            if value:
                raise PodpyError(f"--{name.replace('_', '-')} is not supported: {_REFUSED_GLOBALS[name][1]}")
        if cgroup_manager not in ("cgroupfs", "systemd"):
            raise PodpyError("cgroup manager must be one of cgroupfs and systemd: invalid argument")
        if cgroup_manager == "systemd":
            raise PodpyError(
                "--cgroup-manager=systemd is not supported: podpy puts containers in no systemd scope "
                "(and needs no systemd user session); use cgroupfs"
            )
        if events_backend not in ("file", "journald", "none"):
            raise PodpyError(f'"{events_backend}" is not a valid events backend: invalid argument')
        if events_backend != "file":
            raise PodpyError(
                f"--events-backend={events_backend} is not supported: podpy's event log is a file (its state "
                "database), which also keeps the exit codes of removed containers; use file"
            )
        if noout:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - podpy's own output only, as podman's --noout
        ctx.obj = global_options(root, runroot, log_level, storage_driver)

    for name, (short, reason, is_flag) in _REFUSED_GLOBALS.items():  # Podman's, refused with a reason
        decls = [f"--{name.replace('_', '-')}", *([short] if short else []), name]
        cli = click.option(*decls, is_flag=is_flag, default=None, hidden=True, help=reason)(cli)
    from podpy.cli.examples import decorate

    decorate(cli, "")
    _BUILT.update(cli=cli, LazyGroup=LazyGroup, click=click)
    return _BUILT


# Flags of ``images`` the fast path takes (all boolean); anything else goes through click.
_IMAGES_FLAGS = {
    "-a": "all_",
    "--all": "all_",
    "-q": "quiet",
    "--quiet": "quiet",
    "--digests": "digests",
    "--no-trunc": "no_trunc",
    "-n": "noheading",
    "--noheading": "noheading",
    "--history": "history",
}


def _fast_images(args: list[str]) -> bool:
    """``[--root R] [--runroot R] images|image ls|image list [boolean flags]`` without click.

    Returns False (nothing done) for any other shape, so click parses it and reports errors.
    """
    from podpy.cli.fastargs import parse_fast

    parsed = parse_fast(args, (("images",), ("image", "ls"), ("image", "list")), _IMAGES_FLAGS)
    if parsed is None:
        return False
    glob, flags = parsed
    from podpy.cli.output import images_text
    from podpy.engine.images import list_images
    from podpy.util.paths import default_paths

    all_ = flags.pop("all_")
    summaries = list_images(default_paths(glob.get("root"), glob.get("runroot")), (), all_=all_)
    sys.stdout.write(images_text(summaries, **flags))
    sys.stdout.flush()
    return True


def _fast_run(args: list[str]) -> int | None:
    """``[--root R] [--runroot R] [container] run [OPTIONS] IMAGE [COMMAND...]`` without click: its exit code.

    None (nothing done) for any other shape or any flag the fast parser does not read as click would.
    """
    from podpy.cli.fastargs import parse_options

    found = _after_command(args, "run")
    if found is None:
        return None
    from podpy.cli import container

    kw = parse_options(found[1], container.RUN_OPTIONS, container.RUN_ARGUMENTS)
    if kw is None:
        return None
    return container.run_main(kw, global_options(found[0].get("root"), found[0].get("runroot")), early=True)


def _fast_exec(args: list[str]) -> int | None:
    """``[--root R] [--runroot R] [container] exec [OPTIONS] CONTAINER COMMAND...`` without click: the
    process's exit code; None (nothing done) for any other shape or anything the fast parser declines."""
    found = _after_command(args, "exec")
    if found is None:
        return None
    from podpy.cli import exec as exec_cli

    kw = exec_cli.fast_kwargs(found[1])
    if kw is None:
        return None
    return exec_cli.exec_main(kw, global_options(found[0].get("root"), found[0].get("runroot")))


def _after_command(args: list[str], name: str) -> tuple[dict[str, str], list[str]] | None:
    """``[--root R] [--runroot R] [container] NAME REST...`` -> (the global options, REST); None for
    any other shape."""
    from podpy.cli.fastargs import split_global

    split = split_global(args)
    if split is None:
        return None
    glob, rest = split
    words = 1 if rest[:1] == [name] else 2 if rest[:2] == ["container", name] else 0
    return (glob, rest[words:]) if words else None


def _exit_now(code: int, in_process: bool) -> None:
    """Exit without the interpreter's teardown (freeing every module and object, closing SQLite
    connections with a checkpoint): ~8 ms of a ~80 ms ``run``. Safe here: podpy registers no atexit
    handlers, files are closed where they are written, and stdio is flushed first. ``in_process``
    (``main`` called with an argv, as tests do): a normal SystemExit."""
    if in_process:
        sys.exit(code)
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        pass
    sys.stderr.flush()
    os._exit(code)


def _error(message: str, code: int) -> None:
    sys.stderr.write(f"Error: {message}\n")
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; every PodpyError becomes ``Error: ...`` and its exit code."""
    # The cyclic garbage collector would run ~35 times while the fast paths import and set up
    # (~5 ms of a ~80 ms ``run``); they create little cyclic garbage and are short-lived or wait in
    # syscalls (a foreground container, the attach loop). Everything else gets it back below.
    if argv is None:
        gc.disable()
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        if args in (["--version"], ["-v"]):
            sys.stdout.write(f"podpy version {__version__}\n")
            sys.stdout.flush()
            sys.exit(0)
        if _fast_images(args):
            _exit_now(0, argv is not None)
        if "run" in args:
            code = _fast_run(args)
            if code is not None:
                _exit_now(code, argv is not None)
        if "exec" in args:
            code = _fast_exec(args)
            if code is not None:
                _exit_now(code, argv is not None)
        if "ps" in args or "container" in args:  # psview costs imports: only for what may be ``ps``
            from podpy.cli.psview import fast_ps

            if fast_ps(args):
                _exit_now(0, argv is not None)
    except PodpyError as e:
        _error(e.message, e.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
    except PermissionError as e:
        _error(_os_message(e), EXIT_PODPY)
    _click_main(argv)


def _os_message(e: OSError) -> str:
    """An OS error nothing below turned into a PodpyError (e.g. a --root podpy may not create), as
    Podman words them: ``PATH: permission denied``."""
    what = (e.strerror or str(e)).lower()
    return f"{e.filename}: {what}: check the path and its permissions" if e.filename else what


def _click_main(argv: list[str] | None) -> None:
    gc.enable()
    built = _build_cli()
    click = built["click"]
    try:
        rv = built["cli"].main(args=argv, prog_name="podpy", standalone_mode=False)
    except PodpyError as e:
        click.echo(f"Error: {e.message}", err=True)
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted!", err=True)
        sys.exit(EXIT_PODPY)
    except click.exceptions.NoArgsIsHelpError as e:
        # a group without its command: podman prints the help, then names what is missing
        click.echo(e.ctx.get_help() if e.ctx else "")
        click.echo(f"Error: missing command '{e.ctx.command_path if e.ctx else 'podpy'} COMMAND'", err=True)
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
    except PermissionError as e:
        click.echo(f"Error: {_os_message(e)}", err=True)
        sys.exit(EXIT_PODPY)
    sys.exit(rv if isinstance(rv, int) else 0)
