"""Volumes against the real user namespace: copy-up of the image's content with its owners, modes,
setuid bits, hard links and symlinks (under the default mapping and under ``--userns=keep-id``), and
concurrent first uses and creates of one volume."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

LAYERED = "127.0.0.1:5000/layered:v2s2"  # VOLUME /data/vol, USER 1000:1000, /data with owned files
CHECK = ("cd /data && stat -c '%n %u %g %a' owned-1000.txt owned-nobody.txt setuid-bin hello.txt"
         " && readlink rel-link && [ $(stat -c %i hardlink.txt) = $(stat -c %i sub/hardlink2.txt) ] && echo linked")  # fmt: skip
EXPECTED = ["owned-1000.txt 1000 1000 640", "owned-nobody.txt 65534 65534 600", "setuid-bin 0 0 4755",
            "hello.txt 0 0 644", "hello.txt", "linked"]  # fmt: skip


@pytest.fixture
def podpy(podpy_cli, testenv: dict[str, Any]):  # type: ignore[no-untyped-def]
    r = podpy_cli("load", "-i", testenv["archives"]["layered-docker-archive"]["path"])
    assert r.returncode == 0, r.stderr
    yield podpy_cli
    podpy_cli("rm", "-f", "-a", "-t", "0")


def test_copy_up_keeps_metadata_under_both_mappings(podpy) -> None:  # type: ignore[no-untyped-def]
    for vol, userns in (("plain", []), ("kept", ["--userns", "keep-id"])):
        r = podpy("run", "--rm", *userns, "-v", f"{vol}:/data", LAYERED, CHECK)
        assert r.returncode == 0, r.stderr
        assert r.stdout.splitlines() == EXPECTED, (userns, r.stdout)
        # the volume keeps the copy: a second container (the same mapping) sees it without a new copy-up
        r = podpy("run", "--rm", *userns, "-v", f"{vol}:/data:nocopy", LAYERED, "cat /data/hello.txt")
        assert r.returncode == 0 and r.stdout.strip(), r.stderr
    # with the default mapping the owners are the image's ids as podpy's namespace stores them
    r = podpy("unshare", "stat", "-c", "%u", "--", _data(podpy, "plain") + "/owned-1000.txt")
    assert r.returncode == 0 and r.stdout.strip() == "1000", r.stderr


def _data(podpy, name: str) -> str:  # type: ignore[no-untyped-def]
    r = podpy("volume", "inspect", "--format", "{{.Mountpoint}}", name)
    assert r.returncode == 0, r.stderr
    return str(r.stdout.strip())


def test_concurrent_creates_and_first_uses(podpy) -> None:  # type: ignore[no-untyped-def]
    with ThreadPoolExecutor(max_workers=4) as ex:
        creates = list(ex.map(lambda _: podpy("volume", "create", "race"), range(4)))
    assert sorted(r.returncode for r in creates) == [0, 125, 125, 125], [r.stderr for r in creates]
    assert all("volume with name race already exists" in r.stderr for r in creates if r.returncode)
    with ThreadPoolExecutor(max_workers=3) as ex:
        runs = list(ex.map(lambda i: podpy("run", "--rm", "-u", "0", "-v", "shared:/data", LAYERED, f"touch /data/{i}"),
                           range(3)))  # fmt: skip
    assert all(r.returncode == 0 for r in runs), [r.stderr for r in runs]
    r = podpy("run", "--rm", "-v", "shared:/data", LAYERED, "ls /data/0 /data/1 /data/2 /data/hello.txt")
    assert r.returncode == 0, r.stderr  # one copy-up, nothing lost
    assert podpy("volume", "ls", "-q").stdout.split() == ["race", "shared"]
