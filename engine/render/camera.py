"""Camera helpers: OpenCV pinhole cameras and UV space as nvdiffrast clip space.

``opencv_to_clip`` builds clip coordinates such that the rasterizer's output pixel (row r, column c)
is the photo's pixel (row r, column c) for ``pixel = K (R X + t)`` with pixel centres at integer
coordinates (docs/conventions.md). Derivation: with camera point ``Xc = R X + t`` and
``(u_h, v_h, Z) = K Xc`` (``K``'s last row is ``(0, 0, 1)``), the photo pixel is ``(u, v) = (u_h, v_h)/Z``;
the rasterizer samples column ``c`` at NDC ``x = (2c + 1)/W - 1`` and row ``r`` at ``y = (2r + 1)/H - 1``
(row 0 = NDC y -1), so ``x_clip = (2 u_h + (1 - W) Z) / W``, ``y_clip = (2 v_h + (1 - H) Z) / H``,
``w_clip = Z`` and an OpenGL depth ``z_clip = (f + n)/(f - n) Z - 2 f n/(f - n)`` (NDC -1 at ``near``,
+1 at ``far``). No axis flips anywhere.
"""
from __future__ import annotations

import torch

from engine.render._checks import check_float
from engine.render.errors import RenderArgumentError

__all__ = ["opencv_to_clip", "project_points", "uv_to_clip"]


def _camera_points(vertices: torch.Tensor, R: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """``R X + t`` for vertices [..., V, 3], R [..., 3, 3], t [..., 3] -> [..., V, 3]."""
    return vertices @ R.transpose(-1, -2) + t.unsqueeze(-2)


def _check_camera(vertices: torch.Tensor, K: torch.Tensor, R: torch.Tensor, t: torch.Tensor) -> None:
    check_float("vertices", vertices, (2, 3), last=3)
    check_float("K", K, (2, 3), last=3)
    check_float("R", R, (2, 3), last=3)
    check_float("t", t, (1, 2), last=3)
    if K.shape[-2] != 3 or R.shape[-2] != 3:
        raise RenderArgumentError(f"K and R must be [3, 3] (or [B, 3, 3]), got {tuple(K.shape)}, {tuple(R.shape)}.")


def project_points(vertices: torch.Tensor, K: torch.Tensor, R: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Photo pixel coordinates ``(column, row)`` [..., V, 2] of head-space points ``vertices`` [..., V, 3].

    ``pixel = K (R X + t)`` after the homogeneous divide, pixel centres at integer coordinates.
    ``K``, ``R`` are [3, 3] or [B, 3, 3]; ``t`` is [3] or [B, 3]. Differentiable in every input.
    """
    _check_camera(vertices, K, R, t)
    xc = _camera_points(vertices, R, t)
    uvw = xc @ K.transpose(-1, -2)
    return uvw[..., :2] / uvw[..., 2:3]


def opencv_to_clip(
    vertices_head: torch.Tensor,
    K: torch.Tensor,
    R: torch.Tensor,
    t: torch.Tensor,
    width: int,
    height: int,
    near: float = 0.01,
    far: float = 10.0,
) -> torch.Tensor:
    """Clip-space positions [..., V, 4] for rasterizing head-space points as seen by an OpenCV camera.

    Args:
        vertices_head: head-space points (metres) [V, 3] or [B, V, 3].
        K: intrinsics [3, 3] or [B, 3, 3] in pixels of the ``width`` x ``height`` image; last row (0, 0, 1).
        R, t: world-to-camera rotation [3, 3] / [B, 3, 3] and translation [3] / [B, 3] (metres),
            OpenCV camera axes (x right, y down, z forward).
        width, height: the output (photo) resolution in pixels; rasterize with ``(height, width)``.
        near, far: depth range in metres mapped to NDC z -1 .. +1.

    Returns:
        ``[x, y, z, w]`` float (input dtype) with ``w`` = camera depth. Differentiable in all tensors.
    """
    _check_camera(vertices_head, K, R, t)
    if not (0.0 < near < far):
        raise RenderArgumentError(f"need 0 < near < far, got near={near}, far={far}.")
    if width < 1 or height < 1:
        raise RenderArgumentError(f"width and height must be positive, got {width} x {height}.")
    xc = _camera_points(vertices_head, R, t)
    z = xc[..., 2]
    uvw = xc @ K.transpose(-1, -2)
    x_clip = (2.0 * uvw[..., 0] + (1.0 - width) * z) / width
    y_clip = (2.0 * uvw[..., 1] + (1.0 - height) * z) / height
    z_clip = (far + near) / (far - near) * z - 2.0 * far * near / (far - near)
    return torch.stack((x_clip, y_clip, z_clip, z), -1)


def uv_to_clip(uvs: torch.Tensor) -> torch.Tensor:
    """Clip positions [..., V, 4] = ``(2u - 1, 1 - 2v, 0, 1)`` for rasterizing in UV space.

    ``uvs`` [..., V, 2] v-up in [0, 1]. The output row 0 of a UV-space raster is the texture's top row
    (v = 1), so the raster lines up with a texture image stored row 0 = top.
    """
    check_float("uvs", uvs, (2, 3), last=2)
    u, v = uvs[..., 0], uvs[..., 1]
    zeros = torch.zeros_like(u)
    return torch.stack((2.0 * u - 1.0, 1.0 - 2.0 * v, zeros, torch.ones_like(u)), -1)
