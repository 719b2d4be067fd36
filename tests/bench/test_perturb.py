"""bench.groundtruth.perturb: sRGB transfer, exposure and white-balance perturbations."""
from __future__ import annotations

import numpy as np
import pytest

from bench.groundtruth import perturb


def test_transfer_round_trip_float() -> None:
    v = np.linspace(0.0, 1.0, 10001)
    np.testing.assert_allclose(perturb.linear_to_srgb(perturb.srgb_to_linear(v)), v, atol=1e-12)
    np.testing.assert_allclose(perturb.srgb_to_linear(perturb.linear_to_srgb(v)), v, atol=1e-12)


def test_transfer_known_values() -> None:
    # IEC 61966-2-1: the two segments meet at 0.04045 <-> 0.0031308; 0.5 linear -> 0.7354 sRGB.
    assert perturb.srgb_to_linear(0.04045) == pytest.approx(0.04045 / 12.92)
    assert perturb.linear_to_srgb(0.0031308) == pytest.approx(0.04045, abs=1e-6)
    assert perturb.linear_to_srgb(0.5) == pytest.approx(0.735357, abs=1e-6)
    assert perturb.srgb_to_linear(1.0) == pytest.approx(1.0)
    assert perturb.srgb_to_linear(0.0) == 0.0


def test_uint8_round_trip_exact() -> None:
    codes = np.arange(256, dtype=np.uint8)
    np.testing.assert_array_equal(perturb.encode_srgb8(perturb.decode_srgb8(codes)), codes)
    np.testing.assert_array_equal(perturb.change_exposure(codes, 0.0), codes)


def test_exposure_plus_one_doubles_mid_grey() -> None:
    grey = np.full((4, 4, 3), 118, np.uint8)  # ~18 % linear
    lin0 = perturb.decode_srgb8(grey)
    lin1 = perturb.decode_srgb8(perturb.change_exposure(grey, 1.0))
    # 8-bit re-encoding: within half a code value at the brighter level.
    np.testing.assert_allclose(lin1 / lin0, 2.0, rtol=0.01)
    back = perturb.change_exposure(perturb.change_exposure(grey, 1.0), -1.0)
    assert np.abs(back.astype(int) - 118).max() <= 1


def test_exposure_clips() -> None:
    codes = np.array([0, 10, 200, 255], np.uint8)
    np.testing.assert_array_equal(perturb.change_exposure(codes, 3.0)[2:], [255, 255])
    assert perturb.change_exposure(codes, 3.0)[0] == 0
    assert perturb.change_exposure(codes, -20.0).max() == 0


def _b_over_r(rgb: np.ndarray) -> float:
    lin = perturb.decode_srgb8(rgb).reshape(-1, 3).mean(0)
    return float(lin[2] / lin[0])


def test_white_balance_direction() -> None:
    grey = np.full((8, 8, 3), 128, np.uint8)
    assert _b_over_r(grey) == pytest.approx(1.0)
    tungsten = perturb.shift_white_balance(grey, 3200.0)  # from 5500 K
    cloudy = perturb.shift_white_balance(grey, 6500.0)
    assert _b_over_r(tungsten) > 2.0  # much bluer (measured 4.75)
    assert 0.6 < _b_over_r(cloudy) < 0.95  # slightly warmer (measured 0.76)
    # Reversing the pair undoes the shift (up to 8-bit rounding).
    back = perturb.shift_white_balance(tungsten, 5500.0, from_kelvin=3200.0)
    assert np.abs(back.astype(int) - 128).max() <= 1


def test_white_balance_maps_whites() -> None:
    """The matrix takes the to_kelvin white onto the from_kelvin white (XYZ, Y = 1)."""
    def white_rgb(t: float) -> np.ndarray:
        x, y = perturb.planckian_white_xy(t)
        return perturb.XYZ_TO_SRGB @ np.array([x / y, 1.0, (1 - x - y) / y])

    m = perturb.white_balance_matrix(3200.0, 5500.0)
    np.testing.assert_allclose(m @ white_rgb(3200.0), white_rgb(5500.0), atol=1e-12)
    np.testing.assert_allclose(perturb.white_balance_matrix(4100.0, 4100.0), np.eye(3), atol=1e-12)


def test_white_balance_identity_on_photo(astronaut_rgb: np.ndarray) -> None:
    for t in (3200.0, 5500.0, 6500.0):
        out = perturb.shift_white_balance(astronaut_rgb, t, from_kelvin=t)
        assert out.dtype == np.uint8 and out.shape == astronaut_rgb.shape
        assert np.abs(out.astype(int) - astronaut_rgb.astype(int)).max() <= 1


def test_srgb_matrix_d65() -> None:
    np.testing.assert_allclose(perturb.SRGB_TO_XYZ @ np.ones(3),
                               [0.3127 / 0.3290, 1.0, (1 - 0.3127 - 0.3290) / 0.3290], atol=1e-12)
    np.testing.assert_allclose(perturb.SRGB_TO_XYZ[1], [0.2126, 0.7152, 0.0722], atol=1e-4)


@pytest.mark.parametrize("t, xy", [
    (6504.0, (0.3135, 0.3237)),  # Planckian at D65's CCT (D65 itself: (0.3127, 0.3290))
    (2856.0, (0.4476, 0.4074)),  # illuminant A
    (2000.0, (0.5267, 0.4133)),
    (4000.0, (0.3805, 0.3768)),
    (10000.0, (0.2807, 0.2883)),
])
def test_planckian_known_values(t: float, xy: tuple[float, float]) -> None:
    np.testing.assert_allclose(perturb.planckian_white_xy(t), xy, atol=0.002)


def _planck_xy_integrated(t: float) -> tuple[float, float]:
    """Planck's law integrated against the multi-lobe Gaussian fit of the CIE 1931 2-degree
    colour-matching functions (Wyman, Sloan, Shirley, "Simple Analytic Approximations to the CIE
    XYZ Color Matching Functions", JCGT 2(2), 2013); the fit itself is good to ~1e-3 in xy."""
    lam = np.arange(360.0, 830.0 + 1e-9, 0.5)

    def g(mu: float, s1: float, s2: float) -> np.ndarray:
        return np.exp(-0.5 * ((lam - mu) / np.where(lam < mu, s1, s2)) ** 2)

    xbar = 1.056 * g(599.8, 37.9, 31.0) + 0.362 * g(442.0, 16.0, 26.7) - 0.065 * g(501.1, 20.4, 26.2)
    ybar = 0.821 * g(568.8, 46.9, 40.5) + 0.286 * g(530.9, 16.3, 31.1)
    zbar = 1.217 * g(437.0, 11.8, 36.0) + 0.681 * g(459.0, 26.0, 13.8)
    m = (lam * 1e-9) ** -5 / np.expm1(1.4387769e-2 / (lam * 1e-9 * t))
    xyz = np.array([np.sum(m * c) for c in (xbar, ybar, zbar)])
    return float(xyz[0] / xyz.sum()), float(xyz[1] / xyz.sum())


@pytest.mark.parametrize("t", [1667.0, 2222.0, 3200.0, 4000.0, 5500.0, 6504.0, 12000.0, 25000.0])
def test_planckian_matches_planck_law(t: float) -> None:
    tol = 0.004 if t < 2500 else 0.0015  # the analytic CMF fit drifts at the red end
    np.testing.assert_allclose(perturb.planckian_white_xy(t), _planck_xy_integrated(t), atol=tol)


def test_planckian_range() -> None:
    with pytest.raises(ValueError):
        perturb.planckian_white_xy(1000.0)
    with pytest.raises(ValueError):
        perturb.planckian_white_xy(30000.0)
