"""The rootless fixtures (a private root whose pause process is stopped afterwards)."""

from tests.integration.rootless.conftest import user_paths  # noqa: F401
