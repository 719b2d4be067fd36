"""Texture quality metrics: brightness symmetry (BS) error, PSNR, coverage, and the UV symmetry map.

Images are ``[H, W, 3]`` float32 in [0, 1], row 0 = top texture row (docs/conventions.md); masks
``[H, W]`` in [0, 1] where a texel counts when > 0.5. Numpy arrays or CPU torch tensors are accepted.
"""
from __future__ import annotations

import cv2
import numpy as np

from engine.texture._arrays import ArrayLike, ShapeError, check_image, check_mask, to_numpy
from engine.texture.color import linear_to_srgb, luminance
from engine.texture.uv_raster import rasterize_uv, uv_to_texel

__all__ = [
    "brightness_symmetry_error",
    "brightness_symmetry_map",
    "mirror_texel_map_from_mesh",
    "psnr",
    "coverage",
    "DEFAULT_BS_SIGMA_AT_1024",
]

DEFAULT_BS_SIGMA_AT_1024 = 4.0
"""Default blur for the BS error: 4 texels at 1024² (scaled with the texture width)."""



def _check_mirror(mirror: ArrayLike, shape: tuple[int, int]) -> np.ndarray:
    mm = to_numpy(mirror)
    if mm.ndim != 3 or mm.shape[2] != 2 or tuple(mm.shape[:2]) != tuple(shape):
        raise ShapeError(f"mirror_texel_map must have shape [{shape[0]}, {shape[1]}, 2], got {tuple(mm.shape)}.")
    return mm


def brightness_symmetry_map(
    albedo: ArrayLike,
    mirror_texel_map: ArrayLike,
    skin_mask: ArrayLike,
    blur_sigma: float | None = None,
    is_srgb: bool = False,
) -> np.ndarray:
    """Per-texel brightness asymmetry ``|Y(p) - Y(mirror(p))|`` (0-255 luma), NaN where not counted.

    See :func:`brightness_symmetry_error` for the exact definition; the error is the mean of this map
    over its finite texels.
    """
    img = check_image(albedo, "albedo")
    h, w = img.shape[:2]
    skin = check_mask(skin_mask, "skin_mask", (h, w)) > 0.5
    mm = _check_mirror(mirror_texel_map, (h, w))
    sigma = DEFAULT_BS_SIGMA_AT_1024 * w / 1024.0 if blur_sigma is None else float(blur_sigma)
    if sigma < 0:
        raise ShapeError(f"blur_sigma must be >= 0, got {blur_sigma}.")
    srgb = np.clip(img, 0.0, 1.0) if is_srgb else np.asarray(linear_to_srgb(img))
    luma = luminance(srgb) * np.float32(255.0)
    m = skin.astype(np.float32)
    if sigma > 0:
        num = cv2.GaussianBlur(luma * m, (0, 0), sigma, borderType=cv2.BORDER_CONSTANT)
        den = cv2.GaussianBlur(m, (0, 0), sigma, borderType=cv2.BORDER_CONSTANT)
        blurred = num / np.maximum(den, 1e-6)
    else:
        blurred = luma
    rows, cols = mm[..., 0], mm[..., 1]
    has_mirror = (rows >= 0) & (cols >= 0) & (rows <= h - 1) & (cols <= w - 1)
    ri = np.clip(np.rint(rows), 0, h - 1).astype(np.int64)
    ci = np.clip(np.rint(cols), 0, w - 1).astype(np.int64)
    counted = skin & has_mirror & skin[ri, ci]
    mirrored = cv2.remap(blurred, cols, rows, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    out = np.full((h, w), np.nan, np.float32)
    out[counted] = np.abs(blurred[counted] - mirrored[counted])
    return out


def brightness_symmetry_error(
    albedo: ArrayLike,
    mirror_texel_map: ArrayLike,
    skin_mask: ArrayLike,
    blur_sigma: float | None = None,
    is_srgb: bool = False,
) -> float:
    """Brightness symmetry (BS) error of a UV albedo: low for evenly lit textures, high for baked shading.

    Definition (all steps on the ``[H, W]`` texture grid):
        1. Encode to sRGB (IEC 61966-2-1) unless ``is_srgb``; scale to 0-255 (no rounding).
        2. Luma ``Y = 0.2126 R' + 0.7152 G' + 0.0722 B'`` (Rec.709 weights on the sRGB values).
        3. Blur ``Y`` with a Gaussian of ``blur_sigma`` texels (default 4 texels at 1024², scaled
           with the width), normalised over skin texels only: ``G*(Y M) / G*(M)``, ``M`` = skin mask
           > 0.5, so non-skin never leaks in; this removes pores and one-sided fine detail.
        4. For each texel p, look up the blurred luma at its mirror ``mirror_texel_map[p]`` =
           (row, col) of the left-right mirrored surface point (bilinear; (-1, -1) = no mirror).
        5. A texel counts when it is skin, has a mirror, and the texel nearest its mirror is skin.
        6. BS error = mean over counted texels of ``|Y_blur(p) - Y_blur(mirror(p))|``.
    Each symmetric pair is counted twice (once from each side), which does not change the mean.

    Args:
        albedo: ``[H, W, 3]`` linear RGB in [0, 1] (or sRGB-encoded with ``is_srgb=True``).
        mirror_texel_map: ``[H, W, 2]`` float (row, col) of each texel's mirror, e.g. from
            :func:`mirror_texel_map_from_mesh`.
        skin_mask: ``[H, W]`` in [0, 1]; the texels evaluated (e.g. face skin, excluding eyes/lips).
        blur_sigma: Gaussian sigma in texels; 0 disables the blur.
        is_srgb: the albedo is already sRGB-encoded.

    Returns:
        The BS error in 0-255 luma units (0 = perfectly symmetric). Raises ShapeError when no texel
        counts.
    """
    err = brightness_symmetry_map(albedo, mirror_texel_map, skin_mask, blur_sigma, is_srgb)
    finite = np.isfinite(err)
    if not finite.any():
        raise ShapeError("brightness_symmetry_error: no skin texel has a skin mirror texel.")
    return float(err[finite].mean(dtype=np.float64))


def mirror_texel_map_from_mesh(
    uvs: ArrayLike, uv_faces: ArrayLike, faces: ArrayLike, vertex_mirror: ArrayLike, size: int
) -> np.ndarray:
    """Left-right symmetry map of a UV atlas: for each texel, the texel of the mirrored surface point.

    The atlas is rasterized in UV space; a texel inside triangle ``f`` at barycentrics ``b`` maps to
    the point with the same barycentrics in the mirrored triangle ``g`` (the face whose vertices are
    ``vertex_mirror[faces[f]]``), converted to continuous texel coordinates. Exact for a mirror-
    symmetric triangulation; texels of triangles with no mirrored triangle get (-1, -1).

    Args:
        uvs: ``[T, 2]`` uv coordinates (v up). uv_faces: ``[F, 3]`` uv index per corner.
        faces: ``[F, 3]`` vertex index per corner. vertex_mirror: ``[V]`` mirrored vertex index.
        size: texture width = height.

    Returns:
        ``[size, size, 2]`` float32 (row, col) with texel centres at integers; (-1, -1) where the
        texel is outside the atlas or has no mirror.
    """
    uv = to_numpy(uvs).astype(np.float64)
    uvf = np.asarray(to_numpy(uv_faces), dtype=np.int64)
    f = np.asarray(to_numpy(faces), dtype=np.int64)
    mir = np.asarray(to_numpy(vertex_mirror), dtype=np.int64)
    if f.shape != uvf.shape or f.ndim != 2 or f.shape[1] != 3:
        raise ShapeError(f"faces {tuple(f.shape)} and uv_faces {tuple(uvf.shape)} must both be [F, 3].")
    if mir.ndim != 1 or (f.size and f.max() >= len(mir)):
        raise ShapeError("vertex_mirror must be a [V] index array covering every face vertex.")
    # Mirrored triangle and the matching corner order, via a sorted-vertex key.
    key = np.sort(f, axis=1)
    lookup = {tuple(k): i for i, k in enumerate(key.tolist())}
    mf = mir[f]
    g = np.array([lookup.get(tuple(k), -1) for k in np.sort(mf, axis=1).tolist()], dtype=np.int64)
    ok = g >= 0
    gs = np.where(ok, g, 0)
    match = f[gs][:, None, :] == mf[:, :, None]  # [F, corner of f, corner of g]
    ok &= match.any(axis=2).all(axis=1)
    corner = match.argmax(axis=2)
    corner_uv = uv[uvf[gs[:, None], corner]]
    raster = rasterize_uv(uv, uvf, size)
    out = np.full((size, size, 2), -1.0, np.float32)
    cov = raster.covered
    t = raster.triangle[cov]
    mirrored_uv = np.einsum("nk,nkc->nc", raster.bary[cov].astype(np.float64), corner_uv[t])
    rc = uv_to_texel(mirrored_uv, size, size).astype(np.float32)
    rc[~ok[t]] = -1.0
    out[cov] = rc
    return out


def psnr(a: ArrayLike, b: ArrayLike, mask: ArrayLike | None = None, peak: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB between ``[H, W, C]`` images over ``mask > 0.5`` (all texels if None).

    ``10 log10(peak^2 / MSE)`` with the MSE averaged over the counted texels and all channels;
    ``inf`` for identical images. Compare in the colour space you care about (linear or sRGB).
    """
    x = check_image(a, "a", channels=None)
    y = check_image(b, "b", channels=None)
    if x.shape != y.shape:
        raise ShapeError(f"a {tuple(x.shape)} and b {tuple(y.shape)} must have the same shape.")
    sel = np.ones(x.shape[:2], bool) if mask is None else check_mask(mask, "mask", x.shape[:2]) > 0.5
    if not sel.any():
        raise ShapeError("psnr: the mask selects no texel.")
    mse = float(np.mean((x[sel].astype(np.float64) - y[sel]) ** 2))
    return float("inf") if mse == 0.0 else float(10.0 * np.log10(peak * peak / mse))


def coverage(mask: ArrayLike, region: ArrayLike | None = None) -> float:
    """Fraction in [0, 1] of the ``region > 0.5`` texels (all texels if None) where ``mask > 0.5``.

    E.g. the share of the face skin that the photo saw. Raises ShapeError for an empty region.
    """
    m = check_mask(mask, "mask") > 0.5
    r = np.ones_like(m) if region is None else check_mask(region, "region", m.shape) > 0.5
    n = int(r.sum())
    if n == 0:
        raise ShapeError("coverage: the region selects no texel.")
    return float((m & r).sum() / n)
