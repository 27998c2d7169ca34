"""``podpy system`` (migrate, info) and the top-level ``podpy info``.

``info`` prints Podman's shape: YAML by default, ``--format json`` the JSON document, any other
``--format`` a Go template over Podman's Go field names (``{{.Host.IDMappings.UIDMap}}``,
``{{.Store.GraphDriverName}}``) while ``{{json .Store.ImageStore}}`` keeps the JSON keys.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import click

from podpy.cli.output import confirm
from podpy.spec.container import go_human_size
from podpy.util.errors import UsageError

# JSON key -> Go field name where it is not just the key with its first letter upper-cased
# (Podman's define.Info, HostInfo, SecurityInfo, StoreInfo, idtools.IDMap).
_GO_NAMES = {
    "idMappings": "IDMappings",
    "uidmap": "UIDMap",
    "gidmap": "GIDMap",
    "container_id": "ContainerID",
    "host_id": "HostID",
    "cpus": "CPUs",
    "os": "OS",
    "ociRuntime": "OCIRuntime",
    "slirp4netns": "Slirp4NetNS",
    "cgroupVersion": "CgroupsVersion",
    "apparmorEnabled": "AppArmorEnabled",
    "capabilities": "DefaultCapabilities",
    "seccompEnabled": "SECCOMPEnabled",
    "seccompProfilePath": "SECCOMPProfilePath",
    "selinuxEnabled": "SELinuxEnabled",
    "cpuUtilization": "CPUUtilization",
}
# JSON keys whose values are Go maps (keys kept verbatim, missing keys print <no value>)
_MAPS = {"graphOptions", "graphStatus", "registries"}
_GO_TYPES = {
    "": "*define.Info",
    "host": "*define.HostInfo",
    "store": "*define.StoreInfo",
    "version": "define.Version",
    "security": "define.SecurityInfo",
    "idMappings": "define.IDMappings",
    "distribution": "define.DistributionInfo",
    "ociRuntime": "*define.OCIRuntimeInfo",
    "slirp4netns": "define.SlirpInfo",
    "imageStore": "define.ImageStore",
    "containerStore": "define.ContainerStore",
    "Client": "*define.Version",
    "conmon": "define.ConmonInfo",
    "cpuUtilization": "*define.CPUUsage",
    "pasta": "define.PastaInfo",
    "plugins": "define.Plugins",
}


class GoStruct:
    """A Go struct for templates: attributes are Go field names; ``json`` gives the JSON keys back."""

    go_type = "struct"

    def __init__(self, doc: dict[str, Any]) -> None:
        self._doc = doc
        for k, v in doc.items():
            setattr(self, _GO_NAMES.get(k, k[:1].upper() + k[1:]), go_value(v, k))

    def to_json(self) -> dict[str, Any]:
        return self._doc

    def __str__(self) -> str:
        from podpy.cli.template import go_sprint

        return "{" + " ".join(go_sprint(getattr(self, n)) for n in self._fields()) + "}"

    def _fields(self) -> list[str]:
        return [_GO_NAMES.get(k, k[:1].upper() + k[1:]) for k in self._doc]


def go_value(v: Any, key: str = "") -> Any:
    """JSON document -> values the template renderer treats like Podman's Go structs."""
    if isinstance(v, dict) and key not in _MAPS:
        cls = type("GoStruct", (GoStruct,), {"go_type": _GO_TYPES.get(key, "struct")})
        return cls(v)
    if isinstance(v, list):
        return [go_value(x, key) for x in v]
    return v


_NUMBER = re.compile(r"^[-+]?(\.\d+|\d[\d_]*(\.\d*)?)([eE][-+]?\d+)?$|^0[xo][0-9a-fA-F]+$")
_SPECIAL = {"true", "false", "yes", "no", "on", "off", "null", "~", "y", "n", ".inf", ".nan"}


def _scalar(v: Any, indent: str) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return str(v)
    s = str(v)
    if "\n" in s:
        return "|-\n" + "\n".join(indent + "  " + ln if ln else "" for ln in s.split("\n"))
    plain = (
        s
        and s[0] not in "-?:,[]{}#&*!|>'\"%@` "
        and not _NUMBER.match(s)
        and s.lower() not in _SPECIAL
        and ": " not in s
        and " #" not in s
        and s.isprintable()
        and not s.endswith((":", " "))
    )
    if plain:
        return s
    return json.dumps(s, ensure_ascii=False)


def to_yaml(v: Any, indent: str = "") -> str:
    """The small YAML subset Podman's ``info`` prints: sorted keys, block style, ``- `` lists."""
    lines: list[str] = []
    if isinstance(v, dict):
        for k in sorted(v):
            x = v[k]
            if isinstance(x, dict) and x:
                lines.append(f"{indent}{k}:")
                lines.append(to_yaml(x, indent + "  "))
            elif isinstance(x, list) and x:
                lines.append(f"{indent}{k}:")
                lines.append(to_yaml(x, indent))
            else:
                empty = "{}" if isinstance(x, dict) else "[]" if isinstance(x, list) else None
                lines.append(f"{indent}{k}: {empty or _scalar(x, indent)}")
    elif isinstance(v, list):
        for x in v:
            if isinstance(x, dict) and x:
                body = to_yaml(x, indent + "  ")
                lines.append(f"{indent}- {body[len(indent) + 2 :]}")
            else:
                lines.append(f"{indent}- {_scalar(x, indent)}")
    return "\n".join(lines)


def render_info(doc: dict[str, Any], fmt: str | None) -> str:
    from podpy.cli.template import go_json, is_json, render_one

    if not fmt:
        return to_yaml(doc) + "\n"
    if is_json(fmt):
        return go_json(doc, indent=2, escape_html=True) + "\n"
    out = render_one(fmt, go_value(doc), name="info")
    return out if out.endswith("\n") else out + "\n"


_format_option = click.option(
    "-f", "--format", "fmt", default=None, help="Change the output format to JSON or a Go template"
)


@click.command("info")
@_format_option
@click.pass_obj
def info_cmd(opts: Any, fmt: str | None) -> None:
    """Display podpy system information.

    The host (arch, kernel, ID mappings, rootless), the store (driver from --storage-driver or
    storage.conf, graph root, image count) and the version.
    """
    from podpy.engine.info import info

    doc = info(opts.paths, opts.storage_driver)
    click.echo(render_info(doc, fmt), nl=False)


@click.group("system")
def system() -> None:
    """Manage podpy."""


system.add_command(info_cmd, "info")


@system.command("migrate")
@click.option("--new-runtime", default=None, hidden=True, help="Not supported: podpy has one runtime")
@click.pass_obj
def migrate_cmd(opts: Any, new_runtime: str | None) -> None:
    """Migrate to podpy's current configuration.

    Stops every running container and the pause process that keeps podpy's user namespace alive,
    so the next command creates a new one with the current /etc/subuid and /etc/subgid ranges (run
    it after changing them), as ``podman system migrate`` does.
    """
    from podpy.engine.system_migrate import migrate

    if new_runtime:
        raise UsageError("--new-runtime is not supported: podpy runs containers with its own runtime or runc")
    errors = migrate(opts.paths)
    for e in errors:
        click.echo(f"Error: {e}", err=True)
    if errors:
        raise SystemExit(125)


# --- text of version and system df (Podman's tables and Go template rows) ---------------------

def _since(seconds_ago: float) -> str:
    from podpy.cli.output import human_duration

    return human_duration(max(0.0, seconds_ago))


# --- version ------------------------------------------------------------------------------------


def version_text(doc: dict[str, Any], fmt: str | None) -> str:
    """``podman version``: the aligned Client block, ``--format json`` or a template over ``.Client``."""
    from podpy.cli.template import go_json, is_json, render_one

    report = {"Client": doc}
    if fmt and is_json(fmt):
        return go_json(report) + "\n"
    if fmt:
        out = render_one(fmt, go_value(report), name="version")
        return out if out.endswith("\n") else out + "\n"
    rows = [("Client:", "podpy"), ("Version:", doc["Version"]), ("API Version:", doc["APIVersion"]),
            ("Python Version:", doc["GoVersion"].removeprefix("python"))]  # fmt: skip
    if doc.get("GitCommit"):
        rows.append(("Git Commit:", doc["GitCommit"]))
    rows += [("Built:", doc["BuiltTime"]), ("OS/Arch:", doc["OsArch"])]
    width = max(len(k) for k, _ in rows) + 2
    return "".join(f"{k.ljust(width)}{v}\n" for k, v in rows)


# --- system df ----------------------------------------------------------------------------------


class DfSummaryRow:
    go_type = "*system.dfSummary"

    def __init__(self, s: Any) -> None:
        self.Type = s.type
        self.Total = s.total
        self.TotalCount = s.total
        self.Active = s.active
        self.RawSize = s.size
        self.RawReclaimable = s.reclaimable

    def Size(self) -> str:  # noqa: N802 - Go method names are the template fields
        return go_human_size(self.RawSize)

    def Reclaimable(self) -> str:  # noqa: N802
        # Go's math.Round: halves away from zero (Python's round() would give 20 for 20.5)
        pct = int(self.RawReclaimable / self.RawSize * 100 + 0.5) if self.RawSize > 0 else 0
        return f"{go_human_size(self.RawReclaimable)} ({pct}%)"

    def to_json(self) -> dict[str, Any]:
        return {"Type": self.Type, "Total": self.Total, "Active": self.Active, "RawSize": self.RawSize,
                "RawReclaimable": self.RawReclaimable, "TotalCount": self.TotalCount, "Size": self.Size(),
                "Reclaimable": self.Reclaimable()}  # fmt: skip


class DfImageRow:
    def __init__(self, i: Any, now: float) -> None:
        self._i, self._now = i, now
        self.Repository, self.Tag, self.Containers = i.repository, i.tag, i.containers

    def ImageID(self) -> str:  # noqa: N802
        return str(self._i.image_id[:12])

    def Created(self) -> str:  # noqa: N802
        return _since(self._now - self._i.created.timestamp())

    def Size(self) -> str:  # noqa: N802
        return go_human_size(self._i.size)

    def SharedSize(self) -> str:  # noqa: N802
        return go_human_size(self._i.shared_size)

    def UniqueSize(self) -> str:  # noqa: N802
        return go_human_size(self._i.unique_size)


class DfContainerRow:
    def __init__(self, c: Any, now: float) -> None:
        self._c, self._now = c, now
        self.LocalVolumes, self.Status, self.Names = c.local_volumes, c.status, c.names

    def ContainerID(self) -> str:  # noqa: N802
        return str(self._c.container_id[:12])

    def Image(self) -> str:  # noqa: N802
        return str(self._c.image[:12])

    def Command(self) -> str:  # noqa: N802
        return " ".join(self._c.command)

    def RWSize(self) -> str:  # noqa: N802
        return go_human_size(self._c.rw_size)

    def Created(self) -> str:  # noqa: N802
        return _since(self._now - self._c.created / 1e9)


class DfVolumeRow:
    def __init__(self, v: Any) -> None:
        self.VolumeName, self.Links, self._size = v.name, v.links, v.size

    def Size(self) -> str:  # noqa: N802
        return go_human_size(self._size)


_SUMMARY_HEADERS = {"Type": "TYPE", "Total": "TOTAL", "Active": "ACTIVE", "RawSize": "RAW SIZE",
                    "RawReclaimable": "RAW RECLAIMABLE", "Size": "SIZE", "Reclaimable": "RECLAIMABLE",
                    "TotalCount": "TOTAL COUNT"}  # fmt: skip


def df_text(du: Any, fmt: str | None, verbose: bool) -> str:
    from podpy.cli.template import go_json, is_json, render

    if fmt and verbose:
        raise UsageError("cannot combine --format and --verbose flags")
    now = time.time()
    if verbose:
        return _df_verbose(du, now)
    rows = [DfSummaryRow(s) for s in du.summary()]
    if fmt and is_json(fmt):
        return go_json(rows, indent=4, escape_html=True) + "\n"
    if fmt:
        return render(fmt, rows, name="df", headers=_SUMMARY_HEADERS)
    row = "{{range . }}{{.Type}}\t{{.Total}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}\n{{end -}}"
    return render(row, rows, name="df", headers=_SUMMARY_HEADERS, user=False)


def _df_verbose(du: Any, now: float) -> str:
    from podpy.cli.template import render

    images = render(
        "{{range .}}{{.Repository}}\t{{.Tag}}\t{{.ImageID}}\t{{.Created}}\t{{.Size}}\t{{.SharedSize}}\t"
        "{{.UniqueSize}}\t{{.Containers}}\n{{end -}}",
        [DfImageRow(i, now) for i in du.images],
        headers={
            "Repository": "REPOSITORY",
            "Tag": "TAG",
            "ImageID": "IMAGE ID",
            "Created": "CREATED",
            "Size": "SIZE",
            "SharedSize": "SHARED SIZE",
            "UniqueSize": "UNIQUE SIZE",
            "Containers": "CONTAINERS",
        },  # fmt: skip
        user=False,
    )
    containers = render(
        "{{range .}}{{.ContainerID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.RWSize}}\t{{.Created}}\t"
        "{{.Status}}\t{{.Names}}\n{{end -}}",
        [DfContainerRow(c, now) for c in du.containers],
        headers={
            "ContainerID": "CONTAINER ID",
            "Image": "IMAGE",
            "Command": "COMMAND",
            "LocalVolumes": "LOCAL VOLUMES",
            "RWSize": "SIZE",
            "Created": "CREATED",
            "Status": "STATUS",
            "Names": "NAMES",
        },  # fmt: skip
        user=False,
    )
    volumes = render(
        "{{range .}}{{.VolumeName}}\t{{.Links}}\t{{.Size}}\n{{end -}}",
        [DfVolumeRow(v) for v in du.volumes],
        headers={"VolumeName": "VOLUME NAME", "Links": "LINKS", "Size": "SIZE"},
        user=False,
    )
    return (
        f"Images space usage:\n\n{images}\nContainers space usage:\n\n{containers}"
        f"\nLocal Volumes space usage:\n\n{volumes}"
    )


# --- commands: version, df, prune, reset, check, doctor -----------------------------------------


@click.command("version")
@click.option("-f", "--format", "fmt", default=None, help="Change the output format to JSON or a Go template")
def version_cmd(fmt: str | None) -> None:
    """Display the podpy version information."""
    from podpy.engine.info import version_info

    click.echo(version_text(version_info(), fmt), nl=False)


system.add_command(version_cmd, "version")


@system.command("df")
@click.option("-v", "--verbose", is_flag=True, help="Show detailed information on disk usage")
@click.option("--format", "fmt", default=None, help="Pretty-print images using a Go template")
@click.pass_obj
def df_cmd(opts: Any, verbose: bool, fmt: str | None) -> None:
    """Show podpy disk usage: images, containers and local volumes."""
    from podpy.engine.system_df import disk_usage

    if fmt and verbose:
        raise UsageError("cannot combine --format and --verbose flags")
    click.echo(df_text(disk_usage(opts.paths), fmt, verbose), nl=False)


_PRUNE_WARNING = "WARNING! This command removes:\n\t- all stopped containers\n\t- all networks not used by at least one container\n"


@system.command("prune", short_help="Remove unused data")
@click.option("-a", "--all", "all_", is_flag=True, help="Remove all unused data")
@click.option("--external", is_flag=True, hidden=True, help="Not supported")
@click.option("--filter", "filters", multiple=True, help="Provide filter values (e.g. 'label=<key>=<value>')")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation.  The default is false")
@click.option("--volumes", is_flag=True, help="Prune volumes")
@click.pass_obj
def prune_cmd(
    opts: Any, all_: bool, external: bool, filters: tuple[str, ...], force: bool, volumes: bool
) -> None:
    """Remove unused data: stopped containers, dangling (-a: unused) images, unused networks and, with
    --volumes, unused volumes; prints what went and the total reclaimed space."""
    from podpy.engine.system_prune import parse_filters, prune

    if external:
        raise UsageError("--external is not supported: podpy has no containers outside its own state")
    parse_filters(filters)  # a bad filter fails before the prompt, as Podman
    if not force:
        text = _PRUNE_WARNING
        if volumes:
            text += "\t- all volumes not used by at least one container\n"
        text += ("\t- all images without at least one container associated with them\n\t- all build cache\n"
                 if all_ else "\t- all dangling images\n\t- all dangling build cache\n")  # fmt: skip
        if not confirm(text + "\n"):
            return
    rep = prune(opts.paths, all_=all_, volumes=volumes, filters=filters)
    for title, ids in (("Pods", rep.pods), ("Containers", rep.containers), ("Volumes", rep.volumes),
                       ("Images", rep.images), ("Networks", rep.networks)):  # fmt: skip
        if ids:
            click.echo(f"Deleted {title}\n" + "".join(f"{i}\n" for i in ids), nl=False)
    for e in rep.errors:
        click.echo(f"Error: {e}", err=True)
    if rep.errors:
        raise SystemExit(125)
    click.echo(f"Total reclaimed space: {go_human_size(rep.reclaimed)}")


@system.command("reset", short_help="Reset podpy storage back to its initial state")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation")
@click.pass_obj
def reset_cmd(opts: Any, force: bool) -> None:
    """Reset podpy storage back to its initial state: every container stopped and removed, every image,
    volume and network removed, the pause process stopped, the root and runroot directories deleted."""
    from podpy.engine.system_prune import reset

    paths = opts.paths
    if not force:
        text = (
            "WARNING! This will remove:\n        - all containers\n        - all images\n"
            "        - all networks\n        - all build cache\n        - all volumes\n"
            f'        - the graphRoot directory: "{paths.root}"\n        - the runRoot directory: "{paths.runroot}"\n'
        )
        if not confirm(text):
            return
    rep = reset(paths)
    for e in rep.errors:
        click.echo(f"Error: {e}", err=True)
    if rep.errors:
        raise SystemExit(125)


_CHECK_LABELS = {
    "temp": "leftover",
    "corrupt-blob": "corrupt blob",
    "incomplete-layer": "incomplete layer",
    "damaged-image": "damaged image",
    "unreferenced-blob": "unreferenced blob",
    "orphan-layer": "orphaned layer",
    "missing-image": "container without image",
    "missing-dir": "container without directory",
    "orphan-dir": "directory without container",
}


@system.command("check", short_help="Check the store and containers for consistency, and repair them")
@click.option(
    "-f", "--force", is_flag=True, help="With --repair, also remove containers whose image is gone or damaged"
)
@click.option("-q", "--quick", is_flag=True, help="Skip hashing every blob (sizes are still checked)")
@click.option(
    "-r",
    "--repair",
    is_flag=True,
    help="Remove what is inconsistent (never a container's data without --force)",
)
@click.pass_obj
def check_cmd(opts: Any, force: bool, quick: bool, repair: bool) -> None:
    """Check the store for consistency: leftovers of interrupted pulls, corrupt blobs, orphaned layers,
    damaged images, containers whose image vanished. Exit 1 while a problem remains."""
    from podpy.engine.system_check import check

    if force and not repair:
        raise UsageError("--force only makes sense with --repair")
    rep = check(opts.paths, repair=repair, quick=quick, force=force)
    for f in rep.findings:
        line = f"{_CHECK_LABELS.get(f.kind, f.kind)} {f.subject}: {f.detail}"
        if repair:
            line += ": repaired" if f.repaired else f": NOT repaired: {f.error or 'nothing to do'}"
        click.echo(line)
    left = rep.unrepaired
    c = rep.checked
    checked = f"checked {c.get('images', 0)} images, {c.get('layers', 0)} layers, {c.get('blobs', 0)} blobs, {c.get('containers', 0)} containers"
    if not rep.findings:
        click.echo(f"{checked}: no problems found")
        return
    if repair and not left:
        click.echo(f"{checked}: {len(rep.findings)} problem(s) found and repaired")
        return
    hint = "" if repair else "; run `podpy system check --repair` to fix them"
    click.echo(f"{checked}: {len(left)} problem(s) remain{hint}")
    raise SystemExit(1)


@system.command("doctor", short_help="Check every rootless prerequisite and print the fixes")
@click.option(
    "--format",
    "fmt",
    default=None,
    help="json, or a Go template over each check (.Check .Status .Message .Fix)",
)
@click.pass_obj
def doctor_cmd(opts: Any, fmt: str | None) -> None:
    """Check every rootless prerequisite: subordinate IDs, newuidmap/newgidmap, /dev/net/tun,
    slirp4netns/pasta, overlay in a user namespace, XDG_RUNTIME_DIR, lingering, cgroups,
    unprivileged ports, the store's filesystem and free disk. Each line is ok, warn or fail with
    the fix; exit 1 when something fails (most containers cannot run)."""
    from podpy.cli.template import go_json, is_json, render
    from podpy.engine.system_doctor import FAIL, run_checks

    checks = run_checks(opts.paths)
    if fmt and is_json(fmt):
        click.echo(go_json([c.to_json() for c in checks], indent=4))
    elif fmt:
        rows = [GoStruct(c.to_json()) for c in checks]
        click.echo(render(fmt, rows, name="doctor", headers={"Check": "CHECK", "Status": "STATUS",
                                                             "Message": "MESSAGE", "Fix": "FIX"}), nl=False)  # fmt: skip
    else:
        for c in checks:
            line = f"{c.status:<4}  {c.name:<11}  {c.message}"
            click.echo(line + (f"\n{'':19}fix: {c.fix}" if c.fix else ""))
        fails = sum(c.status == FAIL for c in checks)
        warns = sum(c.status == "warn" for c in checks)
        click.echo(f"{len(checks)} checks: {fails} failed, {warns} warnings")
    if any(c.status == FAIL for c in checks):
        raise SystemExit(1)
