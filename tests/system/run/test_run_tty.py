"""``podpy run -it`` on a real terminal: raw mode, window size and resize, Ctrl-C reaching the container.

The test owns a PTY pair; podpy runs with the slave as its controlling terminal (a new session), so
a TIOCSWINSZ on it sends SIGWINCH to podpy exactly as a terminal emulator's resize does.
"""

from __future__ import annotations

import fcntl
import os
import select
import struct
import subprocess
import termios
import time
from typing import Any

from tests.system.run.test_run_cli import IMG
from tests.system.run.test_run_flags import loaded_base


class Term:
    def __init__(self, argv: list[str], rows: int, cols: int) -> None:
        self.master, self.slave = os.openpty()
        self.resize(rows, cols)
        self.buf = b""

        def ctty() -> None:
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.proc = subprocess.Popen(argv, stdin=self.slave, stdout=self.slave, stderr=self.slave,
                                     start_new_session=True, preexec_fn=ctty)  # fmt: skip

    def resize(self, rows: int, cols: int) -> None:
        fcntl.ioctl(self.slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def resize_seen(self, rows: int, cols: int) -> None:
        """Resize (SIGWINCH to podpy) until ``stty size`` at the shell's prompt shows the new size."""
        self.resize(rows, cols)
        for _ in range(50):
            self.send("stty size\r")
            if f"{rows} {cols}" in self.expect("# "):
                return
        raise AssertionError(f"the window size {rows} {cols} never reached the container's terminal")

    def send(self, data: str) -> None:
        os.write(self.master, data.encode())

    def expect(self, text: str, deadline: float = 60) -> str:
        """Read until ``text`` appears (a liveness bound, not a timing assertion)."""
        end = time.monotonic() + deadline
        while text.encode() not in self.buf:
            left = end - time.monotonic()
            assert left > 0, f"{text!r} never came; got {self.buf!r}"
            r, _, _ = select.select([self.master], [], [], left)
            if r:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:  # EIO: podpy closed the terminal
                    chunk = b""
                assert chunk, f"terminal closed before {text!r}; got {self.buf!r}"
                self.buf += chunk
        seen, _, self.buf = self.buf.partition(text.encode())
        return seen.decode(errors="replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)
        os.close(self.slave)


def test_interactive_tty_raw_resize_ctrl_c(podpy_root, testenv: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
    base = loaded_base(podpy_root, testenv)
    t = Term([*base, "run", "--rm", "-it", IMG, "sh"], 33, 77)
    try:
        t.expect("# ")
        assert not termios.tcgetattr(t.slave)[3] & termios.ICANON  # podpy put our terminal in raw mode
        t.send("stty size\r")
        t.expect("33 77")
        t.expect("# ")
        t.resize_seen(40, 100)  # SIGWINCH to podpy, which passes the size on (through the monitor's ctl)
        t.send("sh -c 'echo ar\"\"med; exec sleep 600'\r")
        t.expect("armed")  # printed by the foreground job: it owns the terminal now
        t.send("\x03")  # raw mode: Ctrl-C is a byte for the container's terminal, not SIGINT for podpy
        t.expect("# ")
        assert t.proc.poll() is None
        t.send("exit 3\r")
        assert t.proc.wait(timeout=60) == 3
        assert termios.tcgetattr(t.slave)[3] & termios.ICANON  # our terminal mode is restored
    finally:
        t.close()
