"""Head UV atlas helpers: island / region label images and remapping of MakeHuman body-atlas images.

Texture images are ``[H, W]`` or ``[H, W, C]`` with row 0 = top; uv v is up, so texel (row, col) of a
``size``² image sits at ``u = (col + 0.5) / size``, ``v = 1 - (row + 0.5) / size`` (docs/conventions.md).
"""
from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np
from scipy.ndimage import distance_transform_edt

from engine.errors import EngineError
from engine.head.model import HeadModel, load_head_model

__all__ = [
    "EMPTY",
    "island_id_image",
    "region_mask_image",
    "remap_body_atlas_image",
    "uv_to_pixel_matrix",
]

EMPTY = -1
_SUBPIXEL_BITS = 4


def uv_to_pixel_matrix(width: int, height: int) -> np.ndarray:
    """3x3 matrix mapping homogeneous uv (v up) to pixel coords (x = col, y = row, centres at ints)."""
    return np.array([[width, 0.0, -0.5], [0.0, -height, height - 0.5], [0.0, 0.0, 1.0]])


def _pixel_coords(uv: np.ndarray, size: int) -> np.ndarray:
    m = uv_to_pixel_matrix(size, size)
    return uv @ m[:2, :2].T + m[:2, 2]


def _fill_triangles(img: np.ndarray, pts: np.ndarray, value: int) -> None:
    """Fill triangles ``pts (N,3,2)`` (pixel coords) into ``img`` in place, edges included."""
    poly = np.round(pts * (1 << _SUBPIXEL_BITS)).astype(np.int32)
    if len(poly) == 0:
        return
    cv2.fillPoly(img, list(poly), int(value), lineType=cv2.LINE_8, shift=_SUBPIXEL_BITS)
    cv2.polylines(img, list(poly), True, int(value), thickness=1, lineType=cv2.LINE_8, shift=_SUBPIXEL_BITS)


def _check_size(size: int) -> None:
    if not isinstance(size, (int, np.integer)) or size < 16 or size > 16384:
        raise EngineError(f"Atlas size must be an integer in [16, 16384], got {size!r}.")


@lru_cache(maxsize=8)
def _island_id_image_cached(size: int, dilate_px: int, model: HeadModel) -> np.ndarray:
    uv = _pixel_coords(model.uvs.numpy().astype(np.float64), size)
    uvf = model.uv_faces.numpy()
    face_island = model.uv_island.numpy()[uvf[:, 0]]
    out = np.full((size, size), EMPTY, np.int16)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * dilate_px + 1, 2 * dilate_px + 1))
    for k in range(len(model.island_names)):
        mask = np.zeros((size, size), np.uint8)
        _fill_triangles(mask, uv[uvf[face_island == k]], 1)
        if dilate_px > 0:
            mask = cv2.dilate(mask, kernel)
        out[(mask > 0) & (out == EMPTY)] = k
    out.setflags(write=False)
    return out


def island_id_image(size: int = 1024, dilate_px: int = 2, model: HeadModel | None = None) -> np.ndarray:
    """(size, size) int16 island id per texel (index into ``model.island_names``), ``EMPTY`` (-1) outside.

    Islands are grown by ``dilate_px`` texels into the gutter (the packer leaves >= 6 px at 1024²,
    i.e. dilate_px <= 2 at 1024² never lets two islands touch). Read-only, cached.
    """
    _check_size(size)
    return _island_id_image_cached(int(size), int(dilate_px), model or load_head_model())


@lru_cache(maxsize=8)
def _region_mask_cached(size: int, dilate_px: int, model: HeadModel) -> np.ndarray:
    uv = _pixel_coords(model.uvs.numpy().astype(np.float64), size)
    uvf = model.uv_faces.numpy()
    reg = model.face_region.numpy()
    out = np.full((size, size), 255, np.uint8)
    for r in range(len(model.region_names)):
        _fill_triangles(out, uv[uvf[reg == r]], r)
    inside = island_id_image(size, dilate_px, model) != EMPTY
    empty = out == 255
    if empty.any() and (~empty).any():
        _, (ri, ci) = distance_transform_edt(empty, return_indices=True)
        grown = out[ri, ci]
        out = np.where(empty & inside, grown, out)
    out.setflags(write=False)
    return out


def region_mask_image(size: int = 1024, dilate_px: int = 2, model: HeadModel | None = None) -> np.ndarray:
    """(size, size) uint8 head-atlas region label per texel: index into ``model.region_names``; 255 outside.

    Labels come from ``HeadModel.face_region`` (per triangle); texels within ``dilate_px`` of an island
    take the nearest label, so seams are covered for bilinear lookups. Read-only, cached.
    """
    _check_size(size)
    return _region_mask_cached(int(size), int(dilate_px), model or load_head_model())


def remap_body_atlas_image(img: np.ndarray, size: int, model: HeadModel | None = None,
                           dilate_px: int = 2) -> np.ndarray:
    """Resample a MakeHuman full-body-atlas image (e.g. ``mpfb_face.jpg``) into the head atlas.

    img: (H, W) or (H, W, C) array of any dtype cv2 can remap (uint8, uint16, float32, float64), row 0 =
        top, any resolution (the body atlas is square in MakeHuman, but H != W works).
    Returns (size, size[, C]) of the same dtype: every head-atlas texel samples (bilinear) the body atlas
    at its own body uv (interpolated over its triangle, so the non-affine face magnification of the head
    atlas is followed exactly); texels within ``dilate_px`` of an island take their nearest texel's
    body uv; 0 elsewhere.
    """
    _check_size(size)
    if not isinstance(img, np.ndarray) or img.ndim not in (2, 3) or img.shape[0] < 2 or img.shape[1] < 2:
        raise EngineError("Body-atlas image must be a (H, W) or (H, W, C) numpy array.")
    model = model or load_head_model()
    h, w = img.shape[:2]
    map_x, map_y, valid = _body_pixel_map(int(size), int(dilate_px), model, w, h)
    channels = [img] if img.ndim == 2 or img.shape[2] <= 4 else [img[..., c] for c in range(img.shape[2])]
    warped = [cv2.remap(ch, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE) for ch in channels]
    out = warped[0] if len(warped) == 1 else np.stack(warped, axis=-1)
    if out.ndim == 2 and img.ndim == 3:
        out = out[..., None]
    out[~valid] = 0
    return out


def _body_pixel_map(size: int, dilate_px: int, model: HeadModel, width: int, height: int
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from scipy.ndimage import distance_transform_edt

    from engine.texture.uv_raster import interpolate_uv, rasterize_uv

    uv_faces = model.uv_faces.numpy()
    raster = rasterize_uv(model.uvs.numpy(), uv_faces, size)
    body = interpolate_uv(raster, model.uvs_body.numpy()[uv_faces])
    covered = raster.covered
    dist, (rows, cols) = distance_transform_edt(~covered, return_indices=True)
    body = body[rows, cols]
    valid = dist <= dilate_px
    src = body @ uv_to_pixel_matrix(width, height)[:2, :2].T + uv_to_pixel_matrix(width, height)[:2, 2]
    return src[..., 0].astype(np.float32), src[..., 1].astype(np.float32), valid
