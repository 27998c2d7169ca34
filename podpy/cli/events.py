"""``podpy events``: print (and by default follow) the state DB's event log, as ``podman events``."""

from __future__ import annotations

import sys

import click

from podpy.cli.main import options_of as _opts

CTX = {"help_option_names": ["-h", "--help"]}


@click.command("events", context_settings=CTX)
@click.option("-f", "--filter", "filters", multiple=True,
              help="filter output (container=, event=, image=, label=, type=)")  # fmt: skip
@click.option("--format", "fmt", default=None, help="format the output using a Go template or json")
@click.option("--no-trunc", type=click.BOOL, default=True, help="do not truncate the output")
@click.option("--since", default=None, help="show all events created since timestamp")
@click.option("--stream", type=click.BOOL, default=True, show_default=True,
              help="stream events and do not exit when returning the last known event")  # fmt: skip
@click.option("--until", default=None, help="show all events until timestamp")
@click.pass_context
def events_cmd(ctx: click.Context, filters: tuple[str, ...], fmt: str | None, no_trunc: bool,
               since: str | None, stream: bool, until: str | None) -> None:  # fmt: skip
    """Show podpy events."""
    from podpy.cli import template
    from podpy.engine import events

    flt = events.parse_filters(filters)
    since_ns = events.parse_when(since, "--since") if since else None
    until_ns = events.parse_when(until, "--until") if until else None
    tmpl = None
    if fmt and not template.is_json(fmt):
        tmpl = template.Template(template.normalize_format(fmt), name="events")
    out = sys.stdout
    try:
        for v in events.follow(_opts(ctx).paths, flt, since_ns, until_ns, stream):
            if not no_trunc:
                v.ID = v.ID[:12]
            if fmt and template.is_json(fmt):
                out.write(template.go_json(v.to_json()) + "\n")
            elif tmpl is not None:
                out.write(tmpl.execute(v))
            else:
                out.write(v.line() + "\n")
            out.flush()
    except KeyboardInterrupt:
        sys.exit(0)
    except BrokenPipeError:
        sys.exit(0)
