"""A podman with private storage, to compare podpy's pull output with the reference tool's."""

from tests.system.transfer.conftest import podman  # noqa: F401
