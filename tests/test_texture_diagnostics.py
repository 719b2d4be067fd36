"""engine.texture.diagnostics: shares of deep shade, clipping, occlusion and unseen face, and the
warnings they raise (synthetic texel grids with known answers)."""
from __future__ import annotations

import numpy as np

from engine.texture.color import lab_to_linear_rgb
from engine.texture.diagnostics import DiagnosticSettings, diagnose

N = 64


def _grids(skin_lab=(60.0, 12.0, 18.0)):
    albedo = np.broadcast_to(np.asarray(lab_to_linear_rgb(np.array(skin_lab, np.float32)), np.float32),
                             (N, N, 3)).copy()
    shading = np.ones((N, N, 3), np.float32)
    weight = np.ones((N, N), np.float32)
    face = np.zeros((N, N), bool)
    face[8:56, 8:56] = True
    pos = np.zeros((N, N, 3), np.float32)
    pos[..., 0] = np.linspace(-0.08, 0.08, N)[None, :]  # column -> head x (x > 0: the person's left)
    none = np.zeros((N, N), bool)
    return albedo, shading, weight, none, face, pos


def test_a_well_lit_skin_face_gives_no_warning() -> None:
    albedo, shading, weight, none, face, pos = _grids()
    d = diagnose(albedo, shading, weight, none, none, face, pos, grey_photo=False)
    assert d.warnings == []
    assert d.shares["deep_shade_share"] == 0.0 and d.shares["unseen_share"] == 0.0
    assert 40.0 < d.shares["skin_hue_deg"] < 70.0


def test_deep_shade_on_one_side_is_measured_and_named() -> None:
    albedo, shading, weight, none, face, pos = _grids()
    shading[:, : N // 2] = 0.05  # the person's right half (x < 0) in deep shade
    d = diagnose(albedo, shading, weight, none, none, face, pos, grey_photo=False)
    assert abs(d.shares["deep_shade_share"] - 0.5) < 0.05
    assert len(d.warnings) == 1 and "right side" in d.warnings[0] and "deep shadow" in d.warnings[0]


def test_clipping_occlusion_and_unseen_shares() -> None:
    albedo, shading, weight, none, face, pos = _grids()
    clipped, occluded = none.copy(), none.copy()
    clipped[8:16, 8:56] = True  # 1/6 of the face
    occluded[40:56, 8:56] = True  # 1/3 of the face
    weight[8:56, 8:20] = 0.0  # a quarter of the face unseen
    d = diagnose(albedo, shading, weight, clipped, occluded, face, pos, grey_photo=False,
                 settings=DiagnosticSettings(warn_unseen=0.2))
    seen = 48 * 36
    assert abs(d.shares["overexposed_share"] - 8 * 36 / seen) < 1e-6
    assert abs(d.shares["occluded_share"] - 16 * 36 / seen) < 1e-6
    assert abs(d.shares["unseen_share"] - 0.25) < 1e-6
    text = " ".join(d.warnings)
    assert "over-exposed" in text and "hair, glasses" in text and "was seen" in text


def test_a_skin_colour_no_skin_has_is_flagged_unless_the_photo_is_grey() -> None:
    albedo, shading, weight, none, face, pos = _grids(skin_lab=(60.0, -10.0, 10.0))  # greenish
    d = diagnose(albedo, shading, weight, none, none, face, pos, grey_photo=False)
    assert any("not one human skin has" in w for w in d.warnings)
    assert diagnose(albedo, shading, weight, none, none, face, pos, grey_photo=True).warnings == []
