"""How far the fitted head is turned from the camera, and what that means for the user.

Measured on the ground-truth benchmark (README, per-view geometry): with the head turned by 45°,
MediaPipe's inner-face landmarks miss the true points by 10-15 % of the inter-ocular distance (3-5 %
at 0-25°) and the fitted shape gains little over the average head; the far side of the face is barely
seen, so its skin is the near side's mirrored. Past :data:`TURNED_DEG` the engine says so.
"""
from __future__ import annotations

import numpy as np

__all__ = ["TURNED_DEG", "head_yaw_pitch_deg", "pose_warnings"]

TURNED_DEG = 35.0
"""Head yaw (degrees, either way) past which the reconstruction warns that likeness suffers."""


def head_yaw_pitch_deg(R: np.ndarray, t: np.ndarray) -> tuple[float, float]:
    """(yaw, pitch) in degrees of the camera around the head (head space: +X the head's left, +Y up, +Z
    out of the face), from the fitted ``pixel = K (R X + t)`` camera: 0, 0 is a frontal photo."""
    c = -np.asarray(R, np.float64).T @ np.asarray(t, np.float64).reshape(3)
    c /= max(float(np.linalg.norm(c)), 1e-12)
    return float(np.degrees(np.arctan2(c[0], c[2]))), float(np.degrees(np.arcsin(np.clip(c[1], -1.0, 1.0))))


def pose_warnings(R: np.ndarray, t: np.ndarray, turned_deg: float = TURNED_DEG) -> list[str]:
    """One line when the head is turned past ``turned_deg`` from the camera, else none."""
    yaw, _ = head_yaw_pitch_deg(R, t)
    if abs(yaw) <= turned_deg:
        return []
    return [f"the head is turned about {abs(yaw):.0f}° from the camera: the face's shape is less certain "
            "(MediaPipe's landmarks are less accurate on turned faces) and the far side's skin is the near "
            "side's mirrored; a frontal photo gives a closer likeness"]
