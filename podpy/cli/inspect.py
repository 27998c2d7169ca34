"""``inspect`` and ``image inspect``: Podman's JSON documents, or a ``--format`` template per object.

Containers come first for ``--type all`` (Podman's order), then images; their documents are
``podpy container inspect``'s.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any

import click

from podpy.util.errors import NotFoundError, PodpyError, UsageError

_CONFIG_DEFAULTS: dict[str, Any] = {
    "User": "",
    "ExposedPorts": {},
    "Env": [],
    "Entrypoint": [],
    "Cmd": [],
    "Volumes": {},
    "WorkingDir": "",
    "Labels": {},
    "StopSignal": "",
    "ArgsEscaped": False,
}


def template_view(doc: dict, image: bool = True) -> Any:
    """The inspect document as Go structs for templates: unknown fields are errors, like podman."""
    from podpy.cli.template import Record

    top = Record(doc, go_type="interface {}")
    if not image:
        return top
    if isinstance(doc.get("Config"), dict):
        cfg = dict(_CONFIG_DEFAULTS)
        cfg.update(doc["Config"])
        for k in ("ExposedPorts", "Volumes"):  # map[string]struct{}: values print as {}
            cfg[k] = {p: Record({}, go_type="struct {}") for p in cfg.get(k) or {}}
        top["Config"] = Record(cfg, go_type="*v1.ImageConfig")
    top["HealthCheck"] = _health_view(doc.get("Healthcheck"))
    return top


def _health_view(hc: Any) -> Any:
    """``{{.HealthCheck}}``: podman's Schema2HealthConfig (durations as Go prints them), or <nil>."""
    if not isinstance(hc, dict):
        return None
    from podpy.cli.template import Record
    from podpy.engine.ctrinfo import go_duration

    def dur(key: str) -> str:
        return go_duration(int(hc.get(key) or 0) / 1e9)

    return Record({"Test": list(hc.get("Test") or []), "StartPeriod": dur("StartPeriod"),
                   "Interval": dur("Interval"), "Timeout": dur("Timeout"), "Retries": int(hc.get("Retries") or 0)},
                  go_type="*manifest.Schema2HealthConfig")  # fmt: skip


def _write_json(docs: list[dict]) -> None:
    from podpy.cli.template import go_json

    sys.stdout.write(go_json(docs, indent=5) + "\n")


def run_inspect(ctx: click.Context, names: tuple[str, ...], type_: str, fmt: str | None, size: bool) -> None:
    from podpy.cli.main import options_of as _opts
    from podpy.cli.template import is_json, render
    from podpy.engine.images import inspect_record, lookup, open_store

    if type_ not in ("image", "container", "all", "pod", "network", "volume"):
        raise UsageError(f"invalid type {type_!r}: must be image, container, pod, network, volume or all")
    if not names:
        raise UsageError("inspect requires at least one argument")
    paths = _opts(ctx).paths
    store = open_store(paths) if type_ in ("image", "all") else None
    docs: list[dict] = []
    views: list[Any] = []  # what --format templates see of each document
    errors: list[str] = []
    for n in names:
        doc = view = None
        is_image = False
        if type_ in ("container", "all"):
            from podpy.cli.lifecycle import inspect_containers

            found, _ = inspect_containers(paths, [n])
            doc = found[0] if found else None
        if doc is None and store is not None:
            try:
                doc = inspect_record(store, lookup(store, n))
                is_image = True
            except NotFoundError as e:
                if type_ == "image":
                    errors.append(e.message)
                    continue
        if doc is None and type_ in ("volume", "pod", "network", "all"):
            doc, view = _other_object(paths, n, type_)
        if doc is None:
            if type_ == "container":
                errors.append(f"no such container {n}")
            elif type_ in ("volume", "pod"):
                errors.append(f"no such {type_} {n}")
            elif type_ == "network":
                errors.append(f"network {n}: unable to find network with name or ID {n}: network not found")
            elif type_ in ("image",):
                errors.append(f"{n}: image not known")
            else:
                errors.append(f'no such object: "{n}"')
            continue
        docs.append(doc)
        views.append(view if view is not None else template_view(doc, is_image))
    if fmt is None or is_json(fmt):
        _write_json(docs)
    else:
        try:
            sys.stdout.write(
                render(fmt, views, name="inspect")
            )
        except PodpyError as e:
            raise PodpyError(f"inspecting object: printing inspect output: {e.message}") from None
    if errors:
        sys.stdout.flush()  # the document first, then the errors, as podman prints them
        for e in errors[:-1]:
            click.echo(f"Error: inspecting object: {e}", err=True)
        raise PodpyError(f"inspecting object: {errors[-1]}")


def _other_object(paths: Any, name: str, type_: str) -> tuple[dict[str, Any] | None, Any]:
    """A volume, network or pod named ``name`` (podman's generic inspect looks in that order): its
    document and, for a network, what templates see (Go's field names); (None, None) if there is none."""
    if type_ in ("volume", "all"):
        from podpy.engine.volumes import inspect_doc

        doc = inspect_doc(paths, name)
        if doc is not None:
            return doc, None
    if type_ in ("network", "all"):
        from podpy.cli.network import network_view
        from podpy.engine import networks

        with contextlib.suppress(NotFoundError):
            doc = networks.get(paths, name)
            return doc, network_view(doc)
    if type_ in ("pod", "all"):
        from podpy.engine import pods

        with contextlib.suppress(NotFoundError):
            return pods.inspect(*pods.lookup(paths, name)), None
    return None, None


def _inspect_options(f: Any) -> Any:
    for o in reversed(
        [
            click.option(
                "-f", "--format", "fmt", default=None, help="Format the output to a Go template or json"
            ),
            click.option("-s", "--size", is_flag=True, help="Display total file size"),
            click.argument("names", nargs=-1),
        ]
    ):
        f = o(f)
    return f


@click.command("inspect", context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-t", "--type", "type_", default="all", help="Specify inspect-object type (image, container, all)"
)
@click.option(
    "-l", "--latest", is_flag=True, hidden=True, help="Act on the latest container podpy is aware of"
)
@_inspect_options
@click.pass_context
def inspect_cmd(
    ctx: click.Context, type_: str, latest: bool, fmt: str | None, size: bool, names: tuple[str, ...]
) -> None:
    """Display the configuration of object denoted by ID."""
    if latest:
        raise UsageError("--latest is not supported yet: name the container")
    run_inspect(ctx, names, type_, fmt, size)


@click.command("inspect", context_settings={"help_option_names": ["-h", "--help"]})
@_inspect_options
@click.pass_context
def image_inspect_cmd(ctx: click.Context, fmt: str | None, size: bool, names: tuple[str, ...]) -> None:
    """Display the configuration of an image."""
    run_inspect(ctx, names, "image", fmt, size)
