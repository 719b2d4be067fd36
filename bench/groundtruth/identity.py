"""Identity distance between two face photos: dlib's 128-d ResNet face descriptor.

Benchmark / test tool only, never shipped with the add-on (install with
``pip install -r requirements-bench.txt``). Independent of ``engine/``.

Models (from the PyPI package ``face_recognition_models==0.3.0``, CC0 1.0 per its LICENSE; the
dlib-models README by Davis King puts them in the public domain):

* ``dlib_face_recognition_resnet_model_v1.dat`` - the descriptor network. Trained with a metric
  loss that puts each identity in a ball of radius 0.6, so a Euclidean distance below 0.6 means
  "same person" (99.38 % on LFW).
* ``shape_predictor_5_face_landmarks.dat`` - eye corners and nose base, used to align the face
  chip. Trained on dlib's own 5-point dataset.

Deliberately NOT used: ``shape_predictor_68_face_landmarks.dat`` (trained on iBUG 300-W, whose
licence excludes commercial use) and ``mmod_human_face_detector.dat``. The face detector is
dlib's built-in HOG frontal detector (part of dlib's Boost-licensed code, trained on LFW faces).

``face_recognition_models/__init__.py`` imports ``pkg_resources``, which current setuptools no
longer ships, so the model files are located with :func:`importlib.util.find_spec` without
importing the package.
"""
from __future__ import annotations

import importlib.util
import math
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["SAME_PERSON_THRESHOLD", "face_descriptor", "identity_distance", "detect_faces"]

SAME_PERSON_THRESHOLD = 0.6
"""Descriptors closer than this (Euclidean) are the same person by dlib's training objective."""

_INSTALL_HINT = "pip install -r requirements-bench.txt"
_RECOGNITION_MODEL = "dlib_face_recognition_resnet_model_v1.dat"
_SHAPE_MODEL = "shape_predictor_5_face_landmarks.dat"
_SNAP_IOU = 0.3
"""A caller's box is replaced by the detection overlapping it at least this much (IoU)."""

_CONFIDENT_SCORE = 0.5
"""Detections scoring below this (or below the best score, if that is lower) are ignored."""

_lock = threading.Lock()


def _models_dir() -> Path:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            "bench.groundtruth.identity needs the 'face_recognition_models' package (dlib model "
            f"files): {_INSTALL_HINT}")
    for root in spec.submodule_search_locations:
        folder = Path(root) / "models"
        if (folder / _RECOGNITION_MODEL).is_file() and (folder / _SHAPE_MODEL).is_file():
            return folder
    raise FileNotFoundError(
        f"face_recognition_models is installed but {_RECOGNITION_MODEL} / {_SHAPE_MODEL} are "
        f"missing from it; reinstall: {_INSTALL_HINT}")


@lru_cache(maxsize=1)
def _models() -> tuple[Any, Any, Any]:
    """``(HOG detector, shape predictor, recognition net)``, loaded once."""
    try:
        import dlib
    except ImportError as err:
        raise ImportError(
            f"bench.groundtruth.identity needs dlib (PyPI package 'dlib-bin'): {_INSTALL_HINT}"
        ) from err
    folder = _models_dir()
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(folder / _SHAPE_MODEL))
    recognizer = dlib.face_recognition_model_v1(str(folder / _RECOGNITION_MODEL))
    return detector, predictor, recognizer


def _check_image(rgb_uint8: np.ndarray) -> np.ndarray:
    img = np.asarray(rgb_uint8)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {img.dtype} {img.shape}")
    return np.ascontiguousarray(img)


def _detect(img: np.ndarray) -> list[tuple[tuple[int, int, int, int], float]]:
    """All HOG detections ``(box, score)`` (dlib's default threshold, score >= 0) at the image's
    own scale, or, if there are none, once more upsampled 2x (faces down to ~40 px, not ~80)."""
    detector = _models()[0]
    with _lock:
        rects, scores, _ = detector.run(img, 0, 0.0)
        if len(rects) == 0:
            rects, scores, _ = detector.run(img, 1, 0.0)
    return [((r.left(), r.top(), r.right(), r.bottom()), float(s)) for r, s in zip(rects, scores)]


def _area(b: tuple[int, int, int, int]) -> int:
    return (b[2] - b[0]) * (b[3] - b[1])


def detect_faces(rgb_uint8: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Confident face boxes ``(left, top, right, bottom)`` from dlib's HOG frontal detector,
    largest first (see :func:`_detect` for the scales searched).

    Confident: score >= min(0.5, best score). HOG's false positives score near 0 (e.g. a patch of
    the astronaut's suit, larger than her face, appears after some colour changes) while clear
    faces score 1-3; a photo whose best face scores low (einstein: 0.07) keeps it."""
    found = _detect(_check_image(rgb_uint8))
    if not found:
        return []
    floor = min(_CONFIDENT_SCORE, max(s for _, s in found))
    return sorted((b for b, s in found if s >= floor), key=_area, reverse=True)


def _iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def face_descriptor(rgb_uint8: np.ndarray, box: tuple[int, int, int, int] | None = None,
                    *, snap: bool = True) -> np.ndarray | None:
    """The ``(128,)`` float64 dlib descriptor of one face in ``rgb_uint8`` ((H, W, 3) uint8 sRGB),
    or ``None`` when there is no face.

    Which face:

    * ``box is None``: the largest confident face found by the HOG detector (upsampled once if
      none is found at full scale), see :func:`detect_faces`; ``None`` if none is found.
    * ``box = (left, top, right, bottom)`` given (e.g. the bounds of known landmarks): with
      ``snap`` (default) the detector's box (any score) that overlaps it most (IoU >= 0.3) is
      used, since the 5-point predictor is trained on detector-aligned boxes; when detection
      fails or finds only other faces, the given box itself. With ``snap=False`` the given box is
      used as is (its alignment changes the descriptor by up to ~0.2: einstein's landmark box vs
      the detector's box).

    The face is then aligned with the 5-point shape predictor and run through the ResNet once
    (``num_jitters=1``: deterministic)."""
    img = _check_image(rgb_uint8)
    _, predictor, recognizer = _models()  # raises the install hint if dlib is missing
    import dlib
    if box is None:
        boxes = detect_faces(img)
        if not boxes:
            return None
        chosen = boxes[0]
    else:
        chosen = tuple(int(round(v)) for v in box)
        if len(chosen) != 4 or chosen[2] <= chosen[0] or chosen[3] <= chosen[1]:
            raise ValueError(f"box must be (left, top, right, bottom) with right > left and "
                             f"bottom > top, got {box}")
        if snap:
            scored = [(_iou(b, chosen), b) for b, _ in _detect(img)]
            best = max(scored, default=(0.0, chosen))
            if best[0] >= _SNAP_IOU:
                chosen = best[1]
    rect = dlib.rectangle(*chosen)
    with _lock:
        shape = predictor(img, rect)
        desc = recognizer.compute_face_descriptor(img, shape, 1)
    return np.asarray(desc, dtype=np.float64).reshape(128)


def identity_distance(a: np.ndarray | None, b: np.ndarray | None) -> float:
    """Euclidean distance between two descriptors (< 0.6: same person); NaN if either is None."""
    if a is None or b is None:
        return math.nan
    return float(np.linalg.norm(np.asarray(a, np.float64) - np.asarray(b, np.float64)))
