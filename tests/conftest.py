"""Shared fixtures: the test environment (env.json), the token issuer, and a `podpy` runner.

The environment is made by tests/env/setup.sh (see tests/env/README.md). Integration and system tests
run as the unprivileged user (tests/env/as-user.sh); with PODPY_REQUIRE_TESTENV=1 (CI) a missing
environment or running them as root is a failure, never a skip, because a rootless test that did not
run proves nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest

TREE = Path(__file__).resolve().parents[1]
REQUIRE = os.environ.get("PODPY_REQUIRE_TESTENV") == "1"


def _unavailable(msg: str) -> NoReturn:
    if REQUIRE:
        pytest.fail(f"test environment: {msg} (PODPY_REQUIRE_TESTENV=1)", pytrace=False)
    pytest.skip(f"test environment: {msg}; run tests/env/setup.sh as root, then tests/env/as-user.sh")


def _in_rootless_suite(path: object) -> bool:
    try:
        parts = Path(str(path)).resolve().relative_to(TREE).parts
    except ValueError:
        return False
    return parts[:2] in (("tests", "integration"), ("tests", "system"))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "allow_skip: this integration/system test may skip even in CI")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """In CI (PODPY_REQUIRE_TESTENV=1) a skipped integration/system test is a failure: it proved nothing."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if (
        REQUIRE
        and report.skipped
        and not hasattr(report, "wasxfail")
        and item.get_closest_marker("allow_skip") is None
        and _in_rootless_suite(item.path)
    ):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped in CI (PODPY_REQUIRE_TESTENV=1), which counts as a failure: {reason}"


@pytest.fixture(autouse=True)
def _rootless_only(request: pytest.FixtureRequest) -> None:
    """Integration/system tests must run unprivileged when the environment is required (CI)."""
    if REQUIRE and os.geteuid() == 0 and _in_rootless_suite(request.node.path):
        pytest.fail(
            "integration/system tests must run as the unprivileged user: use tests/env/as-user.sh",
            pytrace=False,
        )


def _get_json(url: str, timeout: float = 2.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.load(r)


@dataclass
class TokenIssuer:
    """The token issuer of the bearer-auth registry (127.0.0.1:5003 by default)."""

    url: str
    realm: str
    started_here: bool

    def stats(self) -> dict[str, Any]:
        """{"requests", "failures", "by_scope": {scope: n}, "by_user": {user: n}} since start or reset."""
        result: dict[str, Any] = _get_json(self.url + "/stats")
        return result

    def reset(self) -> None:
        req = urllib.request.Request(self.url + "/stats/reset", data=b"", method="POST")
        with urllib.request.urlopen(req, timeout=2):
            pass


def _answers(url: str) -> bool:
    try:
        _get_json(url, timeout=1)
        return True
    except (urllib.error.URLError, OSError, ValueError):
        return False


@pytest.fixture(scope="session")
def _testenv_data() -> dict[str, Any]:
    if os.geteuid() == 0:
        _unavailable("running as root, but these tests check rootless behaviour: use tests/env/as-user.sh")
    path = os.environ.get("PODPY_TESTENV")
    if not path:
        _unavailable("PODPY_TESTENV is not set")
    try:
        data: dict[str, Any] = json.loads(Path(path).read_text())  # type: ignore[arg-type]
    except (OSError, ValueError) as e:
        _unavailable(f"cannot read {path}: {e}")
    return data


@pytest.fixture(scope="session")
def token_issuer(
    _testenv_data: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TokenIssuer]:
    """Reuse a running issuer (setup.sh starts one) or run one for this session and stop it after."""
    ti = _testenv_data["token_issuer"]
    stats = ti["url"] + "/stats"
    if _answers(stats):
        yield TokenIssuer(ti["url"], ti["realm"], started_here=False)
        return
    venv_python = Path(_testenv_data["venv"]) / "bin/python"
    python = str(venv_python) if venv_python.exists() else sys.executable
    log = tmp_path_factory.mktemp("token-issuer") / "issuer.log"
    with open(log, "wb") as logf:
        proc = subprocess.Popen(
            [
                python,
                ti["script"],
                "--host",
                ti["host"],
                "--port",
                str(ti["port"]),
                "--key",
                ti["key"],
                "--cert",
                ti["cert"],
            ],
            stdin=subprocess.DEVNULL,
            stdout=logf,
            stderr=logf,
            start_new_session=True,
        )
    deadline = time.monotonic() + 15
    while not _answers(stats):
        if proc.poll() is not None or time.monotonic() > deadline:
            if _answers(stats):  # another session won the race for the port: use its issuer
                break
            proc.kill()
            pytest.fail(f"token issuer did not start: {log.read_text()[-2000:]}", pytrace=False)
        time.sleep(0.05)
    try:
        yield TokenIssuer(ti["url"], ti["realm"], started_here=proc.poll() is None)
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture(scope="session")
def testenv(_testenv_data: dict[str, Any], token_issuer: TokenIssuer) -> dict[str, Any]:
    """The parsed env.json (see tests/env/README.md); the token registry's issuer is running."""
    return _testenv_data


@dataclass
class PodpyRoot:
    """A private podpy storage for one test; `args` are the global flags that select it."""

    root: Path
    runroot: Path
    config_home: Path  # XDG_CONFIG_HOME for podpy_cli: put containers/registries.conf etc. here

    @property
    def args(self) -> list[str]:
        return ["--root", str(self.root), "--runroot", str(self.runroot)]


def _remove_tree(path: Path, podpy_args: list[str] | None = None) -> None:
    """Remove a tree that may hold files owned by subordinate ids (unpacked rootless layers)."""
    if not path.exists():
        return
    shutil.rmtree(path, ignore_errors=True)
    if path.exists() and os.geteuid() != 0 and podpy_args:
        # Files owned by subordinate ids can only be removed from inside podpy's user namespace.
        subprocess.run(
            [*_podpy_command(), *podpy_args, "unshare", "rm", "-rf", str(path)],
            capture_output=True,
            check=False,
        )


def _stop_pause(root: Path, runroot: Path) -> None:
    """Stop the pause process a test's podpy started, so no test leaks one."""
    from podpy.rootless.pause import stop_pause_process
    from podpy.util.paths import Paths

    with contextlib.suppress(Exception):
        stop_pause_process(Paths(root=root, runroot=runroot))


@pytest.fixture
def podpy_root(tmp_path: Path) -> Iterator[PodpyRoot]:
    """A fresh root + runroot (short path under /tmp: it will hold unix sockets) + config home."""
    runroot = Path(tempfile.mkdtemp(prefix="podpy-rr-"))
    pr = PodpyRoot(tmp_path / "root", runroot, tmp_path / "config")
    pr.root.mkdir()
    pr.config_home.mkdir()
    try:
        yield pr
    finally:
        _remove_tree(pr.root, pr.args)
        _stop_pause(pr.root, runroot)
        leaked = _kill_leftovers(runroot)
        _remove_tree(runroot)
    assert not leaked, f"processes left running after the test (killed now): {leaked}"


def _kill_leftovers(runroot: Path) -> list[str]:
    """Network helpers (slirp4netns, pasta, the rootless netns holder) still serving this test's runroot
    once its containers are gone: a leak (issue 5: nothing leaks after stop, rm or a crash)."""
    out = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if any(a.startswith(str(runroot).encode() + b"/") for a in argv) and (argv[0].rsplit(b"/", 1)[-1] in (
            b"slirp4netns", b"pasta", b"passt",
        ) or b"podpy-portfwd" in argv):  # podpy's port forwarder (podpy.network.portfwd)
            out.append(b" ".join(argv).decode(errors="replace")[:200])
            with contextlib.suppress(OSError):
                os.kill(int(entry.name), 9)
    return out


def _podpy_command() -> list[str]:
    exe = shutil.which("podpy")
    return [exe] if exe else [sys.executable, "-m", "podpy"]


PodpyCli = Callable[..., "subprocess.CompletedProcess[str]"]


@pytest.fixture
def podpy_cli(podpy_root: PodpyRoot) -> PodpyCli:
    """Run `podpy --root R --runroot RR ARGS...` and return the CompletedProcess (text stdout/stderr).

    `podpy_cli("pull", ref, check=False, input=None, env=None, timeout=300)`. The podpy under test is
    this source tree (PYTHONPATH), XDG_CONFIG_HOME is podpy_root.config_home (empty unless the test
    writes config there); `env` entries override or, with value None, remove variables.
    """

    def run(
        *args: str,
        check: bool = False,
        input: str | None = None,
        env: dict[str, str | None] | None = None,
        timeout: float = 300,
    ) -> subprocess.CompletedProcess[str]:
        full_env = dict(os.environ)
        full_env["PYTHONPATH"] = os.pathsep.join(p for p in (str(TREE), full_env.get("PYTHONPATH", "")) if p)
        full_env["XDG_CONFIG_HOME"] = str(podpy_root.config_home)
        for k, v in (env or {}).items():
            if v is None:
                full_env.pop(k, None)
            else:
                full_env[k] = v
        cmd = [*_podpy_command(), *podpy_root.args, *map(str, args)]
        proc = subprocess.run(
            cmd,
            input=input,
            capture_output=True,
            text=True,
            env=full_env,
            timeout=timeout,
            stdin=None if input is not None else subprocess.DEVNULL,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"{' '.join(cmd)} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
            )
        return proc

    return run
