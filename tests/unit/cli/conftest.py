"""CLI unit tests reuse the engine's synthetic-image fixtures."""

from tests.unit.engine.conftest import make_image, paths  # noqa: F401
