"""``-v SRC:DST:U`` (chown to the container user) and ``-v SRC:DST:O`` (overlay volume).

Expected values are what ``podman run`` 4.3.1 does for the same command as podpytest (subordinate
range from 100000): e.g. ``podman run --rm -u 1000:1000 -v D:/data:U busybox touch /data/new``
leaves D and everything in it owned by 100999:100999 on the host; with ``:O`` the writes land in an
upper dir of the container and D is unchanged; a second ``podman start -a`` sees D again.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.system.run.test_run_cli import IMG
from tests.system.run.test_run_flags import out


def _tree(d: Path) -> Path:
    (d / "sub").mkdir(parents=True)
    (d / "sub/f").write_text("hi\n")
    (d / "top").write_text("t\n")
    return d


def _owners(d: Path) -> set[tuple[int, int]]:
    """Owners of d and everything below, as the host sees them (stat from outside any namespace)."""
    r = subprocess.run(["find", str(d), "-printf", "%U:%G\n"], capture_output=True, text=True, check=True)
    return {tuple(int(x) for x in ln.split(":")) for ln in r.stdout.split()}  # type: ignore[misc]


def _subuid_start() -> int:
    me = os.environ.get("USER") or str(os.getuid())
    for ln in Path("/etc/subuid").read_text().splitlines():
        name, start, _ = ln.split(":")
        if name in (me, str(os.getuid())):
            return int(start)
    raise AssertionError("the test user has no subordinate ids")


def test_U_chowns_to_the_container_user(podpy, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    d = _tree(tmp_path / "vol")
    lines = out(podpy("run", "--rm", "-u", "1000:1000", "-v", f"{d}:/data:U", IMG, "sh", "-c",
                      "stat -c %u:%g /data /data/sub/f; touch /data/new && echo wrote"))  # fmt: skip
    assert lines == ["1000:1000", "1000:1000", "wrote"]
    host = _subuid_start() + 999  # container 1000 = podpy's namespace 1000 = subordinate id 1000-1
    assert _owners(d) == {(host, host)}
    # the image's root (--userns=host) is the user: U gives the files back to the user
    assert out(podpy("run", "--rm", "-v", f"{d}:/data:U", IMG, "stat", "-c", "%u:%g", "/data/sub/f")) == ["0:0"]
    assert _owners(d) == {(os.getuid(), os.getgid())}


def test_U_with_keep_id_gives_the_files_to_the_user(podpy, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    d = _tree(tmp_path / "vol")
    assert out(podpy("run", "--rm", "-u", "0", "-v", f"{d}:/data:U", IMG, "touch", "/data/x")) == []
    lines = out(podpy("run", "--rm", "--userns=keep-id", "-v", f"{d}:/data:U", IMG, "sh", "-c",
                      "stat -c %u /data/x; echo y > /data/x && echo ok"))  # fmt: skip
    assert lines == [str(os.getuid()), "ok"]
    assert _owners(d) == {(os.getuid(), os.getgid())}


def test_U_refuses_system_dirs(podpy) -> None:  # type: ignore[no-untyped-def]
    r = podpy("run", "--rm", "-v", "/etc:/x:U", IMG, "true")
    assert r.returncode == 125 and "refusing to chown /etc" in r.stderr


def test_O_overlay_discards_changes(podpy, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    d = _tree(tmp_path / "vol")
    before = sorted(p.name for p in d.rglob("*"))
    script = ("stat -c '%u:%g %a' /data; cat /data/sub/f; echo new > /data/n; rm /data/sub/f; echo x >> /data/top;"
              " ls /data /data/sub | tr '\\n' ' '; echo; grep ' /data ' /proc/self/mounts | cut -d' ' -f3")  # fmt: skip
    lines = out(podpy("run", "--name", "ov", "-v", f"{d}:/data:O", IMG, "sh", "-c", script))
    assert lines[0] == "0:0 755" and lines[1] == "hi"
    assert lines[2].split() == ["/data:", "n", "sub", "top", "/data/sub:"]
    assert lines[3] == "overlay"
    assert sorted(p.name for p in d.rglob("*")) == before and (d / "top").read_text() == "t\n"
    # started again: the source as it is, the earlier changes are gone (Podman discards them)
    lines = out(podpy("start", "-a", "ov"))
    assert lines[1] == "hi" and lines[2].split() == ["/data:", "n", "sub", "top", "/data/sub:"]
    assert podpy("rm", "ov").returncode == 0


def test_O_upperdir_keeps_changes(podpy, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    d = _tree(tmp_path / "vol")
    up, wk = tmp_path / "up", tmp_path / "wk"
    up.mkdir()
    wk.mkdir()
    v = f"{d}:/data:O,upperdir={up},workdir={wk}"
    assert out(podpy("run", "--rm", "-v", v, IMG, "sh", "-c", "echo kept > /data/k")) == []
    assert (up / "k").read_text() == "kept\n" and not (d / "k").exists()
    assert out(podpy("run", "--rm", "-v", v, IMG, "cat", "/data/k")) == ["kept"]


def test_O_under_keep_id_and_runc(podpy, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    d = _tree(tmp_path / "vol")
    for extra in (["--userns=keep-id"], ["--runtime", "runc"], ["--runtime", "runc", "--userns=keep-id"]):
        lines = out(podpy("run", "--rm", *extra, "-v", f"{d}:/data:O", IMG, "sh", "-c",
                          "stat -c %u /data/sub/f; echo n > /data/n && cat /data/n"))  # fmt: skip
        uid = str(os.getuid()) if "--userns=keep-id" in extra else "0"
        assert lines == [uid, "n"], extra
    assert not (d / "n").exists()
