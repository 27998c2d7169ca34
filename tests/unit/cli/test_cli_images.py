"""Image CLI output shapes (columns, truncation, JSON, messages, exit codes) on synthetic images."""

from __future__ import annotations

import json

import pytest

from podpy.cli.main import main
from podpy.cli.output import human_duration, human_size
from podpy.util.paths import Paths


def run(paths: Paths, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as e:
        main(["--root", str(paths.root), "--runroot", str(paths.runroot), *args])
    out, err = capsys.readouterr()
    return int(e.value.code or 0), out, err


@pytest.mark.parametrize(
    ("n", "want"),
    [
        (0, "0 B"),
        (999, "999 B"),
        (1000, "1 kB"),
        (10240, "10.2 kB"),
        (1987691, "1.99 MB"),
        (2140160, "2.14 MB"),
        (999_500, "1e+03 kB"),
        (5 * 10**9, "5 GB"),
    ],
)
def test_human_size(n: int, want: str) -> None:
    assert human_size(n) == want


@pytest.mark.parametrize(
    ("s", "want"),
    [
        (0.2, "Less than a second"),
        (1, "1 second"),
        (59, "59 seconds"),
        (61, "About a minute"),
        (600, "10 minutes"),
        (3600, "About an hour"),
        (7200, "2 hours"),
        (3 * 86400, "3 days"),
        (20 * 86400, "2 weeks"),
        (90 * 86400, "3 months"),
        (3 * 365 * 86400, "3 years"),
    ],
)
def test_human_duration(s: float, want: str) -> None:
    assert human_duration(s) == want


def test_images_default_table(paths: Paths, make_image, capsys) -> None:  # type: ignore[no-untyped-def]
    iid = make_image(["127.0.0.1:5000/layered:v2s2", "localhost/x:1"])
    make_image([], layers=[{"d": b"x"}])
    code, out, _ = run(paths, capsys, "images")
    lines = out.splitlines()
    assert code == 0
    assert lines[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert lines[0].startswith("REPOSITORY              TAG         IMAGE ID      CREATED")
    (row,) = [ln for ln in lines if ln.startswith("127.0.0.1:5000/layered")]
    assert row.startswith(f"127.0.0.1:5000/layered  v2s2        {iid[:12]}  ") and " years ago  " in row
    assert len(lines) == 4 and any(ln.startswith("<none>                  <none>      ") for ln in lines)
    code, out, _ = run(paths, capsys, "images", "-q")
    assert len(out.splitlines()) == 2 and iid[:12] in out.splitlines()
    code, out, _ = run(paths, capsys, "images", "-q", "--no-trunc")
    assert "sha256:" + iid in out.splitlines()
    code, out, _ = run(paths, capsys, "images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}", "x")
    # like podman: the filter selects images, and every tagged name of a selected image is a row
    assert out == f"127.0.0.1:5000/layered:v2s2 {iid[:12]}\nlocalhost/x:1 {iid[:12]}\n"
    code, out, _ = run(paths, capsys, "images", "--format", "json")
    doc = json.loads(out)
    assert len(doc) == 3 and iid in [d["Id"] for d in doc] and out.startswith('[\n    {\n        "Id"')
    code, out, _ = run(paths, capsys, "images", "--digests", "--noheading", "layered")
    assert "sha256:" in out and "REPOSITORY" not in out
    code, out, err = run(paths, capsys, "images", "--sort", "foo")
    assert (
        code == 125
        and err
        == 'Error: "foo" is not a valid field for sorting. Choose from: created, id, repository, size, tag\n'
    )
    code, out, err = run(paths, capsys, "images", "--format", "{{.Nope}}")
    assert code == 125 and "can't evaluate field Nope in type images.imageReporter" in err


def test_tag_untag_rmi_exists_messages(paths: Paths, make_image, capsys) -> None:  # type: ignore[no-untyped-def]
    iid = make_image(["localhost/a:1"])
    assert run(paths, capsys, "tag", "a:1", "b", "c:2")[0] == 0
    code, _, err = run(paths, capsys, "tag", "a:1")
    assert code == 125 and err == "Error: requires at least 2 arg(s), only received 1\n"
    code, _, err = run(paths, capsys, "untag", "a:1", "nope")
    assert code == 125 and err == "Error: localhost/nope:latest: tag not known\n"
    code, out, err = run(paths, capsys, "rmi", iid)
    assert code == 125 and "by ID with more than one tag" in err
    code, out, err = run(paths, capsys, "rmi", "b")
    assert (code, out) == (0, "Untagged: localhost/b:latest\n")
    assert run(paths, capsys, "image", "exists", "c:2")[0] == 0
    assert run(paths, capsys, "image", "exists", "nope") == (1, "", "")
    code, out, err = run(paths, capsys, "rmi", "nope")
    assert (code, err) == (1, "Error: nope: image not known\n")
    assert run(paths, capsys, "rmi", "-i", "nope")[0] == 0
    code, out, err = run(paths, capsys, "rmi", "-a")
    assert code == 0 and out == f"Untagged: localhost/a:1\nUntagged: localhost/c:2\nDeleted: {iid}\n"


def test_history_output(paths: Paths, make_image, capsys) -> None:  # type: ignore[no-untyped-def]
    long = "/bin/sh -c #(nop) ADD file:busybox-static in / and a long tail"
    iid = make_image(
        ["localhost/h:1"], history=[{"created": "2023-11-14T22:13:20Z", "created_by": long, "comment": "c"}]
    )
    code, out, _ = run(paths, capsys, "history", "h:1")
    lines = out.splitlines()
    assert (
        lines[0]
        == "ID            CREATED      CREATED BY                                     SIZE        COMMENT"
    )
    assert lines[1].startswith(f"{iid[:12]}  ") and long[:42] + "..." in lines[1] and lines[1].endswith("c")
    code, out, _ = run(paths, capsys, "history", "--no-trunc", "--human=false", "h:1")
    assert iid in out and long in out and "2023-11-14T22:13:20Z" in out
    code, out, _ = run(paths, capsys, "history", "-q", "h:1")
    assert out == iid[:12] + "\n"
    code, out, _ = run(paths, capsys, "history", "--format", "json", "h:1")
    (row,) = json.loads(out)
    assert list(row) == ["id", "created", "CreatedBy", "size", "comment", "Created"]
    code, out, _ = run(paths, capsys, "history", "--format", "{{.ID}}|{{.Size}}", "h:1")
    assert out.startswith(iid[:12] + "|") and out.endswith("B\n")


def test_inspect_output(paths: Paths, make_image, capsys) -> None:  # type: ignore[no-untyped-def]
    iid = make_image(["localhost/i:1"], labels={"a": "b"})
    code, out, _ = run(paths, capsys, "image", "inspect", "i:1")
    assert code == 0 and out.startswith('[\n     {\n          "Id": "' + iid)
    code, out, _ = run(
        paths,
        capsys,
        "inspect",
        "--format",
        '{{.Id}} {{.Config.Cmd}} {{.Config.Volumes}} {{index .Labels "a"}}',
        "i:1",
    )
    assert out == f"{iid} [sh] map[] b\n"
    code, out, err = run(paths, capsys, "inspect", "--format", "{{.Config.Nope}}", "i:1")
    assert code == 125 and "can't evaluate field Nope in type *v1.ImageConfig" in err
    assert err.startswith("Error: inspecting object: printing inspect output: template: inspect:1:")
    code, out, err = run(paths, capsys, "image", "inspect", "nope")
    assert (code, out, err) == (125, "[]\n", "Error: inspecting object: nope: image not known\n")
    code, out, err = run(paths, capsys, "inspect", "nope")
    assert err == 'Error: inspecting object: no such object: "nope"\n'
    code, out, err = run(paths, capsys, "inspect", "--type", "container", "i:1")
    assert code == 125 and err == "Error: inspecting object: no such container i:1\n"


def test_image_group_help_lists_transfer_commands(capsys) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit):
        main(["image", "--help"])
    out = capsys.readouterr().out
    for c in (
        "save",
        "load",
        "import",
        "push",
        "pull",
        "ls",
        "rm",
        "prune",
        "exists",
        "history",
        "inspect",
        "tag",
        "untag",
    ):
        assert f"  {c} " in out
