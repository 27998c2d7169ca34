"""What ``generate systemd`` needs from the state: a container's (or pod's) facts, and the units.

Kept apart from ``generate.systemd`` (pure text) so the text can be tested without a state DB.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from podpy.generate.systemd import ContainerFacts, Options, PodRef, TakesValue, container_unit
from podpy.util.errors import NotFoundError, PodpyError
from podpy.util.log import get_logger
from podpy.util.paths import Paths

log = get_logger(__name__)


def container_facts(paths: Paths, rec: Any, pod: PodRef | None = None) -> ContainerFacts:
    from podpy.engine import containers

    cfg = rec.config or {}
    spec = cfg.get("spec") or {}
    return ContainerFacts(
        id=rec.id,
        name=rec.name,
        create_command=list(cfg.get("create_command") or []),
        env=list(cfg.get("env") or []),
        stop_timeout=containers.stop_timeout(rec),
        runroot=str(paths.runroot),
        pid_file=str(containers.state_dir(paths, rec.id) / "monitor.pid"),
        restart_policy=str(spec.get("restart_policy") or ""),
        pod=pod,
    )


def pods_available() -> bool:
    """Whether this podpy has pods (``podpy.engine.pods``)."""
    return importlib.util.find_spec("podpy.engine.pods") is not None


def kube_available() -> bool:
    """Whether this podpy has ``kube play`` (``podpy.engine.kube_play``)."""
    return importlib.util.find_spec("podpy.engine.kube_play") is not None


def not_found(ref: str) -> PodpyError:
    return NotFoundError(
        f"{ref} does not refer to a container or pod: no pod with name or ID {ref} found: no such pod: "
        f'no container with name or ID "{ref}" found: no such container'
    )


def generate_units(paths: Paths, ref: str, opts: Options, takes_value: TakesValue) -> list[tuple[str, str]]:
    """[(service name, unit text)] for the container ``ref`` (pods: refused until podpy has them)."""
    from podpy.engine import containers
    from podpy.generate.systemd import check_options

    check_options(opts)
    st = containers.open_state(paths)
    try:
        rec = st.get(ref)
    except NotFoundError:
        if pods_available():
            from podpy.generate import podunits

            return podunits.generate_pod_units(paths, ref, opts, takes_value)
        raise not_found(ref) from None
    spec = (rec.config or {}).get("spec") or {}
    if not (opts.new or opts.template) and spec.get("restart_policy") not in (None, "", "no"):
        log.warning(
            "Container %s has restart policy \"%s\" which can lead to issues on shutdown: consider recreating the "
            "container without a restart policy and use systemd's restart mechanism instead",
            rec.id, spec.get("restart_policy"),
        )  # fmt: skip
    return [container_unit(container_facts(paths, rec), opts, takes_value)]
