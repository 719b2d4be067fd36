"""Stage 3 of the texture pipeline: replace unreliable texels with the (colour-matched) template.

As in FFHQ-UV, texels whose photo colour is not skin albedo are corrected from the template:

* **eyes**: texels that saw the eye opening (inside the MediaPipe eye contour in the photo), the eye
  socket lining, and the eyeballs themselves;
* **nostrils** (region label) and the **inner mouth + lip seam** (inside the inner-lip contour in the
  photo, slightly dilated, plus the mouth lining);
* **hair and glasses**: texels of the face/ears/neck/scalp where the photo shows hair
  (:mod:`engine.texture.hair`: colour against a robust skin model, fine texture and its
  orientation), glasses rims, and clothing on the neck;
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
from engine.landmarks import (
    FACE_OVAL,
    LEFT_EYE,
    LEFT_EYEBROW,
    LIPS_INNER,
    LIPS_OUTER,
    NOSE,
    RIGHT_EYE,
    RIGHT_EYEBROW,
)
from engine.texture.blend import poisson_blend
from engine.texture.color import linear_rgb_to_lab, luminance
from engine.texture.complete import coarse_fill
from engine.texture.hair import (
    GLASSES_MODEL_PATH,
    HairFeatures,
    HairModel,
    hair_features,
    hair_mask,
    hair_probability,
    photo_texture_maps,
)
from engine.texture.unwrap import Unwrap

__all__ = [
    "CorrectSettings",
    "Corrected",
    "CorrectionMasks",
    "Occluders",
    "correct",
    "correction_masks",
    "find_occluders",
    "glasses_mask",
    "skin_lab_model",
    "skin_model_mask",
    "skin_reference_mask",
]

_SKIN_MODEL_REGIONS = ("face",)
_OUTLIER_REGIONS = ("face", "ears", "neck", "scalp")
_WHOLE_REGIONS = ("eye_socket", "mouth_inside", "eye_l", "eye_r", "teeth_upper", "teeth_lower", "tongue")


@dataclass(frozen=True)
class CorrectSettings:
    """``eye_margin`` / ``mouth_margin``: dilation (fraction of N) of the eye-opening / inner-mouth masks.
    ``outlier_distance``: chroma distance (Mahalanobis in a*, b*, robust standard deviations) beyond
    which a smooth region reaching the seen border is not skin (on the neck also that far in L*
    spreads, or clipped: a collar); ``min_outlier_area``: smallest such region (fraction of N²). Hair is the
    learned model's (:mod:`engine.texture.hair`).
    ``ring_valid``: share of a region's outer ring that must be well seen for a Poisson fill.
    ``hair_margin``: dilation (fraction of N) of the hair/glasses mask (strand tips at its edge).
    ``relight_hair_share``: when hair covers more than this share of the seen face, the lighting is
    estimated again without it (the pipeline's second de-lighting pass; the benchmark's bare faces
    stay below 0.25, its hair renders are at 0.47-0.58).
    ``glasses_line``: widest glasses rim (fraction of N) the line filter finds; ``glasses_contrast``:
    log-luminance contrast of a rim against its surroundings (dark rims; bright metal rims need
    1.5x); ``glasses_length``: shortest rim component (its longest side, fraction of N).
    ``glasses_min_share``: the glasses-trained model's texels around the eyes count as a frame only when
    they cover at least this share of the eye band (training renders: 0.29-0.70 with frames, at most
    0.20 on the bare heads; a photo one stop over-exposed, 0.13).
    """

    eye_margin: float = 0.006
    mouth_margin: float = 0.004
    outlier_distance: float = 5.0
    ring_valid: float = 0.75
    replace_scalp: bool = True
    glasses_line: float = 0.016
    glasses_contrast: float = 0.18
    glasses_length: float = 0.045
    glasses_min_share: float = 0.24
    min_outlier_area: float = 4e-4
    hair_margin: float = 0.006
    relight_hair_share: float = 0.3


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


def _polygon_image(landmarks: np.ndarray, loop: tuple[int, ...], image_shape: tuple[int, int]) -> np.ndarray:
    """(H, W) uint8 mask of the landmark polygon ``loop``."""
    img = np.zeros(image_shape, np.uint8)
    cv2.fillPoly(img, [np.round(landmarks[list(loop)] * 4.0).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=2)
    return img


def _image_to_texels(unwrap: Unwrap, img: np.ndarray) -> np.ndarray:
    """Look up an (H, W) image at every visible texel's photo pixel (nearest) -> (N, N) of img's dtype."""
    h, w = img.shape[:2]
    px = np.rint(unwrap.pixel).astype(np.int64)
    ok = unwrap.visible & (px[..., 0] >= 0) & (px[..., 0] < w) & (px[..., 1] >= 0) & (px[..., 1] < h)
    out = np.zeros(unwrap.covered.shape, img.dtype)
    out[ok] = img[px[..., 1][ok], px[..., 0][ok]]
    return out


def _polygon_texels(unwrap: Unwrap, landmarks: np.ndarray, loop: tuple[int, ...], image_shape: tuple[int, int]
                    ) -> np.ndarray:
    """(N, N) bool: seen texels whose photo pixel lies inside the landmark polygon ``loop``."""
    return _image_to_texels(unwrap, _polygon_image(landmarks, loop, image_shape)) > 0


def _dilate(mask: np.ndarray, radius: float) -> np.ndarray:
    r = max(1, int(round(radius)))
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    return cv2.dilate(mask.astype(np.uint8), k) > 0


def skin_model_mask(unwrap: Unwrap, model: HeadModel, confidence: np.ndarray) -> np.ndarray:
    """(N, N) bool: plain face skin (region ``face``), well seen."""
    return _regions(unwrap, model, _SKIN_MODEL_REGIONS) & (confidence > 0.5)


def skin_reference_mask(unwrap: Unwrap, model: HeadModel, confidence: np.ndarray, landmarks: np.ndarray | None,
                        image_shape: tuple[int, int] | None) -> np.ndarray:
    """(N, N) bool: the texels that define the subject's skin colour.

    With landmarks: the well-seen face texels of the cheek band (between the lower eyelids and the
    upper lip, inside the face oval), which hair, brows and glasses rarely cover; otherwise (or when
    that band is too small) all well-seen plain face texels.
    """
    base = skin_model_mask(unwrap, model, confidence)
    if landmarks is None or image_shape is None:
        return base
    lm = np.asarray(landmarks, np.float64)
    band = _image_to_texels(unwrap, _cheek_band(lm, image_shape).astype(np.uint8)) > 0
    return band & base if (band & base).sum() >= 100 else base


def _iod(lm: np.ndarray) -> float:
    return float(np.linalg.norm(lm[list(LEFT_EYE)].mean(0) - lm[list(RIGHT_EYE)].mean(0)))


def _cheek_band(lm: np.ndarray, image_shape: tuple[int, int]) -> np.ndarray:
    """(H, W) uint8: inside the face oval, between the lower eyelids and the upper lip: the part of a
    face that is bare skin in nearly every photo (no hair, brows, lashes; glasses sit above it)."""
    oval = _polygon_image(lm, FACE_OVAL, image_shape)
    eye_y = max(lm[list(LEFT_EYE)][:, 1].max(), lm[list(RIGHT_EYE)][:, 1].max())
    lip_y = lm[list(LIPS_OUTER)][:, 1].min()
    top, bottom = eye_y + 0.15 * (lip_y - eye_y), lip_y - 0.05 * (lip_y - eye_y)
    rows = np.arange(image_shape[0])[:, None]
    band = (rows >= top) & (rows <= bottom)
    holes = _polygon_image(lm, LIPS_OUTER, image_shape)
    return (oval > 0) & band & (holes == 0)


class _SkinModel:
    """Robust Lab statistics of reference skin texels: median, a robust L* spread and the (a*, b*)
    covariance of the central 90% (residual shading moves L* much more than the chroma)."""

    def __init__(self, lab_ref: np.ndarray) -> None:
        self.med = np.median(lab_ref, axis=0)
        mad = np.median(np.abs(lab_ref - self.med), axis=0) * 1.4826 + 1e-3
        d0 = np.sqrt((((lab_ref - self.med) / mad) ** 2).sum(axis=1))
        core = lab_ref[d0 <= np.quantile(d0, 0.9)]
        self.sigma_l = float(np.std(core[:, 0])) * 1.25 + 0.7
        cov = np.cov(core[:, 1:].T) * 1.6 + np.diag([0.25, 0.25])  # 1.6: rescale the trimmed spread
        self.inv = np.linalg.inv(cov)

    def chroma_distance(self, lab: np.ndarray) -> np.ndarray:
        d = lab[:, 1:] - self.med[1:]
        return np.sqrt(np.einsum("ij,jk,ik->i", d, self.inv, d))

    def darkness(self, lab: np.ndarray) -> np.ndarray:
        """How many L* spreads darker than the skin (negative: lighter)."""
        return (self.med[0] - lab[:, 0]) / self.sigma_l


def skin_lab_model(lab_ref: np.ndarray) -> _SkinModel:
    """The robust skin colour model of reference texels ``lab_ref`` (M, 3) CIELAB: its
    ``chroma_distance(lab)`` (Mahalanobis in a*, b*) and ``darkness(lab)`` (L* spreads darker)."""
    return _SkinModel(lab_ref)


def _central_face(lm: np.ndarray, image_shape: tuple[int, int]) -> np.ndarray:
    """(H, W) uint8: the convex hull of eyes, nose and lips: where no scalp hair grows."""
    pts = np.concatenate([lm[list(LEFT_EYE)], lm[list(RIGHT_EYE)], lm[list(NOSE)], lm[list(LIPS_OUTER)]])
    hull = cv2.convexHull(pts.astype(np.float32))[:, 0]
    img = np.zeros(image_shape, np.uint8)
    cv2.fillPoly(img, [np.round(hull * 4).astype(np.int32)], 1, shift=2)
    return img


@dataclass(frozen=True)
class Occluders:
    """(N, N) bool: ``hair`` the learned detector's hair (and the skin islands it cuts off);
    ``other`` smooth regions of a colour no skin has, reaching the seen border (background or clothing
    at the silhouette, a collar)."""

    hair: np.ndarray
    other: np.ndarray

    def union(self) -> np.ndarray:
        return self.hair | self.other


def find_occluders(albedo: np.ndarray, confidence: np.ndarray, unwrap: Unwrap, model: HeadModel,
                   photo: np.ndarray | None, landmarks: np.ndarray | None,
                   settings: CorrectSettings) -> Occluders:
    """Texels of face/ears/neck/scalp that are not skin (:class:`Occluders`).

    Hair: the learned probability of :mod:`engine.texture.hair` (colour against a robust skin model of
    the reference skin, fine texture and its orientation in the photo, the central face, the view
    angle), smoothed and thresholded with hysteresis; islands of skin it cuts off from the reference
    skin are added. Other: :func:`_colour_outliers`. Without the photo or landmarks nothing is found
    (the cues need both). The eyebrows are excluded.
    """
    n = albedo.shape[0]
    none = Occluders(np.zeros((n, n), bool), np.zeros((n, n), bool))
    cand = _regions(unwrap, model, _OUTLIER_REGIONS) & (confidence > 0.05)
    cand &= ~_regions(unwrap, model, ("eyebrows", "nostrils"))
    if landmarks is None or photo is None:
        return none
    lm = np.asarray(landmarks, np.float64)
    ref = skin_reference_mask(unwrap, model, confidence, lm, photo.shape[:2])
    cand &= ~(_image_to_texels(unwrap, _brow_image(lm, photo.shape[:2])) > 0)
    if ref.sum() < 50 or not cand.any():
        return none
    sel = cand | ref
    lab = np.asarray(linear_rgb_to_lab(albedo[sel]), np.float64)
    pos = np.full((n, n), -1, np.int64)
    pos[sel] = np.arange(int(sel.sum()))
    skin = _SkinModel(lab[pos[ref]])
    lab_c = lab[pos[cand]]
    chroma, dark = skin.chroma_distance(lab_c), skin.darkness(lab_c)
    maps = [_image_to_texels(unwrap, m) for m in photo_texture_maps(photo, _iod(lm))]
    central = _image_to_texels(unwrap, _central_face(lm, photo.shape[:2])) > 0
    facing = np.einsum("ijk,ijk->ij", unwrap.normal, unwrap.view_dir)
    feats = hair_features(chroma, dark, *maps, central, facing, cand, ref)
    hair_model = HairModel.load()
    hair = hair_mask(hair_probability(feats, hair_model), cand, hair_model)  # within cand
    hair |= _frames(feats, cand & (_image_to_texels(unwrap, _eye_band(lm, photo.shape[:2])) > 0), settings)
    if hair.any():
        hair |= _cut_off_islands(hair, cand, ref, n)  # islands of cand
    return Occluders(hair, _colour_outliers(chroma, dark, cand, unwrap, model, confidence, settings))


def _frames(feats: HairFeatures, band: np.ndarray, settings: CorrectSettings) -> np.ndarray:
    """(N, N) bool glasses frames: the glasses-trained model (:data:`engine.texture.hair.GLASSES_MODEL_PATH`)
    on the same cues, within ``band`` (N, N) bool, the candidate texels around the eyes. Fitted on training
    renders with black, tortoise and gold frames it finds most of a frame (the hair model alone misses
    frames over the central face, where no hair grows) but also more skin: around the eyes only, and only
    when it finds a frame's worth (``settings.glasses_min_share`` of the band)."""
    if not band.any():
        return np.zeros_like(band)
    model = HairModel.load(GLASSES_MODEL_PATH)
    frames = hair_mask(hair_probability(feats, model), band, model)
    if frames.sum() < settings.glasses_min_share * band.sum():
        return np.zeros_like(band)  # a few creases or shadows around bare eyes, not a frame
    return frames


def _colour_outliers(chroma: np.ndarray, dark: np.ndarray, cand: np.ndarray, unwrap: Unwrap, model: HeadModel,
                     confidence: np.ndarray, settings: CorrectSettings) -> np.ndarray:
    """(N, N) bool: smooth regions no skin could be, reaching the border of the seen head: a colour far
    from the person's skin (``chroma`` / ``dark`` (M,) over ``cand``: background or clothing at a
    misregistered silhouette, a coloured scarf), and on the neck also as far lighter or darker (a white
    collar). Strict outliers seed regions that grow through lenient ones (0.6 of the distances)."""
    n = cand.shape[0]
    c = settings.outlier_distance
    neck = _regions(unwrap, model, ("neck",))
    on_neck = neck[cand]
    strict, lenient = np.zeros((n, n), np.uint8), np.zeros((n, n), np.uint8)
    strict[cand] = (chroma > c) | (on_neck & (np.abs(dark) > c))
    lenient[cand] = (chroma > 0.6 * c) | (on_neck & (np.abs(dark) > 0.6 * c))
    lenient = cv2.morphologyEx(lenient, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))
    lenient = (lenient & cand.astype(np.uint8)) | strict
    outside = unwrap.covered & ((confidence <= 0.05) | _regions(unwrap, model, ("scalp",)))
    border = _dilate(outside, max(2.0, 0.006 * n))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(lenient, connectivity=8)
    seeded = np.bincount(labels[strict > 0], minlength=count) > 0
    touches = np.bincount(labels[border], minlength=count) > 0
    keep = seeded & touches & (stats[:, cv2.CC_STAT_AREA] >= settings.min_outlier_area * n * n)
    keep[0] = False
    # A clipped neck is a white collar far more often than skin (and says nothing about the skin either).
    collar = neck & unwrap.saturated & unwrap.visible
    return keep[labels] | (_dilate(collar, 0.004 * n) & neck & unwrap.covered)


def _brow_image(lm: np.ndarray, image_shape: tuple[int, int]) -> np.ndarray:
    """(H, W) uint8: the eyebrows' convex hulls, dilated by 8 % of the inter-ocular distance."""
    brows = np.zeros(image_shape, np.uint8)
    for chain in (LEFT_EYEBROW, RIGHT_EYEBROW):
        hull = cv2.convexHull(lm[list(chain)].astype(np.float32))[:, 0]
        cv2.fillPoly(brows, [np.round(hull * 4).astype(np.int32)], 1, shift=2)
    r = max(1, int(round(0.08 * _iod(lm))))
    return cv2.dilate(brows, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))


def _cut_off_islands(hair: np.ndarray, cand: np.ndarray, ref: np.ndarray, n: int,
                     max_area: float = 0.01) -> np.ndarray:
    """(N, N) bool: small islands of seen face/scalp texels that the hair mask cuts off from the
    subject's reference skin (strands and gaps in a fringe, the hairline above it): skin that is
    separated from the face by hair in the photo is rarely bare skin, and such islands make
    crumbs of hair colour on the forehead and the scalp."""
    rest = (cand & ~hair).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(rest, connectivity=8)
    if count <= 2:
        return np.zeros((n, n), bool)
    has_ref = np.bincount(labels[ref & (rest > 0)], minlength=count) > 0
    small = stats[:, cv2.CC_STAT_AREA] < max_area * n * n
    cut = ~has_ref & small
    cut[0] = False
    touches_hair = np.bincount(labels[_dilate(hair, 2.0) & (rest > 0)], minlength=count) > 0
    return (cut & touches_hair)[labels]


def _eye_band(lm: np.ndarray, image_shape: tuple[int, int]) -> np.ndarray:
    """(H, W) uint8: where glasses sit: around both eyes and the bridge, out toward the temples: the eyes'
    convex hull grown by an ellipse 1.0 x 0.45 inter-ocular distances in radius. Both are convex, so the
    grown hull is the convex hull of every hull point moved around the ellipse's outline (one fill
    instead of a dilation with a kernel a quarter of the face wide: 0.8 s -> under 10 ms at 1024²)."""
    pts = np.concatenate([lm[list(LEFT_EYE)], lm[list(RIGHT_EYE)]]).astype(np.float64)
    iod = _iod(lm)
    kx, ky = max(1, int(round(1.0 * iod))), max(1, int(round(0.45 * iod)))
    theta = np.linspace(0.0, 2.0 * np.pi, _EYE_BAND_OUTLINE, endpoint=False)
    ring = np.stack([kx * np.cos(theta), ky * np.sin(theta)], axis=-1)
    grown = (pts[:, None, :] + ring[None]).reshape(-1, 2).astype(np.float32)
    img = np.zeros(image_shape, np.uint8)
    cv2.fillPoly(img, [np.round(cv2.convexHull(grown)[:, 0] * 4).astype(np.int32)], 1, shift=2)
    return img


_EYE_BAND_OUTLINE = 64
"""Points on the ellipse's outline that :func:`_eye_band` moves the eyes' hull around."""


def glasses_mask(albedo: np.ndarray, confidence: np.ndarray, unwrap: Unwrap, model: HeadModel, lm: np.ndarray,
                 image_shape: tuple[int, int], eyes: np.ndarray,
                 settings: CorrectSettings = CorrectSettings()) -> np.ndarray:
    """(N, N) bool: glasses frames baked into the albedo (thin dark or bright rims around the eyes).

    A morphological line filter on the de-lit log-luminance (black-hat for dark rims, top-hat for
    bright metal rims) at most ``glasses_line`` x N wide, inside a band around the eyes from the
    landmarks (brows, eye openings and lash lines excluded); a rim must also be less saturated than
    the surrounding skin (frames are grey, black or metal; creases are darker skin) and long
    (``glasses_length``): wrinkles are short. The mask is slightly dilated to take the rim's halo.
    """
    n = albedo.shape[0]
    band = _image_to_texels(unwrap, _eye_band(lm, image_shape)) > 0
    brows = np.zeros(image_shape, np.uint8)
    for chain in (LEFT_EYEBROW, RIGHT_EYEBROW):
        hull = cv2.convexHull(lm[list(chain)].astype(np.float32))[:, 0]
        cv2.fillPoly(brows, [np.round(hull * 4).astype(np.int32)], 1, shift=2)
    band &= ~(_image_to_texels(unwrap, brows) > 0)
    band &= ~_dilate(eyes, 0.012 * n) & (confidence > 0.05)
    band &= _regions(unwrap, model, ("face", "eyelids", "eye_socket", "scalp"))
    if band.sum() < 100:
        return np.zeros((n, n), bool)
    ys, xs = np.nonzero(band)
    pad = int(0.03 * n) + 2
    y0, y1, x0, x1 = max(ys.min() - pad, 0), min(ys.max() + pad + 1, n), max(xs.min() - pad, 0), min(xs.max() + pad + 1, n)
    alb = albedo[y0:y1, x0:x1]
    known = confidence[y0:y1, x0:x1] > 0.05
    lum = np.log(np.maximum(luminance(alb), 1e-3))
    lum = np.where(known, lum, float(np.median(lum[known])) if known.any() else 0.0).astype(np.float32)
    k = max(3, int(round(settings.glasses_line * n)) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    dark = cv2.morphologyEx(lum, cv2.MORPH_BLACKHAT, kernel)
    bright = cv2.morphologyEx(lum, cv2.MORPH_TOPHAT, kernel)
    sat = (alb.max(-1) - alb.min(-1)) / np.maximum(alb.max(-1), 1e-4)
    sat_l = cv2.GaussianBlur(sat, (0, 0), 2.0 * k)
    grey = sat < 1.0 * sat_l
    if float(np.median(sat_l[known])) > 0.05:  # colour photo: bluish rims count too (skin is r > g > b)
        grey |= alb[..., 2] >= 0.9 * alb[..., 0]
    c = settings.glasses_contrast
    rim = ((dark > c) | (bright > 1.5 * c)) & grey & band[y0:y1, x0:x1]
    rim = cv2.morphologyEx(rim.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(rim, connectivity=8)
    extent = np.maximum(stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT])
    # Thin and long: a rim's area is about its length times its width (wrinkle networks and
    # shadowed hollows are blobs).
    thin = stats[:, cv2.CC_STAT_AREA] <= 1.0 * k * (stats[:, cv2.CC_STAT_WIDTH] + stats[:, cv2.CC_STAT_HEIGHT])
    keep = (extent >= settings.glasses_length * n) & thin
    keep[0] = False
    out = np.zeros((n, n), bool)
    out[y0:y1, x0:x1] = keep[labels]
    if out.any():
        out = _dilate(out, max(1.0, 0.003 * n)) & unwrap.covered
    return out


def _mouth_mask(unwrap: Unwrap, albedo: np.ndarray, confidence: np.ndarray, lm: np.ndarray,
                image_shape: tuple[int, int], model: HeadModel, settings: CorrectSettings) -> np.ndarray:
    """Inner mouth + lip seam: texels seen inside the inner-lip contour, plus texels near it (within a
    fifth of the mouth height in the photo) that look like teeth (bright, unsaturated) or the dark
    mouth cavity compared with the lips."""
    inner = _polygon_image(lm, LIPS_INNER, image_shape)
    mouth_h = float(np.ptp(lm[list(LIPS_OUTER)][:, 1])) + 1.0
    r = max(1, int(round(0.2 * mouth_h)))
    near = cv2.dilate(inner, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    inside = _image_to_texels(unwrap, inner) > 0
    around = (_image_to_texels(unwrap, near) > 0) & ~inside
    lips = _regions(unwrap, model, ("lips",)) & (confidence > 0.5) & ~inside & ~around
    if around.any():
        lum = luminance(albedo)
        sat = (albedo.max(-1) - albedo.min(-1)) / np.maximum(albedo.max(-1), 1e-4)
        ref = lips if lips.sum() >= 30 else (_regions(unwrap, model, ("lips",)) & (confidence > 0.5))
        if ref.sum() >= 30:
            l0, s0 = float(np.median(lum[ref])), float(np.median(sat[ref]))
            teeth = (lum > 1.3 * l0) & (sat < 0.7 * s0)
            cavity = lum < 0.45 * l0
            inside |= around & (teeth | cavity)
    mouth = inside
    if mouth.any():
        n = albedo.shape[0]
        mouth = _dilate(mouth, settings.mouth_margin * n)
        mouth = cv2.morphologyEx(mouth.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8)) > 0
    return mouth & _regions(unwrap, model, ("lips", "mouth_inside", "face"))


def correction_masks(unwrap: Unwrap, albedo: np.ndarray, confidence: np.ndarray, landmarks: np.ndarray | None,
                     image_shape: tuple[int, int], model: HeadModel,
                     settings: CorrectSettings = CorrectSettings(), photo: np.ndarray | None = None,
                     hair: np.ndarray | None = None) -> CorrectionMasks:
    """The texels to replace (see the module docstring). ``landmarks`` (478, 2) in photo pixels;
    ``photo`` (H, W, 3) linear (for the texture cue of the hair/glasses detector); ``hair`` (N, N)
    bool: the occluders already found by :func:`find_occluders` (found here when None)."""
    n = albedo.shape[0]
    empty = np.zeros((n, n), bool)
    eyes, mouth = empty.copy(), empty.copy()
    lm = None if landmarks is None else np.asarray(landmarks, np.float64)
    if lm is not None:
        for loop in (LEFT_EYE, RIGHT_EYE):
            eyes |= _polygon_texels(unwrap, lm, loop, image_shape)
        mouth = _mouth_mask(unwrap, albedo, confidence, lm, image_shape, model, settings)
    eyes = _dilate(eyes, settings.eye_margin * n) & unwrap.covered if eyes.any() else eyes
    nostrils = _regions(unwrap, model, ("nostrils",))
    if hair is None:
        hair = find_occluders(albedo, confidence, unwrap, model, photo, lm, settings).union()
    if hair.any() and settings.hair_margin > 0:
        # Strand tips along a hair region's edge are thinner than the detector sees: without a
        # margin they stay on the skin as a row of dark notches along the hairline.
        hair = _dilate(hair, settings.hair_margin * n) & unwrap.covered
    if lm is not None:
        hair |= glasses_mask(albedo, confidence, unwrap, model, lm, image_shape, eyes, settings)
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
