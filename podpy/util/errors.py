"""Errors that carry Podman-compatible exit codes, so every layer can fail the same way.

The CLI prints ``Error: <message>`` on stderr and exits with ``exit_code``.
Messages are one line and name the problem and, where there is one, the fix.
"""

from __future__ import annotations

EXIT_PODPY = 125  # podpy's own error
EXIT_CANNOT_EXEC = 126  # the container command cannot be executed
EXIT_NOT_FOUND = 127  # the container command was not found


class PodpyError(Exception):
    """Base error: podpy itself failed (exit 125 unless a subclass says otherwise)."""

    exit_code: int = EXIT_PODPY

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else self.__class__.__name__


class UsageError(PodpyError):
    """Bad flags or arguments."""


class NotFoundError(PodpyError):
    """An image, container, volume, ... that does not exist."""


class ImageNotKnown(NotFoundError):
    def __init__(self, name: str) -> None:
        super().__init__(f"{name}: image not known")


class ConflictError(PodpyError):
    """The object is in use or a name is taken."""


class InvalidInput(PodpyError):
    """Untrusted input (manifest, blob, tar member, config file) failed validation."""


class RegistryError(PodpyError):
    """Talking to a registry failed (network, protocol, auth)."""


class AuthError(RegistryError):
    """The registry refused our credentials."""


class StoreError(PodpyError):
    """The local store is inconsistent or could not be written."""


class RootlessError(PodpyError):
    """The user namespace could not be set up; the message says how to fix the host."""
