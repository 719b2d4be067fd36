"""Synthetic ground-truth scenes (engine/synthetic.py): exposure normalisation, determinism, rendering."""
from __future__ import annotations

import numpy as np
import pytest

from engine.head.model import load_head_model
from engine.synthetic import (
    STANDARD_LIGHTS,
    DirectionalLight,
    SceneLight,
    look_at_camera,
    make_scene,
    normalise_exposure,
    synthetic_albedo,
)
from engine.texture.delight import REFERENCE_SHADING, reference_normals
from engine.texture.template import load_template_albedo
from engine.texture.unwrap import uv_raster

SIZE = 256
IMAGE = 384


@pytest.fixture(scope="module")
def model():
    return load_head_model()


@pytest.fixture(scope="module")
def side_scene(model):
    return make_scene(3, "hard_side", texture_size=SIZE, image_size=IMAGE, yaw_deg=0.0, model=model)


@pytest.mark.parametrize("light", STANDARD_LIGHTS, ids=lambda li: li.name)
def test_exposure_normalisation_sets_the_reference_mean(model, light: SceneLight) -> None:
    lit = normalise_exposure(light, model=model)
    mean = lit.unshadowed(reference_normals(model)).mean(axis=0)
    np.testing.assert_allclose(mean, REFERENCE_SHADING, rtol=1e-6)
    # the normalisation is a per-channel gain: directions and relative strengths are kept
    for a, b in zip(light.lights, lit.lights):
        assert a.direction == b.direction
    ratio = np.asarray(lit.sky) / np.asarray(light.sky)
    np.testing.assert_allclose(np.asarray(lit.lights[0].rgb) / np.asarray(light.lights[0].rgb), ratio, rtol=1e-6)


def test_sky_ground_ambient_is_linear_in_up_component() -> None:
    li = SceneLight("t", sky=(1.0, 1.0, 1.0), ground=(0.2, 0.2, 0.2))
    n = np.array([[0.0, 1.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0]])
    np.testing.assert_allclose(li.ambient(n)[:, 0], [1.0, 0.2, 0.6])
    sun = SceneLight("s", (0, 0, 0), (0, 0, 0), (DirectionalLight((0.0, 0.0, 1.0), (2.0, 2.0, 2.0)),))
    np.testing.assert_allclose(sun.unshadowed(n)[:, 0], [0.0, 0.0, 2.0], atol=1e-12)


def test_synthetic_albedo_varies_skin_only(model) -> None:
    base = load_template_albedo(SIZE)
    a = synthetic_albedo(base, model, np.random.default_rng(0))
    b = synthetic_albedo(base, model, np.random.default_rng(0))
    c = synthetic_albedo(base, model, np.random.default_rng(1))
    np.testing.assert_array_equal(a, b)
    r = uv_raster(model, SIZE)
    part = np.full(SIZE * SIZE, -1)
    part[r.texels] = model.face_part.numpy()[r.tex_face]
    part = part.reshape(SIZE, SIZE)
    eyes = (part == model.part_id("eye_l")) | (part == model.part_id("eye_r"))
    np.testing.assert_array_equal(a[eyes], base[eyes])
    skin = part == 0
    assert np.abs(a[skin] - base[skin]).mean() > 0.005
    assert np.abs(a[skin] - c[skin]).mean() > 0.005


def test_look_at_camera_projects_head_origin_to_centre() -> None:
    K, R, t = look_at_camera(400, 300, 800.0, 0.7, yaw_deg=10.0, pitch_deg=-3.0)
    p = K @ (R @ np.zeros(3) + t)
    np.testing.assert_allclose(p[:2] / p[2], [199.5, 149.5])
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(R) == pytest.approx(1.0)
    # the face (+Z) points toward the camera (camera z decreases toward it)
    assert (R @ np.array([0.0, 0.0, 1.0]))[2] < 0


def test_scene_is_rendered_consistently(model, side_scene) -> None:
    s = side_scene
    assert s.photo.shape == (IMAGE, IMAGE, 3) and s.photo.dtype == np.float32
    assert s.photo_srgb.dtype == np.uint8
    assert 0.0 <= s.photo.min() and s.photo.max() <= 1.0
    assert s.albedo.shape == (SIZE, SIZE, 3)
    assert s.landmarks is not None and s.landmarks.shape == (478, 2)
    # landmarks lie on the rendered head
    lm = np.round(s.landmarks).astype(int)
    assert (s.person_mask[lm[:, 1], lm[:, 0]] > 0.5).mean() > 0.95
    # hard side light from the head's left (+X, image right): the right half of the face is brighter
    cx = int(np.median(s.landmarks[:, 0]))
    face = s.person_mask > 0.99
    lum = s.photo @ np.array([0.2126, 0.7152, 0.0722], np.float32)
    right = lum[:, cx + 10:][face[:, cx + 10:]].mean()
    left = lum[:, :cx - 10][face[:, :cx - 10]].mean()
    assert right > 2.0 * left


def test_same_seed_same_subject_under_another_light(model, side_scene) -> None:
    other = make_scene(3, "soft_frontal", texture_size=SIZE, image_size=IMAGE, yaw_deg=0.0, model=model,
                       detect=False)
    np.testing.assert_array_equal(other.albedo, side_scene.albedo)
    np.testing.assert_array_equal(other.vertices, side_scene.vertices)
    np.testing.assert_array_equal(other.K, side_scene.K)
    assert other.landmarks is None
    assert np.abs(other.photo - side_scene.photo).mean() > 0.02
