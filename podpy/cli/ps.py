"""``podpy ps`` / ``podpy container ls`` (click); the listing itself is in ``podpy.cli.psview``."""

from __future__ import annotations

import sys

import click

from podpy.cli.main import options_of as _opts
from podpy.cli.psview import (  # noqa: F401 - re-exported for lifecycle and tests
    HEADERS,
    PsRow,
    list_for_ps,
    match,
    parse_filters,
    ps_text,
    status_text,
)
from podpy.util.errors import UsageError


@click.command("ps", context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-a", "--all", "all_", is_flag=True, help="Show all the containers, default is only running containers"
)
@click.option("-f", "--filter", "filters", multiple=True, help="Filter output based on conditions given")
@click.option("--format", "fmt", default=None, help="Pretty-print containers to JSON or using a Go template")
@click.option("-n", "--last", type=int, default=-1, help="Print the n last created containers (all states)")
@click.option("-l", "--latest", is_flag=True, help="Act on the latest container podman is aware of")
@click.option("--noheading", is_flag=True, help="Do not print headers")
@click.option("--no-trunc", is_flag=True, help="Display the extended information")
@click.option("-p", "--pod", is_flag=True, help="Print the ID and name of the pod the containers are associated with")
@click.option("-q", "--quiet", is_flag=True, help="Print the numeric IDs of the containers only")
@click.option("-s", "--size", is_flag=True, help="Display the total file sizes")
@click.option(
    "--sort", default="created", help="Sort output by: command, created, id, image, names, runningfor, status"
)
@click.pass_context
def ps_cmd(ctx: click.Context, all_: bool, filters: tuple[str, ...], fmt: str | None, last: int, latest: bool,
           noheading: bool, no_trunc: bool, quiet: bool, size: bool, sort: str, pod: bool = False) -> None:  # fmt: skip
    """List containers."""
    sorts = {"command": lambda r: " ".join(r.config.get("args") or []), "created": lambda r: -r.created,
             "id": lambda r: r.id, "image": lambda r: r.image_name, "names": lambda r: r.name,
             "runningfor": lambda r: -r.created, "status": lambda r: r.state}  # fmt: skip
    if sort not in sorts:
        raise UsageError(f"invalid option for --sort, options are: {', '.join(sorts)}")
    pod_refs = [f[4:] for f in filters if f.startswith("pod=")]  # pods: podpy.engine.pods, podpy.cli.pod
    flt = parse_filters([f for f in filters if not f.startswith("pod=")])
    if latest and last >= 0:
        raise UsageError("--last and --latest cannot be used together")
    paths = _opts(ctx).paths
    recs = list_for_ps(paths, all_=all_, latest=latest, last=last, flt=flt)
    recs = sorted(recs, key=sorts[sort])
    if pod_refs:
        from podpy.engine.pods import in_pods

        recs = in_pods(paths, recs, pod_refs)
    sizes = None
    if size and not quiet:
        from podpy.engine import containers

        sizes = {r.id: containers.sizes(paths, r) for r in recs}
    if pod and fmt is None and not quiet:
        from podpy.cli.pod import ps_with_pods

        sys.stdout.write(ps_with_pods(paths, recs, no_trunc=no_trunc, noheading=noheading, sizes=sizes))
        return
    pod_names = None
    if fmt is not None and any((r.config.get("spec") or {}).get("pod") for r in recs):
        from podpy.engine.pods import pod_names as names_of_pods

        pod_names = names_of_pods(paths)
    sys.stdout.write(ps_text(recs, fmt=fmt, quiet=quiet, no_trunc=no_trunc, noheading=noheading, sizes=sizes,
                             pod_names=pod_names))  # fmt: skip
