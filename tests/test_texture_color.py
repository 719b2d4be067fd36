"""Colour blocks: sRGB/linear, CIELAB, CIEDE2000 (Sharma et al. 2005 test data), robust stats matching."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.texture._arrays import ShapeError
from engine.texture.color import (
    ColorStats,
    delta_e_ciede2000,
    lab_to_linear_rgb,
    linear_rgb_to_lab,
    linear_to_srgb,
    luminance,
    match_color_stats,
    skin_stats,
    srgb_to_linear,
)

# Sharma, Wu & Dalal (2005), Table 1: L1 a1 b1 L2 a2 b2 dE00 (34 published pairs).
SHARMA = np.array([
    [50.0000, 2.6772, -79.7751, 50.0000, 0.0000, -82.7485, 2.0425],
    [50.0000, 3.1571, -77.2803, 50.0000, 0.0000, -82.7485, 2.8615],
    [50.0000, 2.8361, -74.0200, 50.0000, 0.0000, -82.7485, 3.4412],
    [50.0000, -1.3802, -84.2814, 50.0000, 0.0000, -82.7485, 1.0000],
    [50.0000, -1.1848, -84.8006, 50.0000, 0.0000, -82.7485, 1.0000],
    [50.0000, -0.9009, -85.5211, 50.0000, 0.0000, -82.7485, 1.0000],
    [50.0000, 0.0000, 0.0000, 50.0000, -1.0000, 2.0000, 2.3669],
    [50.0000, -1.0000, 2.0000, 50.0000, 0.0000, 0.0000, 2.3669],
    [50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0009, 7.1792],
    [50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0010, 7.1792],
    [50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0011, 7.2195],
    [50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0012, 7.2195],
    [50.0000, -0.0010, 2.4900, 50.0000, 0.0009, -2.4900, 4.8045],
    [50.0000, -0.0010, 2.4900, 50.0000, 0.0010, -2.4900, 4.8045],
    [50.0000, -0.0010, 2.4900, 50.0000, 0.0011, -2.4900, 4.7461],
    [50.0000, 2.5000, 0.0000, 50.0000, 0.0000, -2.5000, 4.3065],
    [50.0000, 2.5000, 0.0000, 73.0000, 25.0000, -18.0000, 27.1492],
    [50.0000, 2.5000, 0.0000, 61.0000, -5.0000, 29.0000, 22.8977],
    [50.0000, 2.5000, 0.0000, 56.0000, -27.0000, -3.0000, 31.9030],
    [50.0000, 2.5000, 0.0000, 58.0000, 24.0000, 15.0000, 19.4535],
    [50.0000, 2.5000, 0.0000, 50.0000, 3.1736, 0.5854, 1.0000],
    [50.0000, 2.5000, 0.0000, 50.0000, 3.2972, 0.0000, 1.0000],
    [50.0000, 2.5000, 0.0000, 50.0000, 1.8634, 0.5757, 1.0000],
    [50.0000, 2.5000, 0.0000, 50.0000, 3.2592, 0.3350, 1.0000],
    [60.2574, -34.0099, 36.2677, 60.4626, -34.1751, 39.4387, 1.2644],
    [63.0109, -31.0961, -5.8663, 62.8187, -29.7946, -4.0864, 1.2630],
    [61.2901, 3.7196, -5.3901, 61.4292, 2.2480, -4.9620, 1.8731],
    [35.0831, -44.1164, 3.7933, 35.0232, -40.0716, 1.5901, 1.8645],
    [22.7233, 20.0904, -46.6940, 23.0331, 14.9730, -42.5619, 2.0373],
    [36.4612, 47.8580, 18.3852, 36.2715, 50.5065, 21.2231, 1.4146],
    [90.8027, -2.0831, 1.4410, 91.1528, -1.6435, 0.0447, 1.4441],
    [90.9257, -0.5406, -0.9208, 88.6381, -0.8985, -0.7239, 1.5381],
    [6.7747, -0.2908, -2.4247, 5.8714, -0.0985, -2.2286, 0.6377],
    [2.0776, 0.0795, -1.1350, 0.9033, -0.0636, -0.5514, 0.9082],
])


def test_ciede2000_matches_sharma_pairs_both_orders() -> None:
    d12 = delta_e_ciede2000(SHARMA[:, 0:3], SHARMA[:, 3:6])
    d21 = delta_e_ciede2000(SHARMA[:, 3:6], SHARMA[:, 0:3])
    np.testing.assert_allclose(np.round(d12, 4), SHARMA[:, 6], atol=1e-4)
    np.testing.assert_allclose(np.round(d21, 4), SHARMA[:, 6], atol=1e-4)


def test_ciede2000_zero_for_identical_and_torch_io() -> None:
    lab = torch.tensor([[50.0, 10.0, -20.0], [80.0, 0.0, 0.0]])
    d = delta_e_ciede2000(lab, lab)
    assert isinstance(d, torch.Tensor)
    assert float(d.abs().max()) == 0.0


def test_srgb_transfer_known_values_and_round_trip() -> None:
    assert float(srgb_to_linear(np.float32(0.5))) == pytest.approx(0.21404, abs=1e-4)
    assert float(linear_to_srgb(np.float32(0.18))) == pytest.approx(0.46135, abs=1e-4)
    x = np.linspace(0, 1, 1001, dtype=np.float32)
    np.testing.assert_allclose(linear_to_srgb(srgb_to_linear(x)), x, atol=2e-6)


def test_lab_known_values() -> None:
    rgb = np.array([[1, 1, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0]], np.float32)
    lab = linear_rgb_to_lab(rgb)
    want = np.array([[100, 0, 0], [53.24, 80.09, 67.20], [87.73, -86.18, 83.18], [32.30, 79.19, -107.86], [0, 0, 0]])
    np.testing.assert_allclose(lab, want, atol=0.05)


def test_lab_round_trip_random_colours() -> None:
    rgb = np.random.default_rng(0).random((64, 64, 3), dtype=np.float32)
    back = lab_to_linear_rgb(linear_rgb_to_lab(rgb))
    assert np.abs(back - rgb).max() < 1e-3


def test_lab_rejects_wrong_shape() -> None:
    with pytest.raises(ShapeError):
        linear_rgb_to_lab(np.zeros((4, 4, 2), np.float32))


def test_luminance_rec709() -> None:
    assert float(luminance(np.ones(3, np.float32))) == pytest.approx(1.0, abs=1e-6)
    assert float(luminance(np.array([0, 1, 0], np.float32))) == pytest.approx(0.7152, abs=1e-6)


def _skin_like(rng: np.random.Generator, shape: tuple[int, int], lab_mean: tuple[float, float, float],
               lab_std: tuple[float, float, float]) -> np.ndarray:
    lab = rng.normal(lab_mean, lab_std, size=shape + (3,)).astype(np.float32)
    return np.asarray(lab_to_linear_rgb(lab))


def test_skin_stats_is_robust_to_specular_outliers() -> None:
    rng = np.random.default_rng(1)
    img = _skin_like(rng, (128, 128), (65.0, 15.0, 18.0), (3.0, 2.0, 2.0))
    mask = np.ones((128, 128), np.float32)
    clean = skin_stats(img, mask)
    spec = img.copy()
    spec[rng.random((128, 128)) < 0.06] = 1.0  # 6% blown-out highlights
    robust = skin_stats(spec, mask)
    plain = skin_stats(spec, mask, trim=0.0)
    assert abs(robust.mean[0] - clean.mean[0]) < 0.5
    assert abs(plain.mean[0] - clean.mean[0]) > 1.5  # the plain mean is pulled up by the highlights
    assert clean.std[0] == pytest.approx(3.0, rel=0.15)


def test_match_color_stats_reaches_reference_statistics() -> None:
    rng = np.random.default_rng(2)
    src = _skin_like(rng, (96, 96), (70.0, 10.0, 14.0), (2.0, 1.5, 1.5))
    ref_img = _skin_like(rng, (96, 96), (55.0, 18.0, 22.0), (3.0, 2.0, 2.0))
    ref = skin_stats(ref_img, np.ones((96, 96), np.float32))
    mask = np.ones((96, 96), np.float32)
    out = match_color_stats(src, mask, ref)
    got = skin_stats(out, mask)
    np.testing.assert_allclose(got.mean, ref.mean, atol=0.5)
    np.testing.assert_allclose(got.std, ref.std, rtol=0.15)


def test_match_color_stats_apply_mask_keeps_other_texels() -> None:
    rng = np.random.default_rng(3)
    src = _skin_like(rng, (32, 32), (70.0, 10.0, 14.0), (2.0, 1.5, 1.5))
    ref = ColorStats(mean=(50.0, 20.0, 20.0), std=(2.0, 1.5, 1.5), count=1)
    apply = np.zeros((32, 32), np.float32)
    apply[:, :16] = 1.0
    out = match_color_stats(src, np.ones((32, 32)), ref, apply_mask=apply)
    np.testing.assert_array_equal(out[:, 16:], src[:, 16:])
    assert np.abs(out[:, :16] - src[:, :16]).mean() > 0.05


def test_match_color_stats_torch_in_torch_out() -> None:
    src = torch.full((16, 16, 3), 0.3)
    ref = ColorStats(mean=(50.0, 10.0, 10.0), std=(1.0, 1.0, 1.0), count=1)
    out = match_color_stats(src, torch.ones(16, 16), ref)
    assert isinstance(out, torch.Tensor) and out.shape == (16, 16, 3)
    lab = linear_rgb_to_lab(out.numpy())
    np.testing.assert_allclose(lab.reshape(-1, 3).mean(0), [50.0, 10.0, 10.0], atol=0.1)


def test_skin_stats_empty_mask_raises() -> None:
    with pytest.raises(ShapeError):
        skin_stats(np.zeros((8, 8, 3), np.float32), np.zeros((8, 8), np.float32))


def test_the_adaptation_takes_one_white_to_the_other_and_undoes_a_cone_space_shift() -> None:
    """``adaptation_matrix`` maps its source white onto its target, is a plain scale between equal whites,
    and undoes a tungsten white balance made in another cone space (Bradford, the bench's) to well under
    1 ΔE00 on skin, where one gain per display primary leaves about 7."""
    from bench.groundtruth.perturb import white_balance_matrix
    from engine.texture.color import adaptation_matrix

    sclera = np.array([0.76, 0.70, 0.63])
    warm = np.array([1.1, 1.23, 1.46]) * sclera
    np.testing.assert_allclose(adaptation_matrix(warm, sclera) @ warm, sclera, atol=1e-9)
    np.testing.assert_allclose(adaptation_matrix(2.0 * sclera, sclera), 0.5 * np.eye(3), atol=1e-9)
    shift = white_balance_matrix(3200.0)
    skin = np.array([0.45, 0.25, 0.18])
    lab = lambda c: np.asarray(linear_rgb_to_lab(np.asarray(c, np.float32)[None]))[0]  # noqa: E731
    cones = adaptation_matrix(shift @ sclera, sclera) @ (shift @ skin)
    primaries = (shift @ skin) * sclera / (shift @ sclera)
    assert np.linalg.norm(lab(cones) - lab(skin)) < 1.0 < 5.0 < np.linalg.norm(lab(primaries) - lab(skin))
