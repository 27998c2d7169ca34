"""``podpy build`` / ``podpy image build``: flags parsed into ``BuildOptions``; the build is
``podpy.build.builder``. Step lines go to stdout as ``podman build`` prints them; ``-q`` prints only
the image ID."""

from __future__ import annotations

import os
import sys

import click

from podpy.cli.main import options_of
from podpy.util.errors import UsageError

_PULL = {"true": "always", "false": "missing", "always": "always", "missing": "missing", "never": "never",
         "newer": "newer", "ifmissing": "missing", "ifnewer": "newer"}  # fmt: skip


def _kv(items: tuple[str, ...], what: str, from_env: bool = False) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        k, eq, v = item.partition("=")
        if not k:
            raise UsageError(f"invalid {what} {item!r}: use KEY=VALUE")
        if eq:
            out[k] = v
        elif from_env:
            if k in os.environ:
                out[k] = os.environ[k]
        else:
            out[k] = ""
    return out


def _arg_files(files: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for f in files:
        try:
            text = open(f).read()  # noqa: SIM115 - a small file read once
        except OSError as e:
            raise UsageError(f"--build-arg-file {f}: {e.strerror or e}") from None
        lines = [ln.strip() for ln in text.splitlines()]
        out.update(
            _kv(tuple(ln for ln in lines if ln and not ln.startswith("#")), "build arg", from_env=True)
        )
    return out


def _secrets(items: tuple[str, ...]) -> dict[str, str]:
    """``--secret id=ID,src=FILE`` (or ``type=env,env=VAR``): id -> a file to bind in."""
    out: dict[str, str] = {}
    for item in items:
        opts = dict(p.partition("=")[::2] for p in item.split(","))
        sid = opts.get("id")
        if not sid:
            raise UsageError(f"--secret {item!r}: id= is required")
        typ = opts.get("type", "file")
        if typ == "env":
            var = opts.get("env") or opts.get("src") or sid
            if var not in os.environ:
                raise UsageError(f"--secret {item!r}: environment variable {var} is not set")
            import tempfile

            fd, path = tempfile.mkstemp(prefix="podpy-secret-")
            os.write(fd, os.environ[var].encode())
            os.close(fd)
            out[sid] = path
            continue
        src = opts.get("src") or opts.get("source")
        if not src:
            raise UsageError(f"--secret {item!r}: src= is required")
        if not os.path.isfile(src):
            raise UsageError(f"--secret {item!r}: {src}: no such file")
        out[sid] = os.path.abspath(src)
    return out


def _emit(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()  # before a RUN writes to the same fd


@click.command("build", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-t", "--tag", "tags", multiple=True, help="tagged name to apply to the built image")
@click.option("-f", "--file", "files", multiple=True, help="pathname or URL of a Containerfile (- for stdin)")
@click.option("--build-arg", "build_args", multiple=True, help="argument=value to supply to the builder")
@click.option(
    "--build-arg-file",
    "build_arg_files",
    multiple=True,
    help="argfile.conf containing lines of argument=value",
)
@click.option("--target", default=None, help="set the target build stage to build")
@click.option("--no-cache", is_flag=True, help="do not use existing cached images for the container build")
@click.option(
    "--layers",
    default="true",
    is_flag=False,
    flag_value="true",
    help="use intermediate layers during the build (default true)",
)
@click.option("--pull", "pull", default=None, is_flag=False, flag_value="true",
              help="pull the image: always, missing, never, newer (true = always)")  # fmt: skip
@click.option("--pull-always", is_flag=True, help="pull the image even if the named image is present")
@click.option("--pull-never", is_flag=True, help="do not pull the image, use the image present in store")
@click.option("--label", "labels", multiple=True, help="set metadata for an image (KEY=VALUE)")
@click.option(
    "--annotation", "annotations", multiple=True, help="set metadata for an image manifest (KEY=VALUE)"
)
@click.option(
    "--format", "fmt", default=None, help="format of the built image's manifest and metadata (oci or docker)"
)
@click.option(
    "-q",
    "--quiet",
    is_flag=True,
    help="refrain from announcing build instructions and image read/write progress",
)
@click.option("--iidfile", default=None, help="file to write the image ID to")
@click.option("--squash", is_flag=True, help="squash newly built layers into a single new layer")
@click.option(
    "--secret", "secrets", multiple=True, help="secret file to expose to the build (id=ID,src=PATH)"
)
@click.option(
    "--network", "--net", "network", default=None, help="network mode for RUN instructions: host or none"
)
@click.option("--ignorefile", default=None, help="path to an alternate .containerignore file")
@click.option("--env", "envs", multiple=True, help="set environment variable for the image")
@click.option("--platform", default=None, help="set the OS/ARCH[/VARIANT] of the image (the host's only)")
@click.option(
    "--tls-verify",
    "tls_verify",
    default=None,
    is_flag=False,
    flag_value="true",
    help="require HTTPS and verify certificates when accessing the registry",
)
@click.option("--authfile", default=None, help="path of the authentication file")
@click.option("--creds", default=None, help="use [username[:password]] for accessing the registry")
@click.option("--rm", "rm", default="true", is_flag=False, flag_value="true",
              help="remove intermediate containers after a successful build (always true)")  # fmt: skip
@click.option("--force-rm", "force_rm", default="true", is_flag=False, flag_value="true",
              help="always remove intermediate containers after a build, even if the build fails (always true)")  # fmt: skip
@click.argument("context", required=False)
@click.pass_context
def build_cmd(ctx: click.Context, tags: tuple[str, ...], files: tuple[str, ...], build_args: tuple[str, ...],
              build_arg_files: tuple[str, ...], target: str | None, no_cache: bool, layers: str, pull: str | None,
              pull_always: bool, pull_never: bool, labels: tuple[str, ...], annotations: tuple[str, ...],
              fmt: str | None, quiet: bool, iidfile: str | None, squash: bool, secrets: tuple[str, ...],
              network: str | None, ignorefile: str | None, envs: tuple[str, ...], platform: str | None,
              tls_verify: str | None, authfile: str | None, creds: str | None, rm: str, force_rm: str, context: str | None) -> None:  # fmt: skip
    """Build an image using instructions from Containerfiles."""
    from pathlib import Path

    from podpy.build.builder import Builder, BuildOptions, read_containerfile
    from podpy.build.context import open_context

    fmt = (fmt or os.environ.get("BUILDAH_FORMAT") or "oci").lower()
    if fmt not in ("oci", "docker"):
        raise UsageError(f'unrecognized image type "{fmt}": use oci or docker')
    layers_on = _bool(layers, "--layers")
    for flag, val in (("--rm", rm), ("--force-rm", force_rm)):
        if not _bool(val, flag):
            raise UsageError(
                f"{flag}=false: podpy build keeps no working containers (their rootfs is removed after each step)"
            )
    verify = _bool(tls_verify, "--tls-verify") if tls_verify is not None else None
    policy = "missing"
    if pull is not None:
        if pull.lower() not in _PULL:
            raise UsageError(f'invalid pull policy "{pull}": use always, missing, never or newer')
        policy = _PULL[pull.lower()]
    if pull_always:
        policy = "always"
    if pull_never:
        policy = "never"
    plat = None
    if platform:
        from podpy.spec.platform import host_platform, parse_platform

        want = parse_platform(platform)
        if not host_platform().matches(want.normalized()):
            raise UsageError(
                f"--platform {platform}: building for another platform than the host's ({host_platform()}) is not supported"
            )
        plat = want
    net = network or "host"
    if net in ("private", "default"):
        net = "host"  # the default: RUN steps share the host's network (and reach what it reaches)
    if net not in ("host", "none"):
        raise UsageError(f"--network {network}: podpy build runs RUN steps with host or none networking only")
    if len(files) > 1 and "-" in files:
        raise UsageError("-f -: the Containerfile from stdin cannot be combined with other files")
    ctx_arg = context or "."
    if ctx_arg == "-" and "-" in files:
        raise UsageError("the build context and the Containerfile cannot both come from stdin")
    args = {**_arg_files(build_arg_files), **_kv(build_args, "build arg", from_env=True)}
    c = open_context(ctx_arg, sys.stdin.buffer, ignorefile)
    try:
        texts = []
        name = ""
        for f in files or (None,):
            text, name = read_containerfile(c.root, f, sys.stdin.buffer)
            texts.append(text)
        opts = BuildOptions(
            containerfile="\n".join(texts), containerfile_name=name if len(texts) == 1 else "Containerfile",
            tags=list(tags), build_args=args, target=target, no_cache=no_cache, layers=layers_on, pull=policy,
            pull_kwargs={"tls_verify": verify,
                         "authfile": authfile, "creds": creds, "platform": plat},
            labels=_kv(labels, "label"), annotations=_kv(annotations, "annotation"), fmt=fmt, quiet=quiet,
            squash=squash, secrets=_secrets(secrets), network=net, env=_kv(envs, "env", from_env=True),
            platform=plat,
        )  # fmt: skip
        glob = options_of(ctx)
        paths, opts.storage_driver = glob.paths, glob.storage_driver
        image_id = Builder(paths, opts, c, out=_emit).build()
    finally:
        c.close()
    if iidfile:
        Path(iidfile).write_text("sha256:" + image_id)
    _emit(image_id)


def _bool(v: str, what: str) -> bool:
    s = v.strip().lower()
    if s in ("1", "t", "true", "yes", "y", "on"):
        return True
    if s in ("0", "f", "false", "no", "n", "off"):
        return False
    raise UsageError(
        f'invalid argument "{v}" for "{what}" flag: strconv.ParseBool: parsing "{v}": invalid syntax'
    )


