"""A small numpy triangle rasterizer for UV space (bake per-vertex data into texture images).

Texture images are ``[H, W, C]`` with row 0 = top: texel (row, col) is centred at
``u = (col + 0.5) / W``, ``v = 1 - (row + 0.5) / H`` (docs/conventions.md). A texel belongs to a
triangle when its centre lies inside it (edges inclusive, so neighbouring triangles leave no crack);
texels outside every triangle get ``triangle = -1``. Overlapping triangles (none in a valid atlas)
resolve to the higher triangle index. Used offline and once per model (template, symmetry map):
about 0.1 s for the 9.5k-triangle head atlas at 1024².
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


def _raster_bucket(
    corners: np.ndarray, ids: np.ndarray, k: int, size: int, tri_img: np.ndarray, bary_img: np.ndarray
) -> None:
    """Rasterize triangles whose texel bounding box fits in ``k x k`` (vectorised over the bucket)."""
    r0 = np.floor(corners[..., 0].min(1)).astype(np.int64)
    c0 = np.floor(corners[..., 1].min(1)).astype(np.int64)
    off = np.arange(k + 1)
    rows = r0[:, None, None] + off[None, :, None]
    cols = c0[:, None, None] + off[None, None, :]
    p0, p1, p2 = corners[:, 0], corners[:, 1], corners[:, 2]
    # Barycentrics via the edge functions of the 2D triangle (row, col).
    e1, e2 = p1 - p0, p2 - p0
    det = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    good = np.abs(det) > 1e-12
    inv = np.where(good, 1.0 / np.where(good, det, 1.0), 0.0)[:, None, None]
    dr = rows - p0[:, 0, None, None]
    dc = cols - p0[:, 1, None, None]
    b1 = (dr * e2[:, 1, None, None] - dc * e2[:, 0, None, None]) * inv
    b2 = (e1[:, 0, None, None] * dc - e1[:, 1, None, None] * dr) * inv
    b0 = 1.0 - b1 - b2
    eps = 1e-7
    inside = (b0 >= -eps) & (b1 >= -eps) & (b2 >= -eps) & good[:, None, None]
    rr = np.broadcast_to(rows, inside.shape)
    cc = np.broadcast_to(cols, inside.shape)
    inside &= (rr >= 0) & (rr < size) & (cc >= 0) & (cc < size)
    n, i, j = np.nonzero(inside)
    r_sel, c_sel = rr[n, i, j], cc[n, i, j]
    tri_img[r_sel, c_sel] = ids[n]
    bary_img[r_sel, c_sel] = np.stack([b0[n, i, j], b1[n, i, j], b2[n, i, j]], axis=-1)


def rasterize_uv(uvs: np.ndarray, uv_faces: np.ndarray, size: int) -> UVRaster:
    """Rasterize triangles given by ``uv_faces [F, 3]`` into uvs ``[T, 2]`` (v up, [0, 1]) at size².

    Triangles are processed in buckets of similar bounding-box size, so the cost is proportional to
    the texels the atlas covers. Returns a :class:`UVRaster`.
    """
    uv, tri = _check_inputs(uvs, uv_faces, size)
    corners = uv_to_texel(uv[tri], size, size)  # [F, 3, 2] (row, col)
    tri_img = np.full((size, size), -1, np.int32)
    bary_img = np.zeros((size, size, 3), np.float32)
    if len(tri) == 0:
        return UVRaster(tri_img, bary_img)
    extent = np.ceil(np.max(corners.max(1) - np.floor(corners.min(1)), axis=1)).astype(np.int64)
    bucket = np.maximum(extent, 1)
    bucket = 2 ** np.ceil(np.log2(bucket)).astype(np.int64)
    ids = np.arange(len(tri), dtype=np.int32)
    for k in np.unique(bucket):
        sel = bucket == k
        # Chunk very large buckets to bound memory (k^2 texels per triangle).
        step = max(1, int(4_000_000 // ((k + 1) ** 2)))
        idx = np.flatnonzero(sel)
        for s in range(0, len(idx), step):
            part = idx[s : s + step]
            _raster_bucket(corners[part], ids[part], int(k), size, tri_img, bary_img)
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
