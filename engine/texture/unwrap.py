"""Stage 1 of the texture pipeline: unwrap the photo into the head's UV atlas.

For every texel of the ``N x N`` atlas we know (once per topology and size) which triangle covers it
and with which barycentric weights (a UV-space rasterization, :func:`uv_raster`). With the fitted,
posed vertices this gives each texel a 3D position and normal (:func:`texel_geometry`); projecting
the position with the photo's camera gives the pixel to sample. A texel is *visible* when its depth
matches the camera-view depth buffer (:func:`camera_view`), and it gets a *weight* in [0, 1] that
falls to 0 at grazing view angles (below ~15 degrees), near the silhouette / occlusion edges, near the
image border and outside the person segmentation.

Conventions (docs/conventions.md): texture images are ``[N, N, C]`` with row 0 = top (v = 1); texel
(row, col) is at ``u = (col + 0.5) / N``, ``v = 1 - (row + 0.5) / N``. Head space is metres, +Y up,
+Z out of the face; the camera is OpenCV's (``pixel = K (R X + t)``). Colours are linear RGB.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
import torch

from engine.head.model import HeadModel
from engine.render.camera import opencv_to_clip
from engine.render.ops import interpolate, rasterize
from engine.runtime import CPU, Runtime
from engine.texture._arrays import ShapeError
from engine.texture.uv_raster import rasterize_uv

__all__ = [
    "AtlasTexels",
    "TexelGeometry",
    "CameraView",
    "Unwrap",
    "UnwrapSettings",
    "uv_raster",
    "vertex_normals",
    "texel_geometry",
    "camera_view",
    "unwrap_photo",
    "scatter",
]


@dataclass(frozen=True, eq=False)
class AtlasTexels:
    """Which triangle covers each texel of an ``N x N`` atlas (constant per topology and size).

    ``face_id`` (N, N) int32: triangle index, -1 on empty texels (gutters).
    ``texels`` (M,) int64: flat indices (row * N + col) of the covered texels.
    ``tex_face`` (M,) int64 and ``tex_bary`` (M, 3) float32: triangle and barycentric weights of the
    triangle's 3 corners for each covered texel (weights sum to 1).
    """

    size: int
    face_id: np.ndarray
    texels: np.ndarray
    tex_face: np.ndarray
    tex_bary: np.ndarray

    @property
    def mask(self) -> np.ndarray:
        """(N, N) bool: texel covered by some triangle."""
        return self.face_id >= 0

    def interpolate(self, vertex_attr: np.ndarray, faces: np.ndarray) -> np.ndarray:
        """Barycentric interpolation of per-vertex ``vertex_attr`` (V, C) -> (M, C) float32 per texel."""
        corners = faces[self.tex_face]  # (M, 3)
        a = vertex_attr.astype(np.float32, copy=False)
        b = self.tex_bary
        return a[corners[:, 0]] * b[:, 0:1] + a[corners[:, 1]] * b[:, 1:2] + a[corners[:, 2]] * b[:, 2:3]


def scatter(raster: AtlasTexels, values: np.ndarray, fill: float = 0.0) -> np.ndarray:
    """Compact per-texel values (M, ...) -> full ``(N, N, ...)`` float32 grid, ``fill`` on empty texels."""
    n = raster.size
    out = np.full((n * n,) + values.shape[1:], fill, np.float32)
    out[raster.texels] = values
    return out.reshape((n, n) + values.shape[1:])


@lru_cache(maxsize=4)
def uv_raster(model: HeadModel, size: int) -> AtlasTexels:
    """Rasterize ``model``'s UV layout at ``size x size`` (cached per model object and size).

    Uses :func:`engine.texture.uv_raster.rasterize_uv` (texel centres, row 0 = top). Every part
    (skin, eyes, teeth, tongue) is included.
    """
    if size < 16 or size > 8192:
        raise ShapeError(f"texture size must be in [16, 8192], got {size}.")
    r = rasterize_uv(model.uvs.numpy(), model.uv_faces.numpy(), size)
    face_id = r.triangle.astype(np.int64)
    texels = np.flatnonzero(face_id.reshape(-1) >= 0)
    bary = r.bary.reshape(-1, 3)[texels].astype(np.float32)
    return AtlasTexels(size, r.triangle.astype(np.int32), texels, face_id.reshape(-1)[texels], bary)


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals (V, 3) float32 of a mesh (V, 3) with triangles (F, 3)."""
    v = vertices.astype(np.float64, copy=False)
    fn = np.cross(v[faces[:, 1]] - v[faces[:, 0]], v[faces[:, 2]] - v[faces[:, 0]])
    n = np.zeros_like(v)
    for k in range(3):
        np.add.at(n, faces[:, k], fn)
    return (n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)).astype(np.float32)


@dataclass(frozen=True)
class TexelGeometry:
    """Posed 3D geometry of the covered texels (compact, aligned with ``AtlasTexels.texels``).

    ``position`` (M, 3) float32 head-space metres; ``normal`` (M, 3) float32 unit, interpolated vertex
    normals of the posed mesh; ``face_region`` (M,) int64 region code (``HeadModel.region_names``);
    ``face_part`` (M,) int64 part code (``HeadModel.part_names``).
    """

    position: np.ndarray
    normal: np.ndarray
    face_region: np.ndarray
    face_part: np.ndarray


def texel_geometry(raster: AtlasTexels, model: HeadModel, vertices: np.ndarray) -> TexelGeometry:
    """Per-texel positions and normals of ``vertices`` (V, 3) (posed head space) on ``raster``."""
    faces = model.faces.numpy()
    v = _check_vertices(vertices, model)
    pos = raster.interpolate(v, faces)
    nrm = raster.interpolate(vertex_normals(v, faces), faces)
    nrm /= np.maximum(np.linalg.norm(nrm, axis=1, keepdims=True), 1e-12)
    fr = model.face_region.numpy()[raster.tex_face]
    fp = model.face_part.numpy()[raster.tex_face]
    return TexelGeometry(pos.astype(np.float32), nrm.astype(np.float32), fr, fp)


def _check_vertices(vertices: np.ndarray, model: HeadModel) -> np.ndarray:
    v = np.asarray(vertices.detach().cpu().numpy() if isinstance(vertices, torch.Tensor) else vertices)
    if v.shape != (model.num_vertices, 3):
        raise ShapeError(f"vertices must be ({model.num_vertices}, 3), got {tuple(v.shape)}.")
    return v.astype(np.float32)


@dataclass(frozen=True)
class CameraView:
    """The head rasterized from the photo's camera at the working resolution.

    ``depth`` (H, W) float32: camera-space z (metres) of the nearest surface, +inf on background.
    ``face_id`` (H, W) int32: triangle index, -1 on background.
    ``edge_distance`` (H, W) float32: pixels to the nearest silhouette / depth discontinuity (> 1 cm)
    or image border; used to down-weight texels sampled near edges.
    ``rast`` the rasterizer output ``[1, H, W, 4]`` (torch, on the device of the runtime that made it),
    reusable for renders at the same camera with that runtime.
    """

    depth: np.ndarray
    face_id: np.ndarray
    edge_distance: np.ndarray
    rast: torch.Tensor | None = None


def camera_view(model: HeadModel, vertices: np.ndarray, K: np.ndarray, R: np.ndarray, t: np.ndarray,
                width: int, height: int, depth_jump_m: float = 0.01, runtime: Runtime = CPU) -> CameraView:
    """Rasterize the posed head (all parts) from the camera ``K, R, t`` into a ``height x width`` image
    (on ``runtime``'s device; the edge analysis is numpy on the CPU)."""
    v = torch.from_numpy(_check_vertices(vertices, model))
    Kt, Rt, tt = (torch.as_tensor(np.asarray(a, np.float32)) for a in (K, R, t))
    clip = opencv_to_clip(v, Kt, Rt, tt.reshape(3), width, height)[None].contiguous()
    tri = runtime.index(model.faces)
    with torch.no_grad():
        rast, _ = rasterize(runtime.context(), runtime.tensor(clip), tri, (height, width), grad_db=False)
        zc = (v @ Rt.T + tt.reshape(1, 3))[:, 2:3]
        z, _ = interpolate(runtime.tensor(zc.contiguous()), rast, tri, backend=runtime.backend)
    fid = runtime.host(rast[0, ..., 3]).numpy().astype(np.int64) - 1
    depth = np.where(fid >= 0, runtime.host(z[0, ..., 0]).numpy(), np.inf).astype(np.float32)
    # Edges: background, depth jumps (occluding contours such as the nose over the far cheek), border.
    finite = np.where(np.isfinite(depth), depth, 1e3).astype(np.float32)
    k = np.ones((3, 3), np.uint8)
    jump = (cv2.dilate(finite, k) - cv2.erode(finite, k)) > depth_jump_m
    good = (fid >= 0) & ~jump
    good[0, :] = good[-1, :] = good[:, 0] = good[:, -1] = False
    dist = cv2.distanceTransform(good.astype(np.uint8), cv2.DIST_L2, 3)
    return CameraView(depth, fid.astype(np.int32), dist.astype(np.float32), rast)


@dataclass(frozen=True)
class UnwrapSettings:
    """Knobs of the visibility weight.

    ``min_angle_deg``: weight 0 below this angle between the surface and the view ray (grazing).
    ``angle_power``: weight ``((cos - c0) / (1 - c0)) ** angle_power`` above it.
    ``edge_ramp``: weight ramps 0 -> 1 over this fraction of the face width (pixels) away from
    silhouettes, occlusion edges and the image border.
    ``depth_tolerance_m``: slack of the depth test (plus a slope term for oblique surfaces).
    ``saturation``: a photo value at or above this (any channel, 3x3 max) counts as clipped.
    """

    min_angle_deg: float = 15.0
    angle_power: float = 0.75
    edge_ramp: float = 0.025
    depth_tolerance_m: float = 0.003
    saturation: float = 0.98


@dataclass(frozen=True)
class Unwrap:
    """The photo resampled into UV space (all grids ``(N, N, ...)`` float32, row 0 = top).

    ``color`` (N, N, 3) linear RGB sampled bilinearly (0 where not visible).
    ``weight`` (N, N) in [0, 1]: how much to trust ``color`` (0 = unseen / occluded / grazing / edge).
    ``visible`` (N, N) bool: passes the depth test and faces the camera.
    ``position`` / ``normal`` (N, N, 3): posed head-space position (metres) and unit normal.
    ``view_dir`` (N, N, 3): unit head-space direction from the texel toward the camera centre.
    ``pixel`` (N, N, 2): photo pixel (column, row) the texel projects to.
    ``covered`` (N, N) bool: the texel belongs to a triangle (not a UV gutter).
    ``region`` (N, N) int16 region code (``HeadModel.region_names``), -1 in gutters.
    ``part`` (N, N) int16 part code (``HeadModel.part_names``), -1 in gutters.
    ``saturated`` (N, N) bool: the photo is clipped there (a channel >= ``UnwrapSettings.saturation``),
    so the colour is only a lower bound.
    """

    color: np.ndarray
    weight: np.ndarray
    visible: np.ndarray
    position: np.ndarray
    normal: np.ndarray
    view_dir: np.ndarray
    pixel: np.ndarray
    covered: np.ndarray
    region: np.ndarray
    part: np.ndarray
    saturated: np.ndarray


def unwrap_photo(photo: np.ndarray, K: np.ndarray, R: np.ndarray, t: np.ndarray, vertices: np.ndarray,
                 model: HeadModel, size: int, person_mask: np.ndarray | None = None,
                 settings: UnwrapSettings = UnwrapSettings(), view: CameraView | None = None,
                 runtime: Runtime = CPU, clipped: np.ndarray | None = None) -> Unwrap:
    """Sample the linear ``photo`` (H, W, 3) into the ``size x size`` atlas of the posed ``vertices``.

    Args:
        photo: (H, W, 3) float32 linear RGB in [0, 1], row 0 = top.
        K, R, t: the photo's camera, ``pixel = K (R X + t)``.
        vertices: (V, 3) posed head-space vertices (metres).
        model: the head model (topology, UVs, regions).
        size: texture size N.
        person_mask: optional (H, W) in [0, 1]; texels sampled outside the person get weight 0.
        view: a precomputed :func:`camera_view` (else rasterized here, on ``runtime``).
        runtime: where that render runs; the rest is numpy on the CPU.
        clipped: optional (H, W) bool, the pixels whose colour the photo lost (default: any channel at
            or above ``settings.saturation``; pass :func:`engine.texture.unclip.reconstruct_clipped`'s
            ``lost`` for a photo whose partly clipped pixels were reconstructed).
    """
    if photo.ndim != 3 or photo.shape[2] != 3:
        raise ShapeError(f"photo must be (H, W, 3), got {tuple(photo.shape)}.")
    h, w = photo.shape[:2]
    K, R, t = (np.asarray(a, np.float64) for a in (K, R, t))
    t = t.reshape(3)
    raster = uv_raster(model, size)
    geo = texel_geometry(raster, model, vertices)
    if view is None:
        view = camera_view(model, vertices, K, R, t, w, h, runtime=runtime)

    cam = geo.position.astype(np.float64) @ R.T + t
    z = cam[:, 2]
    pix = (cam @ K.T)[:, :2] / np.maximum(z, 1e-6)[:, None]
    centre = -R.T @ t
    vdir = centre[None, :] - geo.position
    vdir /= np.maximum(np.linalg.norm(vdir, axis=1, keepdims=True), 1e-12)
    cos = np.einsum("ij,ij->i", geo.normal, vdir)

    # Depth test against the (3x3 min-filtered, i.e. strict near occluders) camera depth buffer.
    near = cv2.erode(np.where(np.isfinite(view.depth), view.depth, 1e3).astype(np.float32), np.ones((3, 3), np.uint8))
    zbuf = _sample(near[..., None], pix, cv2.INTER_NEAREST, border=1e3)[:, 0]
    px_m = z / float(K[0, 0])  # metres per pixel at the texel
    slope = np.sqrt(np.clip(1.0 - cos**2, 0.0, 1.0)) / np.maximum(cos, 0.2)
    tol = settings.depth_tolerance_m + 2.0 * px_m * slope
    inside = (pix[:, 0] >= 0) & (pix[:, 0] <= w - 1) & (pix[:, 1] >= 0) & (pix[:, 1] <= h - 1)
    visible = inside & (cos > 0.0) & (z <= zbuf + tol)

    c0 = float(np.sin(np.deg2rad(settings.min_angle_deg)))
    w_angle = np.clip((cos - c0) / (1.0 - c0), 0.0, 1.0) ** settings.angle_power
    face_px = _face_width_px(geo, pix)
    ramp = max(2.0, settings.edge_ramp * face_px)
    edge = _sample(view.edge_distance[..., None], pix, cv2.INTER_LINEAR, border=0.0)[:, 0]
    w_edge = _smoothstep(edge / ramp)
    weight = np.where(visible, w_angle * w_edge, 0.0)
    if person_mask is not None:
        pm = np.asarray(person_mask, np.float32)
        if pm.shape != (h, w):
            raise ShapeError(f"person_mask must be ({h}, {w}), got {tuple(pm.shape)}.")
        m = _sample(pm[..., None], pix, cv2.INTER_LINEAR, border=0.0)[:, 0]
        weight = weight * np.clip((m - 0.3) / 0.4, 0.0, 1.0)
    color = _sample(np.ascontiguousarray(photo, np.float32), pix, cv2.INTER_LINEAR, border=0.0)
    color = np.where(visible[:, None], color, 0.0)
    if clipped is None:
        clipped = photo.max(axis=2) >= settings.saturation
    clipped = cv2.dilate(np.asarray(clipped, np.uint8), np.ones((3, 3), np.uint8))
    sat = visible & (_sample(clipped.astype(np.float32)[..., None], pix, cv2.INTER_NEAREST, border=0.0)[:, 0] > 0.5)

    return Unwrap(
        color=scatter(raster, color),
        weight=scatter(raster, weight.astype(np.float32)),
        visible=scatter(raster, visible.astype(np.float32)) > 0.5,
        position=scatter(raster, geo.position),
        normal=scatter(raster, geo.normal),
        view_dir=scatter(raster, vdir.astype(np.float32)),
        pixel=scatter(raster, pix.astype(np.float32), fill=-1.0),
        covered=raster.mask,
        region=scatter(raster, geo.face_region.astype(np.float32), fill=-1.0).astype(np.int16),
        part=scatter(raster, geo.face_part.astype(np.float32), fill=-1.0).astype(np.int16),
        saturated=scatter(raster, sat.astype(np.float32)) > 0.5,
    )


def _face_width_px(geo: TexelGeometry, pix: np.ndarray) -> float:
    """Width in pixels of the projected skin (a scale for edge ramps)."""
    sel = geo.face_part == 0
    p = pix[sel] if sel.any() else pix
    lo, hi = np.percentile(p[:, 0], [2, 98])
    return float(max(hi - lo, 1.0))


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _sample(img: np.ndarray, pix: np.ndarray, interp: int, border: float) -> np.ndarray:
    """Sample ``img`` (H, W, C) at pixel (column, row) coordinates ``pix`` (M, 2) -> (M, C) float32."""
    m = pix.shape[0]
    cols = 1024 if m >= 1024 else max(m, 1)
    rows = -(-m // cols)
    pad = rows * cols - m
    p = pix.astype(np.float32)
    if pad:
        p = np.concatenate([p, np.full((pad, 2), -10.0, np.float32)])
    mx = np.ascontiguousarray(p[:, 0].reshape(rows, cols))
    my = np.ascontiguousarray(p[:, 1].reshape(rows, cols))
    c = img.shape[2]
    out = cv2.remap(img, mx, my, interp, borderMode=cv2.BORDER_CONSTANT, borderValue=(border,) * 4)
    return out.reshape(rows * cols, c)[:m]
