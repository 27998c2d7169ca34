"""Shell completion: ``podpy completion bash|zsh|fish|powershell`` and the values it completes.

The scripts are click's (``_PODPY_COMPLETE``), generated from the command tree: the shell runs
``podpy`` with the words typed so far, and click answers from the same commands that run them.
Two things are podpy's own:

- the bash script splits the typed line on blanks only, so an image name with ``:`` (a registry
  port, a tag) is one word, as bash-completion's ``_get_comp_words_by_ref -n :`` does; and it asks
  ``podpy`` whatever the command word, so ``alias docker=podpy`` users can
  ``complete -F _podpy_completion docker`` (zsh and fish complete an alias as its command);
- the dynamic values: arguments and options that name a container, image, volume, network or pod
  complete from the state DB, the image DB, the volume and network dirs of the ``--root`` typed
  (nothing is created, no registry is asked). ``attach`` sets them from ``KINDS`` on each command
  as the lazy command table loads it, so command modules need no completion code.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from typing import Any

import click
from click.shell_completion import CompletionItem

from podpy.util.errors import UsageError

COMPLETE_VAR = "_PODPY_COMPLETE"
SHELLS = ("bash", "zsh", "fish", "powershell")
SCRIPT_FILES = {"bash": "bash/podpy", "zsh": "zsh/_podpy", "fish": "fish/podpy.fish"}  # under completions/

# The line up to the cursor split on blanks (not on COMP_WORDBREAKS' ``:`` and ``=``); the values
# returned are trimmed of what bash took as already typed before the last ``:`` of the word.
_SOURCE_BASH = """\
%(complete_func)s() {
    local IFS=$'\\n'
    local response completion type value line cur prefix=""
    local -a words
    line=${COMP_LINE:0:COMP_POINT}
    IFS=$' \\t' read -r -a words <<< "$line"
    if [[ -z $line || $line == *[[:blank:]] ]]; then
        words+=("")
    fi
    cur=${words[${#words[@]}-1]}
    if [[ $COMP_WORDBREAKS == *:* && $cur == *:* ]]; then
        prefix=${cur%%"${cur##*:}"}
    fi

    response=$(env COMP_WORDS="${words[*]}" COMP_CWORD=$((${#words[@]} - 1)) \\
%(complete_var)s=bash_complete %(prog_name)s)

    for completion in $response; do
        IFS=',' read -r type value <<< "$completion"

        if [[ $type == 'dir' ]]; then
            COMPREPLY=()
            compopt -o dirnames
        elif [[ $type == 'file' ]]; then
            COMPREPLY=()
            compopt -o default
        elif [[ $type == 'plain' ]]; then
            COMPREPLY+=("${value#"$prefix"}")
        fi
    done

    return 0
}

%(complete_func)s_setup() {
    complete -o nosort -F %(complete_func)s %(prog_name)s
}

%(complete_func)s_setup;
"""


def script(shell: str) -> str:
    """The completion script for ``shell``, as ``podpy completion SHELL`` prints it."""
    from click import shell_completion as sc

    from podpy.cli.main import _build_cli

    if shell not in SHELLS:
        raise UsageError(f'unknown shell "{shell}": use one of {", ".join(SHELLS)}')
    cls = sc.get_completion_class(shell)
    assert cls is not None
    comp = cls(_build_cli()["cli"], {}, "podpy", COMPLETE_VAR)
    if shell == "bash":
        return _SOURCE_BASH % comp.source_vars()  # click's check of the bash version is not needed here
    return comp.source()


@click.command("completion", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-f", "--file", "file_", type=click.Path(dir_okay=False), help="Output the completion to file rather than stdout")
@click.option("--no-desc", is_flag=True, help="Don't include descriptions in the completion output")
@click.argument("shell", shell_complete=lambda ctx, p, inc: [s for s in SHELLS if s.startswith(inc)])
def completion_cmd(file_: str | None, no_desc: bool, shell: str) -> None:
    """Generate shell autocompletions.

    Prints the script for bash, zsh, fish or powershell; source it, or install it where the shell
    loads completions (e.g. bash: ~/.local/share/bash-completion/completions/podpy, zsh: a file
    _podpy in $fpath, fish: ~/.config/fish/completions/podpy.fish).
    """
    text = script(shell)
    if no_desc and shell == "powershell":
        raise UsageError("--no-desc is not supported for powershell: its script shows descriptions as tooltips")
    if no_desc:
        # the descriptions come from the Python side; the script asks for none through the environment
        text = text.replace(f"{COMPLETE_VAR}=", f"{NO_DESC_VAR}=1 {COMPLETE_VAR}=")
    if file_ is None:
        sys.stdout.write(text)
        return
    from podpy.util.fsutil import atomic_write

    atomic_write(file_, text.encode())


NO_DESC_VAR = "_PODPY_COMPLETE_NO_DESC"


# --- dynamic values -------------------------------------------------------------------------------


def _paths(ctx: click.Context) -> Any:
    from podpy.util.paths import default_paths

    params = ctx.find_root().params
    return default_paths(params.get("root"), params.get("runroot"))


def _containers(ctx: click.Context, states: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """(name, id) of the containers, optionally only those in ``states``; nothing if no state DB yet."""
    paths = _paths(ctx)
    if not (paths.root / "state.db").exists():
        return []
    from podpy.engine.state import State

    st = State(paths)
    try:
        return [(r.name, r.id) for r in st.list() if not states or r.state in states]
    finally:
        st.close()


def _images(ctx: click.Context) -> list[tuple[str, str]]:
    paths = _paths(ctx)
    if not (paths.root / "storage" / "images.db").exists():
        return []
    from podpy.engine.images import open_reader

    out: list[tuple[str, str]] = []
    for rec in open_reader(paths).list_images():
        out += [(n, rec.id) for n in rec.names] or [("", rec.id)]
    return out


def _volumes(ctx: click.Context) -> list[tuple[str, str]]:
    from podpy.engine import volumes

    base = volumes.volumes_dir(_paths(ctx))
    try:
        return [(e.name, "") for e in sorted(os.scandir(base), key=lambda e: e.name) if not e.name.startswith(".")]
    except OSError:
        return []


def _networks(ctx: click.Context) -> list[tuple[str, str]]:
    from podpy.engine import networks

    return [(str(c.get("name", "")), str(c.get("id", ""))) for c in networks.all_networks(_paths(ctx))]


def _pods(ctx: click.Context) -> list[tuple[str, str]]:
    paths = _paths(ctx)
    if not (paths.root / "state.db").exists():
        return []
    from podpy.engine import pods
    from podpy.engine.state import State

    st = State(paths)
    try:
        return [(p.name, p.id) for p in pods.list_pods(st)]
    finally:
        st.close()


RUNNING = ("running",)
NOT_RUNNING = ("configured", "created", "exited", "stopped")
NETWORK_MODES = ("bridge", "host", "none", "private", "slirp4netns", "pasta")

# kind -> lister of (name, id)
_LISTERS: dict[str, Callable[[click.Context], list[tuple[str, str]]]] = {
    "container": _containers,
    "running": lambda ctx: _containers(ctx, RUNNING),
    "paused": lambda ctx: _containers(ctx, ("paused",)),
    "stopped": lambda ctx: _containers(ctx, NOT_RUNNING),
    "image": _images,
    "volume": _volumes,
    "network": _networks,
    "network-mode": lambda ctx: [*((m, "") for m in NETWORK_MODES), *_networks(ctx)],
    "pod": _pods,
    "object": lambda ctx: [*_containers(ctx), *_images(ctx), *_volumes(ctx), *_networks(ctx), *_pods(ctx)],
    "container-or-pod": lambda ctx: [*_containers(ctx), *_pods(ctx)],
    "kube-object": lambda ctx: [*_containers(ctx), *_pods(ctx), *_volumes(ctx)],
}
_PATH_KINDS = ("file", "dir")  # the shell completes these itself

_RUN = {"image": "image", "network": "network-mode", "pod": "pod", "volumes_from": "container",
        "volume": "volume-or-path", "env_file": "file", "cidfile": "file"}  # fmt: skip

# Which parameter names what, by command path (without "podpy") and parameter name. Paths under
# "container" and "image" fall back to the top-level command of the same name (``container rm`` = ``rm``).
KINDS: dict[str, dict[str, str]] = {
    "attach": {"containers": "running"},
    "commit": {"ref": "container"},
    "create": _RUN,
    "run": _RUN,
    "diff": {"ref": "container"},
    "exec": {"container": "running"},
    "export": {"ref": "container"},
    "kill": {"containers": "running"},
    "pause": {"containers": "running"},
    "unpause": {"containers": "paused"},
    "start": {"containers": "stopped"},
    "stop": {"containers": "running"},
    "top": {"container": "running"},
    "stats": {"containers": "running"},
    "inspect": {"names": "object"},
    "history": {"image": "image"},
    "push": {"image": "image"},
    "save": {"images": "image"},
    "rmi": {"images": "image"},
    "tag": {"args": "image"},
    "untag": {"args": "image"},
    "image rm": {"images": "image"},
    "image exists": {"image": "image"},
    "image inspect": {"names": "image"},
    "image tree": {"image": "image"},
    "generate systemd": {"ref": "container-or-pod"},
    "generate kube": {"refs": "kube-object"},
    "kube generate": {"refs": "kube-object"},
    "kube play": {"kubefile": "file", "network": "network"},
    "play kube": {"kubefile": "file"},
    "kube down": {"kubefile": "file"},
    "build": {"context": "dir"},
    "quadlet": {"outdirs": "dir"},
    "import": {"source": "file"},
    "cp": {"src": "file", "dest": "file"},
    "healthcheck run": {"container": "running"},
    "network connect": {"name": "network", "container": "container"},
    "network disconnect": {"name": "network", "container": "container"},
    "network reload": {"containers": "container"},
    "pod create": {"network": "network-mode", "name_arg": ""},
    "volume create": {"name": ""},
    "network create": {"name": ""},
    "volume import": {"source": "file"},
}
# by parameter name when the command has no row for it (an "" kind above means: complete nothing)
_BY_PARAM = {"container": "container", "containers": "container", "image": "image", "images": "image",
             "volumes_from": "container", "pod": "pod", "pods": "pod"}  # fmt: skip
_BY_GROUP = {"volume": "volume", "network": "network", "pod": "pod"}  # "volume rm NAMES" etc.
_GROUP_PARAMS = ("name", "names", "pod", "pods", "volume", "volumes", "network", "networks")
_NO_IMAGE = {"commit", "build"}  # IMAGE = the new image's name


def kind_of(path: str, param: click.Parameter) -> str:
    """What ``param`` of the command at ``path`` ("image rm") names: a key of ``_LISTERS`` or ""."""
    name = param.name or ""
    words = path.split()
    keys = (path, " ".join(words[1:])) if words[:1] in (["container"], ["image"]) else (path,)
    for key in keys:
        if name in KINDS.get(key, {}):
            return KINDS[key][name]
    if words and words[0] in _BY_GROUP and name in _GROUP_PARAMS:
        return _BY_GROUP[words[0]]
    if name in ("image", "images") and (any(k in _NO_IMAGE for k in keys) or not isinstance(param, click.Argument)):
        return ""
    return _BY_PARAM.get(name, "")


def _completer(kind: str) -> Callable[[click.Context, click.Parameter, str], list[CompletionItem]]:
    def complete(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
        if kind in _PATH_KINDS:
            return [CompletionItem(incomplete, type=kind)]
        if kind == "volume-or-path":  # -v SOURCE[:DEST]: a volume name or a host path, then the shell's paths
            if ":" in incomplete:
                return []
            return [CompletionItem(incomplete, type="file"), *_completer("volume")(ctx, param, incomplete)]
        try:
            entries = _LISTERS[kind](ctx)
        except Exception:  # noqa: BLE001 - a completion must never print a traceback into the shell
            return []
        typed = ctx.params.get(param.name or "")
        done = set(typed) if isinstance(typed, (list, tuple)) else set()
        return [CompletionItem(v) for v in _matches(entries, incomplete) if v not in done]

    return complete


def _matches(entries: Iterable[tuple[str, str]], incomplete: str) -> list[str]:
    """Names starting with what was typed; IDs (12 characters) only once a character of one is typed."""
    out: list[str] = []
    for name, ident in entries:
        if name and name.startswith(incomplete):
            out.append(name)
        elif incomplete and ident.startswith(incomplete):
            out.append(ident[:12] if len(incomplete) <= 12 else ident)
    return list(dict.fromkeys(out))


def attach(cmd: click.Command, path: str) -> None:
    """Give ``cmd`` (at ``path``, e.g. "container rm") and its subcommands their dynamic completions."""
    for param in cmd.params:
        kind = kind_of(path, param)
        if kind and getattr(param, "_custom_shell_complete", None) is None:
            param._custom_shell_complete = _completer(kind)  # what click's ``shell_complete=`` sets
    for name, sub in getattr(cmd, "commands", {}).items():
        attach(sub, f"{path} {name}")


def group_complete(group: click.Group, table: dict[str, tuple[str, str, str]], ctx: click.Context,
                   incomplete: str) -> list[CompletionItem]:  # fmt: skip
    """A lazy group's subcommands from its table (importing none of them), then its own flags."""
    rows = {name: row[2] for name, row in table.items()}
    rows.update((n, c.get_short_help_str()) for n, c in group.commands.items() if not c.hidden and n not in rows)
    items = [CompletionItem(n, help=h) for n, h in sorted(rows.items()) if n.startswith(incomplete)]
    return items + click.Command.shell_complete(group, ctx, incomplete)


def setup() -> None:
    """Before click answers a shell: zsh and fish answers without descriptions for ``--no-desc`` scripts."""
    from click import shell_completion as sc

    for shell in ("zsh", "fish"):
        base = sc.get_completion_class(shell)
        if base is not None and not getattr(base, "podpy_no_desc", False):
            attrs = {"format_completion": _no_desc(base), "podpy_no_desc": True}
            sc.add_completion_class(type(f"Podpy{base.__name__}", (base,), attrs), shell)


def _no_desc(base: type) -> Callable[[Any, CompletionItem], str]:
    def format_completion(self: Any, item: CompletionItem) -> str:
        if os.environ.get(NO_DESC_VAR):
            item.help = None
        return base.format_completion(self, item)  # type: ignore[no-any-return]

    return format_completion
