"""The one Go ``text/template`` subset renderer behind every ``--format`` flag.

Podman users write Go templates (``{{.ID}}``, ``table {{.Names}}\\t{{.Status}}``, ``{{json .}}``);
their scripts must keep working, so this module follows Go's semantics (field lookup, truthiness,
``fmt`` printing, error texts) and Podman 4.3's pre-processing (``table`` prefix, ``\\t``/``\\n``
escapes, implicit ``{{range .}}``, tabwriter alignment). It is pure: no I/O, no click.

Data model: a ``dict`` is a Go map (missing key prints ``<no value>``); a :class:`Record` (or any
object with attributes) is a Go struct (unknown field is an error naming the type); zero-argument
methods are called like Go methods.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from podpy.cli.output import tabwrite
from podpy.util.errors import PodpyError

__all__ = [
    "NO_VALUE",
    "Record",
    "Template",
    "TemplateError",
    "go_json",
    "go_sprint",
    "go_sprintf",
    "has_table",
    "headers_from_fields",
    "is_json",
    "normalize_format",
    "render",
    "tabwrite",
]


class TemplateError(PodpyError):
    """A template failed to parse or execute; the message mimics Go's ``template: ...`` errors."""


class _NoValue:
    def __repr__(self) -> str:
        return "<no value>"

    def __bool__(self) -> bool:
        return False


NO_VALUE = _NoValue()  # a missing map key, printed as Go does


class Record(dict):  # type: ignore[type-arg]
    """A dict that behaves like a Go struct: unknown fields are errors, JSON keeps field order."""

    def __init__(
        self, data: Mapping[str, Any] | Iterable[tuple[str, Any]] = (), go_type: str = "struct"
    ) -> None:
        super().__init__(data)
        self.go_type = go_type


# ---------------------------------------------------------------------------------------------
# Go-compatible printing


def _go_type_name(v: Any) -> str:
    if isinstance(v, Record):
        return v.go_type
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float64"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list | tuple):
        return "[]interface {}"
    if isinstance(v, dict):
        return "map[string]interface {}"
    if v is None or v is NO_VALUE:
        return "interface {}"
    return getattr(type(v), "go_type", type(v).__name__)


def _float_digits(f: float) -> tuple[str, int]:
    """Shortest round-trip digits of ``|f|`` and the decimal exponent of the first digit."""
    from decimal import Decimal  # rare (%g of floats); not on every command's start-up

    t = Decimal(repr(abs(f))).normalize().as_tuple()
    digits = "".join(map(str, t.digits)) or "0"
    exp = len(digits) - 1 + int(t.exponent)
    return digits, exp


def _format_g(f: float, prec: int = -1, upper: bool = False) -> str:
    """Go's %g (``strconv.FormatFloat(f, 'g', prec, 64)``)."""
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    if prec >= 0:
        s = f"{f:.{max(prec, 1)}g}"
        s = re.sub(r"e([+-])(\d)$", r"e\g<1>0\2", s)
        return s.upper() if upper else s
    if f == 0:
        return "-0" if math.copysign(1, f) < 0 else "0"
    digits, exp = _float_digits(f)
    sign = "-" if f < 0 else ""
    if exp < -4 or exp >= 6:  # strconv: shortest %g switches to %e at precision 6
        mant = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        e = f"e{'+' if exp >= 0 else '-'}{abs(exp):02d}"
        out = sign + mant + e
    elif exp < 0:
        out = sign + "0." + "0" * (-exp - 1) + digits
    else:
        whole = digits[: exp + 1].ljust(exp + 1, "0")
        frac = digits[exp + 1 :]
        out = sign + whole + ("." + frac if frac else "")
    return out.upper() if upper else out


def _go_time(t: _dt.datetime) -> str:
    """``time.Time.String()``: ``2006-01-02 15:04:05.999999999 -0700 MST``."""
    if t.tzinfo is None:
        t = t.replace(tzinfo=_dt.UTC)
    base = t.strftime("%Y-%m-%d %H:%M:%S")
    if t.microsecond:
        base += ("." + f"{t.microsecond:06d}").rstrip("0")
    off = t.strftime("%z")
    name = "UTC" if t.utcoffset() == _dt.timedelta(0) else (t.tzname() or off)
    return f"{base} {off} {name}"


def go_sprint(v: Any) -> str:
    """``fmt.Sprint`` of one value, as a template prints it."""
    if v is NO_VALUE:
        return "<no value>"
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return _format_g(v)
    if isinstance(v, str):
        return v
    if isinstance(v, _dt.datetime):
        return _go_time(v)
    if isinstance(v, Record):
        return "{" + " ".join(go_sprint(x) for x in v.values()) + "}"
    if isinstance(v, Mapping):
        return "map[" + " ".join(f"{go_sprint(k)}:{go_sprint(v[k])}" for k in sorted(v, key=str)) + "]"
    if isinstance(v, list | tuple):
        return "[" + " ".join(go_sprint(x) for x in v) + "]"
    return str(v)


def _sprint_many(args: Sequence[Any]) -> str:
    """``fmt.Sprint``: spaces between operands when neither side is a string."""
    out = []
    for i, a in enumerate(args):
        if i > 0 and not isinstance(a, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(go_sprint(a))
    return "".join(out)


def _go_quote(s: str) -> str:
    return json.dumps(s, ensure_ascii=False).replace("\u007f", "\\x7f")


_VERB_RE = re.compile(r"%([-+# 0]*)(\*|\d+)?(?:\.(\*|\d+)?)?([a-zA-Z%])")


def go_sprintf(fmt: str, *args: Any) -> str:
    """``fmt.Sprintf`` for the verbs templates use: v s q d x X o b c t f F e E g G %."""
    out: list[str] = []
    argi = 0
    pos = 0

    def next_arg() -> Any:
        nonlocal argi
        if argi >= len(args):
            raise IndexError
        a = args[argi]
        argi += 1
        return a

    for m in _VERB_RE.finditer(fmt):
        out.append(fmt[pos : m.start()])
        pos = m.end()
        flags, width, prec, verb = m.group(1), m.group(2), m.group(3), m.group(4)
        if verb == "%":
            out.append("%")
            continue
        try:
            if width == "*":
                width = str(next_arg())
            if prec == "*":
                prec = str(next_arg())
            a = next_arg()
        except IndexError:
            out.append(f"%!{verb}(MISSING)")
            continue
        p = int(prec) if prec not in (None, "") else (0 if prec == "" else None)
        s = _fmt_one(verb, flags, p, a)
        w = int(width) if width else 0
        if len(s) < w:
            if "-" in flags:
                s = s.ljust(w)
            elif "0" in flags and verb in "dxXobfFeEgG" and not isinstance(a, str):
                neg = s.startswith(("-", "+"))
                s = (s[0] + s[1:].rjust(w - 1, "0")) if neg else s.rjust(w, "0")
            else:
                s = s.rjust(w)
        out.append(s)
    out.append(fmt[pos:])
    if argi < len(args):
        extra = ", ".join(f"{_go_type_name(a)}={go_sprint(a)}" for a in args[argi:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


def _bad(verb: str, a: Any) -> str:
    return f"%!{verb}({_go_type_name(a)}={go_sprint(a)})"


def _fmt_one(verb: str, flags: str, prec: int | None, a: Any) -> str:
    if verb == "v":
        if isinstance(a, float) and prec is not None:
            return _format_g(a, prec)
        return go_sprint(a)
    if verb == "s":
        s = go_sprint(a) if not isinstance(a, int | float) or isinstance(a, bool) else _bad(verb, a)
        return s[:prec] if prec is not None and isinstance(a, str) else s
    if verb == "q":
        if isinstance(a, str):
            return _go_quote(a)
        if isinstance(a, int) and not isinstance(a, bool):
            return "'" + chr(a) + "'"
        if isinstance(a, list | tuple):
            return "[" + " ".join(_fmt_one("q", flags, prec, x) for x in a) + "]"
        return _bad(verb, a)
    if verb == "t":
        return ("true" if a else "false") if isinstance(a, bool) else _bad(verb, a)
    if verb in "dxXobc":
        if isinstance(a, bool):
            return _bad(verb, a)
        if isinstance(a, int):
            sign = "+" if "+" in flags and a >= 0 else ""
            if verb == "d":
                return sign + str(a)
            if verb == "c":
                return chr(a)
            spec = {"x": "x", "X": "X", "o": "o", "b": "b"}[verb]
            prefix = (
                ("0x" if verb == "x" else "0X" if verb == "X" else "0" if verb == "o" else "")
                if "#" in flags
                else ""
            )
            return ("-" if a < 0 else sign) + prefix + format(abs(a), spec)
        if isinstance(a, str) and verb in "xX":
            h = a.encode().hex()
            return h.upper() if verb == "X" else h
        if isinstance(a, list | tuple):
            return "[" + " ".join(_fmt_one(verb, flags, prec, x) for x in a) + "]"
        return _bad(verb, a)
    if verb in "fFeEgG":
        if isinstance(a, bool) or not isinstance(a, int | float):
            return _bad(verb, a)
        f = float(a)
        sign = "+" if "+" in flags and f >= 0 else ""
        if verb in "fF":
            return sign + f"{f:.{6 if prec is None else prec}f}"
        if verb in "eE":
            s = f"{f:.{6 if prec is None else prec}e}"
            return sign + (s.upper() if verb == "E" else s)
        return sign + _format_g(f, -1 if prec is None else prec, upper=verb == "G")
    return f"%!{verb}({_go_type_name(a)}={go_sprint(a)})"


def _to_jsonable(v: Any) -> Any:
    if v is NO_VALUE:
        return None
    if isinstance(v, Record):
        return {k: _to_jsonable(x) for k, x in v.items()}
    if isinstance(v, Mapping):
        # dicts keep their order: engine documents are structs in field order, and the engine
        # sorts real maps (labels, ports) the way Go's encoder would
        return {str(k): _to_jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_to_jsonable(x) for x in v]
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e21:
        return int(v)
    if isinstance(v, _dt.datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=_dt.UTC)
        s = v.isoformat()
        return s.replace("+00:00", "Z")
    if hasattr(v, "to_json") and callable(v.to_json):
        return _to_jsonable(v.to_json())
    return v


def go_json(v: Any, indent: int | None = None, escape_html: bool = False) -> str:
    """Go's ``json.Marshal``/``MarshalIndent`` (key order as given), no HTML escaping
    unless asked (``json.MarshalIndent`` escapes ``<>&``, ``Encoder.SetEscapeHTML(false)`` does not)."""
    s = json.dumps(
        _to_jsonable(v),
        ensure_ascii=False,
        indent=indent,
        separators=(",", ":") if indent is None else (",", ": "),
    )
    s = s.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    if escape_html:
        s = s.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return s


# ---------------------------------------------------------------------------------------------
# Builtin and Podman functions


def _truth(v: Any) -> bool:
    """Go's ``template.IsTrue``: zero values are false, structs are always true."""
    if isinstance(v, Record):
        return True
    if v is None or v is NO_VALUE:
        return False
    if isinstance(v, bool):
        return v
    if isinstance(v, int | float):
        return v != 0
    if isinstance(v, str | list | tuple | dict):
        return len(v) > 0
    return True


def _index(item: Any, *indexes: Any) -> Any:
    for ix in indexes:
        if item is None or item is NO_VALUE:
            raise ValueError("index of untyped nil")
        if isinstance(item, Mapping) and not isinstance(item, Record):
            item = item.get(ix, "")
        elif isinstance(item, list | tuple | str):
            if not isinstance(ix, int) or isinstance(ix, bool):
                raise ValueError(f"cannot index slice/array with type {_go_type_name(ix)}")
            if ix < 0 or ix >= len(item):
                raise ValueError(f"index out of range: {ix}")
            item = item[ix] if not isinstance(item, str) else ord(item[ix])
        else:
            raise ValueError(f"can't index item of type {_go_type_name(item)}")
    return item


def _slice(item: Any, *idx: Any) -> Any:
    if not isinstance(item, list | tuple | str):
        raise ValueError(f"can't slice item of type {_go_type_name(item)}")
    if len(idx) > 3:
        raise ValueError(f"too many slice indexes: {len(idx)}")
    start = idx[0] if idx else 0
    end = idx[1] if len(idx) > 1 else len(item)
    if not 0 <= start <= end <= len(item):
        raise ValueError(f"index out of range: {end if end > len(item) else start}")
    return item[start:end]


def _length(item: Any) -> int:
    if isinstance(item, str | list | tuple | dict):
        return len(item)
    raise ValueError(f"len of type {_go_type_name(item)}")


def _cmp_check(a: Any, b: Any) -> None:
    num = (int, float)
    if isinstance(a, bool) != isinstance(b, bool) or (
        not (isinstance(a, num) and isinstance(b, num)) and type(a) is not type(b)
    ):
        raise ValueError("incompatible types for comparison")


def _eq(a: Any, *bs: Any) -> bool:
    if not bs:
        raise ValueError("missing argument for comparison")
    for b in bs:
        if a is None or b is None:
            if a is b:
                return True
            continue
        _cmp_check(a, b)
        if a == b:
            return True
    return False


def _ordered(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def f(a: Any, b: Any) -> bool:
        _cmp_check(a, b)
        if isinstance(a, bool | list | dict):
            raise ValueError("invalid type for comparison")
        return op(a, b)

    return f


def _truncate(s: str, n: int) -> str:
    return s[:n] if len(s) > n else s


def _pad(s: str, prefix: int, suffix: int) -> str:
    return " " * prefix + s + " " * suffix


def _title(s: str) -> str:
    return re.sub(r"(^|[^\w'])(\w)", lambda m: m.group(1) + m.group(2).upper(), s)


def _js(s: Any) -> str:
    return json.dumps(go_sprint(s))[1:-1].replace("'", "\\'").replace("<", "\\u003C").replace(">", "\\u003E")


def _html(s: Any) -> str:
    import html

    return html.escape(go_sprint(s), quote=True).replace("&#x27;", "&#39;")


def _urlquery(*a: Any) -> str:
    from urllib.parse import quote_plus

    return quote_plus(_sprint_many(a))


FUNCS: dict[str, Callable[..., Any]] = {
    # Go text/template builtins (and/or are special-cased for short-circuiting)
    "index": _index,
    "slice": _slice,
    "len": _length,
    "not": lambda v: not _truth(v),
    "eq": _eq,
    "ne": lambda a, b: not _eq(a, b),
    "lt": _ordered(lambda a, b: a < b),
    "le": _ordered(lambda a, b: a <= b),
    "gt": _ordered(lambda a, b: a > b),
    "ge": _ordered(lambda a, b: a >= b),
    "print": lambda *a: _sprint_many(a),
    "printf": lambda fmt, *a: go_sprintf(fmt, *a),
    "println": lambda *a: " ".join(go_sprint(x) for x in a) + "\n",
    "html": _html,
    "js": _js,
    "urlquery": _urlquery,
    # containers/common report.DefaultFuncs
    "json": lambda v: go_json(v),
    "join": lambda items, sep: sep.join(go_sprint(x) for x in (items or [])),
    "lower": lambda s: go_sprint(s).lower(),
    "upper": lambda s: go_sprint(s).upper(),
    "title": lambda s: _title(go_sprint(s)),
    "split": lambda s, sep: s.split(sep) if sep else list(s),
    "truncate": _truncate,
    "pad": _pad,
}
_SPECIAL = {"and", "or", "call"}


# ---------------------------------------------------------------------------------------------
# Lexer


class _Tok:
    __slots__ = ("kind", "val", "pos", "adj", "text")

    def __init__(self, kind: str, val: Any, pos: int, adj: bool, text: str) -> None:
        self.kind, self.val, self.pos, self.adj, self.text = kind, val, pos, adj, text

    def __repr__(self) -> str:
        return f"{self.kind}:{self.text}"


_TOKEN_RE = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<field>\.[A-Za-z_][A-Za-z0-9_]*)
  | (?P<var>\$[A-Za-z0-9_]*)
  | (?P<declare>:=)
  | (?P<number>[-+]?(?:0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|(?:\d[\d_]*(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?))
  | (?P<dot>\.)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<raw>`[^`]*`)
  | (?P<char>'(?:[^'\\\n]|\\.[^']*)')
  | (?P<pipe>\|)
  | (?P<lparen>\()
  | (?P<rparen>\))
  | (?P<assign>=)
  | (?P<comma>,)
    """,
    re.VERBOSE | re.DOTALL,
)

_ESCAPES = {
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "\\": "\\",
    '"': '"',
    "'": "'",
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "v": "\v",
}


def _unquote(body: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        n = body[i + 1]
        if n in _ESCAPES:
            out.append(_ESCAPES[n])
            i += 2
        elif n == "x":
            out.append(chr(int(body[i + 2 : i + 4], 16)))
            i += 4
        elif n == "u":
            out.append(chr(int(body[i + 2 : i + 6], 16)))
            i += 6
        elif n == "U":
            out.append(chr(int(body[i + 2 : i + 10], 16)))
            i += 10
        elif n in "01234567":
            out.append(chr(int(body[i + 1 : i + 4], 8)))
            i += 4
        else:
            raise ValueError(f"unknown escape sequence: \\{n}")
    return "".join(out)


def _parse_number(s: str) -> int | float:
    t = s.replace("_", "")
    try:
        if re.fullmatch(r"[-+]?0[xX][0-9a-fA-F]+", t):
            return int(t, 16)
        if re.fullmatch(r"[-+]?0[oO][0-7]+", t):
            return int(t, 8)
        if re.fullmatch(r"[-+]?0[bB][01]+", t):
            return int(t, 2)
        if re.fullmatch(r"[-+]?\d+", t):
            return int(t)
        return float(t)
    except ValueError:
        raise ValueError(f"bad number syntax: {s!r}") from None


# ---------------------------------------------------------------------------------------------
# Parse tree


class _Node:
    pos: int = 0
    src: str = ""


class _Text(_Node):
    def __init__(self, text: str) -> None:
        self.text = text


class _Operand(_Node):
    """kind: field (names) | var (name, names) | dot | func (name) | const (value) | pipe (pipe, names)."""

    def __init__(self, kind: str, pos: int, src: str, **kw: Any) -> None:
        self.kind = kind
        self.pos = pos
        self.src = src
        self.name: str = kw.get("name", "")
        self.names: list[str] = kw.get("names", [])
        self.value: Any = kw.get("value")
        self.pipe: _Pipe | None = kw.get("pipe")


class _Command(_Node):
    def __init__(self, args: list[_Operand], pos: int, src: str) -> None:
        self.args, self.pos, self.src = args, pos, src


class _Pipe(_Node):
    def __init__(self, decl: list[str], is_assign: bool, cmds: list[_Command], pos: int, src: str) -> None:
        self.decl, self.is_assign, self.cmds, self.pos, self.src = decl, is_assign, cmds, pos, src


class _Action(_Node):
    def __init__(self, pipe: _Pipe) -> None:
        self.pipe = pipe


class _Branch(_Node):
    def __init__(self, kind: str, pipe: _Pipe) -> None:
        self.kind = kind  # if | range | with
        self.pipe = pipe
        self.body: list[_Node] = []
        self.else_body: list[_Node] | None = None


class _Jump(_Node):
    def __init__(self, kind: str) -> None:
        self.kind = kind  # break | continue


class _BreakLoop(Exception):
    pass


class _ContinueLoop(Exception):
    pass


class Template:
    """A parsed template; ``execute(data)`` renders it. Parse errors raise :class:`TemplateError`."""

    def __init__(
        self, text: str, name: str = "template", funcs: Mapping[str, Callable[..., Any]] | None = None
    ):
        self.name = name
        self.text = text
        self.funcs = dict(FUNCS)
        if funcs:
            self.funcs.update(funcs)
        self.root = self._parse()

    # -- errors
    def _line(self, pos: int) -> int:
        return self.text.count("\n", 0, pos) + 1

    def _parse_error(self, pos: int, msg: str) -> TemplateError:
        return TemplateError(f"template: {self.name}:{self._line(pos)}: {msg}")

    def _exec_error(self, node: _Node, msg: str) -> TemplateError:
        pos = node.pos
        col = pos - (self.text.rfind("\n", 0, pos) + 1)
        return TemplateError(
            f'template: {self.name}:{self._line(pos)}:{col}: executing "{self.name}" at <{node.src}>: {msg}'
        )

    # -- lexing
    def _split(self) -> list[tuple[str, Any, int]]:
        """Text and actions: ('text', str, pos) | ('action', tokens, pos)."""
        text = self.text
        items: list[tuple[str, Any, int]] = []
        i = 0
        trim_next = False
        while True:
            j = text.find("{{", i)
            if j < 0:
                chunk = text[i:]
                if trim_next:
                    chunk = chunk.lstrip(" \t\r\n")
                if chunk:
                    items.append(("text", chunk, i))
                return items
            chunk = text[i:j]
            if trim_next:
                chunk = chunk.lstrip(" \t\r\n")
            start = j + 2
            if text.startswith("-", start) and start + 1 < len(text) and text[start + 1] in " \t\r\n":
                chunk = chunk.rstrip(" \t\r\n")
                start += 1
            if chunk:
                items.append(("text", chunk, i))
            # comment
            k = start
            while k < len(text) and text[k] in " \t\r\n":
                k += 1
            if text.startswith("/*", k):
                endc = text.find("*/", k + 2)
                if endc < 0:
                    raise self._parse_error(j, "unclosed comment")
                rest = text[endc + 2 :]
                if rest.startswith("}}"):
                    i, trim_next = endc + 4, False
                elif re.match(r"\s+-\}\}", rest):
                    mm = re.match(r"\s+-\}\}", rest)
                    assert mm
                    i, trim_next = endc + 2 + mm.end(), True
                else:
                    raise self._parse_error(j, "comment ends before closing delimiter")
                continue
            toks, end, trim_next = self._lex_action(start, j)
            items.append(("action", toks, j))
            i = end
        return items

    def _lex_action(self, start: int, open_pos: int) -> tuple[list[_Tok], int, bool]:
        text = self.text
        toks: list[_Tok] = []
        i = start
        prev_end = -1
        while True:
            if i >= len(text):
                raise self._parse_error(open_pos, "unclosed action")
            if text.startswith("}}", i):
                return toks, i + 2, False
            m = re.compile(r"\s+-\}\}").match(text, i)
            if m:
                return toks, m.end(), True
            m = _TOKEN_RE.match(text, i)
            if not m:
                c = text[i]
                raise self._parse_error(i, f"bad character U+{ord(c):04X} {c!r}")
            kind = m.lastgroup or ""
            s = m.group()
            if kind != "space":
                try:
                    if kind == "string":
                        val: Any = _unquote(s[1:-1])
                    elif kind == "raw":
                        val = s[1:-1]
                    elif kind == "char":
                        val = ord(_unquote(s[1:-1]))
                    elif kind == "number":
                        val = _parse_number(s)
                    elif kind == "field":
                        val = s[1:]
                    elif kind == "var":
                        val = s
                    else:
                        val = s
                except ValueError as e:
                    raise self._parse_error(i, str(e)) from None
                toks.append(_Tok(kind, val, i, prev_end == i, s))
                prev_end = m.end()
            i = m.end()

    # -- parsing
    def _parse(self) -> list[_Node]:
        items = self._split()
        root: list[_Node] = []
        stack: list[tuple[_Branch, list[_Node]]] = []  # (branch, parent list)
        cur = root
        loops = 0
        for kind, val, pos in items:
            if kind == "text":
                cur.append(_Text(val))
                continue
            toks: list[_Tok] = val
            if not toks:
                raise self._parse_error(pos, "missing value for command")
            first = toks[0]
            kw = first.val if first.kind == "ident" else None
            if kw in ("if", "range", "with"):
                pipe = self._parse_pipe(toks[1:], pos, kw, allow_decl=True)
                br = _Branch(kw, pipe)
                br.pos = pos
                cur.append(br)
                stack.append((br, cur))
                cur = br.body
                if kw == "range":
                    loops += 1
            elif kw == "else":
                if not stack or stack[-1][0].else_body is not None:
                    raise self._parse_error(pos, "unexpected {{else}}")
                br = stack[-1][0]
                br.else_body = []
                if br.kind == "range":
                    loops -= 1
                if len(toks) > 1:
                    # else if / else with: a nested branch closed by the same {{end}}
                    sub_kw = toks[1].val if toks[1].kind == "ident" else None
                    if sub_kw not in ("if", "with"):
                        raise self._parse_error(pos, "unexpected tokens after {{else}}")
                    sub = _Branch(sub_kw, self._parse_pipe(toks[2:], pos, sub_kw, allow_decl=True))
                    sub.pos = pos
                    sub.chained = True  # type: ignore[attr-defined]
                    br.else_body.append(sub)
                    stack.append((sub, br.else_body))
                    cur = sub.body
                else:
                    cur = br.else_body
            elif kw == "end":
                if len(toks) > 1:
                    raise self._parse_error(pos, "unexpected tokens in {{end}}")
                if not stack:
                    raise self._parse_error(pos, "unexpected {{end}}")
                while True:
                    br, parent = stack.pop()
                    if br.kind == "range" and br.else_body is None:
                        loops -= 1
                    if not getattr(br, "chained", False):
                        break
                cur = parent
            elif kw in ("break", "continue"):
                if loops <= 0:
                    raise self._parse_error(pos, f"{{{{{kw}}}}} outside {{{{range}}}}")
                j = _Jump(kw)
                j.pos = pos
                cur.append(j)
            elif kw in ("define", "template", "block"):
                raise self._parse_error(pos, f"{{{{{kw}}}}} is not supported by podpy's --format")
            else:
                act = _Action(self._parse_pipe(toks, pos, "command", allow_decl=True))
                act.pos = pos
                cur.append(act)
        if stack:
            raise self._parse_error(len(self.text), f"unexpected EOF in {stack[-1][0].kind}")
        return root

    def _parse_pipe(self, toks: list[_Tok], pos: int, ctx: str, allow_decl: bool) -> _Pipe:
        decl: list[str] = []
        is_assign = False
        i = 0
        if allow_decl and toks and toks[0].kind == "var":
            if len(toks) > 1 and toks[1].kind in ("declare", "assign"):
                decl, is_assign, i = [toks[0].val], toks[1].kind == "assign", 2
            elif (
                len(toks) > 3
                and toks[1].kind == "comma"
                and toks[2].kind == "var"
                and toks[3].kind in ("declare", "assign")
            ):
                if ctx != "range":
                    raise self._parse_error(pos, "too many declarations in command")
                decl, is_assign, i = [toks[0].val, toks[2].val], toks[3].kind == "assign", 4
        rest = toks[i:]
        if not rest:
            raise self._parse_error(pos, f"missing value for {ctx}")
        cmds: list[_Command] = []
        cur: list[_Tok] = []
        depth = 0
        for t in rest:
            if t.kind == "lparen":
                depth += 1
            elif t.kind == "rparen":
                depth -= 1
                if depth < 0:
                    raise self._parse_error(t.pos, "unexpected right paren")
            if t.kind == "pipe" and depth == 0:
                if not cur:
                    raise self._parse_error(t.pos, "missing command")
                cmds.append(self._parse_command(cur))
                cur = []
            else:
                cur.append(t)
        if depth:
            raise self._parse_error(pos, "unclosed left paren")
        if not cur:
            raise self._parse_error(pos, "missing command")
        cmds.append(self._parse_command(cur))
        for c in cmds[1:]:
            if c.args[0].kind in ("const",) and len(c.args) == 1:
                raise self._parse_error(
                    c.pos, f"non executable command in pipeline stage {cmds.index(c) + 1}"
                )
        src = self.text[rest[0].pos : rest[-1].pos + len(rest[-1].text)]
        return _Pipe(decl, is_assign, cmds, rest[0].pos, src)

    def _parse_command(self, toks: list[_Tok]) -> _Command:
        args: list[_Operand] = []
        i = 0
        while i < len(toks):
            op, i = self._parse_operand(toks, i)
            args.append(op)
        src = self.text[toks[0].pos : toks[-1].pos + len(toks[-1].text)]
        return _Command(args, toks[0].pos, src)

    def _parse_operand(self, toks: list[_Tok], i: int) -> tuple[_Operand, int]:
        t = toks[i]
        start = t.pos
        i += 1
        if t.kind == "field":
            names = [t.val]
            while i < len(toks) and toks[i].kind == "field" and toks[i].adj:
                names.append(toks[i].val)
                i += 1
            op = _Operand("field", start, "." + ".".join(names), names=names)
        elif t.kind == "var":
            names = []
            while i < len(toks) and toks[i].kind == "field" and toks[i].adj:
                names.append(toks[i].val)
                i += 1
            op = _Operand("var", start, t.val + "".join("." + n for n in names), name=t.val, names=names)
            if names:
                op.pos = start + len(t.val)  # Go reports a variable's field chain at the field
        elif t.kind == "dot":
            op = _Operand("dot", start, ".")
        elif t.kind == "ident":
            if t.val in ("true", "false"):
                op = _Operand("const", start, t.val, value=t.val == "true")
            elif t.val == "nil":
                op = _Operand("const", start, "nil", value=None)
            else:
                if t.val not in self.funcs and t.val not in _SPECIAL:
                    raise self._parse_error(start, f'function "{t.val}" not defined')
                op = _Operand("func", start, t.val, name=t.val)
        elif t.kind in ("string", "raw", "number", "char"):
            op = _Operand("const", start, t.text, value=t.val)
        elif t.kind == "lparen":
            depth = 1
            j = i
            while j < len(toks):
                if toks[j].kind == "lparen":
                    depth += 1
                elif toks[j].kind == "rparen":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            inner = toks[i:j]
            pipe = self._parse_pipe(inner, start, "parenthesized pipeline", allow_decl=False)
            i = j + 1
            names = []
            while i < len(toks) and toks[i].kind == "field" and toks[i].adj:
                names.append(toks[i].val)
                i += 1
            src = self.text[start : toks[j].pos + 1] + "".join("." + n for n in names)
            op = _Operand("pipe", start, src, pipe=pipe, names=names)
        else:
            raise self._parse_error(start, f"unexpected {t.text!r} in operand")
        return op, i

    # -- execution
    def execute(self, data: Any) -> str:
        out: list[str] = []
        self._walk(self.root, data, [("$", data)], out)
        return "".join(out)

    def _walk(self, nodes: list[_Node], dot: Any, vars_: list[tuple[str, Any]], out: list[str]) -> None:
        for n in nodes:
            if isinstance(n, _Text):
                out.append(n.text)
            elif isinstance(n, _Action):
                v = self._eval_pipe(n.pipe, dot, vars_)
                if not n.pipe.decl:
                    out.append(go_sprint(v))
            elif isinstance(n, _Branch):
                self._branch(n, dot, vars_, out)
            elif isinstance(n, _Jump):
                raise _BreakLoop() if n.kind == "break" else _ContinueLoop()

    def _branch(self, n: _Branch, dot: Any, vars_: list[tuple[str, Any]], out: list[str]) -> None:
        mark = len(vars_)
        try:
            if n.kind == "range":
                self._range(n, dot, vars_, out)
                return
            v = self._eval_pipe(n.pipe, dot, vars_)
            if _truth(v):
                self._walk(n.body, v if n.kind == "with" else dot, vars_, out)
            elif n.else_body is not None:
                self._walk(n.else_body, dot, vars_, out)
        finally:
            del vars_[mark:]

    def _range(self, n: _Branch, dot: Any, vars_: list[tuple[str, Any]], out: list[str]) -> None:
        decl, n.pipe.decl = n.pipe.decl, []
        try:
            v = self._eval_pipe(n.pipe, dot, vars_)
        finally:
            n.pipe.decl = decl
        if v is None or v is NO_VALUE:
            pairs: list[tuple[Any, Any]] = []
        elif isinstance(v, Record):
            raise self._exec_error(n.pipe, f"range can't iterate over {go_sprint(v)}")
        elif isinstance(v, Mapping):
            pairs = [(k, v[k]) for k in sorted(v, key=str)]
        elif isinstance(v, list | tuple):
            pairs = list(enumerate(v))
        elif isinstance(v, int) and not isinstance(v, bool):
            pairs = [(i, i) for i in range(v)]
        else:
            raise self._exec_error(n.pipe, f"range can't iterate over {go_sprint(v)}")
        if not pairs:
            if n.else_body is not None:
                self._walk(n.else_body, dot, vars_, out)
            return
        mark = len(vars_)
        for k, elem in pairs:
            del vars_[mark:]
            if len(decl) == 1:
                vars_.append((decl[0], elem))
            elif len(decl) == 2:
                vars_.append((decl[0], k))
                vars_.append((decl[1], elem))
            try:
                self._walk(n.body, elem, vars_, out)
            except _BreakLoop:
                break
            except _ContinueLoop:
                continue

    def _eval_pipe(self, pipe: _Pipe, dot: Any, vars_: list[tuple[str, Any]]) -> Any:
        value: Any = _MISSING
        for cmd in pipe.cmds:
            value = self._eval_cmd(cmd, dot, vars_, value)
        if pipe.decl:
            if pipe.is_assign:
                for idx in range(len(vars_) - 1, -1, -1):
                    if vars_[idx][0] == pipe.decl[0]:
                        vars_[idx] = (pipe.decl[0], value)
                        break
                else:
                    raise self._exec_error(pipe, f"undefined variable: {pipe.decl[0]}")
            else:
                vars_.append((pipe.decl[0], value))
        return value

    def _eval_cmd(self, cmd: _Command, dot: Any, vars_: list[tuple[str, Any]], final: Any) -> Any:
        first = cmd.args[0]
        if first.kind == "func":
            return self._call_func(first.name, cmd, dot, vars_, final)
        if first.kind in ("field", "var", "pipe") and (len(cmd.args) > 1 or final is not _MISSING):
            args = [self._eval_arg(a, dot, vars_) for a in cmd.args[1:]]
            if final is not _MISSING:
                args.append(final)
            return self._eval_operand(first, dot, vars_, call_args=args, cmd=cmd)
        if len(cmd.args) > 1 or final is not _MISSING:
            raise self._exec_error(cmd, f"can't give argument to non-function {first.src}")
        return self._eval_operand(first, dot, vars_)

    def _eval_arg(self, a: _Operand, dot: Any, vars_: list[tuple[str, Any]]) -> Any:
        if a.kind == "func":
            # a bare function name as an argument calls it without arguments, as Go does
            return self._call_func(a.name, _Command([a], a.pos, a.src), dot, vars_, _MISSING)
        return self._eval_operand(a, dot, vars_)

    def _call_func(self, name: str, cmd: _Command, dot: Any, vars_: list[tuple[str, Any]], final: Any) -> Any:
        arg_nodes = cmd.args[1:]
        if name in ("and", "or"):
            vals_lazy = [lambda a=a: self._eval_arg(a, dot, vars_) for a in arg_nodes]
            if final is not _MISSING:
                vals_lazy.append(lambda: final)
            if not vals_lazy:
                raise self._exec_error(cmd, f"wrong number of args for {name}: want at least 1 got 0")
            v: Any = None
            for get in vals_lazy:
                v = get()
                if (name == "and") != _truth(v):
                    return v
            return v
        args = [self._eval_arg(a, dot, vars_) for a in arg_nodes]
        if final is not _MISSING:
            args.append(final)
        if name == "call":
            if not args or not callable(args[0]):
                raise self._exec_error(cmd, "error calling call: non-function")
            fn, args = args[0], args[1:]
        else:
            fn = self.funcs[name]
        try:
            return fn(*args)
        except TemplateError:
            raise
        except TypeError as e:
            msg = str(e)
            if "argument" in msg:
                raise self._exec_error(cmd, f"wrong number of args for {name}: {msg}") from None
            raise self._exec_error(cmd, f"error calling {name}: {msg}") from None
        except (ValueError, KeyError, IndexError, AttributeError) as e:
            raise self._exec_error(cmd, f"error calling {name}: {e}") from None

    def _eval_operand(
        self,
        op: _Operand,
        dot: Any,
        vars_: list[tuple[str, Any]],
        call_args: list[Any] | None = None,
        cmd: _Node | None = None,
    ) -> Any:
        if op.kind == "const":
            return op.value
        if op.kind == "dot":
            return dot
        if op.kind == "field":
            return self._chain(dot, op.names, op, call_args)
        if op.kind == "var":
            for name, val in reversed(vars_):
                if name == op.name:
                    return self._chain(val, op.names, op, call_args)
            raise self._parse_error(op.pos, f"undefined variable {op.name!r}")
        if op.kind == "pipe":
            assert op.pipe is not None
            base = self._eval_pipe(op.pipe, dot, vars_)
            return self._chain(base, op.names, op, call_args)
        raise self._exec_error(op, f"can't evaluate {op.src}")

    def _chain(self, obj: Any, names: list[str], node: _Operand, call_args: list[Any] | None) -> Any:
        if not names:
            if call_args:
                raise self._exec_error(node, f"can't give argument to non-function {node.src}")
            return obj
        for idx, name in enumerate(names):
            last = idx == len(names) - 1
            obj = self._field(obj, name, node, call_args if last else None)
        return obj

    def _field(self, obj: Any, name: str, node: _Operand, call_args: list[Any] | None) -> Any:
        if isinstance(obj, _HeaderCell):
            return obj
        if obj is None or obj is NO_VALUE:
            raise self._exec_error(node, f"nil pointer evaluating interface {{}}.{name}")
        if isinstance(obj, Record):
            if name not in obj:
                raise self._exec_error(node, f"can't evaluate field {name} in type {obj.go_type}")
            val = obj[name]
        elif isinstance(obj, Mapping):
            if call_args:
                raise self._exec_error(node, f"{name} is not a method but has arguments")
            return obj.get(name, NO_VALUE)
        elif isinstance(obj, str | int | float | bool | list | tuple | _dt.datetime):
            raise self._exec_error(node, f"can't evaluate field {name} in type {_go_type_name(obj)}")
        else:
            if name.startswith("_") or not hasattr(obj, name):
                raise self._exec_error(node, f"can't evaluate field {name} in type {_go_type_name(obj)}")
            val = getattr(obj, name)
        if callable(val) and not isinstance(val, type):
            try:
                return val(*(call_args or []))
            except TypeError as e:
                raise self._exec_error(node, f"wrong number of args for {name}: {e}") from None
            except PodpyError:
                raise
            except Exception as e:  # noqa: BLE001 - a method failing is the template's error
                raise self._exec_error(node, f"error calling {name}: {e}") from None
        if call_args:
            raise self._exec_error(node, f"{name} has arguments but cannot be invoked as function")
        return val


_MISSING = object()


# ---------------------------------------------------------------------------------------------
# Podman's report layer: table/json handling, headers, tabwriter


_JSON_RE = re.compile(r"^\s*(json|\{\{\s*json\s*(\.)?\s*\}\})\s*$")
_RANGE_RE = re.compile(r"(?s)\{\{\s*range\s*\.\s*\}\}.*\{\{-?\s*end\s*-?\s*\}\}")


def is_json(fmt: str | None) -> bool:
    """``--format json`` (or ``{{json .}}``) means "the JSON document", as report.IsJSON says."""
    return bool(fmt) and bool(_JSON_RE.match(fmt or ""))


def has_table(fmt: str | None) -> bool:
    return bool(fmt) and (fmt or "").startswith("table")


def normalize_format(fmt: str) -> str:
    """Podman 4.3's NormalizeFormat: drop ``table ``, turn ``\\t``/``\\n`` escapes (and, for tables,
    spaces) into tabs/newlines, end with a newline."""
    if fmt.startswith("table "):
        f = fmt.replace("table ", "").replace("\\t", "\t").replace("\\n", "\n").replace(" ", "\t")
        # NewReplacer is a single pass: a literal "\t" produced from a space is not re-replaced; same result.
    else:
        f = fmt.replace("\\t", "\t").replace("\\n", "\n")
    if not f.endswith("\n"):
        f += "\n"
    return f


def _camel_split(name: str) -> list[str]:
    """fatih/camelcase.Split: "ReadOnly" -> Read Only, "ID" -> ID, "HTTPServer" -> HTTP Server."""
    parts = re.findall(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+|[^A-Za-z\d]+", name)
    return parts or [name]


def headers_from_fields(fields: Iterable[str], overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """Column headers the way report.Headers builds them: the field name split at case changes, upper-cased."""
    h = {f: " ".join(_camel_split(f)).upper() for f in fields}
    for k, v in (overrides or {}).items():
        h[k] = v.upper()
    return h


class _HeaderCell(str):
    """A header string: further field access (``.Labels.key``) stays on the header."""


class _HeaderRow(dict):  # type: ignore[type-arg]
    """The map a table header is rendered from; unknown names print ``<no value>`` as in Podman."""

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        if key in self:
            return _HeaderCell(self[key])
        return NO_VALUE


def render(
    fmt: str,
    rows: Sequence[Any],
    *,
    name: str = "template",
    headers: Mapping[str, str] | None = None,
    user: bool = True,
    noheading: bool = False,
    funcs: Mapping[str, Callable[..., Any]] | None = None,
) -> str:
    """Render ``rows`` with a ``--format`` string exactly as Podman's report.Formatter does.

    ``user=False`` is for a command's own default format (which already contains ``{{range .}}``
    and is always aligned with a header). A ``table`` format prints the header row (unless
    ``noheading``) and aligns columns; a plain user format prints each row as written.
    """
    table = fmt.startswith("table ")
    if table:
        text = "{{range .}}" + normalize_format(fmt) + "{{end -}}"
    elif user:
        text = normalize_format(fmt)
        if not _RANGE_RE.search(text):
            text = "{{range .}}" + text + "{{end -}}"
    else:
        text = normalize_format(fmt)
    tmpl = Template(text, name=name, funcs=funcs)
    aligned = table or not user
    parts = []
    if aligned and not noheading and headers is not None:
        parts.append(tmpl.execute([_HeaderRow(headers)]))
    parts.append(tmpl.execute(list(rows)))
    out = "".join(parts)
    return tabwrite(out) if aligned else out


def render_one(fmt: str, obj: Any, *, name: str = "template") -> str:
    """Render a template against a single object (``inspect --format``): no implicit range, newline-terminated."""
    return Template(normalize_format(fmt), name=name).execute(obj)
