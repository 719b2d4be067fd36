"""Fixtures the bench tests share."""
from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def template() -> dict:
    """The unfitted template head: ``vertices`` (V, 3), ``skin`` faces (F, 3) and its true MediaPipe-order
    ``landmarks`` (478, 3), head space."""
    from bench.groundtruth.heads import true_landmarks_3d
    from engine.head.model import load_head_model

    m = load_head_model()
    verts = m.vertices.numpy().astype(np.float64)
    skin = m.faces.numpy()[m.face_part.numpy() == m.part_id("skin")]
    return {"vertices": verts, "skin": skin, "landmarks": true_landmarks_3d(m, verts)}
