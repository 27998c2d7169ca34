"""``podpy pod ...``: Podman's pod commands (create, ps/ls/list, start, stop, restart, kill, rm, inspect,
exists, prune, top, logs); the pods themselves are ``podpy.engine.pods``.

Output follows Podman 4.3: commands acting on pods print each pod's full ID; ``pod ps`` has Podman's
columns, ``--format`` fields and filters; ``pod inspect`` prints one document (a list for several).
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import time
from collections.abc import Callable
from typing import Any

import click

from podpy.cli.lifecycle import _each
from podpy.cli.main import paths_of as _paths
from podpy.util.errors import NotFoundError, PodpyError, UsageError
from podpy.util.gotime import rfc3339_utc

CTX = {"help_option_names": ["-h", "--help"]}


@click.group("pod", context_settings=CTX)
def pod_group() -> None:
    """Manage pods."""


@pod_group.command("create", context_settings=CTX)
@click.option("--name", default="", help="Assign a name to the pod")
@click.option("-p", "--publish", multiple=True, help="Publish a container's port, or a range of ports, to the host")
@click.option("--share", default=None, help="A comma delimited list of kernel namespaces the pod will share")
@click.option("--infra", type=click.BOOL, default=True, help="Create an infra container associated with the pod to share namespaces with")
@click.option("--infra-name", default="", help="The name used as infra container name")
@click.option("--hostname", default="", help="Set a hostname to the pod")
@click.option("-l", "--label", multiple=True, help="Set metadata on pod (default [])")
@click.option("--network", "--net", "network", default="", help="Connect a container to a network")
@click.option("--add-host", multiple=True, help="Add a custom host-to-IP mapping (host:ip)")
@click.option("--dns", multiple=True, help="Set custom DNS servers")
@click.option("--pod-id-file", default=None, help="Write the pod ID to the file")
@click.option("--replace", is_flag=True, help="If a pod with the same name exists, replace it")
@click.argument("name_arg", required=False)
@click.pass_context
def create_cmd(ctx: click.Context, name: str, publish: tuple[str, ...], share: str | None, infra: bool,
               infra_name: str, hostname: str, label: tuple[str, ...], network: str, add_host: tuple[str, ...],
               dns: tuple[str, ...], pod_id_file: str | None, replace: bool, name_arg: str | None) -> None:  # fmt: skip
    """Create a new empty pod."""
    from podpy.engine import pods
    from podpy.engine.volumes import parse_labels
    from podpy.network import options
    from podpy.spec.container import _HOSTNAME

    if name_arg and name:
        raise UsageError("cannot specify --name and NAME at the same time")
    if hostname and not _HOSTNAME.match(hostname):
        raise UsageError(f"invalid hostname {hostname!r}")
    if network:
        mode = options.parse_network(network)
        if mode.kind == "container":
            raise UsageError("cannot use --network container: with a pod: its infra container holds the network")
    ports = [m for p in publish for m in options.parse_publish(p)]
    options.expand_ports(ports)  # a host port given twice fails here
    options.parse_add_host(list(add_host))
    if not infra and share is not None and pods.parse_share(share):
        raise UsageError("you must have an infra container to share namespaces (drop --infra=false or --share)")
    opts = pods.PodOptions(
        name=name or name_arg or "", ports=ports, infra=infra, infra_name=infra_name, hostname=hostname,
        share=pods.parse_share(share) if share is not None else list(pods.DEFAULT_SHARE),
        labels=parse_labels(label), network=network, add_hosts=list(add_host),
        dns=options.parse_dns(list(dns)) if dns else [], create_command=["podpy", *sys.argv[1:]],
    )  # fmt: skip
    if pod_id_file and os.path.exists(pod_id_file):
        raise PodpyError(f"pod id file exists. Ensure another pod is not using it or delete {pod_id_file}")
    if pod_id_file and not os.path.isdir(os.path.dirname(os.path.abspath(pod_id_file))):
        raise UsageError(f"--pod-id-file {pod_id_file}: its directory does not exist")  # before the pod exists
    if replace:
        if not opts.name:
            raise UsageError("cannot replace a pod without --name being set")
        with contextlib.suppress(NotFoundError):
            pods.remove(_paths(ctx), opts.name, force=True, timeout=0)
    pod = pods.create(_paths(ctx), opts)
    if pod_id_file:
        from podpy.util.fsutil import atomic_write

        atomic_write(pod_id_file, pod.id, fsync=False)
    click.echo(pod.id)



# --- pod ps --------------------------------------------------------------------------------------------

PS_HEADERS = {"ID": "POD ID", "Name": "NAME", "Status": "STATUS", "Labels": "LABELS",
              "NumberOfContainers": "# OF CONTAINERS", "Created": "CREATED", "InfraID": "INFRA ID",
              "ContainerIds": "IDS", "ContainerNames": "NAMES", "ContainerStatuses": "STATUS", "Cgroup": "CGROUP",
              "Networks": "NETWORKS", "Namespace": "NAMESPACE"}  # fmt: skip
FILTERS = ("id", "name", "label", "status", "ctr-names", "ctr-ids", "ctr-status", "ctr-number")


class PodRow:
    """One row of ``podman pod ps`` (its ``ListPodReporter``): fields and Go-style methods."""

    go_type = "pods.ListPodReporter"

    def __init__(self, pod: Any, ctrs: list[Any], no_trunc: bool, now: float) -> None:
        from podpy.engine import pods

        self._p, self._c, self._no_trunc, self._now = pod, ctrs, no_trunc, now
        self.Name = pod.name
        self.Status = pods.status(ctrs)
        self.Labels = dict(pod.labels)
        self.NumberOfContainers = len(ctrs)
        self.Networks = ",".join(pod.config.get("networks") or [])
        self.Namespace = ""
        self.Cgroup = ""
        self.ContainerNames = ",".join(c.name for c in ctrs)
        self.ContainerStatuses = ",".join(c.state for c in ctrs)

    def _id(self, i: str) -> str:
        return i if self._no_trunc else i[:12]

    def ID(self) -> str:  # noqa: N802 - Go method names are the template fields
        return self._id(self._p.id)

    def Id(self) -> str:  # noqa: N802
        return self.ID()

    def InfraID(self) -> str:  # noqa: N802
        return self._id(self._p.infra_id)

    def InfraId(self) -> str:  # noqa: N802
        return self.InfraID()

    def ContainerIds(self) -> str:  # noqa: N802
        return ",".join(self._id(c.id) for c in self._c)

    def Created(self) -> str:  # noqa: N802
        from podpy.cli.output import human_duration

        return human_duration(max(0.0, self._now - self._p.created / 1e9)) + " ago"

    def to_json(self) -> dict[str, Any]:
        p = self._p
        return {"Cgroup": "", "Containers": [{"Id": c.id, "Names": c.name, "Status": c.state} for c in self._c],
                "Created": rfc3339_utc(p.created), "Id": p.id, "InfraId": p.infra_id, "Name": p.name,
                "Namespace": "", "Networks": list(p.config.get("networks") or []), "Status": self.Status, "Labels": dict(p.labels)}  # fmt: skip


def parse_filters(filters: tuple[str, ...]) -> dict[str, list[str]]:
    from podpy.cli.filters import key_values
    from podpy.engine import pods

    def check(key: str, val: str) -> None:
        if key in ("status", "ctr-status") and val not in (pods.POD_STATUSES if key == "status" else
                                                           ("created", "running", "paused", "stopped", "exited", "unknown")):  # fmt: skip
            raise UsageError(f"{val} is not a valid {'pod' if key == 'status' else 'container'} status")

    return key_values(filters, FILTERS, check)


def _search(pattern: str, text: str) -> bool:
    """Podman matches names as regular expressions; one that does not compile matches as a substring."""
    try:
        return re.search(pattern, text) is not None
    except re.error:
        return pattern in text


def _match_one(key: str, val: str, row: PodRow) -> bool:
    pod, ctrs = row._p, row._c
    if key == "id":
        return _search("^" + val, pod.id)
    if key == "name":
        return _search(val, pod.name)
    if key == "label":
        k, eq, v = val.partition("=")
        return k in pod.labels and (not eq or pod.labels[k] == v)
    if key == "status":
        return row.Status.lower() == val
    if key == "ctr-names":
        return any(_search(val, c.name) for c in ctrs)
    if key == "ctr-ids":
        return any(c.id.startswith(val) for c in ctrs)
    if key == "ctr-status":
        return any(c.state == val for c in ctrs)
    if key == "ctr-number":
        return val.isdigit() and len(ctrs) == int(val)
    return False


@pod_group.command("ps", context_settings=CTX)
@click.option("--ctr-ids", is_flag=True, help="Display the container UUIDs. If no-trunc is not set they will be truncated")
@click.option("--ctr-names", is_flag=True, help="Display the container names")
@click.option("--ctr-status", is_flag=True, help="Display the container status")
@click.option("-f", "--filter", "filters", multiple=True, help="Filter output based on conditions given")
@click.option("--format", "fmt", default=None, help="Pretty-print pods to JSON or using a Go template")
@click.option("-l", "--latest", is_flag=True, help="Act on the latest pod podman is aware of")
@click.option("--noheading", is_flag=True, help="Do not print headers")
@click.option("--no-trunc", is_flag=True, help="Do not truncate pod and container IDs")
@click.option("-q", "--quiet", is_flag=True, help="Print the numeric IDs of the pods only")
@click.option("--sort", default="created", help="Sort output by created, id, name, or number")
@click.pass_context
def ps_cmd(ctx: click.Context, ctr_ids: bool, ctr_names: bool, ctr_status: bool, filters: tuple[str, ...],
           fmt: str | None, latest: bool, noheading: bool, no_trunc: bool, quiet: bool, sort: str) -> None:  # fmt: skip
    """List pods."""
    from podpy.engine import pods

    sorts: dict[str, Callable[[PodRow], Any]] = {
        "created": lambda r: -r._p.created, "id": lambda r: r._p.id, "name": lambda r: r.Name,
        "number": lambda r: r.NumberOfContainers, "status": lambda r: r.Status,
    }  # fmt: skip
    if sort not in sorts:
        raise UsageError(f"invalid option for --sort, options are: {', '.join(sorts)}")
    flt = parse_filters(filters)
    now = time.time()
    rows = [PodRow(p, c, no_trunc, now) for p, c in pods.listing(_paths(ctx))]
    rows = [r for r in rows if all(any(_match_one(k, v, r) for v in vals) for k, vals in flt.items())]
    if latest:
        rows = rows[:1]
    rows.sort(key=sorts[sort])
    from podpy.cli.template import go_json, is_json, render

    if is_json(fmt):
        sys.stdout.write(go_json([r.to_json() for r in rows], indent=2) + "\n")
        return
    if quiet:
        sys.stdout.write("".join(r._p.id + "\n" for r in rows))  # podman 4.3 prints full IDs here
        return
    if fmt:
        sys.stdout.write(render(fmt, rows, name="pod ps", headers=PS_HEADERS,
                                noheading=noheading or not fmt.startswith("table")))  # fmt: skip
        return
    cols = ["{{.ID}}", "{{.Name}}", "{{.Status}}", "{{.Created}}", "{{.InfraID}}"]
    cols += [c for c, on in (("{{.ContainerIds}}", ctr_ids), ("{{.ContainerNames}}", ctr_names),
                             ("{{.ContainerStatuses}}", ctr_status)) if on] or ["{{.NumberOfContainers}}"]  # fmt: skip
    sys.stdout.write(render("{{range .}}" + "\t".join(cols) + "\n{{end -}}", rows, name="pod ps",
                            headers=PS_HEADERS, user=False, noheading=noheading))  # fmt: skip


pod_group.add_command(ps_cmd, "ls")
pod_group.add_command(ps_cmd, "list")


# --- lifecycle -----------------------------------------------------------------------------------------


def _targets(ctx: click.Context, refs: tuple[str, ...], all_: bool, latest: bool = False,
             id_files: tuple[str, ...] = ()) -> list[str]:  # fmt: skip
    from podpy.engine import pods

    refs = (*refs, *(pods.read_pod_id_file(f) for f in id_files))
    if (all_ or latest) and refs:
        raise UsageError("--all, --latest and pods cannot be used together")
    if not (all_ or latest or refs):
        raise UsageError("you must provide at least one name or id")
    if refs:
        return list(refs)
    ids = [p.id for p, _ in pods.listing(_paths(ctx))]
    return ids[:1] if latest else ids


_all_opt = click.option("-a", "--all", "all_", is_flag=True, help="Act on all pods")
_latest_opt = click.option("-l", "--latest", is_flag=True, help="Act on the latest pod podman is aware of")
_time_opt = click.option("-t", "--time", "timeout", type=int, default=None,
                         help="Seconds to wait for pod stop before killing the container")  # fmt: skip
_id_file_opt = click.option("--pod-id-file", "id_files", multiple=True,
                            help="Read the pod ID from the file (can be given more than once)")  # fmt: skip


def _each_pod_cmd(name: str, doc: str, action: str, id_files: bool = False, **kw: Any) -> click.Command:
    """A ``pod NAME [-a] [-l] POD...`` command running ``engine.pods.<action>`` on each pod (prints its ID);
    ``id_files``: it also takes ``--pod-id-file`` (as Podman's ``pod start``)."""

    @_all_opt
    @_latest_opt
    @click.argument("pods", nargs=-1)
    @click.pass_context
    def cmd(ctx: click.Context, all_: bool, latest: bool, pods: tuple[str, ...], id_files: tuple[str, ...] = ()) -> None:
        from podpy.engine import pods as eng

        paths, fn = _paths(ctx), getattr(eng, action)
        _each(_targets(ctx, pods, all_, latest, id_files), lambda r: fn(paths, r, **kw).id)

    cmd.__doc__ = doc
    return pod_group.command(name, context_settings=CTX)(_id_file_opt(cmd) if id_files else cmd)


start_cmd = _each_pod_cmd("start", "Start one or more pods.", "start", id_files=True)
restart_cmd = _each_pod_cmd("restart", "Restart one or more pods.", "restart")
pause_cmd = _each_pod_cmd("pause", "Pause one or more pods.", "pause")
unpause_cmd = _each_pod_cmd("unpause", "Unpause one or more pods.", "pause", unpause=True)


@pod_group.command("stop", context_settings=CTX)
@_all_opt
@_latest_opt
@click.option("-i", "--ignore", is_flag=True, help="Ignore errors when a specified pod is missing")
@_time_opt
@_id_file_opt
@click.argument("pods", nargs=-1)
@click.pass_context
def stop_cmd(ctx: click.Context, all_: bool, latest: bool, ignore: bool, timeout: int | None,
             id_files: tuple[str, ...], pods: tuple[str, ...]) -> None:  # fmt: skip
    """Stop one or more pods."""
    from podpy.engine import pods as eng

    paths = _paths(ctx)
    _each(_targets(ctx, pods, all_, latest, id_files), lambda r: eng.stop(paths, r, timeout).id,
          ignore_missing=ignore)  # fmt: skip


@pod_group.command("kill", context_settings=CTX)
@_all_opt
@_latest_opt
@click.option("-s", "--signal", "sig", default="KILL", help="Signal to send to the containers in the pod")
@click.argument("pods", nargs=-1)
@click.pass_context
def kill_cmd(ctx: click.Context, all_: bool, latest: bool, sig: str, pods: tuple[str, ...]) -> None:
    """Send the specified signal or SIGKILL to containers in pod."""
    from podpy.engine import containers
    from podpy.engine import pods as eng

    paths = _paths(ctx)
    signo = containers.parse_signal(sig)
    _each(_targets(ctx, pods, all_, latest), lambda r: eng.kill(paths, r, signo).id)


@pod_group.command("rm", context_settings=CTX)
@_all_opt
@_latest_opt
@click.option("-f", "--force", is_flag=True, help="Force removal of a running pod by first stopping all containers, then removing all containers in the pod")
@click.option("-i", "--ignore", is_flag=True, help="Ignore errors when a specified pod is missing")
@_time_opt
@_id_file_opt
@click.argument("pods", nargs=-1)
@click.pass_context
def rm_cmd(ctx: click.Context, all_: bool, latest: bool, force: bool, ignore: bool, timeout: int | None,
           id_files: tuple[str, ...], pods: tuple[str, ...]) -> None:  # fmt: skip
    """Remove one or more pods."""
    from podpy.engine import pods as eng

    paths = _paths(ctx)
    # podman 4.3: a missing pod is exit 1, and no error at all with -f
    _each(_targets(ctx, pods, all_, latest, id_files), lambda r: eng.remove(paths, r, force=force, timeout=timeout),
          ignore_missing=ignore or force, missing_code=1)  # fmt: skip


@pod_group.command("prune", context_settings=CTX)
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation.  The default is false")
@click.pass_context
def prune_cmd(ctx: click.Context, force: bool) -> None:
    """Remove all stopped pods and their containers."""
    from podpy.engine import pods as eng

    if not force:
        from podpy.cli.output import confirm

        if not confirm("WARNING! This will remove all stopped/exited pods..\n"):
            return
    for pid in eng.prune(_paths(ctx)):
        click.echo(pid)


@pod_group.command("inspect", context_settings=CTX)
@click.option("-f", "--format", "fmt", default=None, help="Format the output to a Go template or json")
@_latest_opt
@click.argument("pods", nargs=-1)
@click.pass_context
def inspect_cmd(ctx: click.Context, fmt: str | None, latest: bool, pods: tuple[str, ...]) -> None:
    """Display a pod configuration."""
    from podpy.cli.template import go_json, is_json, render_one
    from podpy.engine import pods as eng

    paths = _paths(ctx)
    refs = _targets(ctx, pods, False, latest)
    docs = []
    for ref in refs:
        try:
            docs.append(eng.inspect(*eng.lookup(paths, ref)))
        except NotFoundError:
            raise NotFoundError(f"inspecting object: no such pod {ref}") from None
    if fmt and not is_json(fmt):
        sys.stdout.write("".join(render_one(fmt, d, name="inspect") for d in docs))
        return
    sys.stdout.write(go_json(docs[0] if len(docs) == 1 else docs, indent=5) + "\n")


@pod_group.command("exists", context_settings=CTX)
@click.argument("pod")
@click.pass_context
def exists_cmd(ctx: click.Context, pod: str) -> None:
    """Check if a pod exists in local storage."""
    from podpy.engine import pods as eng

    sys.exit(0 if eng.exists(_paths(ctx), pod) else 1)


@pod_group.command("top", context_settings=CTX)
@_latest_opt
@click.argument("pod", required=False)
@click.argument("descriptors", nargs=-1)
@click.pass_context
def top_cmd(ctx: click.Context, latest: bool, pod: str | None, descriptors: tuple[str, ...]) -> None:
    """Display the running processes of containers in a pod."""
    from podpy.cli.output import tabwrite
    from podpy.engine import pods as eng

    refs = _targets(ctx, (pod,) if pod and not latest else (), False, latest)
    if latest and pod:
        descriptors = (pod, *descriptors)
    rows = eng.top(_paths(ctx), refs[0], list(descriptors))
    sys.stdout.write(tabwrite("".join("\t".join(r) + "\n" for r in rows)))


@pod_group.command("logs", context_settings=CTX)
@click.option("-c", "--container", default=None, help="Filter logs by container name or id which belongs to pod")
@click.option("-f", "--follow", is_flag=True, help="Follow log output.")
@_latest_opt
@click.option("-n", "--names", is_flag=True, help="Output container names instead of container IDs in the log")
@click.option("--since", default=None, help="Show logs since TIMESTAMP")
@click.option("--tail", type=int, default=-1, help="Output the specified number of LINES at the end of the logs.")
@click.option("-t", "--timestamps", is_flag=True, help="Output the timestamps in the log")
@click.option("--until", default=None, help="Show logs until TIMESTAMP")
@click.argument("pod", required=False)
@click.pass_context
def logs_cmd(ctx: click.Context, container: str | None, follow: bool, latest: bool, names: bool, since: str | None,
             tail: int, timestamps: bool, until: str | None, pod: str | None) -> None:  # fmt: skip
    """Fetch logs for pod with one or more containers."""
    from podpy.cli.lifecycle import _stream_logs, parse_time_ns
    from podpy.engine import pods as eng

    paths = _paths(ctx)
    ref = _targets(ctx, (pod,) if pod else (), False, latest)[0]
    p, ctrs = eng.lookup(paths, ref)
    ctrs = [c for c in ctrs if c.id != p.infra_id]
    if container is not None:
        ctrs = [c for c in ctrs if c.name == container or c.id.startswith(container)]
        if not ctrs:
            raise NotFoundError(f"no container with name or ID {container} found in pod {p.name}: no such container")
    kw = {"follow": follow, "tail": tail, "timestamps": timestamps,
          "since_ns": parse_time_ns(since, "--since") if since else None,
          "until_ns": parse_time_ns(until, "--until") if until else None}  # fmt: skip

    def prefix(c: Any) -> str:
        return f"{c.name if names else c.id[:12]} " if len(ctrs) > 1 or names else ""

    if not follow or len(ctrs) <= 1:
        for c in ctrs:
            _stream_logs(paths, c, prefix=prefix(c), **kw)
        return
    import threading

    from podpy.rootless.userns import ensure_userns

    ensure_userns(paths)  # a follower may clean up an exited container: join podpy's namespace before threads
    threads = [threading.Thread(target=_stream_logs, args=(paths, c), kwargs={**kw, "prefix": prefix(c)}, daemon=True)
               for c in ctrs]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def ps_with_pods(paths: Any, recs: list[Any], *, no_trunc: bool = False, noheading: bool = False,
                 sizes: dict[str, tuple[int, int]] | None = None) -> str:  # fmt: skip
    """``podpy ps --pod``: Podman's columns plus POD ID and PODNAME."""
    from podpy.cli.output import tabwrite
    from podpy.cli.psview import PsRow
    from podpy.engine import pods

    names = pods.pod_names(paths)
    now = time.time()
    extra = ["SIZE"] if sizes is not None else []
    head = ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES", *extra, "POD ID", "PODNAME"]
    lines = [] if noheading else ["\t".join(head)]
    for rec in recs:
        r = PsRow(rec, no_trunc, now, sizes.get(rec.id) if sizes is not None else None)
        pid = pods.pod_of(rec)
        cols = [r.ID(), r.Image, r.Command(), r.CreatedHuman(), r.Status(), r.Ports, r.Names]
        cols += [r.Size] if sizes is not None else []
        lines.append("\t".join([*cols, pid if no_trunc else pid[:12], names.get(pid, "")]))
    return tabwrite("".join(line + "\n" for line in lines))
