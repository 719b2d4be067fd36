"""Hair over the skin: a per-texel probability that the photo shows hair (or another textured
occluder) instead of skin, from cues that separate strands from skin.

Cues, per seen texel of the face, ears, neck and scalp (eyebrows and nostrils excluded):

* **colour**: the de-lit colour's chroma distance from the person's skin (Mahalanobis in a*, b*,
  :func:`engine.texture.correct.skin_lab_model`) and its lightness offset (darker or lighter than
  the skin, in robust spreads);
* **fine texture**: the photo's local fine-detail contrast relative to the reference skin's (strands
  and rims are textured, skin is smooth);
* **orientation**: the coherence ``(l1 - l2) / (l1 + l2)`` of the photo's fine-detail structure
  tensor (hair is many parallel strands; pores, wrinkles and noise point every way) and the oriented
  energy ``(l1 - l2) / sqrt(l1 + l2)`` relative to the skin's;
* **place**: whether the texel is in the central face (eyes, nose, mouth), where no scalp hair grows,
  and how squarely it faces the camera (foreshortening alone makes skin detail look oriented).

A logistic model (:class:`HairModel`, ``data/hair_model.json``) weighs them. It was fitted by
``bench/build_hair_model.py`` on Cycles renders of heads with hair cards and without (labels: the
hair's rendered coverage of each texel's pixel), none of them benchmark scenes. The probability is
smoothed over the surface and thresholded with hysteresis (:func:`hair_mask`). A second fit of the
same cues with glasses frames among the occluders (:data:`GLASSES_MODEL_PATH`) finds frames around the
eyes.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from engine.texture.color import luminance

__all__ = [
    "FEATURE_NAMES",
    "HairFeatures",
    "HairModel",
    "hair_features",
    "hair_mask",
    "hair_probability",
    "GLASSES_MODEL_PATH",
    "MODEL_PATH",
    "photo_texture_maps",
]

MODEL_PATH = Path(__file__).with_name("data") / "hair_model.json"
GLASSES_MODEL_PATH = Path(__file__).with_name("data") / "glasses_model.json"
"""The same model fitted with glasses frames as occluders too (``bench/build_hair_model.py --model
glasses``): it finds frames the hair model leaves, but also more skin, so the texture stage applies it
only around the eyes (:func:`engine.texture.correct.find_occluders`)."""

FEATURE_NAMES = ("chroma", "dark", "light", "log_texture", "coherence", "log_oriented", "central", "facing",
                 "coherence_x_oriented", "coherence_x_facing", "chroma_x_texture")
"""The model's inputs, in this order (see :func:`hair_features`)."""

CANONICAL_IOD_PX = 64.0
"""The texture cues are computed with the photo scaled so that the eyes are at most this far apart
(pixels): the same face gives the same cues whatever the photo's resolution (smaller faces are
used as they are)."""


@dataclass(frozen=True)
class HairModel:
    """Logistic model: ``p = sigmoid(bias + weights . (x - mean) / scale)`` over :data:`FEATURE_NAMES`.

    ``grow`` / ``seed``: a texel is hair when its smoothed probability exceeds ``grow`` and its
    region holds a texel above ``seed``; ``smooth``: the smoothing's sigma (fraction of N);
    ``min_area``: smallest region kept (fraction of N²)."""

    names: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: float
    grow: float = 0.5
    seed: float = 0.7
    smooth: float = 0.003
    min_area: float = 4e-4

    @classmethod
    def load(cls, path: Path = MODEL_PATH) -> HairModel:
        d = json.loads(Path(path).read_text())
        if tuple(d["names"]) != FEATURE_NAMES:
            raise ValueError(f"{path}: features {d['names']} are not {FEATURE_NAMES}")
        arr = {k: np.asarray(d[k], np.float64) for k in ("mean", "scale", "weights")}
        return cls(tuple(d["names"]), arr["mean"], arr["scale"], arr["weights"], float(d["bias"]),
                   **{k: float(d[k]) for k in ("grow", "seed", "smooth", "min_area") if k in d})

    def to_json(self, extra: dict | None = None) -> str:
        d = {"names": list(self.names), "mean": self.mean.tolist(), "scale": self.scale.tolist(),
             "weights": self.weights.tolist(), "bias": self.bias, "grow": self.grow, "seed": self.seed,
             "smooth": self.smooth, "min_area": self.min_area, **(extra or {})}
        return json.dumps(d, indent=1) + "\n"


@dataclass(frozen=True)
class HairFeatures:
    """``cand`` (N, N) bool: the texels scored; ``values`` (M, F) float32: one row per ``cand`` texel
    (row-major order), columns :data:`FEATURE_NAMES`."""

    cand: np.ndarray
    values: np.ndarray


def photo_texture_maps(photo: np.ndarray, iod: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(H, W) maps of ``photo`` (H, W, 3) linear: fine-detail contrast, and the fine detail's windowed
    gradient tensor's anisotropy ``l1 - l2`` and trace ``l1 + l2``, computed at the canonical scale
    (:data:`CANONICAL_IOD_PX`; ``iod`` the photo's inter-ocular distance in pixels) and resampled back
    to the photo's size.

    Fine detail: perceptual luminance minus its 1-pixel Gaussian blur; windows: 5 % of the
    inter-ocular distance."""
    h, w = photo.shape[:2]
    scale = min(1.0, CANONICAL_IOD_PX / max(iod, 1e-6))
    lum = np.sqrt(np.clip(luminance(photo.astype(np.float32)), 0.0, 1.0))
    if scale < 1.0:
        lum = cv2.resize(lum, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    maps = _texture_maps(lum, max(1.5, 0.05 * iod * scale))
    if scale < 1.0:
        maps = tuple(cv2.resize(m, (w, h), interpolation=cv2.INTER_LINEAR) for m in maps)
    return maps


def _texture_maps(lum: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    hp = lum - cv2.GaussianBlur(lum, (0, 0), 1.0)
    contrast = np.sqrt(cv2.GaussianBlur(hp * hp, (0, 0), sigma))
    gx = cv2.Sobel(hp, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(hp, cv2.CV_32F, 0, 1, ksize=3)
    jxx = cv2.GaussianBlur(gx * gx, (0, 0), sigma)
    jyy = cv2.GaussianBlur(gy * gy, (0, 0), sigma)
    jxy = cv2.GaussianBlur(gx * gy, (0, 0), sigma)
    return contrast, np.sqrt((jxx - jyy) ** 2 + 4.0 * jxy * jxy), jxx + jyy


def hair_features(chroma: np.ndarray, dark: np.ndarray, contrast: np.ndarray, anisotropy: np.ndarray,
                  trace: np.ndarray, central: np.ndarray, facing: np.ndarray, cand: np.ndarray,
                  ref: np.ndarray) -> HairFeatures:
    """The model's inputs from per-texel cues. ``chroma`` / ``dark`` (M,) over ``cand`` (N, N) bool
    (skin model distances); ``contrast`` / ``anisotropy`` / ``trace`` (N, N) the maps of
    :func:`photo_texture_maps` looked up per texel; ``central`` (N, N) bool; ``facing`` (N, N) the
    cosine between the texel's normal and its view direction; ``ref`` (N, N) bool the reference skin
    the texture cues are relative to."""
    coherence = anisotropy / np.maximum(trace, 1e-12)
    oriented = anisotropy / np.sqrt(np.maximum(trace, 1e-12))
    log_tex = np.log(np.maximum(contrast[cand], 1e-9) / (float(np.median(contrast[ref])) + 1e-6))
    log_ori = np.log(np.maximum(oriented[cand], 1e-9) / (float(np.median(oriented[ref])) + 1e-6))
    coh = coherence[cand]
    face = np.clip(facing[cand], 0.0, 1.0)
    cols = (chroma, np.maximum(dark, 0.0), np.maximum(-dark, 0.0), log_tex, coh, log_ori,
            central[cand].astype(np.float64), face, coh * log_ori, coh * face, chroma * log_tex)
    return HairFeatures(cand, np.stack([np.asarray(c, np.float64) for c in cols], axis=1).astype(np.float32))


def hair_probability(features: HairFeatures, model: HairModel) -> np.ndarray:
    """(N, N) float32 probability of hair on ``features.cand`` (0 elsewhere)."""
    z = model.bias + ((features.values - model.mean) / model.scale) @ model.weights
    out = np.zeros(features.cand.shape, np.float32)
    out[features.cand] = 1.0 / (1.0 + np.exp(-np.clip(z, -30.0, 30.0)))
    return out


def hair_mask(prob: np.ndarray, cand: np.ndarray, model: HairModel) -> np.ndarray:
    """(N, N) bool hair texels: ``prob`` smoothed over ``cand`` (normalised convolution), above
    ``model.grow`` in regions that reach ``model.seed`` and cover at least ``model.min_area``."""
    n = prob.shape[0]
    sigma = max(1.0, model.smooth * n)
    w = cv2.GaussianBlur(cand.astype(np.float32), (0, 0), sigma)
    p = cv2.GaussianBlur(prob * cand, (0, 0), sigma) / np.maximum(w, 1e-6)
    grow = ((p > model.grow) & cand).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(grow, connectivity=8)
    seeded = np.bincount(labels[(p > model.seed) & (grow > 0)], minlength=count) > 0
    keep = seeded & (stats[:, cv2.CC_STAT_AREA] >= model.min_area * n * n)
    keep[0] = False
    return keep[labels]
