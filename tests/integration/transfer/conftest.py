"""The transfer fixtures (podman, skopeo, an imported busybox) shared with the system tests."""

from tests.system.transfer.conftest import busybox_tar, imported, podman, second_root, skopeo  # noqa: F401
