"""Helpers on (N, N) texel grids: region masks, a weighted local mean and a smooth confidence ramp."""
from __future__ import annotations

import cv2
import numpy as np

from engine.head.model import HeadModel
from engine.texture.unwrap import Unwrap


def _region_mask(unwrap: Unwrap, model: HeadModel, names: tuple[str, ...]) -> np.ndarray:
    """(N, N) bool: texels of the template regions ``names``."""
    codes = [model.region_id(n) for n in names]
    return np.isin(unwrap.region, codes)


def _local_mean(img: np.ndarray, w: np.ndarray, sigma: float) -> np.ndarray:
    """Normalised-convolution Gaussian blur of ``img`` (N, N, C) with weights ``w`` (N, N); (N, N, C) out,
    ``C = 1`` included.

    Computed on a grid downsampled so that ``sigma`` is ~4 texels there, then upsampled (a wide
    blur has no detail to lose).
    """
    n, c = img.shape[0], img.shape[-1]
    f = max(1, int(sigma // 4))
    m = max(1, n // f)
    num = cv2.resize(img * w[..., None], (m, m), interpolation=cv2.INTER_AREA)
    den = cv2.resize(w, (m, m), interpolation=cv2.INTER_AREA)
    s = sigma * m / n
    num = cv2.GaussianBlur(num, (0, 0), s).reshape(m, m, c)  # cv2 drops a lone channel's axis
    den = cv2.GaussianBlur(den, (0, 0), s)
    out = num / np.maximum(den, 1e-6)[..., None]
    return cv2.resize(out, (n, n), interpolation=cv2.INTER_LINEAR).reshape(n, n, c) if m != n else out


def _ramp(floor: float, x: np.ndarray) -> np.ndarray:
    """``floor`` at ``x`` = 0 rising smoothly (smoothstep) to 1 at ``x`` = 1 (``x`` in [0, 1])."""
    return floor + (1.0 - floor) * x * x * (3 - 2 * x)
