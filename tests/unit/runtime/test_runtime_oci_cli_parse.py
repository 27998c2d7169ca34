"""The runtime CLI's fast parser reads argv exactly as its argparse parser does, or declines.

``oci_cli.parse_fast`` exists so that the monitor's ``create`` does not build an argparse parser;
whatever it reads must give argparse's values, and whatever it does not read must go to argparse
(errors, help and corner cases keep argparse's behaviour and messages).
"""

from __future__ import annotations

import contextlib
import io
import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest

from podpy.runtime import oci_cli

ROOT = str(Path(__file__).resolve().parents[3])

# what podpy itself passes (monitor/main.py ``runtime_args``, engine/containers.py): always the fast path
PODPY_SHAPES = [
    ["--root", "/run/user/1000/podpy/runtime", "create", "--bundle", "/d/userdata", "--pid-file", "/r/pidfile",
     "0123456789abcdef"],
    ["--root", "/r", "create", "--bundle", "/d", "--pid-file", "/p", "--console-socket", "/r/console.sock", "c1"],
    ["create", "--bundle", "/d", "--pid-file", "/p", "c1"],
    ["--root", "/r", "start", "c1"],
    ["--root", "/r", "delete", "--force", "c1"],
    ["--root", "/r", "kill", "c1", "9"],
    ["--root", "/r", "kill", "c1"],
    ["--root", "/r", "state", "c1"],
    ["--root", "/r", "--log", "/l", "--log-format", "json", "--debug", "create", "-b", "/d", "c1"],
    ["--root", "/r", "run", "--preserve-fds", "2", "--bundle", "/d", "c1"],
    ["--root=/r", "create", "--bundle=/d", "--pid-file=/p", "--preserve-fds=3", "c1"],
]  # fmt: skip

GLOBALS = [
    [], ["--root", "/r"], ["--root=/r"], ["--root="], ["--root"], ["--root", ""], ["--root", "-x"],
    ["--root", "-1"], ["--root=-x"], ["--ro", "/r"], ["--debug"], ["--debug=1"], ["--log", "/l"],
    ["--log=/l"], ["--log-format", "json"], ["--lo", "x"], ["--systemd-cgroup"], ["-h"], ["--help"],
    ["--"], ["--root", "/a", "--root", "/b"], ["--root", "create"], ["--bogus"], ["-"],
]  # fmt: skip
VERBS = ["create", "run", "start", "state", "kill", "delete", "exec", "bogus", "-h", ""]
VERB_OPTIONS = [
    [], ["--bundle", "/d"], ["-b", "/d"], ["-b/d"], ["-b=/d"], ["--bundle=/d"], ["--bundle="], ["--bundle"],
    ["--bun", "/d"], ["--pid-file", "/p"], ["--pid-file=/p"], ["--preserve-fds", "2"], ["--preserve-fds=2"],
    ["--preserve-fds", "x"], ["--preserve-fds", "-1"], ["--preserve-fds", " 3"], ["--preserve-fds", "+3"],
    ["--preserve-fds", "007"], ["--preserve-fds", "٣"], ["--console-socket", "/s"], ["--no-pivot"],
    ["--no-new-keyring"], ["--force"], ["-f"], ["--force=1"], ["--all"], ["-a"], ["-af"], ["--all", "-f"],
    ["--root", "/r"], ["--debug"], ["-h"], ["--"], ["--bundle", "/a", "--bundle", "/b"],
    ["--bundle", "/d", "--pid-file", "/p", "--console-socket", "/s"], ["--force", "--force"],
    ["--bundle", "a b"], ["--bundle", "-x y"], ["--bundle", "kill"], ["--process", "p.json"], ["-p", "p"],
]  # fmt: skip
POSITIONALS = [[], ["c1"], ["c1", "9"], ["c1", "SIGKILL"], ["c1", "9", "x"], [""], ["-"], ["c1", "-9"],
               ["-c"], ["a b"], ["create"], ["c1", "--force"], ["c1", "-f"], ["c1", "--bundle", "/d"]]  # fmt: skip


PARSER = oci_cli.build_parser()  # one for all the comparisons: parse_args leaves it as it was


def _argparse(argv: list[str]) -> dict[str, object] | None:
    """argparse's namespace for ``argv``, or None when it refuses it (exits)."""
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        try:
            return vars(PARSER.parse_args(argv))
        except SystemExit:
            return None


def _check(argv: list[str]) -> bool:
    """Assert agreement for ``argv``; whether the fast path read it."""
    fast = oci_cli.parse_fast(list(argv))
    if fast is None:
        return False
    assert _argparse(argv) == vars(fast), argv
    return True


@pytest.mark.parametrize("argv", PODPY_SHAPES, ids=" ".join)
def test_podpy_shapes_take_the_fast_path(argv: list[str]) -> None:
    assert _check(argv)


def test_fast_path_agrees_with_argparse_on_many_shapes() -> None:
    read = 0
    for g, verb, opts, pos in itertools.product(GLOBALS, VERBS, VERB_OPTIONS, POSITIONALS):
        read += _check([*g, *([verb] if verb else []), *opts, *pos])
    # every combination of the good parts, options in both orders
    good_g = [[], ["--root", "/r"], ["--root=/r"], ["--debug", "--log", "/l"]]
    good_opts = [[], [["--bundle", "/d"], ["--pid-file", "/p"]], [["-b", "/d"], ["--preserve-fds", "1"]],
                 [["--force"]], [["-a"]], [["--console-socket", "/s"], ["--no-pivot"]]]  # fmt: skip
    for g, verb, opts, pos in itertools.product(good_g, VERBS[:6], good_opts, POSITIONALS[:4]):
        for o in (opts, opts[::-1]):
            read += _check([*g, verb, *itertools.chain.from_iterable(o), *pos])
    assert read > 1000  # the comparison is not vacuous


def test_the_fast_path_never_reads_what_argparse_refuses() -> None:
    for argv in (["create"], ["create", "a", "b"], ["start"], ["kill", "c", "9", "x"], ["--root"], []):
        assert oci_cli.parse_fast(argv) is None
        assert _argparse(argv) is None


def test_argv_is_not_modified() -> None:
    argv = ["--root", "/r", "create", "--bundle", "/d", "c1"]
    oci_cli.parse_fast(argv)
    assert argv == ["--root", "/r", "create", "--bundle", "/d", "c1"]


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, PYTHONPATH=ROOT), cwd=ROOT)  # fmt: skip


def test_fast_path_imports_no_argparse() -> None:
    proc = _run(
        "import sys\nfrom podpy.runtime import oci_cli\n"
        "a = oci_cli.parse_args(['--root', '/r', 'create', '--bundle', '/b', '--pid-file', '/p', 'c'])\n"
        "print(a.verb, a.bundle, 'argparse' in sys.modules)"
    )
    assert proc.stdout == "create /b False\n", proc.stderr


def test_help_and_errors_still_come_from_argparse(tmp_path: Path) -> None:
    proc = _run("from podpy.runtime import oci_cli\noci_cli.main(['--help'])")
    assert proc.returncode == 0 and proc.stdout.startswith("usage: podpy-runtime"), proc.stderr
    proc = _run("from podpy.runtime import oci_cli\noci_cli.main(['create', '--bogus', 'c'])")
    assert proc.returncode == 2 and "unrecognized arguments: --bogus" in proc.stderr, proc.stderr
    state = f"oci_cli.main(['--root', '{tmp_path}', 'state', 'nosuch'])"
    proc = _run(f"import sys\nfrom podpy.runtime import oci_cli\nsys.exit({state})")
    assert proc.returncode == 1, proc.stderr
    assert "podpy-runtime: container nosuch does not exist" in proc.stderr
