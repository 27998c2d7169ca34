"""``podpy network``: create, ls, inspect, rm, prune, exists, connect, disconnect (Podman 4.3's output)."""

from __future__ import annotations

import sys
from typing import Any

import click

from podpy.cli.main import paths_of as _paths
from podpy.util.errors import PodpyError, UsageError

CTX = {"help_option_names": ["-h", "--help"]}
LS_HEADERS = {"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Labels": "LABELS",
              "NetworkInterface": "NETWORK INTERFACE", "Created": "CREATED", "Internal": "INTERNAL",
              "DNSEnabled": "DNS ENABLED", "IPv6Enabled": "IPV6 ENABLED", "Subnets": "SUBNETS"}  # fmt: skip


@click.group("network", context_settings=CTX)
def network() -> None:
    """Manage networks."""


@network.command("create", context_settings=CTX)
@click.option("-d", "--driver", default="bridge", help="driver to manage the network")
@click.option("--subnet", multiple=True, help="subnets in CIDR format")
@click.option("--gateway", multiple=True, help="IPv4 or IPv6 gateway for the subnet")
@click.option("--ip-range", "ip_range", multiple=True, help="allocate container IP from range")
@click.option("--internal", is_flag=True, help="restrict external access from this network")
@click.option("--label", multiple=True, help="set metadata on a network")
@click.option("--dns", multiple=True, help="DNS servers this network will use")
@click.option("--disable-dns", is_flag=True, help="disable dns plugin")
@click.option("--ipv6", is_flag=True, help="enable IPv6 networking")
@click.option("--ignore", is_flag=True, help="Don't fail if network already exists")
@click.argument("name", required=False)
@click.pass_context
def create_cmd(ctx: click.Context, driver: str, subnet: tuple[str, ...], gateway: tuple[str, ...],
               ip_range: tuple[str, ...], internal: bool, label: tuple[str, ...], dns: tuple[str, ...],
               disable_dns: bool, ipv6: bool, ignore: bool, name: str | None) -> None:  # fmt: skip
    """Create networks for containers."""
    from podpy.engine import networks
    from podpy.engine.volumes import parse_labels
    from podpy.network.options import parse_dns

    for flag, vals in (("subnet", subnet), ("gateway", gateway), ("ip-range", ip_range)):
        if len(vals) > 1:
            raise UsageError(f"--{flag}: podpy networks have one IPv4 subnet: give it once")
    if gateway and len(gateway) > len(subnet):
        raise UsageError("cannot set more gateways than subnets")
    cfg = networks.create(_paths(ctx), ignore=ignore, name=name or "", driver=driver,
                          subnet=subnet[0] if subnet else "", gateway=gateway[0] if gateway else "",
                          ip_range=ip_range[0] if ip_range else "", internal=internal, labels=parse_labels(label),
                          dns=parse_dns(dns) if dns else None, disable_dns=disable_dns, ipv6=ipv6)  # fmt: skip
    click.echo(cfg["name"])


def _row(cfg: dict[str, Any], no_trunc: bool) -> Any:
    from podpy.cli.template import Record

    labels = cfg.get("labels") or {}
    return Record({
        "Name": cfg["name"], "ID": cfg["id"] if no_trunc else cfg["id"][:12], "Driver": cfg["driver"],
        "NetworkInterface": cfg.get("network_interface", ""), "Created": cfg.get("created", ""),
        "Subnets": cfg.get("subnets") or [], "IPv6Enabled": bool(cfg.get("ipv6_enabled")),
        "Internal": bool(cfg.get("internal")), "DNSEnabled": bool(cfg.get("dns_enabled")),
        "Labels": ",".join(f"{k}={v}" for k, v in labels.items()), "Options": cfg.get("options") or {},
        "IPAMOptions": cfg.get("ipam_options") or {},
    }, go_type="entities.ListPrintReports")  # fmt: skip


@network.command("ls", context_settings=CTX)
@click.option("-f", "--filter", "filters", multiple=True, help="Provide filter values (e.g. 'name=podman')")
@click.option("--format", "fmt", default=None, help="Pretty-print networks to JSON or using a Go template")
@click.option("--no-trunc", is_flag=True, help="Do not truncate the network ID")
@click.option("-n", "--noheading", is_flag=True, help="Do not print headers")
@click.option("-q", "--quiet", is_flag=True, help="display only names")
@click.pass_context
def ls_cmd(ctx: click.Context, filters: tuple[str, ...], fmt: str | None, no_trunc: bool, noheading: bool,
           quiet: bool) -> None:  # fmt: skip
    """List networks."""
    from podpy.cli.template import go_json, is_json, render
    from podpy.engine import networks

    nets = networks.list_networks(_paths(ctx), filters)
    if quiet:
        for c in nets:
            click.echo(c["name"])
        return
    if fmt and is_json(fmt):
        click.echo(go_json(nets, indent=2))
        return
    rows = [_row(c, no_trunc) for c in nets]
    if fmt:
        sys.stdout.write(render(fmt, rows, headers=LS_HEADERS, noheading=noheading))
        return
    sys.stdout.write(render("{{range .}}{{.ID}}\t{{.Name}}\t{{.Driver}}\n{{end -}}", rows, headers=LS_HEADERS,
                            user=False, noheading=noheading))  # fmt: skip


network.add_command(ls_cmd, "list")  # Podman's alias


@network.command("inspect", context_settings=CTX)
@click.option("-f", "--format", "fmt", default=None, help="Pretty-print network to JSON or using a Go template")
@click.argument("names", nargs=-1, required=True)
@click.pass_context
def inspect_cmd(ctx: click.Context, fmt: str | None, names: tuple[str, ...]) -> None:
    """Displays the network configuration for one or more networks."""
    from podpy.cli.template import go_json, is_json, render_one
    from podpy.engine import networks

    paths = _paths(ctx)
    docs, errors = [], []
    for n in names:
        try:
            docs.append(networks.get(paths, n))
        except PodpyError as e:
            errors.append(f"network {n}: {e.message}")
    if fmt and not is_json(fmt):
        for d in docs:
            sys.stdout.write(render_one(fmt, network_view(d)))
    else:
        sys.stdout.write(go_json(docs, indent=5) + "\n")
    if errors:
        for e in errors[:-1]:
            click.echo(f"Error: {e}", err=True)
        raise PodpyError(f"inspecting object: {errors[-1]}")


def network_view(cfg: dict[str, Any]) -> Any:
    """What ``network inspect --format`` (and ``inspect``) templates see: Go's field names (types.Network)."""
    from podpy.cli.template import Record

    return Record(_inspect_fields(cfg), go_type="types.Network")


def _inspect_fields(cfg: dict[str, Any]) -> dict[str, Any]:
    return {"Name": cfg["name"], "ID": cfg["id"], "Driver": cfg["driver"],
            "NetworkInterface": cfg.get("network_interface", ""), "Created": cfg.get("created", ""),
            "Subnets": [{"Subnet": s.get("subnet"), "Gateway": s.get("gateway", ""), "LeaseRange": s.get("lease_range")}
                        for s in cfg.get("subnets") or []],
            "IPv6Enabled": bool(cfg.get("ipv6_enabled")), "Internal": bool(cfg.get("internal")),
            "DNSEnabled": bool(cfg.get("dns_enabled")), "NetworkDNSServers": cfg.get("network_dns_servers") or [],
            "Labels": cfg.get("labels") or {}, "Options": cfg.get("options") or {},
            "IPAMOptions": cfg.get("ipam_options") or {}}  # fmt: skip


@network.command("rm", context_settings=CTX)
@click.option("-f", "--force", is_flag=True, help="remove any containers using network")
@click.option("-t", "--time", "timeout", type=int, default=None, help="Seconds to wait for running containers to stop before killing the container")
@click.argument("names", nargs=-1, required=True)
@click.pass_context
def rm_cmd(ctx: click.Context, force: bool, timeout: int | None, names: tuple[str, ...]) -> None:
    """Remove networks."""
    from podpy.engine import networks

    paths = _paths(ctx)
    code = 0
    for n in names:
        try:
            for name in networks.remove(paths, [n], force=force, timeout=timeout):
                click.echo(name)
        except PodpyError as e:
            click.echo(f"Error: {e.message}", err=True)
            code = 1 if "network not found" in e.message else e.exit_code  # Podman: 1 for a missing network
    if code:
        sys.exit(code)


@network.command("prune", context_settings=CTX)
@click.option("-f", "--force", is_flag=True, help="do not prompt for confirmation")
@click.option("--filter", "filters", multiple=True, help="Provide filter values (e.g. 'label=<key>=<value>')")
@click.pass_context
def prune_cmd(ctx: click.Context, force: bool, filters: tuple[str, ...]) -> None:
    """Remove unused networks."""
    from podpy.engine import networks

    if not force:
        from podpy.cli.output import confirm

        if not confirm("WARNING! This will remove all networks not used by at least one container.\n"):
            return
    for name in networks.prune(_paths(ctx), filters):
        click.echo(name)


@network.command("exists", context_settings=CTX)
@click.argument("name")
@click.pass_context
def exists_cmd(ctx: click.Context, name: str) -> None:
    """Check if network exists."""
    from podpy.engine import networks

    sys.exit(0 if networks.exists(_paths(ctx), name) else 1)


@network.command("connect", context_settings=CTX)
@click.option("--alias", multiple=True, help="network scoped alias for container")
@click.option("--ip", default=None, help="set a static ipv4 address for this container network")
@click.option("--mac-address", default=None, help="set a static mac address for this container network")
@click.argument("name")
@click.argument("container")
@click.pass_context
def connect_cmd(ctx: click.Context, alias: tuple[str, ...], ip: str | None, mac_address: str | None, name: str,
                container: str) -> None:  # fmt: skip
    """Add container to a network."""
    from podpy.engine import networks

    networks.connect(_paths(ctx), name, container, aliases=list(alias), ip=ip, mac=mac_address)


@network.command("disconnect", context_settings=CTX)
@click.argument("name")
@click.argument("container")
@click.pass_context
def disconnect_cmd(ctx: click.Context, name: str, container: str) -> None:
    """Disconnect a container from a network."""
    from podpy.engine import networks

    networks.disconnect(_paths(ctx), name, container)


@network.command("reload", context_settings=CTX)
@click.option("-a", "--all", "all_", is_flag=True, help="Reload network configuration of all containers")
@click.argument("containers", nargs=-1)
@click.pass_context
def reload_cmd(ctx: click.Context, all_: bool, containers: tuple[str, ...]) -> None:
    """Reload firewall rules and the rootless network namespace for containers on networks."""
    from podpy.engine import networks

    if bool(containers) == all_:
        raise UsageError("when using the --all switch, you may not pass any containers names or IDs" if all_
                         else "you must provide at least one container name or ID")  # fmt: skip
    ids = networks.reload(_paths(ctx))
    if containers:
        from podpy.engine import containers as ctrs

        st = ctrs.open_state(_paths(ctx))
        want = {st.get(c).id for c in containers}
        ids = [i for i in ids if i in want]
    for i in ids:
        click.echo(i)
