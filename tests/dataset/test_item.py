"""engine/dataset/item.py: error kinds, head angles, settings hash."""
from __future__ import annotations

import numpy as np
import pytest

from engine.dataset.item import BuildSettings, error_kind, head_angles
from engine.errors import FaceTooSmallError, InputError, NoFaceError
from engine.synthetic import look_at_camera


def test_error_kinds():
    assert error_kind(InputError("x")) == "input"
    assert error_kind(NoFaceError("x")) == "no_face"
    assert error_kind(FaceTooSmallError("x")) == "face_too_small"
    assert error_kind(ValueError("x")) == "internal"


@pytest.mark.parametrize("yaw,pitch", [(0, 0), (30, 0), (-40, 10), (15, -20)])
def test_head_angles_invert_look_at_camera(yaw, pitch):
    _, R, _ = look_at_camera(512, 512, 800.0, 0.7, yaw, pitch)
    y, p, r = head_angles(R)
    assert (y, p, r) == pytest.approx((yaw, pitch, 0.0), abs=1e-6)
    roll = np.deg2rad(12.0)
    rz = np.array([[np.cos(roll), -np.sin(roll), 0], [np.sin(roll), np.cos(roll), 0], [0, 0, 1]])
    F = np.diag([1.0, -1.0, -1.0])
    assert head_angles(F @ rz @ F.T @ R) == pytest.approx((yaw, pitch, 12.0), abs=1e-6)


def test_settings_hash_depends_on_the_settings():
    assert BuildSettings().hash() == BuildSettings().hash()
    assert BuildSettings(texture_size=512).hash() != BuildSettings().hash()
    assert BuildSettings(quality="best").hash() != BuildSettings().hash()
