"""Ground-truth UV albedos made from real photos, owing nothing to the engine's texture model.

Recipe (issue: "a yardstick that shares nothing with the engine"):
1. the photo's **raw** unwrap: the engine's landmark fit places the head (geometry only, used to
   know where each texel looks), then each face-skin texel that our own depth buffer
   (:mod:`bench.groundtruth.visibility`) finds visible, facing the camera and inside the photo's
   face oval takes the photo's linear colour, bilinearly sampled. No de-lighting, no template;
2. everything else is filled by a blurred push-pull (a mip pyramid of the seen colours pulled back
   up), feathered into the seen part;
3. tone variants are plain transforms: exposure (a gain in linear RGB), a CIELAB lightness/chroma
   transform, or a colourisation of a black-and-white photo to a target skin Lab colour (lips
   tinted through the layout's lips region).

The albedos keep what real faces have: asymmetry, freckles, stubble, brows, lips, and also the
photo's own lighting (which is fine: the truth is whatever albedo the renders are made with).
Arrays: ``[N, N, 3]`` float32 **linear** RGB, row 0 = top texture row.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from skimage import color as skcolor

from bench.groundtruth.layout import Layout, layout
from bench.groundtruth.perturb import linear_to_srgb, srgb_to_linear
from bench.groundtruth.visibility import texel_view

__all__ = ["RawUnwrap", "ToneVariant", "ALBEDO_SPECS", "GLASSES", "raw_unwrap", "push_pull_fill", "apply_tone",
           "ground_truth_albedo"]

OVAL_MARGIN = 0.04
"""The face oval polygon is shrunk by this fraction of the face size (no hair or background)."""
MIN_FACING_UNWRAP = 0.45
"""cos of the largest view angle a texel may be unwrapped at (63 degrees)."""
FEATHER_TEXELS_AT_1024 = 6.0
"""Width of the seen -> filled blend (texels at 1024², scaled with N)."""
FILL_BLUR_AT_1024 = 10.0
"""Extra blur of the filled part (texels at 1024²)."""
FILL_FADE_AT_1024 = 40.0
"""UV distance (texels at 1024²) over which the fill fades to the median seen skin colour."""
GLASSES_BAND_AT_1024 = 28
"""For photos with glasses: texels this close to the eye regions are not unwrapped (rims)."""


@dataclass(frozen=True)
class RawUnwrap:
    """``colour`` [N, N, 3] linear (0 where not seen); ``seen`` [N, N] bool; ``grey`` the photo had no colour."""

    colour: np.ndarray
    seen: np.ndarray
    grey: bool


def _oval_mask(points: np.ndarray, width: int, height: int) -> np.ndarray:
    """[H, W] bool inside the landmarks' face oval, shrunk by OVAL_MARGIN of the face size."""
    from engine.landmarks import FACE_OVAL

    oval = points[list(FACE_OVAL)].astype(np.float64)
    centre = oval.mean(0)
    size = float(np.ptp(oval, axis=0).max())
    radius = max(float(np.linalg.norm(oval - centre, axis=1).mean()), 1e-6)
    shrunk = centre + (oval - centre) * (1.0 - OVAL_MARGIN * size / radius)
    mask = np.zeros((height, width), np.uint8)
    cv2.fillPoly(mask, [np.round(shrunk).astype(np.int32)], 1)
    return mask > 0


def raw_unwrap(photo_path: Path, size: int, glasses: bool = False) -> RawUnwrap:
    """The photo's linear colours on the face skin it shows (see the module docstring); with
    ``glasses`` a band around the eyes is left out (the rims are not skin)."""
    from engine.fit.pipeline import FitSettings, fit_head
    from engine.head.model import load_head_model
    from engine.images import load_photo
    from engine.landmarks import detect_landmarks

    photo = load_photo(photo_path)
    face = detect_landmarks(photo)
    fit = fit_head(photo.rgb, face, load_head_model(), FitSettings(photometric=None))
    cam = fit.camera
    h, w = photo.rgb.shape[:2]
    lay = layout(size)
    view = texel_view(lay, fit.vertices_unwrap, cam.K, cam.R, cam.t, w, h, MIN_FACING_UNWRAP)
    lin = srgb_to_linear(photo.rgb / 255.0).astype(np.float32)
    px = np.nan_to_num(view.pixel, nan=-10.0).astype(np.float32)
    colour = cv2.remap(lin, px[..., 0], px[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    inside = cv2.remap(_oval_mask(face.points, w, h).astype(np.uint8), px[..., 0], px[..., 1],
                       cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT) > 0
    skin_part = lay.part == lay.part_names.index("skin")
    seen = view.visible & inside & skin_part & ~lay.regions("mouth_inside")
    if glasses:
        k = 2 * int(GLASSES_BAND_AT_1024 * size / 1024) + 1
        band = cv2.dilate(lay.regions("eye_socket", "eyelids").astype(np.uint8), np.ones((k, k), np.uint8)) > 0
        seen &= ~band
    grey = bool(np.max(np.ptp(photo.rgb[::4, ::4].astype(np.int16), axis=2)) <= 1)
    return RawUnwrap(np.where(seen[..., None], colour, 0.0).astype(np.float32), seen, grey)


def push_pull_fill(colour: np.ndarray, known: np.ndarray) -> np.ndarray:
    """``colour`` [N, N, C] with the texels outside ``known`` filled from a mip pyramid of the known
    ones (push: area-average colour x weight and weight; pull: upsample the coarser level into the
    holes). Known texels are returned unchanged."""
    levels = [(colour * known[..., None], known.astype(np.float32))]
    while levels[-1][1].shape[0] > 1:
        c, wt = levels[-1]
        levels.append((cv2.resize(c, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA),
                       cv2.resize(wt, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)))
    c, wt = levels[-1]
    filled = c / np.maximum(wt[..., None], 1e-8)
    for c, wt in reversed(levels[:-1]):
        up = cv2.resize(filled, (c.shape[1], c.shape[0]), interpolation=cv2.INTER_LINEAR)
        own = c / np.maximum(wt[..., None], 1e-8)
        a = np.clip(wt, 0.0, 1.0)[..., None]
        filled = a * own + (1.0 - a) * up
    return np.where(known[..., None], colour, filled).astype(np.float32)


def _blurred_fill(raw: RawUnwrap, lay: Layout) -> np.ndarray:
    """Seen texels kept; the rest a blurred push-pull that fades to the seen face skin's median
    colour with the UV distance from the seen region (far islands do not inherit the colour of
    whatever happens to lie next to them in the atlas)."""
    n = raw.colour.shape[0]
    filled = push_pull_fill(raw.colour, raw.seen)
    smooth = cv2.GaussianBlur(filled, (0, 0), FILL_BLUR_AT_1024 * n / 1024)
    skin = raw.seen & lay.face_skin
    median = np.median(raw.colour[skin if skin.sum() > 100 else raw.seen], axis=0)
    outside = cv2.distanceTransform((~raw.seen).astype(np.uint8), cv2.DIST_L2, 3)
    near = np.exp(-outside / (FILL_FADE_AT_1024 * n / 1024))[..., None]
    smooth = near * smooth + (1.0 - near) * median
    inside = cv2.distanceTransform(raw.seen.astype(np.uint8), cv2.DIST_L2, 3)
    a = np.clip(inside / (FEATHER_TEXELS_AT_1024 * n / 1024), 0.0, 1.0)[..., None]
    return (a * filled + (1.0 - a) * smooth).astype(np.float32)


@dataclass(frozen=True)
class ToneVariant:
    """A plain colour transform. ``kind``: ``none``; ``exposure`` (``ev``); ``lab`` (``l_scale``,
    ``l_shift``, ``chroma_scale``, ``a_shift``, ``b_shift`` applied to CIELAB); ``colourise`` (the
    luminance pattern mapped to the skin Lab ``lab`` = (L, a, b) at the face's mean, lips +``lips_a``)."""

    kind: str = "none"
    ev: float = 0.0
    l_scale: float = 1.0
    l_shift: float = 0.0
    chroma_scale: float = 1.0
    a_shift: float = 0.0
    b_shift: float = 0.0
    lab: tuple[float, float, float] = (60.0, 14.0, 18.0)
    lips_a: float = 14.0


def _to_lab(lin: np.ndarray) -> np.ndarray:
    return skcolor.rgb2lab(linear_to_srgb(np.clip(lin, 0.0, 1.0)))


def _from_lab(lab: np.ndarray) -> np.ndarray:
    return srgb_to_linear(np.clip(skcolor.lab2rgb(lab), 0.0, 1.0))


def apply_tone(albedo: np.ndarray, tone: ToneVariant, lay: Layout) -> np.ndarray:
    """``albedo`` [N, N, 3] linear -> the tone variant (linear, clipped to [0.005, 0.95])."""
    if tone.kind == "none":
        out = albedo
    elif tone.kind == "exposure":
        out = albedo * 2.0 ** tone.ev
    elif tone.kind == "lab":
        lab = _to_lab(albedo)
        lab[..., 0] = lab[..., 0] * tone.l_scale + tone.l_shift
        lab[..., 1] = lab[..., 1] * tone.chroma_scale + tone.a_shift
        lab[..., 2] = lab[..., 2] * tone.chroma_scale + tone.b_shift
        out = _from_lab(lab)
    elif tone.kind == "colourise":
        out = _colourise(albedo, tone, lay)
    else:
        raise ValueError(f"unknown tone kind {tone.kind!r}")
    return np.clip(out, 0.005, 0.95).astype(np.float32)


def _colourise(albedo: np.ndarray, tone: ToneVariant, lay: Layout) -> np.ndarray:
    lum = _to_lab(albedo)[..., 0]
    ref = lay.face_skin
    lab = np.empty(albedo.shape, np.float64)
    lab[..., 0] = tone.lab[0] + (lum - float(np.median(lum[ref])))
    lab[..., 1] = tone.lab[1]
    lab[..., 2] = tone.lab[2]
    n = albedo.shape[0]
    lips = cv2.GaussianBlur(lay.regions("lips").astype(np.float32), (0, 0), 3.0 * n / 1024)
    lab[..., 1] += tone.lips_a * lips
    return _from_lab(lab)


GLASSES = ("takeo", "breakingbad")
"""Source photos whose subject wears glasses."""

ALBEDO_SPECS: dict[str, tuple[str, ToneVariant]] = {
    "astronaut": ("astronaut", ToneVariant()),
    "astronaut_deep": ("astronaut", ToneVariant("lab", l_scale=0.62, l_shift=2.0, chroma_scale=1.1, b_shift=2.0)),
    "astronaut_fair": ("astronaut", ToneVariant("lab", l_scale=0.9, l_shift=14.0, chroma_scale=0.8)),
    "breakingbad": ("breakingbad", ToneVariant()),
    "breakingbad_tan": ("breakingbad", ToneVariant("lab", l_scale=0.85, chroma_scale=1.3, b_shift=4.0)),
    "takeo_light": ("takeo", ToneVariant("colourise", lab=(68.0, 11.0, 15.0))),
    "takeo_brown": ("takeo", ToneVariant("colourise", lab=(44.0, 13.0, 21.0))),
    "einstein_medium": ("einstein", ToneVariant("colourise", lab=(58.0, 13.0, 19.0))),
    "einstein_dark": ("einstein", ToneVariant("colourise", lab=(32.0, 10.0, 14.0), lips_a=8.0)),
    "tongue_olive": ("tongue", ToneVariant("colourise", lab=(55.0, 8.0, 22.0))),
    "tongue_rosy": ("tongue", ToneVariant("colourise", lab=(64.0, 17.0, 14.0))),
    "astronaut_bright": ("astronaut", ToneVariant("exposure", ev=0.5)),
}
"""name -> (source photo, tone). Grey photos are only ever colourised (a grey albedo is not skin)."""


def ground_truth_albedo(raw: RawUnwrap, tone: ToneVariant, lay: Layout) -> np.ndarray:
    """[N, N, 3] linear albedo: the filled raw unwrap under ``tone``."""
    return apply_tone(_blurred_fill(raw, lay), tone, lay)
