"""Typed errors raised by the renderer when a caller passes malformed tensors or options.

These are programming errors of the calling stage (wrong shape, dtype, device, option string), not
errors a user can cause with a photo, so they derive from both :class:`engine.errors.EngineError`
(one hierarchy for the CLI) and :class:`ValueError` (what Python code expects for a bad argument).
"""
from __future__ import annotations

from engine.errors import EngineError

__all__ = ["RenderArgumentError", "BackendUnavailableError"]


class RenderArgumentError(EngineError, ValueError):
    """A tensor passed to a render op has the wrong shape, dtype or device, or an option is unknown."""


class BackendUnavailableError(EngineError, RuntimeError):
    """The requested render backend cannot run here (e.g. nvdiffrast asked for without CUDA)."""
