"""Texture metrics: brightness symmetry error, the UV mirror map of the head, PSNR, coverage; UV raster."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from engine.head.model import load_head_model
from engine.texture._arrays import ShapeError
from engine.texture.metrics import (
    brightness_symmetry_error,
    brightness_symmetry_map,
    coverage,
    mirror_texel_map_from_mesh,
    psnr,
)
from engine.texture.uv_raster import interpolate_uv, rasterize_uv, texel_to_uv, uv_to_texel

SIZE = 256


def _flip_map(h: int, w: int) -> np.ndarray:
    rows, cols = np.mgrid[:h, :w].astype(np.float32)
    return np.stack([rows, w - 1 - cols], axis=-1)


def _symmetric_texture(h: int, w: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    half = cv2.GaussianBlur(rng.random((h, w // 2, 3), dtype=np.float32), (0, 0), 6) * 0.5 + 0.25
    return np.ascontiguousarray(np.concatenate([half, half[:, ::-1]], axis=1))


def test_bs_error_zero_for_symmetric_texture_and_grows_with_one_sided_shadow() -> None:
    h, w = 128, 128
    tex = _symmetric_texture(h, w)
    skin = np.ones((h, w), np.float32)
    skin[:10] = 0
    flip = _flip_map(h, w)
    assert brightness_symmetry_error(tex, flip, skin) == pytest.approx(0.0, abs=1e-4)
    errors = []
    for strength in (0.1, 0.3, 0.6):
        shadowed = tex.copy()
        shadowed[:, w // 2:] *= 1.0 - strength * np.linspace(0, 1, w // 2, dtype=np.float32)[None, :, None]
        errors.append(brightness_symmetry_error(shadowed, flip, skin))
    assert 0.5 < errors[0] < errors[1] < errors[2]


def test_bs_error_counts_only_skin_with_skin_mirror() -> None:
    h, w = 64, 64
    tex = _symmetric_texture(h, w)
    tex[:, :8] = 1.0  # asymmetric, but its mirror texels are not skin
    skin = np.ones((h, w), np.float32)
    skin[:, w - 8:] = 0
    err = brightness_symmetry_map(tex, _flip_map(h, w), skin, blur_sigma=0)
    assert np.isnan(err[:, :8]).all() and np.isnan(err[:, w - 8:]).all()
    assert brightness_symmetry_error(tex, _flip_map(h, w), skin, blur_sigma=0) == pytest.approx(0.0, abs=1e-4)
    with pytest.raises(ShapeError):
        brightness_symmetry_error(tex, _flip_map(h, w), np.zeros((h, w)))
    with pytest.raises(ShapeError):
        brightness_symmetry_error(tex, _flip_map(h, w)[:10], skin)


def test_head_mirror_map_maps_surface_points_to_their_mirror() -> None:
    m = load_head_model()
    mirror = mirror_texel_map_from_mesh(m.uvs, m.uv_faces, m.faces, m.mirror, SIZE)
    raster = rasterize_uv(m.uvs.numpy(), m.uv_faces.numpy(), SIZE)
    pos = interpolate_uv(raster, m.vertices.numpy()[m.faces.numpy()])
    valid = mirror[..., 0] >= 0
    assert valid.sum() == raster.covered.sum()
    mirrored = cv2.remap(pos, mirror[..., 1], mirror[..., 0], cv2.INTER_LINEAR)
    ri = np.clip(np.rint(mirror[..., 0]), 0, SIZE - 1).astype(int)
    ci = np.clip(np.rint(mirror[..., 1]), 0, SIZE - 1).astype(int)
    # Where the bilinear footprint stays inside the atlas, the mirrored position is (-x, y, z).
    eroded = cv2.erode(raster.covered.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    ok = valid & eroded[ri, ci]
    assert ok.mean() > 0.8 * valid.mean()
    err = np.abs(mirrored[ok] * np.array([-1, 1, 1], np.float32) - pos[ok]).max(axis=1)
    assert np.percentile(err, 99) < 1.5e-3  # metres


def test_bs_error_on_the_head_atlas() -> None:
    m = load_head_model()
    mirror = mirror_texel_map_from_mesh(m.uvs, m.uv_faces, m.faces, m.mirror, SIZE)
    raster = rasterize_uv(m.uvs.numpy(), m.uv_faces.numpy(), SIZE)
    pos = interpolate_uv(raster, m.vertices.numpy()[m.faces.numpy()])
    face = m.region_id("face")
    skin = (raster.covered & (m.face_region.numpy()[np.maximum(raster.triangle, 0)] == face)).astype(np.float32)
    # A texture that depends on |x| only is symmetric; light from +X makes it one-sided.
    base = 0.4 + 0.2 * np.cos(40 * np.abs(pos[..., :1])) * np.cos(30 * pos[..., 1:2])
    tex = np.repeat(base, 3, axis=2).astype(np.float32)
    sym = brightness_symmetry_error(tex, mirror, skin, blur_sigma=1.0)
    lit = tex * (1.0 + 0.5 * np.clip(pos[..., :1] / 0.07, -1, 1))
    asym = brightness_symmetry_error(lit, mirror, skin, blur_sigma=1.0)
    assert sym < 0.5
    assert asym > 20 * max(sym, 0.1)


def test_psnr_and_coverage() -> None:
    a = np.zeros((10, 10, 3), np.float32)
    b = a.copy()
    assert psnr(a, b) == float("inf")
    b[:5] = 0.1  # MSE = 0.005 over all texels
    assert psnr(a, b) == pytest.approx(10 * np.log10(1 / 0.005), abs=1e-4)
    mask = np.zeros((10, 10), np.float32)
    mask[5:] = 1
    assert psnr(a, b, mask) == float("inf")
    assert psnr(torch.from_numpy(a), torch.from_numpy(b), peak=255.0) > psnr(a, b)
    assert coverage(mask) == pytest.approx(0.5)
    region = np.zeros((10, 10), np.float32)
    region[4:6] = 1
    assert coverage(mask, region) == pytest.approx(0.5)
    with pytest.raises(ShapeError):
        coverage(mask, np.zeros((10, 10)))


def test_uv_raster_barycentrics_reproduce_uv_and_area() -> None:
    uv = np.array([[0.1, 0.1], [0.9, 0.2], [0.3, 0.85], [0.9, 0.9]], np.float64)
    tris = np.array([[0, 1, 2], [1, 3, 2]])
    r = rasterize_uv(uv, tris, 128)
    cov = r.covered
    rc = np.stack(np.nonzero(cov), axis=-1)
    got = interpolate_uv(r, uv[tris])[cov]
    np.testing.assert_allclose(got, texel_to_uv(rc, 128, 128), atol=1e-5)
    quad_area = 0.5 * abs(np.cross(uv[3] - uv[0], uv[2] - uv[1]))
    assert cov.sum() == pytest.approx(quad_area * 128 * 128, rel=0.03)
    np.testing.assert_allclose(uv_to_texel(texel_to_uv(rc, 128, 128), 128, 128), rc, atol=1e-9)
    # Edge-sharing triangles leave no crack: every texel inside the quad's hull is covered.
    hull = np.zeros((128, 128), np.uint8)
    cv2.fillConvexPoly(hull, np.round(uv_to_texel(uv[[0, 1, 3, 2]], 128, 128)[:, ::-1] * 16).astype(np.int32), 1,
                       shift=4)
    inner = cv2.erode(hull, np.ones((3, 3), np.uint8)) > 0
    assert cov[inner].all()
