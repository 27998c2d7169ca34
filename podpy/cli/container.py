"""``podpy run``: its flags (``RUN_OPTIONS``, shared with ``create`` and ``container run|create``) and
``run_main``, which turns them into a ContainerSpec and runs it, whichever parser read the line.

Every flag Podman has that podpy does not implement yet is either unknown to click (which
refuses it) or declared here and refused with a one-line error: never accepted and ignored.
"""

from __future__ import annotations

import json
import os
import sys

from podpy.cli.main import options_of as _opts
from podpy.util.errors import UsageError

TYPE_CHECKING = False  # not typing's: the fast path must not pay for importing typing
if TYPE_CHECKING:
    from typing import Any


def parse_entrypoint(text: str) -> list[str]:
    """``--entrypoint`` is a string (one word) or a JSON array, as in Podman."""
    if text.startswith("["):
        try:
            v = json.loads(text)
        except ValueError:
            raise UsageError(f"invalid --entrypoint {text!r}: not a JSON array") from None
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise UsageError(f"invalid --entrypoint {text!r}: must be an array of strings")
        return v
    return [text] if text else []


def read_env_file(path: str) -> list[str]:
    """``--env-file``: KEY=VALUE lines, ``#`` comments, ``KEY`` alone takes the host's value."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise UsageError(f"open {path}: {e.strerror.lower() if e.strerror else e}") from None
    out = []
    for n, line in enumerate(lines, 1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        name = s.split("=", 1)[0]
        if not name or any(c.isspace() for c in name):
            raise UsageError(f"{path}:{n}: invalid environment variable line {line!r}")
        out.append(s if "=" in s else name)
    return out


def expose_keys(items: tuple[str, ...]) -> list[str]:
    """``--expose``: the ExposedPorts keys (``8080/tcp``) it adds, checked here (before anything exists)."""
    if not items:
        return []
    from podpy.network.options import parse_expose

    return list(parse_expose(items))


def pod_of(kw: dict[str, Any]) -> str | None:
    """``--pod NAME`` or the ID in ``--pod-id-file`` (never both, as Podman)."""
    if kw["pod_id_file"] is None:
        return kw["pod"]
    if kw["pod"]:
        raise UsageError("cannot specify both --pod and --pod-id-file")
    from podpy.engine.pods import read_pod_id_file

    return read_pod_id_file(kw["pod_id_file"])


def read_label_files(paths: tuple[str, ...]) -> list[str]:
    """``--label-file``: KEY=VALUE lines, ``#`` comments and lines without ``=`` skipped (as Podman)."""
    out = []
    for path in paths:
        try:
            with open(path, encoding="utf-8") as f:
                lines = f.read().splitlines()
        except OSError as e:
            raise UsageError(f"unable to process labels: open {path}: {(e.strerror or str(e)).lower()}") from None
        out += [s for s in (ln.strip() for ln in lines) if s and not s.startswith("#") and "=" in s]
    return out


def monitor_options(kw: dict[str, Any], mounts: list[Any], env: dict[str, str]) -> dict[str, Any]:
    """The ContainerSpec fields of --log-*, --restart, --health-*, --sdnotify (issue 4's monitor features)."""
    from podpy.engine.health import cli_monitor_options

    return cli_monitor_options(kw, mounts, env)


def _find_init(path: str | None, runroot: Any) -> str:
    from podpy.runtime.init import find_init  # only for --init: it imports hashlib

    return find_init(path, runroot)


def network_options(kw: dict[str, Any]) -> dict[str, Any]:
    """The ContainerSpec fields of --network, -p/-P, --dns*, --add-host, --no-hosts (checked as Podman does)."""
    ports: list[dict[str, Any]] = []
    if kw["network"] not in ("none", "host", "private") or kw["publish"] or kw["dns"] or kw["add_host"]:
        from podpy.network import options

        options.parse_network(kw["network"])
        options.parse_add_host(kw["add_host"])
        ports = [m for p in kw["publish"] for m in options.parse_publish(p)]
        options.expand_ports(ports)  # a host port given twice fails here
    return {"network": kw["network"] or "private", "ports": ports, "publish_all": kw["publish_all"],
            "dns": options.parse_dns(kw["dns"]) if kw["dns"] else [], "dns_search": list(kw["dns_search"]),
            "dns_options": list(kw["dns_option"]), "add_hosts": list(kw["add_host"]), "no_hosts": kw["no_hosts"],
            **_bridge_fields(kw)}  # fmt: skip


def _bridge_fields(kw: dict[str, Any]) -> dict[str, Any]:
    """User-defined networks: ``network="bridge"`` and ``networks`` from --network, --ip, --network-alias, --mac-address."""
    if kw["network"] in ("none", "host", "private") and not (kw["ip"] or kw["network_alias"] or kw["mac_address"]):
        return {}
    from podpy.network import netopts, options

    mode = options.parse_network(kw["network"] or "private")
    return netopts.network_fields(mode, kw["ip"], kw["network_alias"], kw["mac_address"])


def parse_security_opts(opts: tuple[str, ...]) -> tuple[bool, str | None]:
    nnp, seccomp = False, None
    for o in opts:
        key, _, val = (
            o.replace(":", "=", 1).partition("=") if o.startswith("no-new-privileges") else o.partition("=")
        )
        if key == "no-new-privileges":
            if val not in ("", "true", "false"):
                raise UsageError(f"invalid --security-opt {o!r}")
            nnp = val != "false"
        elif key == "seccomp":
            if not val:
                raise UsageError("--security-opt seccomp needs a value: unconfined or a profile path")
            seccomp = val
        elif key in ("label", "apparmor", "mask", "unmask", "proc-opts", "systempaths"):
            raise UsageError(f"--security-opt {key} is not supported yet")
        else:
            raise UsageError(f"invalid --security-opt {o!r}: unknown option {key!r}")
    return nnp, seccomp


# ``run``'s flags (``create`` and ``container run|create`` share them). One row per flag:
# (name, flags, click.option keywords with type "bool"/"int" as strings). The click command is built
# from this table only when click parses the command line; the click-free fast path
# (``podpy.cli.fastargs.parse_options``) reads the same rows. Add a flag by adding a row.
RUN_OPTIONS: tuple[tuple[str, tuple[str, ...], dict[str, Any]], ...] = (
    ('remove', ('--rm',), dict(is_flag=True, help='Remove container (and pod if created) after exit')),
    ('rmi', ('--rmi',), dict(is_flag=True, help='Remove image unless used by other containers, implies --rm')),
    ('env', ('-e', '--env'), dict(multiple=True, help='Set environment variables in container')),
    ('env_file', ('--env-file',), dict(multiple=True, help='Read in a file of environment variables')),
    ('env_host', ('--env-host',), dict(is_flag=True, help='Use all current host environment variables in container')),
    ('workdir', ('-w', '--workdir'), dict(default=None, help='Working directory inside the container')),
    ('user', ('-u', '--user'), dict(default=None, help='Username or UID (format: <name|uid>[:<group|gid>])')),
    ('group_add', ('--group-add',), dict(multiple=True, help='Add additional groups to the primary container process')),
    ('entrypoint', ('--entrypoint',), dict(default=None, help='Overwrite the default ENTRYPOINT of the image')),
    ('name', ('--name',), dict(default=None, help='Assign a name to the container')),
    ('hostname', ('-h', '--hostname'), dict(default=None, help='Set container hostname')),
    ('network', ('--network', '--net'), dict(default='private', help='Connect a container to a network')),
    ('ip', ('--ip',), dict(default=None, help='Specify a static IPv4 address for the container')),
    ('network_alias', ('--network-alias',), dict(multiple=True, help='Add network-scoped alias for the container')),
    ('mac_address', ('--mac-address',), dict(default=None, help='Container MAC address (e.g. 92:d0:c6:0a:29:33)')),
    ('pod', ('--pod',), dict(default='', help='Run container in an existing pod ("new:NAME" creates the pod)')),
    ('publish', ('-p', '--publish'), dict(multiple=True, help="Publish a container's port, or a range of ports, to the host")),
    ('publish_all', ('-P', '--publish-all'), dict(is_flag=True, help='Publish all exposed ports to random ports on the host interfaces')),
    ('dns', ('--dns',), dict(multiple=True, help='Set custom DNS servers')),
    ('dns_search', ('--dns-search',), dict(multiple=True, help='Set custom DNS search domains')),
    ('dns_option', ('--dns-option', '--dns-opt'), dict(multiple=True, help='Set custom DNS options')),
    ('add_host', ('--add-host',), dict(multiple=True, help='Add a custom host-to-IP mapping (host:ip)')),
    ('no_hosts', ('--no-hosts',), dict(is_flag=True, help='Do not create /etc/hosts within the container, instead use the version from the image')),
    ('read_only', ('--read-only',), dict(is_flag=True, help='Make containers root filesystem read-only')),
    ('read_only_tmpfs', ('--read-only-tmpfs',), dict(type="bool", default=True, help='When running --read-only, mount tmpfs on /run, /tmp and /var/tmp')),
    ('cap_add', ('--cap-add',), dict(multiple=True, help='Add capabilities to the container')),
    ('cap_drop', ('--cap-drop',), dict(multiple=True, help='Drop capabilities from the container')),
    ('privileged', ('--privileged',), dict(is_flag=True, help='Give extended privileges to container')),
    ('security_opt', ('--security-opt',), dict(multiple=True, help='Security Options')),
    ('ulimit', ('--ulimit',), dict(multiple=True, help='Ulimit options')),
    ('volume', ('-v', '--volume'), dict(multiple=True, help='Bind mount a volume into the container')),
    ('volumes_from', ('--volumes-from',), dict(multiple=True, help='Mount volumes from the specified container(s)')),
    ('mount_', ('--mount',), dict(multiple=True, help='Attach a filesystem mount to the container')),
    ('tmpfs', ('--tmpfs',), dict(multiple=True, help='Mount a temporary filesystem (tmpfs) into a container')),
    ('pull', ('--pull',), dict(default='missing', help='Pull image policy ("always"|"missing"|"never"|"newer")')),
    ('platform', ('--platform',), dict(default=None, help='Specify the platform for selecting the image')),
    ('arch', ('--arch',), dict(default=None, help='use ARCH instead of the architecture of the machine for choosing images')),
    ('os_', ('--os',), dict(default=None, help='use OS instead of the running OS for choosing images')),
    ('variant', ('--variant',), dict(default=None, help='Use VARIANT instead of the running architecture variant for choosing images')),
    ('authfile', ('--authfile',), dict(default=None, help='Path of the authentication file')),
    ('tls_verify', ('--tls-verify',), dict(type="bool", default=None, help='Require HTTPS and verify certificates when contacting registries')),
    ('quiet', ('-q', '--quiet'), dict(is_flag=True, help='Suppress output information when pulling images')),
    ('interactive', ('-i', '--interactive'), dict(is_flag=True, help='Keep STDIN open even if not attached')),
    ('tty', ('-t', '--tty'), dict(is_flag=True, help='Allocate a pseudo-TTY for container')),
    ('detach', ('-d', '--detach'), dict(is_flag=True, help='Run container in background and print container ID')),
    ('annotation', ('--annotation',), dict(multiple=True, help='Add annotations to container (key=value)')),
    ('preserve_fds', ('--preserve-fds',), dict(type="int", default=0, help='Pass a number of additional file descriptors into the container')),
    ('runtime', ('--runtime',), dict(default=None, help='Path to the OCI-compatible binary used to run containers')),
    ('init', ('--init',), dict(is_flag=True, help='Run an init inside the container that forwards signals and reaps processes')),
    ('init_path', ('--init-path',), dict(default=None, help='Path to the container-init binary')),
    ('shm_size', ('--shm-size',), dict(default=None, help='Size of /dev/shm (format: <number>[<unit>])')),
    ('label', ('-l', '--label'), dict(multiple=True, help='Set metadata on container')),
    ('image_volume', ('--image-volume',), dict(default='bind', help='Tells podman how to handle the builtin image volumes ("bind"|"tmpfs"|"ignore")')),
    ('requires', ('--requires',), dict(multiple=True, help='Add one or more requirement containers that must be started before this container will start')),
    ('expose', ('--expose',), dict(multiple=True, help='Expose a port or a range of ports')),
    ('pod_id_file', ('--pod-id-file',), dict(default=None, help="Run container in an existing pod and read the pod's ID from the specified file")),
    ('label_file', ('--label-file',), dict(multiple=True, help='Read in a line delimited file of labels')),
    ('unsetenv', ('--unsetenv',), dict(multiple=True, help='Unset environment default variables in container')),
    ('unsetenv_all', ('--unsetenv-all',), dict(is_flag=True, help='Unset all default environment variables in container')),
    ('umask', ('--umask',), dict(default=None, help='Set umask in container (default 0022)')),
    ('sysctl', ('--sysctl',), dict(multiple=True, help='Sysctl options')),
    ('pidfile', ('--pidfile',), dict(default=None, help='Write the container process ID to the file')),
    ('conmon_pidfile', ('--conmon-pidfile',), dict(default=None, help="Path to the file that will receive the PID of the container's monitor")),
    ('sig_proxy', ('--sig-proxy',), dict(type="bool", default=True, help='Proxy received signals to the process')),
    ('cidfile', ('--cidfile',), dict(default=None, help='Write the container ID to the file')),
    ('replace', ('--replace',), dict(is_flag=True, help='If a container with the same name exists, replace it')),
    ('tz', ('--tz',), dict(default=None, help='Set timezone in container')),
    ('detach_keys', ('--detach-keys',), dict(default=None, help='Override the key sequence for detaching a container')),
    ('stop_signal', ('--stop-signal',), dict(default=None, help='Signal to stop a container. Default is SIGTERM')),
    ('secret', ('--secret',), dict(multiple=True, help='Add secret to container')),
    ('stop_timeout', ('--stop-timeout',), dict(type="int", default=None, help='Timeout (in seconds) that containers stopped by user command have to exit. If exceeded, the container will be forcibly stopped via SIGKILL.')),
    ('userns', ('--userns',), dict(default='', help='User namespace to use ("host", "keep-id[:uid=N,gid=N]", "nomap")')),
    ('memory', ('-m', '--memory'), dict(default=None, help='Memory limit (format: <number>[<unit>])')),
    ('cpus', ('--cpus',), dict(default=None, help='Number of CPUs')),
    ('pids_limit', ('--pids-limit',), dict(default=None, help='Tune container pids limit')),
    ('log_driver', ('--log-driver',), dict(default='k8s-file', help='Logging driver for the container')),
    ('log_opt', ('--log-opt',), dict(multiple=True, help='Logging driver options')),
    ('restart', ('--restart',), dict(default='', help='Restart policy to apply when a container exits ("always"|"no"|"on-failure"|"unless-stopped")')),
    ('health_cmd', ('--health-cmd',), dict(default='', help='set a healthcheck command for the container ("none" disables the existing healthcheck)')),
    ('health_interval', ('--health-interval',), dict(default='30s', help='set an interval for the healthchecks (a value of "disable" results in no automatic timer setup)')),
    ('health_retries', ('--health-retries',), dict(type="int", default=3, help='the number of retries allowed before a healthcheck is considered to be unhealthy')),
    ('health_start_period', ('--health-start-period',), dict(default='0s', help='the initialization time needed for a container to bootstrap')),
    ('health_timeout', ('--health-timeout',), dict(default='30s', help='the maximum time allowed to complete the healthcheck before an interval is considered failed')),
    ('health_on_failure', ('--health-on-failure',), dict(default='none', help='action to take once the container turns unhealthy')),
    ('no_healthcheck', ('--no-healthcheck',), dict(is_flag=True, help='Disable healthchecks on container')),
    ('sdnotify', ('--sdnotify',), dict(default='container', help='control sd-notify behavior (container|conmon|ignore)')),
)  # fmt: skip
RUN_ARGUMENTS = ("image", "command")  # IMAGE [COMMAND [ARG...]]: options stop at IMAGE


def _build_run_cmd() -> Any:
    import click

    types = {"bool": click.BOOL, "int": int}
    cb: Any = click.pass_context(_run_callback)
    for dest, decls, kw in reversed(RUN_OPTIONS):
        kw = {**kw, "type": types[kw["type"]]} if "type" in kw else kw
        cb = click.option(*decls, dest, **kw)(cb)
    cb = click.argument("command", nargs=-1, type=click.UNPROCESSED)(cb)
    cb = click.argument("image")(cb)
    return click.command(
        "run", context_settings={"help_option_names": ["--help"], "allow_interspersed_args": False}
    )(cb)


_BUILT: dict[str, Any] = {}


def __getattr__(name: str) -> Any:
    """``run_cmd``, the click command, is built on first use: the fast path never needs click."""
    if name == "run_cmd":
        if not _BUILT:
            _BUILT["run_cmd"] = _build_run_cmd()
        return _BUILT["run_cmd"]
    raise AttributeError(name)


def _run_callback(ctx: Any, **kw: Any) -> None:
    """Run a command in a new container."""
    import click

    ctx.exit(run_main(kw, _opts(ctx), click.echo))


def _echo(text: str) -> None:
    sys.stdout.write(f"{text}\n")
    sys.stdout.flush()


def run_main(kw: dict[str, Any], opts: Any, echo: Any = _echo, early: bool = False) -> int:
    """``run`` once its flags are parsed (by click or the fast path): the container's exit code.

    ``early`` (the fast path, a plain ``run``): with ``-d``, the monitor is started before anything
    else (``engine.premonitor``)."""
    monitor = None
    if early and kw["detach"]:
        from podpy.engine import premonitor

        monitor = premonitor.start(opts.paths, kw["runtime"], passthrough=kw["log_driver"] == "passthrough")
    try:
        return _run_main(kw, opts, echo, monitor)
    except BaseException:
        if monitor is not None:
            monitor.cancel()
        raise


def _run_main(kw: dict[str, Any], opts: Any, echo: Any, monitor: Any) -> int:
    from podpy.spec.container import (
        ContainerSpec,
        normalize_cap,
        parse_detach_keys,
        parse_env,
        parse_mount,
        parse_secret,
        parse_signal,
        parse_size,
        parse_sysctls,
        parse_tmpfs,
        parse_ulimit,
        parse_umask,
        parse_userns,
        parse_volume,
    )

    detach_keys = parse_detach_keys(kw["detach_keys"]) if kw["detach_keys"] is not None else None
    for flag in ("memory", "cpus", "pids_limit"):
        if kw[flag] is not None:
            raise UsageError(
                f"--{flag.replace('_', '-')}: resource limits need a delegated cgroup v2 hierarchy; "
                "this host has none for rootless containers (cgroups v1/hybrid), so the limit cannot be enforced"
            )
    if kw["runtime"] not in (None, "podpy", "runc"):
        raise UsageError(
            f"--runtime {kw['runtime']}: only podpy (default) and runc are supported (crun refuses hybrid cgroups)"
        )
    network_kw = network_options(kw)
    nnp, seccomp = parse_security_opts(kw["security_opt"])
    env_items: list[str] = []
    for f in kw["env_file"]:
        env_items += read_env_file(f)
    env_items += list(kw["env"])
    env = dict(os.environ) if kw["env_host"] else {}
    env.update(parse_env(env_items, dict(os.environ)))
    annotations = {}
    for a in kw["annotation"]:
        k, eq, v = a.partition("=")
        if not eq or not k:
            raise UsageError(f"invalid annotation {a!r}: use key=value")
        annotations[k] = v
    if kw["init_path"] and not kw["init"]:
        raise UsageError("--init-path needs --init")
    labels = {}
    for lb in [*read_label_files(kw["label_file"]), *kw["label"]]:
        k, _, v = lb.partition("=")
        if not k:
            raise UsageError(f"invalid label {lb!r}: use key=value")
        labels[k] = v
    from podpy.engine import run as engine_run

    mounts = [parse_volume(v) for v in kw["volume"]]
    if kw["tz"]:
        mounts.append(engine_run.tz_mount(kw["tz"]))
    mounts += [parse_mount(m) for m in kw["mount_"]]
    mounts += [parse_tmpfs(t) for t in kw["tmpfs"]]
    spec = ContainerSpec(
        image=kw["image"],
        command=list(kw["command"]) or None,
        entrypoint=parse_entrypoint(kw["entrypoint"]) if kw["entrypoint"] is not None else None,
        env=env,
        workdir=kw["workdir"],
        user=kw["user"],
        group_add=list(kw["group_add"]),
        hostname=kw["hostname"],
        name=kw["name"],
        read_only=kw["read_only"],
        read_only_tmpfs=kw["read_only_tmpfs"],
        mounts=mounts,
        volumes_from=list(kw.get("volumes_from") or ()),
        cap_add=[normalize_cap(c) for c in kw["cap_add"]],
        cap_drop=[normalize_cap(c) for c in kw["cap_drop"]],
        no_new_privileges=nnp,
        privileged=kw["privileged"],
        seccomp=seccomp,
        ulimits=[parse_ulimit(u) for u in kw["ulimit"]],
        **network_kw,
        pod=pod_of(kw),
        remove=kw["remove"] or kw["rmi"],
        rmi=kw["rmi"],
        preserve_fds=kw["preserve_fds"],
        annotations=annotations,
        interactive=kw["interactive"],
        init_path=_find_init(kw["init_path"], opts.paths.runroot) if kw["init"] else None,
        shm_size=parse_size(kw["shm_size"], "--shm-size") if kw["shm_size"] else None,
        labels=labels,
        sig_proxy=kw["sig_proxy"],
        terminal=kw["tty"],
        stop_signal=parse_signal(kw["stop_signal"]) if kw["stop_signal"] is not None else None,
        stop_timeout=kw["stop_timeout"],
        unsetenv=list(kw["unsetenv"]),
        unsetenv_all=kw["unsetenv_all"],
        umask=parse_umask(kw["umask"]) if kw["umask"] is not None else None,
        sysctls=parse_sysctls(kw["sysctl"]),
        expose=expose_keys(kw["expose"]),
        requires=[r for item in kw["requires"] for r in item.split(",") if r],
        image_volume=kw["image_volume"],
        pidfile=os.path.abspath(kw["pidfile"]) if kw["pidfile"] else "",
        conmon_pidfile=os.path.abspath(kw["conmon_pidfile"]) if kw["conmon_pidfile"] else "",
        secrets=[parse_secret(s) for s in kw["secret"]],
        detach_keys=detach_keys,
        userns=parse_userns(kw["userns"]),
        **monitor_options(kw, mounts, env),
    ).validate()

    for flag in ("pidfile", "conmon_pidfile"):
        if kw[flag] and not os.path.isdir(os.path.dirname(os.path.abspath(kw[flag]))):
            raise UsageError(f"--{flag.replace('_', '-')} {kw[flag]}: its directory does not exist")
    pull_kwargs: dict[str, Any] = {}
    if kw["platform"] or kw["os_"] or kw["arch"] or kw["variant"]:
        from podpy.spec.platform import platform_from_flags

        pull_kwargs["platform"] = platform_from_flags(kw["platform"], kw["os_"], kw["arch"], kw["variant"])
    if kw["authfile"]:
        pull_kwargs["authfile"] = kw["authfile"]
    if kw["tls_verify"] is not None:
        pull_kwargs["tls_verify"] = kw["tls_verify"]
    from podpy.cli.output import pull_reporter

    pull_kwargs["progress"] = pull_reporter(kw["quiet"])
    if spec.log_driver == "passthrough":  # as Podman: the container writes to our stdout, no ID printed
        engine_run.run_overrides.set({**(engine_run.run_overrides.get() or {}), "on_id": None})
    code = engine_run.run(
        opts.paths,
        spec,
        pull=kw["pull"],
        storage_driver=opts.storage_driver,
        pull_kwargs=pull_kwargs,
        runtime=kw["runtime"],
        cidfile=kw["cidfile"],
        replace=kw["replace"],
        detach=kw["detach"],
        on_id=echo,
        monitor=monitor,
    )
    return code
