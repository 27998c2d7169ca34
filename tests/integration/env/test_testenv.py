"""The test environment is what env.json says: unprivileged user, registries, auth, images."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import pwd
import subprocess
import tempfile
import urllib.error
import urllib.request
from typing import Any

import pytest


def http(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_runs_unprivileged_as_the_test_user(testenv: dict[str, Any]) -> None:
    assert os.geteuid() != 0
    assert pwd.getpwuid(os.geteuid()).pw_name == testenv["user"]["name"]
    rundir = os.environ.get("XDG_RUNTIME_DIR", "")
    st = os.stat(rundir)
    assert (st.st_uid, st.st_mode & 0o777) == (os.geteuid(), 0o700)


def test_subordinate_id_ranges(testenv: dict[str, Any]) -> None:
    user = testenv["user"]
    for key, path in (("subuid", "/etc/subuid"), ("subgid", "/etc/subgid")):
        line = f"{user['name']}:{user[key]['start']}:{user[key]['count']}"
        with open(path) as f:
            assert line in f.read().splitlines()
        assert user[key]["count"] >= 65536


def test_user_namespace_maps_the_subuid_range(testenv: dict[str, Any]) -> None:
    # podman (a reference tool) builds the namespace with newuidmap; the range must be the one env.json lists.
    out = subprocess.run(
        ["podman", "unshare", "cat", "/proc/self/uid_map"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert [int(x) for x in out[3:6]] == [
        1,
        testenv["user"]["subuid"]["start"],
        testenv["user"]["subuid"]["count"],
    ]


def test_tun_device_is_usable() -> None:
    fd = os.open("/dev/net/tun", os.O_RDWR)
    os.close(fd)


@pytest.mark.parametrize(
    ("name", "status", "scheme"), [("open", 200, None), ("basic", 401, "Basic"), ("token", 401, "Bearer")]
)
def test_registry_ping(testenv: dict[str, Any], name: str, status: int, scheme: str | None) -> None:
    code, headers, _ = http(testenv["registries"][name]["url"] + "/v2/")
    assert code == status
    assert headers.get("Docker-Distribution-Api-Version") == "registry/2.0"
    if scheme:
        assert headers["Www-Authenticate"].startswith(scheme + " ")


def test_basic_registry_accepts_the_test_credentials(testenv: dict[str, Any]) -> None:
    reg = testenv["registries"]["basic"]
    assert http(reg["url"] + "/v2/", {"Authorization": basic(reg["username"], reg["password"])})[0] == 200
    assert http(reg["url"] + "/v2/", {"Authorization": basic(reg["username"], "wrong")})[0] == 401


def token(testenv: dict[str, Any], scope: str, creds: bool) -> tuple[int, dict[str, Any]]:
    reg = testenv["registries"]["token"]
    url = f"{reg['realm']}?service={reg['service']}&scope={scope}"
    headers = {"Authorization": basic(reg["username"], reg["password"])} if creds else {}
    code, _, body = http(url, headers)
    return code, json.loads(body)


def test_token_flow_is_enforced_by_the_registry(testenv: dict[str, Any]) -> None:
    reg = testenv["registries"]["token"]
    private = testenv["images"]["busybox-token-private"]
    public = testenv["images"]["busybox-token-public"]
    accept = {"Accept": private["manifest_media_type"]}

    def manifest(img: dict[str, Any], tok: str | None) -> int:
        headers = dict(accept, **({"Authorization": f"Bearer {tok}"} if tok else {}))
        return http(f"{reg['url']}/v2/{img['repository']}/manifests/{img['tag']}", headers)[0]

    code, body = token(testenv, f"repository:{private['repository']}:pull", creds=True)
    assert code == 200 and body["token"] == body["access_token"] and body["expires_in"] > 0
    assert manifest(private, body["token"]) == 200
    assert manifest(private, None) == 401
    _, anon = token(testenv, f"repository:{private['repository']}:pull", creds=False)
    assert manifest(private, anon["token"]) == 401
    _, anon = token(testenv, f"repository:{public['repository']}:pull", creds=False)
    assert manifest(public, anon["token"]) == 200
    assert manifest(public, "not-a-jwt") == 401


def test_token_issuer_rejects_wrong_password_and_counts(testenv: dict[str, Any], token_issuer: Any) -> None:
    reg = testenv["registries"]["token"]
    scope = "repository:private/count-check:pull"
    before = token_issuer.stats()["by_scope"].get(scope, 0)
    code, _, _ = http(
        f"{reg['realm']}?service={reg['service']}&scope={scope}",
        {"Authorization": basic(reg["username"], "wrong")},
    )
    assert code == 401
    token(testenv, scope, creds=True)
    assert token_issuer.stats()["by_scope"][scope] == before + 2


def skopeo_inspect(testenv: dict[str, Any], img: dict[str, Any], raw: bool) -> bytes:
    reg = testenv["registries"][img["registry"]]
    cmd = ["skopeo", "inspect", "--tls-verify=false"] + (["--raw"] if raw else [])
    if reg["auth"]:
        cmd += ["--creds", f"{reg['username']}:{reg['password']}"]
    return subprocess.run([*cmd, "docker://" + img["ref"]], capture_output=True, check=True).stdout


def test_images_are_served_with_the_listed_digests(testenv: dict[str, Any]) -> None:
    for name, img in testenv["images"].items():
        raw = skopeo_inspect(testenv, img, raw=True)
        assert "sha256:" + hashlib.sha256(raw).hexdigest() == img["manifest_digest"], name
        manifest = json.loads(raw)
        assert manifest["mediaType"] == img["manifest_media_type"], name
        if "platforms" in img:
            assert [m["digest"] for m in manifest["manifests"]] == [
                p["manifest_digest"] for p in img["platforms"]
            ]
        else:
            assert manifest["config"]["digest"] == img["config_digest"], name
            assert [lay["digest"] for lay in manifest["layers"]] == [
                lay["digest"] for lay in img["layers"]
            ], name


def test_evil_images_describe_their_attack(testenv: dict[str, Any]) -> None:
    evil = testenv["evil_images"]
    assert {
        "dotdot",
        "absolute",
        "symlink-lower",
        "symlink-same",
        "hardlink-outside",
        "truncated-gzip",
        "garbage-zstd",
        "unknown-mediatype",
        "size-too-small",
        "oversize-config",
        "bomb",
    } <= set(evil)
    for name, img in evil.items():
        assert img["attack"] and img["expect"], name
    small = evil["size-too-small"]["layers"][0]
    assert small["size"] == small["actual_size"] - 10
    assert evil["oversize-config"]["config_size"] > 4 << 20
    assert evil["bomb"]["unpacked_size"] >= 500 * evil["bomb"]["layers"][0]["size"]
    for name, img in evil.items():
        code, headers, _ = http(
            f"{testenv['registries']['open']['url']}/v2/{img['repository']}/manifests/{img['tag']}",
            {"Accept": img["manifest_media_type"]},
        )
        assert (code, headers.get("Docker-Content-Digest")) == (200, img["manifest_digest"]), name


def test_image_catalogue_covers_what_the_issue_asks(testenv: dict[str, Any]) -> None:
    imgs = testenv["images"]
    types = {img["manifest_media_type"] for img in imgs.values()}
    assert {
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    } <= types
    comps = {lay["compression"] for img in imgs.values() for lay in img.get("layers", [])}
    assert comps == {"gzip", "zstd", "none"}
    files = imgs["layered-oci"]["files"]
    assert files["data/setuid-bin"]["mode"] == 0o4755
    assert files["data/xattr-file"]["xattrs"] == {"user.podpy": "test"}
    assert files["data/hardlink.txt"]["hardlink_of"] == "data/hardlink-src.txt"
    assert files["data/abs-link"]["target"] == "/data/hello.txt"
    assert (files["data/owned-1000.txt"]["uid"], files["data/owned-nobody.txt"]["uid"]) == (1000, 65534)
    assert {"data/to-delete.txt", "data/deleted-dir", "opq/a.txt"} <= set(imgs["layered-oci"]["absent"])
    cfg = imgs["layered-oci"]["config"]
    assert {"Env", "Cmd", "Entrypoint", "WorkingDir", "User", "Labels", "ExposedPorts", "Volumes"} <= set(cfg)
    plats = [p["platform"] for p in imgs["multiarch-oci"]["platforms"]]
    assert plats == [
        {"architecture": "amd64", "os": "linux"},
        {"architecture": "arm64", "os": "linux", "variant": "v8"},
    ]


def run(cmd: list[str]) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, f"{cmd} exited {proc.returncode}: {proc.stderr}"
    return proc.stdout


# Run inside `podman unshare` on podman's mounted image: what is really on disk, path by path.
PROBE = """
import hashlib, json, os, stat, sys
root, out = sys.argv[1], {}
for p in json.loads(sys.argv[2]):
    q = os.path.join(root, p)
    st = os.lstat(q)
    kind = "symlink" if stat.S_ISLNK(st.st_mode) else "dir" if stat.S_ISDIR(st.st_mode) else "file"
    f = {"type": kind, "mode": st.st_mode & 0o7777, "uid": st.st_uid, "gid": st.st_gid, "ino": st.st_ino,
         "nlink": st.st_nlink, "xattrs": {}}
    if kind == "symlink":
        f["target"] = os.readlink(q)
    else:
        f["xattrs"] = {k: os.getxattr(q, k).decode() for k in os.listxattr(q) if k.startswith("user.")}
    if kind == "file":
        f.update(size=st.st_size, mtime=int(st.st_mtime), sha256=hashlib.sha256(open(q, "rb").read()).hexdigest())
    out[p] = f
out["absent"] = [p for p in json.loads(sys.argv[3]) if os.path.lexists(os.path.join(root, p))]
print(json.dumps(out))
"""


def test_podman_unpacks_the_layered_image_as_env_json_says(testenv: dict[str, Any], tmp_path: Any) -> None:
    """A reference tool agrees with the expected file facts (so the facts themselves are right)."""
    img = testenv["images"]["layered-oci"]
    runroot = tempfile.mkdtemp(prefix="podman-rr-")  # podman refuses a runroot longer than 50 characters
    store = ["--root", str(tmp_path / "root"), "--runroot", runroot, "--storage-driver", "vfs"]
    try:
        run(["podman", *store, "pull", "-q", "--tls-verify=false", img["ref"]])
        files = img["files"]
        mnt = run(
            [
                "podman",
                *store,
                "unshare",
                "sh",
                "-c",
                f"m=$(podman {' '.join(store)} image mount {img['ref']}) && "
                f'python3 -c "$0" "$m" "$1" "$2"; podman {" ".join(store)} image unmount -a >/dev/null',
                PROBE,
                json.dumps(sorted(files)),
                json.dumps(img["absent"]),
            ]
        )
        seen = json.loads(mnt)
        assert seen.pop("absent") == []
        for p, exp in files.items():
            got = seen[p]
            assert got["type"] == exp["type"], p
            for key in ("mode", "uid", "gid", "size", "sha256", "mtime", "target", "nlink"):
                if key in exp:
                    assert got[key] == exp[key], (p, key)
            assert got["xattrs"] == exp.get("xattrs", {}), p
            if "hardlink_of" in exp:
                assert got["ino"] == seen[exp["hardlink_of"]]["ino"], p
    finally:
        subprocess.run(["podman", *store, "image", "unmount", "-a"], capture_output=True, check=False)
        subprocess.run(
            ["podman", *store, "unshare", "rm", "-rf", str(tmp_path / "root"), runroot],
            capture_output=True,
            check=False,
        )


def test_archives_hold_the_listed_images(testenv: dict[str, Any]) -> None:
    for name, arc in testenv["archives"].items():
        info = json.loads(run(["skopeo", "inspect", "--raw", "--config", f"{arc['format']}:{arc['path']}"]))
        assert info["rootfs"]["diff_ids"] == [
            lay["diff_id"] for lay in testenv["images"][arc["image"]]["layers"]
        ], name
        if "manifest_digest" in arc:
            raw = subprocess.run(
                ["skopeo", "inspect", "--raw", f"{arc['format']}:{arc['path']}"],
                capture_output=True,
                check=True,
            ).stdout
            assert "sha256:" + hashlib.sha256(raw).hexdigest() == arc["manifest_digest"], name
