"""The completion scripts in completions/ driven by the real shells, as a user presses TAB.

bash and zsh run interactively on a pseudo-terminal (readline / zle call the script's function as for
a user); fish answers ``complete -C``, its own completion query. The values come from a podpy root
with a container, an image, a volume, a network and a pod made through the CLI.
"""

from __future__ import annotations

import os
import pty
import re
import select
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TREE, PodpyRoot, _unavailable

_ESC = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|[\x07\x08\r]")


class Shell:
    """An interactive shell on a pty; ``tab(keys)`` types ``keys`` and returns what the terminal showed."""

    def __init__(self, argv: list[str], env: dict[str, str], setup: list[str]) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: the shell
            os.execvpe(argv[0], argv, env)
        import fcntl
        import termios

        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 250, 0, 0))
        self.out = b""
        for line in [*setup, 'echo __READY""__']:
            os.write(self.fd, line.encode() + b"\n")
        self._prompt(0, b"__READY__\r\n")

    def _prompt(self, start: int, marker: bytes) -> None:
        """Wait for ``marker``, then for the prompt after it: the line editor owns the terminal again
        (keys typed earlier would meet the tty's own line editing, where ^U kills them)."""
        self._read_until(marker, start)
        self._read_until(b"$ ", self.out.index(marker, start) + len(marker))

    def _read_until(self, marker: bytes, start: int = 0) -> None:
        deadline = time.monotonic() + 60  # a hang guard, not a timing assertion
        while marker not in self.out[start:]:
            assert time.monotonic() < deadline, f"no {marker!r} from the shell:\n{self.out[-2000:]!r}"
            if select.select([self.fd], [], [], 1)[0]:
                try:
                    self.out += os.read(self.fd, 65536)
                except OSError:
                    break

    def tab(self, keys: str) -> str:
        """Type ``keys`` (with TABs); then ^U and an echo that the shell reads only once completion is done."""
        start = len(self.out)
        os.write(self.fd, keys.encode() + b'\x15echo __DONE""__\n')
        self._prompt(start, b"__DONE__\r\n")
        return _ESC.sub("", self.out[start:].decode(errors="replace"))

    def run(self, line: str) -> None:
        start = len(self.out)
        os.write(self.fd, line.encode() + b'\necho __DONE""__\n')
        self._prompt(start, b"__DONE__\r\n")

    def close(self) -> None:
        os.kill(self.pid, 9)
        os.waitpid(self.pid, 0)
        os.close(self.fd)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, testenv: dict[str, Any]) -> Any:
    """A podpy root with busybox, containers web1/web2, volume data1, network net1, pod pod1, and a
    ``podpy`` on PATH that runs this tree; the shells find the root through PODPY_ROOT/PODPY_RUNROOT."""
    import tempfile

    from tests.conftest import _remove_tree, _stop_pause

    tmp = tmp_path_factory.mktemp("completion")
    root = PodpyRoot(tmp / "root", Path(tempfile.mkdtemp(prefix="podpy-rr-")), tmp / "config")
    bindir = tmp / "bin"
    bindir.mkdir()
    (bindir / "podpy").write_text(f'#!/bin/sh\nexec {sys.executable} -m podpy "$@"\n')
    (bindir / "podpy").chmod(0o755)
    env = {
        "PATH": f"{bindir}:/usr/bin:/bin",
        "HOME": str(tmp),
        "TERM": "dumb",
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(TREE),
        "XDG_CONFIG_HOME": str(root.config_home),
        "XDG_RUNTIME_DIR": os.environ.get("XDG_RUNTIME_DIR", str(tmp)),
        "PODPY_ROOT": str(root.root),
        "PODPY_RUNROOT": str(root.runroot),
    }

    def podpy(*args: str) -> None:
        r = subprocess.run([str(bindir / "podpy"), *args], env=env, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, f"podpy {' '.join(args)}: {r.stderr}"

    try:
        podpy("load", "-q", "-i", testenv["archives"]["busybox-docker-archive"]["path"])
        podpy("create", "--name", "web1", "127.0.0.1:5000/busybox:latest")
        podpy("create", "--name", "web2", "127.0.0.1:5000/busybox:latest")
        podpy("volume", "create", "data1")
        podpy("network", "create", "net1")
        podpy("pod", "create", "--name", "pod1")
        yield env
    finally:
        subprocess.run([str(bindir / "podpy"), "rm", "-f", "-a"], env=env, capture_output=True, timeout=120)
        _remove_tree(root.root, root.args)
        _stop_pause(root.root, root.runroot)
        _remove_tree(root.runroot)


def _need(shell: str) -> str:
    path = shutil.which(shell)
    if path is None:
        _unavailable(f"{shell} is not installed (apt-get install zsh fish)")
    return path


def _interactive(shell: str, env: dict[str, str]) -> Shell:
    comp = TREE / "completions"
    if shell == "bash":
        return Shell([_need("bash"), "--norc", "--noprofile", "-i"], env, ["PS1='$ '", f"source {comp}/bash/podpy"])
    return Shell(
        [_need("zsh"), "-f", "-i"],
        env,
        ["PS1='$ '", f"fpath=({comp}/zsh $fpath)", "autoload -Uz compinit", "compinit -u -D", "LISTMAX=1000"],
    )


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_tab_in_an_interactive_shell(shell: str, world: dict[str, str]) -> None:
    sh = _interactive(shell, world)
    again = "\t\t"  # bash lists ambiguous matches on the second TAB, zsh on the first or the second
    try:
        assert "podpy run " in sh.tab("podpy ru\t")  # the subcommand
        assert "--network" in sh.tab(f"podpy run --net{again}")  # a flag
        listed = sh.tab(f"podpy rm {again}").split()  # container names, from the state DB
        assert {"web1", "web2"} <= set(listed)
        assert "podpy start web1 web2 " in sh.tab("podpy start web1 w\t")  # web1 is typed already
        # an image name with the registry's port and a tag: one word despite bash's ':' word break
        assert "podpy rmi 127.0.0.1:5000/busybox:latest " in sh.tab("podpy rmi 127.0.0.1:5000/bu\t")
        assert "podpy run 127.0.0.1:5000/busybox:latest " in sh.tab("podpy run 127.0.0.1:5\t")
        assert "podpy volume rm data1 " in sh.tab("podpy volume rm \t")
        assert "podpy network rm net1 " in sh.tab("podpy network rm n\t")
        assert "podpy pod rm pod1 " in sh.tab("podpy pod rm \t")
        assert "podpy run --pod pod1 " in sh.tab("podpy run --pod p\t")
        assert "podpy run -v data1 " in sh.tab("podpy run -v data\t")  # a volume (or the shell's paths)
        assert "podpy --log-level debug " in sh.tab("podpy --log-level deb\t")
        # alias docker=podpy: zsh completes an alias as its command; bash is told to
        sh.run("alias docker=podpy" + ("; complete -F _podpy_completion docker" if shell == "bash" else ""))
        assert "docker run " in sh.tab("docker ru\t")
        assert "docker volume rm data1 " in sh.tab("docker volume rm \t")
    finally:
        sh.close()


def test_fish_complete(world: dict[str, str]) -> None:
    fish = _need("fish")
    script = TREE / "completions" / "fish" / "podpy.fish"

    def complete(line: str) -> list[str]:
        r = subprocess.run([fish, "--no-config", "-c", f"source {script}; complete -C '{line}'"],
                           env=world, capture_output=True, text=True, timeout=120)  # fmt: skip
        assert r.returncode == 0, r.stderr
        return [c.split("\t", 1)[0] for c in r.stdout.splitlines()]

    assert complete("podpy ru") == ["run"]
    assert "--network" in complete("podpy run --net")
    assert {"web1", "web2"} <= set(complete("podpy rm "))
    assert complete("podpy rmi 127.0.0.1:5000/bu") == ["127.0.0.1:5000/busybox:latest"]
    assert complete("podpy volume rm ") == ["data1"]
    assert complete("podpy network rm n") == ["net1"]
    assert complete("podpy pod rm ") == ["pod1"]
    with_alias = f"source {script}; alias docker=podpy; complete -C 'docker volume rm '"  # fish: it wraps podpy
    r = subprocess.run([fish, "--no-config", "-c", with_alias], env=world, capture_output=True, text=True, timeout=120)
    assert r.stdout.split() == ["data1"], r.stderr
