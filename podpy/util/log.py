"""Loggers that do not import :mod:`logging` until a message is really emitted.

Why: ``import logging`` (with traceback, string, textwrap …) costs about 2 ms, and the hot commands
(``run``, ``ps``) log nothing at the default level. ``get_logger(name)`` returns a small stand-in with
``debug``/``info``/``warning``/``error``/``exception``; the CLI tells it the threshold with
``configure(level)`` (``--log-level``). Messages below it are dropped without importing anything;
others go to ``logging.getLogger(name)``, configured on first use with podpy's format.

Without ``configure`` (library use, tests) or once :mod:`logging` is imported anyway, every call is
forwarded, so ``logging``'s own levels and handlers (pytest's ``caplog``) decide as usual.
"""

from __future__ import annotations

import sys

TRACE, DEBUG, INFO, WARNING, ERROR = 5, 10, 20, 30, 40
FORMAT = "time=%(asctime)s level=%(levelname)s msg=%(message)s"
LEVELS = {"trace": TRACE, "debug": DEBUG, "info": INFO, "warn": WARNING, "warning": WARNING}

_threshold: int | None = None  # None: not configured by the CLI, forward everything
_configured = False


def level_of(name: str) -> int:
    """``--log-level`` text to a number (error, fatal, panic: ERROR)."""
    return LEVELS.get(name, ERROR)


def configure(level: int) -> None:
    """Set the CLI's threshold; logging itself is set up now only if something below WARNING is wanted."""
    global _threshold
    _threshold = level
    if level < WARNING or "logging" in sys.modules:
        _setup()


def _setup() -> None:
    global _configured
    if _configured or _threshold is None:
        return
    import logging

    _configured = True
    logging.basicConfig(level=_threshold, format=FORMAT, stream=sys.stderr)


class Logger:
    """The part of :class:`logging.Logger` podpy uses, importing :mod:`logging` only when it emits."""

    __slots__ = ("_real", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self._real = None

    def _logger(self):  # type: ignore[no-untyped-def]
        if self._real is None:
            import logging

            _setup()
            self._real = logging.getLogger(self.name)  # type: ignore[assignment]
        return self._real

    def isEnabledFor(self, level: int) -> bool:  # noqa: N802 - logging's name
        if _threshold is not None and level < _threshold and "logging" not in sys.modules:
            return False
        return bool(self._logger().isEnabledFor(level))

    def log(self, level: int, msg: object, *args: object, **kwargs: object) -> None:
        if _threshold is not None and level < _threshold and "logging" not in sys.modules:
            return
        kwargs.setdefault("stacklevel", 2)
        self._logger().log(level, msg, *args, **kwargs)

    def debug(self, msg: object, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("stacklevel", 3)
        self.log(DEBUG, msg, *args, **kwargs)

    def info(self, msg: object, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("stacklevel", 3)
        self.log(INFO, msg, *args, **kwargs)

    def warning(self, msg: object, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("stacklevel", 3)
        self.log(WARNING, msg, *args, **kwargs)

    def error(self, msg: object, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("stacklevel", 3)
        self.log(ERROR, msg, *args, **kwargs)

    def exception(self, msg: object, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("stacklevel", 3)
        kwargs.setdefault("exc_info", True)
        self.log(ERROR, msg, *args, **kwargs)


def get_logger(name: str) -> Logger:
    return Logger(name)
