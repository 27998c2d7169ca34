"""``python -m podpy.runtime``: podpy's runtime behind the OCI runtime command line (like runc).

Verbs: ``create``, ``start``, ``state``, ``kill``, ``delete``, ``run``, ``exec``, with runc's flag names
(``--root``, ``--bundle``, ``--pid-file``, ``--preserve-fds``, ``--force``), so whatever drives
runc can drive this. argparse, not click: a runtime start must stay cheap.
Exit codes: ``run`` returns the container's; errors exit 1, or 126/127 for exec problems.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys

from podpy.runtime import executor
from podpy.util.errors import PodpyError


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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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


def _exec(root: str, args: argparse.Namespace) -> int:
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
