"""Order-2 real spherical harmonics lighting for Lambertian surfaces (Ramamoorthi & Hanrahan 2001).

Convention
    * Basis order (9 functions, orthonormal on the unit sphere, ``n = (x, y, z)`` unit):
      ``Y00 = 0.282095``; ``Y1-1 = 0.488603 y``, ``Y10 = 0.488603 z``, ``Y11 = 0.488603 x``;
      ``Y2-2 = 1.092548 xy``, ``Y2-1 = 1.092548 yz``, ``Y20 = 0.315392 (3z² - 1)``,
      ``Y21 = 1.092548 xz``, ``Y22 = 0.546274 (x² - y²)``.
    * ``coeffs`` ``[B, 9, 3]`` are the SH coefficients ``L_lm`` of the incident **radiance** per linear
      RGB channel, expressed in the same frame as the normals (head space or camera space: the caller
      decides, consistently).
    * :func:`sh_shading` returns ``E(n) / π`` with the irradiance ``E(n) = Σ A_l L_lm Y_lm(n)`` and the
      clamped-cosine convolution constants ``A_0 = π, A_1 = 2π/3, A_2 = π/4``: the outgoing radiance
      of a white Lambertian surface. A rendered colour is ``albedo * sh_shading(n, coeffs)`` (linear RGB).
      A uniform environment of radiance ``L`` gives shading ``L``.
"""
from __future__ import annotations

import math

import torch

from engine.render._checks import check_float
from engine.render.errors import RenderArgumentError

__all__ = ["SH_CONSTANTS", "LAMBERT_BANDS", "sh_basis", "sh_shading", "sh_from_directional"]

SH_CONSTANTS = (0.28209479177387814, 0.4886025119029199, 1.0925484305920792, 0.31539156525252005,
                0.5462742152960396)
"""Normalisation constants: l=0, l=1, the xy/yz/xz terms, the (3z²-1) term, the (x²-y²) term."""

LAMBERT_BANDS = (math.pi, 2.0 * math.pi / 3.0, math.pi / 4.0)
"""``A_l``: clamped-cosine kernel per band l = 0, 1, 2."""


def sh_basis(normals: torch.Tensor) -> torch.Tensor:
    """Real SH basis ``[..., 9]`` of unit vectors ``normals`` ``[..., 3]`` (order in the module docstring)."""
    check_float("normals", normals, tuple(range(1, 8)), last=3)
    x, y, z = normals.unbind(-1)
    c0, c1, c2, c3, c4 = SH_CONSTANTS
    return torch.stack(
        (
            torch.full_like(x, c0),
            c1 * y,
            c1 * z,
            c1 * x,
            c2 * x * y,
            c2 * y * z,
            c3 * (3.0 * z * z - 1.0),
            c2 * x * z,
            c4 * (x * x - y * y),
        ),
        -1,
    )


def _band_weights(dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    a0, a1, a2 = (a / math.pi for a in LAMBERT_BANDS)
    return torch.tensor([a0, a1, a1, a1, a2, a2, a2, a2, a2], dtype=dtype, device=device)


def sh_shading(normals: torch.Tensor, coeffs: torch.Tensor) -> torch.Tensor:
    """Lambertian shading ``[B, ..., 3]`` of unit normals ``[B, ..., 3]`` under SH radiance ``coeffs`` ``[B, 9, 3]``.

    ``normals`` may have a leading 1 (or coeffs a leading 1) to broadcast. Normals need not be unit on
    background pixels (zeros give the constant term only). Differentiable in both inputs.
    """
    check_float("coeffs", coeffs, (3,), last=3)
    if coeffs.shape[1] != 9:
        raise RenderArgumentError(f"coeffs must be [B, 9, 3], got {tuple(coeffs.shape)}.")
    basis = sh_basis(normals)  # [B, ..., 9]
    if normals.dim() < 2:
        raise RenderArgumentError(f"normals need a leading batch dim, got {tuple(normals.shape)}.")
    b = max(basis.shape[0], coeffs.shape[0])
    if basis.shape[0] not in (1, b) or coeffs.shape[0] not in (1, b):
        raise RenderArgumentError(f"normals minibatch {normals.shape[0]} and coeffs {coeffs.shape[0]} differ.")
    weighted = coeffs * _band_weights(coeffs.dtype, coeffs.device)[:, None]
    flat = basis.reshape(basis.shape[0], -1, 9).expand(b, -1, 9)
    out = torch.bmm(flat, weighted.expand(b, 9, 3))
    return out.reshape(b, *normals.shape[1:-1], 3)


def _rgb(value: torch.Tensor | float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """A scalar, [3] or [B, 3] colour as a [B|1, 3] tensor."""
    t = torch.as_tensor(value, dtype=dtype, device=device)
    if t.dim() == 0:
        return t.expand(1, 3)
    if t.shape[-1] != 3 or t.dim() > 2:
        raise RenderArgumentError(f"colours must be a scalar, [3] or [B, 3], got {tuple(t.shape)}.")
    return t.reshape(-1, 3)


def sh_from_directional(
    direction: torch.Tensor,
    diffuse: torch.Tensor | float = 1.0,
    ambient: torch.Tensor | float = 0.0,
) -> torch.Tensor:
    """SH coefficients ``[B, 9, 3]`` of an ambient term plus a distant light, for tests and benchmarks.

    Args:
        direction: ``[3]`` or ``[B, 3]``, pointing from the surface **towards** the light (normalised here).
        diffuse: RGB (``[3]`` / ``[B, 3]``) or scalar strength ``s`` of the directional light.
        ambient: RGB or scalar ambient shading ``a``.

    Returns:
        ``coeffs`` such that ``sh_shading(n, coeffs) ≈ a + s · max(0, n·d)``; the clamped cosine is
        band-limited to order 2 (e.g. ``1.0625 s`` at ``n = d``, ``0.0625 s`` at ``n = -d``).
    """
    d = check_float("direction", direction, (1, 2), last=3)
    d = d.reshape(-1, 3)
    d = d / d.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    dt, dev = d.dtype, d.device
    s = _rgb(diffuse, dt, dev)
    a = _rgb(ambient, dt, dev)
    y = sh_basis(d)  # [B, 9]
    coeffs = math.pi * y[:, :, None] * s[:, None, :]
    coeffs[:, 0, :] = coeffs[:, 0, :] + a / SH_CONSTANTS[0]
    return coeffs
