"""``podpy mount``/``unmount`` as Podman 4.3 does them rootless: ``mount`` only inside ``podpy
unshare`` (where the path means something), a mount count, the rootfs kept mounted across the
container's exit while mounted, ``rm`` unmounting it."""

from __future__ import annotations

import json
import shlex

from tests.conftest import _podpy_command

IMG = "127.0.0.1:5000/busybox:latest"


def _in_unshare(podpy, script: str):  # type: ignore[no-untyped-def]
    """Run ``script`` in a shell inside ``podpy unshare``; ``$P`` is podpy on this test's store."""
    return podpy("unshare", "sh", "-c", f"P={shlex.quote(' '.join(_podpy_command()))}; {script}")


def test_mount_needs_unshare_and_counts(podpy) -> None:  # type: ignore[no-untyped-def]
    cid = podpy("create", "--name", "mnt", IMG, "sh", "-c", "echo made-by-ctr > /made").stdout.strip()
    r = podpy("mount", "mnt")
    assert (r.returncode, r.stderr) == (
        125, 'Error: cannot run command "podpy mount" in rootless mode, must execute `podpy unshare` first\n')  # fmt: skip
    r = _in_unshare(podpy, "$P mount mnt && $P mount mnt >/dev/null && $P mount && $P mount --format json "
                           "&& ls $($P mount mnt) | head -3")  # fmt: skip
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    path = lines[0]
    assert path.endswith("/merged") and lines[1] == f"{cid[:12]}  {path}"
    doc = json.loads("\n".join(lines[2:-3]))
    assert doc == [{"id": cid, "Names": ["mnt"], "mountpoint": path}]
    assert lines[-3:] == ["bin", "dev", "etc"]
    # the container runs and exits: its cleanup leaves the user's mount (count 3)
    assert podpy("start", "-a", "mnt").returncode == 0
    r = _in_unshare(podpy, f"cat {path}/made; $P unmount mnt; $P umount mnt; $P mount --no-trunc")
    assert r.stdout.splitlines() == ["made-by-ctr", "mnt", "mnt", f"{cid}  {path}"], r.stderr
    # unmount works outside too; the last one unmounts
    assert podpy("container", "unmount", "mnt").stdout == "mnt\n"
    r = _in_unshare(podpy, f"$P mount; grep -c ' {path} ' /proc/mounts")
    assert r.stdout == "0\n", r
    r = podpy("unmount", "nosuch")
    assert (r.returncode, r.stderr) == (125, 'Error: no container with name or ID "nosuch" found: no such container\n')
    for args, err in (((), "you must provide at least one name or id"), (("-a", "mnt"), "no arguments are needed with --all")):
        r = podpy("unmount", *args)
        assert (r.returncode, r.stderr) == (125, f"Error: {err}\n"), args


def test_rm_unmounts_a_mounted_container(podpy) -> None:  # type: ignore[no-untyped-def]
    cid = podpy("create", "--name", "m2", IMG, "true").stdout.strip()
    r = _in_unshare(podpy, f"$P mount m2 >/dev/null && $P mount -a && grep -c {cid} /proc/mounts; $P rm m2 >/dev/null "
                           f"&& $P mount && grep -c {cid} /proc/mounts")  # fmt: skip
    lines = r.stdout.splitlines()
    assert lines[0].startswith(cid[:12]) and lines[1] != "0" and lines[2:] == ["0"], r
    assert podpy("ps", "-a", "-q").stdout == ""
