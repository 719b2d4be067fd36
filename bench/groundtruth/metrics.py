"""Metrics of the ground-truth benchmark: colour error (CIEDE2000), brightness symmetry, seams, surface
and landmark error.

This module is the yardstick: it imports nothing from ``engine/`` (numpy, scipy, scikit-image and
OpenCV only), so a bug in the engine cannot cancel out in its own measurement.

Conventions (docs/conventions.md):
    * Texture arrays are ``[N, N, C]`` float, row 0 = the top texture row (v = 1); texel (row, col)
      sits at ``u = (col + 0.5) / N``, ``v = 1 - (row + 0.5) / N``.
    * Colours passed in are **linear** RGB with sRGB (Rec.709) primaries in [0, 1] unless a name says
      ``lab``. Lab is CIELAB relative to D65 (2-degree observer), as scikit-image computes it.
    * Masks are ``[N, N]`` bool or float; a float texel counts when ``> MASK_THRESHOLD``.
    * Meshes are in metres (head space); geometry results are in millimetres.
    * Pixel coordinates are (x = column, y = row) of the input photo.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import chain, combinations

import cv2
import numpy as np
from scipy.spatial import cKDTree
from skimage.color import deltaE_ciede2000, rgb2lab

from bench.groundtruth import perturb

__all__ = [
    "MetricInputError",
    "DeltaEStats",
    "BSResult",
    "SeamSides",
    "SeamResult",
    "GeometryStats",
    "MASK_THRESHOLD",
    "centre_border_lightness",
    "DELTA_E_PERCENTILE",
    "BS_SIGMA_AT_1024",
    "SEAM_RING_AT_1024",
    "SEAM_RADIUS_M",
    "SEAM_MAX_POINTS",
    "SEAM_MIN_SIDE_TEXELS",
    "SEAM_TARGET_DE00",
    "SURFACE_PERCENTILE",
    "TRIANGLE_CANDIDATES",
    "DEGENERATE_AREA_REL",
    "M_TO_MM",
    "MP_RIGHT_EYE_CORNERS",
    "MP_LEFT_EYE_CORNERS",
    "linear_to_srgb",
    "linear_to_lab",
    "delta_e00",
    "albedo_delta_e",
    "mean_colour_delta_e",
    "pairwise_delta_e",
    "bs_error",
    "seam_ring_texels",
    "even_subsample",
    "seam_sides_csr",
    "points_within",
    "seam_delta_e",
    "seen_border_seam",
    "uv_island_seam",
    "similarity_align",
    "closest_point_on_triangles",
    "point_triangle_distance",
    "surface_error",
    "landmark_error",
    "inter_ocular",
    "summarise",
]

MASK_THRESHOLD = 0.5
"""A float mask value counts when strictly above this."""
DELTA_E_PERCENTILE = 95.0
"""Percentile reported as ``p95`` of the per-texel colour error."""
BS_SIGMA_AT_1024 = 4.0
"""Default brightness-symmetry blur: 4 texels at N = 1024, scaled linearly with N."""
BS_BLUR_MIN_WEIGHT = 1e-6
"""Normalised blur: below this mask weight the blurred luma is 0 (no counted texel near)."""
SEAM_RING_AT_1024 = 3
"""Seam rings: texels within 3 texels of the seam on either side at N = 1024, scaled with N (>= 1)."""
SEAM_RADIUS_M = 0.005
"""Seam neighbourhood: ring texels within 5 mm (3D, head space) of a seam point are averaged per side."""
SEAM_MAX_POINTS = 2000
"""At most this many seam points (an even subsample of the border) per seam metric."""
SEAM_MIN_SIDE_TEXELS = 3
"""A seam point counts only when each side has at least this many ring texels within the radius."""
SEAM_TARGET_DE00 = 2.0
"""Target of the "no seams" issue: mean seam ΔE00 at most this, for each of the two seam metrics."""
LUMA_WEIGHTS = np.array([0.2126, 0.7152, 0.0722])
"""Rec.709 luma weights, applied to sRGB-encoded values."""
SURFACE_PERCENTILE = 95.0
"""Percentile reported as ``p95_mm`` of the point-to-surface distance."""
TRIANGLE_CANDIDATES = 16
"""Candidate triangles per query point (nearest triangle centroids) for the surface distance."""
M_TO_MM = 1000.0
"""Metres to millimetres."""
MP_RIGHT_EYE_CORNERS = (33, 133)
"""MediaPipe FaceMesh (478) outer / inner corner of the subject's right eye (image left)."""
MP_LEFT_EYE_CORNERS = (362, 263)
"""MediaPipe FaceMesh (478) inner / outer corner of the subject's left eye (image right)."""
DEGENERATE_AREA_REL = 1e-20
"""A triangle is degenerate when |ab x ac|^2 <= this * max(|ab|^2, |ac|^2)^2 (then: its edges)."""
_TINY = 1e-300


class MetricInputError(ValueError):
    """Inputs a metric cannot be computed on: wrong shapes, an empty mask, too few points."""


@dataclass(frozen=True)
class DeltaEStats:
    """Per-texel CIEDE2000 statistics over a mask: ``mean``, ``p95``, ``max``; ``count`` texels."""

    mean: float
    p95: float
    max: float
    count: int


@dataclass(frozen=True)
class BSResult:
    """Brightness-symmetry result.

    ``error``: mean |luma(p) - luma(mirror(p))| in 0-255 sRGB luma units over counted texels (NaN
    when none count); ``counted_share``: counted / region texels; ``filled_share``: region texels
    not seen / region texels.
    """

    error: float
    counted_share: float
    filled_share: float


@dataclass(frozen=True)
class SeamSides:
    """Texels on the two sides of a seam around ``P`` seam points, in an ``[N, N]`` texture.

    ``size``: N; ``indptr``: two ``[P + 1]`` int64 arrays; ``texels``: two int64 arrays of flat texel
    indices (``row * N + col``): side ``k`` of point ``p`` is ``texels[k][indptr[k][p]:indptr[k][p + 1]]``.
    """

    size: int
    indptr: tuple[np.ndarray, np.ndarray]
    texels: tuple[np.ndarray, np.ndarray]

    @property
    def points(self) -> int:
        return len(self.indptr[0]) - 1


@dataclass(frozen=True)
class SeamResult:
    """Seam colour step: ``mean`` / ``worst`` (max) CIEDE2000 between the two sides' mean colours over
    the ``count`` seam points that count (NaN when none does)."""

    mean: float
    worst: float
    count: int


@dataclass(frozen=True)
class GeometryStats:
    """Geometry error in millimetres after similarity alignment.

    ``mean_mm`` / ``median_mm`` / ``p95_mm``: point-to-surface distance of the region vertices;
    ``vertex_mean_mm``: mean distance between corresponding region vertices.
    """

    mean_mm: float
    median_mm: float
    p95_mm: float
    vertex_mean_mm: float


# ----------------------------------------------------------------------------------------- helpers


def _mask(mask: np.ndarray, shape: tuple[int, ...], name: str) -> np.ndarray:
    """``mask`` as a bool array of ``shape`` (float masks: ``> MASK_THRESHOLD``)."""
    m = np.asarray(mask)
    if m.shape != tuple(shape):
        raise MetricInputError(f"{name} must have shape {tuple(shape)}, got {m.shape}.")
    return m if m.dtype == bool else m > MASK_THRESHOLD


def _texture_pair(pred: np.ndarray, truth: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate two ``[N, N, 3]`` textures and an ``[N, N]`` mask; raise on an empty mask."""
    p, t = np.asarray(pred, np.float64), np.asarray(truth, np.float64)
    if p.shape != t.shape or p.ndim != 3 or p.shape[2] != 3:
        raise MetricInputError(f"shape mismatch: pred {p.shape} and truth {t.shape} must be the same [N, N, 3].")
    m = _mask(mask, p.shape[:2], "mask")
    if not m.any():
        raise MetricInputError("the mask selects no texel.")
    return p, t, m


def _texture(x: np.ndarray, name: str) -> np.ndarray:
    """``x`` as an ``[N, N, 3]`` array (dtype kept)."""
    a = np.asarray(x)
    if a.ndim != 3 or a.shape[0] != a.shape[1] or a.shape[2] != 3:
        raise MetricInputError(f"{name} must be [N, N, 3], got {a.shape}.")
    return a


def _points(x: np.ndarray, name: str, dim: int | None = None) -> np.ndarray:
    """``x`` as a float64 ``[N, D]`` array (``D == dim`` when given)."""
    a = np.asarray(x, np.float64)
    if a.ndim != 2 or (dim is not None and a.shape[1] != dim):
        raise MetricInputError(f"{name} must be [N, {dim or 'D'}], got {a.shape}.")
    return a


# ------------------------------------------------------------------------------------------ colour


def linear_to_srgb(rgb_linear: np.ndarray) -> np.ndarray:
    """Exact sRGB OETF (IEC 61966-2-1): ``[...]`` linear in [0, 1] -> sRGB-encoded in [0, 1] (float64).

    Inputs are clipped to [0, 1] first.
    """
    return perturb.linear_to_srgb(np.clip(np.asarray(rgb_linear, np.float64), 0.0, 1.0))


def linear_to_lab(rgb_linear: np.ndarray) -> np.ndarray:
    """``[..., 3]`` linear RGB (sRGB primaries, [0, 1], clipped) -> ``[..., 3]`` CIELAB (D65) float64.

    Encodes with the exact sRGB OETF, then ``skimage.color.rgb2lab`` (which decodes sRGB exactly).
    """
    x = np.asarray(rgb_linear)
    if x.ndim < 1 or x.shape[-1] != 3:
        raise MetricInputError(f"rgb_linear must be [..., 3], got {x.shape}.")
    return rgb2lab(linear_to_srgb(x), illuminant="D65", observer="2", channel_axis=-1)


def delta_e00(lab_a: np.ndarray, lab_b: np.ndarray) -> np.ndarray:
    """CIEDE2000 colour difference (kL = kC = kH = 1) per element of two ``[..., 3]`` Lab arrays.

    Returns ``[...]`` float64 (the shapes broadcast).
    """
    a, b = np.asarray(lab_a, np.float64), np.asarray(lab_b, np.float64)
    if a.shape[-1:] != (3,) or b.shape[-1:] != (3,):
        raise MetricInputError(f"Lab arrays must be [..., 3], got {a.shape} and {b.shape}.")
    return np.asarray(deltaE_ciede2000(a, b, channel_axis=-1), np.float64)


def albedo_delta_e(pred_linear: np.ndarray, truth_linear: np.ndarray, mask: np.ndarray) -> DeltaEStats:
    """Per-texel CIEDE2000 between two linear ``[N, N, 3]`` albedos over ``mask`` ``[N, N]``.

    Raises MetricInputError on a shape mismatch or an empty mask.
    """
    p, t, m = _texture_pair(pred_linear, truth_linear, mask)
    de = delta_e00(linear_to_lab(p[m]), linear_to_lab(t[m]))
    return DeltaEStats(
        mean=float(de.mean()),
        p95=float(np.percentile(de, DELTA_E_PERCENTILE)),
        max=float(de.max()),
        count=int(de.size),
    )


def mean_colour_delta_e(pred_linear: np.ndarray, truth_linear: np.ndarray, mask: np.ndarray) -> float:
    """Skin-tone error: CIEDE2000 between the mean colours of two linear ``[N, N, 3]`` albedos.

    The means are taken over ``mask`` ``[N, N]`` in **linear** RGB, then converted to Lab.
    """
    mp, mt = _mean_colours(pred_linear, truth_linear, mask)
    return float(delta_e00(linear_to_lab(mp), linear_to_lab(mt)))


def _mean_colours(pred_linear: np.ndarray, truth_linear: np.ndarray, mask: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(3,) mean linear colours of the two albedos over ``mask`` (see :func:`mean_colour_delta_e`)."""
    p, t, m = _texture_pair(pred_linear, truth_linear, mask)
    return p[m].mean(axis=0), t[m].mean(axis=0)


def mean_colour_split(pred_linear: np.ndarray, truth_linear: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """The skin-tone error split into exposure and colour: (log2 of the predicted mean colour's
    luminance over the truth's, in EV; ΔE00 between the mean colours once the predicted one is scaled to
    the truth's luminance). Means over ``mask`` ``[N, N]`` in linear RGB, as :func:`mean_colour_delta_e`."""
    mp, mt = (c.astype(np.float64) for c in _mean_colours(pred_linear, truth_linear, mask))
    ratio = float(perturb.luminance(mp)) / max(float(perturb.luminance(mt)), 1e-9)
    colour = float(delta_e00(linear_to_lab(mp / max(ratio, 1e-9)), linear_to_lab(mt)))
    return float(np.log2(max(ratio, 1e-9))), colour


CENTRE_BORDER_TEXELS_AT_1024 = (10.0, 60.0)
"""The seen face's outer band (within the first value of its border) and its centre (beyond the second), in
texels of a 1024² texture (scaled with the size)."""


def centre_border_lightness(albedo_linear: np.ndarray, seen: np.ndarray) -> float:
    """How much lighter the centre of the seen face is than its border: median CIELAB L* of the texels of
    ``seen`` ``[N, N]`` more than :data:`CENTRE_BORDER_TEXELS_AT_1024` ``[1]`` texels inside its border
    minus that of the texels within ``[0]`` of it (``albedo_linear`` ``[N, N, 3]``). The completion
    matches the colour at the border, so a large value reads as a lighter face patch on the head. nan when
    either band has fewer than 100 texels."""
    import cv2

    a = _texture(albedo_linear, "albedo_linear")
    m = _mask(seen, a.shape[:2], "seen")
    scale = a.shape[0] / 1024.0
    dist = cv2.distanceTransform(m.astype(np.uint8), cv2.DIST_L2, 3)
    border = m & (dist <= CENTRE_BORDER_TEXELS_AT_1024[0] * scale)
    centre = m & (dist > CENTRE_BORDER_TEXELS_AT_1024[1] * scale)
    if border.sum() < 100 or centre.sum() < 100:
        return float("nan")
    lab_l = linear_to_lab(a)[..., 0]
    return float(np.median(lab_l[centre]) - np.median(lab_l[border]))


def pairwise_delta_e(albedos: Mapping[str, np.ndarray], mask: np.ndarray) -> dict[tuple[str, str], float]:
    """Mean per-texel CIEDE2000 for every unordered pair of linear ``[N, N, 3]`` albedos over ``mask``.

    Keys are ``(name_i, name_j)`` with i before j in the mapping's order.
    """
    names = list(albedos)
    labs: dict[str, np.ndarray] = {}
    for name in names:
        p, _, m = _texture_pair(albedos[name], albedos[names[0]], mask)
        labs[name] = linear_to_lab(p[m])
    return {(a, b): float(delta_e00(labs[a], labs[b]).mean()) for a, b in combinations(names, 2)}


# ---------------------------------------------------------------------------- brightness symmetry


def _mirror_index(mirror_rowcol: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validity ``[N, N]`` bool and nearest texel (row, col) int of each texel's mirror."""
    mm = np.asarray(mirror_rowcol, np.float32)
    if mm.shape != (n, n, 2):
        raise MetricInputError(f"mirror_rowcol must be [{n}, {n}, 2], got {mm.shape}.")
    rows, cols = mm[..., 0], mm[..., 1]
    valid = (rows >= 0) & (cols >= 0) & (rows <= n - 1) & (cols <= n - 1)
    ri = np.clip(np.rint(rows), 0, n - 1).astype(np.int64)
    ci = np.clip(np.rint(cols), 0, n - 1).astype(np.int64)
    return valid, ri, ci


def _masked_blur(values: np.ndarray, mask: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of ``[N, N]`` values normalised over ``mask``: ``G*(v m) / G*(m)``."""
    if sigma <= 0:
        return values
    m = mask.astype(np.float32)
    num = cv2.GaussianBlur(values * m, (0, 0), sigma, borderType=cv2.BORDER_CONSTANT)
    den = cv2.GaussianBlur(m, (0, 0), sigma, borderType=cv2.BORDER_CONSTANT)
    return np.where(den > BS_BLUR_MIN_WEIGHT, num / np.maximum(den, BS_BLUR_MIN_WEIGHT), 0.0).astype(np.float32)


def bs_error(
    albedo_linear: np.ndarray,
    mirror_rowcol: np.ndarray,
    seen: np.ndarray,
    region: np.ndarray,
    blur_sigma: float | None = None,
) -> BSResult:
    """Brightness-symmetry (BS) error of a linear ``[N, N, 3]`` albedo, on observed texels only.

    Counted texels p: in ``region``, ``seen`` (observed in the photo, not filled), with a mirror
    (``mirror_rowcol[p]`` = (row, col) float, (-1, -1) = none) whose nearest texel is also in
    ``region`` and ``seen``; a symmetric pair normally counts once from each side.
    Steps: sRGB-encode (exact OETF), luma ``Y = 255 (0.2126 R' + 0.7152 G' + 0.0722 B')``, Gaussian
    blur (sigma ``blur_sigma`` texels, default ``BS_SIGMA_AT_1024 * N / 1024``; 0 = none) normalised
    over the counted texels only, bilinear sample (cv2.remap) at the mirror position, and
    ``error = mean |Y(p) - Y(mirror(p))|`` (0-255 units; NaN when nothing counts).
    """
    img = np.asarray(albedo_linear)
    if img.ndim != 3 or img.shape[0] != img.shape[1] or img.shape[2] != 3:
        raise MetricInputError(f"albedo_linear must be [N, N, 3], got {img.shape}.")
    n = img.shape[0]
    seen_m, region_m = _mask(seen, (n, n), "seen"), _mask(region, (n, n), "region")
    valid, ri, ci = _mirror_index(mirror_rowcol, n)
    ok = region_m & seen_m
    counted = ok & valid & ok[ri, ci]
    n_region = int(region_m.sum())
    counted_share = float(counted.sum() / n_region) if n_region else 0.0
    filled_share = float((region_m & ~seen_m).sum() / n_region) if n_region else 0.0
    if not counted.any():
        return BSResult(math.nan, counted_share, filled_share)
    sigma = BS_SIGMA_AT_1024 * n / 1024.0 if blur_sigma is None else float(blur_sigma)
    luma = (linear_to_srgb(img) @ LUMA_WEIGHTS * 255.0).astype(np.float32)
    blurred = _masked_blur(luma, counted, sigma)
    mm = np.asarray(mirror_rowcol, np.float32)
    map_c, map_r = np.ascontiguousarray(mm[..., 1]), np.ascontiguousarray(mm[..., 0])
    mirrored = cv2.remap(blurred, map_c, map_r, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    diff = np.abs(blurred[counted].astype(np.float64) - mirrored[counted])
    return BSResult(float(diff.mean()), counted_share, filled_share)


# -------------------------------------------------------------------------------------------- seams


def seam_ring_texels(n: int) -> int:
    """Ring width in texels at texture size ``n``: ``SEAM_RING_AT_1024 * n / 1024`` rounded, at least 1."""
    return max(1, int(round(SEAM_RING_AT_1024 * n / 1024.0)))


def even_subsample(indices: np.ndarray, max_count: int) -> np.ndarray:
    """At most ``max_count`` entries of ``indices`` ``[K]``, evenly spaced in its order (all when fewer)."""
    idx = np.asarray(indices)
    if len(idx) <= max_count:
        return idx
    return idx[np.unique(np.linspace(0, len(idx) - 1, max_count).round().astype(np.int64))]


def seam_sides_csr(size: int, point_of: tuple[np.ndarray, np.ndarray], texel: tuple[np.ndarray, np.ndarray],
                   points: int) -> SeamSides:
    """:class:`SeamSides` from per-side (point id ``[M_k]``, flat texel index ``[M_k]``) pairs."""
    indptr, texels = [], []
    for p, t in zip(point_of, texel):
        p, t = np.asarray(p, np.int64), np.asarray(t, np.int64)
        order = np.argsort(p, kind="stable")
        indptr.append(np.concatenate([[0], np.cumsum(np.bincount(p, minlength=points))]).astype(np.int64))
        texels.append(t[order])
    return SeamSides(int(size), (indptr[0], indptr[1]), (texels[0], texels[1]))


def _side_means(flat: np.ndarray, keep: np.ndarray, indptr: np.ndarray,
                texels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean linear colour ``[P, 3]`` and count ``[P]`` of each point's texels that ``keep`` ``[N*N]`` keeps."""
    points = len(indptr) - 1
    point_of = np.repeat(np.arange(points), np.diff(indptr))
    w = keep[texels].astype(np.float64)
    count = np.bincount(point_of, weights=w, minlength=points)
    sums = np.stack([np.bincount(point_of, weights=flat[texels, c] * w, minlength=points) for c in range(3)], 1)
    return sums / np.maximum(count, 1.0)[:, None], count


def seam_delta_e(albedo_linear: np.ndarray, sides: SeamSides, mask: np.ndarray | None = None) -> SeamResult:
    """CIEDE2000 across a seam of a linear ``[N, N, 3]`` albedo, per seam point of ``sides``.

    Per point: the mean **linear** colour of each side's texels inside ``mask`` ``[N, N]`` (all when
    None), converted to Lab, and the ΔE00 between the two; a point counts when both sides have at least
    ``SEAM_MIN_SIDE_TEXELS`` texels. Means over a few texels per side keep natural skin texture from
    reading as a seam.
    """
    img = _texture(albedo_linear, "albedo_linear")
    n = img.shape[0]
    if sides.size != n:
        raise MetricInputError(f"seam sides are for a {sides.size}² texture, the albedo is {n}².")
    keep = np.ones(n * n, bool) if mask is None else _mask(mask, (n, n), "mask").reshape(-1)
    flat = img.reshape(-1, 3).astype(np.float64)
    (mean_a, count_a), (mean_b, count_b) = (_side_means(flat, keep, p, t) for p, t in zip(sides.indptr, sides.texels))
    ok = (count_a >= SEAM_MIN_SIDE_TEXELS) & (count_b >= SEAM_MIN_SIDE_TEXELS)
    if not ok.any():
        return SeamResult(math.nan, math.nan, 0)
    de = delta_e00(linear_to_lab(mean_a[ok]), linear_to_lab(mean_b[ok]))
    return SeamResult(float(de.mean()), float(de.max()), int(ok.sum()))


def _distance_to(target: np.ndarray) -> np.ndarray:
    """``[N, N]`` float32 Euclidean distance (texel centres) of every texel to the nearest ``target`` texel."""
    if not target.any():
        return np.full(target.shape, np.inf, np.float32)
    return cv2.distanceTransform((~target).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)


def points_within(points: np.ndarray, cand_pos: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Every (point id, candidate index) pair with ``|cand_pos[j] - points[i]| <= radius``, ``points``
    ``[P, 3]``, ``cand_pos`` ``[K, 3]``; ``[M]`` int64 each, grouped by point id in increasing order."""
    if len(points) == 0 or len(cand_pos) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    lists = cKDTree(cand_pos).query_ball_point(points, radius, return_sorted=False)
    lens = np.fromiter(map(len, lists), np.int64, len(lists))
    flat = np.fromiter(chain.from_iterable(lists), np.int64, int(lens.sum()))
    return np.repeat(np.arange(len(points)), lens), flat


def seen_border_seam(
    albedo_linear: np.ndarray,
    seen: np.ndarray,
    positions: np.ndarray,
    region_mask: np.ndarray,
    ring_texels: int | None = None,
    radius_m: float = SEAM_RADIUS_M,
    max_points: int = SEAM_MAX_POINTS,
) -> SeamResult:
    """Seam ΔE00 across the border of ``seen`` (taken from the photo vs filled) within ``region_mask``.

    ``albedo_linear`` ``[N, N, 3]``; ``seen``, ``region_mask`` ``[N, N]`` bool; ``positions``
    ``[N, N, 3]`` the texels' 3D points in metres (NaN = none, not counted). Rings: region texels
    within ``ring_texels`` (default :func:`seam_ring_texels`) of the other side, inside (seen) and
    outside (not seen), distances in texels. Seam points: up to ``max_points`` inner texels next to an
    outer texel (4-neighbours), evenly subsampled; per point, the inner and outer ring texels within
    ``radius_m`` in 3D are averaged (see :func:`seam_delta_e`). NaN, count 0 when there is no border.
    """
    img = _texture(albedo_linear, "albedo_linear")
    n = img.shape[0]
    pos = np.asarray(positions, np.float64)
    if pos.shape != (n, n, 3):
        raise MetricInputError(f"positions must be [{n}, {n}, 3], got {pos.shape}.")
    ok = _mask(region_mask, (n, n), "region_mask") & np.isfinite(pos).all(axis=-1)
    seen_m = _mask(seen, (n, n), "seen")
    ring = seam_ring_texels(n) if ring_texels is None else int(ring_texels)
    inner_src, outer_src = ok & seen_m, ok & ~seen_m
    to_outer, to_inner = _distance_to(outer_src), _distance_to(inner_src)
    inner = np.flatnonzero(inner_src & (to_outer <= ring))
    outer = np.flatnonzero(outer_src & (to_inner <= ring))
    border = even_subsample(np.flatnonzero(inner_src & (to_outer <= 1.0)), max_points)
    flat_pos = pos.reshape(-1, 3)
    pairs = [points_within(flat_pos[border], flat_pos[side], radius_m) for side in (inner, outer)]
    sides = seam_sides_csr(n, (pairs[0][0], pairs[1][0]), (inner[pairs[0][1]], outer[pairs[1][1]]), len(border))
    return seam_delta_e(img, sides)


def uv_island_seam(albedo_linear: np.ndarray, seams: SeamSides, mask: np.ndarray | None = None) -> SeamResult:
    """Seam ΔE00 across the UV island borders of a linear ``[N, N, 3]`` albedo.

    ``seams``: the two sides of each island-border point (``bench.groundtruth.layout.island_seams``:
    ring texels on this island's side and on the other side of the seam, within the 3D radius);
    ``mask`` ``[N, N]``: the texels that count (e.g. covered head skin). See :func:`seam_delta_e`.
    """
    return seam_delta_e(albedo_linear, seams, mask)


# ---------------------------------------------------------------------------------------- geometry


def similarity_align(
    src: np.ndarray, dst: np.ndarray, weights: np.ndarray | None = None
) -> tuple[float, np.ndarray, np.ndarray]:
    """Least-squares similarity (Umeyama 1991) with ``dst ~ scale * R @ src + t``.

    ``src``, ``dst``: ``[N, 3]`` corresponding points (N >= 3, not all collinear); ``weights``
    ``[N]`` >= 0 (uniform when None). Returns ``(scale, R [3, 3] with det +1, t [3])``; reflections
    are excluded by the sign guard on the smallest singular value.
    """
    s, d = _points(src, "src", 3), _points(dst, "dst", 3)
    if s.shape != d.shape or len(s) < 3:
        raise MetricInputError(f"src {s.shape} and dst {d.shape} must be the same [N >= 3, 3].")
    w = np.ones(len(s)) if weights is None else np.asarray(weights, np.float64).reshape(-1)
    if w.shape != (len(s),) or (w < 0).any() or w.sum() <= 0:
        raise MetricInputError("weights must be [N], non-negative, with a positive sum.")
    w = w / w.sum()
    mu_s, mu_d = w @ s, w @ d
    sc, dc = s - mu_s, d - mu_d
    cov = (dc * w[:, None]).T @ sc
    u, sv, vt = np.linalg.svd(cov)
    sign = np.diag([1.0, 1.0, 1.0 if np.linalg.det(u) * np.linalg.det(vt) > 0 else -1.0])
    rot = u @ sign @ vt
    var_s = float(w @ (sc**2).sum(axis=1))
    if var_s <= 0:
        raise MetricInputError("src points are all identical.")
    scale = float(np.trace(np.diag(sv) @ sign) / var_s)
    return scale, rot, mu_d - scale * rot @ mu_s


def closest_point_on_triangles(p: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Exact closest point on each triangle (a, b, c) to each point p; all ``[M, 3]`` -> ``[M, 3]``.

    Voronoi-region test (vertex, edge or face region), vectorised. Degenerate (zero-area) triangles
    are treated as their three edges (the nearest point on any of the segments).
    """
    p, a, b, c = (np.asarray(x, np.float64) for x in (p, a, b, c))
    ab, ac, ap, bp, cp = b - a, c - a, p - a, p - b, p - c
    d1, d2, d3, d4, d5, d6 = (_dot(x, y) for x, y in ((ab, ap), (ac, ap), (ab, bp), (ac, bp), (ab, cp), (ac, cp)))
    va, vb, vc = d3 * d6 - d5 * d4, d5 * d2 - d1 * d6, d1 * d4 - d3 * d2
    denom = va + vb + vc
    safe = np.where(np.abs(denom) > _TINY, denom, 1.0)
    out = a + ab * (vb / safe)[:, None] + ac * (vc / safe)[:, None]  # face region
    # Regions in the reverse of the usual test order (A, B, AB, C, AC, BC), so that a later
    # np.where (an earlier test) wins where boundary conditions overlap.
    cases = [
        ((va <= 0) & (d4 - d3 >= 0) & (d5 - d6 >= 0), lambda: b + (c - b) * _ratio(d4 - d3, d5 - d6)),
        ((vb <= 0) & (d2 >= 0) & (d6 <= 0), lambda: a + ac * _ratio(d2, -d6)),
        ((d6 >= 0) & (d5 <= d6), lambda: c),
        ((vc <= 0) & (d1 >= 0) & (d3 <= 0), lambda: a + ab * _ratio(d1, -d3)),
        ((d3 >= 0) & (d4 <= d3), lambda: b),
        ((d1 <= 0) & (d2 <= 0), lambda: a),
    ]
    for cond, point in cases:
        out = np.where(cond[:, None], point(), out)
    normal = np.cross(ab, ac)
    degenerate = _dot(normal, normal) <= DEGENERATE_AREA_REL * np.maximum(_dot(ab, ab), _dot(ac, ac)) ** 2
    if degenerate.any():
        out[degenerate] = _closest_on_edges(p[degenerate], a[degenerate], b[degenerate], c[degenerate])
    return out


def _closest_on_edges(p: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Nearest point to ``p`` on the segments ab, bc, ca (all ``[M, 3]``) -> ``[M, 3]``."""
    cands = []
    for s, e in ((a, b), (b, c), (c, a)):
        se = e - s
        t = np.clip(_dot(p - s, se) / np.maximum(_dot(se, se), _TINY), 0.0, 1.0)
        cands.append(s + se * t[:, None])
    stack = np.stack(cands, axis=1)  # [M, 3 segments, 3]
    best = np.linalg.norm(stack - p[:, None], axis=2).argmin(axis=1)
    return stack[np.arange(len(p)), best]


def _dot(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Row-wise dot product of two ``[M, 3]`` arrays -> ``[M]``."""
    return np.einsum("ij,ij->i", x, y)


def _ratio(num: np.ndarray, other: np.ndarray) -> np.ndarray:
    """``num / (num + other)`` as an ``[M, 1]`` column, 0 where the sum vanishes."""
    den = num + other
    return np.where(np.abs(den) > _TINY, num / np.where(np.abs(den) > _TINY, den, 1.0), 0.0)[:, None]


def point_triangle_distance(
    points: np.ndarray, vertices: np.ndarray, faces: np.ndarray, k: int = TRIANGLE_CANDIDATES
) -> np.ndarray:
    """Distance ``[P]`` from ``points`` ``[P, 3]`` to the surface ``vertices`` ``[V, 3]``, ``faces`` ``[F, 3]``.

    Approximation: each point is tested exactly against only the ``k`` triangles whose centroids
    are nearest to it (scipy cKDTree); the result is the true surface distance unless the nearest
    triangle is not among them (possible only on very irregular triangle sizes), and never smaller.
    """
    pts, verts = _points(points, "points", 3), _points(vertices, "vertices", 3)
    f = np.asarray(faces, np.int64)
    if f.ndim != 2 or f.shape[1] != 3 or len(f) == 0:
        raise MetricInputError(f"faces must be a non-empty [F, 3], got {f.shape}.")
    tri = verts[f]
    k = int(min(k, len(f)))
    _, cand = cKDTree(tri.mean(axis=1)).query(pts, k=k)
    cand = np.asarray(cand).reshape(len(pts), k)
    q = np.repeat(pts, k, axis=0)
    t = tri[cand.reshape(-1)]
    closest = closest_point_on_triangles(q, t[:, 0], t[:, 1], t[:, 2])
    return np.linalg.norm(closest - q, axis=1).reshape(len(pts), k).min(axis=1)


def surface_error(
    pred_vertices: np.ndarray,
    truth_vertices: np.ndarray,
    truth_faces: np.ndarray,
    region_vertex_mask: np.ndarray,
    align_mask: np.ndarray | None = None,
) -> GeometryStats:
    """Geometry error (mm) of a predicted mesh against the truth mesh of the same topology (metres).

    ``pred_vertices``, ``truth_vertices``: ``[V, 3]`` metres, same vertex order; ``truth_faces``
    ``[F, 3]``; ``region_vertex_mask``, ``align_mask``: ``[V]`` bool (align default = region).
    Pred is similarity-aligned to truth on the ``align_mask`` vertices, then: ``vertex_mean_mm`` =
    mean corresponding-vertex distance over the region; mean/median/p95 = distance from each aligned
    region vertex to the truth surface made of the triangles touching a region vertex (see
    :func:`point_triangle_distance` for its k-candidate approximation).
    """
    pred, truth = _points(pred_vertices, "pred_vertices", 3), _points(truth_vertices, "truth_vertices", 3)
    if pred.shape != truth.shape:
        raise MetricInputError(f"pred {pred.shape} and truth {truth.shape} must have the same shape.")
    region = _mask(region_vertex_mask, (len(truth),), "region_vertex_mask")
    align = region if align_mask is None else _mask(align_mask, (len(truth),), "align_mask")
    if not region.any():
        raise MetricInputError("region_vertex_mask selects no vertex.")
    scale, rot, t = similarity_align(pred[align], truth[align])
    aligned = scale * pred[region] @ rot.T + t
    faces = np.asarray(truth_faces, np.int64)
    faces = faces[region[faces].any(axis=1)]
    d_mm = point_triangle_distance(aligned, truth, faces) * M_TO_MM
    v_mm = np.linalg.norm(aligned - truth[region], axis=1) * M_TO_MM
    return GeometryStats(
        mean_mm=float(d_mm.mean()),
        median_mm=float(np.median(d_mm)),
        p95_mm=float(np.percentile(d_mm, SURFACE_PERCENTILE)),
        vertex_mean_mm=float(v_mm.mean()),
    )


# --------------------------------------------------------------------------------------- landmarks


def landmark_error(
    pred_px: np.ndarray, true_px: np.ndarray, iod_px: float, mask: np.ndarray | None = None
) -> float:
    """Mean Euclidean landmark distance over ``mask`` divided by ``iod_px``, as a fraction (not %).

    ``pred_px``, ``true_px``: ``[L, D]`` pixels (D = 2 usually); ``mask``: ``[L]`` bool (all when None).
    """
    p, t = _points(pred_px, "pred_px"), _points(true_px, "true_px")
    if p.shape != t.shape:
        raise MetricInputError(f"pred_px {p.shape} and true_px {t.shape} must have the same shape.")
    m = np.ones(len(p), bool) if mask is None else _mask(mask, (len(p),), "mask")
    if not m.any() or not iod_px > 0:
        raise MetricInputError("landmark_error needs a non-empty mask and a positive iod_px.")
    return float(np.linalg.norm(p[m] - t[m], axis=1).mean() / iod_px)


def inter_ocular(points478: np.ndarray) -> float:
    """Distance between the two eye centres of ``[478, D]`` MediaPipe FaceMesh points.

    Each eye centre is the midpoint of its corners: (33, 133) and (362, 263).
    """
    pts = _points(points478, "points478")
    if len(pts) != 478:
        raise MetricInputError(f"points478 must have 478 rows, got {len(pts)}.")
    right = pts[list(MP_RIGHT_EYE_CORNERS)].mean(axis=0)
    left = pts[list(MP_LEFT_EYE_CORNERS)].mean(axis=0)
    return float(np.linalg.norm(left - right))


# ------------------------------------------------------------------------------------------- tables


def summarise(values: Iterable[float]) -> dict[str, float | int]:
    """``{"mean", "worst" (max), "count"}`` of the finite values (NaN ignored; NaN stats when none)."""
    v = np.asarray([float(x) for x in values], np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return {"mean": math.nan, "worst": math.nan, "count": 0}
    return {"mean": float(v.mean()), "worst": float(v.max()), "count": int(v.size)}
