"""``python -m podpy.runtime``: podpy's runtime behind the OCI runtime command line (like runc).

Verbs: ``create``, ``start``, ``state``, ``kill``, ``delete``, ``run``, ``exec``, with runc's flag names
(``--root``, ``--bundle``, ``--pid-file``, ``--preserve-fds``, ``--force``), so whatever drives
runc can drive this. argparse, not click: a runtime start must stay cheap.
Exit codes: ``run`` returns the container's; errors exit 1, or 126/127 for exec problems.

The command lines podpy itself passes (the monitor's ``--root R create --bundle B --pid-file P ID``,
``start ID``, ``delete --force ID``, ...) are read by :func:`parse_fast` without argparse (building
the parser and importing argparse cost ~5 ms of a container start); anything else, help and errors
go to argparse, so they behave exactly as before.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from types import SimpleNamespace

from podpy.runtime import executor
from podpy.util.errors import PodpyError

TYPE_CHECKING = False  # not typing's: importing typing costs every command start-up time
if TYPE_CHECKING:
    import argparse


def default_root() -> str:
    rd = os.environ.get("XDG_RUNTIME_DIR")
    if os.geteuid() != 0 and rd:
        return os.path.join(rd, "podpy-runtime")
    return "/run/podpy-runtime" if os.geteuid() == 0 else f"/tmp/podpy-runtime-{os.getuid()}"


def parse_signal(text: str) -> int:
    t = text.upper()
    if t.isdigit():
        return int(t)
    if not t.startswith("SIG"):
        t = "SIG" + t
    try:
        return int(signal.Signals[t])
    except KeyError:
        raise PodpyError(f"unknown signal {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    import argparse  # here, not at module level: the fast path (parse_fast) never needs it

    p = argparse.ArgumentParser(prog="podpy-runtime", description="podpy's OCI runtime")
    p.add_argument("--root", default=None, help="state directory")
    p.add_argument("--log", default=None, help="ignored (runc compatibility)")
    p.add_argument("--log-format", default=None, help="ignored (runc compatibility)")
    p.add_argument("--debug", action="store_true", help="ignored (runc compatibility)")
    p.add_argument("--systemd-cgroup", action="store_true", help="refused: no cgroup support")
    sub = p.add_subparsers(dest="verb", required=True)
    for verb in ("create", "run"):
        s = sub.add_parser(verb)
        s.add_argument("--bundle", "-b", default=".")
        s.add_argument("--pid-file", default=None)
        s.add_argument("--preserve-fds", type=int, default=0)
        s.add_argument("--console-socket", default=None)
        s.add_argument("--no-pivot", action="store_true")
        s.add_argument("--no-new-keyring", action="store_true")
        s.add_argument("id")
    for verb in ("start", "state"):
        sub.add_parser(verb).add_argument("id")
    k = sub.add_parser("kill")
    k.add_argument("--all", "-a", action="store_true")
    k.add_argument("id")
    k.add_argument("signal", nargs="?", default="SIGTERM")
    e = sub.add_parser("exec")
    e.add_argument(
        "--process", "-p", default=None, help="process.json (otherwise the container's, overridden)"
    )
    e.add_argument("--cwd", default=None)
    e.add_argument("--env", "-e", action="append", default=[])
    e.add_argument("--user", "-u", default=None, help="uid[:gid]")
    e.add_argument("--preserve-fds", type=int, default=0)
    e.add_argument("id")
    e.add_argument("command", nargs=argparse.REMAINDER)
    d = sub.add_parser("delete")
    d.add_argument("--force", "-f", action="store_true")
    d.add_argument("id")
    return p


# parse_fast's tables: the subset of build_parser's options it reads, with argparse's dest and default.
_GLOBAL_VALUES = {"--root": "root", "--log": "log", "--log-format": "log_format"}
_GLOBAL_FLAGS = {"--debug": "debug", "--systemd-cgroup": "systemd_cgroup"}
_CREATE_VALUES = {"--bundle": "bundle", "-b": "bundle", "--pid-file": "pid_file",
                  "--preserve-fds": "preserve_fds", "--console-socket": "console_socket"}  # fmt: skip
_CREATE_FLAGS = {"--no-pivot": "no_pivot", "--no-new-keyring": "no_new_keyring"}
_CREATE_DEFAULTS = {"bundle": ".", "pid_file": None, "preserve_fds": 0, "console_socket": None,
                    "no_pivot": False, "no_new_keyring": False}  # fmt: skip
# verb -> (value options, flag options, defaults); every verb takes the container ``id``, ``kill`` an
# optional ``signal`` after it
_Verb = tuple[dict[str, str], dict[str, str], dict[str, object]]
_VERBS: dict[str, _Verb] = {
    "create": (_CREATE_VALUES, _CREATE_FLAGS, _CREATE_DEFAULTS),
    "run": (_CREATE_VALUES, _CREATE_FLAGS, _CREATE_DEFAULTS),
    "start": ({}, {}, {}),
    "state": ({}, {}, {}),
    "kill": ({}, {"--all": "all", "-a": "all"}, {"all": False, "signal": "SIGTERM"}),
    "delete": ({}, {"--force": "force", "-f": "force"}, {"force": False}),
}
_INT_DESTS = ("preserve_fds",)


def parse_fast(argv: list[str]) -> SimpleNamespace | None:
    """``argv`` read as :func:`build_parser`'s parser reads it, or None when it is not one of the plain
    shapes read here (then argparse decides: its errors, help and corner cases stay its own).

    Read: global options, then a verb among ``_VERBS``, then its options, then its positionals;
    option values as the next word (not starting with ``-``) or ``--long=value``. Declined: any
    other word starting with ``-`` (help, ``--``, abbreviations, short-option clusters, negative
    numbers), an option after a positional, a wrong number of positionals, a non-decimal int.
    """
    ns: dict[str, object] = {"root": None, "log": None, "log_format": None, "debug": False,
                             "systemd_cgroup": False}  # fmt: skip
    i = _read_options(argv, 0, _GLOBAL_VALUES, _GLOBAL_FLAGS, ns)
    if i is None or i >= len(argv) or argv[i] not in _VERBS:
        return None
    verb = argv[i]
    values, flags, defaults = _VERBS[verb]
    ns["verb"] = verb
    ns.update(defaults)
    i = _read_options(argv, i + 1, values, flags, ns)
    if i is None:
        return None
    rest = argv[i:]
    if not 1 <= len(rest) <= (2 if verb == "kill" else 1) or any(a.startswith("-") for a in rest):
        return None
    ns["id"] = rest[0]
    if len(rest) == 2:
        ns["signal"] = rest[1]
    return SimpleNamespace(**ns)


def _read_options(
    argv: list[str], i: int, values: dict[str, str], flags: dict[str, str], ns: dict[str, object]
) -> int | None:
    """Options from ``argv[i]`` on into ``ns`` (the last of a repeated option wins, as argparse);
    the index of the first word that is not an option, or None to decline."""
    while i < len(argv) and argv[i].startswith("-"):
        word = argv[i]
        if word in flags:
            ns[flags[word]] = True
            i += 1
            continue
        name, eq, value = word.partition("=")
        if eq:
            if not (name.startswith("--") and name in values and value):
                return None  # ``-b=X``, ``--flag=X``, ``--opt=``: argparse's to judge
            i += 1
        elif word in values and i + 1 < len(argv) and not argv[i + 1].startswith("-"):
            name, value = word, argv[i + 1]
            i += 2
        else:
            return None
        dest = values[name]
        if dest in _INT_DESTS:
            if not (value.isascii() and value.isdigit()):
                return None
            ns[dest] = int(value)
        else:
            ns[dest] = value
    return i


def parse_args(argv: list[str]) -> argparse.Namespace | SimpleNamespace:
    """The fast path when it reads ``argv``, else argparse (which may exit: help, usage errors)."""
    args = parse_fast(argv)
    return args if args is not None else build_parser().parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    root = args.root or default_root()
    try:
        if args.systemd_cgroup:
            raise PodpyError("--systemd-cgroup is not supported by podpy's runtime")
        if args.verb in ("create", "run"):
            if args.verb == "create":
                executor.create(
                    args.bundle,
                    args.id,
                    root,
                    pid_file=args.pid_file,
                    preserve_fds=args.preserve_fds,
                    console_socket=args.console_socket,
                )
                return 0
            return executor.run(
                args.bundle,
                args.id,
                root,
                pid_file=args.pid_file,
                preserve_fds=args.preserve_fds,
                console_socket=args.console_socket,
            )
        if args.verb == "start":
            executor.start(root, args.id)
        elif args.verb == "state":
            print(json.dumps(executor.state(root, args.id).to_json(), indent=2))
        elif args.verb == "kill":
            executor.kill(root, args.id, parse_signal(args.signal))
        elif args.verb == "exec":
            return _exec(root, args)
        elif args.verb == "delete":
            executor.delete(root, args.id, force=args.force)
        return 0
    except PodpyError as e:
        print(f"podpy-runtime: {e.message}", file=sys.stderr)
        return e.exit_code if e.exit_code in (126, 127) else 1


def _exec(root: str, args: argparse.Namespace | SimpleNamespace) -> int:
    """runc's ``exec``: ``--process FILE``, or the container's own process with the command and overrides."""
    from podpy.runtime import nsexec

    if args.process:
        with open(args.process, "rb") as f:
            proc = json.load(f)
    else:
        if not args.command:
            raise PodpyError("exec: a command is required (or --process)")
        proc = dict(executor.load_config(executor.state(root, args.id).bundle)["process"])
        proc["args"] = list(args.command)
        proc["terminal"] = False
        proc["env"] = [*(proc.get("env") or []), *args.env]
        if args.cwd:
            proc["cwd"] = args.cwd
        if args.user:
            uid, _, gid = args.user.partition(":")
            proc["user"] = {"uid": int(uid), "gid": int(gid or 0)}
    return nsexec.exec_process(root, args.id, proc, preserve_fds=args.preserve_fds)


if __name__ == "__main__":
    sys.exit(main())
