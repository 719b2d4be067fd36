"""The hair benchmark's pieces that need no Cycles render: the hair cards on the template head, the
scenes' ids and JSON (a bare scene's must not change: the render cache keys on them), and the
covered / clear texel split of a hair mask."""
from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np

from bench.groundtruth.hair import BROW_LANDMARKS, EYE_CORNERS, HairSpec, cast_to_skin, hair_cards, skull_centre
from bench.groundtruth.scenes import hair_scenes, scenes
from bench.groundtruth.score_hair import MIN_TEXELS, HairTexels, de_on, hair_texels

LAYOUT_SIZE = 256
"""Small atlas: the texel sets only need to be right, not dense."""


def _cards(template: dict, style: str, seed: int = 3):
    return hair_cards(template["vertices"], template["skin"], template["landmarks"], HairSpec(style, "brown", seed))


def test_cards_are_deterministic_and_seeded(template) -> None:
    a, b, c = _cards(template, "fringe"), _cards(template, "fringe"), _cards(template, "fringe", seed=4)
    assert np.array_equal(a.vertices, b.vertices) and np.array_equal(a.faces, b.faces)
    assert not np.allclose(a.vertices, c.vertices)
    assert a.faces.max() < len(a.vertices) and a.uvs.shape == (len(a.vertices), 2)


def test_cards_lie_just_above_the_skin(template) -> None:
    """Every card vertex is outside the skin, a few mm from it (along the ray from the skull centre)."""
    cards = _cards(template, "fringe+cheeks")
    centre = skull_centre(template["vertices"], template["skin"], template["landmarks"])
    d = cards.vertices.astype(np.float64) - centre
    hits, _ = cast_to_skin(template["vertices"], template["skin"], centre, d / np.linalg.norm(d, axis=1, keepdims=True))
    ok = np.isfinite(hits[:, 0])
    assert ok.mean() > 0.95
    gap = np.linalg.norm(d[ok], axis=1) - np.linalg.norm(hits[ok] - centre, axis=1)
    assert np.percentile(gap, 2) > 0.0 and np.percentile(gap, 98) < 0.012, np.percentile(gap, [2, 50, 98])


def test_fringe_ends_at_the_brows_and_side_strands_reach_the_cheeks(template) -> None:
    lm = template["landmarks"]
    brow_y, eye_y = lm[list(BROW_LANDMARKS), 1].mean(), lm[list(EYE_CORNERS), 1].mean()
    fringe = _cards(template, "fringe")
    both = _cards(template, "fringe+cheeks")
    assert set(fringe.kind) == {"fringe"} and "cheek" in both.kind
    tips = fringe.vertices[fringe.uvs[:, 1] == 1.0]
    assert abs(np.median(tips[:, 1]) - brow_y) < 0.012
    assert fringe.vertices[:, 1].min() > eye_y  # the fringe never hangs over the eyes
    cheek = np.isin(both.card, [k for k, kind in enumerate(both.kind) if kind == "cheek"])
    assert both.vertices[cheek, 1].min() < eye_y - 0.04


def test_bare_scenes_keep_their_ids_and_json() -> None:
    bare = {s.id: s for s in scenes()}
    for hair, base in zip(hair_scenes(), hair_scenes(bare=True)):
        assert base.id in bare and base.to_json() == bare[base.id].to_json() and "hair" not in base.to_json()
        assert hair.id.startswith(base.id + "_") and json.loads(json.dumps(hair.to_json()))["hair"]["style"]
        assert replace(hair, hair=None).to_json() == base.to_json()


def test_hair_texel_split() -> None:
    from bench.groundtruth.layout import layout

    lay = layout(LAYOUT_SIZE)
    s = hair_scenes()[0]
    from bench.groundtruth.scenes import camera

    K, R, t, w, h = camera(s.view)
    scene = {"K": K.tolist(), "R": R.tolist(), "t": t.tolist(), "image_size": [w, h]}
    from engine.head.model import load_head_model

    verts = load_head_model().vertices.numpy().astype(np.float64)
    full = hair_texels(lay, scene, verts, np.ones((h, w), np.float32))
    none = hair_texels(lay, scene, verts, np.zeros((h, w), np.float32))
    assert full.seen.sum() > 1000 and np.array_equal(full.covered, full.seen) and not full.clear.any()
    assert np.array_equal(none.clear, none.seen) and not none.covered.any()
    top = np.zeros((h, w), np.float32)
    top[: h // 2] = 1.0  # the upper half of the photo hidden
    half = hair_texels(lay, scene, verts, top)
    assert 0 < half.covered.sum() < half.seen.sum() and not (half.covered & half.clear).any()


def test_too_few_texels_give_nan() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0, 1, (2, 16, 16, 3))
    mask = np.zeros((16, 16), bool)
    mask.flat[: MIN_TEXELS - 1] = True
    assert all(math.isnan(x) for x in de_on(a, b, mask))
    mask.flat[: MIN_TEXELS] = True
    assert all(math.isfinite(x) for x in de_on(a, b, mask))
    tx = HairTexels.split(np.ones((4, 4), bool), np.linspace(0, 1, 16).reshape(4, 4))
    assert tx.covered.sum() + tx.clear.sum() < 16  # the partly covered texels are in neither set
