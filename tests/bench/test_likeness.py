"""bench/groundtruth/likeness.py's face window: the identity renders show the face at the photo's own
resolution (never upsampled, at most FACE_PX across), and the window's camera sees what the full camera
sees, at the window's pixels."""
from __future__ import annotations

import numpy as np
import pytest

from bench.groundtruth.likeness import FACE_PX, face_window

K = np.array([[800.0, 0.0, 255.5], [0.0, 800.0, 255.5], [0.0, 0.0, 1.0]])


def _project(K: np.ndarray, X: np.ndarray) -> np.ndarray:
    p = X @ K.T
    return p[:, :2] / p[:, 2:]


def _box(centre: tuple[float, float], side: float) -> np.ndarray:
    c = np.asarray(centre)
    return np.array([c - side / 2, c + side / 2, [c[0] - side / 2, c[1] + side / 2]])


@pytest.mark.parametrize("side", [90.0, 500.0])
def test_window_camera_matches_the_full_camera(side: float) -> None:
    window = face_window(_box((240.0, 270.0), side), (512, 512))
    X = np.random.default_rng(0).normal([0.0, 0.0, 1.0], [0.05, 0.05, 0.02], (20, 3))
    full = _project(K, X)
    np.testing.assert_allclose(_project(window.intrinsics(K), X), window.points(full), atol=1e-9)


def test_small_faces_keep_the_photo_resolution_large_ones_are_capped() -> None:
    small = face_window(_box((256.0, 256.0), 90.0), (512, 512))
    assert small.scale == 1.0
    assert small.size == (small.x1 - small.x0, small.y1 - small.y0)
    large = face_window(_box((256.0, 256.0), 400.0), (512, 512))
    assert large.scale == pytest.approx(FACE_PX / 400.0)
    assert (large.x0, large.y0, large.x1, large.y1) == (0, 0, 512, 512)  # clipped to the photo


def test_crop_is_the_window_of_the_photo() -> None:
    img = np.zeros((300, 400, 3), np.uint8)
    img[100:140, 200:260] = 255
    window = face_window(_box((230.0, 120.0), 60.0), (400, 300))
    crop = window.crop(img)
    assert crop.shape[:2] == window.size[::-1]
    lo, hi = window.points([[200, 100]])[0], window.points([[259, 139]])[0]
    assert crop[int(lo[1]) + 1, int(lo[0]) + 1].min() == 255 and crop[int(hi[1]) + 2, int(hi[0]) + 2].max() == 0
