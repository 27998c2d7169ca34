"""Every command's ``--help`` has a one-line summary, its flags and examples (podpy.cli.examples).

The walk covers the whole command tree as ``podpy`` builds it (the lazy table, nested groups), so a
command added later without a summary or an example fails here; so does an example with a flag the
command does not take or a subcommand its group does not have.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator

import click
import pytest

from podpy.cli.examples import EXAMPLES, examples_for
from podpy.cli.main import COMMANDS, _build_cli, main


def _walk(cmd: click.Command, ctx: click.Context, path: str) -> Iterator[tuple[str, click.Command, click.Context]]:
    yield path, cmd, ctx
    if isinstance(cmd, click.Group):
        for name in cmd.list_commands(ctx):
            sub = cmd.get_command(ctx, name)
            assert sub is not None, f"podpy {path} {name}: listed but not loadable"
            yield from _walk(sub, _context(sub, name, ctx), f"{path} {name}".strip())


def _context(cmd: click.Command, name: str, parent: click.Context | None) -> click.Context:
    """The context podpy gives ``cmd`` (settings inherited, e.g. ``-h``), without running anything."""
    return cmd.make_context(name, [], parent=parent, resilient_parsing=True)


def _tree() -> list[tuple[str, click.Command, click.Context]]:
    cli = _build_cli()["cli"]
    return list(_walk(cli, _context(cli, "podpy", None), ""))


TREE = _tree()


def test_the_walk_sees_nested_groups() -> None:
    paths = {p for p, _, _ in TREE}
    assert set(COMMANDS) <= paths
    assert {"image rm", "container rm", "volume rm", "pod rm", "network rm", "system df"} <= paths


@pytest.mark.parametrize("path", [p for p, _, _ in TREE], ids=lambda p: p or "podpy")
def test_every_command_has_summary_flags_and_examples(path: str) -> None:
    cmd, ctx = next((c, x) for p, c, x in TREE if p == path)
    assert (cmd.short_help or cmd.help or "").strip(), f"podpy {path}: no one-line summary (docstring)"
    assert examples_for(path), f"podpy {path}: no example: add a row to podpy/cli/examples.py EXAMPLES"
    text = cmd.get_help(ctx)
    assert text.splitlines()[2].strip(), text  # the summary, after "Usage: ..." and a blank line
    assert "Options:" in text and "--help" in text
    examples = text.split("\nExamples:\n", 1)[1].splitlines()
    assert examples and all(line.startswith(f"  {ctx.command_path}") for line in examples), text


def _parse(cmd: click.Command, ctx: click.Context, args: list[str], where: str) -> None:
    if isinstance(cmd, click.Group) and args and not args[0].startswith("-"):
        sub = cmd.get_command(ctx, args[0])
        assert sub is not None, f"{where}: no subcommand {args[0]!r}"
        _parse(sub, _context(sub, args[0], ctx), args[1:], where)
        return
    if isinstance(cmd, click.Group) and args and args[0].startswith("-"):
        # global flags before the command: let the group parse them, then go on with the rest
        sub_ctx = cmd.make_context(ctx.info_name, list(args), parent=ctx.parent, resilient_parsing=True)
        if sub_ctx.protected_args or sub_ctx.args:
            _parse(cmd, ctx, [*sub_ctx.protected_args, *sub_ctx.args], where)
        return
    try:
        cmd.make_context(ctx.info_name, list(args), parent=ctx.parent)
    except click.BadParameter:
        pass  # a value the example names (a file, a container) that does not exist here
    except click.UsageError as e:
        pytest.fail(f"{where}: {e.format_message()}")


@pytest.mark.parametrize("path", sorted({p for p, _, _ in TREE if examples_for(p)}), ids=lambda p: p or "podpy")
def test_examples_use_flags_the_command_takes(path: str) -> None:
    cmd, ctx = next((c, x) for p, c, x in TREE if p == path)
    for line in examples_for(path) or ():
        words = shlex.split(line)
        for i, w in enumerate(words):
            if w in ("<", ">", "|"):  # a shell redirection: not the command's
                words = words[:i]
                break
        _parse(cmd, ctx, words, f"podpy {path} {line}")


def test_no_example_for_a_command_that_does_not_exist() -> None:
    """Rows for commands being written now may wait; a typo may not: every row's group exists."""
    paths = {p for p, _, _ in TREE}
    groups = {p.split()[0] for p in EXAMPLES if " " in p}
    assert groups <= paths | {"kube", "play"}, groups - paths


def test_root_help_and_version_unchanged(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "Available Commands" in out and "\nExamples:\n  podpy run -d --name web" in out
    assert "--cgroup-manager" in out and "--events-backend" in out and "--url" not in out
