"""The add-on's error hierarchy: every error carries a complete sentence for the artist.

Operators catch :class:`AddonError` and turn it into ``self.report({'ERROR'}, err.user_message())``;
nothing else reaches the artist as a traceback. No Blender import here (usable in tests and tools).
"""
from __future__ import annotations

__all__ = ["AddonError", "EngineFailure", "EngineNotFound", "ResultFormatError", "UserInputError"]


class AddonError(Exception):
    """Base class. ``str(err)`` is a sentence for the artist; ``hint`` optionally says how to fix it."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint

    def user_message(self) -> str:
        """One line: the message, plus the hint in parentheses when there is one."""
        return f"{self}" + (f" ({self.hint})" if self.hint else "")


class UserInputError(AddonError):
    """The artist's input is unusable (no photo chosen, file missing, nothing selected)."""


class EngineNotFound(AddonError):
    """No engine interpreter/package could be located."""


class EngineFailure(AddonError):
    """The engine process reported an error or died. ``kind`` is the engine's error class name."""

    def __init__(self, message: str, kind: str = "EngineError", hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.kind = kind


class ResultFormatError(AddonError):
    """An engine output folder is incomplete or does not follow ``MESH_NPZ.md``."""
