"""The ground truth's surface response: roughness, specular level and subsurface weight over the head.

A skin's shine varies over the face: the T-zone (forehead, nose) is oilier than the cheeks, the lips
are glossy, the scalp and neck are matte. The map is built from the layout's regions and the texel's
position on the unshaped head (where the nose and forehead are), with smooth random variation, and is
written as one 8-bit PNG for the Cycles renderer: R = roughness, G = Principled "Specular IOR Level",
B = subsurface weight (all linear 0..1). Row 0 = the top texture row.
"""
from __future__ import annotations

import cv2
import numpy as np

from bench.groundtruth.layout import Layout

__all__ = ["spec_rough_map"]

ROUGH_SKIN, ROUGH_TZONE, ROUGH_LIPS, ROUGH_MATTE = 0.5, 0.33, 0.3, 0.6
SPEC_SKIN, SPEC_TZONE, SPEC_LIPS = 0.45, 0.6, 0.55
SUBSURFACE_SKIN, SUBSURFACE_LIPS = 0.2, 0.3
NOISE = 0.05
"""Amplitude of the smooth random variation of roughness and specular level."""
NOSE_TIP = np.array([0.0, -0.03, 0.11])
FOREHEAD = np.array([0.0, 0.05, 0.09])


def _tzone(pos: np.ndarray) -> np.ndarray:
    """[N, N] in [0, 1]: near the nose ridge or the forehead centre."""
    p = np.nan_to_num(pos, nan=1e3)
    d_nose = np.hypot(p[..., 0] / 0.018, (p[..., 1] - NOSE_TIP[1]) / 0.05)
    d_fore = np.hypot((p[..., 0] - FOREHEAD[0]) / 0.045, (p[..., 1] - FOREHEAD[1]) / 0.03)
    front = np.clip((p[..., 2] - 0.04) / 0.03, 0.0, 1.0)
    return np.clip(np.maximum(np.exp(-d_nose ** 2), np.exp(-d_fore ** 2)) * front, 0.0, 1.0)


def _noise(n: int, rng: np.random.Generator) -> np.ndarray:
    small = rng.standard_normal((16, 16)).astype(np.float32)
    big = cv2.resize(small, (n, n), interpolation=cv2.INTER_CUBIC)
    return big / max(float(np.abs(big).max()), 1e-6)


def spec_rough_map(lay: Layout, template_vertices: np.ndarray, seed: int = 0) -> np.ndarray:
    """[N, N, 3] uint8 (R roughness, G specular level, B subsurface) for the skin atlas."""
    rng = np.random.default_rng(seed)
    n = lay.size
    tz = _tzone(lay.positions(template_vertices))
    lips = cv2.GaussianBlur(lay.regions("lips").astype(np.float32), (0, 0), 2.0 * n / 1024)
    matte = lay.regions("scalp", "neck", "ears").astype(np.float32)
    rough = ROUGH_SKIN + (ROUGH_TZONE - ROUGH_SKIN) * tz + (ROUGH_LIPS - ROUGH_SKIN) * lips
    rough = rough + (ROUGH_MATTE - rough) * matte + NOISE * _noise(n, rng)
    spec = SPEC_SKIN + (SPEC_TZONE - SPEC_SKIN) * tz + (SPEC_LIPS - SPEC_SKIN) * lips + NOISE * _noise(n, rng)
    sss = SUBSURFACE_SKIN + (SUBSURFACE_LIPS - SUBSURFACE_SKIN) * lips
    out = np.stack([rough, spec, sss], axis=-1)
    return (np.clip(out, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
