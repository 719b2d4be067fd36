"""How far the fitted head is turned from the camera, and what that means for the user.

Measured on the ground-truth benchmark (README, per-view geometry): with the head turned by 45°,
MediaPipe's inner-face landmarks miss the true points by 10-15 % of the inter-ocular distance (3-5 %
at 0-25°) and the fitted shape gains little over the average head; the far side of the face is barely
seen, so its skin is the near side's mirrored. Past :data:`TURNED_DEG` the engine says so.
"""
from __future__ import annotations

import numpy as np

__all__ = ["TURNED_DEG", "head_angles", "pose_warnings"]

TURNED_DEG = 35.0
"""Head yaw (degrees, either way) past which the reconstruction warns that likeness suffers."""


def head_angles(R: np.ndarray) -> tuple[float, float, float]:
    """Yaw, pitch, roll in degrees of the head in the camera (``engine.synthetic.look_at_camera``'s
    convention: yaw positive toward the head's left (+X), pitch positive chin up, roll about the view axis):
    ``R = F @ Rz(roll) @ Rx(pitch) @ Ry(yaw)`` with ``F`` the frontal head-to-OpenCV flip."""
    M = np.diag([1.0, -1.0, -1.0]) @ np.asarray(R, np.float64)
    pitch = float(np.arcsin(np.clip(M[2, 1], -1.0, 1.0)))
    yaw = float(np.arctan2(-M[2, 0], M[2, 2]))
    cy, sy, cp, sp = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch)
    ry = np.array([[cy, 0.0, sy], [0.0, 1.0, 0.0], [-sy, 0.0, cy]])
    rx = np.array([[1.0, 0.0, 0.0], [0.0, cp, -sp], [0.0, sp, cp]])
    rz = M @ ry.T @ rx.T
    roll = float(np.arctan2(rz[1, 0], rz[0, 0]))
    return float(np.degrees(yaw)), float(np.degrees(pitch)), float(np.degrees(roll))


def pose_warnings(R: np.ndarray, turned_deg: float = TURNED_DEG) -> list[str]:
    """One line when the head (camera rotation ``R``, ``pixel = K (R X + t)``) is turned past
    ``turned_deg`` from the camera, else none."""
    yaw = head_angles(R)[0]
    if abs(yaw) <= turned_deg:
        return []
    return [(f"the head is turned about {abs(yaw):.0f}° from the camera: the face's shape is less certain "
             "(MediaPipe's landmarks are less accurate on turned faces) and the far side's skin is the near "
             "side's mirrored; a frontal photo gives a closer likeness")]
