"""sd_notify without libsystemd: one datagram to ``$NOTIFY_SOCKET`` (``--sdnotify=conmon``)."""

from __future__ import annotations

import os
import socket


def sd_notify(message: str, socket_path: str | None = None) -> bool:
    """Send ``message`` (e.g. ``"READY=1\\nMAINPID=123"``); False when there is no socket to tell."""
    path = socket_path if socket_path is not None else os.environ.get("NOTIFY_SOCKET", "")
    if not path:
        return False
    addr = "\0" + path[1:] if path.startswith("@") else path  # abstract namespace
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
        s.connect(addr)
        s.sendall(message.encode())
    return True


def ready(main_pid: int, socket_path: str | None = None) -> bool:
    return sd_notify(f"MAINPID={main_pid}\nREADY=1", socket_path)
