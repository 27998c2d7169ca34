"""Deferring stdlib modules that start-up imports but almost never uses.

``dataclasses`` imports ``inspect`` (and with it ast, dis, tokenize, linecache) for one call, made
only for a dataclass without a docstring; ``pathlib`` imports ``urllib.parse`` (and ``ipaddress``)
for ``Path.as_uri``: ~4 ms of a ~50 ms ``podpy run -d`` for nothing. ``defer`` puts a stand-in
module in ``sys.modules``; the first attribute read on it (PEP 562 ``__getattr__``), or a call of one
of the ``functions`` named (for ``from M import f`` at import time), imports the real module and
makes the stand-in a copy of it, so every user (click, requests, pytest...) still gets the real
thing, only later. Only the CLI's entry point calls it.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # not typing's: importing typing costs start-up time
if TYPE_CHECKING:
    from typing import Any


def defer(name: str, functions: tuple[str, ...] = ()) -> None:
    """Import the stdlib module ``name`` (not a package) on first use instead of now (no-op if
    imported already)."""
    if name in sys.modules:
        return
    stand_in = type(sys)(name)

    def real() -> Any:
        if sys.modules.get(name) is stand_in:
            del sys.modules[name]
        import importlib

        module = importlib.import_module(name)
        stand_in.__dict__.update(module.__dict__)  # later reads find everything directly
        return module

    def load(attr: str) -> Any:
        if attr == "__path__":  # asked by every ``from M import x``: a plain module (not a package) has none
            raise AttributeError(attr)
        return getattr(real(), attr)

    stand_in.__getattr__ = load  # type: ignore[method-assign]
    for fn in functions:
        setattr(stand_in, fn, lambda *args, _fn=fn, **kwargs: getattr(real(), _fn)(*args, **kwargs))
    parent, _, child = name.rpartition(".")
    if parent:  # ``import urllib.parse`` binds the package: its attribute must lead to the stand-in too
        setattr(__import__(parent), child, stand_in)
    sys.modules[name] = stand_in
