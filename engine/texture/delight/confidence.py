"""How much each de-lit texel is trusted: dark and deep shading, cast-shadow edges, the terminator."""
from __future__ import annotations

import cv2
import numpy as np

from engine.head.model import HeadModel
from engine.texture.delight.grid import _ramp, _region_mask
from engine.texture.delight.model import _LUMA32, REFERENCE_SHADING, LightingModel
from engine.texture.delight.settings import _DEFAULT_SETTINGS, DelightSettings
from engine.texture.unwrap import Unwrap


def _texel_confidence(unwrap: Unwrap, model: HeadModel, shading: np.ndarray, sunvis: np.ndarray,
                      light: LightingModel, seen: np.ndarray, idx: np.ndarray, nrm: np.ndarray,
                      settings: DelightSettings) -> np.ndarray:
    """(N, N) float32 confidence of the de-lit colour: the unwrap weight, lowered where the shading
    ``shading`` (N, N, 3) is dark (absolutely, and relative to the photo's bright skin), around the
    edges of the cast shadows ``sunvis`` (N, N) and near the sun's terminator (``nrm`` (M, 3) the
    normals of the flat texels ``idx``); ``seen`` (N, N) the texels the camera sees."""
    lum_s = shading @ _LUMA32
    conf = unwrap.weight * np.clip((lum_s / REFERENCE_SHADING - 0.5 * settings.dark_shading)
                                   / (settings.dark_shading), 0.0, 1.0)
    # Relative to this photo's brightest skin shading, deep shade is where the model is least sure
    # (bounce light, occluders it does not know): trust it less, so a well-lit mirror texel can help.
    skin_seen = _region_mask(unwrap, model, ("face",)) & (unwrap.weight > settings.seen_weight)
    if skin_seen.any():
        bright = float(np.percentile(lum_s[skin_seen], settings.bright_percentile))
        rel = np.clip(lum_s / max(bright, 1e-6) / settings.deep_shade, 0.0, 1.0)
        conf *= _ramp(settings.deep_shade_confidence, rel)
    conf *= _shadow_edge_confidence(sunvis, light, seen, settings)
    if np.any(light.sun_direction):
        conf *= _terminator_confidence(light, idx, nrm, shading.shape[0], settings)
    return conf


def _shadow_edge_confidence(sunvis: np.ndarray, light: LightingModel, seen: np.ndarray,
                            settings: DelightSettings = _DEFAULT_SETTINGS) -> np.ndarray:
    """Lower confidence in a band around cast-shadow boundaries (the shadow map is only approximate)."""
    if not np.any(light.sun_direction):
        return np.ones_like(sunvis)
    lo, hi = settings.penumbra
    edge = ((sunvis > lo) & (sunvis < hi) & seen).astype(np.uint8)
    if not edge.any():
        return np.ones_like(sunvis)
    n = sunvis.shape[0]
    r = max(1, round(n * settings.shadow_edge_width))
    dist = cv2.distanceTransform(1 - edge, cv2.DIST_L2, 3)
    x = np.clip(dist / (2.0 * r), 0.0, 1.0)
    return _ramp(settings.shadow_edge_confidence, x).astype(np.float32)


def _terminator_confidence(light: LightingModel, idx: np.ndarray, nrm: np.ndarray, n: int,
                           settings: DelightSettings) -> np.ndarray:
    """(N, N) confidence factor near the sun's terminator, for normals ``nrm`` (M, 3) of the flat
    texels ``idx``.

    There the shading changes fastest with the normal: a small error in the fitted geometry makes a
    visible seam, so those texels are trusted less."""
    cos = np.zeros(n * n, np.float32)
    cos[idx] = np.abs(nrm @ light.sun_direction)
    x = np.clip(cos.reshape(n, n) / settings.terminator_band, 0.0, 1.0)
    return _ramp(settings.terminator_confidence, x)
