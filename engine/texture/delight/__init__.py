"""Stage 2 of the texture pipeline: physically based de-lighting of the unwrapped photo.

Image model (linear RGB, per texel x with normal n, view direction v, head space):

    photo(x) = albedo(x) * S(x) + spec(x)
    S(x)     = AO(x) * Σ_k L_k B_k(n)  +  sun_rgb * max(0, n·d) * vis_d(x)
    spec(x)  = spec_rgb * max(0, n·h)^α * vis_d(x) * [n·d > 0],   h = normalize(d + v)

``B_k = (A_l / π) Y_k`` is the order-2 SH Lambert basis of :mod:`engine.render.sh` (so ``L`` are
radiance SH coefficients in that module's convention), ``AO`` an ambient-occlusion prior per vertex
(rasterized once per topology on the template, cached), ``d`` the direction of one dominant distant
light (the "sun") whose cast shadows ``vis_d`` come from a shadow map of the fitted mesh, and a
Blinn-Phong lobe for the skin's sheen.

Estimation: on face-skin texels (no lips, brows, eyes, nostrils) the albedo is modelled as one
constant colour, which makes the model linear in ``(L, sun_rgb, spec_rgb)`` for a fixed ``d``. ``d`` is
found by a search over sphere directions, and every solve is an iteratively re-weighted least squares
(Cauchy weights on the relative residual) so beard, freckles, stray shadows and highlights the model
cannot explain are down-weighted. Then ``albedo = (photo - spec) / S`` everywhere the photo is seen.

Scale (the albedo/exposure ambiguity): the lighting is normalised so that its unoccluded shading
averaged over the template's face-skin normals (:func:`reference_normals`, a fixed set of head-space
directions that face photos observe well) equals :data:`REFERENCE_SHADING` (1.0) in each of R, G, B:
a white face-shaped object would average 1.0. This is what a camera's exposure and white balance do;
the same face under different lights that were exposed and white-balanced gets the same albedo, and
a light whose colour varies over directions (warm key, cool fill) is removed.

Texels the model explains badly become *outliers*: specular highlights the lobe did not capture
(much brighter than the local albedo and less saturated), and unexplained shadows (much darker than
the local albedo while the mirrored texel is not). They are repaired from the mirrored texel when
that one is clean, else from their neighbourhood.

The package, lowest layer first (a module imports only the ones above it):

- :mod:`.settings`: :class:`DelightSettings`, every knob and threshold;
- :mod:`.limb`: the darkening toward the face outline and its fit;
- :mod:`.model`: the image model, :class:`LightingModel`, the SH basis, the reference normals;
- :mod:`.grid`: helpers on texel grids (region masks, local means);
- :mod:`.visibility`: shadow maps and ambient occlusion;
- :mod:`.solve`: weighted and robust (IRLS) least squares;
- :mod:`.samples`: the skin samples the lighting is fitted to;
- :mod:`.search`: the search for the sun's direction;
- :mod:`.estimate`: :func:`estimate_lighting`;
- :mod:`.confidence`: how much each de-lit texel is trusted;
- :mod:`.repair`: outlier detection and repair;
- :mod:`.core`: :func:`delight` and :class:`Delit`;
- :mod:`.sheen`: the skin surface's reflection of the ambient light, taken off the calibrated albedo.
- :mod:`.shine`: the highlights the lighting model left, taken off the calibrated albedo (dichromatic).
"""
from __future__ import annotations

from engine.texture.delight.core import Delit, delight
from engine.texture.delight.estimate import estimate_lighting
from engine.texture.delight.limb import fit_limb, limb_factor  # noqa: F401 - importable as before the split
from engine.texture.delight.model import (
    REFERENCE_SHADING,
    LightingModel,
    fibonacci_sphere,
    lambert_basis,
    reference_mean_shading,
    reference_normals,
)
from engine.texture.delight.samples import SKIN_LIGHTING_REGIONS, _Samples  # noqa: F401 - _Samples as before
from engine.texture.delight.settings import (  # noqa: F401 - the constants importable as before the split
    _RELATIVE_FLOOR,
    LIMB_MAX,
    LIMB_POWER,
    DelightSettings,
)
from engine.texture.delight.sheen import remove_sheen
from engine.texture.delight.shine import Shine, expected_shine, remove_shine
from engine.texture.delight.visibility import (
    ShadowMap,
    shadow_map,
    sun_visibility,
    template_ambient_occlusion,
    texel_ambient_occlusion,
    vertex_ambient_occlusion,
)

__all__ = [
    "REFERENCE_SHADING",
    "SKIN_LIGHTING_REGIONS",
    "DelightSettings",
    "Delit",
    "LightingModel",
    "ShadowMap",
    "delight",
    "estimate_lighting",
    "fibonacci_sphere",
    "lambert_basis",
    "reference_mean_shading",
    "reference_normals",
    "remove_sheen",
    "remove_shine",
    "expected_shine",
    "Shine",
    "shadow_map",
    "sun_visibility",
    "template_ambient_occlusion",
    "texel_ambient_occlusion",
    "vertex_ambient_occlusion",
]
