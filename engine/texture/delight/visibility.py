"""Visibility from a direction: shadow maps (cast shadows of the sun) and ambient occlusion.

The shadow-map geometry below (depth bias, padding) is shared with the relighting and the
synthetic scenes, which call these functions without de-light settings, so its figures are named
constants here rather than :class:`~engine.texture.delight.settings.DelightSettings` fields.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from engine.head.model import HeadModel
from engine.render.ops import rasterize
from engine.runtime import CPU, Runtime
from engine.texture.delight.model import fibonacci_sphere
from engine.texture.unwrap import uv_raster, vertex_normals

__all__ = [
    "ShadowMap",
    "shadow_map",
    "sun_visibility",
    "template_ambient_occlusion",
    "texel_ambient_occlusion",
    "vertex_ambient_occlusion",
]

_BOUNDS_PADDING = 1.02
"""The depth maps frame a sphere this much wider than the mesh's bounding sphere."""
_DEPTH_BIAS_M = 0.002
"""Constant depth bias (metres) of every shadow / occlusion test."""
_MIN_BIAS_COS = 0.05
"""The slope-scaled bias is computed with ``n·d`` clipped to at least this (grazing surfaces)."""
_SHADOW_SLOPE_BIAS = 2.5
"""Slope-scaled bias of a shadow map, in depth-map texels (see :meth:`ShadowMap.visibility`)."""
_AO_SLOPE_BIAS = 2.0
"""Slope-scaled bias of the ambient-occlusion depth maps, in depth-map texels."""
_AO_FRONT_COS = 0.02
"""A vertex is tested for occlusion toward a direction only when ``n·d`` exceeds this."""


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
    radius = float(np.linalg.norm(vertices - centre, axis=1).max()) * _BOUNDS_PADDING
    return centre, radius


def _slope_bias(cos: np.ndarray, texel_m: float, texels: float) -> np.ndarray:
    """Depth bias (metres) per point for ``n·d`` = ``cos`` (already clipped): the constant bias plus
    ``texels`` depth-map texels of ``texel_m`` metres times ``tan(theta)``."""
    return _DEPTH_BIAS_M + texels * texel_m * np.sqrt(1.0 - cos**2) / cos


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
        cos = np.clip(normals @ self.direction, _MIN_BIAS_COS, 1.0)
        bias = _slope_bias(cos, texel_m, _SHADOW_SLOPE_BIAS)
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
        front = cos > _AO_FRONT_COS
        if not front.any():
            continue
        bias = _slope_bias(np.clip(cos[front], _MIN_BIAS_COS, 1.0), texel_m, _AO_SLOPE_BIAS)
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
