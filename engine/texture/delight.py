"""Stage 2 of the texture pipeline: physically based de-lighting of the unwrapped photo.

Image model (linear RGB, per texel x with normal n, view direction v, head space):

    photo(x) = albedo(x) * S(x) + spec(x)
    S(x)     = AO(x) * Σ_k L_k B_k(n)  +  sun_rgb * max(0, n·d) * vis_d(x)
    spec(x)  = spec_rgb * max(0, n·h)^α * vis_d(x) * [n·d > 0],   h = normalize(d + v)

``B_k = (A_l / π) Y_k`` is the order-2 SH Lambert basis of :mod:`engine.render.sh` (so ``L`` are
radiance SH coefficients in that module's convention), ``AO`` an ambient-occlusion prior per vertex
(rasterized once per topology on the template, cached), ``d`` the direction of one dominant distant
light (the "sun") whose cast shadows ``vis_d`` come from a shadow map of the fitted mesh, and a
Blinn-Phong lobe for the skin's sheen.

Estimation: on face-skin texels (no lips, brows, eyes, nostrils) the albedo is modelled as one
constant colour, which makes the model linear in ``(L, sun_rgb, spec_rgb)`` for a fixed ``d``. ``d`` is
found by a search over sphere directions, and every solve is an iteratively re-weighted least squares
(Cauchy weights on the relative residual) so beard, freckles, stray shadows and highlights the model
cannot explain are down-weighted. Then ``albedo = (photo - spec) / S`` everywhere the photo is seen.

Scale (the albedo/exposure ambiguity): the lighting is normalised so that its unoccluded shading
averaged over the template's face-skin normals (:func:`reference_normals`, a fixed set of head-space
directions that face photos observe well) equals :data:`REFERENCE_SHADING` (1.0) in each of R, G, B:
a white face-shaped object would average 1.0. This is what a camera's exposure and white balance do;
the same face under different lights that were exposed and white-balanced gets the same albedo, and
a light whose colour varies over directions (warm key, cool fill) is removed.

Texels the model explains badly become *outliers*: specular highlights the lobe did not capture
(much brighter than the local albedo and less saturated), and unexplained shadows (much darker than
the local albedo while the mirrored texel is not). They are repaired from the mirrored texel when
that one is clean, else from their neighbourhood.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache

import cv2
import numpy as np
import torch

from engine.head.model import HeadModel
from engine.render.ops import rasterize
from engine.render.sh import LAMBERT_BANDS, sh_basis
from engine.runtime import CPU, Runtime
from engine.texture._arrays import ShapeError
from engine.texture.color import luminance
from engine.texture.complete import coarse_fill
from engine.texture.unwrap import Unwrap, uv_raster, vertex_normals

__all__ = [
    "REFERENCE_SHADING",
    "SKIN_LIGHTING_REGIONS",
    "LightingModel",
    "DelightSettings",
    "Delit",
    "fibonacci_sphere",
    "lambert_basis",
    "reference_normals",
    "reference_mean_shading",
    "ShadowMap",
    "shadow_map",
    "sun_visibility",
    "vertex_ambient_occlusion",
    "template_ambient_occlusion",
    "texel_ambient_occlusion",
    "estimate_lighting",
    "delight",
]

REFERENCE_SHADING = 1.0
"""Shading averaged over :func:`reference_normals` after normalisation (per channel): a white
face-shaped object would average 1.0, so a frontally lit, well exposed face keeps its photo colour."""

SKIN_LIGHTING_REGIONS = ("face",)
"""Regions whose texels drive the lighting solve (plain skin of roughly constant albedo)."""

_BAND_OF = np.array([0, 1, 1, 1, 2, 2, 2, 2, 2])
_LAMBERT = np.array([LAMBERT_BANDS[b] / np.pi for b in _BAND_OF], np.float64)


def fibonacci_sphere(n: int) -> np.ndarray:
    """(n, 3) float64 unit vectors spread evenly over the sphere (golden-angle spiral)."""
    i = np.arange(n) + 0.5
    z = 1.0 - 2.0 * i / n
    r = np.sqrt(np.clip(1.0 - z * z, 0.0, 1.0))
    phi = np.pi * (3.0 - np.sqrt(5.0)) * i
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1)


def lambert_basis(normals: np.ndarray) -> np.ndarray:
    """(M, 9) float64 basis ``B_k(n) = (A_l/π) Y_k(n)``: shading = ``B @ L`` for radiance SH ``L`` (9, 3)."""
    y = sh_basis(torch.from_numpy(np.ascontiguousarray(normals, np.float64))).numpy()
    return y * _LAMBERT


@lru_cache(maxsize=2)
def reference_normals(model: HeadModel) -> np.ndarray:
    """(K, 3) float64 unit normals of the template's face-skin vertices (region ``face``), head space.

    The lighting normalisation averages shading over these directions (see the module docstring).
    """
    v = model.vertices.numpy()
    f = model.faces.numpy()
    n = vertex_normals(v, f).astype(np.float64)
    face = model.vertex_region.numpy() == model.region_id("face")
    return n[face]


@dataclass(frozen=True)
class LightingModel:
    """The estimated lighting, head space, linear RGB (see the module docstring for the model).

    ``sh`` (9, 3): ambient radiance SH (``engine.render.sh`` convention), multiplied by AO.
    ``sun_direction`` (3,): unit vector toward the dominant distant light (zeros when none).
    ``sun_rgb`` (3,): shading the sun adds at normal incidence (before cast shadows).
    ``specular_rgb`` (3,): peak of the Blinn-Phong lobe; ``shininess``: its exponent α.
    ``limb``: the photo's darkening toward the face outline (:func:`limb_factor`), 0 for none.
    """

    sh: np.ndarray
    sun_direction: np.ndarray
    sun_rgb: np.ndarray
    specular_rgb: np.ndarray
    shininess: float
    limb: float = 0.0

    def diffuse(self, normals: np.ndarray, ao: np.ndarray | None = None, vis: np.ndarray | None = None,
                view_dirs: np.ndarray | None = None) -> np.ndarray:
        """Shading S (M, 3) for unit normals (M, 3), AO (M,) and sun visibility (M,) (1 = lit).

        With ``view_dirs`` (M, 3) (a re-render of the photo) the photo's darkening toward the face
        outline, :func:`limb_factor`, is applied too; relighting leaves it out."""
        amb = lambert_basis(normals) @ self.sh
        if ao is not None:
            amb = amb * ao[:, None]
        cos = np.clip(normals @ self.sun_direction, 0.0, None)
        if vis is not None:
            cos = cos * vis
        shade = amb + cos[:, None] * self.sun_rgb[None, :]
        if view_dirs is not None and self.limb > 0.0:
            shade = shade * limb_factor(normals, view_dirs, self.limb)[:, None]
        return shade.astype(np.float32)

    def specular(self, normals: np.ndarray, view_dirs: np.ndarray, vis: np.ndarray | None = None) -> np.ndarray:
        """Specular radiance (M, 3) added on top of ``albedo * S``."""
        lobe = _specular_lobe(normals, view_dirs, self.sun_direction, self.shininess)
        if vis is not None:
            lobe = lobe * vis
        return (lobe[:, None] * self.specular_rgb[None, :]).astype(np.float32)

    def equivalent_sh(self) -> np.ndarray:
        """(9, 3) radiance SH of the whole diffuse lighting (ambient + sun band-limited to order 2)."""
        y = lambert_basis(self.sun_direction[None])[0] / _LAMBERT  # Y_k(d)
        # A distant light of shading strength s at normal incidence: L_k = s * Y_k(d) (see sh_from_directional).
        return (self.sh + np.pi * y[:, None] * self.sun_rgb[None, :]).astype(np.float32)


def reference_mean_shading(normals: np.ndarray, sh: np.ndarray, sun_direction: np.ndarray,
                           sun_rgb: np.ndarray) -> np.ndarray:
    """(3,) mean unoccluded shading over ``normals`` (K, 3), e.g. :func:`reference_normals`."""
    amb = lambert_basis(normals) @ sh
    sun = np.clip(normals @ sun_direction, 0.0, None)[:, None] * sun_rgb[None, :]
    return (amb + sun).mean(axis=0)


def _specular_lobe(n: np.ndarray, v: np.ndarray, d: np.ndarray, alpha: float) -> np.ndarray:
    if not np.any(d):
        return np.zeros(n.shape[0], np.float64)
    h = v + d[None, :]
    h /= np.maximum(np.linalg.norm(h, axis=1, keepdims=True), 1e-12)
    nh = np.clip(np.einsum("ij,ij->i", n, h), 0.0, None)
    lit = (n @ d) > 0.0
    return np.where(lit, nh**alpha, 0.0)


# ---------------------------------------------------------------------------------------------
# Visibility from a direction: shadow maps and ambient occlusion
# ---------------------------------------------------------------------------------------------


def _light_frame(d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    up = np.array([0.0, 1.0, 0.0]) if abs(d[1]) < 0.9 else np.array([1.0, 0.0, 0.0])
    e1 = np.cross(up, d)
    e1 /= np.linalg.norm(e1)
    return e1, np.cross(d, e1)


def _ortho_depth_maps(vertices: np.ndarray, faces: np.ndarray, dirs: np.ndarray, res: int,
                      centre: np.ndarray, radius: float, runtime: Runtime = CPU
                      ) -> tuple[np.ndarray, list[tuple[np.ndarray, np.ndarray]]]:
    """Orthographic depth maps (B, res, res) (NDC z, +inf = empty) of the mesh seen from each of ``dirs``
    (rasterized on ``runtime``, returned as numpy)."""
    frames = [_light_frame(d) for d in dirs]
    p = vertices - centre[None]
    clips = []
    for d, (e1, e2) in zip(dirs, frames):
        x, y, z = p @ e1 / radius, p @ e2 / radius, -(p @ d) / radius
        clips.append(np.stack([x, y, z, np.ones_like(x)], axis=1))
    tri = runtime.index(torch.from_numpy(faces.astype(np.int32)))
    ctx = runtime.context()
    depth = np.empty((len(dirs), res, res), np.float32)
    with torch.no_grad():
        for k, c in enumerate(clips):  # one direction per call: faster than a batch on CPU
            rast, _ = rasterize(ctx, runtime.tensor(torch.from_numpy(c[None].astype(np.float32))), tri, (res, res),
                                grad_db=False)
            r = runtime.host(rast[0]).numpy()
            depth[k] = np.where(r[..., 3] > 0, r[..., 2], np.inf)
    return depth, frames


def _lookup_visibility(depth: np.ndarray, points: np.ndarray, d: np.ndarray, frame: tuple[np.ndarray, np.ndarray],
                       centre: np.ndarray, radius: float, bias_m: float, pcf: int) -> np.ndarray:
    """Fraction (M,) of the ``pcf x pcf`` depth-map taps around each point that do not occlude it."""
    e1, e2 = frame
    res = depth.shape[0]
    p = points - centre[None]
    x, y, z = p @ e1 / radius, p @ e2 / radius, -(p @ d) / radius
    col = ((x + 1.0) * res - 1.0) / 2.0
    row = ((y + 1.0) * res - 1.0) / 2.0
    c0, r0 = np.rint(col).astype(np.int64), np.rint(row).astype(np.int64)
    half = pcf // 2
    lit = np.zeros(points.shape[0], np.float32)
    zb = z - bias_m / radius
    for dr in range(-half, half + 1):
        for dc in range(-half, half + 1):
            rr = np.clip(r0 + dr, 0, res - 1)
            cc = np.clip(c0 + dc, 0, res - 1)
            lit += (zb <= depth[rr, cc]).astype(np.float32)
    return lit / float(pcf * pcf)


def _bounds(vertices: np.ndarray) -> tuple[np.ndarray, float]:
    centre = 0.5 * (vertices.min(0) + vertices.max(0))
    radius = float(np.linalg.norm(vertices - centre, axis=1).max()) * 1.02
    return centre, radius


@dataclass(frozen=True)
class ShadowMap:
    """An orthographic depth map of the mesh seen from a distant light (see :func:`shadow_map`)."""

    direction: np.ndarray
    depth: np.ndarray
    frame: tuple[np.ndarray, np.ndarray]
    centre: np.ndarray
    radius: float

    def visibility(self, points: np.ndarray, normals: np.ndarray, pcf: int = 3) -> np.ndarray:
        """(M,) in [0, 1]: share of the ``pcf x pcf`` taps that do not occlude ``points`` (M, 3).

        Slope-scaled bias: a grazing surface changes depth by ``texel * tan(theta)`` per shadow-map
        texel and PCF looks one texel further, hence the factor 2.5 (``normals`` (M, 3) unit).
        """
        texel_m = 2.0 * self.radius / self.depth.shape[0]
        cos = np.clip(normals @ self.direction, 0.05, 1.0)
        bias = 0.002 + 2.5 * texel_m * np.sqrt(1.0 - cos**2) / cos
        return _lookup_visibility(self.depth, points.astype(np.float64), self.direction, self.frame, self.centre,
                                  self.radius, bias, pcf)


def shadow_map(vertices: np.ndarray, faces: np.ndarray, direction: np.ndarray, resolution: int = 512,
               runtime: Runtime = CPU) -> ShadowMap:
    """Rasterize the mesh (``vertices`` (V, 3), ``faces`` (F, 3), head space) orthographically from a
    distant light toward ``direction`` into a ``resolution``² depth map (on ``runtime``)."""
    d = np.asarray(direction, np.float64)
    d = d / max(np.linalg.norm(d), 1e-12)
    v = np.asarray(vertices, np.float64)
    centre, radius = _bounds(v)
    depth, frames = _ortho_depth_maps(v, faces, d[None], resolution, centre, radius, runtime)
    return ShadowMap(d, depth[0], frames[0], centre, radius)


def sun_visibility(vertices: np.ndarray, faces: np.ndarray, points: np.ndarray, normals: np.ndarray,
                   direction: np.ndarray, resolution: int = 1024, pcf: int = 3, runtime: Runtime = CPU) -> np.ndarray:
    """Cast-shadow visibility (M,) in [0, 1] of ``points`` (M, 3) for a distant light toward ``direction``.

    A shadow map of the mesh (:func:`shadow_map`) with slope-scaled bias and ``pcf x pcf``
    percentage-closer filtering (soft 1-2 texel edges). Points facing away from the light are not
    special-cased (their Lambert term is 0 anyway).
    """
    return shadow_map(vertices, faces, direction, resolution, runtime).visibility(points, normals, pcf)


def vertex_ambient_occlusion(vertices: np.ndarray, faces: np.ndarray, directions: int = 24,
                             resolution: int = 128, runtime: Runtime = CPU) -> np.ndarray:
    """Cosine-weighted ambient occlusion (V,) in [0, 1] per vertex (1 = fully open), by depth maps.

    The mesh is rasterized orthographically from ``directions`` evenly spread directions; a vertex is
    open toward a direction when nothing in front of it covers its depth-map texel.
    """
    v = vertices.astype(np.float64)
    n = vertex_normals(v, faces).astype(np.float64)
    dirs = fibonacci_sphere(directions)
    centre, radius = _bounds(v)
    depth, frames = _ortho_depth_maps(v, faces, dirs, resolution, centre, radius, runtime)
    texel_m = 2.0 * radius / resolution
    num = np.zeros(len(v))
    den = np.zeros(len(v))
    for k, d in enumerate(dirs):
        cos = n @ d
        w = np.clip(cos, 0.0, None)
        front = cos > 0.02
        if not front.any():
            continue
        c = np.clip(cos[front], 0.05, 1.0)
        bias = 0.002 + 2.0 * texel_m * np.sqrt(1.0 - c**2) / c
        vis = _lookup_visibility(depth[k], v[front], d, frames[k], centre, radius, bias, 1)
        num[front] += w[front] * vis
        den[front] += w[front]
    return np.where(den > 0, num / np.maximum(den, 1e-12), 1.0).astype(np.float32)


@lru_cache(maxsize=2)
def template_ambient_occlusion(model: HeadModel, runtime: Runtime = CPU) -> np.ndarray:
    """(V,) AO of the neutral template (computed once per model object and runtime, then cached)."""
    return vertex_ambient_occlusion(model.vertices.numpy(), model.faces.numpy(), runtime=runtime)


def texel_ambient_occlusion(model: HeadModel, size: int, vertex_ao: np.ndarray | None = None,
                            runtime: Runtime = CPU) -> np.ndarray:
    """(N, N) float32 AO per texel (barycentric interpolation of the per-vertex AO), 1 in gutters."""
    ao = template_ambient_occlusion(model, runtime) if vertex_ao is None else vertex_ao
    raster = uv_raster(model, size)
    vals = raster.interpolate(ao[:, None], model.faces.numpy())[:, 0]
    out = np.ones(size * size, np.float32)
    out[raster.texels] = vals
    return out.reshape(size, size)


# ---------------------------------------------------------------------------------------------
# Lighting estimation
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DelightSettings:
    """Knobs of the lighting solve and of the outlier repair.

    ``max_samples``: texels used for the solve (evenly subsampled); ``search_samples``: of those,
    the ones used by the coarse search over all sphere directions.
    ``sun_candidates``: directions tried for the dominant light.
    ``shininess``: Blinn-Phong exponents tried for the specular lobe.
    ``ridge``: Tikhonov weight on the order-1/2 SH coefficients (relative to the data's scale).
    ``irls_iters``: re-weighting passes; ``robust_scale``: Cauchy scale on the relative residual.
    ``min_sun_gain``: keep the sun only if the final fit lowers the robust cost of the ambient-only
    fit by this fraction (soft light is better left to the SH alone).
    ``highlight_ratio`` / ``shadow_ratio``: luminance ratio to the local albedo beyond which a texel
    is an outlier; ``dark_shading``: shading (relative to the reference) below which the albedo is
    too noisy to trust fully; ``deep_shade``: shading relative to the photo's bright skin shading
    (90th percentile) below which the confidence falls toward ``deep_shade_confidence``;
    ``terminator_band`` / ``terminator_confidence``: within ``|n·d| <`` band of the sun's
    terminator the confidence falls toward ``terminator_confidence``.
    ``max_albedo_ratio``: in deep shade (below 35% of the bright skin shading), albedo luminance
    above this multiple of the typical skin's is an outlier (an under-predicted shadow divided out).
    """

    max_samples: int = 24000
    search_samples: int = 8000
    sun_candidates: int = 400
    shininess: tuple[float, ...] = (12.0, 40.0)
    ridge: float = 1e-3
    irls_iters: int = 4
    robust_scale: float = 0.08
    min_sun_gain: float = 0.15
    highlight_ratio: float = 1.3
    shadow_ratio: float = 0.62
    dark_shading: float = 0.12
    deep_shade: float = 0.15
    deep_shade_confidence: float = 0.3
    max_albedo_ratio: float = 1.6
    terminator_band: float = 0.2
    terminator_confidence: float = 0.35
    shadow_map_resolution: int = 512
    search_shadow_resolution: int = 256
    shadow_refine_cones: tuple[float, ...] = (20.0, 8.0, 3.0)
    limb: bool = True
    local_dark_ratio: float = 0.6
    local_dark_sigma: float = 0.012


def _subsample(m: int, k: int) -> np.ndarray:
    """Evenly spread indices of at most ``k`` of ``m`` samples."""
    return np.arange(m) if m <= k else np.linspace(0, m - 1, k).astype(np.int64)


@dataclass
class _Samples:
    color: np.ndarray   # (M, 3)
    normal: np.ndarray  # (M, 3)
    view: np.ndarray    # (M, 3)
    ao: np.ndarray      # (M,)
    weight: np.ndarray  # (M,)
    position: np.ndarray  # (M, 3)
    core: np.ndarray | None = None  # (M,) bool: below the brows, where hair rarely covers the skin

    def take(self, idx: np.ndarray) -> "_Samples":
        return _Samples(self.color[idx], self.normal[idx], self.view[idx], self.ao[idx], self.weight[idx],
                        self.position[idx], None if self.core is None else self.core[idx])


_SOLVE_JITTER = 1e-9
"""Relative diagonal added to every normal-equation matrix (see :func:`_solve`)."""


def _solve(x: np.ndarray, y: np.ndarray, w: np.ndarray, ridge: np.ndarray,
           shared: np.ndarray | None = None) -> np.ndarray:
    """Weighted ridge least squares: argmin Σ w (x b - y)^2 + Σ ridge b^2, for (M, P) x and (M, C) y.

    With ``shared`` (M,), one more column whose coefficient is the same for every channel (the
    white specular sheen) is solved jointly; its coefficient is returned as an extra row (P+1, C).
    """
    xw = x * w[:, None]
    g = x.T @ xw + np.diag(ridge[: x.shape[1]])
    # A column can be all zero (a sun that lights none of the samples): a tiny relative jitter keeps
    # the system solvable (that coefficient comes out 0) without moving any well-posed solution.
    g += np.eye(len(g)) * (_SOLVE_JITTER * max(float(np.trace(g)) / len(g), 1e-12))
    if shared is None:
        return np.linalg.solve(g, xw.T @ y)
    p, c = x.shape[1], y.shape[1]
    gs = xw.T @ shared
    a = np.zeros((p * c + 1, p * c + 1))
    rhs = np.zeros(p * c + 1)
    for k in range(c):
        a[k * p:(k + 1) * p, k * p:(k + 1) * p] = g
        a[k * p:(k + 1) * p, -1] = a[-1, k * p:(k + 1) * p] = gs
        rhs[k * p:(k + 1) * p] = xw.T @ y[:, k]
    a[-1, -1] = c * float(shared @ (w * shared)) + 1e-12
    rhs[-1] = float((shared * w) @ y.sum(axis=1))
    sol = np.linalg.solve(a, rhs)
    return np.concatenate([sol[:-1].reshape(c, p).T, np.full((1, c), sol[-1])], axis=0)


def _cauchy(rel: np.ndarray, scale: float) -> np.ndarray:
    return 1.0 / (1.0 + (rel / scale) ** 2)


def _rel_residual(pred: np.ndarray, obs: np.ndarray) -> np.ndarray:
    lum_p = pred @ np.array([0.2126, 0.7152, 0.0722])
    err = np.abs(pred - obs) @ np.array([0.2126, 0.7152, 0.0722])
    return err / np.maximum(np.abs(lum_p), 1e-3)


_RELATIVE_FLOOR = 0.25


def _relative_weight(y: np.ndarray) -> np.ndarray:
    """``1 / (lum + f * median(lum))²``: between absolute and relative least squares, so dark texels
    (shadowed side) count more than in plain least squares without letting the darkest, least
    explainable texels (deep creases, unmodelled shadows) dominate."""
    lum = y @ np.array([0.2126, 0.7152, 0.0722])
    floor = _RELATIVE_FLOOR * float(np.median(lum)) + 1e-3
    return 1.0 / (np.maximum(lum, 0.0) + floor) ** 2


def _irls(x: np.ndarray, y: np.ndarray, w0: np.ndarray, ridge: np.ndarray, iters: int, scale: float,
          w_robust: np.ndarray | None = None, shared: np.ndarray | None = None
          ) -> tuple[np.ndarray, np.ndarray, float]:
    """Iteratively re-weighted (Cauchy on the relative residual) least squares; returns (b, weights, cost)."""
    wr = np.ones(len(y)) if w_robust is None else w_robust
    wf = w0 * _relative_weight(y)
    xs = x if shared is None else np.concatenate([x, shared[:, None]], axis=1)
    for _ in range(iters):
        b = _solve(x, y, wf * wr, ridge, shared)
        rel = _rel_residual(xs @ b, y)
        wr = _cauchy(rel, scale)
    b = _solve(x, y, wf * wr, ridge, shared)
    rel = _rel_residual(xs @ b, y)
    cost = float(np.sum(w0 * np.log1p((rel / scale) ** 2)) / max(np.sum(w0), 1e-12))
    return b, wr, cost


def _ridge(x: np.ndarray, w: np.ndarray, strength: float) -> np.ndarray:
    """Tikhonov weights on the order-1 (x1) and order-2 (x4) SH coefficients, relative to the data."""
    n_extra = x.shape[1] - 9
    scale = float(np.einsum("mp,mp,m->", x[:, :9], x[:, :9], w)) / 9.0
    return np.array([0.0, 1, 1, 1, 4, 4, 4, 4, 4] + [0.0] * n_extra) * strength * scale


_FINE_SPHERE = fibonacci_sphere(20000)


def _cone(d: np.ndarray, max_deg: float) -> np.ndarray:
    """Directions of a fine sphere grid within ``max_deg`` of ``d`` (always including ``d``)."""
    sel = _FINE_SPHERE[_FINE_SPHERE @ d >= np.cos(np.deg2rad(max_deg))]
    return np.concatenate([d[None], sel], axis=0)


def _boundary_weight(vis: np.ndarray) -> np.ndarray:
    """0 for samples partly shadowed in the coarse shadow map (their shadow state is uncertain)."""
    return ((vis < 0.02) | (vis > 0.98)).astype(np.float64)


def _search_sun(s: _Samples, wr: np.ndarray, cands: np.ndarray, settings: DelightSettings,
                vis: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Best sun direction among ``cands`` (C, 3) for the luminance channel with fixed robust weights.

    For each candidate the model ``AO * SH(n) + c * max(0, n·d) * vis`` is solved in closed form
    (shared 9x9 block, one extra column per candidate; ``vis`` fixed cast-shadow visibility or 1);
    the cost is the robust (Cauchy) relative residual.
    Returns (d, cost) with d = 0 when no candidate gives a positive sun.
    """
    lum = s.color @ np.array([0.2126, 0.7152, 0.0722])
    xb = lambert_basis(s.normal) * s.ao[:, None]
    w = s.weight * wr * _relative_weight(s.color)
    wt = s.weight * (wr > 0)
    cos = np.clip(s.normal @ cands.T, 0.0, None)  # (M, C)
    if vis is not None:
        cos *= vis[:, None]
    frac = (cos > 0.15).mean(axis=0)
    keep = (frac > 0.1) & (frac < 0.995)
    cands, cos = cands[keep], cos[:, keep]
    xbw = xb * w[:, None]
    a_bb = xb.T @ xbw + np.diag(_ridge(xb, w, settings.ridge))
    a_bs = xbw.T @ cos  # (9, C)
    a_ss = np.einsum("mc,mc,m->c", cos, cos, w)
    r_b = xbw.T @ lum  # (9,)
    r_s = cos.T @ (w * lum)  # (C,)
    costs = np.full(len(cands), np.inf)
    a = np.empty((10, 10))
    a[:9, :9] = a_bb
    for c in range(len(cands)):
        a[:9, 9] = a[9, :9] = a_bs[:, c]
        a[9, 9] = a_ss[c] + 1e-12
        b = np.linalg.solve(a, np.concatenate([r_b, [r_s[c]]]))
        if b[9] <= 0:
            continue
        pred = xb @ b[:9] + cos[:, c] * b[9]
        rel = np.abs(pred - lum) / np.maximum(np.abs(pred), 1e-3)
        costs[c] = float(np.sum(wt * np.log1p((rel / settings.robust_scale) ** 2)))
    if not np.isfinite(costs).any():
        return np.zeros(3), np.inf
    i = int(np.argmin(costs))
    return cands[i], costs[i] / max(float(np.sum(wt)), 1e-12)


def _resolve_sign(s: _Samples, wr: np.ndarray, d: np.ndarray, settings: DelightSettings) -> np.ndarray:
    """Pick ``d`` or ``-d``: without cast shadows, ``max(0, n·d) = max(0, -n·d) + n·d`` and the linear
    part is absorbed by the order-1 SH, so both fit the same. The physical one leaves an ambient
    that stays positive on the observed normals (the other needs a dark lobe opposite the light).
    """
    if not np.any(d):
        return d
    lum = s.color @ np.array([0.2126, 0.7152, 0.0722])
    xb = lambert_basis(s.normal) * s.ao[:, None]
    w = s.weight * wr * _relative_weight(s.color)
    best, best_min = d, -np.inf
    for cand in (d, -d):
        x = np.concatenate([xb, np.clip(s.normal @ cand, 0.0, None)[:, None]], axis=1)
        b = _solve(x, lum[:, None], w, _ridge(x, w, settings.ridge))[:, 0]
        if b[9] <= 0:
            continue
        amb_min = float(np.percentile(xb @ b[:9], 1.0))  # ambient at the observed normals
        if amb_min > best_min:
            best, best_min = cand, amb_min
    return best


def _sun_design(s: _Samples, xb: np.ndarray, d: np.ndarray, vis: np.ndarray | None, alpha: float | None) -> np.ndarray:
    cos = np.clip(s.normal @ d, 0.0, None)
    if vis is not None:
        cos = cos * vis
    cols = [xb, cos[:, None]]
    if alpha is not None:
        spec = _specular_lobe(s.normal, s.view, d, alpha)
        cols.append((spec * (1.0 if vis is None else vis))[:, None])
    return np.concatenate(cols, axis=1)


def _core_weights(s: _Samples, xb: np.ndarray, y: np.ndarray,
                  settings: DelightSettings) -> tuple[np.ndarray | None, float]:
    """Initial robust weights and the robust scale, from an ambient fit on the core samples.

    Hair over the forehead is a broad region much darker than skin; started from uniform weights,
    the relative-error fit bends toward it (measured on the astronaut photo: median relative
    residual 0.47 and a light from below, against 0.14 and a frontal light without the forehead).
    Fitted first on the skin below the brows, every sample is then weighed by how well that fit
    explains it. The Cauchy scale follows the core fit's typical residual (a fitted mesh on a real
    photo leaves more than ``robust_scale``; with the fixed scale most texels would be weighted
    out and the fit would lock onto a few), never below ``robust_scale``.
    """
    c = s.core
    if c is None or c.sum() < 200:
        return None, settings.robust_scale
    rwc = s.weight[c] * _relative_weight(y[c])
    b, _, _ = _irls(xb[c], y[c], s.weight[c], _ridge(xb[c], rwc, settings.ridge), settings.irls_iters,
                    settings.robust_scale)
    rel = _rel_residual(xb @ b, y)
    scale = float(np.clip(1.4826 * float(np.median(rel[c])), settings.robust_scale, 2.5 * settings.robust_scale))
    return _cauchy(rel, scale), scale


def estimate_lighting(samples: _Samples, model: HeadModel, vertices: np.ndarray,
                      settings: DelightSettings = DelightSettings(), runtime: Runtime = CPU
                      ) -> tuple[LightingModel, dict[str, float], ShadowMap | None]:
    """Fit the lighting model to skin samples; returns the normalised lighting, fit figures and the
    sun's shadow map (None without a sun). The shadow maps are rasterized on ``runtime``.

    1. ambient SH alone (IRLS) -> robust weights; 2. coarse search of the sun direction over the
    sphere, then two refinements in shrinking cones, each after re-weighting with the sun model;
    3. if the sun helps: alternate cast shadows (coarse shadow map) and a search in a shrinking cone
    with those shadows fixed; 4. final fit with shadows + specular lobe (a few exponents), IRLS; the
    sun is kept only if it lowers the robust cost. 5. normalisation (module docstring).
    """
    s = samples
    y = s.color.astype(np.float64)
    xb = lambert_basis(s.normal) * s.ao[:, None]
    rw = s.weight * _relative_weight(y)
    wr0, scale = _core_weights(s, xb, y, settings)
    settings = replace(settings, robust_scale=scale)
    b_sh, wr, cost_sh = _irls(xb, y, s.weight, _ridge(xb, rw, settings.ridge), settings.irls_iters,
                              settings.robust_scale, wr0)
    sub = _subsample(len(y), settings.search_samples)
    d, cost_d = _search_sun(s.take(sub), wr[sub], fibonacci_sphere(settings.sun_candidates), settings)
    d = _resolve_sign(s, wr, d, settings)
    w_cur = wr
    for cone in (12.0, 4.0):
        if not np.any(d):
            break
        x = _sun_design(s, xb, d, None, None)
        _, w_cur, _ = _irls(x, y, s.weight, _ridge(x, rw, settings.ridge), 2, settings.robust_scale, w_cur)
        d_new, c_new = _search_sun(s, w_cur, _cone(d, cone), settings)
        if not np.any(d_new):
            break
        d, cost_d = d_new, c_new
    info = {"cost_sh": cost_sh, "cost_sun_search": cost_d}
    faces = model.faces.numpy()
    best = None
    vis = None
    smap = None
    if np.any(d):
        # Alternate: cast shadows for the current direction, then re-search the direction nearby with
        # those shadows held fixed (texels near the shadow boundary left out), then shadows again.
        for cone in settings.shadow_refine_cones:
            vis = sun_visibility(vertices, faces, s.position, s.normal, d, settings.search_shadow_resolution,
                                 runtime=runtime)
            x = _sun_design(s, xb, d, vis, None)
            _, w_cur, _ = _irls(x, y, s.weight, _ridge(x, rw, settings.ridge), 2, settings.robust_scale, w_cur)
            d_new, c_new = _search_sun(s, w_cur * _boundary_weight(vis), _cone(d, cone), settings, vis)
            if not np.any(d_new):  # no positive sun near d with these shadows: keep d
                break
            d, cost_d = d_new, c_new
        info["cost_shadowed_search"] = cost_d
        smap = shadow_map(vertices, faces, d, settings.shadow_map_resolution, runtime)
        vis = smap.visibility(s.position, s.normal)
        x = _sun_design(s, xb, d, vis, None)
        for alpha in settings.shininess:
            spec = _specular_lobe(s.normal, s.view, d, alpha) * vis
            b, _, cost = _irls(x, y, s.weight, _ridge(x, rw, settings.ridge), settings.irls_iters,
                               settings.robust_scale, w_cur, shared=spec)
            if b[10, 0] < 0:  # a negative lobe is not physical: refit without it
                b, _, cost = _irls(x, y, s.weight, _ridge(x, rw, settings.ridge), settings.irls_iters,
                                   settings.robust_scale, w_cur)
                b = np.concatenate([b, np.zeros((1, 3))])
            if np.all(b[9] > 0) and (best is None or cost < best[1]):
                best = (b, cost, alpha)
    if best is not None and best[1] < cost_sh * (1.0 - settings.min_sun_gain):
        b, cost, alpha = best
        sh, sun_rgb, spec_rgb = b[:9], b[9], b[10]
        info.update(cost=cost, sun_used=1.0)
    else:
        d = np.zeros(3)
        smap = None
        sh, sun_rgb, spec_rgb, alpha = b_sh, np.zeros(3), np.zeros(3), settings.shininess[0]
        info.update(cost=cost_sh, sun_used=0.0)
    # Normalise: the fitted shading includes the (unknown, constant) skin albedo a0 per channel.
    mean = reference_mean_shading(reference_normals(model), sh, d, sun_rgb)
    a0 = np.maximum(mean, 1e-6) / REFERENCE_SHADING
    light = LightingModel(sh=(sh / a0).astype(np.float64), sun_direction=d.astype(np.float64),
                          sun_rgb=(sun_rgb / a0).astype(np.float64), specular_rgb=np.clip(spec_rgb, 0.0, None),
                          shininess=float(alpha))
    info.update({f"skin_albedo_{c}": float(a0[i]) for i, c in enumerate("rgb")})
    return light, info, smap


LIMB_POWER = 4.0
"""Exponent of the outline darkening ``1 - k (1 - n·v)^p``: steep enough to leave the well-seen face
(n·v > 0.6, where the SH is fitted) untouched, so it cannot trade off against the SH."""
LIMB_MAX = 0.9


def limb_factor(normals: np.ndarray, view_dirs: np.ndarray, k: float) -> np.ndarray:
    """(M,) ``1 - k (1 - max(0, n·v))^LIMB_POWER``: the photo's darkening toward the face outline."""
    u = 1.0 - np.clip(np.einsum("mc,mc->m", normals, view_dirs), 0.0, 1.0)
    return (1.0 - k * u ** LIMB_POWER).astype(np.float64)


def fit_limb(ratio: np.ndarray, cos_view: np.ndarray) -> float:
    """The darkening ``k`` of :func:`limb_factor` from skin texels' photo / predicted shading.

    A face seen in a photo darkens toward its outline more than an order-2 SH of the light can say
    (the jaw and cheek turn away faster than the fitted mesh near its silhouette, light comes from
    near the camera, hair and ears occlude): left in, that reads as a darker albedo ring along the
    face oval, which then fails the skin tests and is filled from the template, a lighter band in
    the re-rendered photo. ``ratio`` (M,) is the observed / predicted luminance (1 = explained),
    ``cos_view`` (M,) n·v. Medians per n·v bin (robust to hair or background on the outline), each
    relative to the well-seen face (n·v > 0.7), are fitted by least squares; ``k`` in [0, LIMB_MAX].
    """
    front = cos_view > 0.7
    if front.sum() < 100:
        return 0.0
    base = float(np.median(ratio[front]))
    if base <= 0:
        return 0.0
    us, rs, ns = [], [], []
    for lo in np.arange(0.1, 0.7, 0.1):
        sel = (cos_view >= lo) & (cos_view < lo + 0.1)
        if sel.sum() >= 50:
            us.append(1.0 - (lo + 0.05))
            rs.append(float(np.median(ratio[sel])) / base)
            ns.append(float(sel.sum()))
    if len(us) < 2:
        return 0.0
    x = np.asarray(us) ** LIMB_POWER
    w = np.sqrt(np.asarray(ns))
    k = float(np.sum(w * x * (1.0 - np.asarray(rs))) / max(np.sum(w * x * x), 1e-12))
    return float(np.clip(k, 0.0, LIMB_MAX))


# ---------------------------------------------------------------------------------------------
# De-lighting
# ---------------------------------------------------------------------------------------------


@dataclass
class Delit:
    """De-lit texture (grids ``(N, N, ...)`` float32, row 0 = top).

    ``albedo`` (N, N, 3) linear RGB (0 where unseen); ``confidence`` (N, N) in [0, 1] (the unwrap
    weight times how well lit and how well explained the texel is, after repair); ``shading`` and
    ``specular`` (N, N, 3) the model's prediction; ``sun_visibility`` (N, N) cast-shadow term;
    ``outliers`` (N, N) bool texels that were repaired; ``lighting`` the estimated lighting;
    ``shadow_map`` the sun's shadow map (None without a sun).
    """

    albedo: np.ndarray
    confidence: np.ndarray
    shading: np.ndarray
    specular: np.ndarray
    sun_visibility: np.ndarray
    outliers: np.ndarray
    lighting: LightingModel
    info: dict[str, float] = field(default_factory=dict)
    shadow_map: ShadowMap | None = None


def _region_mask(unwrap: Unwrap, model: HeadModel, names: tuple[str, ...]) -> np.ndarray:
    codes = [model.region_id(n) for n in names]
    return np.isin(unwrap.region, codes)


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
    w = (skin & (unwrap.weight > 0.2)).astype(np.float32)
    local = _local_mean(unwrap.color, w, sigma=max(2.0, settings.local_dark_sigma * n))
    return luminance(unwrap.color) < settings.local_dark_ratio * luminance(local)


def _gather_samples(unwrap: Unwrap, ao: np.ndarray, mask: np.ndarray, max_samples: int,
                    core_mask: np.ndarray | None = None) -> _Samples:
    idx = np.flatnonzero((mask & (unwrap.weight > 0.2) & ~unwrap.saturated).reshape(-1))
    if idx.size < 200:
        raise ShapeError(f"too few visible skin texels ({idx.size}) to estimate the lighting.")
    if idx.size > max_samples:
        idx = idx[np.linspace(0, idx.size - 1, max_samples).astype(np.int64)]

    def g(a: np.ndarray) -> np.ndarray:
        return a.reshape(a.shape[0] * a.shape[1], -1)[idx].astype(np.float64)

    core = None if core_mask is None else core_mask.reshape(-1)[idx]
    return _Samples(g(unwrap.color), g(unwrap.normal), g(unwrap.view_dir), g(ao)[:, 0], g(unwrap.weight)[:, 0],
                    g(unwrap.position), core)


def delight(unwrap: Unwrap, model: HeadModel, vertices: np.ndarray, mirror_index: np.ndarray | None = None,
            ao: np.ndarray | None = None, settings: DelightSettings = DelightSettings(),
            runtime: Runtime = CPU) -> Delit:
    """Estimate the lighting on skin texels and divide it out of every seen texel.

    Args:
        unwrap: from :func:`engine.texture.unwrap.unwrap_photo`.
        model, vertices: the head model and the posed vertices (V, 3) the unwrap used.
        mirror_index: optional (N*N,) int64 flat index of each texel's mirror texel (-1 if none),
            used to repair outliers; see :func:`engine.texture.complete.mirror_lookup`.
        ao: optional (N, N) AO per texel (default: the template's, cached).
        runtime: where the depth maps (AO, shadows) are rasterized; the solve is numpy on the CPU.
    """
    n = unwrap.color.shape[0]
    ao = texel_ambient_occlusion(model, n, runtime=runtime) if ao is None else ao
    skin = _region_mask(unwrap, model, SKIN_LIGHTING_REGIONS)
    samples = _gather_samples(unwrap, ao, skin & ~_local_dark(unwrap, skin, settings), settings.max_samples,
                              _below_brows(unwrap, model))
    v = np.asarray(vertices, np.float64)
    light, info, smap = estimate_lighting(samples, model, v, settings, runtime)

    seen = unwrap.weight > 0.0
    # De-lit colour on every texel the camera sees (grazing and silhouette-edge texels included, at
    # confidence 0 here): the pipeline may still use it where it is plainly skin (see
    # ``engine.texture.pipeline``'s grazing layer).
    idx = np.flatnonzero((seen | (unwrap.visible & unwrap.covered)).reshape(-1))
    nrm = unwrap.normal.reshape(-1, 3)[idx].astype(np.float64)
    pos = unwrap.position.reshape(-1, 3)[idx].astype(np.float64)
    vdir = unwrap.view_dir.reshape(-1, 3)[idx].astype(np.float64)
    a = ao.reshape(-1)[idx].astype(np.float64)
    if smap is not None:
        vis = smap.visibility(pos, nrm)
    else:
        vis = np.ones(len(idx), np.float32)
    shade = light.diffuse(nrm, a, vis)
    spec = light.specular(nrm, vdir, vis)
    col = unwrap.color.reshape(-1, 3)[idx]
    if settings.limb:
        light = _with_limb(light, col, shade, spec, nrm, vdir, skin.reshape(-1)[idx] & ~unwrap.saturated.reshape(-1)[idx])
        shade = (shade * limb_factor(nrm, vdir, light.limb)[:, None]).astype(np.float32)
        info["limb"] = light.limb
    alb = (col - spec) / np.maximum(shade, 1e-3)

    def grid(vals: np.ndarray, fill: float = 0.0) -> np.ndarray:
        out = np.full((n * n,) + vals.shape[1:], fill, np.float32)
        out[idx] = vals
        return out.reshape((n, n) + vals.shape[1:])

    albedo = np.clip(grid(alb), 0.0, 1.0)
    shading = grid(shade)
    specular = grid(spec)
    sunvis = grid(vis.astype(np.float32), fill=1.0)
    lum_s = shading @ np.array([0.2126, 0.7152, 0.0722], np.float32)
    conf = unwrap.weight * np.clip((lum_s / REFERENCE_SHADING - 0.5 * settings.dark_shading)
                                   / (settings.dark_shading), 0.0, 1.0)
    # Relative to this photo's brightest skin shading, deep shade is where the model is least sure
    # (bounce light, occluders it does not know): trust it less, so a well-lit mirror texel can help.
    skin_seen = _region_mask(unwrap, model, ("face",)) & (unwrap.weight > 0.2)
    if skin_seen.any():
        bright = float(np.percentile(lum_s[skin_seen], 90))
        rel = np.clip(lum_s / max(bright, 1e-6) / settings.deep_shade, 0.0, 1.0)
        conf *= settings.deep_shade_confidence + (1.0 - settings.deep_shade_confidence) * rel * rel * (3 - 2 * rel)
    conf *= _shadow_edge_confidence(sunvis, light, seen, n)
    if np.any(light.sun_direction):
        # Near the sun's terminator the shading changes fastest with the normal: a small error in
        # the fitted geometry there makes a visible seam, so trust those texels less.
        cos = np.zeros(n * n, np.float32)
        cos[idx] = np.abs(nrm @ light.sun_direction)
        x = np.clip(cos.reshape(n, n) / settings.terminator_band, 0.0, 1.0)
        conf *= settings.terminator_confidence + (1.0 - settings.terminator_confidence) * x * x * (3 - 2 * x)
    conf[unwrap.saturated] = 0.0  # clipped photo: colour unknown, repaired below
    outliers = _find_outliers(albedo, conf, shading, unwrap, model, mirror_index, settings) | unwrap.saturated
    albedo, conf = _repair(albedo, conf, outliers, mirror_index)
    info["outlier_fraction"] = float(outliers.sum() / max(seen.sum(), 1))
    return Delit(albedo, conf.astype(np.float32), shading, specular, sunvis, outliers, light, info, smap)


def _with_limb(light: LightingModel, col: np.ndarray, shade: np.ndarray, spec: np.ndarray, nrm: np.ndarray,
               vdir: np.ndarray, skin: np.ndarray) -> LightingModel:
    obs = luminance((col - spec)[skin])
    pred = luminance(shade[skin])
    ok = pred > 1e-3
    cos_v = np.einsum("mc,mc->m", nrm[skin], vdir[skin])
    k = fit_limb(obs[ok] / pred[ok], cos_v[ok])
    return replace(light, limb=k)


def _shadow_edge_confidence(sunvis: np.ndarray, light: LightingModel, seen: np.ndarray, n: int) -> np.ndarray:
    """Lower confidence in a band around cast-shadow boundaries (the shadow map is only approximate)."""
    if not np.any(light.sun_direction):
        return np.ones_like(sunvis)
    edge = ((sunvis > 0.02) & (sunvis < 0.98) & seen).astype(np.uint8)
    if not edge.any():
        return np.ones_like(sunvis)
    r = max(1, int(round(n * 0.004)))
    dist = cv2.distanceTransform(1 - edge, cv2.DIST_L2, 3)
    x = np.clip(dist / (2.0 * r), 0.0, 1.0)
    return (0.15 + 0.85 * x * x * (3 - 2 * x)).astype(np.float32)


def _local_mean(img: np.ndarray, w: np.ndarray, sigma: float) -> np.ndarray:
    """Normalised-convolution Gaussian blur of ``img`` (N, N, C) with weights ``w`` (N, N).

    Computed on a grid downsampled so that ``sigma`` is ~4 texels there, then upsampled (a wide
    blur has no detail to lose).
    """
    n = img.shape[0]
    f = max(1, int(sigma // 4))
    m = max(1, n // f)
    num = cv2.resize(img * w[..., None], (m, m), interpolation=cv2.INTER_AREA)
    den = cv2.resize(w, (m, m), interpolation=cv2.INTER_AREA)
    s = sigma * m / n
    num = cv2.GaussianBlur(num, (0, 0), s)
    den = cv2.GaussianBlur(den, (0, 0), s)
    out = num / np.maximum(den, 1e-6)[..., None]
    return cv2.resize(out, (n, n), interpolation=cv2.INTER_LINEAR) if m != n else out


def _find_outliers(albedo: np.ndarray, conf: np.ndarray, shading: np.ndarray, unwrap: Unwrap, model: HeadModel,
                   mirror_index: np.ndarray | None, settings: DelightSettings) -> np.ndarray:
    n = albedo.shape[0]
    skinlike = _region_mask(unwrap, model, ("face", "ears", "neck", "scalp", "eye_socket"))
    w = (conf > 0.3) & skinlike
    local = _local_mean(albedo, w.astype(np.float32), sigma=max(2.0, 0.012 * n))
    lum = albedo @ np.array([0.2126, 0.7152, 0.0722], np.float32)
    lum_l = local @ np.array([0.2126, 0.7152, 0.0722], np.float32)
    ratio = lum / np.maximum(lum_l, 1e-4)
    sat = (albedo.max(-1) - albedo.min(-1)) / np.maximum(albedo.max(-1), 1e-4)
    sat_l = (local.max(-1) - local.min(-1)) / np.maximum(local.max(-1), 1e-4)
    highlight = (ratio > settings.highlight_ratio) & (sat < 0.85 * sat_l) & w
    # Implausibly bright albedo (a shadow the model under-predicted, divided out): far above the
    # well-seen skin, whatever the saturation.
    ref_lum = float(np.median(lum[w])) if w.any() else 0.0
    lum_s = shading @ np.array([0.2126, 0.7152, 0.0722], np.float32)
    lit = (conf > 0.3) & skinlike
    if ref_lum > 0 and lit.any():
        deep = lum_s < 0.35 * float(np.percentile(lum_s[lit], 90))
        highlight |= (lum > settings.max_albedo_ratio * ref_lum) & skinlike & (conf > 0) & deep
    shadow = np.zeros_like(highlight)
    if mirror_index is not None:
        mi = mirror_index.reshape(n, n)
        has = mi >= 0
        safe = np.where(has, mi, 0).reshape(-1)
        r_m = ratio.reshape(-1)[safe].reshape(n, n)
        c_m = conf.reshape(-1)[safe].reshape(n, n)
        lum_m = lum.reshape(-1)[safe].reshape(n, n)
        shadow = (w & has & (ratio < settings.shadow_ratio) & (c_m > 0.5) & (r_m > 0.85)
                  & (lum < settings.shadow_ratio * lum_m))
        shadow = cv2.morphologyEx(shadow.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)) > 0
    out = highlight | shadow
    return cv2.dilate(out.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0 if out.any() else out


def _repair(albedo: np.ndarray, conf: np.ndarray, outliers: np.ndarray,
            mirror_index: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Outlier texels take the mirror texel's albedo when that is confident, else the neighbourhood's.

    The replacement is feathered over a few texels around each outlier region (its rim blends the
    original and the repaired colour), so a repair leaves no visible edge.
    """
    if not outliers.any():
        return albedo, conf
    n = albedo.shape[0]
    r = max(1.0, 0.004 * n)
    k = int(2 * round(r) + 1)
    zone = cv2.dilate(outliers.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))) > 0
    alpha = np.clip(cv2.GaussianBlur(outliers.astype(np.float32), (0, 0), r) * 2.0, 0.0, 1.0)
    alpha[outliers] = 1.0
    rep = albedo.copy()
    c = conf.copy()
    todo = zone.copy()
    if mirror_index is not None:
        mi = mirror_index.reshape(n, n)
        safe = np.where(mi >= 0, mi, 0).reshape(-1)
        c_m = conf.reshape(-1)[safe].reshape(n, n)
        ok_m = todo & (mi >= 0) & (c_m > 0.5) & ~zone.reshape(-1)[safe].reshape(n, n)
        rep[ok_m] = albedo.reshape(-1, 3)[safe].reshape(n, n, 3)[ok_m]
        c[ok_m & outliers] = 0.8 * c_m[ok_m & outliers]
        todo &= ~ok_m
    if todo.any():
        known = (conf > 0.3) & ~zone
        if known.any():
            fill = coarse_fill(albedo, known)
            rep[todo] = fill[todo]
            core = todo & outliers
            c[core] = np.minimum(c[core], 0.6)
        else:
            c[todo & outliers] = 0.0
    out = albedo + alpha[..., None] * (rep - albedo)
    return out.astype(np.float32), c
