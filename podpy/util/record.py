"""``Record``: the value-object methods of podpy's run-path records, from their ``__slots__``.

Why not ``dataclasses``: ``podpy run`` pays for it at every start, before doing anything: importing
it, then generating and compiling ``__init__``/``__repr__``/``__eq__`` (and more for frozen ones) for
each class it creates, ~0.3 ms a class; the dozen records on ``run -d``'s path (the spec, the state
record, the monitor's configuration, users, mounts...) cost ~5 ms of a ~50 ms run. A record
here writes its ``__init__`` out (typed, with its defaults) and lists its fields in ``__slots__``, in
order; ``Record`` gives it equality, hashing, ``repr``, ``replace`` and ``as_dict`` from those, with
``dataclasses``' meanings; ``FrozenRecord`` is ``frozen=True``, ``FRESH`` is a ``default_factory``.
Classes off the hot path stay dataclasses.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's: importing typing costs start-up time
if TYPE_CHECKING:
    from typing import Any, Self


# The default of a field that starts as a new empty list or dict (dataclasses' ``default_factory``):
# ``__init__`` makes a fresh one per instance, while an explicit None is kept as given.
FRESH: Any = object()


class Record:
    """Base of a record class: ``__slots__`` names its fields in order; ``__init__`` sets them all."""

    __slots__ = ()

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        """Hashable as a frozen dataclass is (an error when a field is not, e.g. a list)."""
        return hash(self._values())

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{self.__class__.__qualname__}({fields})"

    def replace(self, **changes: Any) -> Self:
        """A copy with ``changes`` (``dataclasses.replace``): built through ``__init__``, so its
        checks and defaults apply; an unknown field is a TypeError."""
        unknown = set(changes) - set(self.__slots__)
        if unknown:
            raise TypeError(f"{self.__class__.__qualname__} has no field {sorted(unknown)[0]!r}")
        return self.__class__(**{name: changes.get(name, getattr(self, name)) for name in self.__slots__})

    def as_dict(self) -> dict[str, Any]:
        """The fields as a dict, records inside turned into dicts too (``dataclasses.asdict``)."""
        return {name: _plain(getattr(self, name)) for name in self.__slots__}


class FrozenRecord(Record):
    """A record whose fields cannot change once ``__init__`` has set each of them (``frozen=True``)."""

    __slots__ = ()

    def __setattr__(self, name: str, value: object) -> None:
        try:
            getattr(self, name)
        except AttributeError:  # not set yet: ``__init__`` setting it
            object.__setattr__(self, name, value)
            return
        raise AttributeError(f"cannot assign to field {name!r}")  # dataclasses' FrozenInstanceError text

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}")

    def __reduce__(self) -> tuple[Any, ...]:
        """copy, deepcopy and pickle through ``__init__``."""
        return (self.__class__, self._values())


def _plain(value: Any) -> Any:
    if isinstance(value, Record):
        return value.as_dict()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value
