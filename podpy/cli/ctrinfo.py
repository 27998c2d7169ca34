"""Container information commands: rename, top, port, stats, pause, unpause (Podman 4.3 shapes)."""

from __future__ import annotations

import sys
import time
from typing import Any

import click

from podpy.cli.main import options_of as _opts
from podpy.util.errors import NotFoundError, UsageError

CTX = {"help_option_names": ["-h", "--help"]}


@click.command("rename", context_settings=CTX)
@click.argument("container")
@click.argument("name")
@click.pass_context
def rename_cmd(ctx: click.Context, container: str, name: str) -> None:
    """Rename an existing container."""
    from podpy.engine import ctrinfo

    ctrinfo.rename(_opts(ctx).paths, container, name)


@click.command("top", context_settings=CTX)
@click.option("-l", "--latest", is_flag=True, help="Act on the latest container podman is aware of")
@click.argument("container", required=False)
@click.argument("descriptors", nargs=-1)
@click.pass_context
def top_cmd(ctx: click.Context, latest: bool, container: str | None, descriptors: tuple[str, ...]) -> None:
    """Display the running processes of a container."""
    from podpy.cli.output import tabwrite
    from podpy.engine import containers, ctrinfo

    paths = _opts(ctx).paths
    if latest:
        if container is not None:
            descriptors = (container, *descriptors)
        recs = containers.list_containers(containers.open_state(paths), paths)
        if not recs:
            raise UsageError("no containers to get top of: no such container")
        container = recs[0].id
    if container is None:
        raise UsageError("you must provide the name or id of a running container")
    try:
        rows = ctrinfo.top(paths, container, list(descriptors))
    except NotFoundError as e:
        raise NotFoundError(f"unable to look up requested container: {e.message}") from e
    sys.stdout.write(tabwrite("".join("\t".join(r) + "\n" for r in rows)))


@click.command("port", context_settings=CTX)
@click.option("-a", "--all", "all_", is_flag=True, help="Display port information for all containers")
@click.option("-l", "--latest", is_flag=True, help="Act on the latest container podman is aware of")
@click.argument("container", required=False)
@click.argument("port", required=False)
@click.pass_context
def port_cmd(ctx: click.Context, all_: bool, latest: bool, container: str | None, port: str | None) -> None:
    """List port mappings or a specific mapping for the container."""
    from podpy.engine import containers, ctrinfo

    paths = _opts(ctx).paths
    if (all_ or latest) and container is not None and port is None and not container[0].isdigit():
        raise UsageError("the --all and --latest options cannot be used together with a container")
    if all_ and latest:
        raise UsageError("--all and --latest cannot be used together")
    if not (all_ or latest or container):
        raise UsageError("you must supply a running container name or id")
    st = containers.open_state(paths)
    if all_ or latest:
        if container is not None:
            port = container  # `port -a 80/tcp`: the argument is the port
        recs = containers.list_containers(st, paths)
        recs = recs[:1] if latest else recs
    else:
        assert container is not None
        recs = [containers.get(st, paths, container)]
    for rec in recs:
        lines = ctrinfo.ports(rec)
        if port is not None:
            want = port if "/" in port else port + "/tcp"
            lines = [ln.split(" -> ", 1)[1] for ln in lines if ln.startswith(want + " ")]
        if all_ and lines:
            click.echo(rec.id[:12])
        for ln in lines:
            click.echo(ln)


def _pause_like(unpause: bool) -> click.Command:
    verb = "unpause" if unpause else "pause"

    @click.command(verb, context_settings=CTX)
    @click.option("-a", "--all", "all_", is_flag=True, help=f"{verb.capitalize()} all containers")
    @click.option("--cidfile", multiple=True, help="Read the container ID from the file")
    @click.option("-f", "--filter", "filters", multiple=True, help="Filter output based on conditions given")
    @click.option("-l", "--latest", is_flag=True, help="Act on the latest container podman is aware of")
    @click.argument("containers", nargs=-1)
    @click.pass_context
    def cmd(ctx: click.Context, all_: bool, cidfile: tuple[str, ...], filters: tuple[str, ...], latest: bool,
            containers: tuple[str, ...]) -> None:  # fmt: skip
        from podpy.cli.lifecycle import _each, _targets, _with_cidfiles
        from podpy.engine import ctrinfo

        if filters:
            raise UsageError(f"--filter is not supported by podpy {verb}: name the containers")
        paths = _opts(ctx).paths
        refs = _targets(ctx, _with_cidfiles(cidfile, containers), all_, latest)

        def act(ref: str) -> str:
            ctrinfo.pause(paths, ref, unpause=unpause)
            return ref

        _each(refs, act)

    cmd.help = ("Unpause" if unpause else "Pause") + " all the processes in one or more containers"
    return cmd


pause_cmd = _pause_like(False)
unpause_cmd = _pause_like(True)


_STATS_FORMAT = (
    "{{range .}}{{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}"
    "\t{{.PIDs}}\t{{.CPUTime}}\t{{.AvgCPU}}\n{{end -}}"
)
_STATS_HEADERS = {"ID": "ID", "Name": "NAME", "CPUPerc": "CPU %", "MemUsage": "MEM USAGE / LIMIT",
                  "MemPerc": "MEM %", "NetIO": "NET IO", "BlockIO": "BLOCK IO", "PIDs": "PIDS",
                  "CPUTime": "CPU TIME", "AvgCPU": "AVG CPU %", "ContainerID": "ID", "UpTime": "UPTIME"}  # fmt: skip


def _stats_row(s: Any) -> dict[str, Any]:
    """podman's stats reporter fields (human units as ``podman stats`` prints them)."""
    from podpy.cli.output import human_size
    from podpy.engine.ctrinfo import go_duration

    def size(n: int) -> str:
        return human_size(n).replace(" ", "")

    return {
        "ID": s.ID, "ContainerID": s.ContainerID, "Name": s.Name,
        "CPUPerc": f"{s.CPU:.2f}%", "AvgCPU": f"{s.AvgCPU:.2f}%", "CPU": s.CPU,
        "MemUsage": f"{size(s.MemUsage)} / {size(s.MemLimit)}", "MemPerc": f"{s.MemPerc:.2f}%",
        "NetIO": f"{size(s.NetInput)} / {size(s.NetOutput)}",
        "BlockIO": f"{size(s.BlockInput)} / {size(s.BlockOutput)}", "PIDs": str(s.PIDs),
        "CPUTime": go_duration(s.CPUNano // 1_000_000 / 1000), "UpTime": go_duration(s.UpTime / 1e9),
        "CPUNano": s.CPUNano, "SystemNano": s.SystemNano, "MemLimit": s.MemLimit,
    }  # fmt: skip


@click.command("stats", context_settings=CTX)
@click.option(
    "-a",
    "--all",
    "all_",
    is_flag=True,
    help="Show all containers. Only running containers are shown by default",
)
@click.option(
    "--format", "fmt", default=None, help="Pretty-print container statistics to JSON or using a Go template"
)
@click.option("-i", "--interval", type=int, default=5, help="Time in seconds between stats reports")
@click.option("-l", "--latest", is_flag=True, help="Act on the latest container podman is aware of")
@click.option("--no-reset", is_flag=True, help="Disable resetting the screen between intervals")
@click.option("--no-stream", is_flag=True, help="Disable streaming stats and only pull the first result")
@click.argument("containers", nargs=-1)
@click.pass_context
def stats_cmd(ctx: click.Context, all_: bool, fmt: str | None, interval: int, latest: bool, no_reset: bool,
              no_stream: bool, containers: tuple[str, ...]) -> None:  # fmt: skip
    """Display a live stream of container resource usage statistics (from /proc: no cgroups needed)."""
    from podpy.cli import template
    from podpy.engine import ctrinfo

    if interval < 1:
        raise UsageError("stats interval cannot be less than 1 second")
    if (all_ or latest) and containers:
        raise UsageError("--all, --latest and containers cannot be used together")
    paths = _opts(ctx).paths
    recs = ctrinfo.stats_targets(paths, list(containers), all_, latest)
    prev: dict[str, Any] = {}
    try:
        while True:
            samples = [ctrinfo.sample(r, prev.get(r.id)) for r in recs]
            prev = {s.ContainerID: s for s in samples}
            rows = [_stats_row(s) for s in samples]
            if fmt and template.is_json(fmt):
                from podpy.cli.output import print_json

                text = ""
                if not no_stream and not no_reset:
                    sys.stdout.write("\033[2J\033[0;0H")
                print_json(rows)
            else:
                if fmt:
                    text = template.render(fmt, rows, name="stats", headers=_STATS_HEADERS)
                else:
                    text = template.render(
                        _STATS_FORMAT, rows, name="stats", headers=_STATS_HEADERS, user=False
                    )
                if not no_stream and not no_reset:
                    text = "\033[2J\033[0;0H" + text  # podman clears the screen between reports
                sys.stdout.write(text)
            sys.stdout.flush()
            if no_stream:
                return
            time.sleep(interval)
            recs = ctrinfo.refresh_records(paths, recs) if containers else ctrinfo.stats_targets(
                paths, [], all_, latest)  # fmt: skip
    except KeyboardInterrupt:
        sys.exit(0)
