"""The shine removal (engine/texture/delight/shine.py) on real skin: a grey highlight over a patch of the
astronaut's cheek comes off, a pale texel darker than the skin around it keeps its colour, a blown-out
highlight takes the surrounding skin's colour, and the roughness map follows the shine found."""
from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
from skimage import data

from engine.texture.color import luminance, srgb_to_linear
from engine.texture.delight import DelightSettings
from engine.texture.delight.shine import glossiness, remove_shine, shine_amount
from engine.texture.maps import roughness_map
from engine.texture.template import load_template_roughness

N = 96
S = replace(DelightSettings(), shine_sigma=0.25)  # the 1024² atlas's reach, scaled to this small patch


def _skin() -> np.ndarray:
    """(N, N, 3) linear: a patch of the astronaut's cheek (real skin colour and texture), enlarged."""
    patch = data.astronaut()[120:140, 238:258].astype(np.float32) / 255.0
    return np.asarray(srgb_to_linear(cv2.resize(patch, (N, N), interpolation=cv2.INTER_CUBIC))).clip(0.01, 1.0)


def _blob(centre: tuple[int, int], sigma: float) -> np.ndarray:
    yy, xx = np.mgrid[:N, :N]
    return np.exp(-((yy - centre[0]) ** 2 + (xx - centre[1]) ** 2) / (2.0 * sigma**2)).astype(np.float32)


def test_a_grey_highlight_on_real_skin_comes_off() -> None:
    skin = _skin()
    veil = 0.25 * _blob((40, 52), 7.0)
    shiny = skin + veil[..., None]
    out = remove_shine(shiny, np.ones((N, N), bool), S, expected=_blob((40, 52), 9.0) + 0.05)
    inside, outside = veil > 0.1, veil < 0.005
    before = np.abs(shiny - skin)[inside].mean()
    after = np.abs(out.albedo - skin)[inside].mean()
    assert after < 0.3 * before, (before, after)
    assert np.abs(out.albedo - skin)[outside].mean() < 0.01
    assert out.removed[inside].mean() > 0.6 * veil[inside].mean()


def test_the_veil_is_the_grey_part_of_the_colour() -> None:
    chroma = np.array([0.5, 0.3, 0.2], np.float32)
    albedo = (0.4 * chroma + 0.07)[None, None, :]
    h = shine_amount(albedo, chroma[None, None, :])
    assert abs(float(h[0, 0]) - 0.07) < 1e-5
    # A grey reference cannot tell skin from shine: nothing is taken.
    assert float(shine_amount(albedo, np.full((1, 1, 3), 1.0 / 3.0, np.float32))[0, 0]) == 0.0


def test_a_pale_texel_darker_than_the_skin_around_it_keeps_its_colour() -> None:
    skin = _skin()
    spot = _blob((48, 48), 4.0)[..., None]
    grey = luminance(skin)[..., None] * np.ones(3, np.float32)
    stubble = (1.0 - spot) * skin + spot * 0.4 * grey  # paler (greyer) and darker: not shine
    out = remove_shine(stubble, np.ones((N, N), bool), S)
    assert float(out.removed[spot[..., 0] > 0.5].max()) < 1e-3


def test_a_blown_out_highlight_takes_the_surrounding_skins_colour() -> None:
    skin = _skin()
    disc = _blob((50, 40), 5.0) > 0.5
    burnt = skin.copy()
    burnt[disc] = 1.0
    out = remove_shine(burnt, np.ones((N, N), bool), S)
    chroma = lambda a: a / a.sum(-1, keepdims=True)  # noqa: E731
    ring = (_blob((50, 40), 12.0) > 0.2) & ~(_blob((50, 40), 5.0) > 0.2)
    target = chroma(skin[ring]).mean(0)
    got = chroma(out.albedo[disc]).mean(0)
    assert np.abs(got - target).max() < 0.03, (got, target)
    assert luminance(out.albedo[disc]).mean() < 0.9  # no longer white


def test_roughness_follows_the_shine_found() -> None:
    expected = np.full((N, N), 0.1, np.float32)
    found = expected.copy()
    found[:, : N // 2] *= 2.0  # the left half shone twice as much as expected, the right as expected
    g = glossiness(found, expected, np.ones((N, N), bool), sigma=4.0)
    assert g[:, : N // 4].mean() > 0.5 and abs(float(g[:, 3 * N // 4:].mean())) < 0.1
    size = 256
    smooth = roughness_map(size, np.ones((N, N), np.float32)).astype(np.float32)
    plain = np.round(np.clip(load_template_roughness(size), 0.0, 1.0) * 255.0)
    skin = plain > 0
    assert np.all(smooth[skin] <= plain[skin]) and smooth[skin].mean() < 0.85 * plain[skin].mean()
    np.testing.assert_array_equal(roughness_map(size), plain.astype(np.uint8))


def test_glossiness_at_the_atlas_scale_and_its_fade() -> None:
    """At the 1024² atlas's radius the local means run on a downsampled grid (the path a lone channel
    used to lose); outside the skin the evidence fades to 0 instead of stopping at an edge."""
    n = 256
    yy, xx = np.mgrid[:n, :n]
    mask = (yy - n / 2) ** 2 + (xx - n / 2) ** 2 < (0.35 * n) ** 2
    expected = np.full((n, n), 0.1, np.float32)
    found = np.where(xx < n / 2, 0.2, 0.05).astype(np.float32) * mask
    g = glossiness(found, expected, mask, sigma=30.0)
    assert g[n // 2, n // 4] > 0.4 and g[n // 2, 3 * n // 4] < -0.2
    assert abs(float(g[2, 2])) < 0.05  # far outside the skin: no evidence
    assert float(np.abs(np.diff(g, axis=1)).max()) < 0.1  # no edge at the mask's border
