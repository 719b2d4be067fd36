"""The skin's surface reflection of the ambient light (its sheen), taken off the calibrated albedo.

Skin is a dielectric (refractive index about 1.4, Fresnel reflectance at normal incidence
``F0 = ((n - 1) / (n + 1))² ≈ 0.028``) over a diffusing body: besides the sun's highlight lobe, which the
lighting model already carries (:meth:`~engine.texture.delight.model.LightingModel.specular`), its
rough surface reflects the whole surrounding light, a veil of about ``F(θ) · L(r)`` over every texel (``L``
the ambient light around the mirror direction ``r``). ``F`` is taken as ``F0`` at every angle: a rough
surface's reflectance of a wide light stays near it until grazing, and a Schlick rise toward grazing
(capped by the roughness) made the two sides of turned heads less alike on the training renders (BS 12.6
-> 13.5) for no gain in the exposure. Left in, the veil adds a near-constant ~0.03 to the de-lit albedo: nothing for fair skin (0.45), a third of a stop for
dark skin (0.07), which then came out too light (training renders: the exposure error grew with the true
skin's darkness, -0.4 EV of error per stop of albedo).

The veil is in photo units (``F · L``), the albedo in shading units: only after the calibration has fixed
the scale do they compare, and then only as a ratio: per texel the albedo loses
``F0 · AO · S_amb(r) / S(x)``, with ``S_amb(r)`` the ambient (SH) shading about the mirror direction and
``S(x)`` the texel's whole shading. Under an even light that ratio is 1 (the albedo loses ``F0``); in a
sun's cast shadow too; on a sunlit cheek the veil is small beside the sun's light.

**Off by default** (``DelightSettings.sheen_f0 = 0``; :data:`SKIN_F0` turns it on). Measured with
:data:`SKIN_F0` (exposure error of the mean skin, rms EV; seen-skin ΔE00): 28 training renders 0.498 ->
0.412, 8.08 -> 7.58, skin tone 6.09 -> 5.60; but the 60 benchmark renders only 0.455 -> 0.449, seen skin
7.60 -> 7.72, tone 5.45 -> 5.36, the photo/fill seam 1.9 -> 2.1 and the ΔE00 between lightings 8.2 -> 8.7
(its mean exposure bias went from +0.14 to -0.02 EV, and its darkest head, which the eye whites had
measured about right, came out too dark). The yardstick did not confirm it, so it is not the default.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from engine.texture.delight.model import lambert_basis

__all__ = ["SKIN_F0", "sheen_albedo", "remove_sheen"]

SKIN_F0 = ((1.4 - 1.0) / (1.4 + 1.0)) ** 2
"""Fresnel reflectance of skin's surface at normal incidence (refractive index 1.4): 0.028."""


def sheen_albedo(normal: np.ndarray, view_dir: np.ndarray, ao: np.ndarray, shading: np.ndarray,
                 sh: np.ndarray, f0: float) -> np.ndarray:
    """(M, 3) the albedo the sheen adds to texels with unit ``normal`` and ``view_dir`` (M, 3), ambient
    occlusion ``ao`` (M,) and whole shading ``shading`` (M, 3), under ambient SH ``sh`` (9, 3) in the
    shading's units (see the module docstring)."""
    cos = np.sum(normal * view_dir, axis=-1)
    mirror = 2.0 * cos[:, None] * normal - view_dir
    mirror /= np.maximum(np.linalg.norm(mirror, axis=-1, keepdims=True), 1e-9)
    ambient = np.clip(lambert_basis(mirror) @ sh, 0.0, None) * ao[:, None]
    return f0 * ambient / np.maximum(shading, 1e-4)


def remove_sheen(delit, unwrap, ao: np.ndarray, f0: float, keep: float):
    """The calibrated :class:`~engine.texture.delight.Delit` with the sheen taken off its albedo on every
    texel with a shading (``ao`` (N, N) the texels' ambient occlusion). No texel loses more than
    ``1 - keep`` of its albedo (where the lighting model is wrong, the ratio can be)."""
    on = np.any(delit.shading > 0.0, axis=-1) & (delit.albedo.max(-1) > 0.0)
    veil = sheen_albedo(unwrap.normal[on].astype(np.float64), unwrap.view_dir[on].astype(np.float64),
                        ao[on].astype(np.float64), delit.shading[on].astype(np.float64), delit.lighting.sh,
                        f0)
    albedo = delit.albedo.copy()
    albedo[on] = np.maximum(albedo[on] - veil, keep * albedo[on]).astype(np.float32)
    return replace(delit, albedo=albedo)
