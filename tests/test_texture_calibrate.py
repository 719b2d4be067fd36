"""Colour constancy (engine/texture/calibrate.py): the sclera and the skin prior fix exposure and the
light's colour. Known-answer checks of the algebra, and the real astronaut photo re-exposed and
re-white-balanced (the albedo must not follow the camera)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from engine.texture.calibrate import (
    provisional_balance,
    CalibrationSettings,
    ScleraSample,
    calibrate_gain,
    sclera_colour,
    sclera_pixels,
    skin_locus_gain,
)
from engine.texture.color import linear_rgb_to_lab, srgb_to_linear

SETTINGS = CalibrationSettings()


def _lab(rgb: np.ndarray) -> np.ndarray:
    return np.asarray(linear_rgb_to_lab(np.asarray(rgb, np.float32)[None, None]))[0, 0]


def test_a_sclera_seen_under_a_known_gain_gives_that_gain() -> None:
    k_true = np.array([1.8, 1.1, 0.6])  # a warm, bright light
    shading = np.array([0.7, 0.7, 0.7])
    eye = ScleraSample(k_true * shading * np.asarray(SETTINGS.sclera_albedo), shading, 200)
    skin = k_true * np.array([0.45, 0.33, 0.26])  # a light skin seen under it
    cal = calibrate_gain(skin, [eye, eye])
    assert cal.source == "sclera"
    np.testing.assert_allclose(cal.gain, k_true, rtol=1e-6)


def test_an_eye_in_deep_shade_is_not_used() -> None:
    good = ScleraSample(np.array([0.5, 0.5, 0.5]), np.array([1.0, 1.0, 1.0]), 100)
    dark = ScleraSample(np.array([0.5, 0.1, 0.1]), np.array([0.01, 0.01, 0.01]), 400)
    cal = calibrate_gain(np.array([0.3, 0.2, 0.15]), [good, dark])
    np.testing.assert_allclose(cal.gain, 0.5 / np.asarray(SETTINGS.sclera_albedo), rtol=1e-6)


def test_without_eyes_the_exposure_comes_from_the_prior_and_the_colour_from_the_camera() -> None:
    skin = 0.15 * np.asarray(srgb_to_linear(np.array([0.8, 0.6, 0.5], np.float32)), np.float64)  # dim photo
    cal = calibrate_gain(skin, [])
    assert cal.source == "skin"
    lab, lab0 = _lab(skin / cal.gain), _lab(skin)
    assert abs(lab[0] - SETTINGS.prior_l) < 0.5
    hue = lambda x: np.degrees(np.arctan2(x[2], x[1]))
    assert abs(hue(lab) - hue(lab0)) < 0.5  # white balance kept


def test_without_eyes_a_cast_no_skin_could_have_is_pulled_back() -> None:
    skin = np.array([0.02, 0.02, 0.03])  # a dark, bluish de-lit face: a dim, cool photo
    cal = calibrate_gain(skin, [])
    lab = _lab(skin / cal.gain)
    assert abs(lab[0] - SETTINGS.prior_l) < 1.0
    assert SETTINGS.skin_hue[0] - 0.5 <= np.degrees(np.arctan2(lab[2], lab[1])) <= SETTINGS.skin_hue[1] + 0.5


def test_the_skin_region_bounds_a_sclera_that_would_give_impossible_skin() -> None:
    eye = ScleraSample(np.array([0.05, 0.05, 0.05]), np.ones(3), 200)  # says: a very dark photo
    skin = np.array([0.2, 0.15, 0.12])  # ... then the skin would be far lighter than any skin
    cal = calibrate_gain(skin, [eye])
    assert cal.source == "sclera+skin"
    lab = _lab(skin / cal.gain)
    assert lab[0] == pytest.approx(SETTINGS.skin_l[1], abs=0.5)


def test_skin_inside_the_region_is_not_moved() -> None:
    skin = np.asarray(srgb_to_linear(np.array([0.8, 0.6, 0.5], np.float32)), np.float64)
    np.testing.assert_allclose(skin_locus_gain(skin), 1.0)


def test_the_astronauts_sclera_is_found() -> None:
    from engine.images import load_photo
    from engine.landmarks import detect_landmarks
    from tests.photos import photo_path

    loaded = load_photo(photo_path("astronaut"))
    face = detect_landmarks(loaded)
    photo = np.asarray(srgb_to_linear(loaded.rgb.astype(np.float32) / 255.0))
    eyes = sclera_pixels(photo, face.points)
    assert len(eyes) == 2
    for _, px in eyes:
        assert len(px) >= SETTINGS.min_sclera_pixels
        lab = _lab(sclera_colour(px, SETTINGS))
        assert np.hypot(lab[1], lab[2]) < 12.0  # near-neutral: eye white, not skin (chroma ~20) or iris
        assert lab[0] > 65.0  # and bright


@pytest.fixture(scope="module")
def astronaut_fit(astronaut_rgb: np.ndarray):
    from engine.api import ReconstructOptions, reconstruct
    from tests.photos import photo_path

    return reconstruct(photo_path("astronaut"), ReconstructOptions(with_texture=False))


def _texture(rec, photo_linear: np.ndarray):
    from engine.head.model import load_head_model
    from engine.texture.pipeline import TextureInputs, TextureSettings, build_texture

    cam = rec.fit.camera
    inputs = TextureInputs(photo=photo_linear, K=cam.K, R=cam.R, t=cam.t, vertices=rec.fit.vertices_unwrap,
                           landmarks=rec.face.points, person_mask=None, texture_size=256)
    settings = TextureSettings(relit_sheet=False, rerender=False, debug=False)
    return build_texture(inputs, load_head_model(), settings=settings)


def test_the_albedo_does_not_follow_the_cameras_exposure_or_white_balance(astronaut_fit, astronaut_rgb) -> None:
    """The same photo one stop darker, and with a warm (3200 K-like) white balance: the mean face
    colour of the albedo moves by well under what the photo moved."""
    photo = np.asarray(srgb_to_linear(astronaut_rgb.astype(np.float32) / 255.0), np.float32)
    base = _texture(astronaut_fit, photo)
    face = base.confidence > 128
    ref = _lab(np.asarray(srgb_to_linear(base.albedo_srgb[face].astype(np.float32) / 255.0)).mean(0))
    for gain in (np.array([0.5, 0.5, 0.5]), np.array([1.0, 0.8, 0.55])):
        out = _texture(astronaut_fit, np.clip(photo * gain.astype(np.float32), 0.0, 1.0))
        assert out.metrics["calibration_source_sclera"] == 1.0
        lab = _lab(np.asarray(srgb_to_linear(out.albedo_srgb[face].astype(np.float32) / 255.0)).mean(0))
        moved = float(np.linalg.norm(lab - ref))
        photo_moved = float(np.linalg.norm(_lab(photo[200:300, 200:300].reshape(-1, 3).mean(0) * gain)
                                           - _lab(photo[200:300, 200:300].reshape(-1, 3).mean(0))))
        assert moved < 3.0, (gain, moved, photo_moved)


def test_a_white_balance_that_clips_the_blue_is_still_undone(astronaut_fit, astronaut_rgb) -> None:
    """A tungsten setting in daylight (3200 K: blue x2.2, red x0.85 in the cone space the camera's sensors
    approximate): the blue of the eye whites and of the bright skin goes past the white point. The clipped
    channels are reconstructed (engine/texture/unclip.py), so the eye whites still measure the light, and
    the cone-space correction (not one gain per display primary) takes the face colour back near the
    original's."""
    from bench.groundtruth.perturb import shift_white_balance

    photo = np.asarray(srgb_to_linear(astronaut_rgb.astype(np.float32) / 255.0), np.float32)
    base = _texture(astronaut_fit, photo)
    face = base.confidence > 128
    ref = _lab(np.asarray(srgb_to_linear(base.albedo_srgb[face].astype(np.float32) / 255.0)).mean(0))
    tungsten = shift_white_balance(astronaut_rgb.astype(np.uint8), 3200.0)
    assert (tungsten[..., 2] == 255).mean() > 0.05  # the case this is about: the blue clips
    out = _texture(astronaut_fit, np.asarray(srgb_to_linear(tungsten.astype(np.float32) / 255.0), np.float32))
    assert out.metrics["calibration_source_sclera"] == 1.0
    lab = _lab(np.asarray(srgb_to_linear(out.albedo_srgb[face].astype(np.float32) / 255.0)).mean(0))
    assert float(np.linalg.norm(lab - ref)) < 4.0, lab - ref


def test_an_over_exposed_photo_gives_the_same_albedo(astronaut_fit, astronaut_rgb) -> None:
    """One stop brighter: the red of 60 % of the face skin and every channel of the brightest 9 % clip.
    The de-lit albedo stays in the photo's exposure (above 1) until the eye whites' gain divides it,
    and the clipped red follows the brighter skin's lower saturation (engine/texture/unclip.py), so the
    albedo texel by texel stays close to the original's (mean ΔE00 8.5 before either, 3.1 after)."""
    from bench.groundtruth.metrics import delta_e00, linear_to_lab

    photo = np.asarray(srgb_to_linear(astronaut_rgb.astype(np.float32) / 255.0), np.float32)
    base = _texture(astronaut_fit, photo)
    out = _texture(astronaut_fit, np.clip(photo * 2.0, 0.0, 1.0))
    assert out.metrics["calibration_source_sclera"] == 1.0
    face = (base.confidence > 128) & (out.confidence > 128)
    assert face.sum() > 1500
    lin = [np.asarray(srgb_to_linear(r.albedo_srgb[face].astype(np.float32) / 255.0)) for r in (base, out)]
    de = delta_e00(linear_to_lab(lin[1]), linear_to_lab(lin[0]))
    assert float(de.mean()) < 4.0, float(de.mean())


def test_settings_can_turn_it_off() -> None:
    off = replace(SETTINGS, enabled=False)
    cal = calibrate_gain(np.array([0.1, 0.1, 0.1]), [], off)
    np.testing.assert_array_equal(cal.gain, np.ones(3))


def test_an_over_exposed_sclera_only_bounds_the_exposure_from_below() -> None:
    """A clipped eye white says the photo is at least this bright; the skin prior alone would make
    this face (mid-tone de-lit skin) lighter than that allows."""
    from engine.texture.color import luminance

    skin = np.array([0.3, 0.22, 0.17])
    clipped = ScleraSample(np.array([1.0, 1.0, 1.0]), np.ones(3), 100, clipped=0.9)
    prior_only = calibrate_gain(skin, [])
    cal = calibrate_gain(skin, [clipped])
    assert cal.source == "skin+clipped"
    floor = float(luminance((1.0 / np.asarray(SETTINGS.sclera_albedo)).astype(np.float32)))
    assert float(luminance(prior_only.gain.astype(np.float32))) < floor
    assert float(luminance(cal.gain.astype(np.float32))) == pytest.approx(floor, rel=1e-4)
    from engine.texture.calibrate import calibration_warnings

    said = calibration_warnings(cal)
    assert len(said) == 1 and "over-exposed" in said[0] and "no eye white" not in said[0]


def test_eyes_that_contradict_each_other_leave_the_exposure_to_the_skin_prior() -> None:
    """A hard side light the shading estimate missed (benchmark h4, 45° yaw): the lit eye white is clipped
    and bounds the gain from below at ~3 EV above what the shadowed eye measures. Neither can be right,
    so neither is used; eyes that agree within 2 EV still set the gain."""
    from engine.texture.calibrate import calibration_warnings

    skin = np.array([0.11, 0.06, 0.05])
    lit = ScleraSample(np.array([0.89, 0.88, 0.87]), np.full(3, 0.75), 13, clipped=0.7)
    shadowed = ScleraSample(np.array([0.093, 0.082, 0.076]), np.full(3, 0.75), 43)
    cal = calibrate_gain(skin, [lit, shadowed])
    assert cal.source.startswith("skin+disagree") and cal.info["eye_disagreement_ev"] > 2.0
    np.testing.assert_allclose(cal.gain, calibrate_gain(skin, []).gain)
    assert any("disagree" in w for w in calibration_warnings(cal))
    near = ScleraSample(shadowed.colour * 3.0, shadowed.shading, 43)  # 1.6 EV apart: both used
    agree = calibrate_gain(skin, [near, shadowed])
    assert agree.source.startswith("sclera") and "eye_disagreement_ev" not in agree.info


def test_a_black_and_white_photo_gets_a_neutral_gain() -> None:
    cal = calibrate_gain(np.array([0.1, 0.1, 0.1]), [], grey=True)
    assert cal.gain[0] == cal.gain[1] == cal.gain[2]


def test_a_prior_instead_of_a_measurement_is_said() -> None:
    from engine.texture.calibrate import calibration_warnings

    assert calibration_warnings(calibrate_gain(np.array([0.1, 0.08, 0.06]), [])) != []
    eye = ScleraSample(np.array([0.35, 0.34, 0.32]), np.full(3, 0.5), 200)
    assert calibration_warnings(calibrate_gain(np.array([0.2, 0.15, 0.12]), [eye])) == []


def test_skin_in_the_region_needs_no_provisional_balance() -> None:
    skin = np.asarray(srgb_to_linear(np.array([0.8, 0.6, 0.5], np.float32)), np.float64)
    np.testing.assert_allclose(provisional_balance(skin), 1.0)


def test_the_astronauts_sclera_is_found_under_a_strong_blue_cast() -> None:
    """A camera white-balanced for tungsten in daylight: the eye white turns blue and the skin loses its
    orange. Compared under the provisional balance the eye white is found again, with its cast kept."""
    from engine.images import load_photo
    from engine.landmarks import detect_landmarks
    from tests.photos import photo_path

    loaded = load_photo(photo_path("astronaut"))
    face = detect_landmarks(loaded)
    cast = np.array([0.55, 0.85, 1.6], np.float32)
    photo = np.asarray(srgb_to_linear(loaded.rgb.astype(np.float32) / 255.0)) * cast * 0.6
    skin = np.asarray(srgb_to_linear(np.array([0.8, 0.6, 0.5], np.float32)), np.float64) * cast
    balance = provisional_balance(skin)
    assert balance[0] > balance[2]  # warms the blue photo up
    found = [px for _, px in sclera_pixels(photo, face.points, SETTINGS, balance)]
    assert all(len(px) >= SETTINGS.min_sclera_pixels for px in found)
    for px in found:
        colour = sclera_colour(px, SETTINGS, balance) / cast  # the cast removed: a near-neutral, bright eye white
        lab = _lab(colour / 0.6)
        assert np.hypot(lab[1], lab[2]) < 12.0 and lab[0] > 60.0


def test_the_sclera_keeps_off_the_lid_line(astronaut_rgb) -> None:
    """Pixels on the lid contour mix the eye white with lashes and lid skin (darker for darker skin):
    the astronaut's sclera pixels all lie at least a pixel inside the lid polygon."""
    import cv2

    from engine.images import load_photo
    from engine.landmarks import LEFT_EYE, LEFT_IRIS, LEFT_IRIS_CENTRE, detect_landmarks
    from engine.texture.calibrate import eye_sclera_mask
    from tests.photos import photo_path

    loaded = load_photo(photo_path("astronaut"))
    lm = detect_landmarks(loaded).points
    photo = np.asarray(srgb_to_linear(loaded.rgb.astype(np.float32) / 255.0), np.float32)
    (y0, x0), mask = eye_sclera_mask(photo, lm, LEFT_EYE, LEFT_IRIS_CENTRE, LEFT_IRIS, SETTINGS)
    assert mask.sum() >= SETTINGS.min_sclera_pixels
    inside = np.zeros(mask.shape, np.uint8)
    cv2.fillPoly(inside, [np.round((lm[list(LEFT_EYE)] - [x0, y0]) * 4).astype(np.int32)], 1, shift=2)
    assert not (mask & ~(cv2.erode(inside, np.ones((3, 3), np.uint8)) > 0)).any()


def test_a_black_and_white_photo_says_its_exposure_is_a_prior() -> None:
    from engine.texture.calibrate import calibration_warnings

    cal = calibrate_gain(np.array([0.1, 0.1, 0.1]), [], grey=True)
    assert cal.source == "grey"
    assert any("black-and-white" in w for w in calibration_warnings(cal))


def test_lid_shading_falls_back_to_the_photo_when_the_model_has_the_lids_wrong() -> None:
    """The lighting model says the lids are lit (shading 0.6) but their photo colour over the face's mean
    skin says 0.125: 4.8x apart, beyond the blend's 4x, the observed shading is used; when they agree,
    the model's; in between, a geometric blend that moves continuously with the photo's colour."""
    from types import SimpleNamespace

    from engine.head.model import load_head_model
    from engine.texture.calibrate import _eyeball, sclera_shading

    model = load_head_model()
    verts = model.vertices.numpy().astype(np.float64)
    _, centre = _eyeball(model, verts, "eye_l")
    n = 16
    unwrap = SimpleNamespace(region=np.full((n, n), model.region_id("eyelids")), weight=np.ones((n, n)),
                             position=np.broadcast_to(centre, (n, n, 3)).copy(), color=np.full((n, n, 3), 0.05))
    delit = SimpleNamespace(shading=np.full((n, n, 3), 0.6, np.float32))
    ao = (np.ones(len(verts)), np.ones((n, n)))
    cam = centre + np.array([0.0, 0.0, 0.6])
    args = (delit, unwrap, model, verts, cam, "eye_l", *ao, SETTINGS)
    model_only = sclera_shading(*args)
    fallback = sclera_shading(*args, np.full(3, 0.4))
    np.testing.assert_allclose(fallback / model_only, 0.125 / 0.6, rtol=1e-5)
    unwrap.color[:] = 0.2  # observed 0.5: within 2.5x of the model's 0.6
    np.testing.assert_allclose(sclera_shading(*args, np.full(3, 0.4)), model_only, rtol=1e-6)
    blended = []
    for colour in (0.079, 0.08, 0.081):  # observed 0.2: 3x apart, between 2.5x and 4x
        unwrap.color[:] = colour
        blended.append(float(sclera_shading(*args, np.full(3, 0.4))[0] / model_only[0]))
    t = np.log(3.0 / 2.5) / np.log(4.0 / 2.5)
    assert blended[1] == pytest.approx((0.2 / 0.6) ** t, rel=1e-4)
    assert blended[2] / blended[0] < 1.1  # continuous: a 2.5 % change of the photo moves it ~7 %, not 3x as a switch did
