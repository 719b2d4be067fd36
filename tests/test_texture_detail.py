"""Output textures above the analysis size (engine/texture/detail.py): built in row strips, the result is
the same as built whole, on the real astronaut photo and the shipped template."""
from __future__ import annotations

import cv2
import numpy as np

from engine.texture.color import srgb_to_linear
from engine.texture.detail import DetailInputs, add_detail
from engine.texture.template import load_template_albedo

A, N = 128, 512


def _inputs(astronaut_rgb: np.ndarray) -> tuple[np.ndarray, DetailInputs]:
    photo = np.asarray(srgb_to_linear(astronaut_rgb.astype(np.float32) / 255.0), np.float32)
    yy, xx = np.mgrid[0:A, 0:A].astype(np.float32)
    pixel = np.stack([150 + xx * 1.2, 60 + yy * 1.2], -1)  # the face, ~1.2 photo pixels per texel
    template = np.asarray(load_template_albedo(A), np.float32)
    smooth = cv2.GaussianBlur(cv2.resize(photo[60:214, 150:304], (A, A)), (0, 0), 3.0)
    ramp = np.clip(xx / A, 0.0, 1.0)
    return photo, DetailInputs(pixel=pixel, shading=np.full((A, A, 3), 0.8, np.float32) + 0.1 * ramp[..., None],
                               specular=np.zeros((A, A, 3), np.float32), albedo=smooth, own=ramp,
                               template=1.0 - ramp, ratio=smooth / np.maximum(template, 1e-3))


def test_strips_give_the_whole_image_result(astronaut_rgb) -> None:
    photo, d = _inputs(astronaut_rgb)
    template_n = np.asarray(load_template_albedo(N), np.float32)
    whole = add_detail(N, photo, d, template_n, strip_rows=N)
    strips = add_detail(N, photo, d, template_n, strip_rows=40)
    np.testing.assert_allclose(strips, whole, atol=1e-5)
