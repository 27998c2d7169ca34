"""Containerfile word processing: quotes, the escape character and ``$VAR`` expansion.

The rules are those of moby's ``shell.Lex`` (what Docker, Buildah and Podman use): single quotes
are literal, double quotes allow ``$`` expansion and escapes, the escape character (``\\`` or the
``# escape=`` directive's backtick) escapes the next character; ``$VAR``, ``${VAR}``,
``${VAR:-word}``, ``${VAR-word}``, ``${VAR:+word}``, ``${VAR+word}``, ``${VAR:?msg}``. Unset
variables expand to "". Used for FROM, COPY, ADD, ENV, ARG, LABEL, WORKDIR, USER, EXPOSE, VOLUME,
STOPSIGNAL (RUN, CMD and ENTRYPOINT are left to the container's shell).
"""

from __future__ import annotations

from collections.abc import Mapping

from podpy.util.errors import UsageError


class Lexer:
    """Expand and unquote words with one escape character (``\\`` by default)."""

    def __init__(self, escape: str = "\\") -> None:
        self.escape = escape

    def word(self, text: str, env: Mapping[str, str]) -> str:
        """One word: quotes removed, variables expanded, whitespace kept."""
        return "".join(self._process(text, env, split=False)[0])

    def words(self, text: str, env: Mapping[str, str]) -> list[str]:
        """Split on unquoted whitespace, then process each word (an expansion is not re-split)."""
        return self._process(text, env, split=True)

    def expand(self, text: str, env: Mapping[str, str]) -> str:
        """Variables expanded, everything else kept (here-document bodies): ``\\$`` is a literal ``$``."""
        out: list[str] = []
        i = 0
        while i < len(text):
            c = text[i]
            if c == self.escape and text[i + 1 : i + 2] == "$":
                out.append("$")
                i += 2
            elif c == "$":
                val, i = self._dollar(text, i, env)
                out.append(val)
            else:
                out.append(c)
                i += 1
        return "".join(out)

    def split_raw(self, text: str) -> list[str]:
        """Split on unquoted whitespace keeping quotes and escapes (for ``KEY=VALUE`` pairs)."""
        out: list[str] = []
        cur: list[str] = []
        quote = ""
        i = 0
        has = False
        while i < len(text):
            c = text[i]
            if quote:
                cur.append(c)
                if c == self.escape and quote == '"' and i + 1 < len(text):
                    cur.append(text[i + 1])
                    i += 1
                elif c == quote:
                    quote = ""
            elif c == self.escape and i + 1 < len(text):
                cur += [c, text[i + 1]]
                has = True
                i += 1
            elif c in "'\"":
                quote = c
                cur.append(c)
                has = True
            elif c.isspace():
                if has or cur:
                    out.append("".join(cur))
                cur, has = [], False
            else:
                cur.append(c)
                has = True
            i += 1
        if quote:
            raise UsageError(f"unexpected end of statement while looking for matching {quote}")
        if has or cur:
            out.append("".join(cur))
        return out

    # -- the scanner -------------------------------------------------------------------------
    def _process(self, text: str, env: Mapping[str, str], split: bool) -> list[str]:
        words: list[str] = []
        cur: list[str] = []
        started = False
        i = 0
        n = len(text)
        esc = self.escape
        while i < n:
            c = text[i]
            if c == "'":
                end = text.find("'", i + 1)
                if end < 0:
                    raise UsageError("unexpected end of statement while looking for matching single-quote")
                cur.append(text[i + 1 : end])
                started = True
                i = end + 1
            elif c == '"':
                i += 1
                started = True
                while True:
                    if i >= n:
                        raise UsageError(
                            "unexpected end of statement while looking for matching double-quote"
                        )
                    c = text[i]
                    if c == '"':
                        i += 1
                        break
                    if c == esc and i + 1 < n:
                        nxt = text[i + 1]
                        # in double quotes the escape only escapes itself, quotes and $ (as sh)
                        cur.append(nxt if nxt in ('"', "$", esc) else c + nxt)
                        i += 2
                    elif c == "$":
                        val, i = self._dollar(text, i, env)
                        cur.append(val)
                    else:
                        cur.append(c)
                        i += 1
            elif c == esc:
                if i + 1 < n:
                    cur.append(text[i + 1])
                    i += 2
                else:
                    cur.append(c)
                    i += 1
                started = True
            elif c == "$":
                val, i = self._dollar(text, i, env)
                cur.append(val)
                started = True
            elif split and c.isspace():
                if started:
                    words.append("".join(cur))
                cur, started = [], False
                i += 1
            else:
                cur.append(c)
                started = True
                i += 1
        if started or not split:
            words.append("".join(cur))
        return words

    def _dollar(self, text: str, i: int, env: Mapping[str, str]) -> tuple[str, int]:
        """Expand the ``$…`` at ``i``; returns (value, index after it)."""
        n = len(text)
        j = i + 1
        if j >= n:
            return "$", j
        c = text[j]
        if c == "{":
            end = self._matching_brace(text, j)
            body = text[j + 1 : end]
            return self._braced(body, env), end + 1
        if c.isalpha() or c == "_":
            k = j
            while k < n and (text[k].isalnum() or text[k] == "_"):
                k += 1
            return env.get(text[j:k], ""), k
        if c.isdigit():  # positional parameters: always empty in a build
            return "", j + 1
        return "$", j

    @staticmethod
    def _matching_brace(text: str, j: int) -> int:
        depth = 0
        for k in range(j, len(text)):
            if text[k] == "{":
                depth += 1
            elif text[k] == "}":
                depth -= 1
                if depth == 0:
                    return k
        raise UsageError(f"missing '}}' in {text[j - 1 :]!r}")

    def _braced(self, body: str, env: Mapping[str, str]) -> str:
        name_end = 0
        while name_end < len(body) and (body[name_end].isalnum() or body[name_end] == "_"):
            name_end += 1
        name, rest = body[:name_end], body[name_end:]
        if not name:
            raise UsageError(f"bad substitution: ${{{body}}}")
        if not rest:
            return env.get(name, "")
        colon = rest.startswith(":")
        op = rest[1:2] if colon else rest[:1]
        word = rest[2:] if colon else rest[1:]
        if op not in ("-", "+", "?"):
            raise UsageError(f"unsupported modifier ({rest[:2]}) in substitution: ${{{body}}}")
        is_set = name in env
        usable = is_set and (env[name] != "" or not colon)
        if op == "-":
            return env[name] if usable else self.word(word, env)
        if op == "+":
            return self.word(word, env) if usable else ""
        if not usable:
            raise UsageError(f"{name}: {self.word(word, env) or 'is not allowed to be unset'}")
        return env[name]
