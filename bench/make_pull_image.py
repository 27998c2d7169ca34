#!/usr/bin/env python3
"""Build the pull-benchmark images offline and push them to a loopback registry.

Image A ("pull-a") has three gzip layers cut from host directories (a realistic many-file mix of
libraries, data files and executables), about 120 MB compressed / 255 MB unpacked like the
reference Debian figure. Image B ("pull-b") shares A's first two layers and has its own third
layer, so pulling B after A must fetch and unpack one layer only.

The OCI layout is cached under the work directory (default /var/tmp/podpy-bench) and rebuilt only
when the layer recipe changes; pushing is skipped when the registry already serves the manifest.
Stdlib only: it runs under any Python 3.11 (root's pyenv or the test venv).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import DEFAULT_WORKDIR, ensure_registry, registry_from_args  # noqa: E402

MTIME = 1_700_000_000  # clamp all mtimes: the layers are byte-for-byte reproducible on one host
MAX_FILE = 8 * 1024 * 1024  # skip huge single files (LLVM etc.): they are not typical image content
RECIPE_VERSION = 2


@dataclass(frozen=True)
class LayerRecipe:
    """Which host directories a layer copies, each with how many bytes of regular files it takes."""

    name: str
    sources: tuple[tuple[str, int], ...]


MB = 1024 * 1024
LAYERS: dict[str, LayerRecipe] = {
    "libs": LayerRecipe("libs", (("/usr/lib/x86_64-linux-gnu", 112 * MB), ("/usr/lib/python3.11", 45 * MB))),
    "share": LayerRecipe("share", (("/usr/share", 80 * MB),)),
    "bin": LayerRecipe("bin", (("/usr/bin", 38 * MB), ("/usr/sbin", 10 * MB))),
    "extra": LayerRecipe("extra", (("/usr/include", 25 * MB), ("/usr/libexec", 12 * MB))),
    # Tiny images so `images` benchmarks have a few entries to list.
    "small1": LayerRecipe("small1", (("/usr/share/common-licenses", MB),)),
    "small2": LayerRecipe("small2", (("/usr/share/base-files", MB),)),
    "small3": LayerRecipe("small3", (("/usr/share/zoneinfo/Europe", MB),)),
}
IMAGES: dict[str, tuple[str, ...]] = {
    "pull-a": ("libs", "share", "bin"),
    "pull-b": ("libs", "share", "extra"),
    "small-1": ("small1",),
    "small-2": ("small2",),
    "small-3": ("small1", "small3"),
}
REPO_PREFIX = "podpy-bench"


def recipe_key() -> str:
    """A hash of everything that shapes the layout, to know when the cache is stale."""
    data = json.dumps(
        {
            "v": RECIPE_VERSION,
            "layers": {k: v.sources for k, v in LAYERS.items()},
            "images": IMAGES,
            "mtime": MTIME,
            "max": MAX_FILE,
        },
        sort_keys=True,
    )
    return hashlib.sha256(data.encode()).hexdigest()[:16]


class _HashingWriter:
    """File-like sink that hashes and counts what passes through (the compressed stream)."""

    def __init__(self, fh):
        self.fh = fh
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        self.size += len(data)
        return self.fh.write(data)

    def flush(self) -> None:
        self.fh.flush()


class _DiffIdWriter:
    """Hashes the uncompressed tar stream (the diff_id) before gzip sees it."""

    def __init__(self, inner):
        self.inner = inner
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        self.size += len(data)
        return self.inner.write(data)

    def flush(self) -> None:
        self.inner.flush()


def _walk(root: str):
    """Yield paths below root in a deterministic (sorted, top-down) order."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        yield dirpath, True
        for name in sorted(filenames):
            yield os.path.join(dirpath, name), False


def _normalise(ti: tarfile.TarInfo) -> tarfile.TarInfo:
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = "root"
    ti.mtime = MTIME
    return ti


def build_layer(recipe: LayerRecipe, blobs: Path) -> dict:
    """Write one gzip layer blob; return its descriptor plus diff_id and stats."""
    tmp = blobs / f".tmp-{recipe.name}"
    files = dirs = links = 0
    taken = 0
    with open(tmp, "wb") as raw:
        hw = _HashingWriter(raw)
        gz = gzip.GzipFile(filename="", mode="wb", fileobj=hw, compresslevel=6, mtime=0)
        dw = _DiffIdWriter(gz)
        with tarfile.open(fileobj=dw, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            added_parents: set[str] = set()
            for src, budget in recipe.sources:
                taken_here = 0
                # Parent directories first, so the layer is self-contained.
                parts = Path(src).parts[1:]
                for i in range(1, len(parts)):
                    parent = "/" + "/".join(parts[:i])
                    if parent not in added_parents:
                        added_parents.add(parent)
                        tar.addfile(_normalise(tar.gettarinfo(parent, parent.lstrip("/"))))
                        dirs += 1
                for path, _is_dir in _walk(src):
                    if taken_here >= budget:
                        break
                    try:
                        st = os.lstat(path)
                    except OSError:
                        continue
                    mode = st.st_mode
                    if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
                        continue
                    if stat.S_ISREG(mode) and st.st_size > MAX_FILE:
                        continue
                    arcname = path.lstrip("/")
                    ti = _normalise(tar.gettarinfo(path, arcname))
                    if ti.isreg():
                        try:
                            with open(path, "rb") as fh:
                                tar.addfile(ti, fh)
                        except OSError:
                            continue
                        taken += ti.size
                        taken_here += ti.size
                        files += 1
                    else:
                        tar.addfile(ti)
                        if ti.isdir():
                            dirs += 1
                        else:
                            links += 1
        gz.close()
        raw.flush()
        os.fsync(raw.fileno())
    digest = hw.sha.hexdigest()
    os.replace(tmp, blobs / digest)
    return {
        "name": recipe.name,
        "descriptor": {
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": f"sha256:{digest}",
            "size": hw.size,
        },
        "diff_id": f"sha256:{dw.sha.hexdigest()}",
        "unpacked": dw.size,
        "file_bytes": taken,
        "files": files,
        "dirs": dirs,
        "links": links,
    }


def _write_blob(blobs: Path, data: bytes) -> dict:
    digest = hashlib.sha256(data).hexdigest()
    (blobs / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def build_layout(layout: Path) -> dict:
    """Build the OCI layout with both images; return the summary (also written as summary.json)."""
    if layout.exists():
        shutil.rmtree(layout)
    blobs = layout / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    layers: dict[str, dict] = {}
    for name, recipe in LAYERS.items():
        t0 = time.monotonic()
        layers[name] = build_layer(recipe, blobs)
        info = layers[name]
        print(
            f"layer {name}: {info['descriptor']['size'] / MB:.1f} MB gz, {info['unpacked'] / MB:.1f} MB tar, "
            f"{info['files']} files, {time.monotonic() - t0:.1f}s",
            file=sys.stderr,
        )
    manifests = []
    images: dict[str, dict] = {}
    for image, names in IMAGES.items():
        config = {
            "created": "2023-11-14T22:13:20Z",
            "architecture": "amd64",
            "os": "linux",
            "config": {
                "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                "Cmd": ["/usr/bin/bash"],
                "Labels": {"org.podpy.bench": image},
            },
            "rootfs": {"type": "layers", "diff_ids": [layers[n]["diff_id"] for n in names]},
            "history": [
                {"created": "2023-11-14T22:13:20Z", "created_by": f"podpy bench layer {n}"} for n in names
            ],
        }
        cfg_desc = _write_blob(blobs, json.dumps(config, sort_keys=True, separators=(",", ":")).encode())
        cfg_desc["mediaType"] = "application/vnd.oci.image.config.v1+json"
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": cfg_desc,
            "layers": [layers[n]["descriptor"] for n in names],
        }
        man_desc = _write_blob(blobs, json.dumps(manifest, sort_keys=True, indent=2).encode())
        man_desc["mediaType"] = "application/vnd.oci.image.manifest.v1+json"
        man_desc["annotations"] = {"org.opencontainers.image.ref.name": image}
        manifests.append(man_desc)
        images[image] = {
            "manifest_digest": man_desc["digest"],
            "image_id": cfg_desc["digest"],
            "layers": list(names),
            "compressed": sum(layers[n]["descriptor"]["size"] for n in names),
            "unpacked": sum(layers[n]["unpacked"] for n in names),
        }
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    (layout / "index.json").write_text(
        json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": manifests,
            },
            indent=2,
        )
    )
    summary = {"recipe": recipe_key(), "layers": layers, "images": images}
    (layout / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def load_or_build(workdir: Path, force: bool = False) -> dict:
    """Return the cached layout summary, building the layout when missing or stale."""
    layout = workdir / "oci"
    summary_path = layout / "summary.json"
    if not force and summary_path.exists():
        summary = json.loads(summary_path.read_text())
        if summary.get("recipe") == recipe_key():
            return summary
    return build_layout(layout)


def _registry_has(registry: str, repo: str, tag: str, digest: str) -> bool:
    req = urllib.request.Request(
        f"http://{registry}/v2/{repo}/manifests/{tag}",
        method="HEAD",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.headers.get("Docker-Content-Digest") == digest
    except (urllib.error.URLError, OSError):
        return False


def push(summary: dict, workdir: Path, registry: str) -> dict[str, str]:
    """Push both images with skopeo (a tool podpy did not write); return image → reference."""
    refs = {}
    for image, info in summary["images"].items():
        repo = f"{REPO_PREFIX}/{image}"
        ref = f"{registry}/{repo}:latest"
        refs[image] = ref
        if _registry_has(registry, repo, "latest", info["manifest_digest"]):
            continue
        subprocess.run(
            [
                "skopeo",
                "copy",
                "--quiet",
                "--dest-tls-verify=false",
                f"oci:{workdir / 'oci'}:{image}",
                f"docker://{ref}",
            ],
            check=True,
        )
        if not _registry_has(registry, repo, "latest", info["manifest_digest"]):
            raise SystemExit(f"push of {ref} did not keep the manifest digest {info['manifest_digest']}")
    return refs


def prepare(workdir: Path, registry: str, force: bool = False) -> dict:
    """Build (cached) and push; return the summary extended with the references."""
    summary = load_or_build(workdir, force)
    summary["refs"] = push(summary, workdir, registry)
    summary["registry"] = registry
    return summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    ap.add_argument("--rebuild", action="store_true", help="ignore the cached layout")
    ap.add_argument("--no-push", action="store_true")
    registry_from_args(ap)
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    os.chmod(args.workdir, 0o755)
    if args.no_push:
        summary = load_or_build(args.workdir, args.rebuild)
    else:
        registry = ensure_registry(args)
        summary = prepare(args.workdir, registry, args.rebuild)
    for image, info in summary["images"].items():
        print(
            f"{image}: {len(info['layers'])} layers, {info['compressed'] / MB:.1f} MB compressed, "
            f"{info['unpacked'] / MB:.1f} MB unpacked, id {info['image_id'][7:19]}"
            + (f", {summary['refs'][image]}" if "refs" in summary else "")
        )


if __name__ == "__main__":
    main()
