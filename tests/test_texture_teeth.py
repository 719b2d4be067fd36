"""The teeth's colour (engine/texture/teeth.py) on real photos: the smiling astronaut shows ivory teeth, the
closed mouth (breakingbad) and Einstein's tongue show none; the OBJ's teeth material takes the colour."""
from __future__ import annotations

import numpy as np
import pytest

from engine.texture.color import linear_rgb_to_lab, srgb_to_linear
from engine.texture.teeth import TEETH_L, TEETH_MAX_CHROMA, teeth_pixels


def _photo(name: str) -> tuple[np.ndarray, np.ndarray]:
    from engine.images import load_photo
    from engine.landmarks import detect_landmarks
    from tests.photos import photo_path

    loaded = load_photo(photo_path(name))
    return np.asarray(srgb_to_linear(loaded.rgb.astype(np.float32) / 255.0)), detect_landmarks(loaded).points


def test_the_astronauts_smile_shows_teeth() -> None:
    px = teeth_pixels(*_photo("astronaut"))
    assert len(px) >= 50
    lab = np.asarray(linear_rgb_to_lab(np.median(px, 0).astype(np.float32)[None, None]))[0, 0]
    assert lab[0] > 70 and np.hypot(lab[1], lab[2]) < 25  # bright, weakly coloured: teeth, not lips or tongue


@pytest.mark.parametrize("name", ["breakingbad", "einstein"])
def test_a_closed_mouth_or_a_tongue_shows_no_teeth(name: str) -> None:
    assert len(teeth_pixels(*_photo(name))) == 0


def test_the_teeth_material_takes_the_photos_teeth(tmp_path) -> None:
    from engine.cli import main
    from tests.photos import photo_path

    assert main(["reconstruct", str(photo_path("astronaut")), "-o", str(tmp_path)]) == 0
    import json

    teeth = json.loads((tmp_path / "params.json").read_text())["teeth_color_srgb"]
    lab = np.asarray(linear_rgb_to_lab(np.asarray(srgb_to_linear(np.float32(teeth)))[None, None]))[0, 0]
    assert TEETH_L[0] - 0.5 <= lab[0] <= TEETH_L[1] + 0.5 and np.hypot(lab[1], lab[2]) <= TEETH_MAX_CHROMA + 0.5
    mtl = (tmp_path / "head.mtl").read_text()
    kd = [float(v) for v in mtl.split("newmtl teeth")[1].split("Kd")[1].split()[:3]]
    np.testing.assert_allclose(kd, np.asarray(teeth) ** 2.2, atol=2e-4)
