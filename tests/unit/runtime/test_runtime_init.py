"""podpy's built-in init (--init without catatonit): the embedded binary is init.S, and it behaves."""

from __future__ import annotations

import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from podpy.runtime import init
from podpy.util.errors import PodpyError

SRC = Path(init.__file__).with_name("init.S")


@pytest.fixture
def exe(tmp_path: Path) -> str:
    return init.builtin_init(tmp_path)


def test_embedded_binary_is_the_assembled_source(tmp_path: Path) -> None:
    if not (shutil.which("as") and shutil.which("ld")):
        pytest.skip("binutils (as, ld) are needed to re-assemble init.S")
    subprocess.run(["as", str(SRC), "-o", str(tmp_path / "init.o")], check=True)
    subprocess.run(["ld", "-s", "-N", "-o", str(tmp_path / "init"), str(tmp_path / "init.o")], check=True,
                   capture_output=True)  # fmt: skip
    assert (tmp_path / "init").read_bytes() == init.BUILTIN_INIT


@pytest.mark.parametrize(
    "argv, code",
    [
        (["--", "/bin/sh", "-c", "exit 5"], 5),
        (["sh", "-c", "exit 6"], 6),  # without "--" too; PATH searched like execvp
        (["sh", "-c", "kill -9 $$"], 128 + 9),
        (["--", "/no/such/cmd"], 127),
        (["no-such-cmd"], 127),
        (["/etc/passwd"], 126),
        ([], 125),
        (["--"], 125),
    ],
)
def test_exit_status(exe: str, argv: list[str], code: int) -> None:
    r = subprocess.run([exe, *argv], capture_output=True, text=True)
    assert r.returncode == code
    assert ("cannot execute" in r.stderr) == (code in (126, 127))


def test_forwards_signals_and_reaps(exe: str) -> None:
    script = 'trap "echo got-term; exit 9" TERM; (sleep 0.1 &); echo ready; while :; do sleep 0.1; done'
    p = subprocess.Popen([exe, "sh", "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout is not None and p.stdout.readline() == "ready\n"
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=30) == 9
        assert p.stdout.read() == "got-term\n"
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_find_init_order(tmp_path: Path) -> None:
    fake = tmp_path / "catatonit"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    assert init.find_init(None, tmp_path, (str(fake),), search_path=False) == str(fake)
    builtin = init.find_init(None, tmp_path, ("/no/such/catatonit",), search_path=False)
    assert Path(builtin).read_bytes() == init.BUILTIN_INIT and Path(builtin).stat().st_mode & 0o111
    assert init.builtin_init(tmp_path) == builtin  # written once
    assert init.find_init(str(fake), tmp_path) == str(fake)
    with pytest.raises(PodpyError, match="container-init binary not found on the host: stat /nope"):
        init.find_init("/nope", tmp_path)
