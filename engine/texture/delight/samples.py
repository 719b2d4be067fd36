"""The skin samples that drive the lighting solve: which texels, and their values."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.head.model import HeadModel
from engine.texture._arrays import ShapeError
from engine.texture.color import luminance
from engine.texture.delight.grid import _local_mean, _region_mask
from engine.texture.delight.settings import DelightSettings
from engine.texture.unwrap import Unwrap

__all__ = ["SKIN_LIGHTING_REGIONS"]

SKIN_LIGHTING_REGIONS = ("face",)
"""Regions whose texels drive the lighting solve (plain skin of roughly constant albedo)."""


@dataclass
class _Samples:
    color: np.ndarray   # (M, 3)
    normal: np.ndarray  # (M, 3)
    view: np.ndarray    # (M, 3)
    ao: np.ndarray      # (M,)
    weight: np.ndarray  # (M,)
    position: np.ndarray  # (M, 3)
    core: np.ndarray | None = None  # (M,) bool: below the brows, where hair rarely covers the skin

    def take(self, idx: np.ndarray) -> _Samples:
        return _Samples(self.color[idx], self.normal[idx], self.view[idx], self.ao[idx], self.weight[idx],
                        self.position[idx], None if self.core is None else self.core[idx])


def _subsample(m: int, k: int) -> np.ndarray:
    """Evenly spread indices of at most ``k`` of ``m`` samples."""
    return np.arange(m) if m <= k else np.linspace(0, m - 1, k).astype(np.int64)


def _below_brows(unwrap: Unwrap, model: HeadModel) -> np.ndarray | None:
    """(N, N) bool: texels lower (head space) than the brows, or None without brow texels."""
    brows = _region_mask(unwrap, model, ("eyebrows",))
    if not brows.any():
        return None
    return unwrap.position[..., 1] < float(np.median(unwrap.position[..., 1][brows]))


def _local_dark(unwrap: Unwrap, skin: np.ndarray, settings: DelightSettings) -> np.ndarray:
    """(N, N) bool: texels much darker than the skin around them (nostrils, the gap between the lips,
    lashes, hair strands on the forehead). A broad shadow darkens its whole neighbourhood and stays
    in; these small dark features would otherwise pull the relative-error fit toward black."""
    n = unwrap.color.shape[0]
    w = (skin & (unwrap.weight > settings.seen_weight)).astype(np.float32)
    local = _local_mean(unwrap.color, w, sigma=max(settings.min_blur_sigma, settings.local_dark_sigma * n))
    return luminance(unwrap.color) < settings.local_dark_ratio * luminance(local)


def _gather_samples(unwrap: Unwrap, ao: np.ndarray, mask: np.ndarray, settings: DelightSettings,
                    core_mask: np.ndarray | None = None) -> _Samples:
    """The well-seen, unclipped texels of ``mask`` (at most ``settings.max_samples``, evenly spread),
    with their AO from ``ao`` (N, N) and whether ``core_mask`` holds them."""
    idx = np.flatnonzero((mask & (unwrap.weight > settings.seen_weight) & ~unwrap.saturated).reshape(-1))
    if idx.size < settings.min_samples:
        raise ShapeError(f"too few visible skin texels ({idx.size}) to estimate the lighting.")
    if idx.size > settings.max_samples:
        idx = idx[np.linspace(0, idx.size - 1, settings.max_samples).astype(np.int64)]

    def g(a: np.ndarray) -> np.ndarray:
        return a.reshape(a.shape[0] * a.shape[1], -1)[idx].astype(np.float64)

    core = None if core_mask is None else core_mask.reshape(-1)[idx]
    return _Samples(g(unwrap.color), g(unwrap.normal), g(unwrap.view_dir), g(ao)[:, 0], g(unwrap.weight)[:, 0],
                    g(unwrap.position), core)
