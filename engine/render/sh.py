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


def _quadratic_form(coeffs: torch.Tensor) -> torch.Tensor:
    """Rewrite Lambertian SH shading as a quadratic polynomial in the normal (differentiable).

    ``out_c = a + bx x + by y + bz z + sxx x² + syy y² + szz z² + sxy xy + sxz xz + syz yz`` with the
    ten coefficients per channel returned as [B, 10, 3] in that order, from ``coeffs`` [B, 9, 3].
    """
    c0, c1, c2, c3, c4 = SH_CONSTANTS
    lw = coeffs * _band_weights(coeffs.dtype, coeffs.device)[:, None]
    L = lw.unbind(1)  # nine [B, 3]
    return torch.stack((c0 * L[0] - c3 * L[6], c1 * L[3], c1 * L[1], c1 * L[2],
                        c4 * L[8], -c4 * L[8], 3.0 * c3 * L[6], c2 * L[4], c2 * L[7], c2 * L[5]), 1)


_FEATURES = ((), (0,), (1,), (2,), (0, 0), (1, 1), (2, 2), (0, 1), (0, 2), (1, 2))
"""Monomials of (x, y, z) multiplying the ten coefficients of :func:`_quadratic_form`."""


def _interleave(channels: list[torch.Tensor]) -> torch.Tensor:
    """[B, P] tensors -> [B, P, C] (strided copies; ``torch.stack(dim=-1)`` is several times slower)."""
    out = torch.empty(*channels[0].shape, len(channels), dtype=channels[0].dtype, device=channels[0].device)
    for c, t in enumerate(channels):
        out[..., c] = t
    return out


class _Quadratic(torch.autograd.Function):
    """Evaluate the quadratic form on [B, P] component vectors (contiguous elementwise ops are far
    faster on CPU than broadcast outer products or tall-skinny matmuls for dense images)."""

    @staticmethod
    def forward(ctx, n, k):  # type: ignore[override]
        x, y, z = (t.contiguous() for t in n.unbind(-1))  # [B, P]
        kk = [[k[:, i, c : c + 1] for c in range(3)] for i in range(10)]  # [B, 1] each
        outs = []
        for c in range(3):
            a, bx, by, bz, sxx, syy, szz, sxy, sxz, syz = (kk[i][c] for i in range(10))
            outs.append(a + x * (bx + sxx * x + sxy * y + sxz * z) + y * (by + syy * y + syz * z) + z * (bz + szz * z))
        ctx.save_for_backward(x, y, z, k)
        return _interleave(outs)

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        x, y, z, k = ctx.saved_tensors
        gc = [g[..., c].contiguous() for c in range(3)]
        g_n = g_k = None
        if ctx.needs_input_grad[0]:
            # G_i = sum_c k_ic g_c, then the gradient of the polynomial w.r.t. (x, y, z)
            gk = [gc[0] * k[:, i, 0:1] + gc[1] * k[:, i, 1:2] + gc[2] * k[:, i, 2:3] for i in range(1, 10)]
            bx, by, bz, sxx, syy, szz, sxy, sxz, syz = gk
            gx = bx + 2.0 * sxx * x + sxy * y + sxz * z
            gy = by + 2.0 * syy * y + sxy * x + syz * z
            gz = bz + 2.0 * szz * z + sxz * x + syz * y
            g_n = _interleave([gx, gy, gz])
        if ctx.needs_input_grad[1]:
            comp = (x, y, z)
            feats = [torch.ones_like(x)] + [comp[f[0]] if len(f) == 1 else comp[f[0]] * comp[f[1]]
                                            for f in _FEATURES[1:]]
            fm = torch.stack(feats, 1)  # [B, 10, P]
            gm = torch.stack(gc, 1)  # [B, 3, P]
            g_k = torch.bmm(gm, fm.transpose(1, 2)).transpose(1, 2)  # [B, 10, 3]; large-K matmul is fast
        return g_n, g_k


def sh_shading(normals: torch.Tensor, coeffs: torch.Tensor) -> torch.Tensor:
    """Lambertian shading ``[B, ..., 3]`` of unit normals ``[B, ..., 3]`` under SH radiance ``coeffs`` ``[B, 9, 3]``.

    ``normals`` or ``coeffs`` may have a leading 1 to broadcast. The order-2 expansion is a quadratic
    polynomial in the normal, evaluated as such (same values as ``sh_basis(n) @ (A_l/π · coeffs)``);
    zero normals (e.g. background pixels) get its constant term. Differentiable in both inputs.
    """
    check_float("coeffs", coeffs, (3,), last=3)
    check_float("normals", normals, tuple(range(2, 8)), last=3)
    if coeffs.shape[1] != 9:
        raise RenderArgumentError(f"coeffs must be [B, 9, 3], got {tuple(coeffs.shape)}.")
    b = max(normals.shape[0], coeffs.shape[0])
    if normals.shape[0] not in (1, b) or coeffs.shape[0] not in (1, b):
        raise RenderArgumentError(f"normals minibatch {normals.shape[0]} and coeffs {coeffs.shape[0]} differ.")
    dt = torch.promote_types(normals.dtype, coeffs.dtype)
    k = _quadratic_form(coeffs.to(dt).expand(b, 9, 3))
    flat = normals.to(dt).reshape(normals.shape[0], -1, 3).expand(b, -1, 3)
    out = _Quadratic.apply(flat, k)
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
