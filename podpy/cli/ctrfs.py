"""``podpy cp``, ``diff``, ``export`` and ``commit``: a container's filesystem from outside.

Flags, output shapes and error texts follow Podman 4.3; the work is in ``podpy.engine.ctrfs``.
"""

from __future__ import annotations

import json
import sys

import click

from podpy.cli.main import options_of as _opts
from podpy.util.errors import UsageError

CTX = {"help_option_names": ["-h", "--help"]}


class _CpCommand(click.Command):
    """Accepts Podman's ``--archive=false`` / ``-a=false`` spelling of the boolean ``-a`` flag."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        fixed = []
        for a in args:
            key, eq, val = a.partition("=")
            if eq and key in ("-a", "--archive"):
                if val.lower() not in ("true", "false", "1", "0"):
                    raise UsageError(f'invalid argument "{val}" for "{a}" flag: use true or false')
                a = "--archive" if val.lower() in ("true", "1") else "--no-archive"
            fixed.append(a)
        return super().parse_args(ctx, fixed)


@click.command("cp", cls=_CpCommand, context_settings=CTX)
@click.option("-a", "--archive/--no-archive", default=True, show_default=True,
              help="Chown copied files to the primary uid/gid of the destination container (--archive=false keeps the source's)")  # fmt: skip
@click.option(
    "--overwrite", is_flag=True, help="Allow to overwrite directories with non-directories and vice versa"
)
@click.argument("src")
@click.argument("dest")
@click.pass_context
def cp_cmd(ctx: click.Context, archive: bool, overwrite: bool, src: str, dest: str) -> None:
    """Copy files/folders between a container and the local filesystem (``-`` for a tar stream)."""
    from podpy.engine import ctrfs

    if overwrite:
        raise UsageError("--overwrite is not supported by podpy cp yet")
    ctrfs.cp(_opts(ctx).paths, src, dest, archive=archive)


@click.command("diff", context_settings=CTX)
@click.option("--format", "fmt", default="", help="Change the output format (json)")
@click.option("-l", "--latest", is_flag=True, help="Act on the latest container podman is aware of")
@click.argument("ref", required=False)
@click.pass_context
def diff_cmd(ctx: click.Context, fmt: str, latest: bool, ref: str | None) -> None:
    """Inspect changes to the container's file systems (A added, C changed, D deleted)."""
    from podpy.engine import ctrfs

    paths = _opts(ctx).paths
    ref = _one_ref(paths, ref, latest)
    if fmt not in ("", "json"):
        raise UsageError(f"invalid output format {fmt!r}: only json is supported")
    chs = ctrfs.changes(paths, ref)
    if fmt == "json":
        click.echo(json.dumps(ctrfs.diff_json(chs), indent=5))
        return
    for c in chs:
        click.echo(f"{c.kind} {c.path}")


def _one_ref(paths: object, ref: str | None, latest: bool) -> str:
    if latest and ref:
        raise UsageError("--latest and containers cannot be used together")
    if latest:
        from podpy.engine import containers

        recs = containers.open_state(paths).list()  # type: ignore[arg-type]
        if not recs:
            raise UsageError("no containers to diff: none exist")
        return max(recs, key=lambda r: r.created).id
    if not ref:
        raise UsageError("diff requires a container name or ID (or --latest)")
    return ref


@click.command("export", context_settings=CTX)
@click.option(
    "-o",
    "--output",
    default=None,
    help="Write to a specified file (default: stdout, which must be redirected)",
)
@click.argument("ref")
@click.pass_context
def export_cmd(ctx: click.Context, output: str | None, ref: str) -> None:
    """Export container's filesystem contents as a tar archive."""
    from podpy.engine import ctrfs

    if not output and sys.stdout.isatty():
        raise UsageError("refusing to export to terminal. Use -o flag or redirect")
    ctrfs.export(_opts(ctx).paths, ref, output)


@click.command("commit", context_settings=CTX)
@click.option("-m", "--message", default=None, help="Set commit message for imported image")
@click.option("-a", "--author", default=None, help="Set the author for the image committed")
@click.option("-c", "--change", "changes", multiple=True,
              help="Apply the following possible instructions to the created image (default []): "
                   "CMD | ENTRYPOINT | ENV | EXPOSE | LABEL | STOPSIGNAL | USER | VOLUME | WORKDIR")  # fmt: skip
@click.option(
    "-f",
    "--format",
    "fmt",
    default="oci",
    show_default=True,
    help="Format of the image manifest and metadata (oci or docker)",
)
@click.option("-q", "--quiet", is_flag=True, help="Suppress output")
@click.argument("ref")
@click.argument("image", required=False)
@click.pass_context
def commit_cmd(ctx: click.Context, message: str | None, author: str | None, changes: tuple[str, ...],
               fmt: str, quiet: bool, ref: str, image: str | None) -> None:  # fmt: skip
    """Create new image based on the changed container."""
    from podpy.engine import ctrfs

    def say(line: str) -> None:
        if not quiet:
            click.echo(line, err=True)

    iid = ctrfs.commit(_opts(ctx).paths, ref, image, message=message, author=author,
                       changes_=list(changes), fmt=fmt, progress=say)  # fmt: skip
    click.echo(iid)
