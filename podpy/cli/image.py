"""Image commands: ``images``, ``pull``, ``tag``, ``untag``, ``rmi``, ``history`` and the ``image`` group.

Flags, columns, messages and exit codes follow Podman 4.3 (``podman images`` etc.); the engine
does the work, this module only parses flags and formats.
"""

from __future__ import annotations

import datetime as _dt
import re
import sys
from typing import Any

import click

from podpy.cli.main import LazyGroup
from podpy.cli.main import options_of as _opts
from podpy.cli.output import SORT_FIELDS, confirm
from podpy.util.errors import EXIT_PODPY, PodpyError, UsageError

# ---------------------------------------------------------------------------------------------
# helpers


def _human_size(n: int) -> str:
    from podpy.cli.output import human_size

    return human_size(n)


def _ago(t: _dt.datetime | None) -> str:
    from podpy.cli.output import human_ago

    return human_ago(t)


def parse_duration(value: str | None) -> float | None:
    """Go durations as podman takes them (``2s``, ``500ms``, ``1m30s``); a bare number is seconds."""
    if value is None or value == "":
        return None
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    total = 0.0
    pos = 0
    for m in re.finditer(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", value):
        if m.start() != pos:
            break
        total += float(m.group(1)) * units[m.group(2)]
        pos = m.end()
    if pos != len(value):
        raise UsageError(f'time: invalid duration "{value}"')
    return total


class _BoolText(click.ParamType):
    """Podman's ``--flag=false`` booleans (``--tls-verify``, ``--human``)."""

    name = "bool"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> bool:
        if isinstance(value, bool):
            return value
        v = str(value).strip().lower()
        if v.startswith("="):  # ``-H=false``: pflag's short-option form, which click passes as "=false"
            v = v[1:]
        if v in ("1", "t", "true", "yes", "y", "on"):
            return True
        if v in ("0", "f", "false", "no", "n", "off"):
            return False
        self.fail(
            f'invalid argument "{value}": strconv.ParseBool: parsing "{value}": invalid syntax', param, ctx
        )


BOOL = _BoolText()


# ---------------------------------------------------------------------------------------------
# images


def _images_options(f: Any) -> Any:
    opts = [
        click.option(
            "-a", "--all", "all_", is_flag=True, help="Show all images (default hides intermediate images)"
        ),
        click.option(
            "-f", "--filter", "filters", multiple=True, help="Filter output based on conditions provided"
        ),
        click.option(
            "--format", "fmt", default=None, help="Change the output format to JSON or a Go template"
        ),
        click.option("--digests", is_flag=True, help="Show digests"),
        click.option("-n", "--noheading", is_flag=True, help="Do not print column headings"),
        click.option("--no-trunc", is_flag=True, help="Do not truncate output"),
        click.option("-q", "--quiet", is_flag=True, help="Display only image IDs"),
        click.option(
            "--sort", default="created", show_default=True, help="Sort by " + ", ".join(SORT_FIELDS)
        ),
        click.option("--history", is_flag=True, help="Display the image name history"),
        click.argument("image", required=False),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def _images(
    ctx: click.Context,
    all_: bool,
    filters: tuple[str, ...],
    fmt: str | None,
    digests: bool,
    noheading: bool,
    no_trunc: bool,
    quiet: bool,
    sort: str,
    history: bool,
    image: str | None,
) -> None:
    from podpy.cli.output import images_text
    from podpy.engine import images as eng

    if filters and image:
        raise UsageError("cannot specify an image and a filter(s)")
    flt = list(filters)
    if image:
        flt.append("reference=" + image)
    if sort not in SORT_FIELDS:
        # podman prints the same fields in Go map order (random); sorted here
        raise UsageError(f'"{sort}" is not a valid field for sorting. Choose from: {", ".join(SORT_FIELDS)}')
    summaries = eng.list_images(_opts(ctx).paths, flt, all_=all_)
    sys.stdout.write(
        images_text(
            summaries,
            fmt=fmt,
            quiet=quiet,
            digests=digests,
            no_trunc=no_trunc,
            noheading=noheading,
            history=history,
            sort=sort,
        )
    )


@click.command("images", context_settings={"help_option_names": ["-h", "--help"]})
@_images_options
@click.pass_context
def images_cmd(ctx: click.Context, **kw: Any) -> None:
    """List images in local storage."""
    _images(ctx, **kw)


@click.command("list", context_settings={"help_option_names": ["-h", "--help"]})
@_images_options
@click.pass_context
def image_list_cmd(ctx: click.Context, **kw: Any) -> None:
    """List images in local storage."""
    _images(ctx, **kw)


# ---------------------------------------------------------------------------------------------
# pull


@click.command("pull", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-a", "--all-tags", is_flag=True, help="All tagged images in the repository will be pulled")
@click.option(
    "--arch", default=None, help="Use ARCH instead of the architecture of the machine for choosing images"
)
@click.option("--os", "os_", default=None, help="Use OS instead of the running OS for choosing images")
@click.option("--variant", default=None, help="Use VARIANT instead of the running architecture variant")
@click.option(
    "--platform", default=None, help="Specify the platform for selecting the image (os/arch[/variant])"
)
@click.option("--authfile", default=None, help="Path of the authentication file")
@click.option(
    "--creds", default=None, help="Credentials (USERNAME:PASSWORD) to use for authenticating to a registry"
)
@click.option(
    "--tls-verify",
    type=BOOL,
    default=None,
    is_flag=False,
    flag_value="true",
    help="Require HTTPS and verify certificates when contacting registries",
)
@click.option("-q", "--quiet", is_flag=True, help="Suppress output information when pulling images")
@click.option(
    "--retry", type=int, default=None, help="Number of times to retry in case of failure when performing pull"
)
@click.option("--retry-delay", default=None, help="Delay between retries in case of pull failures")
@click.argument("names", nargs=-1, required=True)
@click.pass_context
def pull_cmd(
    ctx: click.Context,
    all_tags: bool,
    arch: str | None,
    os_: str | None,
    variant: str | None,
    platform: str | None,
    authfile: str | None,
    creds: str | None,
    tls_verify: bool | None,
    quiet: bool,
    retry: int | None,
    retry_delay: str | None,
    names: tuple[str, ...],
) -> None:
    """Pull an image from a registry."""
    from podpy.cli.output import pull_reporter
    from podpy.engine.images import pull
    from podpy.spec.platform import platform_from_flags

    if retry is not None and retry < 0:
        raise UsageError("--retry must not be negative")
    plat = platform_from_flags(platform, os_, arch, variant)
    delay = parse_duration(retry_delay)
    paths = _opts(ctx).paths
    for name in names:
        reporter = pull_reporter(quiet)
        ids = pull(
            paths,
            name,
            platform=plat,
            tls_verify=tls_verify,
            authfile=authfile,
            creds=creds,
            retry=retry,
            retry_delay=delay,
            all_tags=all_tags,
            progress=reporter,
        )
        for i in ids:
            click.echo(i)


# ---------------------------------------------------------------------------------------------
# tag, untag


@click.command("tag", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("args", nargs=-1)
@click.pass_context
def tag_cmd(ctx: click.Context, args: tuple[str, ...]) -> None:
    """Add an additional name to a local image."""
    from podpy.engine.images import tag

    if len(args) < 2:
        raise UsageError(f"requires at least 2 arg(s), only received {len(args)}")
    tag(_opts(ctx).paths, args[0], args[1:])


@click.command("untag", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("args", nargs=-1)
@click.pass_context
def untag_cmd(ctx: click.Context, args: tuple[str, ...]) -> None:
    """Remove names from a local image."""
    from podpy.engine.images import untag

    if not args:
        raise UsageError("requires at least 1 arg(s), only received 0")
    untag(_opts(ctx).paths, args[0], args[1:])


# ---------------------------------------------------------------------------------------------
# rmi, prune, exists


def _rmi(ctx: click.Context, images: tuple[str, ...], force: bool, all_: bool, ignore: bool) -> None:
    from podpy.engine.images import EXIT_NO_SUCH_IMAGE, remove

    rep = remove(_opts(ctx).paths, list(images), force=force, all_=all_)
    for n in rep.untagged:
        click.echo(f"Untagged: {n}")
    for i in rep.deleted:
        click.echo(f"Deleted: {i}")
    errors = rep.errors
    code = rep.exit_code
    if ignore:
        errors = [
            e for e in errors if e.exit_code != EXIT_NO_SUCH_IMAGE and "image not known" not in e.message
        ]
        if not errors:
            code = 0
    if len(errors) == 1:
        raise PodpyError(errors[0].message, exit_code=code or EXIT_PODPY)
    if errors:  # podman's multierror text
        lines = "".join(f"\n\t* {e.message}" for e in errors)
        raise PodpyError(f"{len(errors)} errors occurred:{lines}", exit_code=code or EXIT_PODPY)


def _rmi_options(f: Any) -> Any:
    for o in reversed(
        [
            click.option("-a", "--all", "all_", is_flag=True, help="Remove all images"),
            click.option("-f", "--force", is_flag=True, help="Force Removal of the image"),
            click.option(
                "-i", "--ignore", is_flag=True, help="Ignore errors if a specified image does not exist"
            ),
            click.argument("images", nargs=-1),
        ]
    ):
        f = o(f)
    return f


@click.command("rmi", context_settings={"help_option_names": ["-h", "--help"]})
@_rmi_options
@click.pass_context
def rmi_cmd(ctx: click.Context, images: tuple[str, ...], all_: bool, force: bool, ignore: bool) -> None:
    """Remove one or more images from local storage."""
    _rmi(ctx, images, force, all_, ignore)


@click.command("rm", context_settings={"help_option_names": ["-h", "--help"]})
@_rmi_options
@click.pass_context
def image_rm_cmd(ctx: click.Context, images: tuple[str, ...], all_: bool, force: bool, ignore: bool) -> None:
    """Remove one or more images from local storage."""
    _rmi(ctx, images, force, all_, ignore)


@click.command("prune", context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-a",
    "--all",
    "all_",
    is_flag=True,
    help="Remove all images not in use by containers, not just dangling ones",
)
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation")
@click.option("--filter", "filters", multiple=True, help="Provide filter values (e.g. 'label=<key>=<value>')")
@click.pass_context
def image_prune_cmd(ctx: click.Context, all_: bool, force: bool, filters: tuple[str, ...]) -> None:
    """Remove unused images."""
    from podpy.engine.images import prune

    if not force:
        what = (
            "all images without at least one container associated with them"
            if all_
            else "all dangling images"
        )
        if not confirm(f"WARNING! This command removes {what}.\n"):
            return
    for i in prune(_opts(ctx).paths, all_=all_, filters=list(filters)):
        click.echo(i)


@click.command("exists", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("image")
@click.pass_context
def image_exists_cmd(ctx: click.Context, image: str) -> None:
    """Check if an image exists in local storage (exit 0 if it does, 1 if not)."""
    from podpy.engine.images import exists

    if not exists(_opts(ctx).paths, image):
        ctx.exit(1)


# ---------------------------------------------------------------------------------------------
# history

HISTORY_HEADERS = {
    "ID": "ID",
    "Created": "CREATED",
    "CreatedAt": "CREATED AT",
    "CreatedSince": "CREATED",
    "CreatedBy": "CREATED BY",
    "Size": "SIZE",
    "Comment": "COMMENT",
    "Tags": "TAGS",
}


class HistoryRowView:
    go_type = "images.historyReporter"

    def __init__(self, row: Any, no_trunc: bool, human: bool) -> None:
        self._r = row
        self._no_trunc = no_trunc
        self._human = human
        self.Comment = row.comment
        self.Tags = list(row.tags)

    def ID(self) -> str:  # noqa: N802
        i = self._r.id
        return i if self._no_trunc or len(i) < 12 else i[:12]

    def Created(self) -> str:  # noqa: N802
        if self._human:
            return _ago(self._r.created)
        from podpy.engine.images import rfc3339

        return rfc3339(self._r.created, nano=False)

    def CreatedSince(self) -> str:  # noqa: N802
        return self.Created()

    def CreatedAt(self) -> str:  # noqa: N802
        from podpy.engine.images import rfc3339

        return rfc3339(self._r.created, nano=False)

    def CreatedBy(self) -> str:  # noqa: N802
        s = self._r.created_by
        if not self._no_trunc and len(s) > 45:
            s = s[:42] + "..."
        return s

    def Size(self) -> str:  # noqa: N802
        return _human_size(self._r.size)


@click.command("history", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--format", "fmt", default=None, help="Change the output to JSON or a Go template")
@click.option(
    "-H",
    "--human",
    type=BOOL,
    default=True,
    is_flag=False,
    flag_value="true",
    help="Display sizes and dates in human readable format",
)
@click.option("--no-trunc", "--notruncate", "no_trunc", is_flag=True, help="Do not truncate the output")
@click.option("-q", "--quiet", is_flag=True, help="Display the numeric IDs only")
@click.argument("image")
@click.pass_context
def history_cmd(
    ctx: click.Context, fmt: str | None, human: bool, no_trunc: bool, quiet: bool, image: str
) -> None:
    """Show history of a specified image."""
    from podpy.cli.template import go_json, is_json, render
    from podpy.engine.images import history

    rows = history(_opts(ctx).paths, image)
    views = [HistoryRowView(r, no_trunc, human) for r in rows]
    if fmt is not None and is_json(fmt):
        click.echo(go_json([r.to_json() for r in rows], escape_html=True))
        return
    if quiet:
        for v in views:
            click.echo(v.ID())
        return
    if fmt is not None:
        sys.stdout.write(
            render(fmt, views, name="history", headers=HISTORY_HEADERS, noheading=not fmt.startswith("table"))
        )
        return
    default = "{{range .}}{{.ID}}\t{{.Created}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}\n{{end -}}"
    sys.stdout.write(render(default, views, name="history", headers=HISTORY_HEADERS, user=False))


# ---------------------------------------------------------------------------------------------
# the ``image`` group

_TRANSFER = {
    "save": ("podpy.cli.transfer", "save_cmd", "Save image(s) to an archive"),
    "load": ("podpy.cli.transfer", "load_cmd", "Load image(s) from a tar archive"),
    "import": ("podpy.cli.transfer", "import_cmd", "Import a tarball to create a filesystem image"),
    "push": ("podpy.cli.transfer", "push_cmd", "Push an image to a specified destination"),
    "build": ("podpy.cli.build", "build_cmd", "Build an image using instructions from Containerfiles"),
}


@click.group(
    "image", cls=LazyGroup, commands_table=_TRANSFER, context_settings={"help_option_names": ["-h", "--help"]}
)
def image() -> None:
    """Manage images."""


def _inspect_sub() -> click.Command:
    from podpy.cli.inspect import image_inspect_cmd

    return image_inspect_cmd


image.add_command(image_list_cmd, "list")
image.add_command(image_list_cmd, "ls")
image.add_command(pull_cmd, "pull")
image.add_command(tag_cmd, "tag")
image.add_command(untag_cmd, "untag")
image.add_command(image_rm_cmd, "rm")
image.add_command(image_prune_cmd, "prune")
image.add_command(image_exists_cmd, "exists")
image.add_command(history_cmd, "history")
image.add_command(_inspect_sub(), "inspect")
