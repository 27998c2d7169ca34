"""podpy's global options against Podman 4.3's list: accepted, or refused with a reason (never ignored)."""

from __future__ import annotations

import pytest

from podpy.cli.main import _REFUSED_GLOBALS, main


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as e:
        main(list(args))
    out, err = capsys.readouterr()
    return int(e.value.code or 0), out, err


@pytest.mark.parametrize("name", sorted(_REFUSED_GLOBALS))
def test_podman_globals_podpy_cannot_honour_are_refused(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    short, reason, is_flag = _REFUSED_GLOBALS[name]
    flag = f"--{name.replace('_', '-')}"
    for spelled in filter(None, (flag, short)):
        args = [spelled] if is_flag else [spelled, "x"]
        assert run(capsys, *args, "version") == (125, "", f"Error: {flag} is not supported: {reason}\n")


@pytest.mark.parametrize(
    ("args", "err"),
    [
        (["--cgroup-manager", "systemd"], "--cgroup-manager=systemd is not supported: podpy puts containers in no "
         "systemd scope (and needs no systemd user session); use cgroupfs"),
        (["--cgroup-manager", "foo"], "cgroup manager must be one of cgroupfs and systemd: invalid argument"),
        (["--events-backend", "foo"], '"foo" is not a valid events backend: invalid argument'),
        (["--events-backend", "journald"], "--events-backend=journald is not supported: podpy's event log is a "
         "file (its state database), which also keeps the exit codes of removed containers; use file"),
        (["--events-backend", "none"], "--events-backend=none is not supported: podpy's event log is a "
         "file (its state database), which also keeps the exit codes of removed containers; use file"),
    ],
)  # fmt: skip
def test_cgroup_manager_and_events_backend_values(
    args: list[str], err: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, *args, "version") == (125, "", f"Error: {err}\n")


def test_what_podpy_does_is_accepted(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--cgroup-manager", "cgroupfs", "--events-backend=file", "--log-level", "error", "version")
    assert code == 0 and not err and out.startswith("Client:")


def test_help_lists_the_supported_globals_only(capsys: pytest.CaptureFixture[str]) -> None:
    out = run(capsys, "--help")[1]
    for flag in ("--root", "--runroot", "--log-level", "--storage-driver", "--cgroup-manager", "--events-backend", "--noout"):
        assert f"  {flag} " in out, flag
    for name in _REFUSED_GLOBALS:
        assert f"--{name.replace('_', '-')} " not in out
