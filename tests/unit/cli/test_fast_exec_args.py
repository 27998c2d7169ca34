"""``exec``'s click-free parser reads every command line exactly as click does, or declines it."""

from __future__ import annotations

import pytest

from podpy.cli import exec as exec_cli


def _click_params(args: list[str]) -> dict[str, object]:
    ctx = exec_cli.exec_cmd.make_context("exec", list(args))
    return dict(ctx.params)


@pytest.mark.parametrize(
    "args",
    [
        ["ctr", "true"],
        ["-it", "ctr", "sh"],
        ["-d", "ctr", "sleep", "1"],
        ["-e", "A=1", "-eB=2", "--env=C=3", "--env-file", "f", "ctr", "env"],
        ["-u", "1000:1000", "-w", "/tmp", "--privileged", "ctr", "id"],
        ["--user=root", "--workdir=/", "ctr", "pwd"],
        ["--preserve-fds", "2", "ctr", "ls", "-l"],
        ["--preserve-fds=0", "ctr", "true"],
        ["--", "ctr", "--x"],
        ["ctr", "--", "ls", "-l"],
        ["ctr", "sh", "-c", "echo -e"],
        ["-e", "-weird", "ctr", "true"],
    ],
)
def test_fast_parser_agrees_with_click(args: list[str]) -> None:
    assert exec_cli.fast_kwargs(args) == _click_params(args)


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["ctr"],  # COMMAND missing
        ["--help"],
        ["-h", "ctr", "true"],
        ["--bogus", "ctr", "true"],
        ["-Z", "ctr", "true"],
        ["--detach=true", "ctr", "true"],  # a flag with a value
        ["--preserve-fds", "two", "ctr", "true"],
        ["--preserve-fds", "-1", "ctr", "true"],  # click's IntRange(min=0) refuses it
        ["-u"],  # a value missing
    ],
)
def test_fast_parser_declines_what_click_must_parse(args: list[str]) -> None:
    assert exec_cli.fast_kwargs(args) is None
