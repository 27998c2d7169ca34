"""``podpy generate systemd``: systemd unit text, as podman 4.3 writes it, from a container's record.

Pure functions: the engine gathers the facts (``ContainerFacts``: name, ID, the create command line,
environment, stop timeout, runroot, the monitor's PID file) and this module renders them. Two kinds
of unit, as Podman:

- ``--new``: the unit creates the container itself (``podpy run --cidfile=%t/%n.ctr-id --rm
  --sdnotify=conmon -d --replace …`` rebuilt from the recorded create command), ``Type=notify``
  with ``NotifyAccess=all``: podpy's monitor sends ``MAINPID``/``READY=1`` (``--sdnotify=conmon``),
  and ``ExecStop``/``ExecStopPost`` stop and remove it by the cidfile. Works as a user unit.
- otherwise: ``podpy start NAME``, ``Type=forking`` with the monitor's PID file.

Differences from podman 4.3, on purpose: ``--cgroups=no-conmon`` is not written (podpy's monitor is
never put in a cgroup of its own, and ``podpy run`` has no ``--cgroups``); ``--restart-sec`` is
written as ``RestartSec=`` (podman 4.3 accepts the flag and drops it); root flags of the create
command (``--root``/``--runroot``) are kept in the non-``--new`` unit too (later Podman does so);
a ``--template`` unit is written to ``NAME@.service`` (podman 4.3 drops the ``@`` from the file name).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from podpy.generate.unitfile import c_quote
from podpy.util.errors import PodpyError, UsageError

RESTART_POLICIES = ("no", "on-success", "on-failure", "on-abnormal", "on-watchdog", "on-abort", "always")
MIN_TIMEOUT_STOP_SEC = 60
ENV_VARIABLE = "PODMAN_SYSTEMD_UNIT"
CIDFILE = "%t/%n.ctr-id"

# flags of the root command that take a value (what may stand before ``run``/``create``)
ROOT_VALUE_FLAGS = frozenset({"--root", "--runroot", "--log-level", "--storage-driver", "--url"})


@dataclasses.dataclass
class Options:
    """``generate systemd``'s flags (already checked for conflicts by :func:`check_options`)."""

    new: bool = False
    use_name: bool = False
    restart_policy: str | None = None
    restart_sec: int | None = None
    stop_timeout: int | None = None
    start_timeout: int | None = None
    container_prefix: str = "container"
    pod_prefix: str = "pod"
    separator: str = "-"
    no_header: bool = False
    after: Sequence[str] = ()
    wants: Sequence[str] = ()
    requires: Sequence[str] = ()
    template: bool = False
    env: Sequence[str] = ()  # KEY=VALUE, already resolved against the caller's environment
    executable: str = "/usr/bin/podpy"  # the podpy command, escaped for a unit (may be several words)
    version: str = ""
    timestamp: str = ""


@dataclasses.dataclass
class PodRef:
    """What a container's unit needs of its pod's unit."""

    service: str  # the pod's service name (without .service)
    pod_id_file: str = ""  # e.g. %t/pod-NAME.pod-id (podman); empty: the container joins by ``--pod name``
    name: str = ""  # the pod's name (for ``--pod new:NAME``, which must become ``--pod NAME``)


@dataclasses.dataclass
class ContainerFacts:
    id: str
    name: str
    create_command: list[str]
    env: list[str]  # the container's KEY=VALUE environment (for ``-e KEY`` taken from the host)
    stop_timeout: int
    runroot: str  # RequiresMountsFor= of a non---new unit
    pid_file: str  # the monitor's PID file (non---new units)
    restart_policy: str = ""  # the container's own --restart (a warning for non---new units)
    pod: PodRef | None = None


def check_options(opts: Options) -> None:
    if opts.restart_policy is not None and opts.restart_policy not in RESTART_POLICIES:
        raise UsageError(f"{opts.restart_policy} is not a valid restart policy")


# --- escaping and layout, as Podman's ------------------------------------------------------------


def escape_arg(arg: str) -> str:
    """One word of a systemd command line: ``$``→``$$``, ``%``→``%%``, quoted when it has blanks or
    a double quote, backslashes doubled otherwise (systemd.service "Command lines")."""
    arg = arg.replace("$", "$$").replace("%", "%%")
    if any(c in arg for c in " \t\""):
        return c_quote(arg)
    return arg.replace("\\", "\\\\")


def format_options(words: Sequence[str]) -> str:
    """Podman's layout: every word starting with ``-`` on a continuation line of its own."""
    if not words:
        return ""
    out = [words[0]]
    for w in words[1:]:
        out.append((" \\\n\t" if w.startswith("-") else " ") + w)
    return "".join(out)


def service_name(prefix: str, separator: str, name: str) -> str:
    return prefix + separator + name if prefix else name


# --- the create command line ---------------------------------------------------------------------

TakesValue = Callable[[str], bool]


@dataclasses.dataclass
class ParsedRun:
    """A ``run``/``create`` argument list: option groups (each the words of one option) and the rest
    (image and command, never touched)."""

    groups: list[list[str]]
    positional: list[str]

    def names(self, group: list[str]) -> list[str]:
        w = group[0]
        if w.startswith("--"):
            return [w.split("=", 1)[0]]
        if w.startswith("-") and len(w) > 1:
            return [f"-{c}" for c in w[1:]]
        return []

    def has(self, *flags: str) -> bool:
        return any(n in flags for g in self.groups for n in self.names(g))

    def values(self, *flags: str) -> list[str]:
        out = []
        for g in self.groups:
            w = g[0]
            if w.startswith("--") and w.split("=", 1)[0] in flags:
                out.append(w.split("=", 1)[1] if "=" in w else (g[1] if len(g) > 1 else ""))
            elif not w.startswith("--") and len(w) == 2 and w in flags:
                out.append(g[1] if len(g) > 1 else "")
            elif not w.startswith("--") and len(w) > 2 and f"-{w[1]}" in flags:
                out.append(w[2:])  # -eFOO=bar
        return out

    def without(self, *flags: str) -> ParsedRun:
        """A copy without the (long) options named."""
        keep = [g for g in self.groups if not (g[0].startswith("--") and g[0].split("=", 1)[0] in flags)]
        return ParsedRun(keep, self.positional)

    def with_option(self, *words: str) -> ParsedRun:
        return ParsedRun([*self.groups, list(words)], self.positional)

    def words(self) -> list[str]:
        return [w for g in self.groups for w in g] + self.positional


def parse_run_args(args: Sequence[str], takes_value: TakesValue) -> ParsedRun:
    """Split ``run``'s arguments as its parser does (options stop at the image: no interspersing)."""
    groups: list[list[str]] = []
    i = 0
    while i < len(args):
        w = args[i]
        if w == "--":
            groups.append([w])
            i += 1
            break
        if w.startswith("--"):
            if "=" not in w and takes_value(w) and i + 1 < len(args):
                groups.append([w, args[i + 1]])
                i += 2
            else:
                groups.append([w])
                i += 1
            continue
        if w.startswith("-") and len(w) > 1:
            consumed = False
            for k, c in enumerate(w[1:], start=1):
                if takes_value(f"-{c}"):
                    if k == len(w) - 1 and i + 1 < len(args):  # value is the next word
                        groups.append([w, args[i + 1]])
                        consumed = True
                    break
            if not consumed:
                groups.append([w])
            i += 2 if consumed else 1
            continue
        break
    return ParsedRun(groups, list(args[i:]))


def split_create_command(cmd: Sequence[str]) -> tuple[list[str], int]:
    """(root flags, index after ``run``/``create``) of a recorded create command."""
    i = 1
    while i < len(cmd):
        w = cmd[i]
        if w in ("run", "create"):
            return list(cmd[1:i]), i + 1
        i += 2 if w in ROOT_VALUE_FLAGS else 1
    raise PodpyError(f"container's create command is too short or invalid: [{' '.join(cmd)}]")


# --- units ---------------------------------------------------------------------------------------


def header(service: str, opts: Options, *, template: bool, runroot: str) -> list[str]:
    lines = [f"# {service}{'@' if template else ''}.service"]
    if not opts.no_header:
        lines.append(f"# autogenerated by podpy {opts.version}")
        if opts.timestamp:
            lines.append(f"# {opts.timestamp}")
    lines += [
        "",
        "[Unit]",
        f"Description=Podman {service}.service{' for %I' if template else ''}",
        "Documentation=man:podman-generate-systemd(1)",
        "Wants=network-online.target",
        "After=network-online.target",
        f"RequiresMountsFor={runroot}",
    ]
    return lines


def user_deps(opts: Options) -> list[str]:
    lines = []
    if opts.wants or opts.after or opts.requires:
        lines += ["", "# User-defined dependencies"]
    if opts.wants:
        lines.append("Wants=" + " ".join(opts.wants))
    if opts.after:
        lines.append("After=" + " ".join(opts.after))
    if opts.requires:
        lines.append("Requires=" + " ".join(opts.requires))
    return lines


def env_lines(opts: Options, extra: Sequence[str], template: bool) -> list[str]:
    lines = [f"Environment={ENV_VARIABLE}=%n{'-%i' if template else ''}"]
    if extra:
        lines.append("Environment=" + " ".join(extra))
    lines += [f"Environment={escape_arg(e)}" for e in opts.env]
    return lines


def restart_lines(policy: str, opts: Options, burst: str, stop_timeout: int) -> list[str]:
    lines = [f"Restart={policy}"]
    if opts.restart_sec:
        lines.append(f"RestartSec={opts.restart_sec}")
    if burst:
        lines.append(f"StartLimitBurst={burst}")
    if opts.start_timeout:
        lines.append(f"TimeoutStartSec={opts.start_timeout}")
    lines.append(f"TimeoutStopSec={MIN_TIMEOUT_STOP_SEC + stop_timeout}")
    return lines


def container_unit(facts: ContainerFacts, opts: Options, takes_value: TakesValue) -> tuple[str, str]:
    """(service name, unit text) of one container."""
    check_options(opts)
    new = opts.new or opts.template  # podman 4.3: --template implies --new
    name_or_id = facts.name if opts.use_name else facts.id
    service = service_name(opts.container_prefix, opts.separator, name_or_id)
    stop_timeout = facts.stop_timeout if opts.stop_timeout is None else opts.stop_timeout
    if not facts.create_command and new:
        raise PodpyError(
            f"cannot use --new on container {facts.id!r}: no create command found: "
            "only works on containers created directly with podpy"
        )
    root_flags: list[str] = []
    start_idx = 0
    if facts.create_command:
        try:
            root_flags, start_idx = split_create_command(facts.create_command)
        except PodpyError:
            if new:
                raise
    exe = opts.executable
    root = [escape_arg(w) for w in root_flags]
    cmd = [" ".join([exe, *root])]  # podpy and its root flags as one word: no line breaks inside (Podman's)
    policy, burst, extra_env = opts.restart_policy or "on-failure", "", []
    lines = header(service, opts, template=new and opts.template, runroot="%t/podpy" if new else facts.runroot)
    if facts.pod is not None:
        lines += [f"BindsTo={facts.pod.service}.service", f"After={facts.pod.service}.service"]
    lines += user_deps(opts)
    if new:
        parsed = parse_run_args(facts.create_command[start_idx:], takes_value)
        start = [exe, *root, "run", f"--cidfile={CIDFILE}", "--rm"]  # root flags: words of their own
        sdnotify = parsed.values("--sdnotify")
        rest = parsed.without("--rm", "--cgroups", "--cidfile", "--restart")
        if facts.pod is not None and facts.pod.pod_id_file:
            start += ["--pod-id-file", facts.pod.pod_id_file]
            rest = rest.without("--pod", "--pod-id-file")
        elif facts.pod is not None:  # the pod's unit creates the pod: join it, never make another
            rest = rest.without("--pod").with_option("--pod", facts.pod.name)
        if not sdnotify:
            start.append("--sdnotify=conmon")
        elif sdnotify[-1] == "ignore":  # Type=notify would wait forever
            rest = rest.without("--sdnotify")
            start.append("--sdnotify=conmon")
        if not parsed.has("-d", "--detach"):
            start.append("-d")
        if parsed.has("--name") and not parsed.has("--replace"):
            start.append("--replace")
        if opts.restart_policy is None:
            for value in parsed.values("--restart")[-1:]:
                if value.startswith("on-failure:"):
                    value, burst = value.split(":", 1)
                elif value == "unless-stopped":
                    value = "always"
                policy = value or policy
        for env in parsed.values("-e", "--env"):
            if "=" not in env:
                extra_env += [escape_arg(e) for e in facts.env if e.split("=", 1)[0] == env]
        words = [*start, *[escape_arg(w) for w in rest.words()]]  # podpy's own words need no escaping
        if opts.template:
            words = _template_name(words, service, 1 + len(root))
        exec_start = format_options(words)
        lines += ["", "[Service]", *env_lines(opts, extra_env, opts.template)]
        lines += restart_lines(policy, opts, burst, stop_timeout)
        lines += [
            "ExecStartPre=" + format_options(["/bin/rm", "-f", CIDFILE]),
            f"ExecStart={exec_start}",
            "ExecStop=" + format_options([*cmd, "stop", f"--ignore -t {stop_timeout}", f"--cidfile={CIDFILE}"]),
            "ExecStopPost=" + format_options([*cmd, "rm", "-f", f"--ignore -t {stop_timeout}", f"--cidfile={CIDFILE}"]),
            "Type=notify",
            "NotifyAccess=all",
        ]
    else:
        target = escape_arg(name_or_id)
        stop = format_options([*cmd, "stop ", f"-t {stop_timeout}", target])  # podman's two blanks
        lines += ["", "[Service]", *env_lines(opts, (), False)]
        lines += restart_lines(policy, opts, "", stop_timeout)
        lines += [
            "ExecStart=" + " ".join([*cmd, "start", target]),
            f"ExecStop={stop}",
            f"ExecStopPost={stop}",
            f"PIDFile={facts.pid_file}",
            "Type=forking",
        ]
    lines += ["", "[Install]", "WantedBy=default.target", ""]
    return service, "\n".join(lines)


def _template_name(words: list[str], service: str, run_at: int) -> list[str]:
    """``--template``: the container name gets ``-%i``; without ``--name``, one is added after ``run``."""
    words = list(words)
    for i, w in enumerate(words):
        if w == "--name" and i + 1 < len(words):
            words[i + 1] += "-%i"
            return words
        if w.startswith("--name="):
            words[i] += "-%i"
            return words
    words.insert(run_at + 1, f"--name={service}-%i")
    return words


def unit_file_name(service: str, template: bool) -> str:
    return f"{service}{'@' if template else ''}.service"
