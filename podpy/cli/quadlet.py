"""``podpy quadlet [--user] [--dryrun] [-v] OUTDIR...``: Quadlet files → systemd services.

Usable as a systemd generator: systemd runs generators with three output directories (normal,
early, late); the units go to the first, as podman's quadlet does. To have the user manager run it
at every ``daemon-reload``, install a two-line script as
``~/.config/systemd/user-generators/podpy-user-generator``::

    #!/bin/sh
    exec /path/to/podpy quadlet --user "$@"

``[Install]`` ``WantedBy=``/``RequiredBy=`` become ``TARGET.wants/``/``.requires/`` symlinks in the
output directory (generated units cannot be ``systemctl enable``d). A source that cannot be converted
is reported (``Error converting 'NAME', ignoring: …``) and skipped; the exit status is then 1.
"""

from __future__ import annotations

import os
import sys

import click

CTX = {"help_option_names": ["-h", "--help"]}


def _log(msg: str) -> None:
    sys.stderr.write(f"quadlet-generator[{os.getpid()}]: {msg}\n")


def _enable(outdir: str, service: str, text: str) -> None:
    """``[Install]`` WantedBy/RequiredBy as symlinks, so systemd starts the unit with its target."""
    from podpy.generate.unitfile import UnitFile

    unit = UnitFile.parse(text)
    for key, suffix in (("WantedBy", ".wants"), ("RequiredBy", ".requires")):
        for target in unit.lookup_words("Install", key):
            d = os.path.join(outdir, target + suffix)
            os.makedirs(d, exist_ok=True)
            link = os.path.join(d, service)
            if os.path.lexists(link):
                os.unlink(link)
            os.symlink(os.path.join("..", service), link)


@click.command("quadlet", context_settings=CTX)
@click.option("--user", "-user", "user", is_flag=True, help="Run as a systemd user generator (user search path)")
@click.option("--dryrun", "-dryrun", "dryrun", is_flag=True, help="Print the units instead of writing them")
@click.option("-v", "--verbose", "-verbose", "verbose", is_flag=True, help="Print debug information")
@click.option("--no-kmsg-log", "-no-kmsg-log", "no_kmsg", is_flag=True, help="Accepted for podman compatibility: podpy logs to stderr")
@click.argument("outdirs", nargs=-1)
def quadlet_cmd(user: bool, dryrun: bool, verbose: bool, no_kmsg: bool, outdirs: tuple[str, ...]) -> None:
    """Generate systemd units from Quadlet files (.container, .volume, .network, .image, .pod, .kube).

    \b
    Example: podpy quadlet --user --dryrun
    """
    from podpy.cli.generate import podpy_argv
    from podpy.generate import quadlet
    from podpy.generate.collect import kube_available, pods_available
    from podpy.util.errors import UsageError
    from podpy.util.fsutil import atomic_write
    from podpy.util.paths import xdg_config_home

    del no_kmsg  # podpy never logs to /dev/kmsg
    if not dryrun and not outdirs:
        raise UsageError("missing output directory argument")
    dirs = quadlet.search_dirs(user, os.getuid(), str(xdg_config_home()), dict(os.environ))
    if verbose or dryrun:
        _log(f"Starting quadlet-generator, output to: {outdirs[0] if outdirs else ''}")
    conv = quadlet.Converter(podpy_argv(), pods=pods_available(), kube=kube_available())
    failed = False
    sources: list[tuple[str, str]] = []
    for path in quadlet.find_sources(dirs):
        if verbose or dryrun:
            _log(f"Loading source unit file {path}")
        try:
            with open(path, encoding="utf-8") as f:
                sources.append((path, f.read()))
        except OSError as e:
            _log(f"Error loading '{path}', ignoring: {e.strerror or e}")
            failed = True
    for path, text in sources:
        conv.preload(path, text)
    for path, text in sources:
        res = conv.convert(path, text)
        if res.error:
            _log(f"Error converting '{os.path.basename(path)}', ignoring: {res.error}")
            failed = True
            continue
        body = quadlet.HEADER.format(generator=" ".join(podpy_argv()) + " quadlet") + res.text
        if dryrun:
            click.echo(f"---{res.service}---")
            click.echo(body)
            continue
        target = os.path.join(outdirs[0], res.service)
        if verbose:
            _log(f"Writing '{target}'")
        os.makedirs(outdirs[0], exist_ok=True)
        atomic_write(target, body, fsync=False)
        _enable(outdirs[0], res.service, body)
    if failed:
        sys.exit(1)
