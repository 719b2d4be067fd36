"""Is the photo black and white: grey, or toned (sepia, cyanotype, a grey scan white-balanced off neutral)?

A toned monochrome photo has colour, but none of it belongs to the scene: every pixel of one brightness
has the same chromaticity (a grey photo through a white-balance change is a grey photo times one
per-channel gain; sepia and selenium toning shift the hue with the silver's density, so the tint may
change with brightness, never within it). Read as a colour photo its tint becomes the person's skin
colour, and the same scan under another white balance gives another person (takeo at 3200 K: 13 ΔE00 from
the untouched scan). Such a photo is treated as the black-and-white photo it is: its luminance only.

``photo`` arrays are (H, W, 3) float linear RGB in [0, 1], row 0 = top.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from engine.texture.color import luminance

__all__ = ["MonochromeSettings", "is_monochrome", "is_grey"]


@dataclass(frozen=True)
class MonochromeSettings:
    """``max_pixels``: the photo is subsampled to about this many pixels. ``lum_range``: pixels whose
    luminance lies in it are judged (darker ones carry 8-bit rounding noise in their chromaticity, brighter
    ones may be clipped in a channel); ``bins``: they are grouped in this many luminance quantiles, within
    which one tint is expected. ``tolerance``: a pixel whose chromaticity (r, g, b over their sum) lies
    further than this from its bin's median has a colour of its own (8-bit rounding and JPEG noise stay
    below ~0.01 in that range; skin lies ~0.1 from grey); ``max_coloured_share``: a photo with more such
    pixels than this share is in colour; ``min_pixels``: fewer judged pixels and only a strictly grey photo
    counts as monochrome."""

    max_pixels: int = 250_000
    block: int = 4
    clipped: float = 0.98
    lum_range: tuple[float, float] = (0.05, 0.85)
    bins: int = 16
    tolerance: float = 0.05
    max_coloured_share: float = 0.1
    min_pixels: int = 500


def _subsample(photo: np.ndarray, max_pixels: int) -> np.ndarray:
    step = max(1, int(np.sqrt(photo.shape[0] * photo.shape[1] / max_pixels)))
    return photo[::step, ::step].reshape(-1, 3)


def _averaged(photo: np.ndarray, settings: MonochromeSettings) -> np.ndarray:
    """(M, 3) means of ``settings.block``-pixel squares (at least; more on a large photo) with no clipped
    channel in them: JPEG's chroma noise lives within its 8x8 blocks, a scene's colours span regions, and a
    clipped channel is no longer the tint times the grey."""
    h, w = photo.shape[:2]
    step = max(settings.block, int(np.sqrt(h * w / settings.max_pixels)))
    size = (max(1, w // step), max(1, h // step))
    small = cv2.resize(photo, size, interpolation=cv2.INTER_AREA).reshape(-1, 3)
    clipped = cv2.resize((photo.max(axis=2) >= settings.clipped).astype(np.float32), size,
                         interpolation=cv2.INTER_AREA).reshape(-1)
    return small[clipped == 0.0]


def is_grey(photo: np.ndarray, settings: MonochromeSettings = MonochromeSettings()) -> bool:
    """True when no pixel's channels differ by more than 1/255 (a grey photo stored as RGB)."""
    px = _subsample(np.asarray(photo), settings.max_pixels)
    return float(np.max(px.max(axis=1) - px.min(axis=1))) <= 1.0 / 255.0


def is_monochrome(photo: np.ndarray, settings: MonochromeSettings = MonochromeSettings()) -> bool:
    """True when ``photo`` (H, W, 3) linear RGB is grey or toned: within each luminance band all but
    ``max_coloured_share`` of its pixels share one chromaticity (see the module's docstring)."""
    if is_grey(photo, settings):
        return True
    px = _averaged(np.asarray(photo, np.float32), settings)
    lum = luminance(px)
    keep = (lum > settings.lum_range[0]) & (lum < settings.lum_range[1])
    if int(keep.sum()) < settings.min_pixels:
        return False
    px, lum = px[keep], lum[keep]
    chroma = px / np.maximum(px.sum(axis=1, keepdims=True), 1e-6)
    edges = np.quantile(lum, np.linspace(0.0, 1.0, settings.bins + 1)[1:-1])
    band = np.searchsorted(edges, lum)
    coloured = 0
    for b in range(settings.bins):
        c = chroma[band == b]
        if len(c):
            coloured += int((np.abs(c - np.median(c, axis=0)).max(axis=1) > settings.tolerance).sum())
    return coloured <= settings.max_coloured_share * len(px)
