"""``podpy secret``: create, ls, inspect, rm, exists (Podman 4.3's flags and output)."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from podpy.cli.main import paths_of as _paths
from podpy.util.errors import NotFoundError, PodpyError, UsageError

CTX = {"help_option_names": ["-h", "--help"]}
LS_FORMAT = "{{range .}}{{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.CreatedAt}}\t{{.UpdatedAt}}\n{{end -}}"
LS_HEADERS = {"ID": "ID", "Name": "NAME", "Driver": "DRIVER", "CreatedAt": "CREATED", "UpdatedAt": "UPDATED"}


@click.group("secret", context_settings=CTX)
def secret() -> None:
    """Manage secrets."""


def _pairs(items: tuple[str, ...], flag: str) -> dict[str, str]:
    out = {}
    for item in items:
        k, eq, v = item.partition("=")
        if not k or not eq:
            raise UsageError(f"invalid {flag} {item!r}: use key=value")
        out[k] = v
    return out


@secret.command("create", context_settings=CTX)
@click.option("-d", "--driver", default="file", help='Specify secret driver (default "file")')
@click.option("--driver-opts", multiple=True, help="Specify driver specific options")
@click.option("--env", "from_env", is_flag=True, help="Read secret data from environment variable")
@click.option("-l", "--label", multiple=True, help="Specify labels on the secret")
@click.argument("name")
@click.argument("source")
@click.pass_context
def create_cmd(ctx: click.Context, driver: str, driver_opts: tuple[str, ...], from_env: bool,
               label: tuple[str, ...], name: str, source: str) -> None:  # fmt: skip
    """Create a new secret from FILE ("-" for standard input, or with --env an environment variable)."""
    from podpy.engine import secrets

    if from_env:
        if source not in os.environ:
            raise PodpyError(f"cannot create store secret data: environment variable {source} is not set")
        data = os.environ[source].encode(errors="surrogateescape")
    elif source == "-":
        data = sys.stdin.buffer.read()
    else:
        try:
            with open(source, "rb") as f:
                data = f.read(secrets.MAX_SIZE + 1)
        except OSError as e:
            raise PodpyError(f"{source}: {(e.strerror or str(e)).lower()}") from None
    sid = secrets.create(_paths(ctx), name, data, driver=driver,
                         driver_opts=_pairs(driver_opts, "--driver-opts"), labels=_pairs(label, "--label"))  # fmt: skip
    click.echo(sid)


def _row(doc: dict[str, Any], created: int, updated: int) -> Any:
    import time

    from podpy.cli.output import human_duration
    from podpy.cli.template import Record

    now = time.time()
    row = {"ID": doc["ID"], "Name": doc["Spec"]["Name"], "Driver": doc["Spec"]["Driver"]["Name"],
           "CreatedAt": human_duration(max(0.0, now - created / 1e9)) + " ago",
           "UpdatedAt": human_duration(max(0.0, now - updated / 1e9)) + " ago",
           "Labels": doc["Spec"]["Labels"], "Spec": doc["Spec"]}  # fmt: skip
    return Record(row, go_type="entities.SecretInfoReport")


@secret.command("ls", context_settings=CTX)
@click.option("-f", "--filter", "filters", multiple=True, help="Filter secret output (id=, name=)")
@click.option("--format", "fmt", default=None, help="Format secret output using Go template")
@click.option("--noheading", is_flag=True, help="Do not print headers")
@click.option("-q", "--quiet", is_flag=True, help="Print secret IDs only")
@click.pass_context
def ls_cmd(ctx: click.Context, filters: tuple[str, ...], fmt: str | None, noheading: bool, quiet: bool) -> None:
    """List secrets."""
    from podpy.cli.filters import key_values
    from podpy.cli.template import render
    from podpy.engine import secrets

    paths = _paths(ctx)
    want = key_values(filters, ("id", "name"))
    ids, names = want.get("id"), want.get("name")
    shown = [s for s in secrets.list_secrets(paths)
             if (not ids or any(s["id"].startswith(v) for v in ids)) and (not names or s["name"] in names)]
    if quiet:
        for s in shown:
            click.echo(s["id"])
        return
    rows = [_row(secrets.inspect_doc(paths, s), s["created"], s["updated"]) for s in shown]
    sys.stdout.write(render(fmt or LS_FORMAT, rows, headers=LS_HEADERS, noheading=noheading, user=bool(fmt)))


secret.add_command(ls_cmd, "list")


@secret.command("inspect", context_settings=CTX)
@click.option("-f", "--format", "fmt", default=None, help="Format output using Go template")
@click.argument("names", nargs=-1, required=True)
@click.pass_context
def inspect_cmd(ctx: click.Context, fmt: str | None, names: tuple[str, ...]) -> None:
    """Display detailed information on one or more secrets."""
    from podpy.cli.template import go_json, is_json, render_one
    from podpy.engine import secrets

    paths = _paths(ctx)
    docs, missing = [], []
    for n in names:
        try:
            docs.append(secrets.inspect_doc(paths, secrets.get(paths, n)))
        except NotFoundError as e:
            missing.append(e)
    if fmt and not is_json(fmt):
        for d in docs:
            sys.stdout.write(render_one(fmt, d))
    else:
        sys.stdout.write(go_json(docs, indent=4) + "\n")
    if missing:
        raise PodpyError(f"inspecting secret: {missing[0].message}")


@secret.command("rm", context_settings=CTX)
@click.option("-a", "--all", "all_", is_flag=True, help="Remove all secrets")
@click.argument("names", nargs=-1)
@click.pass_context
def rm_cmd(ctx: click.Context, all_: bool, names: tuple[str, ...]) -> None:
    """Remove one or more secrets."""
    from podpy.engine import secrets

    if not names and not all_:
        raise UsageError("`podpy secret rm` requires one argument or --all")
    if names and all_:
        raise UsageError("when using the --all switch, you may not pass any secret names or IDs")
    for sid in secrets.remove(_paths(ctx), list(names), all_=all_):
        click.echo(sid)


@secret.command("exists", context_settings=CTX)
@click.argument("name")
@click.pass_context
def exists_cmd(ctx: click.Context, name: str) -> None:
    """Check if a secret exists (exit 0 if it does, 1 if not)."""
    from podpy.engine import secrets

    try:
        secrets.get(_paths(ctx), name)
    except NotFoundError:
        sys.exit(1)
