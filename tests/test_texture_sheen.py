"""The skin's sheen (engine/texture/delight/sheen.py): the veil's
size under an even light and beside a sun, and that it comes off the albedo (never more than allowed)."""
from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np

from engine.texture.delight import DelightSettings, LightingModel
from engine.texture.delight.sheen import SKIN_F0, remove_sheen, sheen_albedo

S = DelightSettings(sheen_f0=SKIN_F0)


@dataclass
class _Delit:
    albedo: np.ndarray
    shading: np.ndarray
    lighting: LightingModel


EVEN = np.zeros((9, 3))
EVEN[0] = np.sqrt(4.0 * np.pi)  # constant radiance 1: shading 1 for every normal


def test_under_an_even_light_the_sheen_is_the_skins_fresnel_reflectance() -> None:
    assert abs(SKIN_F0 - 0.028) < 1e-3  # skin's refractive index 1.4
    n = np.array([[0.0, 0.0, 1.0], [0.6, 0.0, 0.8]])
    v = np.array([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    veil = sheen_albedo(n, v, np.ones(2), np.ones((2, 3)), EVEN, S.sheen_f0)
    np.testing.assert_allclose(veil, S.sheen_f0, rtol=1e-6)
    half = sheen_albedo(n, v, np.full(2, 0.5), np.ones((2, 3)), EVEN, S.sheen_f0)  # occluded: less light reflected
    np.testing.assert_allclose(half, 0.5 * S.sheen_f0, rtol=1e-6)


def test_beside_a_sun_the_ambient_sheen_is_a_small_share() -> None:
    n = np.array([[0.0, 0.0, 1.0]])
    ambient = EVEN * 0.05  # a hard key with 5 % ambient: the texel's shading is 1.05
    veil = sheen_albedo(n, n, np.ones(1), np.full((1, 3), 1.05), ambient, S.sheen_f0)
    assert np.all(veil < 0.1 * S.sheen_f0)


def test_the_sheen_comes_off_the_albedo_but_never_more_than_allowed() -> None:
    grid = (2, 2)
    normal = np.zeros(grid + (3,), np.float32)
    normal[..., 2] = 1.0
    unwrap = SimpleNamespace(normal=normal, view_dir=normal.copy())
    albedo = np.array([[[0.40, 0.30, 0.25], [0.04, 0.03, 0.02]], [[0.0, 0.0, 0.0], [0.2, 0.2, 0.2]]], np.float32)
    shading = np.ones(grid + (3,), np.float32)
    shading[1, 0] = 0.0  # not seen
    before = albedo.copy()
    out = remove_sheen(_Delit(albedo, shading, LightingModel(EVEN, np.zeros(3), np.zeros(3), np.zeros(3), 12.0)),
                       unwrap, np.ones(grid, np.float32), S.sheen_f0, S.sheen_keep)
    np.testing.assert_allclose(out.albedo[0, 0], albedo[0, 0] - SKIN_F0, atol=1e-6)
    np.testing.assert_allclose(out.albedo[0, 1], albedo[0, 1] * S.sheen_keep, atol=1e-6)  # dark: capped
    np.testing.assert_array_equal(out.albedo[1, 0], 0.0)
    np.testing.assert_array_equal(albedo, before)  # the input is not changed
