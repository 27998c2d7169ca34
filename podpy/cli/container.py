"""Container commands. For now: ``podpy run`` in the foreground (no monitor yet: no -d, no -t).

Every flag Podman has that podpy does not implement yet is either unknown to click (which
refuses it) or declared here and refused with a one-line error: never accepted and ignored.
"""

from __future__ import annotations

import json
import os
from typing import Any

import click

from podpy.util.errors import UsageError


def _opts(ctx: click.Context) -> Any:
    from podpy.cli.main import GlobalOptions

    obj = ctx.find_object(GlobalOptions)
    if obj is None:
        from podpy.util.paths import default_paths

        obj = GlobalOptions(paths=default_paths(), log_level="warn", storage_driver=None)
    return obj


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
            "dns_options": list(kw["dns_option"]), "add_hosts": list(kw["add_host"]), "no_hosts": kw["no_hosts"]}  # fmt: skip


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


@click.command(
    "run",
    context_settings={"help_option_names": ["--help"], "allow_interspersed_args": False},
)
@click.option("--rm", "remove", is_flag=True, help="Remove container (and pod if created) after exit")
@click.option("-e", "--env", multiple=True, help="Set environment variables in container")
@click.option("--env-file", multiple=True, help="Read in a file of environment variables")
@click.option("--env-host", is_flag=True, help="Use all current host environment variables in container")
@click.option("-w", "--workdir", default=None, help="Working directory inside the container")
@click.option("-u", "--user", default=None, help="Username or UID (format: <name|uid>[:<group|gid>])")
@click.option("--group-add", multiple=True, help="Add additional groups to the primary container process")
@click.option("--entrypoint", default=None, help="Overwrite the default ENTRYPOINT of the image")
@click.option("--name", default=None, help="Assign a name to the container")
@click.option("-h", "--hostname", default=None, help="Set container hostname")
@click.option("--network", "--net", "network", default="private", help="Connect a container to a network")
@click.option("-p", "--publish", multiple=True, help="Publish a container's port, or a range of ports, to the host")
@click.option("-P", "--publish-all", is_flag=True, help="Publish all exposed ports to random ports on the host interfaces")
@click.option("--dns", multiple=True, help="Set custom DNS servers")
@click.option("--dns-search", multiple=True, help="Set custom DNS search domains")
@click.option("--dns-option", "--dns-opt", "dns_option", multiple=True, help="Set custom DNS options")
@click.option("--add-host", multiple=True, help="Add a custom host-to-IP mapping (host:ip)")
@click.option("--no-hosts", is_flag=True, help="Do not create /etc/hosts within the container, instead use the version from the image")
@click.option("--read-only", is_flag=True, help="Make containers root filesystem read-only")
@click.option(
    "--read-only-tmpfs",
    type=click.BOOL,
    default=True,
    help="When running --read-only, mount tmpfs on /run, /tmp and /var/tmp",
)
@click.option("--cap-add", multiple=True, help="Add capabilities to the container")
@click.option("--cap-drop", multiple=True, help="Drop capabilities from the container")
@click.option("--privileged", is_flag=True, help="Give extended privileges to container")
@click.option("--security-opt", multiple=True, help="Security Options")
@click.option("--ulimit", multiple=True, help="Ulimit options")
@click.option("-v", "--volume", multiple=True, help="Bind mount a volume into the container")
@click.option("--mount", "mount_", multiple=True, help="Attach a filesystem mount to the container")
@click.option("--tmpfs", multiple=True, help="Mount a temporary filesystem (tmpfs) into a container")
@click.option("--pull", default="missing", help='Pull image policy ("always"|"missing"|"never"|"newer")')
@click.option("--platform", default=None, help="Specify the platform for selecting the image")
@click.option(
    "--tls-verify",
    type=click.BOOL,
    default=None,
    help="Require HTTPS and verify certificates when contacting registries",
)
@click.option("-q", "--quiet", is_flag=True, help="Suppress output information when pulling images")
@click.option("-i", "--interactive", is_flag=True, help="Keep STDIN open even if not attached")
@click.option("-t", "--tty", is_flag=True, help="Allocate a pseudo-TTY for container")
@click.option("-d", "--detach", is_flag=True, help="Run container in background and print container ID")
@click.option("--annotation", multiple=True, help="Add annotations to container (key=value)")
@click.option(
    "--preserve-fds",
    type=int,
    default=0,
    help="Pass a number of additional file descriptors into the container",
)
@click.option("--runtime", default=None, help="Path to the OCI-compatible binary used to run containers")
@click.option(
    "--init",
    "init",
    is_flag=True,
    help="Run an init inside the container that forwards signals and reaps processes",
)
@click.option("--init-path", default=None, help="Path to the container-init binary")
@click.option("--shm-size", default=None, help="Size of /dev/shm (format: <number>[<unit>])")
@click.option("-l", "--label", multiple=True, help="Set metadata on container")
@click.option("--sig-proxy", type=click.BOOL, default=True, help="Proxy received signals to the process")
@click.option("--cidfile", default=None, help="Write the container ID to the file")
@click.option("--replace", is_flag=True, help="If a container with the same name exists, replace it")
@click.option("--tz", default=None, help="Set timezone in container")
@click.option("--detach-keys", default=None, help="Override the key sequence for detaching a container")
@click.option("--stop-signal", default=None, help="Signal to stop a container. Default is SIGTERM")
@click.option("--userns", default="", help='User namespace to use ("host", "keep-id[:uid=N,gid=N]", "nomap")')
@click.option("-m", "--memory", default=None, help="Memory limit (format: <number>[<unit>])")
@click.option("--cpus", default=None, help="Number of CPUs")
@click.option("--pids-limit", default=None, help="Tune container pids limit")
@click.option("--log-driver", default="k8s-file", help="Logging driver for the container")
@click.option("--log-opt", multiple=True, help="Logging driver options")
@click.option("--restart", default="", help='Restart policy to apply when a container exits ("always"|"no"|"on-failure"|"unless-stopped")')
@click.option("--health-cmd", default="", help='set a healthcheck command for the container ("none" disables the existing healthcheck)')
@click.option("--health-interval", default="30s", help='set an interval for the healthchecks (a value of "disable" results in no automatic timer setup)')
@click.option("--health-retries", type=int, default=3, help="the number of retries allowed before a healthcheck is considered to be unhealthy")
@click.option("--health-start-period", default="0s", help="the initialization time needed for a container to bootstrap")
@click.option("--health-timeout", default="30s", help="the maximum time allowed to complete the healthcheck before an interval is considered failed")
@click.option("--health-on-failure", default="none", help="action to take once the container turns unhealthy")
@click.option("--no-healthcheck", is_flag=True, help="Disable healthchecks on container")
@click.option("--sdnotify", default="container", help="control sd-notify behavior (container|conmon|ignore)")
@click.argument("image")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def run_cmd(ctx: click.Context, **kw: Any) -> None:  # fmt: skip
    """Run a command in a new container."""
    from podpy.spec.container import (
        ContainerSpec,
        normalize_cap,
        parse_detach_keys,
        parse_env,
        parse_mount,
        parse_signal,
        parse_size,
        parse_tmpfs,
        parse_ulimit,
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
    for lb in kw["label"]:
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
        cap_add=[normalize_cap(c) for c in kw["cap_add"]],
        cap_drop=[normalize_cap(c) for c in kw["cap_drop"]],
        no_new_privileges=nnp,
        privileged=kw["privileged"],
        seccomp=seccomp,
        ulimits=[parse_ulimit(u) for u in kw["ulimit"]],
        **network_kw,
        remove=kw["remove"],
        preserve_fds=kw["preserve_fds"],
        annotations=annotations,
        interactive=kw["interactive"],
        init_path=_find_init(kw["init_path"], _opts(ctx).paths.runroot) if kw["init"] else None,
        shm_size=parse_size(kw["shm_size"], "--shm-size") if kw["shm_size"] else None,
        labels=labels,
        sig_proxy=kw["sig_proxy"],
        terminal=kw["tty"],
        stop_signal=parse_signal(kw["stop_signal"]) if kw["stop_signal"] is not None else None,
        detach_keys=detach_keys,
        userns=parse_userns(kw["userns"]),
        **monitor_options(kw, mounts, env),
    ).validate()

    opts = _opts(ctx)
    pull_kwargs: dict[str, Any] = {}
    if kw["platform"]:
        from podpy.spec.platform import platform_from_flags

        pull_kwargs["platform"] = platform_from_flags(kw["platform"], None, None, None)
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
        on_id=click.echo,
    )
    ctx.exit(code)
