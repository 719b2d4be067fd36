"""Black-and-white detection (engine/texture/monochrome.py) on real photos: grey and toned scans (a white
balance off neutral, sepia, through JPEG) are monochrome; colour photos, even faded ones, are not."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data

from engine.texture.color import linear_to_srgb, luminance, srgb_to_linear
from engine.texture.monochrome import is_grey, is_monochrome, toned_as_grey
from tests.photos import photo_path, read_rgb


def _linear(rgb8: np.ndarray) -> np.ndarray:
    return np.asarray(srgb_to_linear(rgb8.astype(np.float32) / 255.0), np.float32)


def _jpeg(linear: np.ndarray, quality: int) -> np.ndarray:
    """The linear photo through an 8-bit sRGB JPEG round trip (4:2:0 chroma, its block noise)."""
    srgb8 = np.round(np.clip(linear_to_srgb(linear), 0.0, 1.0) * 255.0).astype(np.uint8)
    ok, enc = cv2.imencode(".jpg", srgb8[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return _linear(cv2.imdecode(enc, cv2.IMREAD_COLOR)[..., ::-1])


def _toned(grey: np.ndarray, tint: tuple[float, float, float]) -> np.ndarray:
    return np.clip(grey[..., None] * np.asarray(tint, np.float32), 0.0, 1.0)


def test_colour_photos_are_not_monochrome() -> None:
    astronaut = _linear(data.astronaut())
    assert not is_monochrome(astronaut)
    y = luminance(astronaut)[..., None]
    assert not is_monochrome(y + 0.3 * (astronaut - y))  # a faded colour photo still has its colours
    assert not is_monochrome(_jpeg(astronaut, 75))


def test_grey_and_toned_scans_are_monochrome() -> None:
    takeo = _linear(read_rgb(photo_path("takeo")))
    assert is_grey(takeo) and is_monochrome(takeo)
    grey = luminance(takeo)
    for tint in ((0.55, 0.8, 1.6), (1.25, 1.0, 0.7)):  # a tungsten white balance on daylight; sepia
        toned = _toned(grey, tint)
        assert not is_grey(toned)
        assert is_monochrome(toned)
        assert is_monochrome(_jpeg(toned, 75))


def test_a_grey_astronaut_toned_and_compressed_is_monochrome() -> None:
    grey = luminance(_linear(data.astronaut()))
    assert is_monochrome(_jpeg(_toned(grey, (1.2, 1.0, 0.75)), 85))


@pytest.mark.parametrize("shape", [(16, 16, 3), (40, 30, 3)])
def test_tiny_photos_are_judged_by_their_channels_only(shape: tuple[int, int, int]) -> None:
    rng = np.random.default_rng(0)
    grey = rng.uniform(0.1, 0.8, shape[:2]).astype(np.float32)
    assert is_monochrome(np.repeat(grey[..., None], 3, axis=2))
    assert not is_monochrome(_toned(grey, (1.2, 1.0, 0.75)))  # too few blocks to tell a tint from colour


def test_a_face_close_up_under_a_coloured_light_keeps_its_colours() -> None:
    """Skin fills the frame and one coloured key tints it all: only the eyes, lips and brows differ."""
    face = _linear(data.astronaut())[90:230, 180:320]
    for light in ((1.0, 0.6, 0.25), (0.4, 0.6, 1.0)):
        assert not is_monochrome(np.clip(face * np.asarray(light, np.float32), 0.0, 1.0))


def test_a_toned_photo_is_read_as_the_grey_one_it_is() -> None:
    takeo8 = read_rgb(photo_path("takeo"))
    assert toned_as_grey(takeo8) is None  # grey already
    assert toned_as_grey(data.astronaut()) is None  # colour
    grey = luminance(_linear(takeo8))
    toned8 = np.round(np.clip(linear_to_srgb(_toned(grey, (1.25, 1.0, 0.7))), 0.0, 1.0) * 255.0).astype(np.uint8)
    back = toned_as_grey(toned8)
    assert back is not None and back.dtype == np.uint8 and back.shape == toned8.shape
    assert np.array_equal(back[..., 0], back[..., 1]) and np.array_equal(back[..., 1], back[..., 2])
    # the same picture up to one exposure factor (the tint's luminance), 8-bit rounding aside
    lit = _linear(back)[..., 0]
    ok = (grey > 0.02) & (grey < 0.7)
    assert np.corrcoef(lit[ok], grey[ok])[0, 1] > 0.999
