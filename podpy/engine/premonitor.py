"""``run -d``'s monitor, forked as the very first thing ``run`` does (``start``).

With podpy's runtime the monitor creates the container itself (``monitor.spawn``, "adopting").
Forked while the CLI is still small (before the spec, the state database and the store are
imported), it shares few memory pages with the CLI, whose later writes then copy few of them: a
fork after ``create``'s imports cost the CLI ~1000 copy-on-write faults, some 4 ms. It joins podpy's
namespaces and loads the runtime on the other CPU while the CLI creates the container;
``containers.start`` hands it the configuration. Imports nothing heavy itself.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's: importing typing costs start-up time
if TYPE_CHECKING:
    from podpy.monitor.spawn import PendingMonitor
    from podpy.util.paths import Paths

ENTRY = "podpy.runtime.oci_cli:main"  # podpy's runtime CLI, with which the monitor creates the container


def start(paths: Paths, runtime: str | None, passthrough: bool) -> PendingMonitor | None:
    """The monitor for a container about to be created and started with ``runtime``; None for an
    external runtime (runc), whose monitor ``engine.run`` starts once this process joined podpy's
    namespace. ``passthrough``: ``--log-driver passthrough`` (the monitor keeps our stdio)."""
    if runtime not in (None, "", "podpy"):
        return None
    from podpy.monitor.spawn import PendingMonitor

    def join() -> None:
        from podpy.rootless.userns import ensure_userns

        ensure_userns(paths)

    return PendingMonitor(passthrough=passthrough, adopt=ENTRY, prepare=join)
