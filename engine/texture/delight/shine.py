"""Shine: the skin's specular highlights taken off the calibrated albedo with a dichromatic model.

A dielectric's reflection has two parts (Shafer's dichromatic model): the body reflection, coloured by
the skin, and the surface reflection, coloured by the light. Once the calibration has white-balanced the
albedo, the light's colour is white there, so wherever the photo shows shine the de-lit texel is its
diffuse albedo plus a grey veil:

    albedo(x) = m(x) * c(x) + h(x) * (1, 1, 1),     h >= 0

with ``c`` the diffuse chromaticity (r + g + b = 1). The skin's chromaticity changes slowly over the face,
and shine only ever makes it paler, so ``c`` is the mean chromaticity of the skin around each texel with the
texels much paler than that mean left out (a re-weighted wide mean), and ``(m, h)`` per texel is the
least-squares solution of the three channels. ``h`` is what the shine added; it is taken off, never more
than the texel is brighter than that diffuse skin around it (a pale texel darker than its surroundings is
stubble, a vein or a shadow's edge, not shine), only what exceeds the skin's own variation (``shine_floor`` of the
local skin's luminance), and never so much that a channel loses more than
``1 - shine_keep`` of itself. A blown-out highlight keeps no skin colour of its own: there the colour
becomes the diffuse skin's around it.

The lighting model's own sun lobe (:meth:`~engine.texture.delight.model.LightingModel.specular`) removes a
sun's highlight where it fits one; this takes off what it leaves: highlights of a wide light (an HDRI's sky
or window), of a light the sun search did not pick, and of oily skin brighter than the lobe.

Measured choices (``DelightSettings.shine_*``) are the training renders' (never the benchmark's); see
the settings.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.texture.color import luminance, saturation
from engine.texture.delight.grid import _local_mean
from engine.texture.delight.settings import DelightSettings
from engine.texture.delight.sheen import sheen_albedo

__all__ = ["Shine", "diffuse_reference", "expected_shine", "glossiness", "shine_amount", "remove_shine"]


@dataclass(frozen=True)
class Shine:
    """``albedo`` (N, N, 3) float32 linear without the shine; ``removed`` (N, N) float32 the grey amount
    taken off each texel (albedo units, 0 outside the mask); ``glossiness`` (N, N) float32 in [-1, 1] how
    much shinier (> 0) or more matte (< 0) than the face's average each area showed itself where the light
    could make it shine (0 where it could not, or without ``expected``): the roughness map's evidence."""

    albedo: np.ndarray
    removed: np.ndarray
    glossiness: np.ndarray | None = None


def diffuse_reference(albedo: np.ndarray, mask: np.ndarray, sigma: float, tolerance: float,
                      iters: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """The diffuse skin around each texel of ``albedo`` (N, N, 3) linear: its chromaticity (N, N, 3)
    (channels summing to 1) and its luminance (N, N), the means of the ``mask`` (N, N) bool texels within
    ``sigma`` texels, re-weighted ``iters`` times against the texels much paler than that mean (HSV
    saturation more than about ``tolerance`` below its: the shiny ones), so a highlight does not pale its
    own reference while the skin's ordinary variation (darker creases are more saturated too) stays in."""
    total = albedo.sum(-1, keepdims=True)
    chroma = albedo / np.maximum(total, 1e-6)
    stack = np.concatenate([chroma, luminance(albedo)[..., None]], axis=-1).astype(np.float32)
    valid = (mask & (total[..., 0] > 1e-4)).astype(np.float32)
    sat = saturation(albedo)
    out = _local_mean(stack, valid, sigma)
    for _ in range(iters):
        paler = np.maximum(saturation(out[..., :3]) - sat, 0.0) / tolerance
        out = _local_mean(stack, valid * np.exp(-paler * paler).astype(np.float32), sigma)
    ref = out[..., :3] / np.maximum(out[..., :3].sum(-1, keepdims=True), 1e-6)
    return ref, out[..., 3]


def shine_amount(albedo: np.ndarray, chroma: np.ndarray, min_det: float = 1e-3) -> np.ndarray:
    """(N, N) the grey veil ``h`` >= 0 of ``albedo = m * chroma + h`` (least squares over the three
    channels; ``albedo``, ``chroma`` (N, N, 3)). 0 where ``chroma`` is too close to grey to tell the
    skin from the shine (the system's determinant below ``min_det``)."""
    q = np.sum(chroma * chroma, axis=-1)
    det = 3.0 * q - 1.0                      # chroma sums to 1: X^T X = [[q, 1], [1, 3]]
    ca = np.sum(chroma * albedo, axis=-1)
    h = (q * albedo.sum(-1) - ca) / np.maximum(det, min_det)
    return np.where(det > min_det, np.maximum(h, 0.0), 0.0)


def expected_shine(delit, unwrap, ao: np.ndarray) -> np.ndarray:
    """(N, N) float32 where the estimated light would put shine, up to one scale: the ambient light about
    each texel's mirror direction (times its ``ao`` (N, N)) over its whole shading, in albedo units per unit
    of surface reflectance (:func:`~engine.texture.delight.sheen.sheen_albedo` with ``F0 = 1``; luminance).
    0 where the texel has no shading."""
    on = np.any(delit.shading > 0.0, axis=-1)
    out = np.zeros(on.shape, np.float32)
    veil = sheen_albedo(unwrap.normal[on].astype(np.float64), unwrap.view_dir[on].astype(np.float64),
                        ao[on].astype(np.float64), delit.shading[on].astype(np.float64), delit.lighting.sh, 1.0)
    out[on] = luminance(veil)
    return out


def _scale_to(h: np.ndarray, expected: np.ndarray, mask: np.ndarray) -> float:
    """The least-squares ``k`` of ``h ≈ k * expected`` over ``mask`` (>= 0)."""
    e, v = expected[mask].astype(np.float64), h[mask].astype(np.float64)
    return max(float(e @ v) / max(float(e @ e), 1e-12), 0.0)


def remove_shine(albedo: np.ndarray, mask: np.ndarray, settings: DelightSettings,
                 reference: np.ndarray | None = None, expected: np.ndarray | None = None) -> Shine:
    """The shine taken off the white-balanced ``albedo`` (N, N, 3) linear on the texels ``mask`` (N, N)
    bool, the diffuse skin gathered from the ``reference`` (N, N) bool texels (default ``mask``: skin the
    photo saw, occluders left out).

    Where the shine was most of a texel (a blown-out highlight) its own colour says little about the
    skin's: its chromaticity goes to the diffuse skin's around it in proportion to the shine's share of
    its luminance (all of it from ``shine_full`` on)."""
    n = albedo.shape[0]
    chroma, level = diffuse_reference(albedo, mask if reference is None else reference,
                                      settings.shine_sigma * n, settings.shine_tolerance)
    lum = luminance(albedo)
    # Shine only brightens: a texel darker than the diffuse skin around it is pale for another reason
    # (stubble, a vein, a shadow's edge) and keeps its colour; a grey veil adds its amount to luminance.
    h = np.minimum(shine_amount(albedo, chroma), np.maximum(lum - level, 0.0))
    # The skin's own variation about its local mean is not shine: only what exceeds it comes off.
    h = np.maximum(h - settings.shine_floor * level, 0.0) * mask
    gloss = None
    if expected is not None:
        expected = expected * _scale_to(h, expected, mask)
        gloss = glossiness(h, expected, mask, settings.shine_gloss_sigma * n)  # all the shine found
        h = np.minimum(h, settings.shine_margin * expected)
    h = np.minimum(h, (1.0 - settings.shine_keep) * albedo.min(-1)).clip(0.0, None)
    diffuse = albedo - h[..., None]
    share = np.clip(h / np.maximum(lum, 1e-6) / settings.shine_full, 0.0, 1.0)[..., None]
    skin = chroma * (luminance(diffuse) / np.maximum(luminance(chroma), 1e-6))[..., None]
    out = (1.0 - share) * diffuse + share * skin
    return Shine(albedo=out.astype(np.float32), removed=h.astype(np.float32), glossiness=gloss)


def glossiness(h: np.ndarray, expected: np.ndarray, mask: np.ndarray, sigma: float) -> np.ndarray:
    """(N, N) float32 in [-1, 1]: the shine found ``h`` over the shine expected ``expected`` (both (N, N),
    at the face's scale) minus 1, both gathered over the ``mask`` texels within ``sigma`` texels. Only where
    the light could show shine (``expected`` above the face's median): elsewhere no evidence, 0. It fades
    to 0 over ``sigma`` toward the texels outside ``mask`` and those the light could not make shine, so the
    roughness map it moves has no edges."""
    if not mask.any():
        return np.zeros(h.shape, np.float32)
    lit = (mask & (expected >= np.median(expected[mask]))).astype(np.float32)
    found = _local_mean(np.stack([h, expected], -1).astype(np.float32), lit, sigma)
    share = _local_mean(lit[..., None], np.ones_like(lit), sigma)[..., 0]  # lit texels' share around each
    ratio = found[..., 0] / np.maximum(found[..., 1], 1e-6) - 1.0
    return (np.clip(ratio, -1.0, 1.0) * np.clip(2.0 * share, 0.0, 1.0)).astype(np.float32)
