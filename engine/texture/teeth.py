"""The teeth's own colour, when the photo shows them (a toothy smile), for the teeth material.

The head model's teeth are separate parts with a flat material; without this they are the same ivory
for everyone. Inside the inner lip contour the teeth are the bright, weakly saturated pixels (the
mouth's dark interior and the red tongue and gums are not). Their median colour, divided by the fitted
lighting's shading of a surface facing the camera times :data:`TEETH_VISIBILITY` (the lips and cheeks
around the mouth hide part of the sky from the teeth), is their albedo, kept within what teeth can be
(:data:`TEETH_L`, :data:`TEETH_MAX_CHROMA`: from bluish white to yellow-brown). No teeth seen: None.
"""
from __future__ import annotations

import cv2
import numpy as np

from engine.landmarks import LIPS_INNER, LIPS_OUTER
from engine.texture.color import (
    lch_to_linear_rgb,
    linear_rgb_to_lch,
    linear_to_srgb,
    luminance,
    saturation,
)
from engine.texture.delight import LightingModel

__all__ = ["TEETH_L", "TEETH_MAX_CHROMA", "TEETH_MAX_SATURATION", "TEETH_MIN_SHARE", "TEETH_OVER_LIPS", "TEETH_VISIBILITY",
           "teeth_color", "teeth_pixels"]

TEETH_MAX_SATURATION = 0.45
"""Teeth pixels have ``1 - min/max`` below this (tongue, gums and lips are redder)."""
TEETH_MIN_SHARE = 0.12
"""The teeth count as shown when at least this share of the mouth opening is teeth (and 20 pixels)."""
TEETH_OVER_LIPS = 1.3
"""Teeth are brighter than the lips around them by at least this factor (median luminance)."""
TEETH_VISIBILITY = 0.7
"""The teeth's shading relative to a fully open surface facing the camera (lips and cheeks around them)."""
TEETH_L = (55.0, 92.0)
"""CIELAB lightness range of a tooth's albedo."""
TEETH_MAX_CHROMA = 28.0
"""Largest CIELAB chroma of a tooth's albedo (yellowed enamel)."""


def teeth_pixels(photo: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """(M, 3) linear pixels of the teeth inside the inner lip contour of the 478 ``landmarks`` (x, y)
    in the linear ``photo`` (H, W, 3); empty when the mouth shows too few."""
    lm = np.asarray(landmarks, np.float64)
    opening, mouth = np.zeros(photo.shape[:2], np.uint8), np.zeros(photo.shape[:2], np.uint8)
    cv2.fillPoly(opening, [np.round(lm[list(LIPS_INNER)] * 4).astype(np.int32)], 1, shift=2)
    cv2.fillPoly(mouth, [np.round(lm[list(LIPS_OUTER)] * 4).astype(np.int32)], 1, shift=2)
    px = np.asarray(photo, np.float32)[opening > 0]
    lips = np.asarray(photo, np.float32)[(mouth > 0) & (opening == 0)]
    if len(px) < 20:
        return np.zeros((0, 3), np.float32)
    sat = saturation(px)
    lum = luminance(px)
    teeth = (sat < TEETH_MAX_SATURATION) & (lum > 0.5 * float(np.quantile(lum, 0.95)))
    if teeth.sum() < max(20, TEETH_MIN_SHARE * len(px)):
        return np.zeros((0, 3), np.float32)
    if len(lips) and np.median(lum[teeth]) < TEETH_OVER_LIPS * float(np.median(luminance(lips))):
        return np.zeros((0, 3), np.float32)
    return px[teeth]


def _plausible(rgb: np.ndarray) -> np.ndarray:
    """(3,) linear ``rgb`` with its lightness and chroma kept within a tooth's, hue unchanged."""
    lightness, hue, chroma = linear_rgb_to_lch(rgb)
    return lch_to_linear_rgb(float(np.clip(lightness, *TEETH_L)), hue, min(chroma, TEETH_MAX_CHROMA))


def teeth_color(photo: np.ndarray, landmarks: np.ndarray | None, lighting: LightingModel,
                view_normal: np.ndarray) -> tuple[float, float, float] | None:
    """sRGB teeth albedo in [0, 1] from the linear ``photo`` (H, W, 3), 478 landmarks, the calibrated
    lighting and the head-space direction toward the camera (3,); None when no teeth are shown."""
    if landmarks is None or len(landmarks) < 478:
        return None
    px = teeth_pixels(photo, landmarks)
    if len(px) == 0:
        return None
    nrm = np.asarray(view_normal, np.float64)[None]
    shade = lighting.diffuse(nrm / np.linalg.norm(nrm))[0].astype(np.float64) * TEETH_VISIBILITY
    rgb = _plausible(np.median(px, axis=0) / np.maximum(shade, 0.05))
    srgb = np.asarray(linear_to_srgb(np.clip(rgb, 0.0, 1.0).astype(np.float32)))
    return (float(srgb[0]), float(srgb[1]), float(srgb[2]))
