"""Play systemd's part for one ``Type=notify`` service: no systemd runs as PID 1 on the test machines.

What systemd does that a podpy unit relies on, done by hand: parse the unit (continuation lines),
expand the specifiers (``%t`` ``%n`` ``%N`` ``%i`` ``%I`` ``%h`` ``%U`` ``%%``), split command lines
by systemd's rules (quotes, C escapes, ``$$``, ``$VAR``/``${VAR}``, the ``-`` prefix), set the
``Environment=`` variables, listen on a ``NOTIFY_SOCKET`` of our own (an AF_UNIX datagram socket),
run ``ExecStartPre``/``ExecStart``, collect the notifications, then ``ExecStop``/``ExecStopPost``.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path


def parse_unit(text: str) -> dict[str, list[tuple[str, str]]]:
    """{section: [(key, value)]} in file order; backslash-newline joins lines, as systemd."""
    sections: dict[str, list[tuple[str, str]]] = {}
    cur: list[tuple[str, str]] | None = None
    logical: list[str] = []
    buf = ""
    for raw in text.splitlines():
        if buf == "" and (raw.startswith("#") or raw.startswith(";")):
            continue
        if raw.endswith("\\"):
            buf += raw[:-1] + " "
            continue
        logical.append(buf + raw)
        buf = ""
    for line in logical:
        s = line.strip()
        if not s:
            continue
        if s.startswith("[") and s.endswith("]"):
            cur = sections.setdefault(s[1:-1], [])
            continue
        key, _, value = s.partition("=")
        assert cur is not None, f"key outside a section: {s!r}"
        cur.append((key.strip(), value.strip()))
    return sections


def expand_specifiers(value: str, spec: dict[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        c = m.group(1)
        if c == "%":
            return "%"
        assert c in spec, f"specifier %{c} not handled by the test"
        return spec[c]

    return re.sub(r"%(.)", sub, value)


_ESC = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "a": "\a", "b": "\b", "f": "\f",
        "v": "\v", "s": " ", "\n": ""}  # fmt: skip


def split_words(value: str) -> list[str]:
    """systemd's extract_first_word with quotes and C escapes (EXTRACT_UNQUOTE|EXTRACT_CUNESCAPE)."""
    words: list[str] = []
    i, n = 0, len(value)
    while i < n:
        while i < n and value[i] in " \t\n":
            i += 1
        if i >= n:
            break
        word = []
        quote = ""
        while i < n:
            c = value[i]
            if quote:
                if c == quote:
                    quote = ""
                elif c == "\\" and i + 1 < n:
                    i += 1
                    e = value[i]
                    if e == "x":
                        word.append(chr(int(value[i + 1 : i + 3], 16)))
                        i += 2
                    else:
                        word.append(_ESC.get(e, e))
                else:
                    word.append(c)
            elif c in "\"'":
                quote = c
            elif c == "\\" and i + 1 < n:
                i += 1
                word.append(_ESC.get(value[i], value[i]))
            elif c in " \t\n":
                break
            else:
                word.append(c)
            i += 1
        assert not quote, f"unbalanced quotes in {value!r}"
        words.append("".join(word))
    return words


def expand_env(word: str, env: dict[str, str]) -> str:
    """``$$`` → ``$``; ``${VAR}`` and a whole-word ``$VAR`` from the unit's environment."""
    out = re.sub(r"\$\{(\w+)\}", lambda m: env.get(m.group(1), ""), word.replace("$$", "\0"))
    if re.fullmatch(r"\$\w+", out):
        out = env.get(out[1:], "")
    return out.replace("\0", "$")


@dataclass
class Command:
    argv: list[str]
    ignore_failure: bool


@dataclass
class Service:
    """A unit ready to be played: its commands with specifiers expanded, its environment."""

    name: str
    unit: dict[str, list[tuple[str, str]]]
    spec: dict[str, str]
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path, runtime_dir: str, instance: str = "") -> Service:
        unit = parse_unit(path.read_text())
        name = path.name if not instance else path.name.replace("@.", f"@{instance}.")
        prefix = name.rsplit(".", 1)[0]
        spec = {"t": runtime_dir, "n": name, "N": prefix, "p": prefix.split("@")[0], "i": instance,
                "I": instance, "h": os.environ.get("HOME", "/"), "U": str(os.getuid())}  # fmt: skip
        svc = cls(name, unit, spec)
        for _key, value in svc.values("Service", "Environment"):
            for assignment in split_words(expand_specifiers(value, spec)):
                k, _, v = assignment.partition("=")
                svc.env[k] = v
        return svc

    def values(self, section: str, key: str) -> list[tuple[str, str]]:
        return [(k, v) for k, v in self.unit.get(section, []) if k == key]

    def value(self, section: str, key: str) -> str | None:
        found = self.values(section, key)
        return found[-1][1] if found else None

    def commands(self, key: str) -> list[Command]:
        out = []
        for _, value in self.values("Service", key):
            words = split_words(expand_specifiers(value, self.spec))
            ignore = False
            while words and words[0][:1] in "-@:+!":
                ignore = ignore or words[0][0] == "-"
                words[0] = words[0][1:]
            out.append(Command([expand_env(w, self.env) for w in words], ignore))
        return out

    def run(self, key: str, extra_env: dict[str, str], timeout: float = 120) -> list[subprocess.CompletedProcess[str]]:
        results = []
        for cmd in self.commands(key):
            env = {**os.environ, **self.env, **extra_env}
            r = subprocess.run(cmd.argv, env=env, capture_output=True, text=True, timeout=timeout,
                               stdin=subprocess.DEVNULL, check=False)  # fmt: skip
            assert r.returncode == 0 or cmd.ignore_failure, (
                f"{key} {cmd.argv} exited {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
            )
            results.append(r)
        return results


class NotifySocket:
    """systemd's notification socket: a datagram socket the service's processes write to."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(30)

    def messages(self, until: str = "READY=1") -> dict[str, str]:
        """Read datagrams until one carries ``until``; the fields of all of them, merged."""
        fields: dict[str, str] = {}
        while until.split("=")[0] not in fields:
            data = self.sock.recv(4096).decode()
            for line in data.splitlines():
                k, _, v = line.partition("=")
                fields[k] = v
        return fields

    def close(self) -> None:
        self.sock.close()
        os.unlink(self.path)


def play_notify_service(svc: Service, sock_dir: Path, extra_env: dict[str, str] | None = None) -> dict[str, str]:
    """Start the service as systemd would (``Type=notify``); returns the notifications received."""
    ns = NotifySocket(sock_dir / "notify.sock")
    try:
        env = {"NOTIFY_SOCKET": ns.path, **(extra_env or {})}
        svc.run("ExecStartPre", env)
        svc.run("ExecStart", env)
        return ns.messages()
    finally:
        ns.close()


def stop_service(svc: Service, extra_env: dict[str, str] | None = None) -> None:
    svc.run("ExecStop", extra_env or {})
    svc.run("ExecStopPost", extra_env or {})
