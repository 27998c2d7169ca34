"""Build podpy's test images offline from busybox-static, push them with skopeo, write env.json.

Why it is written this way:
* Layers are written here with ``tarfile`` so every corner a puller must handle is there on purpose
  (whiteouts, an opaque directory, hard links, absolute/relative symlinks, setuid, xattrs, non-root
  owners), and the expected facts of every file land in env.json for the tests to assert against.
* Fixed mtimes, owners and compression settings make the bytes, hence the digests, the same on every
  rebuild, so a second run only checks that the registries still hold them.
* skopeo (a tool no one here wrote) pushes with ``--preserve-digests``: the blobs and manifests the
  registry serves are exactly the ones described here. OCI images and indexes go through an ``oci:``
  layout; Docker schema 2 manifests and manifest lists through a ``dir:`` directory, the one skopeo
  source that keeps Docker media types byte for byte.

Usage (root, from tests/env/setup.sh): build_images.py --out /opt/podpy-test [--force]
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MTIME = 1700000000  # 2023-11-14T22:13:20Z: every entry and every "created" uses it
CREATED = "2023-11-14T22:13:20Z"
OLD_MTIME = 1234567890  # one file keeps an older mtime so mtime preservation is testable
BUSYBOX = "/bin/busybox"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
LAYER_TYPES = {
    ("oci", "gzip"): "application/vnd.oci.image.layer.v1.tar+gzip",
    ("oci", "zstd"): "application/vnd.oci.image.layer.v1.tar+zstd",
    ("oci", "none"): "application/vnd.oci.image.layer.v1.tar",
    ("v2s2", "gzip"): "application/vnd.docker.image.rootfs.diff.tar.gzip",
    ("v2s2", "none"): "application/vnd.docker.image.rootfs.diff.tar",
}

REGISTRIES = {
    "open": {"host": "127.0.0.1:5000", "auth": None},
    "basic": {"host": "127.0.0.1:5001", "auth": "basic"},
    "token": {"host": "127.0.0.1:5002", "auth": "bearer"},
}
USERNAME, PASSWORD = "testuser", "testpass"
TOKEN_REALM = "http://127.0.0.1:5003/token"
TOKEN_SERVICE = "podpy-test-registry"
TOKEN_ISSUER = "podpy-test-issuer"


# --- layers ------------------------------------------------------------------------------------------


@dataclass
class Entry:
    """One tar member: what is written, and what a correct unpacker must produce."""

    path: str
    kind: str  # file, dir, symlink, hardlink, whiteout, opaque, fifo, chardev
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    data: bytes = b""
    target: str = ""  # symlink target, or the hard link's original (a path in the layer)
    xattrs: dict[str, str] = field(default_factory=dict)
    mtime: int = MTIME
    dev: tuple[int, int] = (0, 0)  # chardev major, minor


def f(path: str, data: bytes | str, mode: int = 0o644, uid: int = 0, gid: int = 0, **kw: Any) -> Entry:
    return Entry(path, "file", mode, uid, gid, data.encode() if isinstance(data, str) else data, **kw)


def d(path: str, mode: int = 0o755, uid: int = 0, gid: int = 0) -> Entry:
    return Entry(path, "dir", mode, uid, gid)


def sym(path: str, target: str) -> Entry:
    return Entry(path, "symlink", 0o777, target=target)


def hard(path: str, original: str) -> Entry:
    return Entry(path, "hardlink", target=original)


def tar_layer(entries: list[Entry]) -> bytes:
    """An uncompressed PAX tar of the entries, byte-for-byte reproducible."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for e in entries:
            ti = tarfile.TarInfo(e.path + ("/" if e.kind in ("dir",) else ""))
            ti.mtime, ti.uid, ti.gid, ti.uname, ti.gname = e.mtime, e.uid, e.gid, "", ""
            ti.mode = e.mode
            if e.kind == "dir":
                ti.type = tarfile.DIRTYPE
            elif e.kind == "symlink":
                ti.type, ti.linkname = tarfile.SYMTYPE, e.target
            elif e.kind == "hardlink":
                ti.type, ti.linkname = tarfile.LNKTYPE, e.target
            elif e.kind in ("whiteout", "opaque"):
                ti.type, ti.mode = tarfile.REGTYPE, 0o600
            elif e.kind == "fifo":
                ti.type = tarfile.FIFOTYPE
            elif e.kind == "chardev":
                ti.type, (ti.devmajor, ti.devminor) = tarfile.CHRTYPE, e.dev
            else:
                ti.size = len(e.data)
            if e.xattrs:
                ti.pax_headers = {f"SCHILY.xattr.{k}": v for k, v in e.xattrs.items()}
            tar.addfile(ti, io.BytesIO(e.data) if e.kind == "file" else None)
    return buf.getvalue()


def compress(raw: bytes, how: str) -> bytes:
    if how == "gzip":
        return gzip.compress(raw, compresslevel=6, mtime=0)
    if how == "zstd":
        import zstandard

        return zstandard.ZstdCompressor(level=3).compress(raw)
    return raw


def busybox_entries(marker: str | None = None) -> list[Entry]:
    """A minimal runnable rootfs: busybox, its applets as relative symlinks, passwd/group."""
    applets = subprocess.run([BUSYBOX, "--list"], check=True, capture_output=True, text=True).stdout.split()
    es = [d("bin"), d("dev"), d("etc"), d("home"), d("proc", 0o555), d("root", 0o700), d("sys", 0o555)]
    es += [d("tmp", 0o1777), d("usr"), d("usr/bin"), d("var"), d("var/tmp", 0o1777)]
    es.append(f("bin/busybox", Path(BUSYBOX).read_bytes(), 0o755))
    es += [sym(f"bin/{a}", "busybox") for a in sorted(set(applets)) if a != "busybox"]
    es.append(
        f(
            "etc/passwd",
            "root:x:0:0:root:/root:/bin/sh\ntester:x:1000:1000:tester:/home/tester:/bin/sh\n"
            "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        )
    )
    es.append(f("etc/group", "root:x:0:\ntester:x:1000:\nnogroup:x:65534:\n"))
    es.append(f("etc/os-release", 'NAME="podpy test busybox"\nID=podpy-busybox\n'))
    if marker:
        es.append(f("etc/podpy-platform", marker + "\n"))
    return es


def layered_entries() -> tuple[list[Entry], list[Entry]]:
    """Layer 2 (content) and layer 3 (changes on top of it) of the "layered" image."""
    l2 = [
        d("data"),
        f("data/hello.txt", "hello from podpy\n"),
        f("data/replaced.txt", "version 1\n"),
        f("data/hardlink-src.txt", "linked content\n"),
        hard("data/hardlink.txt", "data/hardlink-src.txt"),
        d("data/sub"),
        hard("data/sub/hardlink2.txt", "data/hardlink-src.txt"),
        sym("data/abs-link", "/data/hello.txt"),
        sym("data/rel-link", "hello.txt"),
        sym("data/rel-up-link", "../etc/passwd"),
        sym("data/dangling-link", "/nonexistent/target"),
        sym("data/dir-link", "sub"),
        f("data/setuid-bin", "#!/bin/sh\necho setuid\n", 0o4755),
        f("data/setgid-bin", "#!/bin/sh\necho setgid\n", 0o2755),
        d("data/sticky", 0o1777),
        f("data/xattr-file", "has an xattr\n", xattrs={"user.podpy": "test"}),
        f("data/owned-1000.txt", "owned by 1000\n", 0o640, 1000, 1000),
        f("data/owned-nobody.txt", "owned by 65534\n", 0o600, 65534, 65534),
        f("data/mode-0444.txt", "read only\n", 0o444),
        f("data/exec.sh", "#!/bin/sh\necho exec ok\n", 0o755),
        f("data/empty", ""),
        f("data/old-mtime.txt", "old\n", mtime=OLD_MTIME),
        f("data/to-delete.txt", "deleted in layer 3\n"),
        d("data/deleted-dir"),
        f("data/deleted-dir/inner.txt", "gone with its directory\n"),
        d("home/tester", 0o755, 1000, 1000),
        f("home/tester/.profile", "export PS1='$ '\n", 0o644, 1000, 1000),
        d("opq"),
        f("opq/a.txt", "a\n"),
        f("opq/b.txt", "b\n"),
        d("opq/sub"),
        f("opq/sub/c.txt", "c\n"),
    ]
    l3 = [
        d("data"),
        Entry("data/.wh.to-delete.txt", "whiteout"),
        Entry("data/.wh.deleted-dir", "whiteout"),
        f("data/replaced.txt", "version 2\n"),
        f("data/layer3.txt", "added in layer 3\n"),
        d("opq"),
        Entry("opq/.wh..wh..opq", "opaque"),
        f("opq/new.txt", "only this survives the opaque directory\n"),
    ]
    return l2, l3


def apply_layers(layers: list[list[Entry]]) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """What the merged rootfs must look like: {path: facts}, and the paths that must be absent."""
    tree: dict[str, dict[str, Any]] = {}
    deleted: set[str] = set()
    for entries in layers:
        for e in entries:
            parent, _, name = e.path.rpartition("/")
            if e.kind == "whiteout":
                gone = f"{parent}/{name[4:]}" if parent else name[4:]
                for p in [p for p in tree if p == gone or p.startswith(gone + "/")]:
                    del tree[p]
                deleted.add(gone)
                continue
            if e.kind == "opaque":
                for p in [p for p in tree if p.startswith(parent + "/")]:
                    del tree[p]
                    deleted.add(p)
                continue
            if e.kind == "hardlink":
                orig = tree[e.target]
                tree[e.path] = dict(orig, hardlink_of=e.target)
                continue
            facts: dict[str, Any] = {"type": e.kind, "mode": e.mode & 0o7777, "uid": e.uid, "gid": e.gid}
            if e.kind == "file":
                facts.update(size=len(e.data), sha256=hashlib.sha256(e.data).hexdigest(), mtime=e.mtime)
            elif e.kind == "symlink":
                facts.update(target=e.target)
                facts.pop("mode")
            elif e.kind == "chardev":
                facts.update(devmajor=e.dev[0], devminor=e.dev[1])
            if e.xattrs:
                facts["xattrs"] = dict(e.xattrs)
            tree[e.path] = facts
            deleted.discard(e.path)
    # Hard links: every member of a group has the group's link count (same inode after unpacking).
    groups: dict[str, list[str]] = {}
    for p, v in tree.items():
        if "hardlink_of" in v:
            groups.setdefault(v["hardlink_of"], [v["hardlink_of"]]).append(p)
    for members in groups.values():
        for p in members:
            if p in tree:
                tree[p]["nlink"] = sum(1 for m in members if m in tree)
    return tree, sorted(p for p in deleted if p not in tree)


# --- image assembly ----------------------------------------------------------------------------------


class Blobs:
    """A content-addressed blob directory shared by all layouts written in one run."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def put(self, data: bytes) -> str:
        hexd = hashlib.sha256(data).hexdigest()
        p = self.root / hexd
        if not p.exists():
            tmp = p.with_suffix(".tmp")
            tmp.write_bytes(data)
            os.replace(tmp, p)
        return "sha256:" + hexd

    def path(self, digest: str) -> Path:
        return self.root / digest.split(":", 1)[1]


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, indent=3, sort_keys=False).encode()


@dataclass
class Layer:
    raw: bytes
    compression: str

    def __post_init__(self) -> None:
        self.blob = compress(self.raw, self.compression)
        self.diff_id = "sha256:" + hashlib.sha256(self.raw).hexdigest()


@dataclass
class Built:
    """One single-platform image as written to the blob store."""

    manifest: bytes
    manifest_digest: str
    media_type: str
    config: dict[str, Any]
    config_digest: str
    layers: list[dict[str, Any]]


def make_image(blobs: Blobs, fmt: str, layers: list[Layer], config: dict[str, Any]) -> Built:
    config = dict(config, rootfs={"type": "layers", "diff_ids": [lay.diff_id for lay in layers]})
    cbytes = canonical(config)
    cdig = blobs.put(cbytes)
    descs = []
    for lay in layers:
        descs.append(
            {
                "mediaType": LAYER_TYPES[(fmt, lay.compression)],
                "size": len(lay.blob),
                "digest": blobs.put(lay.blob),
            }
        )
    mtype = OCI_MANIFEST if fmt == "oci" else DOCKER_MANIFEST
    manifest = {
        "schemaVersion": 2,
        "mediaType": mtype,
        "config": {
            "mediaType": OCI_CONFIG if fmt == "oci" else DOCKER_CONFIG,
            "size": len(cbytes),
            "digest": cdig,
        },
        "layers": descs,
    }
    mbytes = canonical(manifest)
    layer_facts = [
        dict(
            digest=desc["digest"],
            size=desc["size"],
            media_type=desc["mediaType"],
            compression=lay.compression,
            diff_id=lay.diff_id,
            uncompressed_size=len(lay.raw),
        )
        for desc, lay in zip(descs, layers, strict=True)
    ]
    return Built(mbytes, blobs.put(mbytes), mtype, config, cdig, layer_facts)


def make_index(blobs: Blobs, fmt: str, items: list[tuple[Built, dict[str, str]]]) -> tuple[bytes, str, str]:
    mtype = OCI_INDEX if fmt == "oci" else DOCKER_LIST
    index: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": mtype,
        "manifests": [
            {
                "mediaType": b.media_type,
                "size": len(b.manifest),
                "digest": b.manifest_digest,
                "platform": plat,
            }
            for b, plat in items
        ],
    }
    if fmt == "oci":
        index["annotations"] = {"org.opencontainers.image.title": "podpy multi-platform test image"}
    ibytes = canonical(index)
    return ibytes, blobs.put(ibytes), mtype


def base_config(arch: str = "amd64", variant: str | None = None, **cfg: Any) -> dict[str, Any]:
    c: dict[str, Any] = {"created": CREATED, "author": "podpy test suite", "architecture": arch}
    if variant:
        c["variant"] = variant
    c["os"] = "linux"
    c["config"] = {"Env": [PATH_ENV], "Cmd": ["sh"], **cfg}
    return c


def history(*steps: tuple[str, bool]) -> list[dict[str, Any]]:
    out = []
    for created_by, empty in steps:
        h: dict[str, Any] = {"created": CREATED, "created_by": created_by}
        if empty:
            h["empty_layer"] = True
        out.append(h)
    return out


# --- writing sources for skopeo ----------------------------------------------------------------------


def write_oci_layout(blobs: Blobs, dest: Path, refs: dict[str, tuple[bytes, str, str]]) -> None:
    """An OCI layout holding only the blobs reachable from refs {tag: (bytes, digest, media type)}."""
    if dest.exists():
        shutil.rmtree(dest)
    (dest / "blobs/sha256").mkdir(parents=True)
    (dest / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    manifests = []
    for tag, (data, digest, mtype) in refs.items():
        for dig in reachable(blobs, data):
            link_blob(blobs, dig, dest / "blobs/sha256" / dig.split(":")[1])
        manifests.append(
            {
                "mediaType": mtype,
                "digest": digest,
                "size": len(data),
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }
        )
    (dest / "index.json").write_bytes(canonical({"schemaVersion": 2, "manifests": manifests}))


def reachable(blobs: Blobs, manifest: bytes) -> list[str]:
    m = json.loads(manifest)
    out = ["sha256:" + hashlib.sha256(manifest).hexdigest()]
    if "manifests" in m:
        for desc in m["manifests"]:
            out += reachable(blobs, blobs.path(desc["digest"]).read_bytes())
    else:
        out += [m["config"]["digest"]] + [lay["digest"] for lay in m["layers"]]
    return out


def write_dir(blobs: Blobs, dest: Path, data: bytes) -> None:
    """skopeo's dir: transport: manifest.json, HEX.manifest.json per list instance, blobs by hex digest."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    (dest / "version").write_text("Directory Transport Version: 1.1\n")
    (dest / "manifest.json").write_bytes(data)
    m = json.loads(data)
    for desc in m.get("manifests", []):
        inst = blobs.path(desc["digest"]).read_bytes()
        (dest / f"{desc['digest'].split(':')[1]}.manifest.json").write_bytes(inst)
        for dig in reachable(blobs, inst)[1:]:
            link_blob(blobs, dig, dest / dig.split(":")[1])
    if "manifests" not in m:
        for dig in reachable(blobs, data)[1:]:
            link_blob(blobs, dig, dest / dig.split(":")[1])


def link_blob(blobs: Blobs, digest: str, target: Path) -> None:
    if not target.exists():
        os.link(blobs.path(digest), target)


# --- registry access (to skip pushes that are already done) -------------------------------------------


def manifest_present(registry: str, repo: str, reference: str, digest: str) -> bool:
    """True when the registry serves reference with exactly this digest (HEAD, with auth)."""
    host = REGISTRIES[registry]["host"]
    url = f"http://{host}/v2/{repo}/manifests/{reference}"
    accept = ", ".join([OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST])
    headers = {"Accept": accept}
    basic = "Basic " + base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
    if REGISTRIES[registry]["auth"] == "basic":
        headers["Authorization"] = basic
    elif REGISTRIES[registry]["auth"] == "bearer":
        turl = f"{TOKEN_REALM}?service={TOKEN_SERVICE}&scope=repository:{repo}:pull"
        req = urllib.request.Request(turl, headers={"Authorization": basic})
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                headers["Authorization"] = "Bearer " + json.load(r)["token"]
        except (urllib.error.URLError, OSError):
            return False
    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, headers=headers, method="HEAD"), timeout=5
        ) as r:
            return r.headers.get("Docker-Content-Digest") == digest
    except (urllib.error.URLError, OSError):
        return False


def push(source: str, registry: str, repo: str, tag: str, all_instances: bool) -> None:
    dest = f"docker://{REGISTRIES[registry]['host']}/{repo}:{tag}"
    cmd = ["skopeo", "copy", "--quiet", "--preserve-digests", "--dest-tls-verify=false"]
    if all_instances:
        cmd.append("--all")
    if REGISTRIES[registry]["auth"]:
        cmd += ["--dest-creds", f"{USERNAME}:{PASSWORD}"]
    cmd += [source, dest]
    print(f"[images] push {dest}", file=sys.stderr)
    subprocess.run(cmd, check=True, stdin=subprocess.DEVNULL)


# --- the catalogue ------------------------------------------------------------------------------------


def build(out: Path, force: bool) -> dict[str, Any]:
    work = out / "images"
    blobs = Blobs(work / "blobs")
    bb_raw = tar_layer(busybox_entries())
    bb_gz = Layer(bb_raw, "gzip")
    bb_hist = history(
        ("/bin/sh -c #(nop) ADD file:busybox-static in / ", False), ('/bin/sh -c #(nop)  CMD ["sh"]', True)
    )
    bb_cfg = base_config()
    bb_cfg["history"] = bb_hist
    bb_files, _ = apply_layers([busybox_entries()])

    images: dict[str, dict[str, Any]] = {}
    pushes: list[tuple[str, str, str, str, str, bool]] = []  # name, source, registry, repo, tag, all

    def single(name: str, fmt: str, built: Built, registry: str, repo: str, tag: str, **facts: Any) -> None:
        src_dir = work / ("oci" if fmt == "oci" else f"dir-{name}")
        source = f"oci:{src_dir}:{name}" if fmt == "oci" else f"dir:{src_dir}"
        if fmt != "oci":
            write_dir(blobs, src_dir, built.manifest)
        host = REGISTRIES[registry]["host"]
        images[name] = {
            "ref": f"{host}/{repo}:{tag}",
            "digest_ref": f"{host}/{repo}@{built.manifest_digest}",
            "registry": registry,
            "repository": repo,
            "tag": tag,
            "format": fmt,
            "manifest_digest": built.manifest_digest,
            "manifest_media_type": built.media_type,
            "manifest_size": len(built.manifest),
            "config_digest": built.config_digest,
            "image_id": built.config_digest.split(":")[1],
            "platform": {k: built.config[k] for k in ("os", "architecture", "variant") if k in built.config},
            "layer_count": len(built.layers),
            "layers": built.layers,
            "config": built.config["config"],
            "created": built.config["created"],
            "history": built.config.get("history", []),
            **facts,
        }
        pushes.append((name, source, registry, repo, tag, False))

    oci_refs: dict[str, tuple[bytes, str, str]] = {}

    # busybox: the small runnable base image, Docker schema 2, pushed everywhere.
    bb_v2 = make_image(blobs, "v2s2", [bb_gz], bb_cfg)
    bb_facts = {"files": {p: v for p, v in bb_files.items() if p == "bin/sh" or not p.startswith("bin/")}}
    single("busybox", "v2s2", bb_v2, "open", "busybox", "latest", **bb_facts)
    bb_oci = make_image(blobs, "oci", [bb_gz], bb_cfg)
    oci_refs["busybox-oci"] = (bb_oci.manifest, bb_oci.manifest_digest, bb_oci.media_type)
    single("busybox-oci", "oci", bb_oci, "open", "busybox", "oci", **bb_facts)
    single("busybox-basic", "v2s2", bb_v2, "basic", "busybox", "latest", **bb_facts)
    single("busybox-token-public", "v2s2", bb_v2, "token", "public/busybox", "latest", **bb_facts)
    single("busybox-token-private", "v2s2", bb_v2, "token", "private/busybox", "latest", **bb_facts)

    # layered: several layers, whiteouts, opaque dir, links, special modes, xattrs, non-root owners.
    l2, l3 = layered_entries()
    files, absent = apply_layers([busybox_entries(), l2, l3])
    files = {p: v for p, v in files.items() if p == "bin/sh" or not p.startswith("bin/")}
    for fmt, comps in (("v2s2", ("gzip", "gzip", "none")), ("oci", ("gzip", "zstd", "none"))):
        cfg = base_config(
            Env=[PATH_ENV, "PODPY_TEST=layered", "GREETING=hello world"],
            Entrypoint=["/bin/sh", "-c"],
            Cmd=['echo "$GREETING from layered"'],
            WorkingDir="/data",
            User="1000:1000",
            Labels={
                "org.opencontainers.image.title": "podpy-layered",
                "podpy.test": "layered",
                "podpy.test.variant": fmt,
            },
            ExposedPorts={"8080/tcp": {}, "5353/udp": {}},
            Volumes={"/data/vol": {}},
            StopSignal="SIGINT",
        )
        cfg["history"] = bb_hist[:1] + history(
            ("/bin/sh -c #(nop)  ENV PODPY_TEST=layered GREETING=hello world", True),
            ("/bin/sh -c #(nop) COPY dir:content in / ", False),
            ("/bin/sh -c rm -rf /data/to-delete.txt /data/deleted-dir /opq/* && echo ... ", False),
            ("/bin/sh -c #(nop)  USER 1000:1000", True),
            ('/bin/sh -c #(nop)  ENTRYPOINT ["/bin/sh" "-c"]', True),
        )
        cfg["history"][-1]["comment"] = "last step"
        layers = [
            Layer(bb_raw, comps[0]) if comps[0] != "gzip" else bb_gz,
            Layer(tar_layer(l2), comps[1]),
            Layer(tar_layer(l3), comps[2]),
        ]
        built = make_image(blobs, fmt, layers, cfg)
        name = f"layered-{fmt}"
        if fmt == "oci":
            oci_refs[name] = (built.manifest, built.manifest_digest, built.media_type)
        single(name, fmt, built, "open", "layered", fmt, files=files, absent=absent)

    # multiarch: an OCI index and a Docker manifest list with linux/amd64 and linux/arm64/v8.
    # The arm64 image reuses the amd64 busybox bytes (it is never run) plus a marker file.
    for fmt in ("oci", "v2s2"):
        items = []
        per_platform = []
        for arch, variant, marker in (("amd64", None, "linux/amd64"), ("arm64", "v8", "linux/arm64/v8")):
            marker_layer = Layer(tar_layer([d("etc"), f("etc/podpy-platform", marker + "\n")]), "gzip")
            cfg = base_config(arch, variant, Labels={"podpy.test": "multiarch", "podpy.platform": marker})
            cfg["history"] = bb_hist[:1] + history((f"/bin/sh -c echo {marker} > /etc/podpy-platform", False))
            built = make_image(blobs, fmt, [bb_gz, marker_layer], cfg)
            plat = {"architecture": arch, "os": "linux"} | ({"variant": variant} if variant else {})
            items.append((built, plat))
            per_platform.append(
                {
                    "platform": plat,
                    "manifest_digest": built.manifest_digest,
                    "manifest_media_type": built.media_type,
                    "config_digest": built.config_digest,
                    "image_id": built.config_digest.split(":")[1],
                    "layer_count": 2,
                    "layers": built.layers,
                    "marker": marker,
                }
            )
        ibytes, idig, itype = make_index(blobs, fmt, items)
        name = f"multiarch-{fmt}"
        tag = "latest" if fmt == "oci" else "list"
        src_dir = work / ("oci" if fmt == "oci" else f"dir-{name}")
        if fmt == "oci":
            oci_refs[name] = (ibytes, idig, itype)
        else:
            write_dir(blobs, src_dir, ibytes)
        images[name] = {
            "ref": f"127.0.0.1:5000/multiarch:{tag}",
            "digest_ref": f"127.0.0.1:5000/multiarch@{idig}",
            "registry": "open",
            "repository": "multiarch",
            "tag": tag,
            "format": fmt,
            "manifest_digest": idig,
            "manifest_media_type": itype,
            "manifest_size": len(ibytes),
            "platforms": per_platform,
            "marker_file": "etc/podpy-platform",
        }
        pushes.append(
            (
                name,
                f"oci:{src_dir}:{name}" if fmt == "oci" else f"dir:{src_dir}",
                "open",
                "multiarch",
                tag,
                True,
            )
        )

    # special: a FIFO and a character device (rootless: the device cannot be created and is skipped).
    special_layer = [
        d("data"),
        f("data/regular.txt", "next to special files\n"),
        Entry("data/fifo", "fifo", 0o644),
        Entry("data/chardev", "chardev", 0o666, dev=(1, 3)),
    ]
    sp_files, _ = apply_layers([busybox_entries(), special_layer])
    sp_cfg = base_config(Labels={"podpy.test": "special"})
    sp_cfg["history"] = bb_hist[:1] + history(
        ("/bin/sh -c mkfifo /data/fifo && mknod /data/chardev c 1 3", False)
    )
    sp = make_image(blobs, "oci", [bb_gz, Layer(tar_layer(special_layer), "gzip")], sp_cfg)
    oci_refs["special"] = (sp.manifest, sp.manifest_digest, sp.media_type)
    single(
        "special",
        "oci",
        sp,
        "open",
        "special",
        "latest",
        files={p: v for p, v in sp_files.items() if p.startswith("data")},
    )

    write_oci_layout(blobs, work / "oci", oci_refs)

    # A plain rootfs tarball of busybox (for `podpy import` and the README's offline demo).
    rootfs = work / "busybox-rootfs.tar"
    if not rootfs.exists() or rootfs.read_bytes() != bb_raw:
        rootfs.write_bytes(bb_raw)

    archives = write_archives(work, force, images)

    for name, source, registry, repo, tag, all_instances in pushes:
        if force or not manifest_present(registry, repo, tag, images[name]["manifest_digest"]):
            push(source, registry, repo, tag, all_instances)
            if not manifest_present(registry, repo, tag, images[name]["manifest_digest"]):
                raise SystemExit(
                    f"[images] {name}: the registry does not serve {images[name]['manifest_digest']}"
                )

    evil = build_evil(blobs, work, force)

    return {
        "evil_images": evil,
        "oci_layout": str(work / "oci"),
        "oci_layout_tags": sorted(oci_refs),
        "busybox_rootfs_tar": str(rootfs),
        "archives": archives,
        "images": images,
    }


# --- hostile images (bad input a puller must refuse) -----------------------------------------------------


def gzip_bomb(cache: Path, size: int) -> tuple[bytes, str]:
    """A gzip'd tar holding one file of `size` zero bytes: ~1000:1. Multi-member gzip, so it is cheap to
    make; the diff_id (sha256 of the whole tar) is computed once and cached."""
    header = tarfile.TarInfo("bomb.bin")
    header.size, header.mtime, header.mode = size, MTIME, 0o644
    head = header.tobuf(tarfile.PAX_FORMAT)
    mib = bytes(1 << 20)
    tail = bytes((-size) % 512) + bytes(1024)
    zero_member = gzip.compress(mib, compresslevel=9, mtime=0)
    blob = gzip.compress(head, mtime=0) + zero_member * (size >> 20) + gzip.compress(tail, mtime=0)
    key = f"bomb-{size}-{hashlib.sha256(blob).hexdigest()}"
    store = cache / "diff-ids.json"
    known = json.loads(store.read_text()) if store.exists() else {}
    if key not in known:
        h = hashlib.sha256(head)
        for _ in range(size >> 20):
            h.update(mib)
        h.update(tail)
        known[key] = "sha256:" + h.hexdigest()
        store.write_text(json.dumps(known))
    return blob, known[key]


def raw_push(repo: str, tag: str, blobs_: list[bytes], manifest: bytes, media_type: str) -> None:
    """Push blobs and a manifest over the distribution API (127.0.0.1:5000): skopeo refuses broken images."""
    base = f"http://{REGISTRIES['open']['host']}/v2/{repo}"
    for data in blobs_:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        try:
            urllib.request.urlopen(
                urllib.request.Request(f"{base}/blobs/{digest}", method="HEAD"), timeout=10
            )
            continue
        except urllib.error.HTTPError:
            pass
        with urllib.request.urlopen(
            urllib.request.Request(f"{base}/blobs/uploads/", method="POST"), timeout=10
        ) as r:
            location = r.headers["Location"]
        sep = "&" if "?" in location else "?"
        req = urllib.request.Request(
            f"{location}{sep}digest={digest}",
            data=data,
            method="PUT",
            headers={"Content-Type": "application/octet-stream"},
        )
        urllib.request.urlopen(req, timeout=60).close()
    req = urllib.request.Request(
        f"{base}/manifests/{tag}", data=manifest, method="PUT", headers={"Content-Type": media_type}
    )
    urllib.request.urlopen(req, timeout=10).close()


def build_evil(blobs: Blobs, work: Path, force: bool) -> dict[str, dict[str, Any]]:
    """Images whose layers or descriptors are hostile or broken, each with what a puller must do."""
    import random

    rnd = random.Random(1700000000)
    refuse = "refuse with a one-line error; nothing of the image is stored"
    tar = tar_layer
    good = tar([d("data"), f("data/ok.txt", "ok\n")])
    cases: list[tuple[str, str, list[tuple[bytes, str, str]], str]] = [
        # name, attack, [(blob, media type, diff_id)], expectation
        (
            "dotdot",
            "a member named ../escape.txt",
            [(tar([d("data"), f("data/ok.txt", "ok\n"), f("../escape.txt", "escaped\n")]), "gzip", "")],
            refuse,
        ),
        (
            "dotdot-nested",
            "a member named data/../../escape.txt",
            [(tar([d("data"), f("data/../../escape.txt", "escaped\n")]), "gzip", "")],
            refuse,
        ),
        (
            "absolute",
            "a member named /abs-escape.txt",
            [(tar([f("/abs-escape.txt", "absolute\n")]), "gzip", "")],
            refuse,
        ),
        (
            "symlink-lower",
            "layer 1 plants data/link -> ../../../../../../../../tmp, layer 2 writes data/link/pwned.txt",
            [
                (tar([d("data"), sym("data/link", "../../../../../../../../tmp")]), "gzip", ""),
                (tar([d("data"), f("data/link/pwned.txt", "pwned\n")]), "gzip", ""),
            ],
            refuse,
        ),
        (
            "symlink-same",
            "data/link -> /tmp, then data/link/pwned.txt in the same layer",
            [(tar([d("data"), sym("data/link", "/tmp"), f("data/link/pwned.txt", "pwned\n")]), "gzip", "")],
            refuse,
        ),
        (
            "hardlink-outside",
            "a hard link data/hl to ../../../../etc/passwd",
            [(tar([d("data"), hard("data/hl", "../../../../etc/passwd")]), "gzip", "")],
            refuse,
        ),
        (
            "hardlink-absolute",
            "a hard link data/hl to /etc/passwd (not in the layer)",
            [(tar([d("data"), hard("data/hl", "/etc/passwd")]), "gzip", "")],
            refuse,
        ),
        (
            "truncated-gzip",
            "the gzip layer is cut in half (its digest matches the cut bytes)",
            [(good, "gzip-truncated", "")],
            refuse,
        ),
        (
            "garbage-gzip",
            "4 KiB of random bytes labelled tar+gzip",
            [(rnd.randbytes(4096), "gzip-raw", "")],
            refuse,
        ),
        (
            "garbage-zstd",
            "4 KiB of random bytes labelled tar+zstd",
            [(rnd.randbytes(4096), "zstd-raw", "")],
            refuse,
        ),
        (
            "unknown-mediatype",
            "a layer of media type application/vnd.podpy.test.unknown",
            [(good, "unknown", "")],
            refuse + "; the error names the media type",
        ),
        (
            "size-too-small",
            "the layer descriptor says 10 bytes fewer than the blob has",
            [(good, "gzip-size-minus", "")],
            refuse,
        ),
        (
            "size-too-big",
            "the layer descriptor says 10 bytes more than the blob has",
            [(good, "gzip-size-plus", "")],
            refuse,
        ),
        (
            "oversize-config",
            "the config blob is 5 MiB (a 5 MiB label)",
            [(good, "gzip", "")],
            refuse + "; the error names the 4 MiB cap",
        ),
        (
            "bomb",
            "a 1 MiB gzip layer that unpacks to a 1 GiB file",
            [(b"", "bomb", "")],
            "refuse once the unpacked size passes the cap (tests lower the cap); nothing stored",
        ),
    ]
    out: dict[str, dict[str, Any]] = {}
    for name, attack, layer_specs, expect in cases:
        descs, diff_ids, payload = [], [], []
        for raw, how, _ in layer_specs:
            mtype = LAYER_TYPES[("oci", "gzip")]
            size_delta = 0
            if how == "gzip":
                blob, diff = gzip.compress(raw, mtime=0), "sha256:" + hashlib.sha256(raw).hexdigest()
            elif how == "gzip-truncated":
                full = gzip.compress(raw, mtime=0)
                blob, diff = full[: len(full) // 2], "sha256:" + hashlib.sha256(raw).hexdigest()
            elif how in ("gzip-raw", "zstd-raw"):
                blob, diff = raw, "sha256:" + hashlib.sha256(raw).hexdigest()
                mtype = LAYER_TYPES[("oci", how[:4])]
            elif how == "unknown":
                blob, diff = gzip.compress(raw, mtime=0), "sha256:" + hashlib.sha256(raw).hexdigest()
                mtype = "application/vnd.podpy.test.unknown"
            elif how.startswith("gzip-size"):
                blob, diff = gzip.compress(raw, mtime=0), "sha256:" + hashlib.sha256(raw).hexdigest()
                size_delta = -10 if how.endswith("minus") else 10
            else:  # bomb
                blob, diff = gzip_bomb(work, 1 << 30)
            descs.append({"mediaType": mtype, "size": len(blob) + size_delta, "digest": blobs.put(blob)})
            diff_ids.append(diff)
            payload.append(blob)
        cfg = base_config(Labels={"podpy.test": "evil", "podpy.attack": name})
        if name == "oversize-config":
            cfg["config"]["Labels"]["padding"] = "x" * (5 << 20)
        cfg["rootfs"] = {"type": "layers", "diff_ids": diff_ids}
        cbytes = canonical(cfg)
        manifest = canonical(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "size": len(cbytes), "digest": blobs.put(cbytes)},
                "layers": descs,
            }
        )
        mdig = blobs.put(manifest)
        repo = f"evil/{name}"
        if force or not manifest_present("open", repo, "latest", mdig):
            print(f"[images] push (raw) 127.0.0.1:5000/{repo}:latest", file=sys.stderr)
            raw_push(repo, "latest", [cbytes, *payload], manifest, OCI_MANIFEST)
        out[name] = {
            "ref": f"127.0.0.1:5000/{repo}:latest",
            "digest_ref": f"127.0.0.1:5000/{repo}@{mdig}",
            "registry": "open",
            "repository": repo,
            "tag": "latest",
            "manifest_digest": mdig,
            "manifest_media_type": OCI_MANIFEST,
            "config_digest": "sha256:" + hashlib.sha256(cbytes).hexdigest(),
            "config_size": len(cbytes),
            "layers": [
                {
                    "digest": x["digest"],
                    "size": x["size"],
                    "media_type": x["mediaType"],
                    "actual_size": len(b),
                }
                for x, b in zip(descs, payload, strict=True)
            ],
            "attack": attack,
            "expect": expect,
        }
        if name == "bomb":
            out[name]["unpacked_size"] = 1 << 30
    return out


def write_archives(work: Path, force: bool, images: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """docker-archive and oci-archive tarballs written by skopeo (the library podman save uses)."""
    specs = [
        (
            "busybox-docker-archive",
            f"dir:{work / 'dir-busybox'}",
            "docker-archive",
            images["busybox"]["ref"],
            "busybox",
        ),
        (
            "layered-docker-archive",
            f"dir:{work / 'dir-layered-v2s2'}",
            "docker-archive",
            images["layered-v2s2"]["ref"],
            "layered-v2s2",
        ),
        ("busybox-oci-archive", f"oci:{work / 'oci'}:busybox-oci", "oci-archive", "busybox", "busybox-oci"),
        ("layered-oci-archive", f"oci:{work / 'oci'}:layered-oci", "oci-archive", "layered", "layered-oci"),
    ]
    out: dict[str, dict[str, Any]] = {}
    for name, source, fmt, ref, image in specs:
        path = work / "archives" / f"{name}.tar"
        path.parent.mkdir(exist_ok=True)
        stamp = path.with_suffix(".source")  # the manifest digest it was made from: remake when it changes
        want = images[image]["manifest_digest"]
        if force or not path.exists() or not stamp.exists() or stamp.read_text() != want:
            tmp = path.with_suffix(".tmp")
            tmp.unlink(missing_ok=True)
            print(f"[images] write {path}", file=sys.stderr)
            subprocess.run(
                [
                    "skopeo",
                    "copy",
                    "--quiet",
                    *(["--preserve-digests"] if fmt == "oci-archive" else []),
                    source,
                    f"{fmt}:{tmp}:{ref}",
                ],
                check=True,
                stdin=subprocess.DEVNULL,
            )
            os.replace(tmp, path)
            stamp.write_text(want)
        out[name] = {
            "path": str(path),
            "format": fmt,
            "name": ref,
            "image": image,
            "image_id": images[image]["image_id"],
        }
        if fmt == "oci-archive":  # written with --preserve-digests; docker-archive has no manifest digest
            out[name]["manifest_digest"] = want
    return out


def user_facts(name: str) -> dict[str, Any]:
    import pwd

    pw = pwd.getpwnam(name)
    facts: dict[str, Any] = {
        "name": name,
        "uid": pw.pw_uid,
        "gid": pw.pw_gid,
        "home": pw.pw_dir,
        "runtime_dir": f"/run/user/{pw.pw_uid}",
    }
    for key, path in (("subuid", "/etc/subuid"), ("subgid", "/etc/subgid")):
        for line in Path(path).read_text().splitlines():
            parts = line.split(":")
            if len(parts) == 3 and parts[0] in (name, str(pw.pw_uid)):
                facts[key] = {"start": int(parts[1]), "count": int(parts[2])}
                break
    return facts


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="build and push podpy's test images, write env.json")
    p.add_argument("--out", default="/opt/podpy-test", type=Path)
    p.add_argument("--force", action="store_true", help="push even when the registry already has the image")
    p.add_argument("--user", default="podpytest")
    a = p.parse_args(argv)
    src = Path(__file__).resolve().parents[2]
    built = build(a.out, a.force)
    env = {
        "version": 1,
        "src": str(src),
        "root": str(a.out),
        "venv": str(a.out / "venv"),
        "user": user_facts(a.user),
        "registries": {
            "open": {"host": "127.0.0.1:5000", "url": "http://127.0.0.1:5000", "auth": None, "delete": True},
            "basic": {
                "host": "127.0.0.1:5001",
                "url": "http://127.0.0.1:5001",
                "auth": "basic",
                "realm": "podpy-test",
                "username": USERNAME,
                "password": PASSWORD,
                "delete": True,
            },
            "token": {
                "host": "127.0.0.1:5002",
                "url": "http://127.0.0.1:5002",
                "auth": "bearer",
                "realm": TOKEN_REALM,
                "service": TOKEN_SERVICE,
                "issuer": TOKEN_ISSUER,
                "username": USERNAME,
                "password": PASSWORD,
                "anonymous_pull_prefix": "public/",
                "delete": True,
            },
        },
        "token_issuer": {
            "url": "http://127.0.0.1:5003",
            "realm": TOKEN_REALM,
            "stats": "http://127.0.0.1:5003/stats",
            "reset": "http://127.0.0.1:5003/stats/reset",
            "host": "127.0.0.1",
            "port": 5003,
            "script": str(src / "tests/env/token_issuer.py"),
            "key": str(a.out / "registries/token/key.pem"),
            "cert": str(a.out / "registries/token/cert.pem"),
        },
        **built,
    }
    target = a.out / "env.json"
    tmp = target.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(env, indent=2, sort_keys=False) + "\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, target)
    print(f"[images] wrote {target} ({len(env['images'])} images)", file=sys.stderr)


if __name__ == "__main__":
    main()
