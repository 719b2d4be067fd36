"""Procedural template albedo and roughness for a head UV atlas (our own generator, nothing copied).

FFHQ-UV corrects unreliable texels (eyes, nostrils, mouth, hairline) and completes unseen ones from a
template texture. Ours is generated from region masks: a skin base colour with subtle low-frequency
variation and pore-scale noise, redder lips, darker brows, darker/pinker eyelids, redder nose tip,
cheeks and ears, a dark red mouth interior, neutral bald scalp, neck tone, eyes (sclera, iris,
pupil), teeth and tongue.

The layout is a parameter (:class:`TemplateLayout`: soft region masks, optionally a head-space
position map and anchor points); ``python -m engine.texture.build_template_albedo`` builds it from the
head model and writes the shipped PNGs that :func:`load_template_albedo` and
:func:`load_template_roughness` read.

Images: ``[H, W, 3]`` float32 **linear** RGB in [0, 1], row 0 = top texture row (v = 1 - (row+0.5)/H).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from engine.errors import EngineError
from engine.texture._arrays import ShapeError
from engine.texture.blend import dilate_fill
from engine.texture.color import linear_to_srgb, srgb_to_linear

__all__ = [
    "REGION_NAMES",
    "TemplatePalette",
    "TemplateLayout",
    "ROUGHNESS_BY_REGION",
    "generate_template_albedo",
    "generate_template_roughness",
    "skin_detail",
    "load_template_albedo",
    "load_template_roughness",
    "load_template_detail_mask",
    "to_srgb8",
    "DATA_DIR",
    "ALBEDO_PATH",
    "ROUGHNESS_PATH",
    "DETAIL_PATH",
]

DATA_DIR = Path(__file__).resolve().parent / "data"
ALBEDO_PATH = DATA_DIR / "template_albedo.png"
ROUGHNESS_PATH = DATA_DIR / "template_roughness.png"
DETAIL_PATH = DATA_DIR / "template_detail.png"

REGION_NAMES: tuple[str, ...] = (
    "scalp", "neck", "face", "ears", "eyebrows", "nostrils", "eye_socket", "eyelids", "lips",
    "mouth_inside", "eye_l", "eye_r", "teeth_upper", "teeth_lower", "tongue",
)
"""Region names the generator understands (the head model's ``region_names``); all are optional."""

RGB = tuple[float, float, float]


def _lin(r: int, g: int, b: int) -> RGB:
    """sRGB 8-bit -> linear RGB tuple."""
    v = np.asarray(srgb_to_linear(np.array([r, g, b], np.float32) / 255.0))
    return (float(v[0]), float(v[1]), float(v[2]))


@dataclass(frozen=True)
class TemplatePalette:
    """Colours of the template, **linear** RGB in [0, 1] (defaults given as sRGB 8-bit in comments).

    ``*_tint`` entries are per-channel multipliers applied to the skin colour (1 = unchanged).
    """

    skin: RGB = _lin(214, 164, 138)
    lips: RGB = _lin(178, 92, 88)
    brow_hair: RGB = _lin(58, 42, 34)
    nostril: RGB = _lin(70, 38, 34)
    mouth_inside: RGB = _lin(128, 48, 48)
    eye_socket: RGB = _lin(196, 112, 106)
    tongue: RGB = _lin(196, 100, 100)
    teeth: RGB = _lin(232, 222, 196)
    sclera: RGB = _lin(226, 218, 208)
    iris: RGB = _lin(96, 68, 46)
    iris_rim: RGB = _lin(48, 36, 30)
    pupil: RGB = _lin(12, 10, 10)
    eyelid_tint: RGB = (0.90, 0.80, 0.82)
    cheek_tint: RGB = (1.0, 0.90, 0.90)
    nose_tip_tint: RGB = (1.0, 0.90, 0.90)
    ear_tint: RGB = (1.0, 0.91, 0.89)
    neck_tint: RGB = (0.98, 0.98, 0.95)
    scalp_tint: RGB = (1.01, 1.0, 0.99)
    brow_density: float = 0.75
    low_freq_amplitude: float = 0.035
    pore_amplitude: float = 0.03


@dataclass(frozen=True)
class TemplateLayout:
    """Where things are in one UV atlas of ``size`` x ``size`` texels.

    masks: region name (see :data:`REGION_NAMES`) -> ``[H, W]`` float32 in [0, 1]. Soft masks give
        soft transitions; masks that cross UV seams should be continuous across them (e.g.
        per-vertex weights interpolated in UV). Missing regions are simply not painted.
    covered: ``[H, W]`` bool, texels inside the atlas' islands (the rest is gutter, filled by
        push-pull so that bilinear/mip lookups near island edges stay clean).
    position: optional ``[H, W, 3]`` float32 head-space position (metres, +X head's left, +Y up,
        +Z out of the face) per covered texel; enables seam-free 3D low-frequency variation, the
        redness spots at ``anchors`` and the procedural iris. Without it those are skipped and
        the low-frequency variation is computed in UV space.
    anchors: optional named head-space points (metres): ``nose_tip``, ``cheek_l``, ``cheek_r``,
        ``eye_l``, ``eye_r`` (eyeball centres), ``chin``.
    """

    masks: Mapping[str, np.ndarray]
    covered: np.ndarray
    position: np.ndarray | None = None
    anchors: Mapping[str, tuple[float, float, float]] = field(default_factory=dict)

    @property
    def size(self) -> tuple[int, int]:
        return (int(self.covered.shape[0]), int(self.covered.shape[1]))

    def mask(self, name: str) -> np.ndarray:
        """The named mask, or zeros if the layout has none."""
        m = self.masks.get(name)
        return np.zeros(self.size, np.float32) if m is None else m


ROUGHNESS_BY_REGION: Mapping[str, float] = {
    "scalp": 0.55,
    "neck": 0.55,
    "face": 0.5,
    "ears": 0.5,
    "eyebrows": 0.65,
    "nostrils": 0.6,
    "eye_socket": 0.2,
    "eyelids": 0.45,
    "lips": 0.35,
    "mouth_inside": 0.25,
    "eye_l": 0.08,
    "eye_r": 0.08,
    "teeth_upper": 0.2,
    "teeth_lower": 0.2,
    "tongue": 0.3,
}
"""Template roughness per region (linear, 0 = mirror, 1 = fully rough): skin ~0.5, lips ~0.35,
wet eyes ~0.1, moist mouth and eye sockets ~0.2-0.3, brows matte."""

_SKIN_REGIONS = ("scalp", "neck", "face", "ears", "eyebrows", "eyelids", "lips", "nostrils")


def _check_layout(layout: TemplateLayout) -> tuple[int, int]:
    h, w = layout.covered.shape
    if layout.covered.ndim != 2 or h < 8 or w < 8:
        raise ShapeError(f"layout.covered must be [H, W] with H, W >= 8, got {layout.covered.shape}.")
    for name, m in layout.masks.items():
        if name not in REGION_NAMES:
            raise ShapeError(f"Unknown template region {name!r}; known: {REGION_NAMES}.")
        if m.shape != (h, w):
            raise ShapeError(f"mask {name!r} has shape {m.shape}, expected {(h, w)}.")
    if layout.position is not None and layout.position.shape != (h, w, 3):
        raise ShapeError(f"layout.position must be [{h}, {w}, 3], got {layout.position.shape}.")
    return h, w


# --------------------------------------------------------------------------------------------------
# Noise
# --------------------------------------------------------------------------------------------------


def _value_noise_3d(p: np.ndarray, cell: float, rng: np.random.Generator) -> np.ndarray:
    """Smooth value noise in [-1, 1] at points ``p [N, 3]`` (metres) with lattice spacing ``cell``."""
    q = p / cell
    base = np.floor(q).astype(np.int64)
    f = q - base
    f = f * f * (3.0 - 2.0 * f)
    lo = base.min(0)
    dims = base.max(0) - lo + 2
    lattice = rng.uniform(-1.0, 1.0, size=tuple(int(d) for d in dims)).astype(np.float32)
    i = base - lo
    out = np.zeros(len(p), np.float32)
    for dx in (0, 1):
        wx = f[:, 0] if dx else 1.0 - f[:, 0]
        for dy in (0, 1):
            wy = f[:, 1] if dy else 1.0 - f[:, 1]
            for dz in (0, 1):
                wz = f[:, 2] if dz else 1.0 - f[:, 2]
                out += (wx * wy * wz).astype(np.float32) * lattice[i[:, 0] + dx, i[:, 1] + dy, i[:, 2] + dz]
    return out


def _low_frequency(layout: TemplateLayout, rng: np.random.Generator) -> np.ndarray:
    """``[H, W, 2]`` smooth noise (luminance, redness) in about [-1, 1]; 3D when positions exist.

    The 3D noise is mirror-symmetric (evaluated at ``|x|``): a template that fills one side of a
    face must not bring its own left/right brightness difference into the completed albedo."""
    h, w = layout.size
    out = np.zeros((h, w, 2), np.float32)
    if layout.position is not None:
        cov = layout.covered
        p = layout.position[cov].astype(np.float64)
        p[:, 0] = np.abs(p[:, 0])
        for k in range(2):
            n = 0.75 * _value_noise_3d(p, 0.035, rng) + 0.25 * _value_noise_3d(p, 0.012, rng)
            out[cov, k] = n
        return out
    for k in range(2):
        n = np.zeros((h, w), np.float32)
        for cells, amp in ((8, 0.6), (24, 0.4)):
            coarse = rng.uniform(-1.0, 1.0, (cells, cells)).astype(np.float32)
            n += amp * cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
        out[..., k] = n
    return out


_DETAIL_TILE = 1024


def skin_detail(size: int, seed: int = 0) -> np.ndarray:
    """Pore-scale luminance detail ``[size, size]`` float32, zero mean, unit std, texel scale.

    A mix of fine blurred white noise (texture of the skin surface), a slightly coarser component
    and sparse small dark pores; blur radii grow with ``size`` (0.6 texel for the fine component at
    1024²), so features keep their physical scale (~0.2-0.5 mm on the head atlas). Above 1024² the
    noise is a 1024-texel tile synthesised at the target scale and repeated (invisible at pore
    scale, and 4x cheaper at 2048²).
    """
    tile = min(size, _DETAIL_TILE)
    d = _detail_tile(tile, size / 1024.0, seed)
    reps = -(-size // tile)
    return np.ascontiguousarray(np.tile(d, (reps, reps))[:size, :size])


def _detail_tile(n: int, scale: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    u = rng.random((3, n, n), dtype=np.float32)
    fine = cv2.GaussianBlur(u[0], (0, 0), 0.6 * scale + 0.1)
    mid = cv2.GaussianBlur(u[1], (0, 0), 1.6 * scale)
    pores = cv2.GaussianBlur((u[2] < 0.02).astype(np.float32), (0, 0), 0.5 * scale + 0.3)
    fine = cv2.normalize(fine, None, 0.0, 1.0, cv2.NORM_MINMAX)
    mid = cv2.normalize(mid, None, 0.0, 1.0, cv2.NORM_MINMAX)
    pores = cv2.normalize(pores, None, 0.0, 1.0, cv2.NORM_MINMAX)
    d = cv2.addWeighted(fine, 0.55 / max(float(fine.std()), 1e-6), mid, 0.45 / max(float(mid.std()), 1e-6), 0.0)
    d = cv2.scaleAdd(pores, -0.5 / max(float(pores.std()), 1e-6), d)
    mean, std = cv2.meanStdDev(d)
    d = np.clip(d, mean[0, 0] - 3.0 * std[0, 0], mean[0, 0] + 3.0 * std[0, 0])
    mean, std = cv2.meanStdDev(d)
    return ((d - np.float32(mean[0, 0])) * np.float32(1.0 / max(float(std[0, 0]), 1e-6))).astype(np.float32)


def _stroke_kernel(length: int, angle_deg: float, side: float) -> np.ndarray:
    """Normalised line kernel pointing ``angle_deg`` above the outward horizontal (side = +1: +col)."""
    k = np.zeros((2 * length + 1, 2 * length + 1), np.float32)
    a = np.radians(angle_deg)
    for t in np.linspace(0.0, 1.0, 4 * length):
        k[int(round(length - t * length * np.sin(a))), int(round(length + side * t * length * np.cos(a)))] = 1.0
    return k / k.sum()


def _brow_strokes(layout: TemplateLayout, rng: np.random.Generator) -> np.ndarray:
    """``[H, W]`` in [0, 1]: hair-like strokes, steep (upward) at the inner end of each brow and
    flattening to outward at the tail, mirrored per side."""
    h, w = layout.size
    scale = w / 1024.0
    length = max(3, int(round(7 * scale)))
    seeds = (rng.random((h, w)) < 0.22).astype(np.float32)
    angles = np.array([8.0, 25.0, 45.0, 65.0, 80.0], np.float32)
    if layout.position is not None:
        x = layout.position[..., 0]
        left = x >= 0.0
        lateral = np.clip((np.abs(x) - 0.012) / 0.04, 0.0, 1.0)  # 0 at the inner end, 1 at the tail
    else:
        cols = np.broadcast_to(np.arange(w, dtype=np.float32)[None, :], (h, w))
        left = cols >= w / 2
        lateral = np.full((h, w), 0.5, np.float32)
    want = 75.0 - 65.0 * lateral  # degrees above the outward horizontal
    pos = np.interp(want.ravel(), angles, np.arange(len(angles), dtype=np.float32)).reshape(h, w)
    lo = np.floor(pos).astype(np.int64)
    frac = pos - lo
    out = np.zeros((h, w), np.float32)
    for i, ang in enumerate(angles):
        wgt = np.where(lo == i, 1.0 - frac, 0.0) + np.where(lo + 1 == i, frac, 0.0)
        if not wgt.any():
            continue
        resp = np.where(
            left,
            cv2.filter2D(seeds, -1, _stroke_kernel(length, float(ang), 1.0), borderType=cv2.BORDER_REFLECT),
            cv2.filter2D(seeds, -1, _stroke_kernel(length, float(ang), -1.0), borderType=cv2.BORDER_REFLECT),
        )
        out += wgt.astype(np.float32) * resp
    return np.clip(out / max(float(np.percentile(out, 99.5)), 1e-6), 0.0, 1.0)


def _anchor_weight(layout: TemplateLayout, name: str, sigma: float) -> np.ndarray:
    """Gaussian weight ``[H, W]`` around a 3D anchor (0 without positions or anchor)."""
    h, w = layout.size
    if layout.position is None or name not in layout.anchors:
        return np.zeros((h, w), np.float32)
    d2 = ((layout.position - np.asarray(layout.anchors[name], np.float32)) ** 2).sum(-1)
    return (np.exp(-0.5 * d2 / sigma**2) * layout.covered).astype(np.float32)


def _tint(img: np.ndarray, tint: RGB, weight: np.ndarray) -> None:
    """In place: ``img *= 1 + weight * (tint - 1)`` per channel."""
    t = np.asarray(tint, np.float32) - 1.0
    img *= 1.0 + weight[..., None] * t


def _paint(img: np.ndarray, colour: RGB, weight: np.ndarray) -> None:
    """In place: ``img = lerp(img, colour, weight)``."""
    a = np.clip(weight, 0.0, 1.0)[..., None]
    img *= 1.0 - a
    img += a * np.asarray(colour, np.float32)


# --------------------------------------------------------------------------------------------------
# Eyes
# --------------------------------------------------------------------------------------------------


def _paint_eye(img: np.ndarray, layout: TemplateLayout, part: str, pal: TemplatePalette,
               rng: np.random.Generator) -> None:
    """Sclera everywhere on the eye part; iris, limbal rim and pupil around the +Z pole (3D)."""
    m = layout.mask(part)
    if not m.any():
        return
    _paint(img, pal.sclera, m)
    anchor = layout.anchors.get(part)
    if layout.position is None or anchor is None:
        return
    d = layout.position - np.asarray(anchor, np.float32)
    r = np.linalg.norm(d, axis=-1) + 1e-9
    theta = np.degrees(np.arccos(np.clip(d[..., 2] / r, -1.0, 1.0)))  # angle from the gaze axis (+Z)
    phi = np.arctan2(d[..., 1], d[..., 0])
    iris_deg, pupil_deg = 24.0, 8.0
    # Radial streaks in the iris: a fixed random angular profile.
    coeff = rng.standard_normal(24).astype(np.float32)
    streak = sum(coeff[i] * np.cos((i + 3) * phi + coeff[(i + 7) % 24]) for i in range(12)) / 6.0
    iris_col = np.asarray(pal.iris, np.float32) * (1.0 + 0.18 * streak[..., None]
                                                   + 0.25 * (theta[..., None] / iris_deg - 0.5))
    in_iris = np.clip((iris_deg - theta) / 1.2, 0.0, 1.0) * m
    base = img.copy()
    img[:] = base * (1.0 - in_iris[..., None]) + np.clip(iris_col, 0.0, 1.0) * in_iris[..., None]
    rim = np.exp(-0.5 * ((theta - iris_deg + 1.5) / 1.5) ** 2) * m
    _paint(img, pal.iris_rim, 0.8 * rim)
    _paint(img, pal.pupil, np.clip((pupil_deg - theta) / 0.8, 0.0, 1.0) * m)
    # Slightly redder sclera toward the back (blood vessels near the canthi).
    _tint(img, (1.0, 0.93, 0.92), np.clip((theta - 50.0) / 60.0, 0.0, 1.0) * m)


# --------------------------------------------------------------------------------------------------
# Generator
# --------------------------------------------------------------------------------------------------


def _distance_to(layout: TemplateLayout, region: str, where: np.ndarray) -> np.ndarray | None:
    """3D distance (metres) from each texel of ``where`` to the nearest texel of ``region``;
    ``[H, W]`` float32 (inf outside ``where``); None without positions or when ``region`` is empty."""
    from scipy.spatial import cKDTree  # only the generator needs it; keep loading templates light

    if layout.position is None:
        return None
    src = layout.position[(layout.mask(region) > 0.5) & layout.covered]
    if len(src) == 0:
        return None
    if len(src) > 20000:
        src = src[np.linspace(0, len(src) - 1, 20000).astype(np.int64)]
    out = np.full(layout.size, np.inf, np.float32)
    d, _ = cKDTree(src).query(layout.position[where])
    out[where] = d
    return out


def _depth_fraction(position: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """0 at the front-most (+Z) texel of the masked region, 1 at its deepest."""
    z = position[..., 2]
    zi = z[mask > 0.5]
    return np.clip((zi.max() - z) / max(float(np.ptp(zi)), 1e-6), 0.0, 1.0).astype(np.float32)


def _paint_cavity(img: np.ndarray, layout: TemplateLayout, region: str, rim: str, deep: RGB,
                  darken: float) -> None:
    """Paint a cavity lining (mouth, eye socket): near the ``rim`` region (within ~8 mm in 3D) it
    continues the rim's colour, so the UV seam between them is invisible; further in it turns to
    ``deep`` and darkens toward the back."""
    m = layout.mask(region)
    where = m > 0
    if not where.any():
        return
    dist = _distance_to(layout, rim, where)
    if dist is None or layout.position is None:
        _paint(img, deep, m)
        return
    from scipy.spatial import cKDTree

    # The rim's own colour, as painted so far, spread to the cavity by nearest 3D texel.
    rim_sel = (layout.mask(rim) > 0.5) & layout.covered
    rim_pos = layout.position[rim_sel]
    rim_col = img[rim_sel]
    _, idx = cKDTree(rim_pos).query(layout.position[where])
    front = np.zeros_like(img)
    front[where] = rim_col[idx]
    t = np.clip(dist / 0.008, 0.0, 1.0)
    t = np.where(where, t * t * (3.0 - 2.0 * t), 0.0)[..., None]
    colour = front * (1.0 - t) + np.asarray(deep, np.float32) * t
    colour *= 1.0 - darken * _depth_fraction(layout.position, m)[..., None]
    a = np.clip(m, 0.0, 1.0)[..., None]
    img *= 1.0 - a
    img += a * colour


def generate_template_albedo(
    layout: TemplateLayout,
    palette: TemplatePalette | None = None,
    seed: int = 0,
    detail: bool = True,
) -> np.ndarray:
    """Paint the template albedo for ``layout``; deterministic for a given seed.

    Args:
        layout: region masks (+ optional positions and anchors) of the atlas.
        palette: colours; :class:`TemplatePalette` defaults if None.
        seed: random seed of all noise.
        detail: add pore-scale detail on skin (False gives the smooth base stored in the PNG;
            :func:`load_template_albedo` adds detail at the requested resolution).

    Returns:
        ``[H, W, 3]`` float32 linear RGB in [0, 1]; gutters filled by push-pull from the islands.
    """
    pal = palette or TemplatePalette()
    h, w = _check_layout(layout)
    rng = np.random.default_rng(seed)
    img = np.empty((h, w, 3), np.float32)
    img[:] = np.asarray(pal.skin, np.float32)

    # Low-frequency mottling: luminance and a red-yellow shift.
    lf = _low_frequency(layout, rng)
    img *= 1.0 + pal.low_freq_amplitude * lf[..., :1]
    img *= 1.0 + 0.5 * pal.low_freq_amplitude * lf[..., 1:2] * np.array([0.5, -0.5, -1.0], np.float32)

    # Broad skin tones by region.
    _tint(img, pal.scalp_tint, layout.mask("scalp"))
    _tint(img, pal.neck_tint, layout.mask("neck"))
    _tint(img, pal.ear_tint, layout.mask("ears"))
    _tint(img, pal.cheek_tint, _anchor_weight(layout, "cheek_l", 0.02) + _anchor_weight(layout, "cheek_r", 0.02))
    _tint(img, pal.nose_tip_tint, _anchor_weight(layout, "nose_tip", 0.009))
    _tint(img, (1.0, 0.96, 0.96), _anchor_weight(layout, "chin", 0.015))

    # Facial features.
    _tint(img, pal.eyelid_tint, layout.mask("eyelids"))
    _paint(img, pal.lips, 0.85 * layout.mask("lips"))
    brows = layout.mask("eyebrows")
    if brows.any():
        strokes = _brow_strokes(layout, rng)
        _paint(img, pal.brow_hair, brows * np.clip(pal.brow_density * (0.35 + 0.9 * strokes), 0.0, 1.0))
    _paint(img, pal.nostril, layout.mask("nostrils"))

    # Skin detail (the shipped PNG stores the smooth base; detail is added per resolution at load).
    if detail:
        skin = sum((layout.mask(n) for n in _SKIN_REGIONS), np.zeros((h, w), np.float32))
        pores = skin_detail(max(h, w), seed + 1)[:h, :w]
        img *= 1.0 + pal.pore_amplitude * (np.clip(skin, 0.0, 1.0) * pores)[..., None]

    # Non-skin parts.
    _paint_cavity(img, layout, "mouth_inside", rim="lips", deep=pal.mouth_inside, darken=0.45)
    _paint_cavity(img, layout, "eye_socket", rim="eyelids", deep=pal.eye_socket, darken=0.2)
    tongue = layout.mask("tongue")
    if tongue.any():
        _paint(img, pal.tongue, tongue)
        bumps = cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), 0.8 * w / 1024 + 0.2)
        img *= 1.0 + 0.05 * tongue[..., None] * bumps[..., None] / max(float(bumps.std()), 1e-6)
    teeth = np.clip(layout.mask("teeth_upper") + layout.mask("teeth_lower"), 0.0, 1.0)
    _paint(img, pal.teeth, teeth)
    for part in ("eye_l", "eye_r"):
        _paint_eye(img, layout, part, pal, rng)

    img = np.clip(img, 0.0, 1.0)
    return np.asarray(dilate_fill(img, layout.covered.astype(np.float32)), dtype=np.float32)


def generate_template_roughness(layout: TemplateLayout, default: float = 0.5) -> np.ndarray:
    """``[H, W]`` float32 roughness in [0, 1] from :data:`ROUGHNESS_BY_REGION`.

    Regions are layered in the dict's order (broad skin regions first, features on top), each soft
    mask blending its value over what is below.

    Slightly lower (oilier) on the nose and forehead when anchors/positions exist; gutters are
    filled from the islands.
    """
    h, w = _check_layout(layout)
    rough = np.full((h, w), default, np.float32)
    for name, value in ROUGHNESS_BY_REGION.items():  # broad regions first, features override them
        m = np.clip(layout.mask(name), 0.0, 1.0)
        rough += m * (np.float32(value) - rough)
    rough -= 0.08 * _anchor_weight(layout, "nose_tip", 0.015)
    rough = np.clip(rough, 0.0, 1.0)
    return np.asarray(dilate_fill(rough[..., None], layout.covered.astype(np.float32)))[..., 0]


# --------------------------------------------------------------------------------------------------
# Shipped template
# --------------------------------------------------------------------------------------------------


def _read_png(path: Path) -> np.ndarray:
    if not path.is_file():
        raise EngineError(f"Template texture not found at {path}.",
                          hint="run `python -m engine.texture.build_template_albedo`")
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise EngineError(f"Template texture {path} cannot be read.")
    return img


def _resize(img: np.ndarray, size: int) -> np.ndarray:
    if img.shape[0] == size and img.shape[1] == size:
        return img
    interp = cv2.INTER_AREA if size < img.shape[0] else cv2.INTER_CUBIC
    return cv2.resize(img, (size, size), interpolation=interp)


def _check_size(size: int) -> int:
    if not isinstance(size, (int, np.integer)) or not 16 <= size <= 8192:
        raise ShapeError(f"Template size must be an integer in [16, 8192], got {size!r}.")
    return int(size)


@lru_cache(maxsize=4)
def _albedo_cached(size: int, detail: bool, seed: int) -> np.ndarray:
    srgb8 = np.ascontiguousarray(_read_png(ALBEDO_PATH)[..., ::-1])
    lut = np.asarray(srgb_to_linear(np.arange(256, dtype=np.float32) / 255.0), dtype=np.float32)
    base = lut[srgb8]
    base = _resize(base, size)
    if detail:
        gain = load_template_detail_mask(size) * skin_detail(size, seed)
        gain = cv2.scaleAdd(gain, TemplatePalette().pore_amplitude, np.ones_like(gain))
        base = cv2.multiply(base, cv2.merge([gain, gain, gain]))
    out = np.clip(base, 0.0, 1.0, out=base).astype(np.float32, copy=False)
    out.setflags(write=False)
    return out


def load_template_albedo(size: int = 1024, detail: bool = True, seed: int = 1) -> np.ndarray:
    """The shipped template albedo at ``size`` x ``size``: ``[size, size, 3]`` float32 linear RGB in [0, 1].

    The PNG (``engine/texture/data/template_albedo.png``, sRGB 8-bit, 1024²) holds the smooth base in
    the head atlas; pore-scale detail is synthesised at the requested resolution (deterministic in
    ``seed``) on skin texels. Returns a fresh writable copy.
    """
    return _albedo_cached(_check_size(size), bool(detail), int(seed)).copy()


@lru_cache(maxsize=4)
def _grey_cached(path: Path, size: int) -> np.ndarray:
    img = _read_png(path)
    if img.ndim == 3:
        img = img[..., 0]
    out = _resize(img.astype(np.float32) / 255.0, size).astype(np.float32)
    out = np.clip(out, 0.0, 1.0)
    out.setflags(write=False)
    return out


def load_template_roughness(size: int = 1024) -> np.ndarray:
    """The shipped roughness template ``[size, size]`` float32 in [0, 1] (linear values, not sRGB)."""
    return _grey_cached(ROUGHNESS_PATH, _check_size(size)).copy()


def load_template_detail_mask(size: int = 1024) -> np.ndarray:
    """``[size, size]`` float32 in [0, 1]: where the template carries skin detail (skin texels)."""
    return _grey_cached(DETAIL_PATH, _check_size(size)).copy()


def to_srgb8(img: np.ndarray) -> np.ndarray:
    """Linear ``[H, W, 3]`` in [0, 1] -> sRGB uint8 (RGB order)."""
    return np.round(np.asarray(linear_to_srgb(img)) * 255.0).astype(np.uint8)
