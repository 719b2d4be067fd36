"""Output textures larger than the analysis size (2048², 4096²): the analysis-size result plus the
full-resolution detail of the photo and of the template, computed in row strips.

Everything smooth (shading, specular, confidences, the completed colours) is upsampled from the
analysis size; the photo is resampled at the output size through the (upsampled) texel-to-pixel map
and de-lit with the upsampled shading; its high frequencies (what the analysis size cannot hold) are
added where the albedo came from the photo, the template's where it came from the template.

Every step is local (bilinear upsampling by the integer factor ``n / a``, area downsampling by the
same factor), so the output is built strip by strip, each with a margin of analysis rows: a 4096²
texture then never holds more than a strip of each intermediate (peak memory ~1 GB lower than whole
images), and the result is identical.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["STRIP_ROWS", "DetailInputs", "add_detail"]

STRIP_ROWS = 512
"""Output rows computed at once (rounded to a multiple of the upsampling factor)."""
_MARGIN = 2
"""Analysis rows added above and below a strip (bilinear upsampling reaches one)."""


@dataclass(frozen=True)
class DetailInputs:
    """Analysis-size (a, a) layers, float32: ``pixel`` (a, a, 2) photo position of every texel (filled
    everywhere), ``shading`` / ``specular`` (a, a, 3) the de-lighting's (shading filled everywhere),
    ``albedo`` (a, a, 3) the completed albedo, ``own`` / ``template`` (a, a) the weights of the photo's
    and the template's fine detail, ``ratio`` (a, a, 3) colour-matched template / template."""

    pixel: np.ndarray
    shading: np.ndarray
    specular: np.ndarray
    albedo: np.ndarray
    own: np.ndarray
    template: np.ndarray
    ratio: np.ndarray


def _strip(x: np.ndarray, k0: int, k1: int, n: int, s: int) -> np.ndarray:
    """Analysis rows ``[k0, k1)`` of ``x`` upsampled bilinearly to ``((k1 - k0) * s, n)``."""
    return cv2.resize(np.ascontiguousarray(x[k0:k1], np.float32), (n, (k1 - k0) * s), interpolation=cv2.INTER_LINEAR)


def _highpass(x: np.ndarray, a: int, s: int) -> np.ndarray:
    """``x`` (rows a multiple of ``s``, width ``a * s``) minus its area-downsampled, re-upsampled self."""
    low = cv2.resize(x, (a, x.shape[0] // s), interpolation=cv2.INTER_AREA)
    return x - cv2.resize(low, (x.shape[1], x.shape[0]), interpolation=cv2.INTER_LINEAR)


def _rows(n: int, photo: np.ndarray, d: DetailInputs, template_n: np.ndarray, k0: int, k1: int) -> np.ndarray:
    """Output rows ``[k0 * s, k1 * s)`` of the detailed albedo (s = n / a)."""
    a = d.albedo.shape[0]
    s = n // a
    pix = _strip(d.pixel, k0, k1, n, s)
    colour = cv2.remap(photo, np.ascontiguousarray(pix[..., 0]), np.ascontiguousarray(pix[..., 1]),
                       cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    delit_n = np.clip((colour - _strip(d.specular, k0, k1, n, s)) / np.maximum(_strip(d.shading, k0, k1, n, s), 1e-3),
                      0.0, 1.0)
    out = _strip(d.albedo, k0, k1, n, s)
    out += _strip(d.own, k0, k1, n, s)[..., None] * _highpass(delit_n, a, s)
    tmpl = np.ascontiguousarray(template_n[k0 * s:k1 * s], np.float32)
    out += _strip(d.template, k0, k1, n, s)[..., None] * _highpass(tmpl, a, s) * _strip(d.ratio, k0, k1, n, s)
    return out


def add_detail(n: int, photo: np.ndarray, d: DetailInputs, template_n: np.ndarray,
               strip_rows: int = STRIP_ROWS) -> np.ndarray:
    """(n, n, 3) float32 linear albedo in [0, 1] from the analysis-size layers ``d`` (a, a, ...), the
    linear ``photo`` (H, W, 3) and the template albedo at ``n`` (n, n, 3); ``n`` a multiple of ``a``."""
    a = d.albedo.shape[0]
    s = n // a
    step = max(1, strip_rows // s)
    out = np.empty((n, n, 3), np.float32)
    for j0 in range(0, a, step):
        j1 = min(a, j0 + step)
        k0, k1 = max(0, j0 - _MARGIN), min(a, j1 + _MARGIN)
        rows = _rows(n, photo, d, template_n, k0, k1)
        out[j0 * s:j1 * s] = np.clip(rows[(j0 - k0) * s:(j1 - k0) * s], 0.0, 1.0)
    return out
