"""The texture pipeline on synthetic ground truth (engine/texture/{unwrap,delight,correct,complete,maps,
pipeline,relight}.py): shapes and dtypes, albedo close to the known one, de-lighting evens out a side
light, complete coverage, mirror map, input errors."""
from __future__ import annotations

import numpy as np
import pytest

from engine.head.model import load_head_model
from engine.synthetic import _unit, make_scene
from engine.texture._arrays import ShapeError
from engine.texture.color import delta_e_ciede2000, linear_rgb_to_lab, srgb_to_linear
from engine.texture.calibrate import CalibrationSettings
from engine.texture.complete import mirror_lookup
from engine.texture.delight import REFERENCE_SHADING, DelightSettings, reference_mean_shading, reference_normals
from engine.texture.pipeline import TextureInputs, TextureSettings, build_texture
from engine.texture.unwrap import uv_raster

SIZE = 256
IMAGE = 384


@pytest.fixture(scope="module")
def model():
    return load_head_model()


def _run(model, light: str, seed: int, yaw: float | None = 0.0, **kw):
    """The synthetic scenes fix exposure by the engine's own convention (mean shading
    REFERENCE_SHADING), so the colour-constancy stage is off here: these tests check the de-lighting.
    Exposure and light colour are tested on real photos (tests/test_texture_calibrate.py) and on
    the Cycles benchmark. Their image model has no surface reflection of the ambient light either, so
    the sheen removal (tests/test_texture_sheen.py, off by default) stays off."""
    scene = make_scene(seed, light, texture_size=SIZE, image_size=IMAGE, yaw_deg=yaw, model=model)
    inp = TextureInputs(scene.photo, scene.K, scene.R, scene.t, scene.vertices, scene.landmarks,
                        scene.person_mask, SIZE)
    kw.setdefault("calibrate", CalibrationSettings(enabled=False))
    kw.setdefault("delight", DelightSettings(sheen_f0=0.0))
    return scene, build_texture(inp, model, settings=TextureSettings(**kw))


@pytest.fixture(scope="module")
def soft(model):
    return _run(model, "soft_frontal", 5)


@pytest.fixture(scope="module")
def side(model):
    return _run(model, "hard_side", 5, relit_sheet=False)


def _face(model, result) -> np.ndarray:
    r = uv_raster(model, SIZE)
    reg = np.full(SIZE * SIZE, -1)
    reg[r.texels] = model.face_region.numpy()[r.tex_face]
    return (reg.reshape(SIZE, SIZE) == model.region_id("face")) & (result.debug["from_photo"] > 0.5)


def _mean_de(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    return float(np.mean(delta_e_ciede2000(linear_rgb_to_lab(a[mask]), linear_rgb_to_lab(b[mask]))))


def test_outputs_have_the_contract_shapes_and_dtypes(soft) -> None:
    _, res = soft
    assert res.albedo_srgb.shape == (SIZE, SIZE, 3) and res.albedo_srgb.dtype == np.uint8
    assert res.normal.shape == (SIZE, SIZE, 3) and res.normal.dtype == np.uint8
    assert res.roughness.shape == (SIZE, SIZE) and res.roughness.dtype == np.uint8
    assert res.sh_coeffs.shape == (9, 3) and np.isfinite(res.sh_coeffs).all()
    assert len(res.eye_color_srgb) == 3 and all(0.0 <= c <= 1.0 for c in res.eye_color_srgb)
    for key in ("bs_error", "bs_error_unwrap", "coverage", "psnr_self_consistency"):
        assert np.isfinite(res.metrics[key]), key
    assert res.timings["total"] > 0
    assert res.relit_sheet is not None and res.relit_sheet.dtype == np.uint8
    assert res.relit_sheet.shape[1] == 5 * res.relit_sheet.shape[0]
    # the normal map is mostly flat and points out of the surface (+Z, blue)
    n = res.normal.astype(np.float32) / 127.5 - 1.0
    assert n[..., 2].min() > 0.8
    assert abs(float(n[..., 0].mean())) < 0.02 and abs(float(n[..., 1].mean())) < 0.02


@pytest.mark.parametrize("which", ["soft", "side"])
def test_recovered_albedo_matches_the_known_albedo(model, which, request) -> None:
    scene, res = request.getfixturevalue(which)
    face = _face(model, res)
    assert face.sum() > 0.3 * SIZE * SIZE * 0.1
    albedo = np.asarray(srgb_to_linear(res.albedo_srgb.astype(np.float32) / 255.0))
    assert _mean_de(albedo, scene.albedo, face) < 4.0
    # the raw photo is far from the albedo under the hard side light
    if which == "side":
        raw = np.asarray(srgb_to_linear(res.debug["unwrap_srgb"].astype(np.float32) / 255.0))
        assert _mean_de(raw, scene.albedo, face) > 10.0


def test_coverage_is_partial_and_completion_fills_every_texel(model, soft) -> None:
    _, res = soft
    assert 0.2 < res.metrics["coverage"] < 0.95
    covered = uv_raster(model, SIZE).mask
    src = res.debug["from_photo"] + res.debug["from_mirror"] + res.debug["from_template"]
    np.testing.assert_allclose(src[covered], 1.0, atol=1e-4)
    alb = res.debug["albedo_linear"]
    assert np.isfinite(alb).all()
    # no black texel anywhere, gutters included (they are filled so mip-mapping does not bleed)
    assert (alb.max(axis=2) > 0.005).all()


def test_delighting_evens_out_a_side_light(side, soft) -> None:
    _, res_side = side
    _, res_soft = soft
    m = res_side.metrics
    assert m["bs_error_unwrap"] > 40.0  # the photo: one half of the face in shadow
    assert m["bs_error"] < 6.0
    assert m["bs_error"] < 0.1 * m["bs_error_unwrap"]
    assert res_soft.metrics["bs_error"] < 6.0


def test_dominant_light_and_normalisation_are_recovered(model, side) -> None:
    scene, res = side
    assert res.metrics["delight_sun_used"] == 1.0
    # the band-limited lighting puts its order-1 lobe toward the true light
    sh = res.sh_coeffs.mean(axis=1)
    d = np.array([sh[3], sh[1], sh[2]])  # (x, y, z) from the l=1 coefficients
    true = _unit(scene.light.lights[0].direction)
    angle = np.degrees(np.arccos(np.clip(d @ true / np.linalg.norm(d), -1, 1)))
    assert angle < 20.0
    mean = reference_mean_shading(reference_normals(model), res.sh_coeffs, np.zeros(3), np.zeros(3))
    np.testing.assert_allclose(mean, REFERENCE_SHADING, rtol=0.1)


def test_turned_head_far_side_comes_from_the_mirror(model) -> None:
    _, res = _run(model, "soft_frontal", 6, yaw=35.0, relit_sheet=False, rerender=False)
    assert res.metrics["mirror_fill"] > 0.02
    assert res.metrics["coverage"] < 0.8


def test_mirror_lookup_is_an_involution(model) -> None:
    mm = mirror_lookup(model, SIZE)
    idx = mm.index
    has = np.flatnonzero(idx >= 0)
    assert len(has) > 0.9 * uv_raster(model, SIZE).texels.size
    back = idx[idx[has]]
    n = SIZE
    r0, c0 = np.divmod(has, n)
    r1, c1 = np.divmod(np.where(back >= 0, back, 0), n)
    close = (back >= 0) & (np.abs(r0 - r1) <= 1) & (np.abs(c0 - c1) <= 1)
    assert close.mean() > 0.97


def test_bad_inputs_raise_typed_errors(model, soft) -> None:
    scene, _ = soft
    good = dict(photo=scene.photo, K=scene.K, R=scene.R, t=scene.t, vertices=scene.vertices,
                landmarks=scene.landmarks, person_mask=scene.person_mask, texture_size=SIZE)
    for key, bad in (("photo", scene.photo[..., :2]), ("vertices", scene.vertices[:10]), ("K", np.eye(4)),
                     ("person_mask", np.ones((5, 5), np.float32)), ("texture_size", 300)):
        with pytest.raises(ShapeError):
            build_texture(TextureInputs(**{**good, key: bad}), model)


def _glasses_scene(model, draw: bool):
    import cv2

    from engine.landmarks import LEFT_EYE, RIGHT_EYE
    from engine.texture.complete import mirror_lookup as _ml
    from engine.texture.correct import _image_to_texels, correction_masks, glasses_mask
    from engine.texture.delight import delight
    from engine.texture.unwrap import unwrap_photo

    scene = make_scene(5, "soft_frontal", texture_size=SIZE, image_size=IMAGE, yaw_deg=0.0, model=model)
    photo = scene.photo.copy()
    rim = np.zeros(photo.shape[:2], np.uint8)
    lm = np.asarray(scene.landmarks, np.float64)
    iod = float(np.linalg.norm(lm[list(LEFT_EYE)].mean(0) - lm[list(RIGHT_EYE)].mean(0)))
    for loop in (LEFT_EYE, RIGHT_EYE):
        c = lm[list(loop)].mean(0)
        cv2.ellipse(rim, (int(round(c[0])), int(round(c[1]))), (int(0.38 * iod), int(0.26 * iod)), 0, 0, 360, 1,
                    max(1, int(round(0.035 * iod))))
    if draw:
        photo[rim > 0] = (0.02, 0.02, 0.025)
    un = unwrap_photo(photo, scene.K, scene.R, scene.t, scene.vertices, model, SIZE, scene.person_mask)
    dl = delight(un, model, scene.vertices, mirror_index=_ml(model, SIZE).index)
    masks = correction_masks(un, dl.albedo, dl.confidence, lm, photo.shape[:2], model, photo=photo)
    g = glasses_mask(dl.albedo, dl.confidence, un, model, lm, photo.shape[:2], masks.eyes)
    on_rim = (_image_to_texels(un, rim) > 0) & (dl.confidence > 0.3)
    return g, on_rim, masks


def test_glasses_rims_are_found_and_clean_skin_is_left_alone(model) -> None:
    g, on_rim, masks = _glasses_scene(model, draw=True)
    assert on_rim.sum() > 50
    assert (g & on_rim).sum() > 0.5 * on_rim.sum()
    assert (masks.hair & on_rim).sum() > 0.5 * on_rim.sum()
    clean, _, _ = _glasses_scene(model, draw=False)
    assert clean.sum() < 0.1 * on_rim.sum()


def test_face_skin_mask_leaves_out_brows_and_lips(model) -> None:
    from engine.landmarks import LEFT_EYEBROW, LIPS_OUTER
    from engine.texture.relight import face_skin_mask

    scene = make_scene(5, "soft_frontal", texture_size=SIZE, image_size=IMAGE, yaw_deg=0.0, model=model)
    lm = np.asarray(scene.landmarks, np.float64)
    m = face_skin_mask(lm, IMAGE, IMAGE)
    for idx in (list(LEFT_EYEBROW), list(LIPS_OUTER)):
        x, y = np.round(lm[idx].mean(0)).astype(int)
        assert not m[y, x]
    assert m.sum() > 0.05 * IMAGE * IMAGE


def test_grazing_skin_keeps_its_own_colour_but_not_hair(model) -> None:
    """Skin the camera sees at a grazing angle gets a confidence (its own de-lit colour is used);
    the same texels painted hair-dark get none (no hair pulled in at the silhouette)."""
    from engine.texture.correct import skin_reference_mask
    from engine.texture.delight import delight
    from engine.texture.pipeline import _with_grazing
    from engine.texture.unwrap import camera_view, unwrap_photo

    scene = make_scene(5, "soft_frontal", texture_size=SIZE, image_size=IMAGE, yaw_deg=0.0, model=model)
    h, w = scene.photo.shape[:2]
    view = camera_view(model, scene.vertices, scene.K, scene.R, scene.t, w, h)
    unwrap = unwrap_photo(scene.photo, scene.K, scene.R, scene.t, scene.vertices, model, SIZE, scene.person_mask,
                          view=view)
    delit = delight(unwrap, model, scene.vertices, mirror_index=mirror_lookup(model, SIZE).index)
    ref = skin_reference_mask(unwrap, model, delit.confidence, scene.landmarks, (h, w))
    none = np.zeros((SIZE, SIZE), bool)
    conf = _with_grazing(delit.confidence, delit.albedo, unwrap, model, view, scene.person_mask, ref, none)
    cos = np.einsum("ijc,ijc->ij", unwrap.normal, unwrap.view_dir)
    face = np.isin(unwrap.region, [model.region_id("face")])
    graze = face & unwrap.visible & (unwrap.weight == 0) & (cos > 0.1) & (cos < np.sin(np.deg2rad(15)))
    raised = graze & (conf > delit.confidence + 0.02)
    assert graze.sum() > 20 and raised.sum() > 0.15 * graze.sum()
    assert _mean_de(delit.albedo, scene.albedo, raised) < 6.0
    hair = delit.albedo.copy()
    hair[graze] = (0.03, 0.02, 0.015)
    conf_h = _with_grazing(delit.confidence, hair, unwrap, model, view, scene.person_mask, ref, none)
    assert np.all(conf_h[graze] <= delit.confidence[graze] + 1e-6)
    conf_x = _with_grazing(delit.confidence, delit.albedo, unwrap, model, view, scene.person_mask, ref, graze)
    assert np.all(conf_x[graze] == delit.confidence[graze])


def test_an_output_larger_than_the_analysis_size_gets_every_map_at_its_size(model, soft, monkeypatch) -> None:
    """Sizes above the analysis size (1024² by default; 256² here, so the test stays small) are analysed
    small and get full-resolution detail: every map, the eyes' iris included, comes out at the asked size."""
    import engine.texture.pipeline as pipeline

    scene, _ = soft
    monkeypatch.setattr(pipeline, "ANALYSIS_SIZE", SIZE)
    inp = TextureInputs(scene.photo, scene.K, scene.R, scene.t, scene.vertices, scene.landmarks,
                        scene.person_mask, 2 * SIZE)
    res = build_texture(inp, model, settings=TextureSettings(calibrate=CalibrationSettings(enabled=False)))
    assert res.albedo_srgb.shape == (2 * SIZE, 2 * SIZE, 3) and res.normal.shape[:2] == (2 * SIZE, 2 * SIZE)
    assert res.roughness.shape == (2 * SIZE, 2 * SIZE)
