"""The learned hair detector (engine/texture/hair.py) on a real Cycles render of a head with hair cards
and on its bare twin: it finds most of the hair and leaves the bare skin alone. Plus the shipped
model's contract (its features, its JSON round trip)."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from engine.texture import hair as H
from tests.cycles import require_cycles

SIZE = 512
"""The render's side (px): small, the detector's windows scale with the face."""


def test_shipped_model_loads_and_round_trips(tmp_path) -> None:
    model = H.HairModel.load()
    assert model.names == H.FEATURE_NAMES and model.weights.shape == (len(H.FEATURE_NAMES),)
    assert 0.0 < model.grow < model.seed < 1.0
    path = tmp_path / "m.json"
    path.write_text(model.to_json())
    again = H.HairModel.load(path)
    assert np.allclose(again.weights, model.weights) and again.bias == model.bias


def test_structure_tensor_is_coherent_on_parallel_strands_not_on_noise() -> None:
    rng = np.random.default_rng(0)
    noise = np.clip(0.3 + 0.05 * rng.standard_normal((96, 96)), 0, 1).astype(np.float32)
    strands = noise.copy()
    strands[:, ::3] *= 0.4  # dark vertical strands every 3 px
    inner = (slice(20, 76), slice(20, 76))
    coherence = []
    for img in (noise, strands):
        _, aniso, trace = H.photo_texture_maps(np.repeat(img[..., None], 3, 2), iod=60.0)
        coherence.append(float((aniso / trace)[inner].mean()))
    assert coherence[1] > 0.8 and coherence[0] < 0.4


@pytest.fixture(scope="module")
def renders(tmp_path_factory) -> dict:
    """One training head with hair cards and its bare twin, rendered small by Cycles."""
    require_cycles()
    from bench.groundtruth.generate import render_scenes
    from bench.groundtruth.train_scenes import train_scenes

    pair = [replace(s, view=replace(s.view, size=SIZE)) for s in train_scenes() if s.head.name == "t301"][:2]
    assert len(pair) == 2 and pair[0].hair is None and pair[1].hair is not None
    folders = render_scenes(pair, tmp_path_factory.mktemp("hair_cache"), 16, log=lambda *a: None)
    return {"bare": folders[0], "hair": folders[1]}


def _detect(folder: Path) -> tuple[np.ndarray, dict]:
    from bench.groundtruth.generate import load_scene
    from bench.groundtruth.runner import run_engine

    out = run_engine(folder / "photo.png")
    assert out.hair_mask is not None
    return out.hair_mask, load_scene(folder)


def test_hair_over_the_forehead_and_cheeks_is_found(renders) -> None:
    from bench.groundtruth.layout import layout
    from bench.groundtruth.score_hair import hair_texels

    mask, scene = _detect(renders["hair"])
    verts = np.load(scene["mesh"])["vertices"].astype(np.float64)
    cover = cv2.imread(str(renders["hair"] / "mask_hair.png"), cv2.IMREAD_GRAYSCALE) / 255.0
    t = hair_texels(layout(mask.shape[0]), scene, verts, cover)
    assert t.covered.sum() > 1000
    assert (mask & t.covered).sum() > 0.7 * t.covered.sum()


def test_bare_skin_is_mostly_left_alone(renders) -> None:
    from bench.groundtruth.layout import layout
    from bench.groundtruth.score import seen_face_skin

    mask, scene = _detect(renders["bare"])
    verts = np.load(scene["mesh"])["vertices"].astype(np.float64)
    seen = seen_face_skin(layout(mask.shape[0]), scene, verts)
    # Training renders: 12.5 % of bare skin flagged on average; this head is among the worst (14-22 %
    # at 400-1024 px, mostly grazing texels along the seen border, which are then filled).
    assert (mask & seen).sum() < 0.25 * seen.sum()
