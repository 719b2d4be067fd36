"""Texture and photo sampling with ``torch.nn.functional.grid_sample`` (CPU backend).

UV convention (docs/conventions.md): ``(u, v)`` in [0, 1], **v up**. A texture stored ``[H, W, C]``
with row 0 = top has texel (row, col) centred at ``u = (col + 0.5) / W``, ``v = 1 - (row + 0.5) / H``.
With ``align_corners=False`` grid_sample puts texel centres at ``x = (2 col + 1) / W - 1``, so the
grid is ``(2u - 1, 1 - 2v)``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from engine.render.errors import RenderArgumentError

__all__ = ["texture_torch", "sample_image_torch"]

_FILTERS = {"auto": "bilinear", "linear": "bilinear", "nearest": "nearest"}
_BOUNDARY = {"clamp": "border", "zero": "zeros", "wrap": "border"}


def _batch_match(tex: torch.Tensor, b: int) -> torch.Tensor:
    if tex.shape[0] == b:
        return tex
    if tex.shape[0] == 1:
        return tex.expand(b, *tex.shape[1:])
    raise RenderArgumentError(f"texture minibatch {tex.shape[0]} does not match uv minibatch {b}.")


def _pad_wrap(t: torch.Tensor) -> torch.Tensor:
    """Pad [B, C, H, W] by one texel on each side with the opposite border (torus topology).

    ``torch.cat`` of border slices rather than ``F.pad(mode='circular')``, whose CPU backward is
    orders of magnitude slower.
    """
    t = torch.cat((t[..., -1:, :], t, t[..., :1, :]), dim=-2)
    return torch.cat((t[..., -1:], t, t[..., :1]), dim=-1)


def texture_torch(tex: torch.Tensor, uv: torch.Tensor, filter_mode: str, boundary_mode: str) -> torch.Tensor:
    """Sample ``tex`` [B|1, Ht, Wt, C] at ``uv`` [B, H, W, 2] (v up) -> [B, H, W, C].

    ``filter_mode``: 'auto' | 'linear' (bilinear) | 'nearest'. ``boundary_mode``: 'wrap' (fractional
    part of uv, bilinear taps wrap around), 'clamp' (clamp to the centres of the border texels),
    'zero' (outside is zero).
    """
    if filter_mode not in _FILTERS:
        raise RenderArgumentError(
            f"filter_mode {filter_mode!r} is not supported by the torch backend; use one of {sorted(_FILTERS)}."
        )
    if boundary_mode not in _BOUNDARY:
        raise RenderArgumentError(f"boundary_mode must be one of {sorted(_BOUNDARY)}, got {boundary_mode!r}.")
    b = uv.shape[0]
    t = _batch_match(tex, b).permute(0, 3, 1, 2)  # [B, C, Ht, Wt]
    u, v = uv[..., 0], uv[..., 1]
    if boundary_mode == "wrap":
        ht, wt = t.shape[-2], t.shape[-1]
        t = _pad_wrap(t)
        u = torch.remainder(u, 1.0)
        v = torch.remainder(v, 1.0)
        gx = (u * wt + 1.0) * (2.0 / (wt + 2)) - 1.0
        gy = ((1.0 - v) * ht + 1.0) * (2.0 / (ht + 2)) - 1.0
    else:
        gx, gy = 2.0 * u - 1.0, 1.0 - 2.0 * v
    grid = torch.stack((gx, gy), -1).to(t.dtype)
    out = F.grid_sample(t, grid, mode=_FILTERS[filter_mode], padding_mode=_BOUNDARY[boundary_mode], align_corners=False)
    return out.permute(0, 2, 3, 1)


def sample_image_torch(img: torch.Tensor, pixel_xy: torch.Tensor, padding_mode: str) -> torch.Tensor:
    """Bilinearly sample ``img`` [B|1, H, W, C] at pixel coordinates ``pixel_xy`` [B, ..., 2] -> [B, ..., C].

    ``pixel_xy = (column, row)`` with pixel centres at integer coordinates (the OpenCV convention of
    ``K``), so ``(0, 0)`` is the centre of the top-left pixel. ``padding_mode``: 'border' | 'zeros'.
    """
    if padding_mode not in ("border", "zeros"):
        raise RenderArgumentError(f"padding_mode must be 'border' or 'zeros', got {padding_mode!r}.")
    b = pixel_xy.shape[0]
    t = _batch_match(img, b).permute(0, 3, 1, 2)
    h, w = t.shape[-2], t.shape[-1]
    flat = pixel_xy.reshape(b, -1, 1, 2).to(t.dtype)
    gx = (2.0 * flat[..., 0] + 1.0) / w - 1.0
    gy = (2.0 * flat[..., 1] + 1.0) / h - 1.0
    out = F.grid_sample(t, torch.stack((gx, gy), -1), mode="bilinear", padding_mode=padding_mode, align_corners=False)
    return out[..., 0].permute(0, 2, 1).reshape(*pixel_xy.shape[:-1], t.shape[1])
