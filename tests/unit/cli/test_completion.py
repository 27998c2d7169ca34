"""``podpy completion`` and the values click's completion answers (in-process, as the scripts ask).

The shells themselves run in tests/system/completion/test_shells.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from podpy.cli.completion import SCRIPT_FILES, script
from podpy.cli.main import main
from podpy.engine import volumes
from podpy.engine.state import ContainerRecord, State
from podpy.util.paths import Paths
from tests.unit.engine.conftest import MakeImage

REPO = Path(__file__).resolve().parents[3]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as e:
        main(list(args))
    out, err = capsys.readouterr()
    return int(e.value.code or 0), out, err


def complete(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, line: str, shell: str = "bash"
) -> list[str]:
    """What ``podpy`` answers the ``shell`` script for the typed ``line`` (cursor at its end)."""
    words = line.split()
    cword = len(words) if line.endswith(" ") else len(words) - 1
    monkeypatch.setenv("COMP_WORDS", line)
    monkeypatch.setenv("COMP_CWORD", str(cword))
    monkeypatch.setenv("_PODPY_COMPLETE", f"{shell}_complete")
    code, out, err = run(capsys, "podpy")  # argv[1:] is empty when a shell asks
    assert code == 0 and not err, err
    if shell == "bash":
        return [v.split(",", 1)[1] for v in out.splitlines() if v.startswith("plain,")]
    return out.splitlines()


@pytest.mark.parametrize("shell", sorted(SCRIPT_FILES))
def test_completions_dir_holds_the_current_scripts(shell: str, capsys: pytest.CaptureFixture[str]) -> None:
    """completions/ is what `podpy completion SHELL` prints (regenerate: podpy completion SHELL -f FILE)."""
    code, out, _ = run(capsys, "completion", shell)
    assert code == 0 and out == script(shell)
    assert (REPO / "completions" / SCRIPT_FILES[shell]).read_text() == out, f"completions/{SCRIPT_FILES[shell]} is stale"


def test_completion_command_file_powershell_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "podpy.fish"
    assert run(capsys, "completion", "-f", str(target), "fish")[:2] == (0, "")
    assert target.read_text() == script("fish")
    code, out, _ = run(capsys, "completion", "powershell")
    assert code == 0 and "Register-ArgumentCompleter -Native -CommandName podpy" in out
    assert run(capsys, "completion", "tcsh") == (
        125, "", 'Error: unknown shell "tcsh": use one of bash, zsh, fish, powershell\n'
    )  # fmt: skip
    code, out, _ = run(capsys, "completion", "--no-desc", "zsh")
    assert "_PODPY_COMPLETE_NO_DESC=1 _PODPY_COMPLETE=zsh_complete" in out
    assert run(capsys, "completion", "--no-desc", "powershell")[0] == 125


def test_subcommands_and_flags(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    assert complete(capsys, monkeypatch, "podpy ru") == ["run"]
    assert {"rm", "rmi", "restart", "rename"} <= set(complete(capsys, monkeypatch, "podpy r"))
    assert complete(capsys, monkeypatch, "podpy run --net")[:1] == ["--network"]
    assert complete(capsys, monkeypatch, "podpy volume cr") == ["create"]
    assert complete(capsys, monkeypatch, "podpy image sa") == ["save"]  # from the image group's lazy table
    assert "--all" in complete(capsys, monkeypatch, "podpy container rm --a")
    assert complete(capsys, monkeypatch, "podpy --log-level de") == ["debug"]
    assert complete(capsys, monkeypatch, "podpy --cgroup-manager c") == ["cgroupfs"]
    assert complete(capsys, monkeypatch, "podpy completion f") == ["fish"]


def test_zsh_gets_descriptions_unless_no_desc(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    assert complete(capsys, monkeypatch, "podpy pul", "zsh") == ["plain", "pull", "Pull an image from a registry"]
    monkeypatch.setenv("_PODPY_COMPLETE_NO_DESC", "1")
    assert complete(capsys, monkeypatch, "podpy pul", "zsh") == ["plain", "pull", "_"]


def test_dynamic_values_from_the_root_typed(
    paths: Paths, make_image: MakeImage, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    make_image(["localhost/web:1", "quay.io/x/tool:2"], layers=[{"f": b"1"}])
    st = State(paths)
    st.create(ContainerRecord(id="a" * 64, name="web1", state="running"))
    st.create(ContainerRecord(id="b" * 64, name="db1", state="exited"))
    st.close()
    volumes.create(paths, "data1")
    g = f"podpy --root {paths.root} --runroot {paths.runroot}"

    def values(typed: str) -> list[str]:
        return complete(capsys, monkeypatch, f"{g} {typed}")

    assert sorted(values("rm ")) == ["db1", "web1"]
    assert values("container rm w") == ["web1"]
    assert values("stop ") == ["web1"] and values("start ") == ["db1"]  # running / not running
    assert values("rm web1 ") == ["db1"]  # what is typed is not offered again
    assert values("rm bbb") == ["b" * 12]  # IDs once one is begun
    assert values("exec ") == ["web1"] and values("exec web1 ") == []  # the command is not a container
    assert values("rmi ") == ["localhost/web:1", "quay.io/x/tool:2"]
    assert values("run quay") == ["quay.io/x/tool:2"]
    assert values("image inspect l") == ["localhost/web:1"]
    assert values("tag l") == ["localhost/web:1"]
    assert values("volume rm ") == ["data1"]
    assert values("run -v d") == ["data1"] and values("create --volume data1:/") == []  # (and the shell's paths)
    assert values("run --network ") == ["bridge", "host", "none", "private", "slirp4netns", "pasta", "podman"]
    assert values("network rm ") == ["podman"]
    assert sorted(values("inspect d")) == ["data1", "db1"]
    assert values("commit web1 ") == []  # the new image's name
    assert values("images q") == ["quay.io/x/tool:2"]  # a filter


def test_dynamic_values_create_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "none"
    assert complete(capsys, monkeypatch, f"podpy --root {root} --runroot {tmp_path / 'rr'} rm ") == []
    assert complete(capsys, monkeypatch, f"podpy --root {root} --runroot {tmp_path / 'rr'} rmi ") == []
    assert complete(capsys, monkeypatch, f"podpy --root {root} --runroot {tmp_path / 'rr'} pod rm ") == []
    assert not root.exists()


def test_every_argument_naming_an_object_completes_it() -> None:
    """Commands added later are covered too: an argument called container(s), image(s), pod(s),
    volume(s), network(s) or ref(s) needs a completion (a ``KINDS`` row when its name misleads)."""
    import click

    from podpy.cli.completion import kind_of
    from tests.unit.cli.test_help_examples import TREE

    objects = {"container", "image", "pod", "volume", "network", "ref"}
    missing = [
        f"podpy {path} {p.name.upper()}"
        for path, cmd, _ in TREE
        for p in cmd.params
        if isinstance(p, click.Argument) and (p.name or "").rstrip("s") in objects
        and not kind_of(path, p) and path.split()[-1:] not in (["commit"], ["build"])
    ]  # fmt: skip
    assert not missing, missing


def test_paths_are_left_to_the_shell(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMP_WORDS", "podpy kube play my")
    monkeypatch.setenv("COMP_CWORD", "3")
    monkeypatch.setenv("_PODPY_COMPLETE", "bash_complete")
    assert run(capsys, "podpy") == (0, "file,my\n", "")
    monkeypatch.setenv("COMP_WORDS", "podpy build ")
    monkeypatch.setenv("COMP_CWORD", "2")
    assert run(capsys, "podpy") == (0, "dir,\n", "")
    monkeypatch.setenv("COMP_WORDS", "podpy run --env-file ./e")
    monkeypatch.setenv("COMP_CWORD", "3")
    assert run(capsys, "podpy") == (0, "file,./e\n", "")
    monkeypatch.setenv("COMP_WORDS", "podpy run -v /h")
    assert run(capsys, "podpy") == (0, "file,/h\n", "")  # no volume named so: the shell's paths
