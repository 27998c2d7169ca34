"""``--image-volume bind|tmpfs|ignore``: what becomes of an image's VOLUME, as podman 4.3 does it
(inspect's Mounts lists only the anonymous volume of ``bind``, the default)."""

from __future__ import annotations

import json
from typing import Any

LAYERED = "127.0.0.1:5000/layered:v2s2"  # VOLUME /data/vol


def test_image_volume_modes(podpy, testenv: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
    assert podpy("load", "-i", testenv["archives"]["layered-docker-archive"]["path"]).returncode == 0
    script = "awk '$2 == \"/data/vol\" {print $3}' /proc/mounts"
    got = {}
    for mode in ("bind", "tmpfs", "ignore"):
        r = podpy("run", "--rm", "--image-volume", mode, LAYERED, script)  # ENTRYPOINT ["/bin/sh", "-c"]
        assert r.returncode == 0, r.stderr
        got[mode] = r.stdout.strip()
        assert podpy("create", "--name", f"iv-{mode}", "--image-volume", mode, LAYERED, "true").returncode == 0
    assert got["tmpfs"] == "tmpfs" and got["ignore"] == "" and got["bind"] not in ("", "tmpfs")
    mounts = {m: json.loads(podpy("inspect", "--format", "{{json .Mounts}}", f"iv-{m}").stdout) for m in got}
    assert [x["Destination"] for x in mounts["bind"]] == ["/data/vol"] and mounts["tmpfs"] == mounts["ignore"] == []
    assert len(podpy("volume", "ls", "-q").stdout.split()) == 1  # only bind made an anonymous volume
    r = podpy("run", "--rm", "--image-volume", "foo", LAYERED, "true")
    assert (r.returncode, r.stderr) == (125, 'Error: invalid image volume mode "foo" required value: bind, tmpfs, ignore\n')
