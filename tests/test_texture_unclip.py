"""Clipped-channel reconstruction (engine/texture/unclip.py) on the real astronaut photo: the same photo
with its blue pushed past the white point (a tungsten white balance in daylight) gets its skin's blue
back from the unclipped skin around it, and the same photo one stop brighter gets its red back."""
from __future__ import annotations

import numpy as np

from engine.texture.color import linear_rgb_to_lab, srgb_to_linear
from engine.texture.unclip import (
    face_skin_pixels,
    reconstruct_clipped,
    reconstruct_clipped_set,
)


def _lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB of linear RGB that may exceed 1 (scaled down by a fixed factor first)."""
    return np.asarray(linear_rgb_to_lab(np.asarray(rgb, np.float32)[None] / 4.0))[0]


def _astronaut(astronaut_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from engine.images import load_photo
    from engine.landmarks import detect_landmarks
    from tests.photos import photo_path

    face = detect_landmarks(load_photo(photo_path("astronaut")))
    return np.asarray(srgb_to_linear(astronaut_rgb.astype(np.float32) / 255.0), np.float32), face.points


def test_a_clipped_blue_channel_comes_back_from_the_skin_around_it(astronaut_rgb) -> None:
    photo, lm = _astronaut(astronaut_rgb)
    truth = photo * np.array([0.5, 1.1, 2.3], np.float32)  # the skin's blue goes past 1 on the bright parts
    skin = face_skin_pixels(lm, photo.shape[:2])
    out = reconstruct_clipped(np.clip(truth, 0.0, 1.0), skin)
    fixed = out.restored & skin
    assert fixed.sum() > 200  # the bright cheeks and forehead
    before = np.linalg.norm(_lab(np.clip(truth[fixed], 0, 1)) - _lab(truth[fixed]), axis=-1)
    after = np.linalg.norm(_lab(out.rgb[fixed]) - _lab(truth[fixed]), axis=-1)
    # Brighter skin is a little less saturated than the skin around it (sheen); the chromaticity follows
    # that trend, so the restored blue is close (median B/G 1.47 clipped -> 1.62 restored, truth 1.68;
    # the neighbours' chromaticity alone gave 1.52); closer, never further.
    assert np.median(after) < 0.85 * np.median(before), (np.median(after), np.median(before))
    assert np.mean(after < before + 1e-3) > 0.95
    assert np.all(out.rgb[fixed] >= np.clip(truth[fixed], 0, 1) - 1e-6)  # never below what was recorded


def test_an_over_exposed_face_gets_its_red_back_at_the_brighter_skins_saturation(astronaut_rgb) -> None:
    """One stop brighter, the red of the astronaut's bright skin clips. Taken from the darker, redder skin
    around it, the restored red was 25 % too high (median); following the skin's brightness trend it is
    within 10 %."""
    photo, lm = _astronaut(astronaut_rgb)
    truth = photo * 2.0
    out = reconstruct_clipped(np.clip(truth, 0.0, 1.0), face_skin_pixels(lm, photo.shape[:2]))
    fixed = out.restored & face_skin_pixels(lm, photo.shape[:2])
    assert fixed.sum() > 2000
    ratio = out.rgb[fixed] / truth[fixed]
    assert abs(float(np.median(ratio[:, 0])) - 1.0) < 0.1, np.median(ratio, 0)
    assert np.mean(np.abs(np.log(ratio[:, 0])) < 0.1) > 0.6


def test_pixels_with_every_channel_clipped_stay_unknown(astronaut_rgb) -> None:
    photo, lm = _astronaut(astronaut_rgb)
    out = reconstruct_clipped(np.clip(photo * 4.0, 0.0, 1.0), face_skin_pixels(lm, photo.shape[:2]))
    white = (np.clip(photo * 4.0, 0.0, 1.0) >= 0.98).all(-1)
    assert white.any() and np.array_equal(out.lost & white, white)
    assert not (out.restored & white).any()


def test_an_unclipped_photo_is_unchanged(astronaut_rgb) -> None:
    photo, lm = _astronaut(astronaut_rgb)
    safe = photo * 0.9
    out = reconstruct_clipped(safe, face_skin_pixels(lm, photo.shape[:2]))
    assert not out.restored.any() and not out.lost.any()
    np.testing.assert_array_equal(out.rgb, safe)


def test_a_uniform_set_takes_its_own_colour() -> None:
    """An eye white (one colour, varying brightness) with its blue clipped on the bright pixels."""
    rng = np.random.default_rng(0)
    colour = np.array([0.35, 0.5, 0.9], np.float32)
    truth = colour[None] * rng.uniform(0.7, 1.4, (60, 1)).astype(np.float32)
    px, lost = reconstruct_clipped_set(np.clip(truth, 0.0, 1.0))
    assert not lost.any()
    np.testing.assert_allclose(px, truth, rtol=1e-4)
    px, lost = reconstruct_clipped_set(np.ones((5, 3), np.float32))
    assert lost.all()
