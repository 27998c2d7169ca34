"""The Containerfile (Dockerfile) parser: text in, instructions with file:line out.

Follows the Dockerfile reference as Docker/BuildKit and Buildah read it: parser directives
(``# syntax=``, ``# escape=``) only at the very top; comment lines (also inside a continued
instruction) and blank lines are skipped; a line ending in the escape character continues on the
next; here-documents (``<<EOF``, ``<<-EOF``, ``<<"EOF"``) for RUN, COPY and ADD; JSON (exec) form
when the arguments are a JSON array of strings; leading ``--flag=value`` words are flags. Every
error names the file and line: ``Containerfile:3: unknown instruction: "FOO"``.
Pure: no I/O except what the caller hands in.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from podpy.util.errors import UsageError

INSTRUCTIONS = (
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL",
    "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
)  # fmt: skip

# the flags each instruction takes (anything else is an error naming the line)
FLAGS: dict[str, tuple[str, ...]] = {
    "FROM": ("platform",),
    "RUN": ("mount", "network", "security"),
    "COPY": ("from", "chown", "chmod", "link"),
    "ADD": ("chown", "chmod", "link", "checksum"),
    "HEALTHCHECK": ("interval", "timeout", "start-period", "start-interval", "retries"),
}
HEREDOC_INSTRUCTIONS = ("RUN", "COPY", "ADD")
_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9_-]*)\s*=\s*(.*?)\s*$")
_HEREDOC = re.compile(r"<<(-?)(?:\"([^\"\s]+)\"|'([^'\s]+)'|([A-Za-z0-9_.\-]+))")


class ParseError(UsageError):
    """A Containerfile that cannot be read; the message starts with ``file:line:``."""


@dataclass(frozen=True)
class Heredoc:
    name: str
    content: str
    expand: bool = True  # an unquoted delimiter: variables in the body are expanded (COPY/ADD)
    chomp: bool = False  # ``<<-``: leading tabs were removed


@dataclass
class Instruction:
    """One instruction: ``cmd`` upper-case, ``rest`` the text after the keyword and flags."""

    cmd: str
    rest: str
    original: str
    line: int
    file: str = "Containerfile"
    flags: list[str] = field(default_factory=list)
    json: list[str] | None = None
    heredocs: list[Heredoc] = field(default_factory=list)

    def where(self) -> str:
        return f"{self.file}:{self.line}"

    def error(self, msg: str) -> ParseError:
        return ParseError(f"{self.where()}: {msg}")

    def flag_values(self, name: str) -> list[str]:
        """Every value given for ``--name`` (``--name`` alone counts as "true")."""
        out = []
        for f in self.flags:
            key, eq, val = f[2:].partition("=")
            if key == name:
                out.append(val if eq else "true")
        return out

    def flag(self, name: str, default: str | None = None) -> str | None:
        vals = self.flag_values(name)
        return vals[-1] if vals else default


@dataclass
class Containerfile:
    directives: dict[str, str]
    instructions: list[Instruction]
    escape: str = "\\"


def _directives(lines: list[str], file: str) -> tuple[dict[str, str], int]:
    found: dict[str, str] = {}
    i = 0
    for i, text in enumerate(lines):  # noqa: B007 - the index of the first non-directive line is returned
        m = _DIRECTIVE.match(text)
        if not m:
            return found, i
        key = m.group(1).lower()
        if key in found:
            raise ParseError(f"{file}:{i + 1}: only one {key} parser directive can be used")
        found[key] = m.group(2)
    return found, len(lines)


def _continues(text: str, escape: str) -> str | None:
    """The line without its continuation character, or None when it does not continue."""
    stripped = text.rstrip(" \t")
    if stripped.endswith(escape):
        # an escaped escape character at the end does not continue (``\\``)
        n = len(stripped) - len(stripped.rstrip(escape))
        if n % 2 == 1:
            return stripped[: -len(escape)]
    return None


def _is_comment(text: str) -> bool:
    return text.lstrip().startswith("#")


def parse(text: str, file: str = "Containerfile") -> Containerfile:
    """Parse a whole Containerfile (see the module docstring); raises ParseError."""
    text = text.removeprefix("\ufeff")
    lines = text.replace("\r\n", "\n").split("\n")
    directives, start = _directives(lines, file)
    escape = directives.get("escape", "\\")
    if escape not in ("\\", "`"):
        raise ParseError(f"{file}:1: invalid escape token '{escape}' does not match ` or \\")
    out: list[Instruction] = []
    i = start
    n = len(lines)
    while i < n:
        raw = lines[i]
        first = i + 1
        i += 1
        if not raw.strip() or _is_comment(raw):
            continue
        joined = ""
        line = raw
        while True:
            cont = _continues(line, escape)
            if cont is None:
                joined += line
                break
            joined += cont
            while i < n and (_is_comment(lines[i]) or not lines[i].strip()):
                i += 1  # comments and blank lines inside a continued instruction are dropped
            if i >= n:
                break
            line = lines[i]
            i += 1
        joined = joined.strip()
        if not joined:
            continue
        keyword, _, rest = joined.partition(" ") if " " in joined else (joined.partition("\t"))
        if "\t" in keyword:
            keyword, _, more = keyword.partition("\t")
            rest = more + " " + rest
        cmd = keyword.upper()
        ins = Instruction(cmd=cmd, rest=rest.strip(), original=joined, line=first, file=file)
        if cmd not in INSTRUCTIONS:
            raise ins.error(f'unknown instruction: "{keyword}"')
        _split_flags(ins)
        if cmd in HEREDOC_INSTRUCTIONS and not ins.rest.startswith("["):
            i = _read_heredocs(ins, lines, i)
        _json_form(ins)
        _check(ins, escape)
        out.append(ins)
    return Containerfile(directives, out, escape)


def _split_flags(ins: Instruction) -> None:
    """Leading ``--name[=value]`` words are flags; ``ONBUILD`` keeps its text for the trigger."""
    if ins.cmd == "ONBUILD":
        return
    rest = ins.rest
    flags: list[str] = []
    while rest.startswith("--"):
        word, _, after = rest.partition(" ")
        if "\t" in word:
            word, _, more = word.partition("\t")
            after = more + " " + after
        if word == "--":
            rest = after.strip()
            break
        flags.append(word)
        rest = after.lstrip()
    allowed = FLAGS.get(ins.cmd, ())
    for f in flags:
        name = f[2:].partition("=")[0]
        if name not in allowed:
            raise ins.error(f"unknown flag: --{name} for {ins.cmd}")
    ins.flags = flags
    ins.rest = rest


def _read_heredocs(ins: Instruction, lines: list[str], i: int) -> int:
    docs: list[Heredoc] = []
    for m in _HEREDOC.finditer(ins.rest):
        chomp = m.group(1) == "-"
        name = m.group(2) or m.group(3) or m.group(4)
        quoted = m.group(4) is None
        body: list[str] = []
        while True:
            if i >= len(lines):
                raise ins.error(f"unterminated here-document: no line {name!r} after it")
            line = lines[i]
            i += 1
            check = line.lstrip("\t") if chomp else line
            if check == name:
                break
            body.append(check)
        content = "\n".join(body) + ("\n" if body else "")
        docs.append(Heredoc(name, content, expand=not quoted, chomp=chomp))
    ins.heredocs = docs
    return i


def _json_form(ins: Instruction) -> None:
    if not ins.rest.startswith("["):
        return
    try:
        val = json.loads(ins.rest)
    except ValueError:
        return  # not JSON: shell form (as Docker does)
    if isinstance(val, list) and all(isinstance(v, str) for v in val):
        ins.json = val


_MIN_ARGS = {
    "ADD": 2, "COPY": 2, "ENV": 1, "ARG": 1, "EXPOSE": 1, "FROM": 1, "LABEL": 1, "MAINTAINER": 1,
    "ONBUILD": 1, "RUN": 1, "SHELL": 1, "STOPSIGNAL": 1, "USER": 1, "VOLUME": 1, "WORKDIR": 1,
    "HEALTHCHECK": 1,
}  # fmt: skip


def _check(ins: Instruction, escape: str) -> None:
    """What can be checked before the build: argument counts and forms (errors name the line)."""
    from podpy.build.words import Lexer

    need = _MIN_ARGS.get(ins.cmd, 0)
    if ins.json is not None:
        count = len(ins.json)
    else:
        try:
            count = len(Lexer(escape).split_raw(ins.rest))
        except UsageError as e:
            raise ins.error(e.message) from None
        count += len(ins.heredocs) if ins.cmd in ("COPY", "ADD") else 0
    if ins.cmd in ("COPY", "ADD") and ins.heredocs and ins.json is None:
        count = len([w for w in ins.rest.split() if not w.startswith("<<")]) + len(ins.heredocs)
    if count < need:
        if need == 1:
            raise ins.error(f"{ins.cmd} requires at least one argument")
        raise ins.error(f"{ins.cmd} requires at least two arguments, but only {count} provided")
    if ins.cmd == "SHELL" and ins.json is None:
        raise ins.error("SHELL requires the arguments to be in JSON form")
    if ins.cmd == "ONBUILD":
        trigger = ins.rest.split(None, 1)[0].upper()
        if trigger in ("ONBUILD", "FROM", "MAINTAINER"):
            raise ins.error(f"{trigger} isn't allowed as an ONBUILD trigger")
        if trigger not in INSTRUCTIONS:
            raise ins.error(f'unknown instruction: "{ins.rest.split(None, 1)[0]}"')
    if ins.cmd == "HEALTHCHECK":
        kind = ins.rest.split(None, 1)[0].upper()
        if kind not in ("CMD", "NONE"):
            raise ins.error(f"unknown type {kind!r} for HEALTHCHECK (use CMD or NONE)")
        if kind == "NONE" and len(ins.rest.split()) > 1:
            raise ins.error("HEALTHCHECK NONE takes no arguments")
        if kind == "CMD" and len(ins.rest.split()) < 2:
            raise ins.error("missing command after HEALTHCHECK CMD")
    if ins.cmd == "FROM":
        words = ins.rest.split()
        if len(words) not in (1, 3) or (len(words) == 3 and words[1].lower() != "as"):
            raise ins.error("FROM requires either one or three arguments: FROM IMAGE [AS NAME]")
    if ins.cmd in ("ARG",) and len(ins.rest.split()) > 1 and "=" not in ins.rest:
        raise ins.error("ARG requires exactly one argument")


def parse_onbuild(ins: Instruction, escape: str = "\\") -> Instruction:
    """The trigger an ``ONBUILD`` carries, parsed as an instruction of the same line."""
    cf = parse(ins.rest, ins.file)
    if not cf.instructions:
        raise ins.error("ONBUILD requires at least one argument")
    trig = cf.instructions[0]
    trig.line = ins.line
    return trig
