"""Every knob and threshold of the de-lighting: the :class:`DelightSettings` frozen dataclass.

Not here: the shadow-map geometry (depth bias, map padding), named constants of
:mod:`engine.texture.delight.visibility` (those functions are shared with the relighting and the
synthetic scenes, which carry no de-light settings); the solve's relative jitter
(:mod:`engine.texture.delight.solve`) and the refinement grid's size
(:mod:`engine.texture.delight.search`); and the divide-by-zero guards (``1e-3``, ``1e-6``, ...).
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LIMB_MAX", "LIMB_POWER", "DelightSettings"]


@dataclass(frozen=True)
class DelightSettings:
    """Knobs of the lighting solve and of the outlier repair.

    Samples and solve:

    ``max_samples``: texels used for the solve (evenly subsampled); ``search_samples``: of those,
    the ones used by the coarse search over all sphere directions.
    ``seen_weight``: unwrap weight above which a texel counts as well seen (a lighting sample, a
    neighbour in the local means, part of the photo's bright skin shading).
    ``min_samples``: fewer well-seen skin texels than this and the lighting is not estimated (a
    :class:`~engine.texture._arrays.ShapeError`); ``min_core_samples``: fewer below-brow samples
    than this and the robust weights start uniform (see ``estimate._core_weights``).
    ``local_dark_ratio`` / ``local_dark_sigma``: a texel darker than this share of its skin
    neighbourhood's luminance (a Gaussian of ``sigma * N`` texels) is left out of the solve
    (nostrils, lashes, hair strands); ``min_blur_sigma``: the smallest blur of that and of the
    outliers' local albedo, in texels.
    ``ridge``: Tikhonov weight on the order-1/2 SH coefficients (relative to the data's scale).
    ``irls_iters``: re-weighting passes; ``robust_scale``: Cauchy scale on the relative residual;
    ``max_robust_scale``: the scale adapted to the core fit's residual stays within
    ``[1, max_robust_scale] * robust_scale``.
    ``relative_floor``: the least-squares weight is ``1 / (lum + f * median(lum))²`` with this
    ``f`` (between absolute, ``f`` large, and relative, ``f`` = 0, least squares).

    Sun search:

    ``sun_candidates``: directions tried for the dominant light.
    ``sun_lit_cos``: ``n·d`` above which a sample counts as lit by a candidate; a candidate is
    tried only if its lit share of the samples is within ``(min_lit_share, max_lit_share)``.
    ``sign_percentile``: the sign of the sun is the one whose ambient at this low percentile of the
    observed normals is highest (see ``search._resolve_sign``).
    ``sun_refine_cones``: cones (degrees) of the refinements after the coarse search, each after
    re-weighting with the sun model (``reweight_iters`` IRLS passes).
    ``shadow_refine_cones``: cones (degrees) of the refinements with cast shadows held fixed.
    ``penumbra``: ``(low, high)`` sun visibility between which a texel is partly shadowed (left out
    of the shadowed search; its neighbourhood's confidence is lowered).
    ``shadow_map_resolution`` / ``search_shadow_resolution``: the final / search shadow maps.
    ``shininess``: Blinn-Phong exponents tried for the specular lobe.
    ``min_sun_gain``: keep the sun only if the final fit lowers the robust cost of the ambient-only
    fit by this fraction (soft light is better left to the SH alone). ``sun_restarts``: when it does
    not, the search starts again from up to this many next-best coarse directions, each more than
    ``restart_separation_deg`` from the first, its opposite and each other.

    Limb darkening (:mod:`engine.texture.delight.limb`):

    ``limb``: fit the darkening at all; ``limb_power``: exponent ``p`` of ``1 - k (1 - n·v)^p``;
    ``limb_max``: the largest ``k``; ``limb_front_cos``: ``n·v`` above which the face is well seen
    (the reference, needing ``limb_min_front`` texels); ``limb_bin_width``: width of the ``n·v``
    bins below it, from ``limb_min_cos``; a bin counts with at least ``limb_min_bin`` texels.

    Confidence:

    ``dark_shading``: shading (relative to the reference) below which the albedo is too noisy to
    trust fully; ``bright_percentile``: the percentile of the face skin's shading taken as the
    photo's bright skin shading; ``deep_shade``: shading relative to that below which the
    confidence falls toward ``deep_shade_confidence``;
    ``terminator_band`` / ``terminator_confidence``: within ``|n·d| <`` band of the sun's
    terminator the confidence falls toward ``terminator_confidence``;
    ``shadow_edge_width`` (share of the texture size) / ``shadow_edge_confidence``: around
    cast-shadow boundaries the confidence falls toward ``shadow_edge_confidence``.

    Outliers and repair:

    ``highlight_ratio`` / ``shadow_ratio``: luminance ratio to the local albedo beyond which a texel
    is an outlier; a highlight is also less saturated than ``highlight_saturation`` times the local
    albedo; ``outlier_sigma``: the local albedo's Gaussian (share of the texture size).
    ``trusted_confidence``: confidence above which a texel is part of the local albedo and may
    feed a repair; ``mirror_confidence``: confidence above which the mirror texel is trusted;
    ``mirror_clean_ratio``: a shadow needs a mirror texel at least this bright relative to its own
    local albedo. ``mirror_chroma_tolerance``: a repair takes the mirror texel only when its
    chromaticity (``rgb / sum``) lies within this of the outlier's local albedo's in every channel
    (the mirror of a texel near the turned head's outline may show the background: a teal car seat
    copied onto the cheek). At 0.06 it also turned away mirrors of ordinary skin, whose neighbourhood
    fill is less symmetric (BS 9.3 -> 9.6 on the benchmark); at 0.12 the 24 bare training renders' BS
    is 12.03 -> 11.93 with seen-skin and tone ΔE00 unchanged, and the teal still stays out.
    ``albedo_ceiling``: the de-lit albedo is in the photo's exposure until the calibration's gain
    divides it (an over-exposed photo's skin legitimately comes out above 1); it is kept up to this,
    and clipped to [0, 1] only after the gain (:func:`engine.texture.calibrate.apply_gain`).
    ``max_albedo_ratio``: in deep shade (below ``max_albedo_shade`` of the bright skin shading),
    albedo luminance above this multiple of the typical skin's is an outlier (an under-predicted
    shadow divided out).
    ``repair_feather``: the repair's feather radius (share of the texture size);
    ``mirror_repair_confidence``: a texel repaired from its mirror takes this share of the mirror's
    confidence; ``fill_repair_confidence``: one filled from its neighbourhood at most this.

    Sheen (:mod:`engine.texture.delight.sheen`, applied after the calibration):

    ``sheen_f0``: the skin surface's Fresnel reflectance at normal incidence taken off as its sheen, 0 (off)
    by default: :data:`engine.texture.delight.sheen.SKIN_F0` (0.028, refractive index 1.4) helped on the
    training renders but not on the benchmark (see that module); ``sheen_keep``: no texel loses more than ``1 - sheen_keep`` of its albedo to it.

    Shine (:mod:`engine.texture.delight.shine`, after the calibration and the sheen):

    ``shine``: take the skin's specular highlights off the white-balanced albedo (a dichromatic model);
    ``shine_sigma``: how far (share of the texture size) the diffuse chromaticity is gathered from;
    ``shine_tolerance``: texels paler (HSV saturation) than
    the local skin by about this are left out of its colour; ``shine_floor``: the share of the local skin's
    luminance that is its own variation, never taken as shine; ``shine_keep``: no channel
    of a texel loses more than ``1 - shine_keep`` of itself; ``shine_full``: from this share of a texel's
    luminance on, the shine leaves it the surrounding skin's chromaticity.
    """

    # The original fields, in their original order (positional construction keeps working).
    max_samples: int = 24000
    search_samples: int = 8000
    sun_candidates: int = 400
    shininess: tuple[float, ...] = (12.0, 40.0)
    ridge: float = 1e-3
    irls_iters: int = 4
    robust_scale: float = 0.08
    min_sun_gain: float = 0.15
    sun_restarts: int = 1
    restart_separation_deg: float = 35.0
    highlight_ratio: float = 1.3
    shadow_ratio: float = 0.62
    dark_shading: float = 0.12
    deep_shade: float = 0.15
    deep_shade_confidence: float = 0.3
    max_albedo_ratio: float = 1.6
    albedo_ceiling: float = 4.0
    terminator_band: float = 0.2
    terminator_confidence: float = 0.35
    shadow_map_resolution: int = 512
    search_shadow_resolution: int = 256
    shadow_refine_cones: tuple[float, ...] = (20.0, 8.0, 3.0)
    limb: bool = True
    local_dark_ratio: float = 0.6
    local_dark_sigma: float = 0.012
    # Thresholds that were constants or literals in the code before they became settings.
    seen_weight: float = 0.2
    min_samples: int = 200
    min_core_samples: int = 200
    min_blur_sigma: float = 2.0
    max_robust_scale: float = 2.5
    relative_floor: float = 0.25
    sun_lit_cos: float = 0.15
    min_lit_share: float = 0.1
    max_lit_share: float = 0.995
    sign_percentile: float = 1.0
    sun_refine_cones: tuple[float, ...] = (12.0, 4.0)
    reweight_iters: int = 2
    penumbra: tuple[float, float] = (0.02, 0.98)
    limb_power: float = 4.0
    limb_max: float = 0.9
    limb_front_cos: float = 0.7
    limb_min_front: int = 100
    limb_min_cos: float = 0.1
    limb_bin_width: float = 0.1
    limb_min_bin: int = 50
    bright_percentile: float = 90.0
    shadow_edge_width: float = 0.004
    shadow_edge_confidence: float = 0.15
    highlight_saturation: float = 0.85
    outlier_sigma: float = 0.012
    trusted_confidence: float = 0.3
    mirror_confidence: float = 0.5
    mirror_clean_ratio: float = 0.85
    mirror_chroma_tolerance: float = 0.12
    max_albedo_shade: float = 0.35
    repair_feather: float = 0.004
    mirror_repair_confidence: float = 0.8
    fill_repair_confidence: float = 0.6
    sheen_f0: float = 0.0
    sheen_keep: float = 0.5
    shine: bool = True
    shine_sigma: float = 0.0234
    shine_tolerance: float = 0.08
    shine_floor: float = 0.05
    shine_keep: float = 0.1
    shine_full: float = 0.5
    shine_margin: float = 1.0
    shine_gloss_sigma: float = 0.03


_DEFAULT_SETTINGS = DelightSettings()
"""The default settings (the default argument of the functions that take settings)."""

LIMB_POWER: float = DelightSettings.limb_power
"""Exponent of the outline darkening ``1 - k (1 - n·v)^p``: steep enough to leave the well-seen face
(n·v > 0.6, where the SH is fitted) untouched, so it cannot trade off against the SH
(the default of :attr:`DelightSettings.limb_power`)."""

LIMB_MAX: float = DelightSettings.limb_max
"""The largest outline darkening ``k`` (the default of :attr:`DelightSettings.limb_max`)."""

_RELATIVE_FLOOR: float = DelightSettings.relative_floor
"""The default of :attr:`DelightSettings.relative_floor`."""
