"""``podpy kube generate|play|down`` and the ``play kube`` / ``generate kube`` aliases (Podman 4.3's).

Play creates each container through ``run``'s own code (``podpy.cli.container.run_main`` with ``create``'s
overrides), from the option values ``podpy.engine.kube_play`` derives from the YAML; the YAML itself is
read and played by the engine, the text written by ``podpy.generate.kube``.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from podpy.cli.main import options_of as _opts
from podpy.util.errors import PodpyError, UsageError

CTX = {"help_option_names": ["-h", "--help"]}


@click.group("kube", context_settings=CTX)
def kube_group() -> None:
    """Play containers, pods or volumes from a structured file."""


@click.group("play", context_settings=CTX)
def play_group() -> None:
    """Play containers, pods or volumes from a structured file."""


# --- generate --------------------------------------------------------------------------------------


@click.command("generate", context_settings=CTX)
@click.option("-f", "--filename", default="", help="Write output to the specified path")
@click.option("-s", "--service", is_flag=True, help="Generate YAML for a Kubernetes service object")
@click.option(
    "-t",
    "--type",
    "kind",
    default="pod",
    help="Generate YAML for the given Kubernetes kind (pod, deployment, daemonset)",
)
@click.option("-r", "--replicas", type=int, default=1, help="Set the replica number for Deployment kind")
@click.argument("refs", nargs=-1)
@click.pass_context
def generate_cmd(ctx: click.Context, filename: str, service: bool, kind: str, replicas: int,
                 refs: tuple[str, ...]) -> None:  # fmt: skip
    """Generate Kubernetes YAML from containers, pods or volumes.

    \b
    Example: podpy kube generate -s mypod > mypod.yaml
    """
    from podpy.generate.kube import generate

    text = generate(_opts(ctx).paths, list(refs), service=service, kind=kind, replicas=replicas)
    if not filename:
        click.echo(text)  # Podman's Println: the document's newline and one more
        return
    if os.path.exists(filename):
        raise PodpyError(f'cannot write to "{filename}"; file exists')
    from podpy.util.fsutil import atomic_write

    try:
        atomic_write(filename, text, fsync=False)
    except OSError as e:
        raise PodpyError(f"writing {filename}: {e.strerror or e}") from None


# --- play ------------------------------------------------------------------------------------------


def run_defaults() -> dict[str, Any]:
    """Every ``run`` option at its default (what an empty ``podpy create IMAGE`` line gives)."""
    from podpy.cli.container import RUN_OPTIONS

    out: dict[str, Any] = {"command": ()}
    for dest, _decls, kw in RUN_OPTIONS:
        if kw.get("multiple"):
            out[dest] = ()
        elif kw.get("is_flag"):
            out[dest] = False
        else:
            out[dest] = kw.get("default")
    return out


def container_creator(ctx: click.Context, quiet: bool, tls_verify: bool | None) -> Any:
    """``create_container(values) -> ID`` for the engine: ``podpy create`` with those option values."""
    from podpy.cli.container import run_main
    from podpy.engine import run as engine_run

    opts = _opts(ctx)
    base = {**run_defaults(), "quiet": quiet, "tls_verify": tls_verify}

    def create(values: dict[str, Any]) -> str:
        ids: list[str] = []
        token = engine_run.run_overrides.set({"create_only": True, "on_id": ids.append})
        try:
            run_main({**base, **values}, opts, ids.append)
        finally:
            engine_run.run_overrides.reset(token)
        return ids[-1]

    return create


def _print_down(report: Any) -> None:
    click.echo("Pods stopped:")
    for i in report.stopped:
        click.echo(i)
    click.echo("Pods removed:")
    for i in report.removed:
        click.echo(i)


def _print_pod(played: Any) -> None:
    click.echo("Pod:")
    click.echo(played.id)
    if not played.containers:
        return
    click.echo("Container:" if len(played.containers) == 1 else "Containers:")
    for cid in played.containers:
        click.echo(cid)
    click.echo()


def _play_options(f: Any) -> Any:
    for opt in reversed((
        click.option("--configmap", multiple=True, help="Pathname of a YAML file containing a kubernetes configmap"),
        click.option("--down", is_flag=True, help="Stop pods defined in the YAML file"),
        click.option("--network", "--net", "network", multiple=True, help="Connect pod to network(s) or network mode"),
        click.option("-q", "--quiet", is_flag=True, help="Suppress output information when pulling images"),
        click.option("--replace", is_flag=True, help="Delete and recreate pods defined in the YAML file"),
        click.option("--start", type=click.BOOL, default=True, help="Start the pod after creating it (default true)"),
        click.option("--tls-verify", type=click.BOOL, default=None, help="Require HTTPS and verify certificates when contacting registries"),
    )):  # fmt: skip
        f = opt(f)
    return click.argument("kubefile")(f)


def _network(network: tuple[str, ...]) -> str:
    if len(network) > 1:
        raise UsageError("--network: podpy joins a played pod to one network or mode")
    if not network:
        return ""
    from podpy.network import options

    mode = options.parse_network(network[0])
    if mode.kind == "container":
        raise UsageError(
            "--network container: cannot be used with kube play: the pod's infra container holds the network"
        )
    return network[0]


def play_main(ctx: click.Context, kubefile: str, configmap: tuple[str, ...], down: bool, network: tuple[str, ...],
              quiet: bool, replace: bool, start: bool, tls_verify: bool | None) -> None:  # fmt: skip
    from podpy.engine import kube_play

    paths = _opts(ctx).paths
    docs = kube_play.load(kube_play.read_file(kubefile, sys.stdin))
    if down:
        _print_down(kube_play.down(paths, kube_play.pod_names(docs)))
        return
    cms = []
    for item in configmap:
        for path in (p for p in item.split(",") if p):
            cms += kube_play.configmap_docs(kube_play.read_file(path), path)
    plan = kube_play.plan(docs, configmaps=cms, network=_network(network))
    if replace:
        _print_down(kube_play.down(paths, [p.name for p in plan.pods], missing_ok=True))
    printed = [False]

    def on_pod(played: Any) -> None:
        if not printed[0] and report_volumes:
            click.echo("Volumes:")
            for v in report_volumes:
                click.echo(v)
        printed[0] = True
        _print_pod(played)

    report_volumes = [v.name for v in plan.volumes]
    report = kube_play.play(
        paths, plan, container_creator(ctx, quiet, tls_verify), start=start, on_pod=on_pod
    )
    if not printed[0] and report.volumes:
        click.echo("Volumes:")
        for v in report.volumes:
            click.echo(v)


@click.command("play", context_settings=CTX)
@_play_options
@click.pass_context
def play_cmd(ctx: click.Context, **kw: Any) -> None:
    """Play a pod or volume based on Kubernetes YAML.

    Creates pods or volumes from the Pod, Deployment, DaemonSet, PersistentVolumeClaim, ConfigMap and
    Secret documents of KUBEFILE ("-": standard input).

    \b
    Example: podpy kube play --replace mypod.yaml
    """
    play_main(ctx, **kw)


@click.command("kube", context_settings=CTX)
@_play_options
@click.pass_context
def play_kube_cmd(ctx: click.Context, **kw: Any) -> None:
    """Play a pod or volume based on Kubernetes YAML.

    \b
    Example: podpy play kube mypod.yaml
    """
    play_main(ctx, **kw)


@click.command("down", context_settings=CTX)
@click.argument("kubefile")
@click.pass_context
def down_cmd(ctx: click.Context, kubefile: str) -> None:
    """Remove pods based on Kubernetes YAML (their named volumes are kept).

    \b
    Example: podpy kube down mypod.yaml
    """
    from podpy.engine import kube_play

    docs = kube_play.load(kube_play.read_file(kubefile, sys.stdin))
    _print_down(kube_play.down(_opts(ctx).paths, kube_play.pod_names(docs)))


kube_group.add_command(generate_cmd)
kube_group.add_command(play_cmd)
kube_group.add_command(down_cmd)
play_group.add_command(play_kube_cmd)
