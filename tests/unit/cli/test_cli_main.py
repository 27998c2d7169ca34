"""cli.main: the click-free fast paths print exactly what the click commands print."""

from __future__ import annotations

import pytest

from podpy.cli.main import main
from podpy.util.paths import Paths
from tests.unit.engine.conftest import MakeImage


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as e:
        main(list(args))
    out, err = capsys.readouterr()
    return int(e.value.code or 0), out, err


@pytest.mark.parametrize(
    "flags",
    [
        (),
        ("-a",),
        ("-q",),
        ("--digests",),
        ("--no-trunc",),
        ("-n",),
        ("--history",),
        ("-q", "--no-trunc", "-a"),
    ],
)
def test_images_fast_path_equals_click_command(
    paths: Paths, make_image: MakeImage, capsys: pytest.CaptureFixture[str], flags: tuple[str, ...]
) -> None:
    make_image(["localhost/a:1", "quay.io/x/b:2"], layers=[{"f": b"1"}])
    make_image([], layers=[{"g": b"2"}])
    make_image(["localhost/c:latest"], layers=[{"h": b"3"}])
    g = ("--root", str(paths.root), "--runroot", str(paths.runroot))
    fast = run(capsys, *g, "images", *flags)
    # `--sort created` is the default value but is not a fast-path flag: this goes through click
    slow = run(capsys, *g, "images", "--sort", "created", *flags)
    assert fast == slow and fast[0] == 0 and fast[1]
    assert run(capsys, f"--root={paths.root}", f"--runroot={paths.runroot}", "image", "ls", *flags) == fast


def test_images_fast_path_leaves_errors_to_click(paths: Paths, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "--root", str(paths.root), "images", "-z") == (
        125,
        "",
        "Error: No such option '-z'.\n",
    )


def test_version_and_missing_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "--version") == (0, "podpy version 0.1.0\n", "")
    assert run(capsys, "-v") == (0, "podpy version 0.1.0\n", "")
    code, out, err = run(capsys)
    assert (
        code == 125 and out.startswith("Usage: podpy") and err == "Error: missing command 'podpy COMMAND'\n"
    )
    code, out, err = run(capsys, "image")
    assert code == 125 and err == "Error: missing command 'podpy image COMMAND'\n"
