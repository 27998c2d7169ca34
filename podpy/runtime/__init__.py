"""OCI runtime-spec generation and executors (podpy's own, runc, crun).

* ``spec``: config.json from an image config + ContainerSpec, Podman 4.3's rootless defaults (pure).
* ``users``: ``--user`` resolved against the image's own /etc/passwd and /etc/group.
* ``rootpath``: path resolution confined to the rootfs (symlinks never lead out).
* ``mounts``: one config.json mount, placed safely (O_PATH + /proc/self/fd).
* ``executor``: podpy's runtime (create/start/state/kill/delete/run); ``oci_cli``/``__main__``:
  the same behind runc's command line (``python -m podpy.runtime``).
* ``external``: the same bundle run with runc.
* ``nsexec``: ``exec`` of one more process in a running container (setns into the init's namespaces).
"""
