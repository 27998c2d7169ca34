"""``--change`` instructions for ``podpy import`` (and commit), parsed the way Podman does.

Podman splits ``INSTRUCTION VALUE`` on the first space, falling back to ``INSTRUCTION=VALUE``;
podpy also accepts ``CMD=ls -l`` (Podman refuses it as "invalid instruction CMD=LS"), because that
is what users type after reading ``--change CMD=…`` in the docs.
"""

from __future__ import annotations

import json
import shlex
import signal
from typing import Any

from podpy.util.errors import UsageError

INSTRUCTIONS = ("CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR")


def _split(change: str) -> tuple[str, str]:
    head, sep, rest = change.partition(" ")
    key, eq, after = head.partition("=")
    if eq and key.strip().upper() in INSTRUCTIONS:
        return key.strip().upper(), (after + sep + rest).strip()
    if sep:
        return head.strip().upper(), rest.strip()
    raise UsageError(f"invalid change {change!r}: must be formatted as INSTRUCTION VALUE, e.g. CMD=/bin/sh")


def _json_or_shell(value: str) -> list[str]:
    """``["a","b"]`` (exec form) or ``a b`` (shell form → ``/bin/sh -c``), as Dockerfile CMD."""
    if value.startswith("["):
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
        if isinstance(parsed, list) and all(isinstance(x, str) for x in parsed):
            return parsed
    return ["/bin/sh", "-c", value]


def _key_value(value: str, what: str) -> list[tuple[str, str]]:
    """``K=V [K2=V2 …]`` (quotes allowed) or the legacy ``K V`` form."""
    if "=" not in value.split(" ", 1)[0]:
        key, _, val = value.partition(" ")
        if not key:
            raise UsageError(f"invalid {what} {value!r}: expected KEY=VALUE")
        return [(key, val.strip())]
    try:
        words = shlex.split(value)
    except ValueError as e:
        raise UsageError(f"invalid {what} {value!r}: {e}") from e
    out = []
    for w in words:
        key, eq, val = w.partition("=")
        if not eq or not key:
            raise UsageError(f"invalid {what} {w!r}: expected KEY=VALUE")
        out.append((key, val))
    return out


def _signal(value: str) -> str:
    v = value.strip().upper()
    if v.isdigit():
        return v
    name = v if v.startswith("SIG") else "SIG" + v
    try:
        return str(int(getattr(signal, name)))
    except AttributeError:
        raise UsageError(f"invalid STOPSIGNAL {value!r}: not a signal name or number") from None


def apply_changes(config: dict[str, Any], changes: list[str]) -> dict[str, Any]:
    """Apply ``changes`` to an image's ``config`` section (the dict under "config"); returns it."""
    for change in changes:
        key, value = _split(change)
        if key not in INSTRUCTIONS:
            raise UsageError(
                f"invalid change {change!r}: unsupported instruction {key}; use one of {', '.join(INSTRUCTIONS)}"
            )
        if key == "CMD":
            config["Cmd"] = _json_or_shell(value)
        elif key == "ENTRYPOINT":
            config["Entrypoint"] = _json_or_shell(value)
        elif key == "ENV":
            env = [e for e in config.get("Env") or []]
            for k, v in _key_value(value, "ENV"):
                env = [e for e in env if e.split("=", 1)[0] != k] + [f"{k}={v}"]
            config["Env"] = env
        elif key == "LABEL":
            labels = dict(config.get("Labels") or {})
            labels.update(_key_value(value, "LABEL"))
            config["Labels"] = labels
        elif key == "EXPOSE":
            ports = dict(config.get("ExposedPorts") or {})
            for p in value.split():
                num, _, proto = p.partition("/")
                if not num.isdigit() or not 0 < int(num) < 65536 or proto not in ("", "tcp", "udp", "sctp"):
                    raise UsageError(f"invalid EXPOSE {p!r}: expected PORT[/tcp|udp|sctp]")
                ports[f"{int(num)}/{proto or 'tcp'}"] = {}
            config["ExposedPorts"] = ports
        elif key == "VOLUME":
            vols = dict(config.get("Volumes") or {})
            paths = json.loads(value) if value.startswith("[") and value.endswith("]") else value.split()
            if not isinstance(paths, list) or not all(isinstance(p, str) and p for p in paths):
                raise UsageError(f"invalid VOLUME {value!r}: expected paths or a JSON array of paths")
            for p in paths:
                vols[p] = {}
            config["Volumes"] = vols
        elif key == "WORKDIR":
            if not value:
                raise UsageError("invalid WORKDIR: empty path")
            config["WorkingDir"] = value
        elif key == "USER":
            if not value:
                raise UsageError("invalid USER: empty value")
            config["User"] = value
        elif key == "STOPSIGNAL":
            config["StopSignal"] = _signal(value)
    return config
