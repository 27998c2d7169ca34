"""Opening the image store and logging image events: what ``run`` needs of the image engine, without
loading ``engine.images`` (list, inspect, tag, rmi, prune: a large module ``run`` has no use for).
``engine.images`` re-exports these."""

from __future__ import annotations

import os

from podpy.util.errors import PodpyError
from podpy.util.paths import Paths

TYPE_CHECKING = False  # not typing's: importing typing costs start-up time
if TYPE_CHECKING:
    from typing import Any

    from podpy.store.images import ImageReader
    from podpy.store.store import Store


def record_event(paths: Paths, action: str, image_id: str = "", name: str = "", state: Any = None) -> None:
    """Log an image event for ``podpy events`` (podman 4.3's actions and fields: ``pull`` has only the
    reference typed, ``tag``/``untag``/``remove``/``save``/``push`` the image ID and a name or path).
    A failure to log is a warning: the action itself has happened. ``state``: a State the caller
    has open (``run`` has one), else one is opened for this event."""
    import sqlite3

    from podpy.engine.state import State

    st = state if state is not None else State(paths)
    try:
        st.add_event("image", action, image_id, name)
    except (sqlite3.Error, OSError, PodpyError) as e:
        import logging

        logging.getLogger(__name__).warning("recording the image event %s %s: %s", action, name, e)
    finally:
        if state is None:
            st.close()


def open_store(paths: Paths) -> Store:
    """The full store, for commands that write (or need layer data)."""
    from podpy.store.store import Store

    cap = os.environ.get("PODPY_MAX_UNPACKED", "")
    return Store(paths.storage, max_unpacked=int(cap)) if cap.isdigit() else Store(paths.storage)


def open_reader(paths: Paths) -> ImageReader:
    """Only the image database and small blobs: what listing and lookups need, nothing store-wide."""
    from podpy.store.images import ImageReader

    return ImageReader(paths.storage)
