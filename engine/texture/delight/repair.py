"""Outliers of the de-lit albedo (highlights the lobe missed, shadows the model did not explain) and
their repair from the mirror texel or the neighbourhood."""
from __future__ import annotations

import cv2
import numpy as np

from engine.head.model import HeadModel
from engine.texture.color import saturation
from engine.texture.complete import coarse_fill
from engine.texture.delight.grid import _local_mean, _region_mask
from engine.texture.delight.model import _LUMA32
from engine.texture.delight.settings import _DEFAULT_SETTINGS, DelightSettings
from engine.texture.unwrap import Unwrap

_SKINLIKE_REGIONS = ("face", "ears", "neck", "scalp", "eye_socket")
"""Regions whose albedo is compared with its skin neighbourhood to find outliers."""


def _find_outliers(albedo: np.ndarray, conf: np.ndarray, shading: np.ndarray, unwrap: Unwrap, model: HeadModel,
                   mirror_index: np.ndarray | None, settings: DelightSettings) -> np.ndarray:
    """(N, N) bool texels to repair: highlights (much brighter than the local albedo and less
    saturated), implausibly bright albedo in deep shade, and, with ``mirror_index``, shadows (much
    darker than the local albedo while the mirror texel is not); dilated by one texel."""
    n = albedo.shape[0]
    skinlike = _region_mask(unwrap, model, _SKINLIKE_REGIONS)
    w = (conf > settings.trusted_confidence) & skinlike
    local = _local_mean(albedo, w.astype(np.float32), sigma=max(settings.min_blur_sigma, settings.outlier_sigma * n))
    lum = albedo @ _LUMA32
    lum_l = local @ _LUMA32
    ratio = lum / np.maximum(lum_l, 1e-4)
    highlight = (ratio > settings.highlight_ratio) & (saturation(albedo, 1e-4) < settings.highlight_saturation
                                                      * saturation(local, 1e-4)) & w
    highlight |= _overbright(lum, shading, conf, skinlike, w, settings)
    shadow = np.zeros_like(highlight)
    if mirror_index is not None:
        shadow = _mirror_shadows(lum, ratio, conf, w, mirror_index, settings)
    out = highlight | shadow
    return cv2.dilate(out.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0 if out.any() else out


def _overbright(lum: np.ndarray, shading: np.ndarray, conf: np.ndarray, skinlike: np.ndarray, w: np.ndarray,
                settings: DelightSettings) -> np.ndarray:
    """Implausibly bright albedo (a shadow the model under-predicted, divided out): in deep shade,
    far above the well-seen skin (``w``), whatever the saturation."""
    ref_lum = float(np.median(lum[w])) if w.any() else 0.0
    if not (ref_lum > 0 and w.any()):
        return np.zeros_like(w)
    lum_s = shading @ _LUMA32
    deep = lum_s < settings.max_albedo_shade * float(np.percentile(lum_s[w], settings.bright_percentile))
    return (lum > settings.max_albedo_ratio * ref_lum) & skinlike & (conf > 0) & deep


def _mirror_shadows(lum: np.ndarray, ratio: np.ndarray, conf: np.ndarray, w: np.ndarray, mirror_index: np.ndarray,
                    settings: DelightSettings) -> np.ndarray:
    """Unexplained shadows: well-seen texels (``w``) much darker than their local albedo (``ratio``)
    and than their confident, clean mirror texel."""
    n = lum.shape[0]
    mi = mirror_index.reshape(n, n)
    has = mi >= 0
    safe = np.where(has, mi, 0).reshape(-1)
    r_m = ratio.reshape(-1)[safe].reshape(n, n)
    c_m = conf.reshape(-1)[safe].reshape(n, n)
    lum_m = lum.reshape(-1)[safe].reshape(n, n)
    shadow = (w & has & (ratio < settings.shadow_ratio) & (c_m > settings.mirror_confidence)
              & (r_m > settings.mirror_clean_ratio) & (lum < settings.shadow_ratio * lum_m))
    return cv2.morphologyEx(shadow.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)) > 0


def _chromaticity(rgb: np.ndarray) -> np.ndarray:
    return rgb / np.maximum(rgb.sum(axis=-1, keepdims=True), 1e-6)


def _like_local(candidate: np.ndarray, albedo: np.ndarray, known: np.ndarray, settings: DelightSettings) -> np.ndarray:
    """(N, N) bool: ``candidate`` (N, N, 3) has the chromaticity of the local albedo around each texel
    (the normalised-convolution mean of ``albedo`` over the ``known`` texels) within
    ``settings.mirror_chroma_tolerance`` in every channel."""
    sigma = max(settings.min_blur_sigma, settings.outlier_sigma * albedo.shape[0])
    local = _local_mean(albedo, known.astype(np.float32), sigma=sigma)
    diff = np.abs(_chromaticity(candidate) - _chromaticity(local)).max(axis=-1)
    return diff <= settings.mirror_chroma_tolerance


def _repair(albedo: np.ndarray, conf: np.ndarray, outliers: np.ndarray, mirror_index: np.ndarray | None,
            settings: DelightSettings = _DEFAULT_SETTINGS) -> tuple[np.ndarray, np.ndarray]:
    """Outlier texels take the mirror texel's albedo when that is confident, else the neighbourhood's.

    The replacement is feathered over a few texels around each outlier region (its rim blends the
    original and the repaired colour), so a repair leaves no visible edge.
    """
    if not outliers.any():
        return albedo, conf
    n = albedo.shape[0]
    r = max(1.0, settings.repair_feather * n)
    k = int(2 * round(r) + 1)
    zone = cv2.dilate(outliers.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))) > 0
    alpha = np.clip(cv2.GaussianBlur(outliers.astype(np.float32), (0, 0), r) * 2.0, 0.0, 1.0)
    alpha[outliers] = 1.0
    rep = albedo.copy()
    c = conf.copy()
    todo = zone.copy()
    if mirror_index is not None:
        mi = mirror_index.reshape(n, n)
        safe = np.where(mi >= 0, mi, 0).reshape(-1)
        c_m = conf.reshape(-1)[safe].reshape(n, n)
        mirrored = albedo.reshape(-1, 3)[safe].reshape(n, n, 3)
        ok_m = todo & (mi >= 0) & (c_m > settings.mirror_confidence) & ~zone.reshape(-1)[safe].reshape(n, n)
        ok_m &= _like_local(mirrored, albedo, (conf > settings.trusted_confidence) & ~zone, settings)
        rep[ok_m] = mirrored[ok_m]
        c[ok_m & outliers] = settings.mirror_repair_confidence * c_m[ok_m & outliers]
        todo &= ~ok_m
    if todo.any():
        known = (conf > settings.trusted_confidence) & ~zone
        if known.any():
            fill = coarse_fill(albedo, known)
            rep[todo] = fill[todo]
            core = todo & outliers
            c[core] = np.minimum(c[core], settings.fill_repair_confidence)
        else:
            c[todo & outliers] = 0.0
    out = albedo + alpha[..., None] * (rep - albedo)
    return out.astype(np.float32), c
