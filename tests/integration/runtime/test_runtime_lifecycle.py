"""The OCI verbs (create, start, state, kill, delete) behave like runc's, in one user namespace."""

from __future__ import annotations

import json
import os
import subprocess

from tests.integration.runtime.conftest import TREE, Runtime


def test_create_start_state_kill_delete(runtime: Runtime, make_bundle) -> None:
    b = make_bundle(["sleep", "60"])

    def verb(*args: str) -> str:
        return " ".join(runtime.argv(*args))

    # all verbs inside one user namespace, as podpy's pause process would provide
    script = "; ".join(
        [
            "set -e",
            verb("create", "--bundle", str(b.path), "lc") + " </dev/null >/dev/null 2>&1",
            verb("state", "lc") + " > s1.json",
            verb("start", "lc"),
            verb("state", "lc") + " > s2.json",
            verb("kill", "lc", "KILL"),
            "sleep 0.5",
            verb("state", "lc") + " > s3.json",
            verb("delete", "lc"),
            "if " + verb("state", "lc") + " 2>/dev/null; then echo still-there; fi",
        ]
    )
    env = dict(os.environ, PYTHONPATH=str(TREE))
    r = subprocess.run(["unshare", "--user", "--map-root-user", "--map-auto", "--mount", "--", "sh", "-c", script],
                       cwd=b.path, capture_output=True, text=True, timeout=60, env=env)  # fmt: skip
    assert r.returncode == 0, r.stderr
    s1, s2, s3 = (json.loads((b.path / f"s{i}.json").read_text()) for i in (1, 2, 3))
    assert (s1["status"], s2["status"], s3["status"]) == ("created", "running", "stopped")
    assert s1["id"] == "lc" and s1["pid"] > 0 and s1["pid"] == s2["pid"]
    assert os.path.samefile(s1["bundle"], b.path)
    assert "still-there" not in r.stdout
