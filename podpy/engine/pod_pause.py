"""The pause image of pods' infra containers, built locally as Podman builds localhost/podman-pause.

Podman 4.3 builds its pause image on first use from catatonit (``/catatonit -P``), with no network.
podpy does the same with its own pause program: a 440-byte static x86_64 binary assembled from
``PAUSE_S`` below and embedded (podpy needs no compiler and no package). The image is one layer
(the binary plus the directories runtimes mount over) imported into the store under
``localhost/podpy-pause:VERSION``; its layer is byte-for-byte reproducible (fixed mtimes), so every
build gives the same diff ID.
"""

from __future__ import annotations

import base64
import io
import tarfile
from typing import Any

from podpy import __version__
from podpy.util.errors import ImageNotKnown
from podpy.util.paths import Paths

PAUSE_IMAGE = f"localhost/podpy-pause:{__version__}"
PAUSE_PATH = "/podpy-pause"

PAUSE_S = r"""
# podpy's pause program: the process of a pod's infra container (as catatonit -P in Podman's pause image).
# Holds the pod's namespaces and sleeps: SIGHUP, SIGINT, SIGQUIT or SIGTERM end it with status 0; as PID 1
# of a shared pid namespace it reaps every orphan (SIGCHLD). The signals are blocked and taken with
# rt_sigtimedwait, so the kernel queues them even for a namespace's init (which drops unhandled ones).
# Static, no libc: x86_64 Linux syscalls only. Assemble: as pause.S -o pause.o && ld -s -N -o pause pause.o
        .intel_syntax noprefix
        .text
        .globl _start
_start:
        mov     eax, 14                     # rt_sigprocmask(SIG_BLOCK, &set, NULL, 8)
        xor     edi, edi
        lea     rsi, [rip+set]
        xor     edx, edx
        mov     r10d, 8
        syscall
wait:
        mov     eax, 128                    # rt_sigtimedwait(&set, NULL, NULL, 8)
        lea     rdi, [rip+set]
        xor     esi, esi
        xor     edx, edx
        mov     r10d, 8
        syscall
        cmp     rax, 17                     # SIGCHLD: reap
        je      reap
        test    rax, rax
        js      wait                        # EINTR (stopped and continued)
        mov     eax, 231                    # exit_group(0)
        xor     edi, edi
        syscall
reap:
        mov     eax, 61                     # wait4(-1, NULL, WNOHANG, NULL) until none is left
        mov     edi, -1
        xor     esi, esi
        mov     edx, 1
        xor     r10d, r10d
        syscall
        test    rax, rax
        jg      reap
        jmp     wait
set:    .quad   0x14007                     # HUP INT QUIT TERM CHLD (bit N-1 for signal N)
"""

PAUSE_BINARY = base64.b64decode(
    "f0VMRgIBAQAAAAAAAAAAAAIAPgABAAAAeABAAAAAAABAAAAAAAAAAPgAAAAAAAAAAAAAAEAAOAABAEAAAwACAAEAAAAHAAAA"
    "eAAAAAAAAAB4AEAAAAAAAHgAQAAAAAAAaQAAAAAAAABpAAAAAAAAAAEAAAAAAAAAuA4AAAAx/0iNNVMAAAAx0kG6CAAAAA8F"
    "uIAAAABIjT09AAAAMfYx0kG6CAAAAA8FSIP4EXQOSIXAeN245wAAADH/DwW4PQAAAL//////Mfa6AQAAAEUx0g8FSIXAf+Xr"
    "twdAAQAAAAAAAC5zaHN0cnRhYgAudGV4dAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAACwAAAAEAAAAHAAAAAAAAAHgAQAAAAAAAeAAAAAAAAABpAAAAAAAAAAAAAAAAAAAA"
    "AQAAAAAAAAAAAAAAAAAAAAEAAAADAAAAAAAAAAAAAAAAAAAAAAAAAOEAAAAAAAAAEQAAAAAAAAAAAAAAAAAAAAEAAAAAAAAA"
    "AAAAAAAAAAA="
)

_DIRS = ("dev", "etc", "proc", "run", "sys", "tmp")


def layer_tar() -> bytes:
    """The image's one layer: the pause binary at /podpy-pause and the usual mount points."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for d in _DIRS:
            ti = tarfile.TarInfo(d)
            ti.type, ti.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(ti)
        ti = tarfile.TarInfo(PAUSE_PATH.lstrip("/"))
        ti.mode, ti.size = 0o755, len(PAUSE_BINARY)
        tar.addfile(ti, io.BytesIO(PAUSE_BINARY))
    return buf.getvalue()


def _present(paths: Paths) -> bool:
    from podpy.engine import images

    try:
        images.open_store(paths).lookup_image(PAUSE_IMAGE)
    except ImageNotKnown:
        return False
    return True


def ensure_image(paths: Paths) -> str:
    """The pause image's name, imported into the store first if it is not there yet (once: concurrent
    ``pod create``s wait on a lock instead of each importing an image of its own)."""
    if _present(paths):
        return PAUSE_IMAGE
    from podpy.engine.transfer import import_
    from podpy.util.lock import FileLock

    with FileLock(paths.root / "pause-image.lock"):
        if not _present(paths):
            changes: list[Any] = [f'ENTRYPOINT ["{PAUSE_PATH}"]']
            import_(paths, "-", PAUSE_IMAGE, changes=changes, message="podpy pause image",
                    stdin=io.BytesIO(layer_tar()))  # fmt: skip
    return PAUSE_IMAGE
