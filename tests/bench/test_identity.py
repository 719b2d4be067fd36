"""bench.groundtruth.identity: dlib's face descriptor on the real test photos.

Measured (dlib-bin 20.0.1.post1, face_recognition_models 0.3.0, largest confident HOG face):
astronaut vs itself rescaled 0.8x and shifted 0.11, vs its grey version 0.19; astronaut, takeo,
einstein/tongue and breakingbad (the HOG detector finds only the frontal face on the left)
pairwise 0.75-0.92; einstein vs tongue (two B&W photos of Einstein) 0.46.
"""
from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest

from tests.photos import ground_truth_68, paste, photo_path, read_rgb

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("dlib") is None
    or importlib.util.find_spec("face_recognition_models") is None,
    reason="dlib / face_recognition_models not installed (pip install -r requirements-bench.txt)")

from bench.groundtruth import identity  # noqa: E402


@pytest.fixture(scope="module")
def descriptors() -> dict[str, np.ndarray]:
    out = {}
    for name in ("astronaut", "takeo", "einstein", "tongue", "breakingbad"):
        desc = identity.face_descriptor(read_rgb(photo_path(name)))
        assert desc is not None, f"no face found in {name}"
        out[name] = desc
    return out


def test_descriptor_shape(descriptors: dict[str, np.ndarray]) -> None:
    for name, desc in descriptors.items():
        assert desc.shape == (128,) and desc.dtype == np.float64, name
        assert np.all(np.isfinite(desc)), name


def test_same_photo_rescaled_and_shifted(descriptors: dict[str, np.ndarray]) -> None:
    rgb = read_rgb(photo_path("astronaut"))
    canvas = np.full((560, 600, 3), 128, np.uint8)
    moved = paste(canvas, rgb, 0.8, (37, 61))
    d = identity.identity_distance(descriptors["astronaut"], identity.face_descriptor(moved))
    assert d < 0.35


def test_grey_photo_ignores_weak_false_positive(descriptors: dict[str, np.ndarray]) -> None:
    """The grey astronaut gets a weak HOG hit on her suit (score ~0.03, larger than her face,
    score ~1.5); the largest *confident* face is still hers."""
    rgb = read_rgb(photo_path("astronaut"))
    grey = np.repeat(rgb.mean(axis=2, keepdims=True).astype(np.uint8), 3, axis=2)
    boxes = identity.detect_faces(grey)
    assert len(boxes) == 1 and boxes[0][3] < 200
    assert identity.identity_distance(descriptors["astronaut"], identity.face_descriptor(grey)) < 0.35


@pytest.mark.parametrize("a, b", [("astronaut", "einstein"), ("takeo", "astronaut"),
                                  ("takeo", "einstein"), ("astronaut", "breakingbad")])
def test_different_people(descriptors: dict[str, np.ndarray], a: str, b: str) -> None:
    assert identity.identity_distance(descriptors[a], descriptors[b]) > identity.SAME_PERSON_THRESHOLD


def test_einstein_two_photos_same_person(descriptors: dict[str, np.ndarray]) -> None:
    # Both B&W; measured 0.46.
    assert identity.identity_distance(descriptors["einstein"], descriptors["tongue"]) < 0.6


def test_box_picks_the_other_face() -> None:
    """breakingbad: the HOG detector finds only the frontal face on the left; the ground-truth
    landmarks are of the man on the right, so their box yields another person's descriptor."""
    rgb = read_rgb(photo_path("breakingbad"))
    gt = ground_truth_68("breakingbad")
    box = (int(gt[:, 0].min()), int(gt[:, 1].min()), int(gt[:, 0].max()), int(gt[:, 1].max()))
    largest = identity.detect_faces(rgb)[0]
    assert largest[2] < box[0]  # the detected face lies left of the annotated one
    d = identity.identity_distance(identity.face_descriptor(rgb),
                                   identity.face_descriptor(rgb, box))
    assert d > identity.SAME_PERSON_THRESHOLD


def test_box_snaps_to_the_detection() -> None:
    """A landmark box around the detected face gives the detector's descriptor exactly."""
    rgb = read_rgb(photo_path("takeo"))
    gt = ground_truth_68("takeo")
    box = (gt[:, 0].min(), gt[:, 1].min(), gt[:, 0].max(), gt[:, 1].max())
    np.testing.assert_array_equal(identity.face_descriptor(rgb, box), identity.face_descriptor(rgb))
    raw = identity.face_descriptor(rgb, box, snap=False)
    assert identity.identity_distance(raw, identity.face_descriptor(rgb)) < 0.35


def test_no_face_and_nan() -> None:
    assert identity.face_descriptor(np.full((200, 200, 3), 128, np.uint8)) is None
    assert math.isnan(identity.identity_distance(None, np.zeros(128)))
    assert identity.identity_distance(np.zeros(128), np.ones(128)) == pytest.approx(math.sqrt(128))
    with pytest.raises(ValueError):
        identity.face_descriptor(np.zeros((10, 10), np.uint8))
