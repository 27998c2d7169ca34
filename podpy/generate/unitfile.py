"""systemd unit files as Quadlet reads and writes them: groups of ``Key=Value`` lines, in order.

Reading follows systemd.syntax(7): ``#``/``;`` comments, a trailing backslash continues a line,
``[Group]`` headers; values keep their quoting until a caller asks for words (:func:`split_words`:
systemd's rules for quotes and C escapes). Writing quotes a command line's words only where needed
(:func:`escape_words`), leaving ``%`` specifiers for systemd to expand.
"""

from __future__ import annotations

from collections.abc import Iterator

from podpy.util.errors import InvalidInput

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "a": "\a", "b": "\b", "f": "\f", "v": "\v", "s": " ",
            "\\": "\\", '"': '"', "'": "'"}  # fmt: skip
_TRUE = ("1", "yes", "true", "on")
_FALSE = ("0", "no", "false", "off")


def split_words(value: str) -> list[str]:
    """Words of a value, as systemd splits ``ExecStart=``/``Environment=``: blanks separate, quotes
    group (and are removed), C escapes are decoded."""
    words: list[str] = []
    i, n = 0, len(value)
    while True:
        while i < n and value[i] in " \t\n\r":
            i += 1
        if i >= n:
            return words
        word: list[str] = []
        quote = ""
        while i < n:
            c = value[i]
            if c == "\\" and i + 1 < n:
                i += 1
                e = value[i]
                if e == "x" and i + 2 < n:
                    word.append(chr(int(value[i + 1 : i + 3], 16)))
                    i += 2
                else:
                    word.append(_ESCAPES.get(e, e))
            elif quote:
                if c == quote:
                    quote = ""
                else:
                    word.append(c)
            elif c in "\"'":
                quote = c
            elif c in " \t\n\r":
                break
            else:
                word.append(c)
            i += 1
        if quote:
            raise InvalidInput(f"unbalanced quotes in {value!r}")
        words.append("".join(word))


def _needs_quoting(word: str) -> bool:
    return not word or any(c in " \t\n\r\"'\\" or not c.isprintable() for c in word)


def c_quote(word: str) -> str:
    """A word in double quotes, C-escaped (as Go's ``strconv.Quote``, which Podman uses)."""
    q = []
    for c in word:
        if c in '"\\':
            q.append("\\" + c)
        elif c in "\n\t\r":
            q.append({"\n": "\\n", "\t": "\\t", "\r": "\\r"}[c])
        elif not c.isprintable():
            q.append(f"\\x{ord(c):02x}")
        else:
            q.append(c)
    return '"' + "".join(q) + '"'


def escape_words(words: list[str]) -> str:
    """A command line for a unit: words with blanks, quotes or backslashes double-quoted and C-escaped."""
    return " ".join(c_quote(w) if _needs_quoting(w) else w for w in words)


class UnitFile:
    """Ordered groups of (key, raw value); a key may repeat (list-valued keys)."""

    def __init__(self, path: str = "") -> None:
        self.path = path
        self.groups: list[tuple[str, list[tuple[str, str]]]] = []

    @classmethod
    def parse(cls, text: str, path: str = "") -> UnitFile:
        unit = cls(path)
        cur: list[tuple[str, str]] | None = None
        pending = ""
        for lineno, raw in enumerate(text.splitlines(), 1):
            line = raw.strip() if not pending else raw
            if not pending and (not line or line[0] in "#;"):
                continue
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            line = (pending + line).strip()
            pending = ""
            if line.startswith("["):
                if not line.endswith("]") or len(line) < 3:
                    raise InvalidInput(f"{path}:{lineno}: invalid group header {line!r}")
                cur = unit._group(line[1:-1], create=True)
                continue
            key, eq, value = line.partition("=")
            if not eq or not key.strip():
                raise InvalidInput(f"{path}:{lineno}: expected Key=Value, got {line!r}")
            if cur is None:
                raise InvalidInput(f"{path}:{lineno}: key {key.strip()!r} outside of any group")
            cur.append((key.strip(), value.strip()))
        if pending.strip():
            raise InvalidInput(f"{path}: the file ends in a line continuation")
        return unit

    def _group(self, name: str, create: bool = False) -> list[tuple[str, str]]:
        for g, entries in self.groups:
            if g == name:
                return entries
        entries = []
        if create:
            self.groups.append((name, entries))
        return entries

    def has_group(self, name: str) -> bool:
        return any(g == name for g, _ in self.groups)

    def rename_group(self, old: str, new: str) -> None:
        self.groups = [(new if g == old else g, e) for g, e in self.groups]

    def keys(self, group: str) -> list[str]:
        return [k for k, _ in self._group(group)]

    def lookup(self, group: str, key: str) -> str | None:
        """The last value of ``key`` (systemd: a later assignment wins)."""
        found = [v for k, v in self._group(group) if k == key]
        return found[-1] if found else None

    def lookup_all(self, group: str, key: str) -> list[str]:
        """Every value of a list key; an empty assignment resets the list (systemd's rule)."""
        out: list[str] = []
        for k, v in self._group(group):
            if k == key:
                out = [] if v == "" else [*out, v]
        return out

    def lookup_words(self, group: str, key: str) -> list[str]:
        """All values of ``key`` split into words, concatenated (``PodmanArgs``, ``EnvironmentFile``…)."""
        return [w for v in self.lookup_all(group, key) for w in split_words(v)]

    def lookup_last_words(self, group: str, key: str) -> list[str] | None:
        v = self.lookup(group, key)
        return None if v is None else split_words(v)

    def lookup_key_values(self, group: str, key: str) -> list[tuple[str, str]]:
        """``Environment=A=1 "B=x y"`` style: (key, value) pairs, later ones win."""
        pairs: dict[str, str] = {}
        for v in self.lookup_all(group, key):
            for word in split_words(v):
                k, _, val = word.partition("=")
                pairs[k] = val
        return list(pairs.items())

    def lookup_bool(self, group: str, key: str) -> bool | None:
        v = self.lookup(group, key)
        if v is None:
            return None
        if v.lower() in _TRUE:
            return True
        if v.lower() in _FALSE:
            return False
        raise InvalidInput(f"invalid boolean {v!r} for key {key!r} in group {group!r} in {self.path}")

    def add(self, group: str, key: str, value: str) -> None:
        self._group(group, create=True).append((key, value))

    def set(self, group: str, key: str, value: str) -> None:
        """Replace every assignment of ``key`` by one (kept where the first one was)."""
        entries = self._group(group, create=True)
        idx = next((i for i, (k, _) in enumerate(entries) if k == key), None)
        entries[:] = [(k, v) for k, v in entries if k != key]
        entries.insert(len(entries) if idx is None else idx, (key, value))

    def items(self) -> Iterator[tuple[str, list[tuple[str, str]]]]:
        return iter(self.groups)

    def text(self) -> str:
        parts = []
        for name, entries in self.groups:
            parts.append("\n".join([f"[{name}]", *(f"{k}={v}" for k, v in entries)]) + "\n")
        return "\n".join(parts)
