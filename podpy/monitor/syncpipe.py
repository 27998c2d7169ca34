"""The sync pipe between the spawner and the monitor: one JSON line, then EOF.

``{"pid": 1234, "monitor_pid": 99}`` when the container is created (and started), or
``{"pid": -1, "monitor_pid": 99, "message": "the runtime's error, one line"}``.
Like conmon's ``{"data": pid}`` / ``{"data": -1, "message": ...}``, with the monitor pid added.
"""

from __future__ import annotations

import os

MAX_MESSAGE = 4096


def json_string(text: str) -> str:
    """A JSON string literal, without importing json (it pulls in ``re``: memory in every monitor)."""
    out = ['"']
    for ch in text:
        o = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\u{o:04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def encode(pid: int, monitor_pid: int, message: str | None = None) -> bytes:
    text = f'{{"pid": {int(pid)}, "monitor_pid": {int(monitor_pid)}'
    if message is not None:
        text += f', "message": {json_string(one_line(message))}'
    return (text + "}\n").encode("utf-8", "surrogateescape")


def one_line(text: str, limit: int = MAX_MESSAGE) -> str:
    """The error in one line: the last meaningful line of the runtime's output, prefixes stripped."""
    lines = [ln.strip() for ln in text.replace("\r", "\n").split("\n") if ln.strip()]
    msgs: list[str] = []
    for ln in lines:
        if ln.startswith("{"):  # runc --log-format json
            import json

            try:
                d = json.loads(ln)
            except ValueError:
                d = None
            if isinstance(d, dict):
                if d.get("level") in ("error", "fatal") and d.get("msg"):
                    msgs.append(str(d["msg"]))
                continue
        # logrus text format: 'ERRO[0000] message' (on a terminal) / 'time="..." level=error msg="..."'
        if len(ln) > 5 and ln[:4].isupper() and ln[4] == "[" and "] " in ln:
            ln = ln.split("] ", 1)[1].strip()
        elif ln.startswith("time=") and " msg=" in ln:
            level = _logfmt_value(ln, "level")
            if level not in ("error", "fatal", "panic"):
                continue
            ln = _logfmt_value(ln, "msg") or ln
        msgs.append(ln)
    msg = msgs[-1] if msgs else "the OCI runtime failed without a message"
    return msg[:limit]


def _logfmt_value(line: str, key: str) -> str | None:
    """The value of ``key=`` in a logfmt line (quoted with backslash escapes, or bare)."""
    i = line.find(key + "=")
    while i > 0 and line[i - 1] != " ":
        i = line.find(key + "=", i + 1)
    if i < 0:
        return None
    j = i + len(key) + 1
    if line[j : j + 1] != '"':
        end = line.find(" ", j)
        return line[j:] if end < 0 else line[j:end]
    out: list[str] = []
    j += 1
    while j < len(line):
        ch = line[j]
        if ch == "\\" and j + 1 < len(line):
            nxt = line[j + 1]
            out.append({"n": "\n", "t": "\t"}.get(nxt, nxt))
            j += 2
            continue
        if ch == '"':
            break
        out.append(ch)
        j += 1
    return "".join(out)


def write_message(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def read_message(fd: int) -> dict[str, object] | None:
    """Read the message's line (or until EOF); the decoded message, or None if the monitor died
    before writing one. Not until EOF: a process the monitor forked may still hold the pipe."""
    chunks: list[bytes] = []
    while True:
        b = os.read(fd, 65536)
        if not b:
            break
        chunks.append(b)
        if b.endswith(b"\n"):
            break
    import json

    raw = b"".join(chunks).strip()
    if not raw:
        return None
    return json.loads(raw.split(b"\n", 1)[0])
