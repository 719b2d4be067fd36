"""Own-skin detail on filled texels (engine/texture/skin_detail.py): the template's procedural grain on
the unseen skin gives way to the fine texture of the person's seen skin (here: the real astronaut photo's
cheek, scaled into an atlas), and nothing coarser changes."""
from __future__ import annotations

import cv2
import numpy as np

from engine.texture.color import srgb_to_linear
from engine.texture.skin_detail import (
    SkinDetailSettings,
    detail_band,
    transfer_skin_detail,
)
from engine.texture.template import load_template_albedo

N = 256


def _atlas(astronaut_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(albedo, seen, filled): the template, with the astronaut's face skin pasted on the left half."""
    albedo = np.asarray(load_template_albedo(N), np.float32).copy()
    face = np.asarray(srgb_to_linear(astronaut_rgb[115:150, 195:225].astype(np.float32) / 255.0), np.float32)
    albedo[:, : N // 2] = cv2.resize(face, (N // 2, N), interpolation=cv2.INTER_LINEAR)
    seen = np.zeros((N, N), bool)
    seen[:, : N // 2] = True
    return albedo, seen, ~seen


def test_filled_skin_takes_the_seen_skins_fine_texture(astronaut_rgb) -> None:
    albedo, seen, filled = _atlas(astronaut_rgb)
    settings = SkinDetailSettings()
    out = transfer_skin_detail(albedo, filled.astype(np.float32), seen, settings)
    band_in, band_out = detail_band(albedo, settings.sigma * N), detail_band(out, settings.sigma * N)
    inner = filled.copy()
    inner[:, : N // 2 + 8] = False  # away from the join
    core = seen.copy()
    core[:, N // 2 - 8:] = False
    own = float(band_in[core].std())
    before, after = float(band_in[inner].std()), float(band_out[inner].std())
    assert abs(before - own) > 1.0 * own  # the template's grain (3x here) is not the photo's
    assert abs(after - own) < 0.5 * own and abs(after - own) < 0.3 * abs(before - own), (own, before, after)
    np.testing.assert_array_equal(out[seen], albedo[seen])  # the seen skin is untouched


def test_coarse_colour_is_unchanged(astronaut_rgb) -> None:
    albedo, seen, filled = _atlas(astronaut_rgb)
    out = transfer_skin_detail(albedo, filled.astype(np.float32), seen)
    blur = lambda x: cv2.GaussianBlur(x, (0, 0), 8.0)
    assert float(np.abs(blur(out) - blur(albedo))[filled].mean()) < 0.01


def test_too_little_seen_skin_changes_nothing(astronaut_rgb) -> None:
    albedo, _, filled = _atlas(astronaut_rgb)
    tiny = np.zeros((N, N), bool)
    tiny[:5, :5] = True
    out = transfer_skin_detail(albedo, filled.astype(np.float32), tiny)
    np.testing.assert_array_equal(out, albedo)
