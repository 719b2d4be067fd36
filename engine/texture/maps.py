"""Stage 5 of the texture pipeline: the PBR maps that go with the albedo, and the eye colour.

* albedo: linear float -> sRGB 8-bit (row 0 = top, v = 1);
* normal: tangent-space, OpenGL convention (+Y = +v, "up" in the texture), 8-bit ``(n + 1) / 2``;
  flat (0, 0, 1) except a subtle pore-scale relief on skin (the template's detail noise used as a
  height field) - the mesh carries all geometric shape, the photo gives no reliable micro-normals;
* roughness: linear 8-bit, per region from the template (skin, lips, eyes, teeth...), the skin's made
  smoother or rougher where the photo showed more or less shine than the face's average;
* eye colour: the de-lit median colour of the iris pixels in the photo (MediaPipe iris landmarks
  468-477), excluding pupil, eyelid-covered parts and specular glints; :func:`paint_iris` puts it
  on the template's iris in the eyeball islands, keeping its streaks, limbal ring and pupil.
"""
from __future__ import annotations

import cv2
import numpy as np

from engine.landmarks import (LEFT_EYE, LEFT_IRIS, LEFT_IRIS_CENTRE, RIGHT_EYE, RIGHT_IRIS, RIGHT_IRIS_CENTRE,
                              iris_circle)
from engine.texture.color import linear_to_srgb, luminance, srgb_to_linear
from engine.texture.delight import LightingModel
from engine.texture.template import load_template_detail_mask, load_template_roughness, skin_detail

__all__ = ["DEFAULT_EYE_COLOR_SRGB", "albedo_srgb8", "normal_map", "roughness_map", "eye_color", "paint_iris"]

DEFAULT_EYE_COLOR_SRGB = (0.35, 0.25, 0.18)
"""Used when no iris can be measured (closed eyes, tiny face)."""


def albedo_srgb8(albedo: np.ndarray) -> np.ndarray:
    """(N, N, 3) linear RGB in [0, 1] -> (N, N, 3) uint8 sRGB."""
    return np.round(np.asarray(linear_to_srgb(np.clip(albedo, 0.0, 1.0))) * 255.0).astype(np.uint8)


def normal_map(size: int, relief: float = 0.35, seed: int = 3) -> np.ndarray:
    """(N, N, 3) uint8 tangent-space normal map (OpenGL: R = +u, G = +v, B = out).

    ``relief`` scales the slope of the pore-scale height field (0 gives a perfectly flat map).
    """
    h = load_template_detail_mask(size) * skin_detail(size, seed)
    h = cv2.GaussianBlur(h, (0, 0), 0.6 * size / 1024.0)
    # Slopes per texel; the texture's +v is toward row 0, so dh/dv = -dh/drow.
    dcol = cv2.Sobel(h, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    drow = cv2.Sobel(h, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    k = relief * 0.1
    n = np.stack([-k * dcol, k * drow, np.ones_like(h)], axis=-1)
    n /= np.linalg.norm(n, axis=-1, keepdims=True)
    return np.round((n * 0.5 + 0.5) * 255.0).astype(np.uint8)


GLOSS_ROUGHNESS = 0.25
"""The most the photo's evidence of shine moves the skin's roughness, as a share of the template's: an
area that showed twice the face's average shine where the light could make it shine is this much
smoother, one that showed none this much rougher (:func:`engine.texture.delight.shine.glossiness`)."""


def roughness_map(size: int, glossiness: np.ndarray | None = None) -> np.ndarray:
    """(N, N) uint8 linear roughness per region (the template's), made smoother where ``glossiness``
    (M, M) in [-1, 1] (any size, resized) says the photo showed more shine than the face's average and
    rougher where it showed less."""
    rough = load_template_roughness(size)
    if glossiness is not None:
        g = glossiness if glossiness.shape[0] == size else cv2.resize(glossiness, (size, size),
                                                                        interpolation=cv2.INTER_LINEAR)
        rough = rough * (1.0 - GLOSS_ROUGHNESS * np.clip(g, -1.0, 1.0))
    return np.round(np.clip(rough, 0.0, 1.0) * 255.0).astype(np.uint8)


IRIS_FULL, IRIS_NONE = 0.12, 0.55
"""Eyeball texels darker than these fractions of the sclera's luminance are all iris / no iris."""


def paint_iris(albedo: np.ndarray, eyeball: np.ndarray, eye_color_srgb: tuple[float, float, float]) -> np.ndarray:
    """(N, N, 3) linear ``albedo`` with the iris of the eyeball texels (``eyeball`` (N, N) bool) tinted
    to ``eye_color_srgb``.

    The iris is found by luminance against the sclera (the 90th percentile of the eyeball texels): the
    template paints a dark iris, a darker limbal ring and a near-black pupil on a white sclera. Iris
    texels are multiplied by eye colour / the template iris's median colour, so the streaks, the ring
    and the pupil keep their pattern and the exported eyes (OBJ, GLB) show the photo's eye colour.
    """
    if not eyeball.any():
        return albedo
    lum = np.asarray(luminance(albedo), np.float32)
    sclera = float(np.quantile(lum[eyeball], 0.9))
    w = np.clip((IRIS_NONE * sclera - lum) / ((IRIS_NONE - IRIS_FULL) * sclera), 0.0, 1.0) * eyeball
    iris = w > 0.99
    core = iris & (lum > 0.5 * np.median(lum[iris])) if iris.any() else iris
    if core.sum() < 4:
        return albedo
    ref = np.median(albedo[core], axis=0)
    target = np.asarray(srgb_to_linear(np.asarray(eye_color_srgb, np.float32)), np.float32)
    ratio = np.clip(target / np.maximum(ref, 1e-4), 0.1, 10.0)
    out = albedo.copy()
    out[eyeball] *= (1.0 + w[eyeball, None] * (ratio - 1.0))
    return np.clip(out, 0.0, 1.0)


def _iris_pixels(photo: np.ndarray, lm: np.ndarray, centre: int, ring: tuple[int, ...],
                 lid: tuple[int, ...]) -> np.ndarray:
    h, w = photo.shape[:2]
    c, r = iris_circle(lm, centre, ring)
    if not np.isfinite(r) or r < 2.0:
        return np.zeros((0, 3), np.float32)
    x0, x1 = int(max(np.floor(c[0] - r), 0)), int(min(np.ceil(c[0] + r) + 1, w))
    y0, y1 = int(max(np.floor(c[1] - r), 0)), int(min(np.ceil(c[1] + r) + 1, h))
    if x1 <= x0 or y1 <= y0:
        return np.zeros((0, 3), np.float32)
    yy, xx = np.mgrid[y0:y1, x0:x1]
    d = np.hypot(xx - c[0], yy - c[1]) / r
    opening = np.zeros((h, w), np.uint8)
    cv2.fillPoly(opening, [np.round(lm[list(lid)] * 4).astype(np.int32)], 1, shift=2)
    sel = (d > 0.4) & (d < 0.92) & (opening[y0:y1, x0:x1] > 0)
    return photo[y0:y1, x0:x1][sel]


def eye_color(photo: np.ndarray, landmarks: np.ndarray | None, lighting: LightingModel | None = None,
              view_normal: np.ndarray | None = None) -> tuple[float, float, float]:
    """sRGB eye (iris) colour in [0, 1] from a linear ``photo`` (H, W, 3) and 478 landmarks.

    The iris pixels of both eyes are pooled; the brightest 20% (glints, sclera) and darkest 10%
    (pupil, lashes) are dropped; the median is divided by the estimated shading of a surface facing
    ``view_normal`` (head space, toward the camera) when a lighting is given.
    """
    if landmarks is None or len(landmarks) < 478:
        return DEFAULT_EYE_COLOR_SRGB
    lm = np.asarray(landmarks, np.float64)
    px = np.concatenate([_iris_pixels(photo, lm, LEFT_IRIS_CENTRE, LEFT_IRIS, LEFT_EYE),
                         _iris_pixels(photo, lm, RIGHT_IRIS_CENTRE, RIGHT_IRIS, RIGHT_EYE)])
    if len(px) < 8:
        return DEFAULT_EYE_COLOR_SRGB
    lum = luminance(px)
    lo, hi = np.quantile(lum, [0.1, 0.8])
    px = px[(lum >= lo) & (lum <= hi)]
    if len(px) == 0:
        return DEFAULT_EYE_COLOR_SRGB
    rgb = np.median(px, axis=0).astype(np.float64)
    if lighting is not None:
        nrm = np.array([[0.0, 0.0, 1.0]]) if view_normal is None else np.asarray(view_normal, np.float64)[None]
        nrm = nrm / np.linalg.norm(nrm)
        shade = lighting.diffuse(nrm)[0].astype(np.float64)
        rgb = rgb / np.maximum(shade, 0.05)
    srgb = np.asarray(linear_to_srgb(np.clip(rgb, 0.0, 1.0).astype(np.float32)))
    return (float(srgb[0]), float(srgb[1]), float(srgb[2]))
