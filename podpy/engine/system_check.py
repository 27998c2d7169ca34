"""``podpy system check [--repair] [--quick] [--force]``: the store (``store.check``) and the containers.

Container problems (``Finding.kind``, beside the store's):

* ``missing-image``: the container's image is no longer in the store (or is damaged): it cannot
  start. Repair only with ``--force`` (removing it loses its writable layer).
* ``missing-dir``: a state row whose ``ROOT/containers/ID`` is gone: nothing is left to lose.
  Repair: remove the row (and its runtime files).
* ``orphan-dir``: a container directory (``ROOT/containers/ID``, ``RUNROOT/c/ID``) no state row names,
  left by a crash between create's steps. Repair: remove it.

``--quick`` skips hashing every blob (sizes are still compared with the manifests).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

from podpy.store.check import Finding, StoreChecker
from podpy.util.errors import NotFoundError, PodpyError
from podpy.util.paths import Paths


@dataclass
class CheckReport:
    findings: list[Finding] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)

    @property
    def unrepaired(self) -> list[Finding]:
        return [f for f in self.findings if not f.repaired]


def _containers(paths: Paths) -> list:  # type: ignore[type-arg]
    from podpy.engine import containers as ctrs

    if not (paths.root / "state.db").exists():
        return []
    st = ctrs.open_state(paths)
    try:
        return ctrs.list_containers(st, paths)
    finally:
        st.close()


def _remove_container(paths: Paths, cid: str, f: Finding) -> None:
    from podpy.engine import containers as ctrs

    try:
        ctrs.remove(paths, cid, force=True, timeout=0)
        f.repaired = True
    except NotFoundError:
        f.repaired = True
    except PodpyError as e:
        f.error = e.message


def _orphan_dirs(paths: Paths, ids: set[str]) -> list[Path]:
    out = []
    for parent, key in ((paths.root / "containers", 64), (paths.runroot / "c", 16)):
        with contextlib.suppress(FileNotFoundError):
            for p in sorted(parent.iterdir()):
                if p.is_dir() and not any(i[:key] == p.name for i in ids):
                    out.append(p)
    return out


def _build_leftovers(paths: Paths, repair: bool) -> list[Finding]:
    """Working dirs of killed builds (``ROOT/build-work``: their ``pid`` names a dead process)."""
    base = paths.root / "build-work"
    out = []
    with contextlib.suppress(FileNotFoundError):
        for d in sorted(base.iterdir()):
            try:
                pid = int((d / "pid").read_text())
            except (OSError, ValueError):
                pid = 0
            if pid and Path(f"/proc/{pid}").exists():
                continue  # a build is running
            out.append(Finding("temp", f"build-work/{d.name}", "working dir of an interrupted build"))
    if repair and out:
        from podpy.engine import build_step

        build_step.clean_leftovers(paths)
        for f in out:
            f.repaired = not (paths.root / f.subject).exists()
            f.error = "" if f.repaired else "still mounted or busy"
    return out


def check(paths: Paths, *, repair: bool = False, quick: bool = False, force: bool = False) -> CheckReport:
    """Check the store and the containers; with ``repair`` fix what can be fixed without losing data
    (``force``: also remove containers whose image is gone or damaged)."""
    from podpy.engine import containers as ctrs

    rep = CheckReport()
    if repair and (paths.root.exists()):
        ctrs._join_userns(paths)  # removing layers and container dirs touches files of subordinate ids
    recs = _containers(paths)
    checker = StoreChecker(paths.storage)
    # a first pass without repair: which images are damaged decides which containers are affected
    pre = checker.check(quick=quick, repair=False)
    damaged = set(pre.damaged_images)
    present: set[str] = set()
    if (paths.storage / "images.db").exists():
        from podpy.store.images import ImageDB

        present = {r.id for r in ImageDB(paths.storage / "images.db").all()}
    keep: set[str] = set()
    for rec in recs:
        iid = rec.image_id.removeprefix("sha256:")
        cdir = ctrs.container_dir(paths, rec.id)
        if rec.state != "configured" and not cdir.is_dir():
            f = Finding("missing-dir", rec.id, f"container {rec.name}: its directory {cdir} is gone")
            rep.findings.append(f)
            if repair:
                _remove_container(paths, rec.id, f)
            continue
        if iid and (iid not in present or iid in damaged):
            why = "is no longer in the store" if iid not in present else "is damaged"
            f = Finding(
                "missing-image", rec.id, f"container {rec.name}: its image {iid[:12]} {why}; it cannot start"
            )
            rep.findings.append(f)
            if repair and force:
                _remove_container(paths, rec.id, f)
            elif repair:
                f.error = "removing it loses its writable layer: add --force to remove the container"
            if not f.repaired:
                keep.add(iid)
            continue
        keep.add(iid)
    ids = {r.id for r in recs if not any(f.subject == r.id and f.repaired for f in rep.findings)}
    for d in _orphan_dirs(paths, ids):
        f = Finding("orphan-dir", str(d), "container directory without a container")
        rep.findings.append(f)
        if repair:
            from podpy.engine.system_prune import remove_tree

            try:
                remove_tree(d)  # detaches a leftover rootfs mount first
                f.repaired = True
            except OSError as e:
                f.error = str(e)
    rep.findings += _build_leftovers(paths, repair)
    srep = checker.check(quick=quick, repair=True, keep_images=keep) if repair else pre
    rep.findings = srep.findings + rep.findings
    rep.checked = {"blobs": srep.checked_blobs, "layers": srep.checked_layers, "images": srep.checked_images,
                   "containers": len(recs)}  # fmt: skip
    return rep
