"""``podpy login`` and ``podpy logout``: Podman's flags, messages and exit codes."""

from __future__ import annotations

import sys
from typing import Any

import click

from podpy.util.errors import UsageError


def _bool(value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    v = str(value).strip().lower()
    if v in ("1", "t", "true", "yes", "y", "on"):
        return True
    if v in ("0", "f", "false", "no", "n", "off"):
        return False
    raise UsageError(f'invalid argument "{value}" for "--tls-verify" flag: strconv.ParseBool: invalid syntax')


@click.command("login", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-u", "--username", default=None, help="Username for registry")
@click.option("-p", "--password", default=None, help="Password for registry")
@click.option("--password-stdin", is_flag=True, help="Take the password from stdin")
@click.option("--authfile", default=None, help="Path of the authentication file")
@click.option(
    "--tls-verify",
    default=None,
    is_flag=False,
    flag_value="true",
    help="Require HTTPS and verify certificates when contacting registries",
)
@click.option("--get-login", is_flag=True, help="Return the current login user for the registry")
@click.argument("registry", required=False)
def login_cmd(
    username: str | None,
    password: str | None,
    password_stdin: bool,
    authfile: str | None,
    tls_verify: str | None,
    get_login: bool,
    registry: str | None,
) -> None:
    """Log in to a container registry."""
    from podpy.engine import login as eng

    verify_tls = _bool(tls_verify)
    reg = eng.normalize_registry(registry) if registry else eng.default_registry()
    if get_login:
        got = eng.stored_login(reg, authfile)
        if not got:
            raise UsageError(f"not logged into {reg}")
        click.echo(got[0])
        return
    if password_stdin and password is not None:
        raise UsageError("can't specify both --password-stdin and --password")
    if password_stdin and not username:
        raise UsageError("must provide --username with --password-stdin")
    if password_stdin:
        password = sys.stdin.read().rstrip("\r\n")
    if username is None and password is None:
        existing = eng.stored_login(reg, authfile)
        if existing:
            click.echo(f"Authenticating with existing credentials for {reg}")
            eng.verify(reg, existing[0], existing[1], verify_tls)
            click.echo(f"Existing credentials are valid. Already logged in to {reg}")
            return
    tty = sys.stdin.isatty()
    if not username:
        if not tty:
            raise UsageError("a username is required: pass -u USERNAME (stdin is not a terminal)")
        username = click.prompt("Username", err=True).strip()
    if password is None:
        if not tty:
            raise UsageError("a password is required: pass -p PASSWORD or --password-stdin")
        password = click.prompt("Password", hide_input=True, err=True)
    eng.login(reg, username, password, authfile, verify_tls)
    click.echo("Login Succeeded!")


@click.command("logout", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-a", "--all", "all_", is_flag=True, help="Remove the cached credentials for all registries")
@click.option("--authfile", default=None, help="Path of the authentication file")
@click.argument("registry", required=False)
def logout_cmd(all_: bool, authfile: str | None, registry: str | None) -> None:
    """Log out of a container registry."""
    from podpy.engine import login as eng

    if all_ and registry:
        raise UsageError("--all takes no registry argument")
    if all_:
        eng.logout(None, authfile, all_=True)
        click.echo("Removed login credentials for all registries")
        return
    reg = eng.normalize_registry(registry) if registry else eng.default_registry()
    eng.logout(reg, authfile)
    click.echo(f"Removed login credentials for {reg}")
