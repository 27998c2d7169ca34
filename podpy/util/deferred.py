"""Deferring a stdlib module that start-up imports but almost never uses.

``dataclasses`` imports ``inspect`` (and with it ast, dis, tokenize, linecache: ~3 ms of a ~50 ms
``podpy run -d``) for one call, made only for a dataclass without a docstring. ``defer("inspect")``
puts a stand-in module in ``sys.modules``; the first attribute read on it (PEP 562 ``__getattr__``)
imports the real module and makes the stand-in a copy of it, so every user (click, pytest, ...)
still gets the real thing, only later. Only the CLI's entry point calls it.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # not typing's: importing typing costs start-up time
if TYPE_CHECKING:
    from typing import Any


def defer(name: str) -> None:
    """Import the top-level stdlib module ``name`` on first use instead of now (no-op if imported)."""
    if name in sys.modules:
        return
    stand_in = type(sys)(name)

    def load(attr: str) -> Any:
        if sys.modules.get(name) is stand_in:
            del sys.modules[name]
        import importlib

        real = importlib.import_module(name)
        stand_in.__dict__.update(real.__dict__)  # later reads find everything directly
        return getattr(real, attr)

    stand_in.__getattr__ = load  # type: ignore[method-assign]
    sys.modules[name] = stand_in
