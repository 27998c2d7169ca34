"""``podpy system migrate``: stop every running container, then the pause process (as Podman).

Why stop the containers: they live in the old user namespace, with the old ID mappings; the next
podpy command builds a new namespace from the current /etc/subuid and /etc/subgid, and a container
left running in the old one could no longer be reached by ``exec``, ``cp`` or its mounts. Podman's
``system migrate`` stops them for the same reason; they are restarted by the user (or by their
restart policy on the next ``start``).
"""

from __future__ import annotations

from podpy.util.errors import NotFoundError, PodpyError
from podpy.util.paths import Paths


def migrate(paths: Paths) -> list[str]:
    """Stop running containers and the pause process; returns errors (one line each) to report."""
    from podpy.engine import containers as ctrs
    from podpy.rootless.userns import migrate as stop_namespace

    errors: list[str] = []
    if (paths.root / "state.db").exists():
        st = ctrs.open_state(paths)
        try:
            running = [r for r in ctrs.list_containers(st, paths) if r.state in ctrs.ACTIVE]
        finally:
            st.close()
        for rec in running:
            try:
                ctrs.stop(paths, rec.id)
            except NotFoundError:
                continue
            except PodpyError as e:
                errors.append(f"cannot stop container {rec.id}: {e.message}")
    stop_namespace(paths)
    return errors
