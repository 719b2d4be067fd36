"""A small numpy triangle rasterizer for UV space (bake per-vertex data into texture images).

Texture images are ``[H, W, C]`` with row 0 = top: texel (row, col) is centred at
``u = (col + 0.5) / W``, ``v = 1 - (row + 0.5) / H`` (docs/conventions.md). A texel belongs to a
triangle when its centre lies inside it (edges inclusive, so neighbouring triangles leave no crack);
texels outside every triangle get ``triangle = -1``. Overlapping triangles (none in a valid atlas)
resolve to one of them. Used offline and once per model and size (template, symmetry map, unwrap).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.texture._arrays import ShapeError

__all__ = ["UVRaster", "rasterize_uv", "interpolate_uv", "uv_to_texel", "texel_to_uv"]


@dataclass(frozen=True)
class UVRaster:
    """Result of :func:`rasterize_uv` at ``size`` x ``size`` texels.

    triangle: ``[H, W]`` int32 triangle index, -1 where no triangle covers the texel centre.
    bary: ``[H, W, 3]`` float32 barycentric weights of the triangle's corners 0, 1, 2 (0 outside).
    """

    triangle: np.ndarray
    bary: np.ndarray

    @property
    def covered(self) -> np.ndarray:
        """``[H, W]`` bool: texels inside some triangle."""
        return self.triangle >= 0


def uv_to_texel(uv: np.ndarray, height: int, width: int) -> np.ndarray:
    """uv ``[..., 2]`` (v up) -> continuous texel coordinates ``[..., 2]`` = (row, col), centres at ints."""
    uv = np.asarray(uv, dtype=np.float64)
    return np.stack([(1.0 - uv[..., 1]) * height - 0.5, uv[..., 0] * width - 0.5], axis=-1)


def texel_to_uv(rowcol: np.ndarray, height: int, width: int) -> np.ndarray:
    """Inverse of :func:`uv_to_texel`: (row, col) ``[..., 2]`` -> uv ``[..., 2]`` (v up)."""
    rc = np.asarray(rowcol, dtype=np.float64)
    return np.stack([(rc[..., 1] + 0.5) / width, 1.0 - (rc[..., 0] + 0.5) / height], axis=-1)


def _check_inputs(uvs: np.ndarray, uv_faces: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    uv = np.asarray(uvs, dtype=np.float64)
    tri = np.asarray(uv_faces)
    if uv.ndim != 2 or uv.shape[1] != 2:
        raise ShapeError(f"uvs must have shape [T, 2], got {tuple(uv.shape)}.")
    if tri.ndim != 2 or tri.shape[1] != 3 or not np.issubdtype(tri.dtype, np.integer):
        raise ShapeError(f"uv_faces must be an integer array [F, 3], got {tri.dtype} {tuple(tri.shape)}.")
    if tri.size and (tri.min() < 0 or tri.max() >= len(uv)):
        raise ShapeError("uv_faces index outside uvs.")
    if not isinstance(size, (int, np.integer)) or not 1 <= size <= 16384:
        raise ShapeError(f"size must be an integer in [1, 16384], got {size!r}.")
    return uv, tri.astype(np.int64)


def _spans(corners: np.ndarray, size: int, eps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Horizontal texel spans of triangles ``corners [F, 3, 2]`` (row, col): (tri, row, col0, col1)."""
    r = corners[..., 0]
    r0 = np.clip(np.ceil(r.min(1) - eps), 0, size - 1).astype(np.int64)
    r1 = np.clip(np.floor(r.max(1) + eps), 0, size - 1).astype(np.int64)
    n_rows = np.maximum(r1 - r0 + 1, 0)
    n_rows[(r.max(1) + eps < 0) | (r.min(1) - eps > size - 1)] = 0
    tri = np.repeat(np.arange(len(corners)), n_rows)
    row = (np.arange(len(tri)) - np.repeat(np.cumsum(n_rows) - n_rows, n_rows) + r0[tri]).astype(np.float64)
    lo = np.full(len(tri), np.inf)
    hi = np.full(len(tri), -np.inf)
    for a, b in ((0, 1), (1, 2), (2, 0)):
        ra, ca = corners[tri, a, 0], corners[tri, a, 1]
        rb, cb = corners[tri, b, 0], corners[tri, b, 1]
        dr = rb - ra
        flat = np.abs(dr) < 1e-12
        t = np.where(flat, 0.0, (row - ra) / np.where(flat, 1.0, dr))
        hit = (t >= -eps) & (t <= 1.0 + eps) & ~flat
        c = ca + np.clip(t, 0.0, 1.0) * (cb - ca)
        lo = np.where(hit, np.minimum(lo, c), lo)
        hi = np.where(hit, np.maximum(hi, c), hi)
        on_flat = flat & (np.abs(row - ra) <= eps)
        lo = np.where(on_flat, np.minimum(lo, np.minimum(ca, cb)), lo)
        hi = np.where(on_flat, np.maximum(hi, np.maximum(ca, cb)), hi)
    c0 = np.clip(np.ceil(lo - eps), 0, size - 1)
    c1 = np.clip(np.floor(hi + eps), 0, size - 1)
    keep = np.isfinite(lo) & (c1 >= c0) & (hi + eps >= 0) & (lo - eps <= size - 1)
    return tri[keep], row[keep].astype(np.int64), c0[keep].astype(np.int64), c1[keep].astype(np.int64)


def rasterize_uv(uvs: np.ndarray, uv_faces: np.ndarray, size: int) -> UVRaster:
    """Rasterize triangles given by ``uv_faces [F, 3]`` into uvs ``[T, 2]`` (v up, [0, 1]) at size².

    Scanline spans are computed for all triangles at once and expanded to texels, so the cost is
    proportional to the covered texels (about 0.1 s at 2048² for the head atlas). Returns a
    :class:`UVRaster`; a texel on an edge shared by two triangles goes to one of them.
    """
    uv, tri = _check_inputs(uvs, uv_faces, size)
    corners = uv_to_texel(uv[tri], size, size)  # [F, 3, 2] (row, col)
    tri_img = np.full((size, size), -1, np.int32)
    bary_img = np.zeros((size, size, 3), np.float32)
    if len(tri) == 0:
        return UVRaster(tri_img, bary_img)
    eps = 1e-7
    t, row, c0, c1 = _spans(corners, size, eps)
    count = c1 - c0 + 1
    t = np.repeat(t, count)
    row = np.repeat(row, count)
    col = np.arange(len(t)) - np.repeat(np.cumsum(count) - count, count) + np.repeat(c0, count)
    # Barycentrics as per-triangle affine functions of the texel offset from corner 0.
    p0 = corners[:, 0]
    e1, e2 = corners[:, 1] - p0, corners[:, 2] - p0
    det = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    good = np.abs(det) > 1e-12
    inv = np.where(good, 1.0 / np.where(good, det, 1.0), 0.0)
    k = np.stack([e2[:, 1] * inv, -e2[:, 0] * inv, -e1[:, 1] * inv, e1[:, 0] * inv], axis=1).astype(np.float32)
    dr = (row - p0[t, 0]).astype(np.float32)
    dc = (col - p0[t, 1]).astype(np.float32)
    kt = k[t]
    b1 = dr * kt[:, 0] + dc * kt[:, 1]
    b2 = dr * kt[:, 2] + dc * kt[:, 3]
    b0 = 1.0 - b1 - b2
    tol = 1e-5
    ok = good[t] & (b0 >= -tol) & (b1 >= -tol) & (b2 >= -tol)
    flat = row[ok] * size + col[ok]
    tri_img.reshape(-1)[flat] = t[ok].astype(np.int32)
    bary_img.reshape(-1, 3)[flat] = np.stack([b0[ok], b1[ok], b2[ok]], axis=-1)
    return UVRaster(tri_img, bary_img)


def interpolate_uv(raster: UVRaster, corner_values: np.ndarray, fill: float = 0.0) -> np.ndarray:
    """Interpolate per-corner values ``[F, 3, C]`` (or per-corner scalars ``[F, 3]``) over a raster.

    For per-vertex attributes ``a [V, C]`` pass ``a[faces]``. Returns ``[H, W, C]`` (or ``[H, W]``)
    float32 with ``fill`` on uncovered texels.
    """
    vals = np.asarray(corner_values, dtype=np.float32)
    squeeze = vals.ndim == 2
    if squeeze:
        vals = vals[..., None]
    if vals.ndim != 3 or vals.shape[1] != 3:
        raise ShapeError(f"corner_values must have shape [F, 3, C] or [F, 3], got {tuple(vals.shape)}.")
    t = raster.triangle
    cov = t >= 0
    out = np.full(t.shape + (vals.shape[2],), fill, np.float32)
    tv = vals[t[cov]]  # [N, 3, C]
    out[cov] = np.einsum("nk,nkc->nc", raster.bary[cov], tv)
    return out[..., 0] if squeeze else out
