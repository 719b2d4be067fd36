"""Scores of a reconstruction from a photo with synthetic hair (``bench/bench_hair.py``): the colour
error inside the face skin the hair hides, and on the seen skin it leaves bare.

Which texels: the face skin the true camera sees on the true head *without* the hair
(:func:`bench.groundtruth.score.seen_face_skin`'s visibility), split by the hair's coverage of the
texel's photo pixel (``mask_hair.png``, rendered by Cycles with the cards' own alpha). Covered: the
photo shows mostly hair there, so the engine has to recognise it and fill the skin; clear: no hair
in the pixel (the hair's shadows may still fall there). The partly covered texels in between
(strand tips, gaps in the fringe) are in neither.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from bench.groundtruth import metrics as M
from bench.groundtruth.layout import Layout
from bench.groundtruth.runner import EngineOutput
from bench.groundtruth.visibility import texel_view

__all__ = ["HairTexels", "hair_texels", "score_hair", "de_on", "HAIR_COVERED", "HAIR_CLEAR", "CONFIDENCE_LOW",
           "TARGET_DE00", "MIN_TEXELS"]

HAIR_COVERED = 0.5
"""A texel is hair-covered when the hair covers more than this share of its photo pixel."""
HAIR_CLEAR = 0.05
"""A texel is clear (bare skin in the photo) when the hair covers less than this share of its pixel."""
CONFIDENCE_LOW = 0.25
"""An engine confidence (confidence.png / 255) below this counts as "not trusted" in the shares."""
TARGET_DE00 = 8.0
"""Issue #10's target: mean ΔE00 vs the true albedo inside the hair-covered skin."""
MIN_TEXELS = 50
"""Fewer texels than this in a set: its figures are NaN (not a measurement)."""


@dataclass(frozen=True)
class HairTexels:
    """``seen`` [N, N] bool face skin the true camera saw (no hair); ``coverage`` [N, N] float in
    [0, 1] the hair's coverage of each seen texel's photo pixel (0 elsewhere); ``covered`` /
    ``clear`` [N, N] bool the seen texels above HAIR_COVERED / below HAIR_CLEAR."""

    seen: np.ndarray
    coverage: np.ndarray
    covered: np.ndarray
    clear: np.ndarray

    @classmethod
    def split(cls, seen: np.ndarray, coverage: np.ndarray) -> HairTexels:
        """The sets from ``seen`` [N, N] bool and ``coverage`` [N, N] float."""
        coverage = np.where(seen, coverage, 0.0)
        return cls(seen, coverage, seen & (coverage > HAIR_COVERED), seen & (coverage < HAIR_CLEAR))


def hair_texels(lay: Layout, scene: dict, vertices: np.ndarray, mask_hair: np.ndarray) -> HairTexels:
    """The texel sets of a hair render: ``scene`` its scene.json, ``vertices`` (V, 3) the true head,
    ``mask_hair`` [H, W] float in [0, 1] (``mask_hair.png`` / 255), sampled bilinearly at each texel's
    projected pixel centre."""
    w, h = scene["image_size"]
    if mask_hair.shape != (h, w):
        raise ValueError(f"mask_hair must be {(h, w)}, got {mask_hair.shape}")
    view = texel_view(lay, vertices, np.asarray(scene["K"]), np.asarray(scene["R"]), np.asarray(scene["t"]), w, h)
    px = np.nan_to_num(view.pixel, nan=-10.0).astype(np.float32)
    cov = cv2.remap(np.ascontiguousarray(mask_hair, np.float32), px[..., 0], px[..., 1], cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    return HairTexels.split(view.visible & lay.face_skin, cov)


def de_on(albedo: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """(mean, p95) ΔE00 between two linear [N, N, 3] albedos over ``mask`` [N, N] bool; NaN for fewer
    than MIN_TEXELS texels."""
    if mask.sum() < MIN_TEXELS:
        return float("nan"), float("nan")
    de = M.albedo_delta_e(albedo, truth, mask)
    return de.mean, de.p95


def _share(flag: np.ndarray | None, mask: np.ndarray) -> float:
    """Share of ``mask``'s texels where ``flag`` [N, N] bool is set (NaN: no flag or too few texels)."""
    if flag is None or mask.sum() < MIN_TEXELS:
        return float("nan")
    return float(flag[mask].mean())


def score_hair(out: EngineOutput, truth: np.ndarray, tx: HairTexels) -> dict[str, float]:
    """The per-render figures: ΔE00 (mean, p95) on the covered / clear / all seen skin, the covered
    texels the engine kept from the photo vs filled, and the shares of covered (and clear) texels
    the engine filled, trusted little (confidence < CONFIDENCE_LOW) or called hair.

    ``out`` the engine's output, ``truth`` [N, N, 3] the true albedo (linear)."""
    low = None if out.confidence is None else out.confidence < CONFIDENCE_LOW
    kept = tx.covered & out.from_photo
    res = {"seen_texels": int(tx.seen.sum()), "covered_texels": int(tx.covered.sum()),
           "clear_texels": int(tx.clear.sum()),
           "covered_share_of_seen": float(tx.covered.sum() / max(tx.seen.sum(), 1))}
    for name, mask in (("covered", tx.covered), ("clear", tx.clear), ("seen", tx.seen),
                       ("covered_kept", kept), ("covered_filled", tx.covered & ~out.from_photo)):
        res[f"de_{name}"], res[f"de_{name}_p95"] = de_on(out.albedo, truth, mask)
    for name, mask in (("covered", tx.covered), ("clear", tx.clear)):
        res[f"{name}_filled_share"] = _share(~out.from_photo, mask)
        res[f"{name}_low_confidence_share"] = _share(low, mask)
        res[f"{name}_engine_hair_share"] = _share(out.hair_mask, mask)
    return res
