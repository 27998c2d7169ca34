"""podpy.util.log: below the CLI's --log-level nothing is emitted and ``logging`` is never imported;
above it, messages go through ``logging`` with podpy's format; unconfigured, everything is forwarded."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from podpy.util import log

TREE = Path(__file__).resolve().parents[3]


def _run(code: str) -> subprocess.CompletedProcess[str]:
    prog = f"import sys; sys.path.insert(0, {str(TREE)!r}); from podpy.util import log\n{code}"
    return subprocess.run([sys.executable, "-S", "-c", prog], capture_output=True, text=True, timeout=60)


def test_below_threshold_logging_is_not_imported() -> None:
    r = _run(
        "log.configure(log.level_of('warn')); lg = log.get_logger('podpy.x')\n"
        "lg.debug('hidden %s', 1); lg.info('hidden too')\n"
        "assert not lg.isEnabledFor(log.DEBUG)\n"
        "print('logging' in sys.modules)\n"
        "lg.warning('shown %s', 2)\n"
        "print('logging' in sys.modules)"
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["False", "True"]
    assert "hidden" not in r.stderr
    assert "level=WARNING msg=shown 2" in r.stderr and r.stderr.startswith("time=")


def test_debug_level_emits_debug() -> None:
    r = _run("log.configure(log.level_of('debug')); log.get_logger('podpy.y').debug('seen %d', 3)")
    assert r.returncode == 0 and "level=DEBUG msg=seen 3" in r.stderr


@pytest.mark.parametrize(("name", "level"), [("trace", 5), ("debug", 10), ("info", 20), ("warn", 30),
                                             ("warning", 30), ("error", 40), ("fatal", 40), ("panic", 40)])  # fmt: skip
def test_levels(name: str, level: int) -> None:
    assert log.level_of(name) == level


def test_forwarded_to_logging_with_callers_location(caplog: pytest.LogCaptureFixture) -> None:
    lg = log.get_logger("podpy.test.forward")
    with caplog.at_level(logging.DEBUG, logger="podpy.test.forward"):
        lg.debug("d %s", "x")
        lg.warning("w")
        try:
            raise ValueError("boom")
        except ValueError:
            lg.exception("failed")
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("DEBUG", "d x"), ("WARNING", "w"), ("ERROR", "failed")
    ]
    assert {r.filename for r in caplog.records} == {"test_util_log.py"}
    assert caplog.records[-1].exc_info is not None
