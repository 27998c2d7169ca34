"""The conmon-like per-container monitor. Must stay light: no click, no rich.

One small process per container (``python -S -m``-style, importing only the stdlib modules it
needs): it creates the container through any OCI-runtime-CLI runtime, reports the PID (or the
runtime's error) over a sync pipe, holds the container's stdio, writes the log, serves the
attach socket, waits, writes the exit file and runs a cleanup command.

Modules (this package imports nothing itself, so importing one module stays cheap):
- ``spawn``: ``MonitorConfig``, ``spawn_monitor(cfg) -> MonitorHandle`` (the engine's entry point).
- ``main``: the monitor process itself (``python -S -c ... main``).
- ``logfmt``: k8s-file log lines and rotation (the writing side, in the monitor).
- ``logread``: parsing and following the log (``podpy logs``, ``logs -f``).
- ``attach``: conmon's attach framing and a client (``AttachClient``); ``ctl`` resize messages.
- ``exitfile``: the exit file (atomic write, read).
- ``syncpipe``: the one-line JSON messages on the sync pipe.
- ``notify``: sd_notify (READY=1, MAINPID).
- ``restart``: the ``--restart`` policy decision and the "stopped by user" marker.
- ``liveness``: pid + start time, to tell whether a monitor still runs after ``kill -9``.
"""
