"""Clipped-channel reconstruction: a photo pixel with one or two channels at the white point keeps
the colour of the unclipped photo around it.

An over-exposed or mis-white-balanced photo clips one channel long before the others (the red of
bright skin at +1 EV, the blue of skin shot at a tungsten setting in daylight). The clipped channel
only says "at least this"; the unclipped ones still measure the light. Where at least one channel
survives, the pixel's chromaticity is taken from the nearest well-exposed pixels (a push-pull,
normalised-convolution fill of ``log(rgb / sum(rgb))`` from pixels with no clipped channel) and scaled
to the surviving channels, never below the clipped value. Only pixels with every channel clipped stay
unknown. This is the "reconstruct colour" highlight mode of raw converters, applied to linear
8-bit photos.

Brighter skin is less saturated than the skin around it (sheen, and a camera's highlight roll-off),
so the neighbours' chromaticity alone makes a clipped cheek too red (+25 % red at +1 EV on the
astronaut and breakingbad). The chromaticity therefore also follows the brightness: the log
chromaticity's slope against the log of the darkest channel (never clipped where a channel
survives), measured on the reference pixels about their own neighbourhood (so it is the change with
brightness at one place, not the difference between places), carries the neighbours' chromaticity
to the clipped pixel's brightness. On the five test photos at +1 / +1.5 EV and a 3200 K white
balance, the median error of the restored channels fell from 0.14 to 0.06 (|log|).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from engine.landmarks import (
    FACE_OVAL,
    LEFT_EYE,
    LEFT_EYEBROW,
    LIPS_OUTER,
    RIGHT_EYE,
    RIGHT_EYEBROW,
)

__all__ = ["UnclipSettings", "Unclipped", "face_skin_pixels", "reconstruct_clipped", "reconstruct_clipped_set"]


@dataclass(frozen=True)
class UnclipSettings:
    """``clipped``: a linear channel value at or above this is clipped. ``min_level``: reference pixels
    (no channel clipped) must have a channel sum above this (dark pixels carry a noisy chromaticity).
    ``levels``: push-pull pyramid depth (the fill reaches ~2**levels pixels from the nearest
    reference). ``max_gain``: a reconstructed channel is at most this multiple of the clip level.
    ``min_reference``: fewer reference pixels in the given region and every unclipped pixel is one.
    ``reach``: with a reference region, a clipped pixel farther than about this fraction of the
    region's size from any reference stays unknown (its colour would be a guess from elsewhere).
    ``trend_percentile``: the chromaticity's brightness trend is measured on the references brighter
    (darkest channel) than this percentile of them; each channel's slope is clipped to
    ``+-max_trend``."""

    clipped: float = 0.98
    min_level: float = 0.05
    levels: int = 9
    max_gain: float = 4.0
    min_reference: int = 50
    reach: float = 0.1
    trend_percentile: float = 50.0
    max_trend: float = 1.0


@dataclass(frozen=True)
class Unclipped:
    """``rgb`` (H, W, 3) float32 linear, clipped channels reconstructed (may exceed 1);
    ``lost`` (H, W) bool: every channel clipped (colour unknown); ``restored`` (H, W) bool: some
    but not all channels were clipped and were reconstructed."""

    rgb: np.ndarray
    lost: np.ndarray
    restored: np.ndarray


def _push_pull(values: np.ndarray, weight: np.ndarray, levels: int) -> tuple[np.ndarray, np.ndarray]:
    """(H, W, C) the weighted values, holes (weight 0) filled from ever coarser averages (at most
    ``levels`` halvings), and (H, W) bool, where any weight lay within that reach."""
    num = [values * weight[..., None]]
    den = [weight]
    for _ in range(levels):
        if min(den[-1].shape) < 2:
            break
        num.append(cv2.pyrDown(num[-1]))
        den.append(cv2.pyrDown(den[-1]))
    est = num[-1] / np.maximum(den[-1], 1e-12)[..., None]
    for lvl in range(len(num) - 2, -1, -1):
        h, w = den[lvl].shape
        up = cv2.resize(est, (w, h), interpolation=cv2.INTER_LINEAR)
        if up.ndim == 2:
            up = up[..., None]
        own = num[lvl] / np.maximum(den[lvl], 1e-12)[..., None]
        a = np.clip(den[lvl] / (den[lvl] + 1e-3), 0.0, 1.0)[..., None]
        est = a * own + (1.0 - a) * up
    h, w = weight.shape
    reached = cv2.resize(den[-1], (w, h), interpolation=cv2.INTER_LINEAR) > 1e-6 * max(float(weight.max()), 1e-12)
    return est, reached


def _rescaled(rgb: np.ndarray, clip: np.ndarray, chroma: np.ndarray, settings: UnclipSettings) -> np.ndarray:
    """``rgb`` (..., 3) as the chromaticity ``chroma`` (..., 3) (or (3,)) scaled to match its unclipped
    channels (``clip`` (..., 3) bool), never below the recorded value nor above ``max_gain`` x the clip level."""
    keep = (~clip).astype(np.float32)
    scale = (rgb * keep).sum(-1) / np.maximum((chroma * keep).sum(-1), 1e-6)
    return np.clip(chroma * scale[..., None], rgb, settings.max_gain * settings.clipped)


def _chroma(rgb: np.ndarray, total: np.ndarray, ref: np.ndarray, levels: int,
            settings: UnclipSettings) -> tuple[np.ndarray, np.ndarray]:
    """(H, W, 3) the chromaticity each pixel would have unclipped: the references' (``ref`` (H, W)
    bool, weighted by brightness ``total``) log chromaticity around it, moved along their brightness
    trend to its own brightness; and (H, W) bool, where a reference lay within reach."""
    log_c = np.log(np.maximum(rgb / np.maximum(total, 1e-6)[..., None], 1e-4)).astype(np.float32)
    log_t = np.log(np.maximum(rgb.min(-1), 1e-4)).astype(np.float32)
    local, reached = _push_pull(np.concatenate([log_c, log_t[..., None]], -1), (ref * total).astype(np.float32),
                                levels)
    d_c, d_t = log_c - local[..., :3], log_t - local[..., 3]
    slope = np.zeros(3, np.float32)
    if ref.sum() >= settings.min_reference:
        bright = ref & (log_t >= np.percentile(log_t[ref], settings.trend_percentile))
        dt = d_t[bright]
        slope = (d_c[bright] * dt[:, None]).sum(0) / max(float((dt ** 2).sum()), 1e-9)
        slope = np.clip(slope, -settings.max_trend, settings.max_trend).astype(np.float32)
    return np.exp(local[..., :3] + slope * d_t[..., None]), reached


def face_skin_pixels(landmarks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) bool: inside the face oval of the 478 ``landmarks`` (x, y), outside the eyes, brows and lips."""
    lm = np.asarray(landmarks, np.float64)
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.round(lm[list(FACE_OVAL)] * 4).astype(np.int32)], 1, shift=2)
    for part in (LEFT_EYE, RIGHT_EYE, LEFT_EYEBROW, RIGHT_EYEBROW, LIPS_OUTER):
        hull = cv2.convexHull(lm[list(part)].astype(np.float32))[:, 0]
        cv2.fillPoly(mask, [np.round(hull * 4).astype(np.int32)], 0, shift=2)
    return mask > 0


def reconstruct_clipped(photo: np.ndarray, reference: np.ndarray | None = None,
                        settings: UnclipSettings = UnclipSettings()) -> Unclipped:
    """Reconstruct the clipped channels of ``photo`` (H, W, 3) float32 linear RGB in [0, 1].

    ``reference`` (H, W) bool: where the colour may be taken from (e.g. :func:`face_skin_pixels`: a
    clipped cheek takes the skin's chromaticity, not the hair's beside it); default everywhere.
    References are weighted by their brightness (the pixels nearest the white point are most like
    the clipped ones)."""
    rgb = np.asarray(photo, np.float32)
    clip = rgb >= settings.clipped
    some = clip.any(-1)
    lost = clip.all(-1)
    partial = some & ~lost
    if not partial.any():
        return Unclipped(rgb, lost, partial)
    total = rgb.sum(-1)
    ref = ~some & (total > settings.min_level)
    if reference is not None and (ref & reference).sum() >= settings.min_reference:
        ref &= reference
    levels = settings.levels
    if reference is not None:
        levels = int(np.clip(np.round(np.log2(max(settings.reach * np.sqrt(reference.sum()), 1.0))), 1, levels))
    chroma, reached = _chroma(rgb, total, ref, levels, settings)
    lost = lost | (partial & ~reached)
    partial = partial & reached
    out = np.where(partial[..., None] & clip, _rescaled(rgb, clip, chroma, settings), rgb).astype(np.float32)
    return Unclipped(out, lost, partial)


def reconstruct_clipped_set(px: np.ndarray, settings: UnclipSettings = UnclipSettings()) -> tuple[np.ndarray, np.ndarray]:
    """(M, 3) pixels of one uniformly coloured surface (an eye white), their clipped channels taken
    from the set's own unclipped pixels' mean chromaticity; and (M,) bool, the pixels still unknown
    (every channel clipped, or no unclipped pixel in the set to take the colour from)."""
    px = np.asarray(px, np.float32)
    clip = px >= settings.clipped
    some = clip.any(-1)
    full = ~some & (px.sum(-1) > settings.min_level)
    if not full.any():
        return px, some
    chroma = (px[full] / px[full].sum(-1, keepdims=True)).mean(0)
    lost = clip.all(-1)
    return np.where(clip & ~lost[:, None], _rescaled(px, clip, chroma[None], settings), px).astype(np.float32), lost
