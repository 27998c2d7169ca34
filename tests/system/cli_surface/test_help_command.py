"""``podpy help [COMMAND...]`` prints what ``podpy [COMMAND...] --help`` prints, as ``podman help`` does."""

from __future__ import annotations

import pytest

from tests.conftest import PodpyCli


@pytest.mark.parametrize("words", [(), ("run",), ("container", "ls"), ("pod", "create"), ("secret", "create")])
def test_help_is_the_commands_help(podpy_cli: PodpyCli, words: tuple[str, ...]) -> None:
    got = podpy_cli("help", *words)
    want = podpy_cli(*words, "--help")
    assert got.returncode == want.returncode == 0, (got.stderr, want.stderr)
    assert got.stdout == want.stdout and got.stdout.startswith(f"Usage: podpy {' '.join((*words, ''))}".rstrip())


def test_help_of_an_unknown_command(podpy_cli: PodpyCli) -> None:
    r = podpy_cli("help", "container", "nosuch")
    assert (r.returncode, r.stdout) == (125, "")
    assert r.stderr == 'Error: unknown help topic "container nosuch": see podpy --help for the commands\n'
