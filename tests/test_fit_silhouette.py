"""engine.fit.silhouette: the person mask's signed distance, the mesh's outer outline, the outline term, and
a fit on a Cycles render of a head none of the training renders used."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from engine.fit import silhouette as S
from tests.cycles import require_cycles


def _disk(size: int = 101, radius: float = 30.0) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    return ((xx - 50) ** 2 + (yy - 50) ** 2 <= radius ** 2).astype(np.float32)


def test_signed_distance_is_negative_inside_positive_outside_and_zero_on_the_boundary() -> None:
    target = S.silhouette_target(_disk())
    at = target.sample(torch.tensor([[50.0, 50.0], [50.0, 80.5], [50.0, 90.0], [95.0, 50.0]]))
    assert at[0] < -25 and abs(at[1]) < 1.0 and 8 < at[2] < 11 and 13 < at[3] < 16


def test_bound_points_inside_cost_nothing_attract_points_inside_do() -> None:
    target = S.silhouette_target(_disk())
    settings = S.SilhouetteSettings()
    inside, outside = torch.tensor([[50.0, 75.0]]), torch.tensor([[50.0, 86.0]])
    iod = 100.0
    bound = torch.tensor([False])
    attract = torch.tensor([True])
    assert S.silhouette_loss(inside, bound, target, iod, settings) == 0
    assert S.silhouette_loss(outside, bound, target, iod, settings) > 0
    assert S.silhouette_loss(inside, attract, target, iod, settings) > 0
    deep = torch.tensor([[50.0, 60.0]])  # 20 px = 0.2 IOD inside: beyond the gate, taken as covered
    assert S.silhouette_loss(deep, attract, target, iod, settings) == 0


def _template_camera(yaw_deg: float, size: int = 512):
    from engine.fit.camera import HEAD_TO_OPENCV_FRONT

    a = np.radians(yaw_deg)
    turn = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    R = HEAD_TO_OPENCV_FRONT @ turn
    K = np.array([[1400.0, 0, size / 2 - 0.5], [0, 1400.0, size / 2 - 0.5], [0, 0, 1]])
    return K, R, np.array([0.0, 0.02, 0.75])


@pytest.mark.parametrize("yaw", [0.0, 40.0])
def test_outline_vertices_lie_on_the_rendered_head_outline(yaw: float) -> None:
    """Checked against the engine's own rasterizer (a different code path): every outline vertex is
    within 2 px of the rendered skin's outer boundary, and the outline goes round the head."""
    from engine.head.model import load_head_model
    from engine.render import opencv_to_clip, rasterize
    from engine.runtime import CPU

    model = load_head_model()
    K, R, t = _template_camera(yaw)
    verts = model.vertices.numpy().astype(np.float64)
    ids = S.outline_vertices(S.outline_basis(model), verts, K, R, t, 512, 512)
    skin = model.faces[model.mask_faces("skin")]
    clip = opencv_to_clip(model.vertices, torch.tensor(K, dtype=torch.float32), torch.tensor(R, dtype=torch.float32),
                          torch.tensor(t, dtype=torch.float32), 512, 512)
    rast, _ = rasterize(CPU.context(), clip[None], skin.int(), (512, 512), grad_db=False)
    covered = (rast[0, ..., 3] > 0).numpy().astype(np.uint8)
    outer, _ = cv2.findContours(covered, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    edge = np.zeros_like(covered)
    cv2.drawContours(edge, outer, -1, 1, 1)
    dist = cv2.distanceTransform(1 - edge, cv2.DIST_L2, 5)
    cam = verts[ids] @ R.T + t
    px = cam[:, :2] / cam[:, 2:] * K[0, 0] + K[0, 2]
    d = dist[np.round(px[:, 1]).astype(int), np.round(px[:, 0]).astype(int)]
    assert len(ids) > 40 and np.percentile(d, 95) <= 2.0, (len(ids), np.percentile(d, 95))
    centre = px.mean(0)
    angles = np.degrees(np.arctan2(*(px - centre).T[::-1]))
    # round the head, except under the jaw (the neck is no candidate): at most one 45-degree sector empty
    assert (np.histogram(angles, bins=8, range=(-180, 180))[0] > 0).sum() >= 7


@pytest.fixture(scope="module")
def turned_render(tmp_path_factory) -> Path:
    """A head none of the training or benchmark renders used (a new seed), yawed -40 degrees, rendered small
    by Cycles in front of an HDRI background."""
    require_cycles()
    from bench.groundtruth.generate import render_scenes
    from bench.groundtruth.heads import HeadSpec
    from bench.groundtruth.scenes import LIGHTINGS, Scene, View

    scene = Scene(HeadSpec("sil_test", 5151, "neutral", "breakingbad_tan"), View("y-40", -40.0, 3.0, 50.0, 512),
                  LIGHTINGS["hdri-studio"])
    return render_scenes([scene], tmp_path_factory.mktemp("sil_cache"), 16, log=lambda *a: None)[0]


def test_fitted_outline_follows_the_given_outline(turned_render: Path) -> None:
    """Given the render's own head mask as the person mask (so that the segmenter's errors are not what is
    tested), the outline term brings the fitted face's outline nearer the true one, and the face surface
    stays as close to the true surface (within 10 %). The benchmark scores the term with the segmenter's
    masks (bench_groundtruth.py's geometry rows)."""
    from bench.bench_groundtruth import _model_parts
    from bench.groundtruth import metrics as M
    from engine.fit.pipeline import FitSettings, fit_head
    from engine.head.model import load_head_model
    from engine.images import load_photo
    from engine.landmarks import detect_landmarks

    scene = json.loads((turned_render / "scene.json").read_text())
    truth = np.load(scene["mesh"])["vertices"].astype(np.float64)
    mask = cv2.imread(str(turned_render / "mask_head.png"), cv2.IMREAD_GRAYSCALE) > 127
    edge = np.zeros(mask.shape, np.uint8)
    outer, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(edge, outer, -1, 1, 1)
    dist = cv2.distanceTransform(1 - edge, cv2.DIST_L2, 5)
    photo = load_photo(turned_render / "photo.png")
    assert photo.rgb.shape[:2] == mask.shape  # the working image is the render itself
    face = detect_landmarks(photo)
    model, parts = load_head_model(), _model_parts()
    basis = S.outline_basis(model)
    out = {}
    for name, sil in (("off", None), ("on", S.SilhouetteSettings())):
        fit = fit_head(photo.rgb, face, model, replace(FitSettings(unwrap=None, corrective=None), silhouette=sil),
                       mask.astype(np.float32))
        c = fit.camera
        ids = S.outline_vertices(basis, fit.vertices_posed.astype(np.float64), c.K, c.R, c.t, c.width, c.height)
        ids = ids[basis.attract[ids]]
        px = np.round(c.project(fit.vertices_posed[ids].astype(np.float64))).astype(int)
        px = np.clip(px, 0, np.array(mask.shape[::-1]) - 1)
        face_mm = M.surface_error(fit.vertices_posed.astype(np.float64), truth, model.faces.numpy(),
                                  parts["face_vertices"]).mean_mm
        out[name] = (float(dist[px[:, 1], px[:, 0]].mean()), face_mm)
    assert out["on"][0] < 0.8 * out["off"][0], out
    assert out["on"][1] < 1.1 * out["off"][1], out


def test_a_mask_that_misses_the_face_is_not_used() -> None:
    oval = np.array([[30.0, 30.0], [70.0, 30.0], [70.0, 70.0], [30.0, 70.0]])
    settings = S.SilhouetteSettings()
    assert S.mask_covers_face(_disk(), oval, settings)
    half = _disk()
    half[:, 50:] = 0  # the segmenter lost the shadowed half of the face
    assert not S.mask_covers_face(half, oval, settings)
