"""Is the photo black and white: grey, or toned (sepia, cyanotype, a grey scan white-balanced off neutral)?

A toned monochrome photo has colour, but none of it belongs to the scene: every pixel of one brightness
has the same chroma (a grey photo through a white-balance change is a grey photo times one per-channel
gain; sepia and selenium toning shift the hue with the silver's density, so the tint may change with
brightness, never within it). Read as a colour photo its tint becomes the person's skin colour, and the
same scan under another white balance gives another person (takeo at 3200 K: 13 ΔE00 from the untouched
scan). Such a photo is treated as the black-and-white photo it is: its luminance only.

The test is conservative, because a colour photo read as black and white loses the person's skin colour:
a bald head on a plain backdrop under one coloured light is nearly monochrome too (the ground-truth
renders under an amber or blue key: their eyes, lips and brows are the only other chromas, 1-2 % of the
pixels). The chroma is measured as JPEG stores it (Cb, Cr of the sRGB-encoded photo, 8-bit code units),
on block means, so that compression noise stays small next to a real colour difference:

======================================  =================================
photo (99th percentile of the chroma's   distance from its brightness band's median, code units)
======================================  =================================
grey scans at 3200 / 6500 K, JPEG 60-95  0.8-4.2
sepia-toned scans, JPEG 70               3.6-5.3
ground-truth renders, lowest eight       6.2-8.8
astronaut, breakingbad                   57, 63
======================================  =================================

``photo`` arrays are (H, W, 3) float linear RGB in [0, 1], row 0 = top.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from engine.texture.color import linear_to_srgb, luminance, srgb_to_linear

__all__ = ["MonochromeSettings", "is_monochrome", "is_grey", "toned_as_grey"]


@dataclass(frozen=True)
class MonochromeSettings:
    """``block``: the chroma is judged on means of squares of at least this many pixels (JPEG's chroma
    noise lives within its 8x8 blocks), more on a large photo (about ``max_pixels`` blocks or pixels);
    blocks with a channel at ``clipped`` (sRGB code) or above are left out (a clipped channel is no longer
    the tint times the grey). ``luma_range``: blocks with a luma (sRGB code) in it are judged (darker ones
    carry rounding noise). ``bins``: they are grouped in this many luma quantiles, within which one tint
    is expected. ``quantile`` / ``max_spread``: the photo is monochrome when that percentile of the
    blocks' (Cb, Cr) distance (the larger of the two, code units) from their band's median is at most
    this. ``min_blocks``: fewer judged blocks and only a strictly grey photo counts as monochrome."""

    max_pixels: int = 250_000
    block: int = 8
    clipped: float = 250.0
    luma_range: tuple[float, float] = (12.0, 240.0)
    bins: int = 16
    quantile: float = 99.0
    max_spread: float = 4.5
    min_blocks: int = 100


def _subsample(photo: np.ndarray, max_pixels: int) -> np.ndarray:
    step = max(1, int(np.sqrt(photo.shape[0] * photo.shape[1] / max_pixels)))
    return photo[::step, ::step].reshape(-1, 3)


def is_grey(photo: np.ndarray, settings: MonochromeSettings = MonochromeSettings()) -> bool:
    """True when no pixel's channels differ by more than 1/255 (a grey photo stored as RGB)."""
    px = _subsample(np.asarray(photo), settings.max_pixels)
    return float(np.max(px.max(axis=1) - px.min(axis=1))) <= 1.0 / 255.0


def _ycc_blocks(photo: np.ndarray, settings: MonochromeSettings) -> np.ndarray:
    """(M, 3) luma, Cb, Cr (BT.601, sRGB codes 0-255) of the photo's block means without a clipped pixel."""
    h, w = photo.shape[:2]
    step = max(settings.block, int(np.sqrt(h * w / settings.max_pixels)))
    pre = max(1, min(step // 4, int(np.sqrt(h * w / settings.max_pixels))))  # a large photo: 2x2 means first
    if pre > 1:
        photo = cv2.resize(photo, (w // pre, h // pre), interpolation=cv2.INTER_AREA)
        h, w, step = h // pre, w // pre, step // pre
    code = np.asarray(linear_to_srgb(np.clip(photo, 0.0, 1.0)), np.float32) * 255.0
    y = code @ np.asarray([0.299, 0.587, 0.114], np.float32)
    ycc = np.stack([y, 0.564 * (code[..., 2] - y), 0.713 * (code[..., 0] - y)], axis=-1)
    size = (max(1, w // step), max(1, h // step))
    small = cv2.resize(ycc, size, interpolation=cv2.INTER_AREA).reshape(-1, 3)
    clipped = cv2.resize((code.max(axis=2) >= settings.clipped).astype(np.float32), size,
                         interpolation=cv2.INTER_AREA).reshape(-1)
    return small[clipped == 0.0]


def is_monochrome(photo: np.ndarray, settings: MonochromeSettings = MonochromeSettings()) -> bool:
    """True when ``photo`` (H, W, 3) linear RGB is grey or toned: within each luma band its blocks share
    one chroma (see the module's docstring)."""
    if is_grey(photo, settings):
        return True
    blocks = _ycc_blocks(np.asarray(photo, np.float32), settings)
    blocks = blocks[(blocks[:, 0] > settings.luma_range[0]) & (blocks[:, 0] < settings.luma_range[1])]
    if len(blocks) < settings.min_blocks:
        return False
    luma, chroma = blocks[:, 0], blocks[:, 1:]
    band = np.searchsorted(np.quantile(luma, np.linspace(0.0, 1.0, settings.bins + 1)[1:-1]), luma)
    spread = np.zeros(len(blocks), np.float32)
    for b in range(settings.bins):
        inside = band == b
        if inside.any():
            spread[inside] = np.abs(chroma[inside] - np.median(chroma[inside], axis=0)).max(axis=1)
    return float(np.percentile(spread, settings.quantile)) <= settings.max_spread


def toned_as_grey(rgb8: np.ndarray, settings: MonochromeSettings = MonochromeSettings()) -> np.ndarray | None:
    """(H, W, 3) uint8 sRGB grey version (linear luminance, encoded) of a toned black-and-white photo
    ``rgb8`` (H, W, 3) uint8 sRGB, or None when it is grey already or in colour. Read as grey from the start,
    the landmarks, the fit and the texture see the same picture whatever the print's tint or the scan's white
    balance (tongue at 3200 K / 6500 K: the albedo moved 4.2 / 3.1 ΔE00 through the landmarks alone)."""
    rgb8 = np.asarray(rgb8)
    h, w = rgb8.shape[:2]
    pre = max(1, int(np.sqrt(h * w / settings.max_pixels)))  # the verdict on at most ~max_pixels
    small = rgb8 if pre == 1 else cv2.resize(rgb8, (w // pre, h // pre), interpolation=cv2.INTER_AREA)
    if bool(np.all(small.max(axis=2) == small.min(axis=2))):
        return None
    if not is_monochrome(np.asarray(srgb_to_linear(small.astype(np.float32) / 255.0), np.float32), settings):
        return None
    linear = np.asarray(srgb_to_linear(rgb8.astype(np.float32) / 255.0), np.float32)
    code = np.round(np.asarray(linear_to_srgb(np.clip(luminance(linear), 0.0, 1.0))) * 255.0).astype(np.uint8)
    return np.repeat(code[..., None], 3, axis=2)
