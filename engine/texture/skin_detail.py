"""The person's own skin detail on the texels the photo did not see.

The completed albedo (:mod:`.complete`) takes its colour on unseen skin (scalp, ears, neck, the far
side) from the template colour-matched to the person, and with it the template's procedural pore
noise: beside the seen face, whose fine texture is the person's own (or the photo's softness), that
grain makes the face read as a patch on a dummy. Here the fine band of the unseen skin is replaced by
the person's: square patches of the fine detail (log albedo minus its blur) of well-seen bare skin
(cheeks, forehead) are tiled, randomly picked and shifted, with feathered overlaps, over the atlas and
put in place of the template's fine band wherever the colour came from the template. The template
still decides everything coarser (tone variations, ear folds, lips, brows).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["SkinDetailSettings", "detail_band", "detail_patches", "tile_patches", "transfer_skin_detail"]


@dataclass(frozen=True)
class SkinDetailSettings:
    """``sigma``: the fine band is what a blur of this width (fraction of N) removes. ``patch``: side
    of the patches (fraction of N). ``max_patches``: most patches drawn from the source skin;
    ``min_patches``: fewer fit in the well-seen skin and nothing changes. ``clip``: largest |log|
    detail kept (a stray lash or crumb of hair is not pore texture). ``seed``: patch choice."""

    sigma: float = 0.003
    patch: float = 0.05
    max_patches: int = 48
    min_patches: int = 4
    clip: float = 0.2
    seed: int = 0
    enabled: bool = True


def detail_band(albedo: np.ndarray, sigma_px: float) -> np.ndarray:
    """(N, N, 3) float32: ``log(albedo) - log(blur(albedo))``, the fine band in log space."""
    log = np.log(np.maximum(np.asarray(albedo, np.float32), 1e-3))
    return (log - cv2.GaussianBlur(log, (0, 0), max(sigma_px, 0.5))).astype(np.float32)


def detail_patches(detail: np.ndarray, source: np.ndarray, size: int, settings: SkinDetailSettings,
                   margin: int = 0) -> list[np.ndarray]:
    """Up to ``settings.max_patches`` (size, size, 3) crops of ``detail`` lying wholly inside the
    ``source`` (N, N) bool texels and at least ``margin`` texels from its edge, evenly drawn (seeded),
    each with its mean removed."""
    # Patches keep clear of the source's edge, where the band carries the step to whatever lies beyond.
    inner = cv2.erode(cv2.erode(source.astype(np.uint8), np.ones((size, size), np.uint8), anchor=(0, 0)),
                      np.ones((2 * margin + 1, 2 * margin + 1), np.uint8)) > 0
    rows, cols = np.nonzero(inner[: detail.shape[0] - size, : detail.shape[1] - size])
    if len(rows) == 0:
        return []
    rng = np.random.default_rng(settings.seed)
    pick = rng.choice(len(rows), size=min(settings.max_patches, len(rows)), replace=False)
    out = []
    for i in pick:
        p = detail[rows[i]:rows[i] + size, cols[i]:cols[i] + size]
        out.append(np.clip(p - p.mean((0, 1)), -settings.clip, settings.clip))
    return out


def _feather(size: int) -> np.ndarray:
    """(size, size) weights: 1 in the middle, falling to ~0 at the edges (overlap blending)."""
    r = np.sin(np.linspace(0.0, np.pi, size + 2)[1:-1]) ** 2
    return np.outer(r, r).astype(np.float32)


def tile_patches(patches: list[np.ndarray], n: int, seed: int = 0) -> np.ndarray:
    """(n, n, 3) float32: the patches laid on a half-overlapping grid in random order, feather-blended
    and renormalised to the patches' own spread (overlaps average, which would damp it)."""
    size = patches[0].shape[0]
    step = max(1, size // 2)
    rng = np.random.default_rng(seed)
    acc = np.zeros((n + 2 * size, n + 2 * size, 3), np.float32)
    wsum = np.zeros((n + 2 * size, n + 2 * size), np.float32)
    w = _feather(size)
    for r in range(-step, n, step):
        for c in range(-step, n, step):
            p = patches[int(rng.integers(len(patches)))]
            rr, cc = r + step, c + step
            acc[rr:rr + size, cc:cc + size] += p * w[..., None]
            wsum[rr:rr + size, cc:cc + size] += w
    out = (acc / np.maximum(wsum, 1e-6)[..., None])[step:step + n, step:step + n]
    target = float(np.mean([p.std() for p in patches]))
    return (out * (target / max(float(out.std()), 1e-6))).astype(np.float32)


def transfer_skin_detail(albedo: np.ndarray, weight: np.ndarray, source: np.ndarray,
                         settings: SkinDetailSettings = SkinDetailSettings()) -> np.ndarray:
    """``albedo`` (N, N, 3) linear with its fine band replaced, in proportion to ``weight`` (N, N) in
    [0, 1] (the template's share on skin), by the person's own, drawn from ``source`` (N, N) bool (well-
    seen bare skin). Unchanged when disabled or when too little source skin is seen."""
    if not settings.enabled or not np.any(weight > 0):
        return albedo
    n = albedo.shape[0]
    band = detail_band(albedo, settings.sigma * n)
    patches = detail_patches(band, source, max(4, round(settings.patch * n)), settings,
                             margin=math.ceil(3 * settings.sigma * n))
    if len(patches) < settings.min_patches:
        return albedo
    sigma = max(settings.sigma * n, 0.5)
    own = tile_patches(patches, n, settings.seed)
    # Band-limit the tiling to the same fine band (its seams and overlaps add coarser content), scaled so
    # that the fine band of the result has the source skin's own spread.
    own = own - cv2.GaussianBlur(own, (0, 0), sigma)
    measured = float((own - cv2.GaussianBlur(own, (0, 0), sigma)).std())
    own *= float(np.median([p.std() for p in patches])) / max(measured, 1e-6)
    w = np.clip(weight, 0.0, 1.0).astype(np.float32)[..., None]
    return np.clip(albedo * np.exp(w * (own - band)), 0.0, 1.0).astype(np.float32)
