"""``podpy volume``: create, ls, inspect, rm, prune, exists, export, import (Podman 4.3's output)."""

from __future__ import annotations

import sys
from typing import Any

import click

from podpy.cli.main import paths_of as _paths
from podpy.util.errors import NotFoundError, PodpyError, UsageError

CTX = {"help_option_names": ["-h", "--help"]}
LS_HEADERS = {"Name": "VOLUME NAME", "Driver": "DRIVER", "Scope": "SCOPE", "Mountpoint": "MOUNTPOINT",
              "CreatedAt": "CREATED AT", "Labels": "LABELS", "Options": "OPTIONS", "MountCount": "MOUNT COUNT",
              "Anonymous": "ANONYMOUS", "NeedsCopyUp": "NEEDS COPY UP", "NeedsChown": "NEEDS CHOWN"}  # fmt: skip


@click.group("volume", context_settings=CTX)
def volume() -> None:
    """Manage volumes."""


@volume.command("create", context_settings=CTX)
@click.option("-d", "--driver", default="local", help="Specify volume driver name")
@click.option("-l", "--label", multiple=True, help="Set metadata for a volume (e.g., --label mykey=value)")
@click.option("-o", "--opt", "opts", multiple=True, help="Set driver specific options")
@click.option("--ignore", is_flag=True, help="Don't fail if volume already exists")
@click.argument("name", required=False)
@click.pass_context
def create_cmd(ctx: click.Context, driver: str, label: tuple[str, ...], opts: tuple[str, ...], ignore: bool,
               name: str | None) -> None:  # fmt: skip
    """Create a new volume."""
    from podpy.engine import volumes

    vol = volumes.create(_paths(ctx), name, driver=driver, labels=volumes.parse_labels(label),
                         options=volumes.parse_options(opts), ignore=ignore)  # fmt: skip
    click.echo(vol.name)


def _go_time_string(ns: int) -> str:
    """``time.Time.String()`` (what ``{{.CreatedAt}}`` prints), in local time."""
    import time

    secs, frac = divmod(ns, 1_000_000_000)
    lt = time.localtime(secs)
    off = lt.tm_gmtoff or 0
    sign = "+" if off >= 0 else "-"
    text = time.strftime("%Y-%m-%d %H:%M:%S", lt) + (f".{frac:09d}".rstrip("0") if frac else "")
    return f"{text} {sign}{abs(off) // 3600:02d}{abs(off) % 3600 // 60:02d} {lt.tm_zone}"


def _row(doc: dict[str, Any], created: int) -> Any:
    from podpy.cli.template import Record

    row = dict(doc)
    for k in ("Anonymous", "NeedsCopyUp", "NeedsChown"):
        row.setdefault(k, False)
    row["CreatedAt"] = _go_time_string(created)
    return Record(row, go_type="entities.VolumeListReport")


def _ls_json(docs: list[dict[str, Any]]) -> str:
    """podman's ``volume ls --format json`` (json-iterator's indent: an empty map is ``{`` blank ``}``)."""
    from podpy.cli.template import go_json

    text = go_json(docs, indent=2)
    out = []
    for line in text.split("\n"):
        if line.endswith("{}") and line.lstrip().startswith('"'):
            pad = line[: len(line) - len(line.lstrip())]
            out += [line[:-1], pad + "  ", pad + "}" + ""]
        elif line.endswith("{},") and line.lstrip().startswith('"'):
            pad = line[: len(line) - len(line.lstrip())]
            out += [line[:-2], pad + "  ", pad + "},"]
        else:
            out.append(line)
    return "\n".join(out)


@volume.command("ls", context_settings=CTX)
@click.option("-f", "--filter", "filters", multiple=True, help="Filter volume output")
@click.option("--format", "fmt", default=None, help="Format volume output using Go template")
@click.option("-n", "--noheading", is_flag=True, help="Do not print headers")
@click.option("-q", "--quiet", is_flag=True, help="Print volume output in quiet mode")
@click.pass_context
def ls_cmd(
    ctx: click.Context, filters: tuple[str, ...], fmt: str | None, noheading: bool, quiet: bool
) -> None:
    """List volumes."""
    from podpy.cli.template import is_json, render
    from podpy.engine import volumes

    paths = _paths(ctx)
    flt = volumes.parse_filters(filters)
    used = volumes.users(paths)
    vols = [v for v in volumes.list_volumes(paths) if volumes.matches(v, flt, used)]
    if quiet:
        for v in vols:
            click.echo(v.name)
        return
    docs = [volumes.inspect(paths, v) for v in vols]
    if fmt and is_json(fmt):
        click.echo(_ls_json([{**d, "Labels": d["Labels"], "Options": d["Options"]} for d in docs]))
        return
    rows = [_row(d, v.created) for d, v in zip(docs, vols, strict=True)]
    if fmt:
        sys.stdout.write(render(fmt, rows, headers=LS_HEADERS, noheading=noheading))
        return
    sys.stdout.write(render("{{range .}}{{.Driver}}\t{{.Name}}\n{{end -}}", rows, headers=LS_HEADERS, user=False,
                            noheading=noheading))  # fmt: skip


@volume.command("inspect", context_settings=CTX)
@click.option("-a", "--all", "all_", is_flag=True, help="Inspect all volumes")
@click.option("-f", "--format", "fmt", default=None, help="Format volume output using Go template")
@click.argument("names", nargs=-1)
@click.pass_context
def inspect_cmd(ctx: click.Context, all_: bool, fmt: str | None, names: tuple[str, ...]) -> None:
    """Display detailed information on one or more volumes."""
    from podpy.cli.template import go_json, is_json, render_one
    from podpy.engine import volumes

    if not names and not all_:
        raise UsageError("provide one or more volume names or use --all")
    if names and all_:
        raise UsageError("--all and volume names cannot be used together")
    paths = _paths(ctx)
    docs: list[tuple[dict[str, Any], int]] = []
    errors: list[str] = []
    for v in volumes.list_volumes(paths) if all_ else []:
        docs.append((volumes.inspect(paths, v), v.created))
    for n in names:
        try:
            v = volumes.get(paths, n)
        except NotFoundError:
            errors.append(f"no such volume {n}")
            continue
        docs.append((volumes.inspect(paths, v), v.created))
    if fmt and not is_json(fmt):
        for d, created in docs:
            sys.stdout.write(render_one(fmt, _row(d, created)))
    else:
        sys.stdout.write(go_json([d for d, _ in docs], indent=5) + "\n")
    if errors:
        for e in errors[:-1]:
            click.echo(f"Error: {e}", err=True)
        raise PodpyError(f"inspecting object: {errors[-1]}")


@volume.command("rm", context_settings=CTX)
@click.option("-a", "--all", "all_", is_flag=True, help="Remove all volumes")
@click.option(
    "-f", "--force", is_flag=True, help="Remove a volume by force, even if it is being used by a container"
)
@click.option(
    "-t",
    "--time",
    "timeout",
    type=int,
    default=None,
    help="Seconds to wait before forcibly stopping running containers that are using the specified volume",
)
@click.argument("names", nargs=-1)
@click.pass_context
def rm_cmd(ctx: click.Context, all_: bool, force: bool, timeout: int | None, names: tuple[str, ...]) -> None:  # fmt: skip
    """Remove one or more volumes."""
    from podpy.engine import volumes

    if bool(names) == bool(all_):
        raise UsageError("choose either one or more volumes or all")
    paths = _paths(ctx)
    code = 0
    if all_:
        used = volumes.users(paths)
        names = tuple(v.name for v in volumes.list_volumes(paths) if force or v.name not in used)
        for v in volumes.list_volumes(paths):
            if v.name in used and not force:
                click.echo(f"Error: volume {v.name} is being used by the following container(s): "
                           f"{', '.join(used[v.name])}: volume is being used", err=True)  # fmt: skip
                code = volumes.IN_USE_EXIT
    for n in names:
        try:
            click.echo(volumes.remove(paths, n, force=force, timeout=timeout))
        except PodpyError as e:
            click.echo(f"Error: {e.message}", err=True)
            code = e.exit_code
    if code:
        sys.exit(code)


@volume.command("prune", context_settings=CTX)
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation")
@click.option("--filter", "filters", multiple=True, help="Provide filter values (e.g. 'label=<key>=<value>')")
@click.pass_context
def prune_cmd(ctx: click.Context, force: bool, filters: tuple[str, ...]) -> None:
    """Remove all unused volumes."""
    from podpy.engine import volumes

    paths = _paths(ctx)
    flt = volumes.parse_filters(filters, prune=True)
    if not force:
        used = volumes.users(paths)
        names = [
            v.name
            for v in volumes.list_volumes(paths)
            if v.name not in used and volumes.matches(v, flt, used)
        ]
        click.echo("WARNING! This will remove all volumes not used by at least one container. "
                   "The following volumes will be removed:")  # fmt: skip
        if not names:
            click.echo("No dangling volumes found")
            return
        for n in names:
            click.echo(n)
        from podpy.cli.output import confirm

        if not confirm(""):
            return
    for name, _ in volumes.prune(paths, flt):
        click.echo(name)


@volume.command("exists", context_settings=CTX)
@click.argument("name")
@click.pass_context
def exists_cmd(ctx: click.Context, name: str) -> None:
    """Check if a volume exists (exit 0 if it does, 1 if not)."""
    from podpy.engine import volumes

    sys.exit(0 if volumes.exists(_paths(ctx), name) else 1)


@volume.command("export", context_settings=CTX)
@click.option(
    "-o",
    "--output",
    default=None,
    help="Write to a specified file (default: stdout, which must be redirected)",
)
@click.argument("name")
@click.pass_context
def export_cmd(ctx: click.Context, output: str | None, name: str) -> None:
    """Export volume contents to an external tar."""
    from podpy.engine import volumes

    paths = _paths(ctx)
    if output is None:
        if sys.stdout.isatty():
            raise UsageError("expected a file to write to (-o), or stdout redirected to a file or a pipe")
        sys.stdout.flush()
        volumes.export(paths, name, sys.stdout.buffer)
        return
    from podpy.util.fsutil import atomic_open

    volumes.get_for_transfer(paths, name)  # an unknown volume fails before the file is made
    with atomic_open(output, mode=0o644, fsync=False) as f:
        volumes.export(paths, name, f)


@volume.command("import", context_settings=CTX)
@click.argument("name")
@click.argument("source")
@click.pass_context
def import_cmd(ctx: click.Context, name: str, source: str) -> None:
    """Import a tarball (a file, or - for stdin) into a volume."""
    from podpy.engine import volumes

    paths = _paths(ctx)
    if source == "-":
        volumes.import_(paths, name, sys.stdin.buffer)
        return
    try:
        f = open(source, "rb")  # noqa: SIM115 - closed below
    except OSError as e:
        raise PodpyError(f"open {source}: {(e.strerror or str(e)).lower()}") from None
    with f:
        volumes.import_(paths, name, f)


volume.add_command(ls_cmd, "list")  # podman's aliases
volume.add_command(rm_cmd, "remove")
