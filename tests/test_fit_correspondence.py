"""The shipped landmark correspondence: the inner lip points sit on their own lips, so a fitted mouth can open;
and the fit counts them while the lips in front of them face the camera."""
from __future__ import annotations

import numpy as np
import torch

from engine import landmarks as lm
from engine.fit.correspondence import load_correspondence
from engine.fit.landmark_fit import inner_lips_visibility
from engine.fit.pipeline import landmark_basis
from engine.head.model import load_head_model


def _inner_gap(jaw_open: float) -> float:
    """Distance between the inner lips' mid points (13 upper, 14 lower) over the iris distance, on the
    template with ``jawOpen`` at ``jaw_open``."""
    model = load_head_model()
    e = torch.zeros(model.num_expressions)
    e[model.expression_names.index("jawOpen")] = jaw_open
    p = load_correspondence().points(model, model.shaped_vertices(None, e)).numpy()
    iod = np.linalg.norm(p[lm.LEFT_IRIS_CENTRE] - p[lm.RIGHT_IRIS_CENTRE])
    return float(np.linalg.norm(p[13] - p[14]) / iod)


def test_inner_lips_part_when_the_jaw_opens() -> None:
    assert _inner_gap(0.0) < 0.1
    assert _inner_gap(0.5) > 0.3
    corr, model = load_correspondence(), load_head_model()
    region = {i: model.region_names[int(model.face_region[corr.face_index[i]])] for i in lm.LIPS_INNER}
    assert region[13] == region[14] == "lips"
    assert set(region.values()) <= {"lips", "mouth_inside"}  # the corners are where the lips turn in


def test_inner_lips_take_the_visibility_of_the_outer_lips() -> None:
    basis = landmark_basis(load_head_model(), load_correspondence())
    vis = torch.ones(478)
    vis[list(lm.LIPS_INNER)] = 0.0  # their own surfaces face into the mouth
    out = inner_lips_visibility(vis, basis)
    assert torch.all(out[list(lm.LIPS_INNER)] == 1.0)
    vis[list(lm.LIPS_OUTER)] = 0.0  # the mouth turned away: the inner lips go with it
    assert torch.all(inner_lips_visibility(vis, basis)[list(lm.LIPS_INNER)] == 0.0)
