"""``podpy mount``/``unmount`` (also ``umount`` and under ``container``): Podman 4.3's flags and
output. Rootless, the mount exists only in podpy's mount namespace: as Podman, ``mount`` is refused
outside ``podpy unshare`` (its path would mean nothing there); ``unmount`` works anywhere."""

from __future__ import annotations

import json
import sys

import click

from podpy.cli.main import paths_of as _paths
from podpy.util.errors import PodpyError, UsageError

CTX = {"help_option_names": ["-h", "--help"]}


def _inside_unshare(ctx: click.Context, name: str) -> None:
    from podpy.rootless.userns import in_podpy_userns, rootless_mode

    if rootless_mode() and not in_podpy_userns(_paths(ctx)):
        raise PodpyError(f'cannot run command "podpy {name}" in rootless mode, must execute `podpy unshare` first')


@click.command("mount", context_settings=CTX)
@click.option("-a", "--all", "all_", is_flag=True, help="Mount all containers")
@click.option("--format", "fmt", default=None, help="Print the mounted containers in specified format (json)")
@click.option("-l", "--latest", is_flag=True, help="Act on the latest container podpy is aware of")
@click.option("--no-trunc", "--notruncate", "no_trunc", is_flag=True, help="Do not truncate output")
@click.argument("containers", nargs=-1)
@click.pass_context
def mount_cmd(ctx: click.Context, all_: bool, fmt: str | None, latest: bool, no_trunc: bool,
              containers: tuple[str, ...]) -> None:  # fmt: skip
    """Mount a working container's root filesystem (prints its path; without names, lists the mounted ones)."""
    from podpy.cli.lifecycle import _targets  # not at the top: lifecycle imports this module
    from podpy.engine import rootfs_mounts

    _inside_unshare(ctx, "mount")
    if fmt not in (None, "json"):
        raise UsageError(f"unknown --format {fmt!r}: only json is supported")
    refs = _targets(ctx, containers, all_, latest) if containers or all_ or latest else []
    if refs:
        for ref in refs:
            _rec, path = rootfs_mounts.mount(_paths(ctx), ref)
            if not all_:
                click.echo(path)
        if not all_:
            return
    listed = rootfs_mounts.mounted(_paths(ctx))
    if fmt == "json":
        docs = [{"id": r.id, "Names": [r.name], "mountpoint": str(p)} for r, p in listed]
        sys.stdout.write(json.dumps(docs, indent=1) + "\n")
        return
    for r, p in listed:
        click.echo(f"{r.id if no_trunc else r.id[:12]}  {p}")


@click.command("unmount", context_settings=CTX)
@click.option("-a", "--all", "all_", is_flag=True, help="Unmount all of the currently mounted containers")
@click.option("-f", "--force", is_flag=True, help="Force the complete unmount of the specified mounted containers")
@click.option("-l", "--latest", is_flag=True, help="Act on the latest container podpy is aware of")
@click.argument("containers", nargs=-1)
@click.pass_context
def unmount_cmd(ctx: click.Context, all_: bool, force: bool, latest: bool, containers: tuple[str, ...]) -> None:
    """Unmount working container's root filesystem."""
    from podpy.cli.lifecycle import _targets
    from podpy.engine import rootfs_mounts

    if not (containers or all_ or latest):
        raise UsageError("you must provide at least one name or id")
    if all_ and containers:
        raise UsageError("no arguments are needed with --all")
    refs = [r.id for r, _ in rootfs_mounts.mounted(_paths(ctx))] if all_ else _targets(ctx, containers, False, latest)
    for ref in refs:
        rootfs_mounts.unmount(_paths(ctx), ref, force=force or all_)
        click.echo(ref)
