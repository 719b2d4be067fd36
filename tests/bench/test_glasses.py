"""The glasses benchmark's pieces that need no Cycles render: the frames on the template head (around
the eyes, clear of the skin, back to the ears, a well-formed mesh) and the glasses scenes (their bare
twins are the hair bench's, so the renders are shared)."""
from __future__ import annotations

import numpy as np
import pytest

from bench.groundtruth.glasses import (
    BRIDGE_CLEARANCE_M,
    FRAME_STYLES,
    IRIS_CENTRES,
    LEFT_EYE_CONTOUR,
    RIGHT_EYE_CONTOUR,
    RIM_CLEARANCE_M,
    TEMPLE_GAP_M,
    glasses_cards,
    outermost_skin,
)
from bench.groundtruth.hair import HairSpec, hair_cards
from bench.groundtruth.scenes import HEADS, glasses_scenes, hair_scenes, scenes
from bench.groundtruth.train_scenes import calibration_scenes, glasses_train_scenes, train_scenes

TOLERANCE_M = 1e-5
"""The cards are float32: clearances hold to this."""


@pytest.fixture(scope="module", params=sorted(FRAME_STYLES))
def frame(request, template):
    return glasses_cards(template["vertices"], template["skin"], template["landmarks"],
                         HairSpec("glasses", request.param))


def _of(cards, kind: str) -> np.ndarray:
    """(N, 3) float64 vertices of the cards of ``kind``."""
    return cards.vertices[np.isin(cards.card, [k for k, x in enumerate(cards.kind) if x == kind])].astype(np.float64)


def test_mesh_is_finite_and_well_formed(frame, template) -> None:
    v, f = frame.vertices, frame.faces
    assert v.dtype == np.float32 and f.dtype == np.int32 and np.all(np.isfinite(v))
    assert f.min() >= 0 and f.max() < len(v) and frame.uvs.shape == (len(v), 2) and frame.card.shape == (len(v),)
    area = 0.5 * np.linalg.norm(np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]]), axis=1)
    assert area.min() > 1e-9  # no degenerate triangle
    assert frame.kind.count("rim") == 8 and frame.kind.count("bridge") == 4 and frame.kind.count("temple") == 10
    assert np.array_equal(np.unique(frame.card), np.arange(len(frame.kind)))


def test_frame_is_deterministic_and_ignores_the_seed(template) -> None:
    args = template["vertices"], template["skin"], template["landmarks"]
    a, b = glasses_cards(*args, HairSpec("glasses", "black")), glasses_cards(*args, HairSpec("glasses", "black", 7))
    assert np.array_equal(a.vertices, b.vertices) and np.array_equal(a.faces, b.faces)


def test_rims_surround_the_eyes(frame, template) -> None:
    """Seen from the front, every lid contour point lies inside its rim: nearer the rim's middle than
    any rim vertex in its direction."""
    lm = template["landmarks"]
    rims = _of(frame, "rim")
    for contour in (LEFT_EYE_CONTOUR, RIGHT_EYE_CONTOUR):
        eye = lm[list(contour), :2]
        rim = rims[np.sign(rims[:, 0]) == np.sign(eye[:, 0].mean()), :2]
        centre = rim.mean(0)
        rim_angle = np.arctan2(*(rim - centre).T[::-1])
        for p in eye:
            d = p - centre
            near = np.abs(np.angle(np.exp(1j * (rim_angle - np.arctan2(d[1], d[0]))))) < np.radians(8)
            assert near.any() and np.linalg.norm(rim[near] - centre, axis=1).min() > np.linalg.norm(d) + 0.004


def test_frame_front_clears_the_skin_and_sits_before_the_eyes(frame, template) -> None:
    v, skin, lm = template["vertices"], template["skin"], template["landmarks"]
    for kind, clearance in (("rim", RIM_CLEARANCE_M), ("bridge", BRIDGE_CLEARANCE_M)):
        p = _of(frame, kind)
        under = outermost_skin(v, skin, p[:, :2], 2, 1.0)
        over = np.isfinite(under)
        gap = p[over, 2] - under[over]
        assert over.mean() > 0.5 and gap.min() > clearance - TOLERANCE_M, (kind, gap.min())
    rims = _of(frame, "rim")
    cornea = lm[list(IRIS_CENTRES), 2].max()
    assert 0.010 < np.median(rims[:, 2]) - cornea < 0.025
    bridge = _of(frame, "bridge")
    assert bridge[:, 0].min() < 0 < bridge[:, 0].max()  # over the nose, between the eyes' heights
    assert lm[list(LEFT_EYE_CONTOUR), 1].min() < bridge[:, 1].mean() < lm[list(LEFT_EYE_CONTOUR), 1].max() + 0.015


def test_temples_run_beside_the_head_back_past_the_ears(frame, template) -> None:
    v, skin, lm = template["vertices"], template["skin"], template["landmarks"]
    temples = _of(frame, "temple")
    for side in (1.0, -1.0):
        p = temples[np.sign(temples[:, 0]) == side]
        beside = outermost_skin(v, skin, p[:, 1:], 0, side)
        gap = side * (p[:, 0] - beside)
        assert np.isfinite(beside).mean() > 0.5 and np.nanmin(gap) > TEMPLE_GAP_M - TOLERANCE_M
        assert p[:, 2].min() < lm[list(IRIS_CENTRES), 2].max() - 0.09  # behind the ear
        assert np.ptp(p[:, 1]) < 0.02  # a temple runs back, not down


def test_hair_cards_dispatch_and_check_the_colour(template) -> None:
    args = template["vertices"], template["skin"], template["landmarks"]
    assert np.array_equal(hair_cards(*args, HairSpec("glasses", "gold")).vertices,
                          glasses_cards(*args, HairSpec("glasses", "gold")).vertices)
    with pytest.raises(ValueError, match="glasses colour"):
        hair_cards(*args, HairSpec("glasses", "brown"))
    with pytest.raises(ValueError, match="style"):
        glasses_cards(*args, HairSpec("fringe", "black"))


def test_glasses_scenes_share_the_hair_scenes_bare_twins() -> None:
    assert [s.to_json() for s in glasses_scenes(bare=True)] == [s.to_json() for s in hair_scenes(bare=True)]
    for dressed, bare in zip(glasses_scenes(), glasses_scenes(bare=True), strict=True):
        assert dressed.hair.style == "glasses" and dressed.hair.colour in FRAME_STYLES
        assert dressed.id == f"{bare.id}_glasses-{dressed.hair.colour}"


def test_glasses_training_scenes_share_no_head_with_the_benchmark() -> None:
    """The glasses detector is tuned on these: not one benchmark head (seed or name), not one benchmark
    scene, the dressed and bare ones alike."""
    train = glasses_train_scenes() + glasses_train_scenes(bare=True)
    assert not {s.head.seed for s in train} & {h.seed for h in HEADS}
    assert not {s.head.name for s in train} & {h.name for h in HEADS}
    benchmark = scenes() + glasses_scenes() + glasses_scenes(bare=True) + hair_scenes()
    assert not {s.id for s in train} & {s.id for s in benchmark}


def test_glasses_training_scenes_bare_twins_are_training_scenes() -> None:
    """The bare twins are training renders (the cache already holds them), and a head name means one
    head spec (the render cache keeps a head's mesh by its name)."""
    pool = train_scenes() + calibration_scenes()
    ids = {s.id for s in pool}
    for dressed, bare in zip(glasses_train_scenes(), glasses_train_scenes(bare=True), strict=True):
        assert bare.hair is None and bare.id in ids
        assert dressed.hair.style == "glasses" and dressed.hair.colour in FRAME_STYLES
        assert dressed.id == f"{bare.id}_glasses-{dressed.hair.colour}"
    specs = {}
    for s in pool + glasses_train_scenes():
        assert specs.setdefault(s.head.name, s.head) == s.head
    assert {s.hair.colour for s in glasses_train_scenes()} == set(FRAME_STYLES)
