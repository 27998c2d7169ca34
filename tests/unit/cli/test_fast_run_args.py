"""``run``'s click-free parser reads every command line exactly as click does, or declines it."""

from __future__ import annotations

import pytest

from podpy.cli import container
from podpy.cli.fastargs import parse_options

IMG = "127.0.0.1:5000/busybox"


def _click_params(args: list[str]) -> dict[str, object]:
    ctx = container.run_cmd.make_context("run", list(args))
    return dict(ctx.params)


@pytest.mark.parametrize(
    "args",
    [
        [IMG],
        ["--rm", "--network", "none", IMG, "true"],
        ["--rm", "--network=none", "--name", "x", IMG, "sh", "-c", "echo $A"],
        ["-it", IMG, "sh"],
        ["-dit", "--rm", IMG],
        ["-e", "A=1", "-eB=2", "--env=C=3", IMG, "env"],
        ["-v", "/tmp:/t:ro", "--volume=/srv:/s", IMG],
        ["--sig-proxy=false", "--read-only-tmpfs", "no", "--tls-verify=true", IMG],
        ["--preserve-fds", "2", "--health-retries=5", IMG],
        ["--stop-timeout", "3", "--stop-signal=KILL", IMG],
        ["--unsetenv", "PATH", "--unsetenv-all", "--umask=0077", "--sysctl", "net.x=1", "--label-file", "f", IMG],
        ["--pidfile", "/tmp/p", "--conmon-pidfile=/tmp/c", "--secret", "s,type=env", "--pod-id-file", "f", "--expose=80", IMG],
        ["--arch", "arm64", "--os=linux", "--variant", "v8", "--authfile", "a.json", "--rmi", "--image-volume=tmpfs", "--requires", "a,b", IMG],
        ["-p", "8080:80", "-P", "--dns", "1.1.1.1", IMG],
        ["--", IMG, "--rm", "-x"],
        [IMG, "--", "ls", "-l"],
        ["-u", "1000:1000", "-w", "/tmp", "-h", "host", IMG, "id"],
        ["--entrypoint", '["/bin/sh","-c"]', IMG, "echo hi"],
        ["-e", "-weird", IMG],
        ["--label", "a=b", "-l", "c=d", "--annotation", "k=v", IMG],
    ],
)
def test_fast_parser_agrees_with_click(args: list[str]) -> None:
    fast = parse_options(args, container.RUN_OPTIONS, container.RUN_ARGUMENTS)
    assert fast == _click_params(args)


@pytest.mark.parametrize(
    "args",
    [
        [],  # IMAGE missing
        ["--help"],
        ["--rm"],
        ["--bogus", IMG],
        ["-Z", IMG],
        ["--rm=true", IMG],  # a flag with a value
        ["--preserve-fds", "two", IMG],
        ["--sig-proxy", "maybe", IMG],
        ["--name"],  # a value missing
    ],
)
def test_fast_parser_leaves_errors_and_help_to_click(args: list[str]) -> None:
    assert parse_options(args, container.RUN_OPTIONS, container.RUN_ARGUMENTS) is None


def test_every_run_flag_is_in_the_table_click_is_built_from() -> None:
    names = {p.name for p in container.run_cmd.params}
    assert names == {row[0] for row in container.RUN_OPTIONS} | set(container.RUN_ARGUMENTS)
