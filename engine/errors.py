"""One error hierarchy for the engine: every error a user can cause carries a one-line message."""
from __future__ import annotations

__all__ = ["EngineError", "InputError", "OutputError", "NoFaceError", "FaceTooSmallError", "FitError", "Cancelled",
           "ProtocolError"]


class EngineError(Exception):
    """Base class. ``str(err)`` is a complete sentence for the user; ``hint`` says how to fix it."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint

    def user_message(self) -> str:
        return f"{self}" + (f" ({self.hint})" if self.hint else "")


class InputError(EngineError):
    """The photo cannot be read: missing, not an image, truncated, unsupported."""

    exit_code = 2


class OutputError(InputError):
    """The output folder cannot be written (checked before any work, so it fails in well under a second)."""


class NoFaceError(EngineError):
    """No face was found in the photo."""

    exit_code = 3


class FaceTooSmallError(EngineError):
    """The face is too small to reconstruct reliably."""

    exit_code = 4


class FitError(EngineError):
    """The fit diverged or produced an implausible head."""

    exit_code = 5


class Cancelled(EngineError):
    """The run was cancelled (a ``cancel`` command on stdin, SIGTERM or Ctrl-C); exit code as for SIGINT."""

    exit_code = 130

    def __init__(self, message: str = "cancelled", hint: str | None = None) -> None:
        super().__init__(message, hint)


class ProtocolError(EngineError):
    """A command line on stdin (``serve`` mode, or ``--progress json``) is not a valid command."""

    exit_code = 2
