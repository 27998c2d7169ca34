"""``podpy auto-update``: new images for containers a systemd unit runs (``io.containers.autoupdate``).

A container qualifies when it carries the label ``io.containers.autoupdate`` (``registry``: the
registry holds another image under the container's image name; ``local``: the local store's name
points to another image than the container runs) and the label ``PODMAN_SYSTEMD_UNIT`` — set at
create when the creating podpy ran with that variable, which every generated (``generate systemd``,
``quadlet``) unit exports. An update pulls (``registry``) and then restarts the unit with
``systemctl --user restart UNIT`` (``--user`` unless podpy runs as root). Where no systemd manager
answers (no systemd as PID 1, as on podpy's test machines), the restart cannot happen: the container
is reported ``failed`` with that reason, and with ``--rollback`` the image name is pointed back at
the image the container runs (``rolled back``), so the state stays as it was.
"""

from __future__ import annotations

import os

from podpy.util.errors import PodpyError
from podpy.util.log import get_logger
from podpy.util.paths import Paths

TYPE_CHECKING = False  # not typing's: importing typing costs every command start-up time
if TYPE_CHECKING:
    from typing import Any

log = get_logger(__name__)

AUTOUPDATE_LABEL = "io.containers.autoupdate"
UNIT_LABEL = "PODMAN_SYSTEMD_UNIT"
POLICIES = ("registry", "local", "image")  # "image" is podman's old name for "registry"


def systemd_labels() -> dict[str, str]:
    """The label a container created from a systemd unit gets (Podman: from ``$PODMAN_SYSTEMD_UNIT``).
    Called by every ``create``: this module imports nothing heavy at module level."""
    unit = os.environ.get(UNIT_LABEL, "")
    return {UNIT_LABEL: unit} if unit else {}


class Report:
    """One row of ``auto-update``'s output (Podman's ``AutoUpdateReport``); a plain class, not a dataclass:
    this module is imported by every ``create``."""

    __slots__ = ("Unit", "ContainerID", "ContainerName", "Image", "Policy", "Updated")

    def __init__(self, unit: str, cid: str, name: str, image: str, policy: str, updated: str) -> None:
        self.Unit = unit
        self.ContainerID = cid
        self.ContainerName = name
        self.Image = image
        self.Policy = policy
        self.Updated = updated  # "false", "pending" (--dry-run), "true", "failed", "rolled back"

    @property
    def Container(self) -> str:  # noqa: N802 - Podman's field name
        return f"{self.ContainerID[:12]} ({self.ContainerName})"

    def as_dict(self) -> dict[str, str]:
        return {"Unit": self.Unit, "Container": self.Container, "ContainerID": self.ContainerID,
                "ContainerName": self.ContainerName, "Image": self.Image, "Policy": self.Policy,
                "Updated": self.Updated}  # fmt: skip


def systemd_manager() -> list[str] | None:
    """``systemctl [--user]`` when a systemd manager answers, else None."""
    import shutil
    import subprocess

    exe = shutil.which("systemctl")
    if not exe or not os.path.isdir("/run/systemd/system"):
        return None
    argv = [exe] if os.geteuid() == 0 else [exe, "--user"]
    r = subprocess.run([*argv, "show-environment"], capture_output=True, check=False)
    return argv if r.returncode == 0 else None


def restart_unit(unit: str) -> None:
    argv = systemd_manager()
    if argv is None:
        raise PodpyError(
            f"cannot restart systemd unit {unit}: no systemd manager is running (systemd is not PID 1 here, "
            f"or no user manager answers `systemctl --user`): restart the unit yourself"
        )
    import subprocess

    r = subprocess.run([*argv, "restart", unit], capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise PodpyError(f"restarting unit {unit}: {r.stderr.strip() or f'systemctl exited {r.returncode}'}")


def _remote_image_id(name: str, pull_kwargs: dict[str, Any]) -> str:
    from podpy.registry.client import RegistryClient
    from podpy.registry.config import load_registries_conf
    from podpy.registry.resolve import resolve_image
    from podpy.spec.platform import host_platform

    conf = load_registries_conf()
    ref = conf.candidates(name)[0]
    client = RegistryClient(conf, authfile=pull_kwargs.get("authfile"),
                            tls_verify=pull_kwargs.get("tls_verify"), retry=0)  # fmt: skip
    try:
        return resolve_image(client, ref, host_platform()).image_id
    finally:
        client.close()


def _local_image_id(paths: Paths, name: str) -> str:
    from podpy.engine import images

    return images.lookup(images.open_store(paths), name).id


def _candidates(paths: Paths) -> list[Any]:
    from podpy.engine import containers

    st = containers.open_state(paths)
    return [r for r in containers.list_containers(st, paths)
            if r.labels.get(AUTOUPDATE_LABEL) and r.state == "running"]  # fmt: skip


def auto_update(paths: Paths, *, dry_run: bool = False, rollback: bool = True,
                pull_kwargs: dict[str, Any] | None = None) -> tuple[list[Report], list[str]]:  # fmt: skip
    """Check (and with ``dry_run`` False, update) every running labelled container: (reports, errors)."""
    from podpy.engine import images

    pull_kwargs = dict(pull_kwargs or {})
    reports: list[Report] = []
    errors: list[str] = []
    updated_images: dict[str, str] = {}  # one pull per image name
    for rec in _candidates(paths):
        policy = rec.labels[AUTOUPDATE_LABEL]
        policy = "registry" if policy == "image" else policy
        unit = rec.labels.get(UNIT_LABEL, "")
        name = rec.image_name
        if policy not in POLICIES:
            errors.append(f'auto-updating container "{rec.id}": invalid auto-update policy "{policy}"')
            continue
        if not unit:
            errors.append(f'auto-updating container "{rec.id}": no {UNIT_LABEL} label found')
            continue
        row = Report(unit, rec.id, rec.name, name, policy, "false")
        reports.append(row)
        try:
            if policy == "registry":
                domain = name.split("/", 1)[0]
                if "/" not in name or not ("." in domain or ":" in domain or domain == "localhost"):
                    raise PodpyError(
                        f'raw-image name "{name}" is not fully qualified: create the container with a '
                        "registry/repository name for the registry policy"
                    )
                newest = updated_images.get(name) or _remote_image_id(name, pull_kwargs)
            else:
                newest = _local_image_id(paths, name)
        except PodpyError as e:
            row.Updated = "failed"
            errors.append(f'auto-updating container "{rec.id}": {e.message}')
            continue
        if newest == rec.image_id:
            continue
        if dry_run:
            row.Updated = "pending"
            continue
        try:
            if policy == "registry" and name not in updated_images:
                images.pull(paths, name, **pull_kwargs)
                updated_images[name] = newest
            restart_unit(unit)
            row.Updated = "true"
        except PodpyError as e:
            row.Updated = "failed"
            msg = f'auto-updating container "{rec.id}": {e.message}'
            if rollback:
                try:
                    images.tag(paths, rec.image_id, [name])  # the name goes back to the running image
                    row.Updated = "rolled back"
                    msg += f"; rolled back: {name} names image {rec.image_id[:12]} again"
                except PodpyError as e2:
                    msg += f"; rolling back failed: {e2.message}"
            errors.append(msg)
    return reports, errors
