"""Blending blocks: Laplacian pyramid blend, Poisson seamless cloning, push-pull fill, feathering."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as sla
from scipy.ndimage import distance_transform_edt
import torch
from skimage import data

from engine.texture._arrays import ShapeError
from engine.texture.blend import dilate_fill, feather, laplacian_pyramid_blend, poisson_blend
from engine.texture.color import luminance, srgb_to_linear


def _astronaut() -> np.ndarray:
    return np.asarray(srgb_to_linear(data.astronaut().astype(np.float32) / 255.0))


def _disc(shape: tuple[int, int], centre: tuple[float, float], radius: float) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (((yy - centre[0]) ** 2 + (xx - centre[1]) ** 2) < radius**2).astype(np.float32)


def _exact_poisson(target: np.ndarray, source: np.ndarray, unknown: np.ndarray) -> np.ndarray:
    """Reference: sparse direct solve of the same discrete equations (Neumann at the image border)."""
    h, w = unknown.shape
    idx = -np.ones((h, w), np.int64)
    n = int(unknown.sum())
    idx[unknown] = np.arange(n)
    ys, xs = np.nonzero(unknown)
    rows, cols, vals = [], [], []
    diag = np.zeros(n)
    rhs = np.zeros((n, target.shape[2]))
    for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
        qy, qx = ys + dy, xs + dx
        inside = (qy >= 0) & (qy < h) & (qx >= 0) & (qx < w)
        k, qy, qx = np.arange(n)[inside], qy[inside], qx[inside]
        diag[k] += 1
        rhs[k] += source[ys[inside], xs[inside]] - source[qy, qx]
        un = unknown[qy, qx]
        rows += list(k[un]); cols += list(idx[qy[un], qx[un]]); vals += [-1.0] * int(un.sum())
        np.add.at(rhs, k[~un], target[qy[~un], qx[~un]])
    a = sp.csr_matrix((vals + list(diag), (rows + list(range(n)), cols + list(range(n)))), shape=(n, n))
    out = target.astype(np.float64).copy()
    out[unknown] = sla.spsolve(a.tocsc(), rhs)
    return out


# ---------------------------------------------------------------- Laplacian pyramid


def test_laplacian_blend_of_constants_is_exact_far_from_seam_and_smooth_across() -> None:
    h, w = 128, 256
    a = np.full((h, w, 3), 0.8, np.float32)
    b = np.full((h, w, 3), 0.2, np.float32)
    mask = np.zeros((h, w), np.float32)
    mask[:, : w // 2] = 1.0
    out = laplacian_pyramid_blend(a, b, mask, levels=5)
    np.testing.assert_allclose(out[:, :40], 0.8, atol=1e-4)
    np.testing.assert_allclose(out[:, -40:], 0.2, atol=1e-4)
    row = out[h // 2, :, 0]
    steps = np.abs(np.diff(row))
    assert steps.max() < 0.05 * 0.6  # the 0.6 jump is spread over many pixels: no step at the seam
    assert np.all(np.diff(row) <= 1e-5)  # monotonic transition, no ringing
    assert 0.45 < row[w // 2 - 1] < 0.55 or 0.45 < row[w // 2] < 0.55


def test_laplacian_blend_hard_masks_return_the_inputs() -> None:
    img = _astronaut()[:200, :300]
    other = img[::-1].copy()
    np.testing.assert_allclose(laplacian_pyramid_blend(img, other, np.ones(img.shape[:2])), img, atol=1e-5)
    np.testing.assert_allclose(laplacian_pyramid_blend(img, other, np.zeros(img.shape[:2])), other, atol=1e-5)


def test_laplacian_blend_shape_errors_and_torch() -> None:
    with pytest.raises(ShapeError):
        laplacian_pyramid_blend(np.zeros((8, 8, 3)), np.zeros((8, 9, 3)), np.zeros((8, 8)))
    out = laplacian_pyramid_blend(torch.zeros(33, 17, 3), torch.ones(33, 17, 3), torch.ones(33, 17) * 0.25)
    assert isinstance(out, torch.Tensor) and out.shape == (33, 17, 3)
    np.testing.assert_allclose(out.numpy(), 0.75, atol=1e-5)


# ---------------------------------------------------------------- Poisson


def test_poisson_recovers_target_when_boundary_matches_up_to_a_constant() -> None:
    img = _astronaut()
    mask = _disc(img.shape[:2], (200, 250), 90)
    target = img.copy()
    target[mask > 0.5] = 0.0  # the inside of the target is irrelevant
    source = img + 0.07  # same gradients, offset colour
    out = poisson_blend(target, source, mask, tol=1e-5)
    assert np.abs(out - img).max() < 2e-3
    np.testing.assert_array_equal(out[mask < 0.5], target[mask < 0.5])


def test_poisson_matches_direct_solve_with_border_and_many_regions() -> None:
    rng = np.random.default_rng(3)
    h, w = 80, 96
    target = rng.random((h, w, 3), dtype=np.float32)
    source = np.asarray(srgb_to_linear(rng.random((h, w, 3), dtype=np.float32)))
    mask = np.zeros((h, w), np.float32)
    mask[:, :7] = 1  # touches three image borders
    mask[30:34, 40:90] = 1  # thin bar
    for cy, cx, r in ((15, 30, 6), (60, 60, 9), (70, 20, 5), (20, 85, 7), (5, 60, 4)):
        mask += _disc((h, w), (cy, cx), r)
    mask[h - 3:, w - 3:] = 1  # a corner
    unknown = mask > 0.5
    want = _exact_poisson(target, source, unknown)
    got = poisson_blend(target, source, mask, tol=1e-5)
    assert np.abs(got - want).max() < 5e-4


def test_poisson_regions_cut_by_another_regions_box_are_solved_once() -> None:
    """Separate groups with overlapping boxes: the L's box cuts through the bar above it."""
    rng = np.random.default_rng(5)
    h, w = 90, 90
    target = rng.random((h, w, 3), dtype=np.float32)
    source = rng.random((h, w, 3), dtype=np.float32)
    mask = np.zeros((h, w), np.float32)
    mask[8:20, 60:88] = 1  # bar, first in scan order; its rows 19 lie in the L's box
    mask[20:80, 40:45] = 1  # the L ...
    mask[76:81, 10:81] = 1
    mask += _disc((h, w), (50, 20), 6)  # ... and a disc inside the L's box
    want = _exact_poisson(target, source, mask > 0.5)
    got = poisson_blend(target, source, mask, tol=1e-5, cluster_gap=3)
    assert np.abs(got - want).max() < 5e-4


def test_poisson_blend_is_seamless_on_a_real_photo() -> None:
    """Paste a shifted patch of the astronaut photo: the seam must look like the photo's own edges."""
    img = _astronaut()
    mask = _disc(img.shape[:2], (130, 235), 45)
    source = np.roll(img, shift=(25, -60), axis=(0, 1))  # other content, other colours
    out = poisson_blend(img, source, mask)
    naive = np.where(mask[..., None] > 0.5, source, img)

    inside = mask > 0.5
    ring_in = inside & ~np.pad(inside, 1)[2:, 1:-1] | inside & ~np.pad(inside, 1)[:-2, 1:-1]
    ys, xs = np.nonzero(ring_in)
    ny = np.where(~np.pad(inside, 1)[2:, 1:-1][ys, xs], ys + 1, ys - 1)  # the outside neighbour

    def seam_step(x: np.ndarray) -> float:
        y = np.asarray(luminance(np.asarray(x)))
        return float(np.mean(np.abs(y[ys, xs] - y[ny, xs])))

    natural = seam_step(img)  # the photo's own vertical gradient on those pixel pairs
    gy = np.abs(np.diff(np.asarray(luminance(out)), axis=0))
    interior = float(gy[(inside[:-1] & inside[1:])].mean())
    assert seam_step(out) < 1.5 * max(natural, interior)
    assert seam_step(naive) > 3.0 * seam_step(out)


def test_poisson_edge_cases() -> None:
    img = np.random.default_rng(0).random((20, 20, 3), dtype=np.float32)
    src = img[::-1].copy()
    np.testing.assert_array_equal(poisson_blend(img, src, np.zeros((20, 20))), img)
    np.testing.assert_array_equal(poisson_blend(img, src, np.ones((20, 20))), src)
    out = poisson_blend(torch.from_numpy(img), torch.from_numpy(src), torch.from_numpy(_disc((20, 20), (10, 10), 5)))
    assert isinstance(out, torch.Tensor)
    with pytest.raises(ShapeError):
        poisson_blend(img, src[:10], np.zeros((20, 20)))


# ---------------------------------------------------------------- push-pull fill


def test_dilate_fill_fills_every_hole_and_keeps_known_texels() -> None:
    img = _astronaut()[100:356, 100:356]
    rng = np.random.default_rng(4)
    known = (rng.random(img.shape[:2]) > 0.7).astype(np.float32)
    known[60:200, 80:220] = 0  # a big hole too
    holes = np.where(known[..., None] > 0.5, img, np.nan).astype(np.float32)
    out = dilate_fill(np.nan_to_num(holes), known)
    assert np.isfinite(out).all()
    np.testing.assert_array_equal(out[known > 0.5], img[known > 0.5])
    lo, hi = img[known > 0.5].min(0), img[known > 0.5].max(0)
    assert (out >= lo - 1e-5).all() and (out <= hi + 1e-5).all()
    # Sparse holes: closer to the truth than copying the nearest known texel.
    sparse = (known < 0.5) & ~np.pad(np.ones((140, 140), bool), ((60, 56), (80, 36)))
    _, (ri, ci) = distance_transform_edt(known < 0.5, return_indices=True)
    nearest = img[ri, ci]
    err = np.abs(out[sparse] - img[sparse]).mean()
    assert err < 0.9 * np.abs(nearest[sparse] - img[sparse]).mean()


def test_dilate_fill_bleeds_nearest_colour_into_a_gutter() -> None:
    img = np.zeros((64, 64, 3), np.float32)
    img[:, :32] = (0.9, 0.1, 0.1)
    img[:, 36:] = (0.1, 0.1, 0.9)
    known = np.ones((64, 64), np.float32)
    known[:, 32:36] = 0
    out = dilate_fill(img, known)
    assert out[:, 32, 0].min() > 0.6 and out[:, 35, 2].min() > 0.6


def test_dilate_fill_without_known_texels_raises() -> None:
    with pytest.raises(ShapeError):
        dilate_fill(np.zeros((8, 8, 3)), np.zeros((8, 8)))


# ---------------------------------------------------------------- feather


def test_feather_modes() -> None:
    m = np.zeros((64, 64), np.float32)
    m[16:48, 16:48] = 1
    inside = feather(m, 6.0, "inside")
    assert inside[m < 0.5].max() == 0.0 and inside[32, 32] == pytest.approx(1.0)
    assert 0.0 < inside[16, 32] < 0.2
    outside = feather(m, 6.0, "outside")
    assert outside[m > 0.5].min() == 1.0 and outside[32, 2] == 0.0 and 0.2 < outside[32, 13] < 1.0
    centred = feather(m, 6.0, "centered")
    assert centred[32, 16] == pytest.approx(0.5, abs=0.1)
    with pytest.raises(ShapeError):
        feather(m, 3.0, "sideways")  # type: ignore[arg-type]
