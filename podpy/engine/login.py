"""``login``/``logout``: verify credentials with the registry, then store or drop them in auth.json."""

from __future__ import annotations

from pathlib import Path

from podpy.util.errors import AuthError, RegistryError, UsageError


def normalize_registry(value: str) -> str:
    """``docker://host/``, ``https://host`` -> ``host``; ``host/repo`` is kept (repository-scoped login)."""
    v = value.strip()
    for prefix in ("docker://", "https://", "http://"):
        v = v.removeprefix(prefix)
    v = v.rstrip("/")
    if not v or " " in v or "@" in v:
        raise UsageError(f"invalid registry {value!r}: use HOST[:PORT][/REPOSITORY]")
    first, _, rest = v.partition("/")
    if first in ("index.docker.io", "registry-1.docker.io"):
        first = "docker.io"
    if ":" in rest.rsplit("/", 1)[-1]:
        raise UsageError(f"invalid registry {value!r}: credentials cannot be scoped to a tag")
    return f"{first}/{rest}" if rest else first


def default_registry() -> str:
    """The registry ``podpy login`` uses with no argument: the first unqualified-search registry."""
    from podpy.registry.config import load_registries_conf

    regs = load_registries_conf().unqualified_search_registries
    if not regs:
        raise UsageError(
            "no registry given and no unqualified-search registries configured: podpy login REGISTRY"
        )
    return regs[0]


def stored_login(registry: str, authfile: str | None) -> tuple[str, str] | None:
    from podpy.registry import auth

    return auth.get_credentials(normalize_registry(registry), authfile)


def verify(registry: str, username: str, password: str, tls_verify: bool | None) -> None:
    """Ask the registry whether these credentials are good; AuthError when they are not."""
    from podpy.registry.client import RegistryClient
    from podpy.registry.config import load_registries_conf

    reg = normalize_registry(registry)
    with RegistryClient(
        load_registries_conf(), creds=(username, password), tls_verify=tls_verify, retry=1
    ) as c:
        try:
            c.check_login(reg)
        except AuthError as e:
            if "invalid" not in e.message:
                raise
            raise AuthError(f'logging into "{reg}": invalid username/password') from None
        except RegistryError as e:
            raise type(e)(f'authenticating creds for "{reg}": {e.message}', e.exit_code) from None


def login(registry: str, username: str, password: str, authfile: str | None, tls_verify: bool | None) -> Path:
    """Verify, then store; returns the auth file written."""
    from podpy.registry import auth

    if not username:
        raise UsageError("a username is required: pass -u USERNAME")
    if ":" in username:
        raise UsageError("the username cannot contain ':'")
    verify(registry, username, password, tls_verify)
    return auth.set_credentials(normalize_registry(registry), username, password, authfile)


def logout(registry: str | None, authfile: str | None, all_: bool = False) -> None:
    from podpy.registry import auth

    if all_:
        auth.remove_all(authfile)
        return
    if not registry:
        raise UsageError("no registry given: podpy logout REGISTRY (or -a for all)")
    reg = normalize_registry(registry)
    if not auth.remove_credentials(reg, authfile):
        raise UsageError(f"not logged into {reg}")
