"""Examples for every command's ``--help``, as Podman's man pages give them.

``EXAMPLES`` maps a command path (without "podpy") to the arguments of a few typical invocations;
``--help`` prints them as ``podpy PATH ARGS`` in an "Examples:" section after the flags, under the
path the user typed (``podpy container rm …`` for ``container rm``, ``podpy rm …`` for ``rm``).
``decorate`` hooks that into each command as the lazy command table loads it, so command modules
carry no help code; ``tests/unit/cli/test_help_examples.py`` fails for a command without a summary
or an example, or with an example whose flags the command does not take.
"""

from __future__ import annotations

import os
from typing import Any

EXAMPLES: dict[str, tuple[str, ...]] = {
    "": ("run -d --name web -p 8080:80 docker.io/library/nginx", "ps -a", "images"),
    # images
    "images": ("", "-a --digests", "--filter dangling=true -q", '--format "{{.Repository}}:{{.Tag}}"'),
    "image": ("ls", "pull alpine", "rm alpine"),
    "image ls": ("", "--noheading -q", "--sort size"),
    "pull": ("alpine", "docker.io/library/busybox:1.36", "--tls-verify=false localhost:5000/myimage", "--platform linux/arm64 alpine"),
    "push": ("myimage localhost:5000/myimage", "--authfile auth.json myimage docker://quay.io/user/myimage", "myimage oci-archive:/tmp/myimage.tar"),
    "tag": ("alpine myalpine:latest", "0e3dbfa5d57a localhost/myimage:v1 localhost/myimage:latest"),
    "untag": ("myalpine:latest", "0e3dbfa5d57a"),
    "rmi": ("alpine", "-f 0e3dbfa5d57a", "--all"),
    "image rm": ("alpine", "--force --all"),
    "image prune": ("", "-a -f", "--filter until=24h"),
    "image exists": ("alpine",),
    "image inspect": ("alpine", '--format "{{.Id}}" alpine'),
    "image tree": ("alpine",),
    "history": ("alpine", "--no-trunc --format json alpine"),
    "save": ("-o alpine.tar alpine", "--format oci-archive -o alpine.tar alpine", "-m -o images.tar alpine busybox"),
    "load": ("-i alpine.tar", "< alpine.tar"),
    "import": ("rootfs.tar myimage:latest", "--change CMD=/bin/sh rootfs.tar myimage", "https://example.com/rootfs.tar"),
    "build": ("-t myimage .", "-f Containerfile.dev -t myimage:dev --build-arg VERSION=1 .", "--no-cache --layers=false -t myimage ."),
    "commit": ("mycontainer myimage:latest", "--change CMD=/bin/sh -m 'add tools' mycontainer myimage"),
    "login": ("quay.io", "-u myuser --password-stdin localhost:5000", "--tls-verify=false localhost:5000"),
    "logout": ("quay.io", "--all"),
    # containers
    "run": ("-it alpine sh", "-d --name web -p 8080:80 -v data:/data nginx", "--rm -e FOO=bar alpine env", "--network none --read-only alpine true"),
    "create": ("--name web -p 8080:80 nginx", "-it alpine sh"),
    "start": ("mycontainer", "-a -i mycontainer", "--all"),
    "stop": ("mycontainer", "-t 2 mycontainer other", "--all"),
    "kill": ("mycontainer", "-s TERM mycontainer", "--all"),
    "rm": ("mycontainer", "-f mycontainer", "--all --volumes"),
    "restart": ("mycontainer", "--running"),
    "wait": ("mycontainer", "--condition stopped mycontainer"),
    "logs": ("mycontainer", "-f --tail 10 mycontainer", "--since 10m -t mycontainer"),
    "ps": ("", "-a", "-a --format '{{.Names}} {{.Status}}'", "--filter status=running -q"),
    "container": ("ls -a", "run -d alpine sleep 60", "rm -f mycontainer"),
    "container cleanup": ("mycontainer", "--all"),
    "container prune": ("", "-f --filter until=24h"),
    "container exists": ("mycontainer",),
    "container inspect": ("mycontainer", '--format "{{.State.Status}}" mycontainer'),
    "cp": ("mycontainer:/etc/hosts ./hosts", "./config.yml mycontainer:/etc/app/", "-a mycontainer:/data - > data.tar"),
    "diff": ("mycontainer", "--format json mycontainer"),
    "export": ("-o rootfs.tar mycontainer", "mycontainer > rootfs.tar"),
    "exec": ("-it mycontainer sh", "-e FOO=bar mycontainer env", "-u root -w /tmp mycontainer ls"),
    "attach": ("mycontainer", "--no-stdin mycontainer"),
    "rename": ("mycontainer newname",),
    "top": ("mycontainer", "mycontainer pid user args"),
    "port": ("mycontainer", "mycontainer 80/tcp", "--all"),
    "stats": ("--no-stream", "--no-stream --format json mycontainer"),
    "pause": ("mycontainer", "--all"),
    "unpause": ("mycontainer", "--all"),
    "inspect": ("mycontainer", '--format "{{.Id}}" alpine', "--type volume myvolume"),
    "events": ("--since 10m --stream=false", "--filter event=start --format json"),
    "healthcheck": ("run mycontainer",),
    "healthcheck run": ("mycontainer",),
    "unshare": ("", "id", "cat /proc/self/uid_map"),
    # system
    "info": ("", "--format json", '--format "{{.Store.GraphRoot}}"'),
    "version": ("", "--format json"),
    "system": ("info", "df", "prune -f"),
    "system df": ("", "-v", "--format json"),
    "system prune": ("", "-a -f --volumes"),
    "system reset": ("--force",),
    "system migrate": ("",),
    "system check": ("", "--quick", "--repair --force"),
    "system doctor": ("", "--format json"),
    "system renumber": ("",),
    "completion": ("bash > ~/.local/share/bash-completion/completions/podpy", "-f ~/.config/fish/completions/podpy.fish fish", "zsh > ~/.zfunc/_podpy"),
    # volumes
    "help": ("", "run", "container ls"),
    "mount": ("web", "", "--format json"),
    "unmount": ("web", "--all"),
    "umount": ("web",),
    "container mount": ("web",),
    "container unmount": ("web",),
    "container umount": ("web",),
    "secret": ("create dbpass ./password.txt", "ls", "rm dbpass"),
    "secret create": ("dbpass ./password.txt", "--label app=db dbpass -", "--env dbpass DB_PASSWORD"),
    "secret ls": ("", "--format '{{.ID}} {{.Name}}'", "--filter name=dbpass -q"),
    "secret list": ("",),
    "secret inspect": ("dbpass", '--format "{{.Spec.Name}}" dbpass'),
    "secret rm": ("dbpass", "--all"),
    "secret exists": ("dbpass",),
    "volume": ("create data", "ls", "rm data"),
    "volume create": ("data", "--label app=web --opt o=uid=1000 data"),
    "volume ls": ("", "--filter dangling=true -q", "--format json"),
    "volume inspect": ("data", "--all"),
    "volume rm": ("data", "-f --all"),
    "volume prune": ("", "-f --filter label=app=web"),
    "volume exists": ("data",),
    "volume export": ("-o data.tar data",),
    "volume import": ("data data.tar", "data - < data.tar"),
    "volume mount": ("data",),
    "volume unmount": ("data",),
    "volume reload": ("",),
    # networks
    "network": ("create mynet", "ls", "rm mynet"),
    "network create": ("mynet", "--subnet 10.89.1.0/24 --gateway 10.89.1.1 mynet", "--internal --label app=db backend"),
    "network ls": ("", "--format '{{.Name}} {{.Driver}}'", "-q"),
    "network inspect": ("mynet", '--format "{{.Subnets}}" mynet'),
    "network rm": ("mynet", "-f mynet"),
    "network prune": ("", "-f"),
    "network exists": ("mynet",),
    "network connect": ("mynet mycontainer", "--alias db mynet mycontainer"),
    "network disconnect": ("mynet mycontainer",),
    "network reload": ("mycontainer", "--all"),
    "network update": ("--dns-add 8.8.8.8 mynet",),
    # pods
    "pod": ("create --name mypod -p 8080:80", "ps", "rm -f mypod"),
    "pod create": ("--name mypod", "--name web -p 8080:80 --share net,ipc", "mypod"),
    "pod ps": ("", "--ctr-names", "--format json"),
    "pod inspect": ("mypod",),
    "pod start": ("mypod", "--all"),
    "pod stop": ("mypod", "-t 2 mypod", "--all"),
    "pod restart": ("mypod",),
    "pod kill": ("mypod", "-s TERM mypod"),
    "pod pause": ("mypod",),
    "pod unpause": ("mypod",),
    "pod rm": ("mypod", "-f mypod", "--all"),
    "pod prune": ("", "-f"),
    "pod exists": ("mypod",),
    "pod top": ("mypod",),
    "pod logs": ("mypod", "-c mycontainer -f mypod"),
    "pod stats": ("--no-stream mypod",),
    "pod clone": ("mypod",),
    # services and Kubernetes
    "generate": ("systemd --new --name mycontainer", "kube mypod > mypod.yaml"),
    "generate systemd": ("mycontainer", "--new --name -f mycontainer", "--new --restart-policy=always -t 5 mypod"),
    "generate kube": ("mypod", "--service -f mypod.yaml mypod", "mycontainer myvolume"),
    "generate spec": ("mycontainer",),
    "kube": ("play mypod.yaml", "generate mypod > mypod.yaml", "down mypod.yaml"),
    "kube play": ("mypod.yaml", "--replace --network mynet mypod.yaml", "--down mypod.yaml"),
    "kube generate": ("mypod", "--service --type deployment -f mypod.yaml mypod"),
    "kube down": ("mypod.yaml",),
    "play": ("kube mypod.yaml",),
    "play kube": ("mypod.yaml", "--down mypod.yaml"),
    "quadlet": ("--dryrun", "--user ~/.config/systemd/user/generated"),
    "auto-update": ("", "--dry-run", "--rollback=false --format json"),
}

# command paths that are the same command as another row
ALIASES = {
    "image list": "image ls", "container ls": "ps", "container list": "ps", "container ps": "ps",
    "container run": "run", "container create": "create", "image pull": "pull", "image push": "push",
    "image tag": "tag", "image untag": "untag", "image history": "history", "image save": "save",
    "image load": "load", "image import": "import", "image build": "build", "container commit": "commit",
    "volume list": "volume ls", "volume remove": "volume rm", "pod ls": "pod ps", "pod list": "pod ps",
    "system info": "info", "system version": "version", "system events": "events",
    "network list": "network ls", "network remove": "network rm", "pod remove": "pod rm",
    "builder build": "build", "buildx build": "build",
}  # fmt: skip


def examples_for(path: str) -> tuple[str, ...] | None:
    """The example arguments for the command at ``path`` ("container rm"), None if it has none."""
    if path in EXAMPLES:
        return EXAMPLES[path]
    if path in ALIASES:
        return EXAMPLES.get(ALIASES[path])
    words = path.split(" ", 1)
    if words[0] in ("container", "image") and len(words) == 2:
        return examples_for(words[1])
    return None


def _format_epilog(self: Any, ctx: Any, formatter: Any) -> None:
    type(self).format_epilog(self, ctx, formatter)  # the command's own epilog, if any
    lines = examples_for(" ".join(ctx.command_path.split()[1:]))
    if lines:
        with formatter.section("Examples"):
            for args in lines:
                formatter.write(f"{'':>{formatter.current_indent}}{ctx.command_path} {args}".rstrip() + "\n")


def decorate(cmd: Any, path: str) -> None:
    """Hook the examples into ``cmd``'s help and, while the shell asks for completions, its
    dynamic completions; subcommands of a group included (each command object once)."""
    if "format_epilog" not in vars(cmd):
        cmd.format_epilog = _format_epilog.__get__(cmd)
        for name, sub in getattr(cmd, "commands", {}).items():
            decorate(sub, f"{path} {name}".strip())
    if os.environ.get("_PODPY_COMPLETE"):
        from podpy.cli.completion import attach

        attach(cmd, path)
