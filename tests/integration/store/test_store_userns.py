"""The store inside a real user namespace, as the unprivileged test user: owners land on the subuid
range, and unpacked layers work as kernel overlay lowerdirs (whiteouts, opaque dirs) with userxattr.

Run as root, these tests switch to the test user ``podpytest`` with runuser; they never run the
store itself as real root, so they cannot pass vacuously.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.rootless

REPO = Path(__file__).resolve().parents[3]
SCRIPT = Path(__file__).with_name("userns_store_check.py")
TEST_USER = os.environ.get("PODPY_TEST_USER", "podpytest")


def _python() -> str:
    if os.geteuid() != 0:
        return sys.executable
    for cand in (os.environ.get("PODPY_TEST_PYTHON"), "/opt/podpy-test/venv/bin/python"):
        if cand and os.access(cand, os.X_OK):
            return cand
    return "/usr/bin/python3"


def _user() -> pwd.struct_passwd:
    return pwd.getpwuid(os.geteuid()) if os.geteuid() != 0 else pwd.getpwnam(TEST_USER)


def _subid_start(path: str, user: pwd.struct_passwd) -> int:
    for line in Path(path).read_text().splitlines():
        parts = line.strip().split(":")
        if len(parts) == 3 and parts[0] in (user.pw_name, str(user.pw_uid)):
            return int(parts[1])
    pytest.fail(f"{user.pw_name} has no range in {path}: run tests/env/setup.sh as root")


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    if os.geteuid() == 0:
        args = ["runuser", "-u", TEST_USER, "--", *args]
    return subprocess.run(args, capture_output=True, text=True, cwd=REPO, timeout=300)


@pytest.fixture
def workdir() -> Iterator[Path]:
    user = _user()
    d = Path(tempfile.mkdtemp(prefix="podpy-store-it-"))
    if os.geteuid() == 0:
        os.chown(d, user.pw_uid, user.pw_gid)
    yield d
    if os.geteuid() == 0:
        shutil.rmtree(d, ignore_errors=True)
    else:  # files owned by subordinate IDs can only be removed inside the namespace
        subprocess.run(["unshare", "--map-root-user", "--map-auto", "rm", "-rf", str(d)], check=False)
        shutil.rmtree(d, ignore_errors=True)


def test_layers_in_userns_are_overlay_lowerdirs_with_subuid_owners(workdir: Path) -> None:
    user = _user()
    assert user.pw_uid != 0
    r = _run(
        ["unshare", "--map-root-user", "--map-auto", "-m", _python(), str(SCRIPT), str(workdir), "overlay"]
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    # What the container sees through the overlay mount
    assert out["passwd_hidden"], "whiteout did not hide the lower file"
    assert out["cache"] == ["c"], "opaque dir did not hide the lower children"
    assert out["keep"] == "keep"
    assert out["file_owner"] == [1000, 1000] and out["file_mode"] == 0o600
    assert out["hard_same_inode"] and out["su_mode"] == 0o4755
    assert out["abs"] == "/usr/bin/su" and out["rel"] == "su"
    assert out["xattr"] == "v1"
    assert not out["devnull_exists"], "device nodes are skipped rootless"
    assert out["high_owner"] == 65000
    assert out["delete_makes_whiteout"]
    # What the host sees: owners on the subuid/subgid range, ns root = the user itself
    uid0 = _subid_start("/etc/subuid", user)
    gid0 = _subid_start("/etc/subgid", user)
    low = Path(out["lower"])
    st = os.lstat(low / "home/user/file")
    assert (st.st_uid, st.st_gid) == (uid0 + 999, gid0 + 999)
    assert os.lstat(low / "high").st_uid == uid0 + 64999
    assert os.lstat(low / "etc/passwd").st_uid == user.pw_uid
    assert os.lstat(Path(out["upper"]) / "etc/passwd").st_rdev == 0


def test_unmapped_owner_without_subuid_ranges_is_a_clear_error(workdir: Path) -> None:
    r = _run(["unshare", "--map-root-user", "-m", _python(), str(SCRIPT), str(workdir), "unmapped"])
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["error"] and "not mapped in podpy's user namespace" in out["error"]
    assert "/etc/subuid" in out["error"] and "\n" not in out["error"]
    assert out["left"] == []


def _testenv() -> dict:
    path = Path(os.environ.get("PODPY_TESTENV", "/opt/podpy-test/env.json"))
    if not path.is_file():
        if os.environ.get("PODPY_REQUIRE_TESTENV") == "1":
            pytest.fail(f"test environment {path} missing: run tests/env/setup.sh as root")
        pytest.skip(f"test environment {path} missing (tests/env/setup.sh)")
    return json.loads(path.read_text())


def test_test_images_unpack_exactly_as_described(workdir: Path) -> None:
    """Images built and pushed by skopeo/podman (v2s2 + OCI; gzip, zstd, plain; whiteouts, opaque dirs,
    hard links, symlinks, setuid, xattrs, fifos, devices) unpack to the rootfs env.json describes."""
    env = _testenv()
    user = _user()
    r = _run(
        ["unshare", "--map-root-user", "--map-auto", "-m", _python(), str(SCRIPT), str(workdir), "testimages"]
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    expected = {k for k, v in env["images"].items() if v.get("files") and v.get("layers")}
    assert set(out) == expected and {"layered-v2s2", "layered-oci", "special"} <= expected
    for key, res in out.items():
        assert res["bad"] == [], f"{key}: {res['bad']}"
        assert res["id"] == res["want_id"], f"{key}: image ID differs from podman's"
    # owners on the host: ns uid N>0 lands on subuid_start + N - 1
    uid0 = _subid_start("/etc/subuid", user)
    checked = 0
    for res in out.values():
        for path, (uid, _) in res["owners"].items():
            for d in reversed(res["layer_dirs"]):
                p = Path(d) / path
                if os.path.lexists(p):
                    assert os.lstat(p).st_uid == uid0 + uid - 1, path
                    checked += 1
                    break
    assert checked > 0


def test_hostile_test_images_are_refused_and_leave_nothing(workdir: Path) -> None:
    env = _testenv()
    r = _run(["unshare", "--map-root-user", "--map-auto", "-m", _python(), str(SCRIPT), str(workdir), "evil"])
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    want = {
        "dotdot": "contains '..'",
        "dotdot-nested": "contains '..'",
        "absolute": "is an absolute path",
        "symlink-lower": "a symlink planted by the lower layer",
        "symlink-same": "through the symlink 'data/link'",
        "hardlink-outside": "contains '..'",
        "hardlink-absolute": "is an absolute path",
        "truncated-gzip": "truncated gzip stream",
        "garbage-gzip": "not gzip data",
        "garbage-zstd": "not zstd data",
        "unknown-mediatype": "unknown layer media type 'application/vnd.podpy.test.unknown'",
        "bomb": "decompression bomb",
    }
    assert set(want) <= set(env["evil_images"])
    for key, needle in want.items():
        res = out[key]
        assert res["error"] and needle in res["error"], f"{key}: {res['error']}"
        assert "\n" not in res["error"] and res["error"].startswith("layer sha256:")
        assert res["images"] == 0 and res["left"] == [] and res["escaped"] == [], f"{key}: {res}"
