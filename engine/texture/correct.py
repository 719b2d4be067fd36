"""Stage 3 of the texture pipeline: replace unreliable texels with the (colour-matched) template.

As in FFHQ-UV, texels whose photo colour is not skin albedo are corrected from the template:

* **eyes**: texels that saw the eye opening (inside the MediaPipe eye contour in the photo), the eye
  socket lining, and the eyeballs themselves;
* **nostrils** (region label) and the **inner mouth + lip seam** (inside the inner-lip contour in the
  photo, slightly dilated, plus the mouth lining);
* **hair, beard, glasses**: texels of the face/ears/neck/scalp whose colour is an outlier of the
  subject's skin distribution (Mahalanobis distance in CIELAB against a robust skin model), cleaned
  morphologically so freckles and pores stay;
* **scalp** (the head model is bald: hair is a separate asset), teeth and tongue.

Masks are found in UV space: landmarks act through the texels' photo positions (a texel is in the
eye opening if the pixel it projects to is inside the eye contour), region labels come from the
head model. Small enclosed regions (eye openings, nostrils, mouth, hair islands) are filled with the
template's detail by Poisson blending (seamless cloning) against the surrounding photo albedo;
regions that reach unseen texels (scalp, hair at the border of what was seen) are dropped instead
(confidence 0), so the completion stage blends the template in with its multi-band blend.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from engine.head.model import HeadModel
from engine.landmarks import LEFT_EYE, LIPS_INNER, RIGHT_EYE
from engine.texture.blend import poisson_blend
from engine.texture.complete import coarse_fill
from engine.texture.color import linear_rgb_to_lab
from engine.texture.unwrap import Unwrap

__all__ = ["CorrectSettings", "CorrectionMasks", "Corrected", "correction_masks", "correct", "skin_model_mask"]

_SKIN_MODEL_REGIONS = ("face",)
_OUTLIER_REGIONS = ("face", "ears", "neck", "scalp")
_WHOLE_REGIONS = ("eye_socket", "mouth_inside", "eye_l", "eye_r", "teeth_upper", "teeth_lower", "tongue")


@dataclass(frozen=True)
class CorrectSettings:
    """``eye_margin`` / ``mouth_margin``: dilation (fraction of N) of the eye-opening / inner-mouth masks.
    ``outlier_distance``: Mahalanobis distance (in robust standard deviations) beyond which a texel
    is not skin. ``min_outlier_area``: smallest outlier component kept (fraction of N²).
    ``ring_valid``: share of a region's outer ring that must be well seen for a Poisson fill.
    """

    eye_margin: float = 0.006
    mouth_margin: float = 0.004
    outlier_distance: float = 4.5
    min_outlier_area: float = 4e-4
    ring_valid: float = 0.75
    replace_scalp: bool = True


@dataclass
class CorrectionMasks:
    """(N, N) bool masks of the texels to replace, by cause."""

    eyes: np.ndarray
    nostrils: np.ndarray
    mouth: np.ndarray
    hair: np.ndarray
    scalp: np.ndarray
    whole: np.ndarray

    def union(self) -> np.ndarray:
        return self.eyes | self.nostrils | self.mouth | self.hair | self.scalp | self.whole


@dataclass
class Corrected:
    """Albedo (N, N, 3) linear and confidence (N, N) after correction; ``poisson`` / ``dropped`` (N, N)
    bool say which texels were cloned from the template and which were left to the completion."""

    albedo: np.ndarray
    confidence: np.ndarray
    poisson: np.ndarray
    dropped: np.ndarray
    masks: CorrectionMasks


def _regions(unwrap: Unwrap, model: HeadModel, names: tuple[str, ...]) -> np.ndarray:
    return np.isin(unwrap.region, [model.region_id(n) for n in names])


def _polygon_texels(unwrap: Unwrap, landmarks: np.ndarray, loop: tuple[int, ...], image_shape: tuple[int, int]
                    ) -> np.ndarray:
    """(N, N) bool: seen texels whose photo pixel lies inside the landmark polygon ``loop``."""
    h, w = image_shape
    img = np.zeros((h, w), np.uint8)
    pts = np.round(landmarks[list(loop)] * 4.0).astype(np.int32)
    cv2.fillPoly(img, [pts], 1, lineType=cv2.LINE_8, shift=2)
    px = np.rint(unwrap.pixel).astype(np.int64)
    ok = unwrap.covered & (px[..., 0] >= 0) & (px[..., 0] < w) & (px[..., 1] >= 0) & (px[..., 1] < h)
    out = np.zeros(unwrap.covered.shape, bool)
    out[ok] = img[px[..., 1][ok], px[..., 0][ok]] > 0
    return out & unwrap.visible


def _dilate(mask: np.ndarray, radius: float) -> np.ndarray:
    r = max(1, int(round(radius)))
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    return cv2.dilate(mask.astype(np.uint8), k) > 0


def skin_model_mask(unwrap: Unwrap, model: HeadModel, confidence: np.ndarray) -> np.ndarray:
    """(N, N) bool: plain face skin, well seen: the texels that define the subject's skin colour."""
    return _regions(unwrap, model, _SKIN_MODEL_REGIONS) & (confidence > 0.5)


def _skin_outliers(albedo: np.ndarray, confidence: np.ndarray, unwrap: Unwrap, model: HeadModel,
                   settings: CorrectSettings) -> np.ndarray:
    """Texels of face/ears/neck/scalp whose Lab colour is far from the robust skin model."""
    n = albedo.shape[0]
    ref = skin_model_mask(unwrap, model, confidence)
    cand = _regions(unwrap, model, _OUTLIER_REGIONS) & (confidence > 0.05)
    if ref.sum() < 50 or not cand.any():
        return np.zeros((n, n), bool)
    lab_ref = np.asarray(linear_rgb_to_lab(albedo[ref]), np.float64)
    med = np.median(lab_ref, axis=0)
    # Robust covariance: the classic covariance of the central 90% (by a first MAD-scaled distance).
    mad = np.median(np.abs(lab_ref - med), axis=0) * 1.4826 + 1e-3
    d0 = np.sqrt((((lab_ref - med) / mad) ** 2).sum(axis=1))
    core = lab_ref[d0 <= np.quantile(d0, 0.9)]
    cov = np.cov(core.T) * 1.6 + np.diag([0.5, 0.25, 0.25])  # 1.6: rescale the trimmed spread
    inv = np.linalg.inv(cov)
    lab = np.asarray(linear_rgb_to_lab(albedo[cand]), np.float64) - med
    dist = np.sqrt(np.einsum("ij,jk,ik->i", lab, inv, lab))
    out = np.zeros((n, n), np.uint8)
    out[cand] = dist > settings.outlier_distance
    out = cv2.morphologyEx(out, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(out, connectivity=8)
    keep = np.zeros(count, bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= settings.min_outlier_area * n * n
    mask = keep[labels]
    if mask.any():
        mask = _dilate(mask, max(1.0, 0.003 * n))
        mask = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8)) > 0
    return mask & cand


def correction_masks(unwrap: Unwrap, albedo: np.ndarray, confidence: np.ndarray, landmarks: np.ndarray | None,
                     image_shape: tuple[int, int], model: HeadModel,
                     settings: CorrectSettings = CorrectSettings()) -> CorrectionMasks:
    """The texels to replace (see the module docstring). ``landmarks`` (478, 2) in photo pixels."""
    n = albedo.shape[0]
    empty = np.zeros((n, n), bool)
    eyes, mouth = empty.copy(), empty.copy()
    if landmarks is not None:
        lm = np.asarray(landmarks, np.float64)
        for loop in (LEFT_EYE, RIGHT_EYE):
            eyes |= _polygon_texels(unwrap, lm, loop, image_shape)
        mouth = _polygon_texels(unwrap, lm, LIPS_INNER, image_shape)
    eyes = _dilate(eyes, settings.eye_margin * n) & unwrap.covered if eyes.any() else eyes
    lips_seam = _dilate(mouth, settings.mouth_margin * n) if mouth.any() else mouth
    mouth = lips_seam & _regions(unwrap, model, ("lips", "mouth_inside", "face"))
    nostrils = _regions(unwrap, model, ("nostrils",))
    hair = _skin_outliers(albedo, confidence, unwrap, model, settings)
    scalp = _regions(unwrap, model, ("scalp",)) if settings.replace_scalp else empty
    whole = _regions(unwrap, model, _WHOLE_REGIONS)
    return CorrectionMasks(eyes, nostrils, mouth, hair, scalp, whole)


def correct(albedo: np.ndarray, confidence: np.ndarray, template: np.ndarray, masks: CorrectionMasks,
            settings: CorrectSettings = CorrectSettings()) -> Corrected:
    """Replace the masked texels by the colour-matched ``template`` (N, N, 3) linear.

    Enclosed components of ``eyes | nostrils | mouth | hair`` whose outer ring is mostly well seen
    are Poisson-blended (they then count as seen, confidence = the ring's); everything else in the
    masks (scalp, whole islands such as eyeballs, components touching unseen texels) gets confidence
    0 and is left to :func:`engine.texture.complete.complete`.
    """
    n = albedo.shape[0]
    local = (masks.eyes | masks.nostrils | masks.mouth | masks.hair) & ~masks.whole
    drop = (masks.scalp | masks.whole).copy()
    poisson = np.zeros((n, n), bool)
    good = confidence > 0.5
    count, labels = cv2.connectedComponents(local.astype(np.uint8), connectivity=8)
    ring_r = max(2, int(round(0.004 * n)))
    for k in range(1, count):
        comp = labels == k
        ys, xs = np.nonzero(comp)
        y0, y1 = max(ys.min() - 2 * ring_r, 0), min(ys.max() + 2 * ring_r + 1, n)
        x0, x1 = max(xs.min() - 2 * ring_r, 0), min(xs.max() + 2 * ring_r + 1, n)
        c = comp[y0:y1, x0:x1]
        ring = _dilate(c, ring_r) & ~c & ~drop[y0:y1, x0:x1]
        if ring.any() and good[y0:y1, x0:x1][ring].mean() >= settings.ring_valid:
            poisson[y0:y1, x0:x1] |= c
        else:
            drop[y0:y1, x0:x1] |= c
    out = albedo.copy()
    conf = confidence.copy()
    if poisson.any():
        # Dirichlet values on the ring must be real colours: extend the well-seen albedo first.
        target = coarse_fill(out, good)
        out = np.asarray(poisson_blend(target, template, poisson.astype(np.float32)), np.float32)
        out = np.where(poisson[..., None] | good[..., None], out, albedo)
        out = np.clip(out, 0.0, 1.0)
        conf[poisson] = np.maximum(conf[poisson], 0.6)
    conf[drop] = 0.0
    return Corrected(out, conf, poisson, drop, masks)
