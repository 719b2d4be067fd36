"""Colour constancy for the de-lit albedo: the photo's exposure and illuminant colour.

De-lighting (:mod:`engine.texture.delight`) recovers the albedo only up to one unknown gain per
channel ``k`` (``albedo_delit = k * albedo``): exposure times white balance times the light's
colour. It normalises the lighting so that a white face-shaped object would average 1.0, which is
what a well exposed, white-balanced photo of a mid-tone face gives; real photos break that all the
time (a dark, low-key photo of light skin gives a dark albedo; an amber key gives orange skin).

Two cues fix ``k``:

1. **The sclera.** The eye whites are a bright, near-neutral tissue in every person
   (:attr:`CalibrationSettings.sclera_albedo`). Their pixels in the photo (inside the lid contour,
   outside the iris, less saturated than the skin around it), divided by the de-lighting's shading
   of the lid skin around that eye (times the eyeball's ambient occlusion relative to the lids'),
   measure ``k * sclera_albedo`` directly: exposure and light colour at once. A clipped channel is
   reconstructed from the eye white's unclipped pixels (:mod:`.unclip`); an eye white clipped in
   every channel only bounds the exposure from below.
2. **A skin prior.** Whatever the light, de-lit skin must be human skin: its mean colour lies in a
   region of CIELAB spanned by melanin and haemoglobin (lightness 25-80, hue angle 25-75 degrees,
   chroma 6-35; Chardon et al. 1991's ITA classes from very light to dark, and the skin-colour
   gamut of Xiao et al. 2017's 3D skin-colour survey). Where the sclera cannot be used (closed,
   tiny or occluded eyes, glasses) the exposure puts the skin at a middle lightness and the
   camera's white balance is trusted; either way a gain that would put the skin outside the region
   is moved back to its edge (a cast no skin could have is removed).

The estimate is a per-channel gain ``k`` (what a white of the sclera's albedo reads in the de-lit
photo); the albedo is corrected by the von Kries adaptation in CAT02 cone space that takes that white
back to the sclera's albedo (:func:`engine.texture.color.adaptation_matrix`: a camera's white balance
and a light's colour are per-sensor gains, not per-display-primary ones), and the lighting is multiplied
by ``k``, so the re-rendered photo is unchanged up to the difference between the two.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from engine.landmarks import (
    LEFT_EYE,
    LEFT_IRIS,
    LEFT_IRIS_CENTRE,
    RIGHT_EYE,
    RIGHT_IRIS,
    RIGHT_IRIS_CENTRE,
    iris_circle,
)
from engine.texture.color import adaptation_matrix, lch_to_linear_rgb, linear_rgb_to_lch, luminance, saturation
from engine.texture.template import TemplatePalette

__all__ = [
    "Calibration",
    "CalibrationSettings",
    "ScleraSample",
    "provisional_balance",
    "apply_gain",
    "calibrate_gain", "calibration_warnings",
    "eye_centres_px",
    "eye_sclera_mask",
    "lid_texels",
    "sclera_colour",
    "sclera_pixels",
    "sclera_shading",
    "skin_locus_gain",
]


@dataclass(frozen=True)
class CalibrationSettings:
    """Physical priors and thresholds of the exposure / light-colour estimate.

    ``sclera_albedo``: linear RGB diffuse reflectance assumed for the eye whites (bright,
    slightly yellow): the one the template paints on the eyes, so the two agree. ``sclera_facing``: eyeball vertices whose normal's cosine to the camera lies
    in this range carry the visible sclera's ambient occlusion (the cornea is above it).
    ``lid_radius`` (metres) / ``lid_weight`` / ``min_lid_texels``: the seen lid and socket texels
    around an eyeball whose shading the sclera shares. ``iris_margin``: sclera pixels lie beyond this multiple of the iris radius;
    ``skin_ring``: the skin around the eye, within this fraction of the eye opening's height outside
    the lid contour, gives the skin's saturation; ``sclera_saturation``: sclera pixels are less
    saturated than it by at least this much (saturation 1 - min/max). ``sclera_quantiles``: luminance band of the sclera pixels
    used (drops catch-lights above); ``sclera_chroma_quantile``: the eye white's chromaticity is the
    mean of the pixels at or below this quantile of their saturation (see :func:`sclera_colour`).
    ``grey_sclera_quantile``: in a black-and-white photo, the
    brightest candidates above this quantile are the sclera. ``min_sclera_pixels``: fewer usable pixels and the sclera is not used;
    ``min_inner_sclera_pixels``: the pixels on the lid line are dropped only when at least this many remain.
    ``skin_l`` / ``skin_hue`` / ``skin_chroma``: the skin region (CIELAB lightness, hue angle in
    degrees, chroma) the mean face colour must lie in. ``prior_l``: the mean skin's lightness when
    the sclera cannot be used (the middle of the ITA range). ``max_gain_ev``:
    largest exposure change (EV) either cue may apply. ``min_sclera_shading``: an eye whose estimated
    shading is below this (in deep shadow) is not used. ``clipped``: a linear photo value at or
    above this is clipped; an eye with more than ``max_clipped_share`` of its sclera pixels clipped
    only bounds the exposure from below. ``lid_model_ratio``: see :func:`sclera_shading`.
    ``max_eye_disagreement_ev``: two eyes whose gains (or one eye's gain and the other's clipped lower
    bound) lie further apart than this (EV) contradict each other: the shading estimate missed a
    shadow or a key light on one of them, so neither is used and the skin prior sets the exposure.
    One eye's gain scatters by about 0.5 EV rms against the truth; 2 EV is four times that.
    """

    sclera_albedo: tuple[float, float, float] = TemplatePalette().sclera
    sclera_facing: tuple[float, float] = (0.5, 0.93)
    lid_radius: float = 0.025
    lid_weight: float = 0.2
    min_lid_texels: int = 20
    iris_margin: float = 1.05
    skin_ring: float = 0.6
    sclera_saturation: float = 0.1
    sclera_quantiles: tuple[float, float] = (0.0, 0.95)
    sclera_chroma_quantile: float = 0.5
    min_sclera_pixels: int = 12
    min_inner_sclera_pixels: int = 12
    grey_sclera_quantile: float = 0.7
    skin_l: tuple[float, float] = (25.0, 80.0)
    skin_hue: tuple[float, float] = (25.0, 75.0)
    skin_chroma: tuple[float, float] = (6.0, 35.0)
    prior_l: float = 58.0
    max_gain_ev: float = 6.0
    min_sclera_shading: float = 0.05
    clipped: float = 0.98
    max_clipped_share: float = 0.25
    lid_model_ratio: tuple[float, float] = (2.5, 4.0)
    max_eye_disagreement_ev: float = 2.0
    enabled: bool = True


@dataclass(frozen=True)
class Calibration:
    """``gain`` (3,): the per-channel light colour and exposure (``k`` above: the lighting is multiplied
    by it); ``adapt`` (3, 3): the matrix the de-lit albedo is corrected with (linear RGB, ``albedo @
    adapt.T``; the cone-space adaptation taking ``k`` times the sclera's albedo to the sclera's albedo,
    which is ``diag(1 / k)`` for a neutral ``k``);
    ``source``: ``sclera`` or ``skin`` (the prior, no usable eye; ``skin+disagree`` when the eyes
    contradicted each other), with ``+clipped`` when an over-exposed eye raised it and ``+skin`` when the skin region moved it back, or ``none``; ``info``: figures for ``params.json``."""

    gain: np.ndarray
    source: str
    info: dict[str, float] = field(default_factory=dict)
    adapt: np.ndarray = field(default_factory=lambda: np.eye(3))


def _eye_sclera(photo: np.ndarray, lm: np.ndarray, lid: tuple[int, ...], centre: int, ring: tuple[int, ...],
                settings: CalibrationSettings, balance: np.ndarray | None = None) -> np.ndarray:
    """(M, 3) pixels of one eye's visible sclera (see :func:`eye_sclera_mask`)."""
    found = eye_sclera_mask(photo, lm, lid, centre, ring, settings, balance)
    if found is None:
        return np.zeros((0, 3), np.float32)
    (y0, x0), mask = found
    return photo[y0:y0 + mask.shape[0], x0:x0 + mask.shape[1]][mask].astype(np.float32)


def eye_sclera_mask(photo: np.ndarray, lm: np.ndarray, lid: tuple[int, ...], centre: int, ring: tuple[int, ...],
                    settings: CalibrationSettings, balance: np.ndarray | None = None
                    ) -> tuple[tuple[int, int], np.ndarray] | None:
    """((row, col) of the crop's corner, (h, w) bool mask) of one eye's visible sclera, or None.

    Candidates lie inside the lid contour and outside the iris; of those, the sclera is what is
    at least a pixel inside the lid contour (pixels on it mix in lashes and lid skin, darker for
    darker skin), clearly less saturated than the skin around the eye (whatever the light's colour, skin stays
    more saturated than the eye white) and brighter than the candidates' median (lashes, lid
    shadow and the iris's rim are darker), or clipped white in every channel (an over-exposed eye white,
    which then bounds the exposure from below). ``balance`` (3,): a provisional white balance the
    saturations are compared under (see :func:`provisional_balance`); the pixels stay the photo's."""
    h, w = photo.shape[:2]
    poly = lm[list(lid)]
    c, r = iris_circle(lm, centre, ring)
    height = float(np.ptp(poly[:, 1]))
    pad = int(np.ceil(settings.skin_ring * max(height, 1.0))) + 2
    x0, y0 = np.floor(poly.min(0)).astype(int) - pad
    x1, y1 = np.ceil(poly.max(0)).astype(int) + pad + 1
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    if not np.isfinite(r) or r < 1.5 or height < 3.0 or x1 - x0 < 5 or y1 - y0 < 5:
        return None
    inside = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(inside, [np.round((poly - [x0, y0]) * 4).astype(np.int32)], 1, shift=2)
    k = 2 * int(np.ceil(settings.skin_ring * height)) + 1
    around = (cv2.dilate(inside, np.ones((k, k), np.uint8)) > 0) & (inside == 0)
    crop = photo[y0:y1, x0:x1].astype(np.float32)
    yy, xx = np.mgrid[y0:y1, x0:x1]
    cand = (inside > 0) & (np.hypot(xx - c[0], yy - c[1]) > settings.iris_margin * r)
    if cand.sum() < settings.min_sclera_pixels or around.sum() < 10:
        return None
    balanced = crop if balance is None else crop * np.asarray(balance, np.float32)
    s_skin = float(np.median(saturation(balanced[around])))
    lum = luminance(crop)
    white = crop.min(-1) >= settings.clipped  # an over-exposed eye white: its median is the white point
    mask = cand & ((lum > np.median(lum[cand])) | white)
    inner = cv2.erode(inside, np.ones((3, 3), np.uint8)) > 0  # off the lid line: no lash or lid in the pixel
    if (mask & inner).sum() >= settings.min_inner_sclera_pixels:
        mask &= inner
    if s_skin > settings.sclera_saturation:  # a colour photo: the eye white is the unsaturated part
        mask &= saturation(balanced) < s_skin - settings.sclera_saturation
    else:  # black and white: only brightness tells
        mask &= lum > np.quantile(lum[cand], settings.grey_sclera_quantile)
    return (y0, x0), mask


def sclera_pixels(photo: np.ndarray, landmarks: np.ndarray, settings: CalibrationSettings = CalibrationSettings(),
                  balance: np.ndarray | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per eye (person's left, then right): (iris centre (2,) x, y pixels, (M, 3) linear pixels of the
    visible sclera) in ``photo`` (H, W, 3), from 478 landmarks (x, y); ``balance`` as in
    :func:`eye_sclera_mask`."""
    lm = np.asarray(landmarks, np.float64)
    return [(lm[c], _eye_sclera(photo, lm, lid, c, ring, settings, balance))
            for lid, c, ring in ((LEFT_EYE, LEFT_IRIS_CENTRE, LEFT_IRIS), (RIGHT_EYE, RIGHT_IRIS_CENTRE, RIGHT_IRIS))]


def sclera_colour(px: np.ndarray, settings: CalibrationSettings, balance: np.ndarray | None = None
                  ) -> np.ndarray | None:
    """Linear colour (3,) of the sclera pixels in the luminance band, None when too few: their mean
    luminance, with the chromaticity of the band's less saturated pixels (at or below the
    ``sclera_chroma_quantile`` of their saturation; of the pixels with no clipped channel, when there are
    enough). The more saturated ones are where the lids, lashes,
    vessels and the skin's bounce light redden the eye white. ``balance`` (3,): the provisional white
    balance the saturations are compared under (see :func:`eye_sclera_mask`); the colour stays the photo's."""
    if len(px) < settings.min_sclera_pixels:
        return None
    lum = luminance(px)
    lo, hi = np.quantile(lum, settings.sclera_quantiles)
    band = px[(lum >= lo) & (lum <= hi)]
    mean = band.mean(0).astype(np.float64) if len(band) else np.zeros(3)
    if len(band) < settings.min_sclera_pixels // 2 or float(luminance(mean.astype(np.float32))) <= 1e-4:
        return None
    whole = band[(band < settings.clipped).all(-1)]  # a rebuilt channel carries the set's mean chromaticity
    whole = whole if len(whole) >= settings.min_sclera_pixels // 2 else band
    sat = saturation((whole if balance is None else whole * np.asarray(balance)).astype(np.float32), 1e-4)
    pale = whole[sat <= np.quantile(sat, settings.sclera_chroma_quantile)].mean(0).astype(np.float64)
    return pale * float(luminance(mean.astype(np.float32))) / max(float(luminance(pale.astype(np.float32))), 1e-6)


def _eyeball(model, vertices: np.ndarray, part: str) -> tuple[np.ndarray, np.ndarray]:
    """(vertex indices, centre (3,)) of one fitted eyeball (model part ``eye_l`` / ``eye_r``)."""
    idx = np.unique(model.faces.numpy()[model.face_part.numpy() == model.part_id(part)])
    return idx, np.asarray(vertices, np.float64)[idx].mean(0)


def _sclera_ao(model, vertices: np.ndarray, idx: np.ndarray, toward: np.ndarray, vertex_ao: np.ndarray,
               settings: CalibrationSettings) -> float:
    """Median template ambient occlusion of the eyeball vertices ``idx`` beside the cornea that
    face ``toward`` (3,) unit (the lids and brow shade the eye white; about 0.7 on the template)."""
    from engine.texture.unwrap import vertex_normals

    n = vertex_normals(np.asarray(vertices, np.float64), model.faces.numpy())[idx]
    cos = n @ toward
    sel = (cos > settings.sclera_facing[0]) & (cos < settings.sclera_facing[1])
    ao = vertex_ao[idx]
    return float(np.median(ao[sel] if sel.any() else ao))


def lid_texels(unwrap, model, centre: np.ndarray, settings: CalibrationSettings = CalibrationSettings()
               ) -> np.ndarray:
    """(N, N) bool: the seen lid and socket texels (weight above ``lid_weight``) within ``lid_radius`` of an
    eyeball's ``centre`` (3,), whose shading :func:`sclera_shading` gives that eye's white."""
    lids = np.isin(unwrap.region, [model.region_id(r) for r in ("eyelids", "eye_socket")])
    return (lids & (unwrap.weight > settings.lid_weight)
            & (np.linalg.norm(unwrap.position - centre, axis=-1) < settings.lid_radius))


def sclera_shading(delit, unwrap, model, vertices: np.ndarray, camera_centre: np.ndarray, part: str,
                   vertex_ao: np.ndarray, lid_ao: np.ndarray, settings: CalibrationSettings = CalibrationSettings(),
                   skin_rgb: np.ndarray | None = None) -> np.ndarray | None:
    """(3,) the estimated shading of one eye's visible sclera (model part ``part``), or None.

    The de-lighting's shading of the seen lid and socket skin around that eye (``delit.shading``
    over ``unwrap``'s texels within :attr:`CalibrationSettings.lid_radius` of the eyeball's centre)
    is the light that reaches the eye: the same light, the same cast shadows, fitted to the very
    pixels around it. The sclera sits deeper: the shading is scaled by the ratio of the eyeball's
    ambient occlusion (``vertex_ao`` (V,), the template's) to those texels' (``lid_ao`` (N, N), the same
    per texel). Median per
    channel (a lash or a crease does not move it).

    With ``skin_rgb`` (3,), the de-lit mean face skin, the lids' photo colour over it is what the lids'
    shading would be if they had the face's mean albedo. When the model's shading is far above that,
    the lighting model has the lids wrong (a cast shadow it put elsewhere: lids that dark against the
    face are not skin) and the observed shading takes over: from the model's alone at
    :attr:`CalibrationSettings.lid_model_ratio` ``[0]`` times the observed to the observed alone at ``[1]``
    times, geometrically in between, so that a small change of the photo (its white balance) cannot
    flip the exposure by the whole ratio. Measured: the hair benchmark's h5 hard-top render, whose lid
    shading the model put at 0.54 against an observed 0.13, 29.6 -> 4.3 ΔE00 on the covered skin.
    """
    idx, centre = _eyeball(model, vertices, part)
    view = np.asarray(camera_centre, np.float64) - centre
    view /= max(float(np.linalg.norm(view)), 1e-9)
    near = lid_texels(unwrap, model, centre, settings)
    if near.sum() < settings.min_lid_texels:
        return None
    ratio = _sclera_ao(model, vertices, idx, view, vertex_ao, settings) / max(float(np.median(lid_ao[near])), 1e-3)
    shade = np.median(delit.shading[near], axis=0).astype(np.float64)
    if skin_rgb is not None:
        seen = np.median(unwrap.color[near], axis=0).astype(np.float64) / np.maximum(skin_rgb, 1e-4)
        shade = _towards_observed(shade, seen, settings.lid_model_ratio)
    return shade * min(ratio, 1.0)


def _towards_observed(model: np.ndarray, seen: np.ndarray, ratios: tuple[float, float]) -> np.ndarray:
    """(3,) ``model`` up to ``ratios[0]`` times the luminance of ``seen``, ``seen`` from ``ratios[1]``
    times, and their geometric blend in between (log-linear in the ratio)."""
    r = float(luminance(model.astype(np.float32))) / max(float(luminance(seen.astype(np.float32))), 1e-6)
    lo, hi = ratios
    t = float(np.clip(np.log(max(r, 1e-6) / lo) / np.log(hi / lo), 0.0, 1.0))
    if t <= 0.0:
        return model
    return np.exp((1.0 - t) * np.log(np.maximum(model, 1e-6)) + t * np.log(np.maximum(seen, 1e-6)))


def eye_centres_px(model, vertices: np.ndarray, K: np.ndarray, R: np.ndarray, t: np.ndarray
                   ) -> dict[str, np.ndarray]:
    """{part: (2,) pixel} where each fitted eyeball's centre projects (``pixel = K (R X + t)``)."""
    out = {}
    for part in ("eye_l", "eye_r"):
        _, c = _eyeball(model, vertices, part)
        p = K @ (R @ c + t)
        out[part] = p[:2] / p[2]
    return out


def skin_locus_gain(skin_rgb: np.ndarray, settings: CalibrationSettings = CalibrationSettings(),
                    prior: bool = False) -> np.ndarray:
    """(3,) gain taking the mean skin colour ``skin_rgb`` (3,) linear into the skin region.

    With ``prior`` only the lightness goes to the prior's (a neutral gain: with no eye white to
    measure the light's colour, the camera's white balance is trusted, and the region's bound
    then removes a cast no skin could have); otherwise the colour moves only as far as the
    region's nearest edge (1 where it already lies inside)."""
    l, hue, chroma = linear_rgb_to_lch(skin_rgb)
    if prior:
        y_target = ((settings.prior_l + 16.0) / 116.0) ** 3
        return np.full(3, y_target / max(float(luminance(skin_rgb.astype(np.float32))), 1e-9))
    target = (float(np.clip(l, *settings.skin_l)), float(np.clip(hue, *settings.skin_hue)),
              float(np.clip(chroma, *settings.skin_chroma)))
    if np.allclose(target, (l, hue, chroma)):
        return np.ones(3)
    return lch_to_linear_rgb(*target) / np.maximum(skin_rgb, 1e-6)


def provisional_balance(skin_rgb: np.ndarray, settings: CalibrationSettings = CalibrationSettings()) -> np.ndarray:
    """(3,) white balance the sclera search compares saturations under: 1 when the de-lit mean skin colour
    ``skin_rgb`` (3,) has a skin's hue and, scaled to the prior's lightness, a skin's chroma; else the gain
    taking it to the region's central hue and a typical chroma for its lightness. Under a strong cast (a
    photo white-balanced for tungsten in daylight, a blue key) the eye white takes the cast's saturation
    and orange skin loses its own, so without it no sclera is found. The chroma is compared relative to
    the lightness because a dim photo's skin has a low chroma but a skin's chromaticity."""
    l, hue, chroma = linear_rgb_to_lch(skin_rgb)
    relative = chroma * settings.prior_l / max(l, 1e-3)
    if settings.skin_hue[0] <= hue <= settings.skin_hue[1] and settings.skin_chroma[0] <= relative <= settings.skin_chroma[1]:
        return np.ones(3)
    typical = 0.5 * (settings.skin_chroma[0] + settings.skin_chroma[1]) * min(l / settings.prior_l, 1.0)
    target = lch_to_linear_rgb(l, 0.5 * (settings.skin_hue[0] + settings.skin_hue[1]), typical)
    g = target / np.maximum(skin_rgb, 1e-6)
    return g / max(float(luminance(g.astype(np.float32))), 1e-9)


@dataclass(frozen=True)
class ScleraSample:
    """One eye: ``colour`` (3,) mean linear photo colour of its sclera, ``shading`` (3,) the estimated
    shading there, ``pixels`` how many pixels were averaged, ``clipped`` the share of them at the
    photo's white point (an over-exposed eye: its colour is then only a lower bound)."""

    colour: np.ndarray
    shading: np.ndarray
    pixels: int
    clipped: float = 0.0


def _eye_gain(e: ScleraSample, settings: CalibrationSettings) -> np.ndarray:
    return e.colour / np.maximum(e.shading, 1e-4) / np.asarray(settings.sclera_albedo)


def _usable(e: ScleraSample, settings: CalibrationSettings) -> bool:
    return float(luminance(e.shading.astype(np.float32))) > settings.min_sclera_shading


def _only_bounds(e: ScleraSample, settings: CalibrationSettings) -> bool:
    """Too much of the eye white is clipped: it only bounds the gain from below."""
    return e.clipped > settings.max_clipped_share


def _gain_luminance(e: ScleraSample, settings: CalibrationSettings) -> float:
    return float(luminance(_eye_gain(e, settings).astype(np.float32)))


def _eye_weight(e: ScleraSample) -> float:
    """How much one eye's gain (or bound) counts: pixels x shading luminance (an eye in the shade says less)."""
    return e.pixels * float(luminance(e.shading.astype(np.float32)))


def _log_mean(values: list, weights: list[float], floor: float) -> np.ndarray:
    """Weighted geometric mean of ``values`` (each a scalar or (3,), floored at ``floor``) over their first axis."""
    v = np.log(np.maximum(np.asarray(values, np.float64), floor))
    w = np.asarray(weights, np.float64) / np.sum(weights)
    return np.exp(np.sum(v * w.reshape((-1,) + (1,) * (v.ndim - 1)), axis=0))


def _sclera_gain(eyes: list[ScleraSample], settings: CalibrationSettings) -> np.ndarray | None:
    """Per-channel gain from the well-exposed eyes: each eye's colour / shading / sclera albedo,
    averaged in log space with :func:`_eye_weight`."""
    used = [e for e in eyes if _usable(e, settings) and not _only_bounds(e, settings)]
    if not used:
        return None
    return _log_mean([_eye_gain(e, settings) for e in used], [_eye_weight(e) for e in used], 1e-6)


def _eye_disagreement_ev(eyes: list[ScleraSample], settings: CalibrationSettings) -> float:
    """How far apart (EV, luminance) the eyes' exposure evidence lies: the spread of the usable eyes'
    gains, or a clipped eye's lower bound above the lowest usable eye's gain (0 with fewer than two)."""
    usable = [e for e in eyes if _usable(e, settings)]
    lum = [np.log2(max(_gain_luminance(e, settings), 1e-9)) for e in usable]
    measured = [v for v, e in zip(lum, usable) if not _only_bounds(e, settings)]
    bounds = [v for v, e in zip(lum, usable) if _only_bounds(e, settings)]
    if not measured:
        return 0.0
    spread = max(measured) - min(measured)
    if bounds:
        spread = max(spread, max(bounds) - min(measured))
    return float(spread)


def _clipped_bound(eyes: list[ScleraSample], settings: CalibrationSettings) -> float:
    """Lowest luminance the gain can have: an over-exposed sclera is at least as bright as its
    clipped pixels say (0 when no eye is clipped). Two clipped eyes' bounds are averaged in log space
    with the measured gains' weights (:func:`_eye_weight`), not their maximum: a bound is only as
    good as its eye's shading estimate, and the far eye of a turned head (few pixels, its lids at grazing
    angles half over the background) can put it a stop or two too high (breakingbad +1 EV: 0.29 lid
    shading against the near eye's 0.84 made the albedo 1.6 stops too dark)."""
    clipped = [e for e in eyes if _usable(e, settings) and _only_bounds(e, settings)]
    if not clipped:
        return 0.0
    return float(_log_mean([_gain_luminance(e, settings) for e in clipped], [_eye_weight(e) for e in clipped], 1e-9))


def calibrate_gain(skin_rgb: np.ndarray, eyes: list[ScleraSample],
                   settings: CalibrationSettings = CalibrationSettings(), grey: bool = False) -> Calibration:
    """The per-channel gain ``k`` from the de-lit mean skin colour ``skin_rgb`` (3,) and the eyes
    whose sclera was found (possibly none). A ``grey`` (black-and-white) photo has no light colour to
    remove: only its exposure is corrected (a neutral gain)."""
    info: dict[str, float] = {}
    if not settings.enabled:
        return Calibration(np.ones(3), "none", info, np.eye(3))
    spread = _eye_disagreement_ev(eyes, settings)
    contradict = spread > settings.max_eye_disagreement_ev
    eyes_used = [] if contradict else eyes
    if contradict:
        info["eye_disagreement_ev"] = spread
    k = _sclera_gain(eyes_used, settings)
    if k is not None:
        source = "sclera"
        info.update({f"sclera_gain_{c}": float(k[i]) for i, c in enumerate("rgb")})
    else:
        k = 1.0 / skin_locus_gain(skin_rgb, settings, prior=True)
        source = "skin+disagree" if contradict else "skin"
    floor = _clipped_bound(eyes_used, settings)
    info["clipped_eyes"] = float(sum(_only_bounds(e, settings) for e in eyes_used))
    lum_k = float(luminance(k.astype(np.float32)))
    if lum_k < floor:
        k = k * floor / max(lum_k, 1e-9)
        source += "+clipped"
    bounded = 1.0 / skin_locus_gain(skin_rgb / k, settings) * k
    if not np.allclose(bounded, k, rtol=1e-3):
        source += "+skin" if not source.startswith("skin") else ""
    k = _limit(bounded, settings)
    if grey:
        k = np.full(3, float(luminance(k.astype(np.float32))))
        source = "grey" if source.startswith("skin") else source
    info.update({f"gain_{c}": float(k[i]) for i, c in enumerate("rgb")})
    info.update({f"skin_{c}": float(skin_rgb[i]) for i, c in enumerate("rgb")})
    info["sclera_eyes"] = float(len(eyes))
    for j, e in enumerate(eyes):
        for name, arr in (("colour", e.colour), ("shade", e.shading)):
            info.update({f"eye{j}_{name}_{c}": float(arr[i]) for i, c in enumerate("rgb")})
        info[f"eye{j}_pixels"] = float(e.pixels)
        info[f"eye{j}_clipped"] = float(e.clipped)
    info["source_sclera"] = float(source.startswith("sclera"))
    white = np.asarray(settings.sclera_albedo, np.float64)
    return Calibration(k, source, info, adaptation_matrix(k * white, white))


def calibration_warnings(cal: Calibration) -> list[str]:
    """One line per reason the skin tone rests on a prior rather than on the photo."""
    out = []
    if cal.source.startswith("grey"):
        out.append("a black-and-white (or toned) photo: the skin's brightness comes from a typical-skin prior (its "
                   "grey levels depend on how it was converted from colour), not from the photo")
    elif cal.source.startswith("skin+disagree"):
        out.append("the two eye whites disagree about the light (one is probably in a shadow or a highlight the "
                   "lighting estimate missed): the skin tone and brightness come from a typical-skin prior, not "
                   "from the photo (check them against the person)")
    elif cal.source.startswith("skin") and cal.info.get("clipped_eyes", 0.0) > 0:
        out.append("the eye whites are over-exposed (clipped), so they only bound the skin's brightness: the skin "
                   "tone comes from a typical-skin prior within that bound, not from the photo (check it against "
                   "the person)")
        return out
    elif cal.source.startswith("skin"):
        out.append("no eye white was visible to measure the light: the skin tone and brightness come from a "
                   "typical-skin prior, not from the photo (check them against the person)")
    elif cal.source.endswith("+skin"):
        out.append("the eye whites gave an implausible skin colour: the skin tone was pulled back to the nearest "
                   "plausible one (the light's colour or the exposure may be mis-measured)")
    if "+clipped" in cal.source:
        out.append("the eye whites are over-exposed: the skin brightness is only bounded by them")
    return out


def _limit(k: np.ndarray, settings: CalibrationSettings) -> np.ndarray:
    """Clamp the gain's exposure (its luminance) to ±max_gain_ev, keeping its colour."""
    lum = float(luminance(k.astype(np.float32)))
    lim = 2.0 ** settings.max_gain_ev
    return k * (float(np.clip(lum, 1.0 / lim, lim)) / max(lum, 1e-9))


def apply_gain(delit, gain: np.ndarray, adapt: np.ndarray):
    """The :class:`~engine.texture.delight.Delit` with its lighting and shading multiplied by ``gain`` (3,)
    and its albedo corrected with ``adapt`` (3, 3) (:attr:`Calibration.adapt`: ``albedo @ adapt.T``; the
    re-rendered photo changes only by the difference between the matrix and ``diag(1 / gain)``)."""
    g = np.asarray(gain, np.float64)
    light = replace(delit.lighting, sh=delit.lighting.sh * g[None], sun_rgb=delit.lighting.sun_rgb * g)
    albedo = np.clip(delit.albedo @ np.asarray(adapt, np.float32).T, 0.0, 1.0)
    return replace(delit, albedo=albedo.astype(np.float32), shading=(delit.shading * g.astype(np.float32)),
                   lighting=light)
