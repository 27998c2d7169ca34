"""``podpy system`` (migrate, info) and the top-level ``podpy info``.

``info`` prints Podman's shape: YAML by default, ``--format json`` the JSON document, any other
``--format`` a Go template over Podman's Go field names (``{{.Host.IDMappings.UIDMap}}``,
``{{.Store.GraphDriverName}}``) while ``{{json .Store.ImageStore}}`` keeps the JSON keys.
"""

from __future__ import annotations

import json
import re
from typing import Any

import click

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

    Stops the pause process that keeps podpy's user namespace alive, so the next command creates
    a new one with the current /etc/subuid and /etc/subgid ranges (run it after changing them).
    """
    from podpy.engine.info import running_containers
    from podpy.rootless.userns import migrate
    from podpy.util.errors import UsageError

    if new_runtime:
        raise UsageError("--new-runtime is not supported: podpy runs containers with its own runtime or runc")
    migrate(opts.paths)
    running = running_containers(opts.paths)
    if running:
        import logging

        logging.getLogger("podpy").warning(
            "%d running container(s) keep the old user namespace until they are restarted", running
        )
