"""MediaPipe's known landmark errors, by head pose: a per-landmark bias and spread to correct and weight by.

MediaPipe's 478 points are not where the fitted surface's points project: on a turned head it puts the
far eye's corners, the far side of the nose and mouth and the outline on what it sees, which is not the
surface point our correspondence names, and its error grows with the yaw. Those errors are systematic.
:class:`LandmarkPrior` holds, per landmark, a bias (2 components, in the head's image axes, in units of
the face's size) as a cubic in ``sin(yaw)`` plus a linear pitch term, and the spread left after removing
it as a quadratic in ``sin(yaw)``. Both were measured on Cycles renders of training heads (never
benchmark heads) with known landmarks: ``bench/build_landmark_prior.py`` writes
``engine/fit/data/landmark_prior.json``.

:func:`correct_landmarks` takes the detected points and a first head rotation (from a PnP on the raw
points) and returns the points with the expected bias removed and a trust per point,
``sigma_ref^2 / (sigma_ref^2 + sigma^2)``, which the fit multiplies into its landmark weights.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

__all__ = [
    "PRIOR_PATH",
    "LandmarkPrior",
    "correct_landmarks",
    "head_axes",
    "load_landmark_prior",
    "pose_features",
    "variance_features",
]

PRIOR_PATH = Path(__file__).parent / "data" / "landmark_prior.json"


@dataclass(frozen=True)
class LandmarkPrior:
    """``bias`` (N, 2, P) coefficients of :func:`pose_features` per landmark and component (head x, head
    -y in the image, in face sizes); ``variance`` (N, Q) coefficients of :func:`variance_features` of the
    remaining squared error (face sizes squared); ``sigma_ref`` the error (face sizes) a landmark of full
    trust has; ``info`` how it was fitted."""

    bias: np.ndarray
    variance: np.ndarray
    sigma_ref: float
    info: dict


def pose_features(sin_yaw: float, sin_pitch: float) -> np.ndarray:
    """(P,) = (1, s, s², s³, p) for ``s`` = sin(yaw), ``p`` = sin(pitch)."""
    s = float(sin_yaw)
    return np.array([1.0, s, s * s, s ** 3, float(sin_pitch)])


def variance_features(sin_yaw: float) -> np.ndarray:
    """(Q,) = (1, s, s²) for ``s`` = sin(yaw)."""
    s = float(sin_yaw)
    return np.array([1.0, s, s * s])


def head_axes(R: np.ndarray) -> tuple[np.ndarray, float, float]:
    """(2, 2) columns: the image directions of the head's +X and -Y axes (unit), and sin(yaw), sin(pitch)
    of the head's forward axis (+Z) for a head-to-camera rotation ``R`` (OpenCV camera: +z forward)."""
    R = np.asarray(R, np.float64)
    u, v = R[:2, 0], -R[:2, 1]
    axes = np.stack([u / max(np.linalg.norm(u), 1e-9), v / max(np.linalg.norm(v), 1e-9)], axis=1)
    forward = R[:, 2]
    return axes, float(forward[0]), float(forward[1])


def correct_landmarks(points: np.ndarray, face_size: float, R: np.ndarray, prior: LandmarkPrior
                      ) -> tuple[np.ndarray, np.ndarray]:
    """(N, 2) pixel ``points`` with the expected bias for the head rotation ``R`` removed, and (N,) relative
    trust (mean 1). ``face_size``: the face's size in pixels (:attr:`engine.landmarks.FaceLandmarks.face_size`)."""
    axes, s, p = head_axes(R)
    bias_head = prior.bias @ pose_features(s, p)  # (N, 2) in face sizes along the head's axes
    corrected = np.asarray(points, np.float64) - face_size * bias_head @ axes.T
    var = np.maximum(prior.variance @ variance_features(s), 0.0)
    trust = prior.sigma_ref ** 2 / (prior.sigma_ref ** 2 + var)
    return corrected, (trust / trust.mean()).astype(np.float32)


def prior_to_json(prior: LandmarkPrior) -> dict:
    return {"bias": np.round(prior.bias, 6).tolist(), "variance": np.round(prior.variance, 8).tolist(),
            "sigma_ref": prior.sigma_ref, "info": prior.info}


@lru_cache(maxsize=2)
def load_landmark_prior(path: Path = PRIOR_PATH) -> LandmarkPrior | None:
    """The shipped prior, or None when the file is absent."""
    if not Path(path).is_file():
        return None
    d = json.loads(Path(path).read_text())
    return LandmarkPrior(np.asarray(d["bias"], np.float64), np.asarray(d["variance"], np.float64),
                         float(d["sigma_ref"]), dict(d.get("info", {})))
