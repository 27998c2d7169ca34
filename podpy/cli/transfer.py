"""``podpy save``, ``load``, ``import`` and ``push``: thin click commands over ``podpy.engine.transfer``.

Progress lines are Podman's ("Getting image source signatures", "Copying blob …", …) on stderr,
silenced by ``-q``; results (loaded names, the imported image ID) go to stdout.
"""

from __future__ import annotations

import sys

import click

from podpy.cli.main import paths_of as _paths
from podpy.util.errors import UsageError


def _progress(quiet: bool):  # type: ignore[no-untyped-def]
    if quiet:
        return lambda _line: None

    def emit(line: str) -> None:
        click.echo(line, err=True)

    return emit


# ------------------------------------------------------------------------------------------- save


@click.command("save", context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-o",
    "--output",
    default=None,
    help="Write to a specified file (default: stdout, which must be redirected)",
)
@click.option(
    "--format",
    "fmt",
    default="docker-archive",
    show_default=True,
    help="Save image to docker-archive, oci-archive (Docker v2s2/OCI tars) or oci-dir (directory)",
)
@click.option(
    "-m",
    "--multi-image-archive",
    "multi",
    is_flag=True,
    help="Interpret additional arguments as images not tags and create a multi-image-archive (only for docker-archive)",
)
@click.option("-q", "--quiet", is_flag=True, help="Suppress the output")
@click.option(
    "--compress",
    is_flag=True,
    help="Compress tarball image layers when saving to a directory (not supported)",
)
@click.option(
    "--uncompressed",
    is_flag=True,
    help="Accept uncompressed layers when copying OCI images (the default in podpy)",
)
@click.argument("images", nargs=-1, required=True)
@click.pass_context
def save_cmd(
    ctx: click.Context,
    output: str | None,
    fmt: str,
    multi: bool,
    quiet: bool,
    compress: bool,
    uncompressed: bool,
    images: tuple[str, ...],
) -> None:
    """Save image(s) to an archive."""
    from podpy.engine import transfer

    if fmt == "docker-dir":
        raise UsageError(
            "--format docker-dir is not supported by podpy: use oci-dir, oci-archive or docker-archive"
        )
    if fmt not in ("docker-archive", "oci-archive", "oci-dir"):
        raise UsageError(f"unknown format {fmt!r}: use docker-archive, oci-archive or oci-dir")
    if compress:
        if fmt != "oci-dir":
            raise UsageError("--compress can only be set when --format is 'oci-dir' or 'docker-dir'")
        raise UsageError("--compress is not supported by podpy: oci-dir keeps the layers as stored")
    if multi and fmt == "oci-dir":
        raise UsageError("-m/--multi-image-archive needs --format docker-archive or oci-archive")
    stream = None
    if not output:
        if fmt == "oci-dir":
            raise UsageError("--format oci-dir needs -o/--output DIRECTORY")
        if sys.stdout.isatty():
            raise UsageError("refusing to save to terminal. Use -o flag or redirect")
        sys.stdout.flush()
        stream = sys.stdout.buffer
    transfer.save(
        _paths(ctx),
        list(images),
        output,
        fmt,
        multi_image=multi,
        stream=stream,
        progress=_progress(quiet),
    )


# ------------------------------------------------------------------------------------------- load


@click.command("load", context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-i", "--input", "input_", default=None, help="Read from specified archive file (default: stdin)"
)
@click.option("-q", "--quiet", is_flag=True, help="Suppress the output")
@click.argument("extra", nargs=-1)
@click.pass_context
def load_cmd(ctx: click.Context, input_: str | None, quiet: bool, extra: tuple[str, ...]) -> None:
    """Load image(s) from a tar archive."""
    from podpy.engine import transfer

    if extra:
        raise UsageError(
            "podpy load takes no arguments: name the archive with -i/--input or pipe it to stdin"
        )
    stdin = None
    if input_ in (None, "-"):
        if sys.stdin.isatty():
            raise UsageError("cannot read from terminal, use command-line redirection or the --input flag")
        stdin = sys.stdin.buffer
    names = transfer.load(_paths(ctx), input_, stdin=stdin, progress=_progress(quiet))
    for name in names:
        click.echo(f"Loaded image: {name}")


# ----------------------------------------------------------------------------------------- import


@click.command("import", context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-c",
    "--change",
    "changes",
    multiple=True,
    help="Apply the following possible instructions to the created image: CMD | ENTRYPOINT | ENV | EXPOSE | LABEL | STOPSIGNAL | USER | VOLUME | WORKDIR",
)
@click.option("-m", "--message", default=None, help="Set commit message for imported image")
@click.option("-q", "--quiet", is_flag=True, help="Suppress output")
@click.option("--arch", default=None, help="Set the architecture of the imported image (not supported)")
@click.option("--os", "os_", default=None, help="Set the OS of the imported image (not supported)")
@click.option("--variant", default=None, help="Set the variant of the imported image (not supported)")
@click.argument("source")
@click.argument("reference", required=False)
@click.pass_context
def import_cmd(
    ctx: click.Context,
    changes: tuple[str, ...],
    message: str | None,
    quiet: bool,
    arch: str | None,
    os_: str | None,
    variant: str | None,
    source: str,
    reference: str | None,
) -> None:
    """Import a tarball (or - for stdin) to create a filesystem image, optionally named REFERENCE."""
    from podpy.engine import transfer

    for flag, value in (("--arch", arch), ("--os", os_), ("--variant", variant)):
        if value:
            raise UsageError(f"{flag} is not supported by podpy import: the image gets the host's platform")
    stdin = None
    if source == "-":
        if sys.stdin.isatty():
            raise UsageError("cannot read from terminal, use command-line redirection or give a file")
        stdin = sys.stdin.buffer
    image_id = transfer.import_(
        _paths(ctx), source, reference, list(changes), message, stdin=stdin, progress=_progress(quiet)
    )
    click.echo(image_id)


# ------------------------------------------------------------------------------------------- push


@click.command("push", context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--tls-verify",
    type=click.BOOL,
    default=None,
    is_flag=False,
    flag_value="true",
    help="Require HTTPS and verify certificates when contacting registries (--tls-verify=false for HTTP)",
)
@click.option("--authfile", default=None, help="Path of the authentication file")
@click.option("--creds", default=None, help="Use `USERNAME[:PASSWORD]` for accessing the registry")
@click.option(
    "-f", "--format", "fmt", default=None, help="Manifest type (oci, v2s2) to use in the destination"
)
@click.option("--compression-format", default=None, help="Compression format to use (gzip, zstd)")
@click.option("--digestfile", default=None, help="Write the digest of the pushed image to the specified file")
@click.option("-q", "--quiet", is_flag=True, help="Suppress output information when pushing images")
@click.option(
    "--remove-signatures",
    is_flag=True,
    help="Discard any pre-existing signatures in the image (podpy stores none)",
)
@click.argument("image")
@click.argument("destination", required=False)
@click.pass_context
def push_cmd(
    ctx: click.Context,
    tls_verify: bool | None,
    authfile: str | None,
    creds: str | None,
    fmt: str | None,
    compression_format: str | None,
    digestfile: str | None,
    quiet: bool,
    remove_signatures: bool,
    image: str,
    destination: str | None,
) -> None:
    """Push an image to a specified destination."""
    from podpy.engine import transfer

    if fmt not in (None, "oci", "v2s2"):
        raise UsageError(f"unsupported manifest type {fmt!r}: use oci or v2s2 (v2s1 is not supported)")
    if compression_format not in (None, "gzip", "zstd"):
        raise UsageError(f"unsupported compression format {compression_format!r}: use gzip or zstd")
    transfer.push(
        _paths(ctx),
        image,
        destination,
        tls_verify=tls_verify,
        authfile=authfile,
        creds=creds,
        fmt=fmt,
        compression_format=compression_format,
        digestfile=digestfile,
        progress=_progress(quiet),
    )
