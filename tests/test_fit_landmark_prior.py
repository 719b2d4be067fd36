"""MediaPipe's landmark error model (engine/fit/landmark_prior.py): its contract, its geometry, and on a
Cycles render of a head it was not fitted on, turned 40 degrees, the corrected points are nearer the
true landmarks than MediaPipe's."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.fit import landmark_prior as LP
from tests.cycles import require_cycles


def test_shipped_prior_loads_and_round_trips(tmp_path) -> None:
    prior = LP.load_landmark_prior()
    assert prior is not None
    assert prior.bias.shape == (478, 2, 5) and prior.variance.shape == (478, 3) and prior.sigma_ref > 0
    path = tmp_path / "p.json"
    import json

    path.write_text(json.dumps(LP.prior_to_json(prior)))
    again = LP.load_landmark_prior.__wrapped__(path)
    assert np.allclose(again.bias, prior.bias, atol=1e-6) and np.isclose(again.sigma_ref, prior.sigma_ref)


def test_far_side_is_trusted_less_on_a_turned_head() -> None:
    """Yawed 45 degrees, the landmarks' relative trust spreads: the least trusted twentieth falls well below
    the frontal one's."""
    prior = LP.load_landmark_prior()
    c, s = np.cos(np.radians(45)), np.sin(np.radians(45))
    frontal = np.diag([1.0, -1.0, -1.0])  # head +Z toward the camera (OpenCV camera looks along +z)
    turned = frontal @ np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    pts = np.zeros((478, 2))
    _, t0 = LP.correct_landmarks(pts, 100.0, frontal, prior)
    _, t45 = LP.correct_landmarks(pts, 100.0, turned, prior)
    assert np.isclose(t0.mean(), 1.0) and np.isclose(t45.mean(), 1.0)
    assert np.quantile(t45, 0.05) < 0.75 * np.quantile(t0, 0.05)


def test_correction_moves_along_the_head_axes() -> None:
    """A prior with a constant bias of 0.01 face sizes along the head's X axis moves every point by
    face_size x 0.01 along that axis's image direction; equal spreads give equal trust."""
    bias = np.zeros((478, 2, 5))
    bias[:, 0, 0] = 0.01
    var = np.zeros((478, 3))
    var[:, 0] = 0.02 ** 2
    prior = LP.LandmarkPrior(bias, var, 0.02, {})
    R = np.diag([1.0, -1.0, -1.0])
    pts = np.random.default_rng(0).uniform(0, 500, (478, 2))
    out, trust = LP.correct_landmarks(pts, 200.0, R, prior)
    axes, _, _ = LP.head_axes(R)
    assert np.allclose(out, pts - 2.0 * axes[:, 0][None, :])
    assert np.allclose(trust, 1.0)


@pytest.fixture(scope="module")
def turned_render(tmp_path_factory) -> Path:
    """A head none of the training renders used (a new seed), yawed 40 degrees, rendered small by Cycles."""
    require_cycles()
    from bench.groundtruth.generate import render_scenes
    from bench.groundtruth.heads import HeadSpec
    from bench.groundtruth.scenes import LIGHTINGS, Scene, View

    scene = Scene(HeadSpec("lp_test", 4242, "neutral", "takeo_light"), View("y40", 40.0, 2.0, 85.0, 512),
                  LIGHTINGS["hdri-courtyard"])
    return render_scenes([scene], tmp_path_factory.mktemp("lm_cache"), 16, log=lambda *a: None)[0]


def test_corrected_points_are_nearer_the_truth_on_an_unseen_turned_head(turned_render: Path) -> None:
    import json

    from bench.groundtruth.metrics import inter_ocular
    from engine.fit.correspondence import load_correspondence
    from engine.fit.landmark_fit import initial_rotation
    from engine.fit.pipeline import landmark_basis
    from engine.head.model import load_head_model
    from engine.images import load_photo
    from engine.landmarks import FACE_OVAL, detect_landmarks

    face = detect_landmarks(load_photo(turned_render / "photo.png"))
    truth = np.asarray(json.loads((turned_render / "scene.json").read_text())["landmarks478"])
    w, h = face.image_size
    R = initial_rotation(landmark_basis(load_head_model(), load_correspondence()), face.points, w, h)
    corrected, _ = LP.correct_landmarks(face.points, face.face_size, R, LP.load_landmark_prior())
    inner = np.ones(478, bool)
    inner[list(FACE_OVAL)] = False
    iod = inter_ocular(truth)
    before = np.linalg.norm(face.points - truth, axis=1)[inner].mean() / iod
    after = np.linalg.norm(corrected - truth, axis=1)[inner].mean() / iod
    assert after < 0.85 * before, (before, after)
