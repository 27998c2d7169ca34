"""Log drivers as a user types them: --log-driver k8s-file|json-file|none|passthrough, --log-opt
max-size (conmon's rotation: the file restarts empty before it would pass the limit) and path=,
``inspect`` HostConfig.LogConfig, and Podman's errors for bad options.

Shapes and messages were compared with podman 4.3 (``tests/env/as-user.sh podman``), e.g. the
1k rotation below leaves the same 5 lines in both.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from tests.cliutil import inspect as _inspect
from tests.cliutil import ok as _ok

IMG = "127.0.0.1:5000/busybox:latest"


def _wait_exited(podpy: Any, ref: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        d = _inspect(podpy, ref)
        if d["State"]["Status"] == "exited" or time.monotonic() > deadline:
            assert d["State"]["Status"] == "exited", d["State"]
            return d
        time.sleep(0.1)


def _wait_log(podpy: Any, ref: str, text: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while True:
        out = _ok(podpy("logs", ref))
        if text in out or time.monotonic() > deadline:
            assert text in out, out
            return out
        time.sleep(0.1)


def test_max_size_rotates_like_conmon(podpy: Any) -> None:
    script = "for i in $(seq 1 100); do echo line$i; done; echo done; sleep 1000"
    _ok(podpy("run", "-d", "--name", "rot", "--log-opt", "max-size=1k", IMG, "sh", "-c", script))
    out = _wait_log(podpy, "rot", "done\n")
    lines = out.splitlines()
    assert lines[-1] == "done" and "line1" not in lines and len(lines) < 20, lines  # older lines dropped
    lc = _inspect(podpy, "rot")["HostConfig"]["LogConfig"]
    assert (lc["Type"], lc["Size"], lc["Config"], lc["Tag"]) == ("k8s-file", "1kB", None, "")
    assert os.path.getsize(lc["Path"]) <= 1000


def test_no_max_size_keeps_everything(podpy: Any) -> None:
    _ok(podpy("run", "-d", "--name", "all", IMG, "sh", "-c", "seq 1 300"))
    _wait_exited(podpy, "all")
    assert _ok(podpy("logs", "all")).splitlines() == [str(i) for i in range(1, 301)]
    assert _inspect(podpy, "all")["HostConfig"]["LogConfig"]["Size"] == "0B"


def test_log_opt_path(podpy: Any, tmp_path: Path) -> None:
    target = tmp_path / "sub" / "my.log"
    _ok(podpy("run", "-d", "--name", "p", "--log-opt", f"path={target}", IMG, "echo", "hi"))
    _wait_exited(podpy, "p")
    assert _ok(podpy("logs", "p")) == "hi\n"
    assert target.read_text().endswith(" stdout F hi\n")
    assert _inspect(podpy, "p")["HostConfig"]["LogConfig"]["Path"] == str(target)


def test_json_file_is_an_alias(podpy: Any) -> None:
    _ok(podpy("run", "-d", "--name", "j", "--log-driver", "json-file", IMG, "echo", "hi"))
    _wait_exited(podpy, "j")
    assert _ok(podpy("logs", "j")) == "hi\n"
    lc = _inspect(podpy, "j")["HostConfig"]["LogConfig"]
    assert lc["Type"] == "json-file" and lc["Path"].endswith("/userdata/ctr.log")


def test_none_keeps_no_log(podpy: Any) -> None:
    _ok(podpy("run", "-d", "--name", "n", "--log-driver", "none", IMG, "echo", "hi"))
    d = _wait_exited(podpy, "n")
    assert d["HostConfig"]["LogConfig"] == {
        "Type": "none",
        "Config": None,
        "Path": "",
        "Tag": "",
        "Size": "0B",
    }
    r = podpy("logs", "n")
    assert r.returncode == 125 and r.stdout == ""


def test_logs_on_none_has_podmans_message(podpy: Any) -> None:
    _ok(podpy("create", "--name", "n", "--log-driver", "none", IMG, "true"))
    r = podpy("logs", "n")
    assert r.stderr == ("Error: this container is using the 'none' log driver, cannot read logs: "
                        "this container is not logging output\n")  # fmt: skip


def test_passthrough_gives_the_container_our_stdio(podpy: Any) -> None:
    script = "echo out; echo err >&2"
    r = podpy("run", "-d", "--name", "pt", "--log-driver", "passthrough", IMG, "sh", "-c", script)
    # the container wrote into our own pipes (they end only when it exits, so this is not a race);
    # as podman, no container ID is printed then
    assert (r.returncode, r.stdout, r.stderr) == (0, "out\n", "err\n")
    d = _wait_exited(podpy, "pt")
    lc = d["HostConfig"]["LogConfig"]
    assert (lc["Type"], lc["Path"]) == ("passthrough", "")
    r = podpy("create", "--name", "pc", "--log-driver", "passthrough", IMG, "true")
    assert (r.returncode, r.stdout) == (0, "")
    r = podpy("container", "run", "-d", "--name", "pr", "--log-driver", "passthrough", IMG, "true")
    assert (r.returncode, r.stdout) == (0, "")


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--log-opt", "foo"], 'invalid log option "foo"'),
        (["--log-opt", "max-size=abc"], "invalid size: 'abc'"),
        (["--log-driver", "bogus"], "running container create option: invalid log driver: invalid argument"),
        (
            ["--log-opt", "tag=x"],
            "--log-opt tag: unsupported log option (podpy has no journald for tags): use max-size or path",
        ),
    ],
)
def test_bad_log_options(podpy: Any, flags: list[str], message: str) -> None:
    r = podpy("create", *flags, IMG, "true")
    assert (r.returncode, r.stdout, r.stderr) == (125, "", f"Error: {message}\n")


@pytest.mark.parametrize(("size", "shown"), [("10k", "10kB"), ("1.5m", "1.5MB"), ("123456789", "123.5MB")])
def test_max_size_as_podman_shows_it(podpy: Any, size: str, shown: str) -> None:
    _ok(podpy("create", "--name", "s", "--log-opt", f"max-size={size}", IMG, "true"))
    assert _inspect(podpy, "s")["HostConfig"]["LogConfig"]["Size"] == shown


def test_foreground_run_follows_the_log_options(podpy: Any) -> None:
    """A foreground run (no monitor) honours the driver and max-size too."""
    script = "for i in $(seq 1 100); do echo line$i; done; echo done"
    r = podpy("run", "--name", "fr", "--log-opt", "max-size=1k", IMG, "sh", "-c", script)
    assert r.returncode == 0 and r.stdout.splitlines()[0] == "line1"  # the terminal gets everything
    lines = _ok(podpy("logs", "fr")).splitlines()
    assert lines[-1] == "done" and "line1" not in lines and len(lines) < 20, lines  # the log rotated
    r = podpy("run", "--name", "fn", "--log-driver", "none", IMG, "echo", "hi")
    assert (r.returncode, r.stdout) == (0, "hi\n")
    assert podpy("logs", "fn").returncode == 125
    fr, fn = _inspect(podpy, "fr"), _inspect(podpy, "fn")
    assert fn["HostConfig"]["LogConfig"]["Path"] == ""
    assert not os.path.exists(fr["HostConfig"]["LogConfig"]["Path"].replace(fr["Id"], fn["Id"]))  # no file written
