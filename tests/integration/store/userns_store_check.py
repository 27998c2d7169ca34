"""Run inside a user + mount namespace (``unshare --map-root-user --map-auto -m``) by the store's
integration tests: unpack layers with podpy's Store, mount them with kernel overlay (``userxattr``)
and print what a container would see, as JSON. Not a test module itself.

Usage: python userns_store_check.py STORE_DIR overlay|unmapped
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from podpy.store import Store  # noqa: E402
from podpy.util.errors import PodpyError  # noqa: E402
from tests.unit.store.layerkit import entry, layer, unpack  # noqa: E402


def overlay(root: Path) -> dict:
    store = Store(root / "storage")
    lower = layer(
        entry("etc", "dir"),
        entry("etc/passwd", data=b"root:x:0:0::/root:/bin/sh\n"),
        entry("etc/keep", data=b"keep"),
        entry("var/cache/a", data=b"a"),
        entry("var/cache/b", data=b"b"),
        entry("home/user", "dir", mode=0o755, uid=1000, gid=1000),
        entry("home/user/file", data=b"mine", uid=1000, gid=1000, mode=0o600),
        entry("home/user/hard", "hardlink", link="home/user/file"),
        entry("usr/bin/su", data=b"#!su", mode=0o4755),
        entry("usr/bin/abs", "symlink", link="/usr/bin/su"),
        entry("usr/bin/rel", "symlink", link="su"),
        entry("attr", data=b"x", xattrs={"user.podpy.test": b"v1"}),
        entry("dev/null", "chr", mode=0o666, major=1, minor=3),
        entry("high", data=b"h", uid=65000, gid=65000),
        kind="gzip",
    )
    upper = layer(
        entry("etc/.wh.passwd"),
        entry("var/cache", "dir"),
        entry("var/cache/.wh..wh..opq"),
        entry("var/cache/c", data=b"c"),
        kind="zstd",
    )
    low = unpack(store, lower).path
    up = unpack(store, upper).path
    mnt, work, updir = root / "mnt", root / "work", root / "upper"
    for d in (mnt, work, updir):
        d.mkdir()
    opts = f"lowerdir={up}:{low},upperdir={updir},workdir={work},userxattr"
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", opts, str(mnt)], check=True)
    try:
        st_file = os.lstat(mnt / "home/user/file")
        st_su = os.lstat(mnt / "usr/bin/su")
        out = {
            "passwd_hidden": not os.path.lexists(mnt / "etc/passwd"),
            "keep": (mnt / "etc/keep").read_text(),
            "cache": sorted(os.listdir(mnt / "var/cache")),
            "file_owner": [st_file.st_uid, st_file.st_gid],
            "file_mode": stat.S_IMODE(st_file.st_mode),
            "hard_same_inode": os.lstat(mnt / "home/user/hard").st_ino == st_file.st_ino,
            "su_mode": stat.S_IMODE(st_su.st_mode),
            "abs": os.readlink(mnt / "usr/bin/abs"),
            "rel": os.readlink(mnt / "usr/bin/rel"),
            "xattr": os.getxattr(mnt / "attr", "user.podpy.test").decode(),
            "devnull_exists": os.path.lexists(mnt / "dev/null"),
            "high_owner": os.lstat(mnt / "high").st_uid,
        }
        # deleting a lower file through the mount leaves a 0/0 whiteout in the upper dir
        os.unlink(mnt / "etc/keep")
        st = os.lstat(updir / "etc/keep")
        out["delete_makes_whiteout"] = stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    finally:
        subprocess.run(["umount", str(mnt)], check=True)
    out["lower"] = str(low)
    out["upper"] = str(up)
    return out


def unmapped(root: Path) -> dict:
    store = Store(root / "storage")
    lay = layer(entry("home/user/file", data=b"x", uid=1000, gid=1000))
    try:
        unpack(store, lay)
    except PodpyError as e:
        return {"error": str(e), "left": sorted(os.listdir(root / "storage" / "overlay"))}
    return {"error": None}


def _env() -> dict:
    return json.loads(Path(os.environ.get("PODPY_TESTENV", "/opt/podpy-test/env.json")).read_text())


def _blob(env: dict, digest: str) -> Path | None:
    hx = digest.split(":", 1)[1]
    for p in (Path(env["root"]) / "images" / "blobs" / hx, Path(env["oci_layout"]) / "blobs" / "sha256" / hx):
        if p.is_file():
            return p
    return None


def _commit(store: Store, src: Path, digest: str) -> Path:
    tmp = store.new_temp()
    tmp.write_bytes(src.read_bytes())
    return store.commit_blob(tmp, digest)


def _compare(mnt: Path, files: dict, absent: list[str]) -> list[str]:
    """Differences between the mounted rootfs and the test environment's description of it."""
    import hashlib

    bad: list[str] = []
    kinds = {"file": stat.S_ISREG, "dir": stat.S_ISDIR, "symlink": stat.S_ISLNK, "fifo": stat.S_ISFIFO}
    for path, want in files.items():
        p = mnt / path
        if want["type"] == "chardev":  # device nodes cannot be created rootless: skipped
            if os.path.lexists(p):
                bad.append(f"{path}: device node should have been skipped")
            continue
        try:
            st = os.lstat(p)
        except FileNotFoundError:
            bad.append(f"{path}: missing")
            continue
        if not kinds[want["type"]](st.st_mode):
            bad.append(f"{path}: not a {want['type']}")
            continue
        if "mode" in want and want["type"] != "symlink" and stat.S_IMODE(st.st_mode) != want["mode"]:
            bad.append(f"{path}: mode {oct(stat.S_IMODE(st.st_mode))} != {oct(want['mode'])}")
        if (st.st_uid, st.st_gid) != (want.get("uid", 0), want.get("gid", 0)):
            bad.append(f"{path}: owner {st.st_uid}:{st.st_gid} != {want.get('uid')}:{want.get('gid')}")
        if "size" in want and st.st_size != want["size"]:
            bad.append(f"{path}: size {st.st_size} != {want['size']}")
        if "sha256" in want and hashlib.sha256(p.read_bytes()).hexdigest() != want["sha256"]:
            bad.append(f"{path}: content differs")
        if "mtime" in want and int(st.st_mtime) != int(want["mtime"]):
            bad.append(f"{path}: mtime {st.st_mtime} != {want['mtime']}")
        if "target" in want and os.readlink(p) != want["target"]:
            bad.append(f"{path}: target {os.readlink(p)!r} != {want['target']!r}")
        if "hardlink_of" in want and os.lstat(mnt / want["hardlink_of"]).st_ino != st.st_ino:
            bad.append(f"{path}: not a hard link of {want['hardlink_of']}")
        if "nlink" in want and st.st_nlink != want["nlink"]:
            bad.append(f"{path}: nlink {st.st_nlink} != {want['nlink']}")
        for name, value in (want.get("xattrs") or {}).items():
            try:
                got = os.getxattr(p, name, follow_symlinks=False).decode("utf-8", "replace")
            except OSError as e:
                got = f"<{e.strerror}>"
            if got != value:
                bad.append(f"{path}: xattr {name}={got!r} != {value!r}")
    for path in absent:
        if os.path.lexists(mnt / path):
            bad.append(f"{path}: should be absent (whiteout/opaque)")
    return bad


def testimages(root: Path) -> dict:
    """Unpack every test image built by skopeo/podman, mount it and compare with env.json."""
    env = _env()
    store = Store(root / "storage")
    out: dict = {}
    for key, img in env["images"].items():
        if "files" not in img or not img.get("layers"):
            continue
        recs = []
        from podpy.store import LayerRecord

        for lay in img["layers"]:
            src = _blob(env, lay["digest"])
            assert src is not None, f"{key}: blob {lay['digest']} not found locally"
            path = _commit(store, src, lay["digest"])
            store.unpack_layer(path, lay["media_type"], lay["diff_id"])
            recs.append(LayerRecord(lay["digest"], lay["diff_id"], lay["media_type"], lay["size"]))
        for d in (img["config_digest"], img["manifest_digest"]):
            if not store.has_blob(d):
                _commit(store, _blob(env, d), d)  # type: ignore[arg-type]
        rec = store.add_image(
            config_digest=img["config_digest"],
            manifest_digest=img["manifest_digest"],
            manifest_media_type=img["manifest_media_type"],
            layers=recs,
            names=[img["ref"]],
        )
        mnt, work, updir = root / f"mnt-{key}", root / f"work-{key}", root / f"upper-{key}"
        for d in (mnt, work, updir):
            d.mkdir()
        lowers = ":".join(str(p) for p in reversed(store.layer_dirs(rec)))
        opts = f"lowerdir={lowers},upperdir={updir},workdir={work},userxattr"
        subprocess.run(["mount", "-t", "overlay", "overlay", "-o", opts, str(mnt)], check=True)
        try:
            out[key] = {
                "id": rec.id,
                "want_id": img.get("image_id"),
                "bad": _compare(mnt, img["files"], img.get("absent", [])),
            }
        finally:
            subprocess.run(["umount", str(mnt)], check=True)
        owners = {}
        for path, want in img["files"].items():
            if want.get("uid") and want["type"] != "chardev":
                owners[path] = [want["uid"], str(store.layer_dirs(rec)[-1])]
        out[key]["owners"] = owners
        out[key]["layer_dirs"] = [str(p) for p in store.layer_dirs(rec)]
    return out


def _diff_id(blob: bytes) -> str:
    import gzip
    import hashlib
    import zlib

    try:
        raw = gzip.decompress(blob)
    except (OSError, EOFError, zlib.error):
        try:
            import zstandard

            raw = zstandard.ZstdDecompressor().decompressobj().decompress(blob)
        except Exception:
            raw = blob
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def evil(root: Path) -> dict:
    """Try to store each hostile test image's layers; report the error and what is left."""
    from podpy.store import LayerRecord

    env = _env()
    known = json.loads((Path(env["root"]) / "images" / "diff-ids.json").read_text())
    out: dict = {}
    for key, img in env["evil_images"].items():
        if key in ("size-too-small", "size-too-big", "oversize-config"):
            continue  # descriptor/config checks belong to the pull, not to the store
        store = Store(root / f"storage-{key}")
        err = None
        try:
            recs = []
            for lay in img["layers"]:
                src = _blob(env, lay["digest"])
                assert src is not None, f"{key}: blob {lay['digest']} not found locally"
                path = _commit(store, src, lay["digest"])
                hit = [v for k, v in known.items() if k.endswith(lay["digest"].split(":")[1])]
                diff = hit[0] if hit else _diff_id(src.read_bytes())
                store.unpack_layer(path, lay["media_type"], diff, max_size=64 * 1024 * 1024)
                recs.append(LayerRecord(lay["digest"], diff, lay["media_type"], lay["size"]))
            cfg = store.put_blob_bytes(b"{}")
            store.add_image(
                config_digest=cfg, manifest_digest=cfg, manifest_media_type="x", layers=recs, names=["x"]
            )
        except PodpyError as e:
            err = str(e)
        store.gc()
        overlay = root / f"storage-{key}" / "overlay"
        out[key] = {
            "error": err,
            "images": len(store.list_images()),
            "left": sorted(os.listdir(overlay)) if overlay.exists() else [],
            "escaped": [
                p
                for p in ("/tmp/pwned.txt", "/abs-escape.txt", str(root / "escape.txt"))
                if os.path.lexists(p)
            ],
        }
    return out


if __name__ == "__main__":
    what = {"overlay": overlay, "unmapped": unmapped, "testimages": testimages, "evil": evil}[sys.argv[2]]
    print(json.dumps(what(Path(sys.argv[1]))))
