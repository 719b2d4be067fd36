"""The turned-head warning (engine/fit/pose.py): a camera orbiting the head by a known yaw is read back,
and the real, frontal astronaut photo gets no warning."""
from __future__ import annotations

import numpy as np

from engine.fit.pose import TURNED_DEG, head_angles, pose_warnings


def _orbit(yaw_deg: float, distance: float = 0.6) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV camera (R, t) on a circle around the head at ``yaw_deg`` (+ toward the head's left), looking at it."""
    y = np.radians(yaw_deg)
    centre = distance * np.array([np.sin(y), 0.0, np.cos(y)])
    fwd = -centre / distance
    right = np.cross(fwd, [0.0, 1.0, 0.0])
    right /= np.linalg.norm(right)
    down = np.cross(fwd, right)
    R = np.stack([right, down, fwd])
    return R, -R @ centre


def test_a_known_orbit_is_read_back() -> None:
    for yaw in (-60.0, -20.0, 0.0, 30.0, 50.0):
        got, pitch, roll = head_angles(_orbit(yaw)[0])
        # a camera orbiting toward the head's left (+X) sees the head turned toward its right (-yaw)
        assert abs(got + yaw) < 1e-6 and abs(pitch) < 1e-6 and abs(roll) < 1e-6


def test_only_a_turned_head_is_warned_about() -> None:
    assert pose_warnings(_orbit(TURNED_DEG - 5.0)[0]) == []
    (line,) = pose_warnings(_orbit(-(TURNED_DEG + 10.0))[0])
    assert "turned about 45°" in line


def test_the_frontal_astronaut_gets_no_pose_warning() -> None:
    from engine.api import ReconstructOptions, reconstruct
    from tests.photos import photo_path

    rec = reconstruct(photo_path("astronaut"), ReconstructOptions(with_texture=False))
    assert not any("turned" in w for w in rec.warnings)
    assert abs(head_angles(rec.fit.camera.R)[0]) < 15.0
