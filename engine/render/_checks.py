"""Boundary checks shared by the render ops: one place that turns bad input into typed errors."""
from __future__ import annotations

from collections.abc import Sequence

import torch

from engine.render.errors import RenderArgumentError

__all__ = ["check_float", "check_tri", "check_resolution", "check_ranges", "check_image"]

_FLOATS = (torch.float32, torch.float64)


def check_float(name: str, t: object, dims: Sequence[int], last: int | None = None) -> torch.Tensor:
    """Return ``t`` if it is a float32/float64 tensor with ``t.dim() in dims`` (and last size ``last``)."""
    if not isinstance(t, torch.Tensor):
        raise RenderArgumentError(f"{name} must be a torch.Tensor, got {type(t).__name__}.")
    if t.dtype not in _FLOATS:
        raise RenderArgumentError(f"{name} must be float32 or float64, got {t.dtype}.")
    if t.dim() not in dims:
        raise RenderArgumentError(f"{name} must have {' or '.join(map(str, dims))} dims, got shape {tuple(t.shape)}.")
    if last is not None and t.shape[-1] != last:
        raise RenderArgumentError(f"{name} must have last dimension {last}, got shape {tuple(t.shape)}.")
    return t


def check_tri(tri: object, num_vertices: int | None = None) -> torch.Tensor:
    """Return ``tri`` as int64 [F, 3] after checking dtype (int32/int64), shape and index range."""
    if not isinstance(tri, torch.Tensor):
        raise RenderArgumentError(f"tri must be a torch.Tensor, got {type(tri).__name__}.")
    if tri.dtype not in (torch.int32, torch.int64):
        raise RenderArgumentError(f"tri must be int32 (or int64), got {tri.dtype}.")
    if tri.dim() != 2 or tri.shape[1] != 3:
        raise RenderArgumentError(f"tri must have shape [F, 3], got {tuple(tri.shape)}.")
    tri64 = tri.long()
    if num_vertices is not None and tri64.numel() > 0:
        lo, hi = int(tri64.min()), int(tri64.max())
        if lo < 0 or hi >= num_vertices:
            raise RenderArgumentError(f"tri indexes vertices {lo}..{hi} but there are {num_vertices} vertices.")
    return tri64


def check_resolution(resolution: object) -> tuple[int, int]:
    """Return ``(height, width)`` as ints >= 1."""
    try:
        h, w = (int(v) for v in resolution)  # type: ignore[union-attr]
    except (TypeError, ValueError) as exc:
        raise RenderArgumentError(f"resolution must be (height, width), got {resolution!r}.") from exc
    if h < 1 or w < 1:
        raise RenderArgumentError(f"resolution must be positive, got {(h, w)}.")
    return h, w


def check_ranges(ranges: object, num_triangles: int) -> torch.Tensor:
    """Return ``ranges`` as int64 [B, 2] (start, count) on the CPU after checking bounds."""
    if not isinstance(ranges, torch.Tensor) or ranges.dim() != 2 or ranges.shape[1] != 2:
        raise RenderArgumentError("ranges must be an int32 tensor of shape [B, 2] (start, count).")
    if ranges.dtype not in (torch.int32, torch.int64):
        raise RenderArgumentError(f"ranges must be int32, got {ranges.dtype}.")
    r = ranges.detach().to("cpu", torch.int64)
    if r.numel() and (int(r.min()) < 0 or int((r[:, 0] + r[:, 1]).max()) > num_triangles):
        raise RenderArgumentError(f"ranges exceed the {num_triangles} triangles of tri.")
    return r


def check_image(name: str, t: object) -> torch.Tensor:
    """Return ``t`` if it is a float [B, H, W, C] tensor."""
    return check_float(name, t, (4,))
