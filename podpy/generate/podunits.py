"""``generate systemd POD``: the pod's unit and one unit per member container, bound to it
(``BindsTo=``/``After=``), the pod's unit ``Wants=``/``Before=`` them, as podman 4.3 writes them.

Without ``--new`` the pod's unit starts the existing infra container (``Type=forking``, the infra's
monitor as PIDFile), exactly as Podman. With ``--new`` Podman's pod unit runs ``pod create
--pod-id-file --infra-conmon-pidfile --exit-policy=stop --replace`` and members ``run --pod-id-file``:
podpy has none of these flags, so its pod unit removes a leftover pod of the name, creates the pod from
its recorded create command, starts it, and is ``Type=oneshot`` with ``RemainAfterExit=yes`` (the infra's
monitor PID is not known before the pod exists); members join by ``--pod NAME``.
"""

from __future__ import annotations

from podpy.generate.collect import container_facts
from podpy.generate.systemd import (
    Options,
    PodRef,
    TakesValue,
    check_options,
    container_unit,
    env_lines,
    escape_arg,
    format_options,
    header,
    restart_lines,
    service_name,
    user_deps,
)
from podpy.util.errors import NotFoundError, PodpyError, UsageError
from podpy.util.paths import Paths


def generate_pod_units(paths: Paths, ref: str, opts: Options, takes_value: TakesValue) -> list[tuple[str, str]]:
    from podpy.engine import containers, pods
    from podpy.generate.collect import not_found

    check_options(opts)
    try:
        pod, members = pods.lookup(paths, ref)
    except NotFoundError:
        raise not_found(ref) from None
    if opts.template:
        raise UsageError("--template is not supported for pods")
    infra = next((r for r in members if r.id == pod.infra_id), None)
    if infra is None:
        raise PodpyError(f"generating systemd unit for pod {pod.name}: pod has no infra container")
    service = service_name(opts.pod_prefix, opts.separator, pod.name if opts.use_name else pod.id)
    ref_for_members = PodRef(service, "", pod.name)
    units = []
    for rec in members:
        if rec.id == pod.infra_id:
            continue
        units.append(container_unit(container_facts(paths, rec, ref_for_members), opts, takes_value))
    units.sort()
    infra_facts = container_facts(paths, infra)
    pod_cmd = list(pod.config.get("create_command") or [])
    if opts.new and not pod_cmd:
        raise PodpyError(f"cannot use --new on pod {pod.name!r}: no create command found")
    exe = opts.executable
    root = " ".join(escape_arg(w) for w in _root_flags(pod_cmd or infra_facts.create_command))
    cmd = [" ".join(w for w in (exe, root) if w)]
    stop_timeout = infra_facts.stop_timeout if opts.stop_timeout is None else opts.stop_timeout
    target = escape_arg(infra.name if opts.use_name else infra.id)
    stop = format_options([*cmd, "stop ", f"-t {stop_timeout}", target])
    lines = header(service, opts, template=False, runroot="%t/podpy" if opts.new else str(paths.runroot))
    if units:
        lines += ["Wants=" + " ".join(f"{s}.service" for s, _ in units),
                  "Before=" + " ".join(f"{s}.service" for s, _ in units)]  # fmt: skip
    lines += user_deps(opts)
    lines += ["", "[Service]", *env_lines(opts, (), False)]
    lines += restart_lines(opts.restart_policy or "on-failure", opts, "", stop_timeout)
    if opts.new:
        name = escape_arg(pod.name)
        lines += [
            "ExecStartPre=-" + format_options([*cmd, "pod", "rm", "-f", "--ignore", name]),  # as --replace
            "ExecStartPre=" + format_options([*cmd, "pod", "create", *_pod_create_args(pod_cmd, pod.name)]),
            f"ExecStart={cmd[0]} pod start {name}",
            "ExecStop=" + format_options([*cmd, "pod", "stop", "--ignore", f"-t {stop_timeout}", name]),
            "ExecStopPost=" + format_options([*cmd, "pod", "rm", "--ignore", "-f", name]),
            "Type=oneshot",
            "RemainAfterExit=yes",
        ]
    else:
        lines += [
            f"ExecStart={cmd[0]} start {target}",
            f"ExecStop={stop}",
            f"ExecStopPost={stop}",
            f"PIDFile={containers.state_dir(paths, infra.id) / 'monitor.pid'}",
            "Type=forking",
        ]
    lines += ["", "[Install]", "WantedBy=default.target", ""]
    return [(service, "\n".join(lines)), *units]


def _pod_create_args(cmd: list[str], name: str) -> list[str]:
    """``pod create``'s recorded arguments (escaped), named: the unit must recreate this very pod."""
    idx = next((i for i in range(len(cmd) - 1) if cmd[i] == "pod" and cmd[i + 1] == "create"), None)
    if idx is None:
        raise PodpyError(f"pod's create command is too short or invalid: [{' '.join(cmd)}]")
    args = cmd[idx + 2 :]
    if not any(a == "--name" or a.startswith("--name=") for a in args):
        args = ["--name", name, *args]
    return [escape_arg(a) for a in args]


def _root_flags(cmd: list[str]) -> list[str]:
    from podpy.generate.systemd import ROOT_VALUE_FLAGS

    out, i = [], 1
    while i < len(cmd) and cmd[i].startswith("-"):
        take = 2 if cmd[i] in ROOT_VALUE_FLAGS else 1
        out += cmd[i : i + take]
        i += take
    return out
