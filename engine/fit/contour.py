"""Landmark marching for the face outline.

MediaPipe's face-oval points on the cheeks and jaw sit on the face's visible outline, and which surface
point forms that outline depends on the head's pose and shape. Each such landmark therefore gets a band of
candidate vertices (the horizontal strip of the cheek/jaw side at its height); during the fit, it is
moved to the candidate that lies furthest out in the image, in the direction of its detected point.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from engine.fit.correspondence import LandmarkCorrespondence
from engine.head.model import HeadModel, blend_points

__all__ = ["ContourCandidates", "contour_candidates", "march_contour", "marched_correspondence"]

BAND_HALF_HEIGHT_M = 0.006
MAX_DEPTH_BEHIND_M = 0.05
MAX_CANDIDATES = 64


@dataclass(frozen=True)
class ContourCandidates:
    """``landmarks`` (M,) marching landmark indices; ``vertices`` (M, K) candidate vertex ids (padded by
    repetition); ``mean`` (M, K, 3), ``shape_incr``/``shape_decr`` (S, M, K, 3), ``expression`` (E, M, K, 3):
    the model at those vertices."""

    landmarks: torch.Tensor
    vertices: torch.Tensor
    mean: torch.Tensor
    shape_incr: torch.Tensor
    shape_decr: torch.Tensor
    expression: torch.Tensor


def contour_candidates(model: HeadModel, corr: LandmarkCorrespondence, oval: np.ndarray) -> ContourCandidates:
    """Candidate strips for the oval landmarks on the cheek and jaw sides (not forehead, not chin)."""
    verts = model.vertices.numpy()
    anchors = corr.points(model, model.vertices).numpy()
    faces, parts = model.faces.numpy(), model.face_part.numpy()
    skin = np.zeros(len(verts), bool)
    skin[np.unique(faces[parts == model.part_id("skin")])] = True
    if "ears" in model.region_names:
        skin &= model.vertex_region.numpy() != model.region_id("ears")
    chosen, rows = [], []
    for i in oval:
        p = anchors[i]
        if abs(p[0]) < 0.03 or not -0.10 <= p[1] <= 0.02:
            continue
        band = (skin & (np.abs(verts[:, 1] - p[1]) < BAND_HALF_HEIGHT_M) & (verts[:, 0] * np.sign(p[0]) > 0.01)
                & (verts[:, 2] > p[2] - MAX_DEPTH_BEHIND_M))
        ids = np.nonzero(band)[0]
        if len(ids) < 2:
            continue
        ids = ids[np.argsort(np.linalg.norm(verts[ids] - p, axis=1))][:MAX_CANDIDATES]
        chosen.append(int(i))
        rows.append(np.resize(ids, MAX_CANDIDATES))
    vid = torch.from_numpy(np.stack(rows)).long()
    return ContourCandidates(
        landmarks=torch.tensor(chosen, dtype=torch.long), vertices=vid, mean=model.vertices[vid],
        shape_incr=model.shape_deltas_pos[:, vid], shape_decr=model.shape_deltas_neg[:, vid],
        expression=model.expression_deltas[:, vid])


def _candidate_points(c: ContourCandidates, shape: torch.Tensor, expression: torch.Tensor) -> torch.Tensor:
    return blend_points(c.mean, c.shape_incr, c.shape_decr, c.expression, shape, expression)


@torch.no_grad()
def march_contour(c: ContourCandidates, basis, shape: torch.Tensor, expression: torch.Tensor, K: torch.Tensor,
                  R: torch.Tensor, t: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Moves the marching landmarks of ``basis`` (in place) to their outermost candidates; returns (M,) the
    chosen vertex ids."""
    from engine.fit.camera import project

    pts = _candidate_points(c, shape, expression)
    proj = project(pts, K, R, t)  # (M, K, 2)
    centre = project(basis.points(shape, expression), K, R, t).mean(0)
    direction = torch.nn.functional.normalize(target[c.landmarks] - centre, dim=-1)
    pick = ((proj - centre) * direction[:, None, :]).sum(-1).argmax(1)
    rows = torch.arange(len(c.landmarks))
    basis.mean[c.landmarks] = c.mean[rows, pick]
    basis.shape_incr[:, c.landmarks] = c.shape_incr[:, rows, pick]
    basis.shape_decr[:, c.landmarks] = c.shape_decr[:, rows, pick]
    basis.expression[:, c.landmarks] = c.expression[:, rows, pick]
    return c.vertices[rows, pick]


def marched_correspondence(model: HeadModel, corr: LandmarkCorrespondence, landmarks: torch.Tensor,
                           vertices: torch.Tensor) -> LandmarkCorrespondence:
    """``corr`` with each marching landmark pinned to its chosen vertex (a triangle corner, one-hot weights)."""
    faces = model.faces
    face_index, bary = corr.face_index.clone(), corr.barycentric.clone()
    for lm, v in zip(landmarks.tolist(), vertices.tolist()):
        f, corner = [int(x) for x in torch.nonzero(faces == v)[0]]
        face_index[lm] = f
        bary[lm] = 0.0
        bary[lm, corner] = 1.0
    return LandmarkCorrespondence(face_index, bary)
