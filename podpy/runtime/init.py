"""--init: catatonit when installed, else podpy's built-in init (a 1.2 KB static binary).

The built-in init is ``init.S`` in this directory, assembled with binutils
(``as init.S -o init.o && ld -s -N -o init init.o``) and embedded below, so podpy needs no
compiler and no package. As PID 1 of the container it runs ``[--] CMD ARGS...`` (searching
``$PATH`` like execvp), forwards every signal it receives to CMD, reaps every orphan and exits
with CMD's status (128+N when CMD was killed by signal N; 127/126 when CMD cannot be run).
It is bound read-only at ``/run/podman-init`` exactly as catatonit is.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
from pathlib import Path

from podpy.util.errors import PodpyError
from podpy.util.fsutil import atomic_write

CANDIDATES = ("/usr/libexec/podman/catatonit", "/usr/bin/catatonit", "/usr/local/bin/catatonit")

BUILTIN_INIT = base64.b64decode(
    "f0VMRgIBAQAAAAAAAAAAAAIAPgABAAAAeABAAAAAAABAAAAAAAAAAHADAAAAAAAAAAAAAEAAOAABAEAABQAEAAEAAAAHAAAA"
    "eAAAAAAAAAB4AEAAAAAAAHgAQAAAAAAA1QIAAAAAAABYEwAAAAAAAAEAAAAAAAAASIscJEyNZCQQTI1s3BBIg/sCD4wxAgAA"
    "SYsEJGaBOC0tdRWAeAIAdQ9Jg8QISYM8JAAPhBECAAC4DgAAADH/SI01FwIAAEiNFRgCAABBuggAAAAPBbg5AAAADwVIhcAP"
    "iO4BAAAPhKwAAABJica4IQEAAL//////SI013gEAALoIAAAARTHSDwVIhcAPiMEBAABJiccxwEyJ/0iNNTQCAAC6gAAAAA8F"
    "SIP4/HTnSIXAD46cAQAAizUYAgAAg/4RdAy4PgAAAEyJ9w8F68e4PQAAAEjHx/////9IjTWMAQAAugEAAABFMdIPBUiFwH6l"
    "TDnwddmLBXIBAACJx4Pnf3QIgceAAAAA6wbB6AgPtvi45wAAAA8FuA4AAAC/AgAAAEiNNT0BAAAx0kG6CAAAAA8FSYssJEiJ"
    "74oHhMB0FjwvdAVI/8fr8UiJ7+jrAAAA6bUAAABMjQUVAQAATInpSIsBSIXAdBZIg8EIgThQQVRIdeyAeAQ9deZMjUAFMdtI"
    "jT3PAQAATI0NaBEAAEGKAITAdBM8OnQPTDnPcwqIB0j/x0n/wOvmSI0FpwEAAEg5x3UGxgcuSP/HxgcvSP/HSInuTDnPcyWK"
    "BogHSP/HSP/GhMB17UiNPXkBAADoWgAAAEiD+PN1BbsBAAAAQYoAhMB0BUn/wOuHSMfA/v///4XbdAdIx8Dz////u34AAABI"
    "g/j+dQW7fwAAALgBAAAAvwIAAABIjTWDAAAAuicAAAAPBYnfuOcAAAAPBbg7AAAATInmTInqDwXDv30AAADpvf7//799AAAA"
    "6bP+/////////////wAAAAAAAAAAAAAAAC91c3IvbG9jYWwvc2JpbjovdXNyL2xvY2FsL2JpbjovdXNyL3NiaW46L3Vzci9i"
    "aW46L3NiaW46L2JpbgBwb2RweS1pbml0OiBjYW5ub3QgZXhlY3V0ZSB0aGUgY29tbWFuZAoALnNoc3RydGFiAC50ZXh0AC5k"
    "YXRhAC5ic3MAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAALAAAAAQAAAAcAAAAAAAAAeABAAAAAAAB4AAAAAAAAAF0CAAAAAAAAAAAAAAAAAAABAAAAAAAAAAAAAAAAAAAA"
    "EQAAAAEAAAADAAAAAAAAANUCQAAAAAAA1QIAAAAAAAB4AAAAAAAAAAAAAAAAAAAAAQAAAAAAAAAAAAAAAAAAABcAAAAIAAAA"
    "AwAAAAAAAABNA0AAAAAAAE0DAAAAAAAAgxAAAAAAAAAAAAAAAAAAAAEAAAAAAAAAAAAAAAAAAAABAAAAAwAAAAAAAAAAAAAA"
    "AAAAAAAAAABNAwAAAAAAABwAAAAAAAAAAAAAAAAAAAABAAAAAAAAAAAAAAAAAAAA"
)


def builtin_init(directory: str | os.PathLike[str]) -> str:
    """Write the built-in init into ``directory`` (once per content) and return its path."""
    digest = hashlib.sha256(BUILTIN_INIT).hexdigest()[:12]
    path = Path(directory) / f"podpy-init-{digest}"
    try:
        if path.read_bytes() == BUILTIN_INIT:
            return str(path)
    except OSError:
        pass
    atomic_write(path, BUILTIN_INIT, mode=0o755, fsync=False)
    return str(path)


def find_init(explicit: str | None, directory: str | os.PathLike[str], candidates: tuple[str, ...] = CANDIDATES,
              search_path: bool = True) -> str:  # fmt: skip
    """--init-path if given (it must exist), else catatonit as Podman finds it, else the built-in init."""
    if explicit:
        if os.path.isfile(explicit) and os.access(explicit, os.X_OK):
            return explicit
        raise PodpyError(
            f"container-init binary not found on the host: stat {explicit}: no such file or directory"
        )
    for p in [*candidates, shutil.which("catatonit") if search_path else None]:
        if p and os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    return builtin_init(directory)
