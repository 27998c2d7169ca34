"""Rootless plumbing: subuid/subgid ranges, podpy's user namespace and its pause process.

Public API (import the submodules; this package imports nothing, to keep start-up cheap):
- ``podpy.rootless.userns.ensure_userns(paths)``: join or create podpy's user + mount namespace
  (call before starting threads; a no-op when rootful). Then ``in_podpy_userns(paths=None)``,
  ``userns_id_maps(paths=None) -> (uid_map, gid_map)``, ``rootless_uid()``, ``rootless_gid()``,
  ``subid_hint(user=None)`` (the usermod fix for messages), ``migrate(paths)``,
  ``stop_pause_process(paths)``.
- ``podpy.rootless.subid``: ``parse_subid``, ``ranges_for``, ``read_ranges``, ``build_id_map``,
  ``IDRange``, ``IDMapping``.
- ``podpy.rootless.pause``: the pause process and its files under ``Paths.runroot``.
"""
