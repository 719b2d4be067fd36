"""Which texels a camera sees, with a point-splat depth buffer of our own (not the engine's renderer).

Every atlas texel is a surface sample; each is projected with ``pixel = K (R X + t)``; a pixel's depth
is the nearest sample that lands in it (``np.minimum.at``), and a texel is visible when it is within
``DEPTH_TOLERANCE_M`` of that depth and faces the camera by more than ``MIN_FACING``. At atlas sizes
>= 512 there are several samples per photo pixel on a face, so the buffer has no holes where it
matters; occluders that are thinner than one sample spacing could be missed (none on a head).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.groundtruth.layout import Layout

__all__ = ["TexelView", "texel_view", "DEPTH_TOLERANCE_M", "MIN_FACING"]

DEPTH_TOLERANCE_M = 0.004
"""A texel this much behind the nearest sample in its pixel still counts as visible (slanted skin
spans a few mm of depth within one pixel of a typical face photo)."""
MIN_FACING = 0.26
"""cos of the largest view angle that counts as seen (75 degrees): grazing skin carries little."""


@dataclass(frozen=True)
class TexelView:
    """``pixel`` [N, N, 2] float (u, v) photo coordinates of each texel (NaN outside the atlas);
    ``visible`` [N, N] bool; ``facing`` [N, N] cos of the view angle (0 where not covered)."""

    pixel: np.ndarray
    visible: np.ndarray
    facing: np.ndarray


def texel_view(lay: Layout, vertices: np.ndarray, K: np.ndarray, R: np.ndarray, t: np.ndarray,
               width: int, height: int, min_facing: float = MIN_FACING) -> TexelView:
    """Texel visibility of the mesh ``vertices`` (V, 3) head-space metres from the OpenCV camera."""
    pos = lay.positions(vertices)
    nrm = lay.normals(vertices)
    cov = lay.covered
    cam = pos[cov] @ np.asarray(R, np.float64).T + np.asarray(t, np.float64).reshape(3)
    uvw = cam @ np.asarray(K, np.float64).T
    px = uvw[:, :2] / uvw[:, 2:3]
    centre = -np.asarray(R, np.float64).T @ np.asarray(t, np.float64).reshape(3)
    to_cam = centre - pos[cov]
    to_cam /= np.linalg.norm(to_cam, axis=1, keepdims=True)
    facing = np.einsum("nc,nc->n", nrm[cov], to_cam)
    col, row = np.rint(px[:, 0]).astype(np.int64), np.rint(px[:, 1]).astype(np.int64)
    inside = (col >= 0) & (col < width) & (row >= 0) & (row < height) & (cam[:, 2] > 0)
    depth = np.full(height * width, np.inf)
    flat = row[inside] * width + col[inside]
    np.minimum.at(depth, flat, cam[inside, 2])
    vis = np.zeros(len(px), bool)
    vis[inside] = cam[inside, 2] <= depth[flat] + DEPTH_TOLERANCE_M
    vis &= facing > min_facing
    n = lay.size
    pixel = np.full((n, n, 2), np.nan)
    pixel[cov] = px
    out_vis = np.zeros((n, n), bool)
    out_vis[cov] = vis
    out_face = np.zeros((n, n))
    out_face[cov] = facing
    return TexelView(pixel, out_vis, out_face)
