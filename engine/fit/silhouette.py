"""The head's outline against the person mask: a silhouette term for the landmark fit.

MediaPipe's selfie segmentation puts the person's outline within 1-2 px of the true head outline on
Cycles renders of known heads (median over the cheek and jaw rows, 0.7-1.8 % of the inter-ocular
distance), several times closer than MediaPipe's face-oval landmarks. The fitted mesh's own outline
(its contour generator: edges between a triangle facing the camera and one facing away, where nothing
of the head lies beyond them in the image) is pulled onto that outline:

- **bound** (every outline vertex of the face, ears and scalp): the head cannot reach into the
  background, so a mesh outline outside the person mask is pulled in;
- **attract** (outline vertices of the face's cheeks and jaw, where the person mask ends within
  ``attract_gate`` along the outline's outward normal in the image): the face's outline is the
  person's outline there, so a mesh outline inside the mask is pulled out too. Where the person goes
  on beyond the gate (the neck under the jaw, hair, a hand, a collar) it is only bounded.

The person mask's boundary is a signed distance map (pixels, positive outside the person), sampled
bilinearly at the projected outline vertices; which vertices form the outline is found again every
few iterations with the current shape and pose (as the face-oval landmarks march, :mod:`contour`).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from engine.fit.camera import project
from engine.fit.optim import charbonnier
from engine.head.model import HeadModel, blend_points

__all__ = ["SilhouetteSettings", "SilhouetteTarget", "OutlineBasis", "OutlineTerm", "silhouette_target",
           "mask_covers_face", "outline_basis", "outline_vertices", "silhouette_loss"]


@dataclass(frozen=True)
class SilhouetteSettings:
    weight: float = 10.0
    """Each outline vertex counts ``weight`` times one landmark of unit weight."""
    robust_scale: float = 0.015
    """In inter-ocular distances, as the landmark term's."""
    attract_gate: float = 0.06
    """In inter-ocular distances: a face outline this far inside the person mask is taken as covered."""
    bound_regions: tuple[str, ...] = ("face", "ears", "scalp")
    attract_regions: tuple[str, ...] = ("face",)
    min_face_coverage: float = 0.9
    """The term is left out when the person mask covers less of the landmarks' face oval than this (the
    segmenter missed the face: 0.96 and more on every benchmark and training render)."""
    outer_window_px: int = 2
    """An outline vertex is on the head's outer outline if an uncovered pixel lies this close (in the
    occupancy image, at most ``outline_image_px`` on its longer side)."""
    outline_image_px: int = 640


@dataclass(frozen=True)
class SilhouetteTarget:
    """``sdf`` (H, W) float32: signed distance in pixels to the person mask's boundary, > 0 outside."""

    sdf: torch.Tensor

    def sample(self, points: torch.Tensor) -> torch.Tensor:
        """(M,) bilinear ``sdf`` at (M, 2) pixel positions (column, row); border-clamped."""
        h, w = self.sdf.shape
        grid = torch.stack([(points[:, 0] + 0.5) / w * 2 - 1, (points[:, 1] + 0.5) / h * 2 - 1], -1)
        out = torch.nn.functional.grid_sample(self.sdf[None, None], grid[None, None], mode="bilinear",
                                              padding_mode="border", align_corners=False)
        return out[0, 0, 0]


def silhouette_target(person_mask: np.ndarray) -> SilhouetteTarget:
    """The signed distance map of a soft (H, W) person mask (1 = person), its boundary at 0.5."""
    inside = (np.asarray(person_mask) > 0.5).astype(np.uint8)
    outside_dist = cv2.distanceTransform(1 - inside, cv2.DIST_L2, 5)
    inside_dist = cv2.distanceTransform(inside, cv2.DIST_L2, 5)
    sdf = np.where(inside > 0, 0.5 - inside_dist, outside_dist - 0.5).astype(np.float32)
    return SilhouetteTarget(torch.from_numpy(sdf))


def mask_covers_face(person_mask: np.ndarray, oval: np.ndarray, settings: SilhouetteSettings) -> bool:
    """Whether the (H, W) person mask covers at least ``min_face_coverage`` of the polygon of the (K, 2)
    face-oval landmark points (pixels)."""
    face = np.zeros(person_mask.shape, np.uint8)
    cv2.fillPoly(face, [np.round(oval * 4).astype(np.int32)], 1, shift=2)
    inside = person_mask[face > 0]
    return bool(len(inside)) and float((inside > 0.5).mean()) >= settings.min_face_coverage


@dataclass(frozen=True)
class OutlineBasis:
    """The head's skin surface for outline finding, and the model at the candidate outline vertices.

    ``faces`` (F, 3) skin triangles; ``edges`` (E, 2) vertex ids and ``edge_faces`` (E, 2) the two skin
    triangles of each interior edge; ``candidate`` (V,) bool: vertices of ``bound_regions``;
    ``attract`` (V,) bool: vertices of ``attract_regions``."""

    faces: np.ndarray
    edges: np.ndarray
    edge_faces: np.ndarray
    candidate: np.ndarray
    attract: np.ndarray


def outline_basis(model: HeadModel, settings: SilhouetteSettings = SilhouetteSettings()) -> OutlineBasis:
    faces = model.faces.numpy()[model.mask_faces("skin").numpy()]
    pairs = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    owner = np.tile(np.arange(len(faces)), 3)
    key = np.sort(pairs, axis=1)
    order = np.lexsort((key[:, 1], key[:, 0]))
    key, owner = key[order], owner[order]
    same = np.all(key[1:] == key[:-1], axis=1)
    edges = key[:-1][same]
    edge_faces = np.stack([owner[:-1][same], owner[1:][same]], 1)
    region = model.vertex_region.numpy()

    def in_regions(names: tuple[str, ...]) -> np.ndarray:
        ids = [model.region_id(n) for n in names if n in model.region_names]
        return np.isin(region, ids)

    return OutlineBasis(faces, edges, edge_faces, in_regions(settings.bound_regions),
                        in_regions(settings.attract_regions))


def outline_vertices(basis: OutlineBasis, vertices: np.ndarray, K: np.ndarray, R: np.ndarray, t: np.ndarray,
                     width: int, height: int, settings: SilhouetteSettings = SilhouetteSettings()) -> np.ndarray:
    """Ids of the candidate vertices on the head's outer outline as seen by the camera (K, R, t), for
    posed (V, 3) head-space ``vertices``."""
    cam = vertices @ R.T + t
    tri = cam[basis.faces]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    front = (normal * -tri.mean(1)).sum(-1) > 0
    contour = front[basis.edge_faces[:, 0]] != front[basis.edge_faces[:, 1]]
    ids = np.unique(basis.edges[contour])
    ids = ids[basis.candidate[ids]]
    uv = cam @ K.T
    scale = min(1.0, settings.outline_image_px / max(width, height))  # the occupancy test at a bounded size
    px = uv[:, :2] / uv[:, 2:3] * scale
    width, height = int(np.ceil(width * scale)), int(np.ceil(height * scale))
    covered = np.zeros((height, width), np.uint8)
    cv2.fillPoly(covered, list(np.round(px[basis.faces[front]] * 4).astype(np.int32)), 1, shift=2)
    outer, _ = cv2.findContours(covered, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(covered, outer, -1, 1, thickness=cv2.FILLED)  # the eye, mouth and nostril openings
    r = settings.outer_window_px
    near_uncovered = cv2.dilate(1 - covered, np.ones((2 * r + 1, 2 * r + 1), np.uint8))
    col, row = np.round(px[ids, 0]).astype(int), np.round(px[ids, 1]).astype(int)
    inside = (col >= 0) & (col < width) & (row >= 0) & (row < height)
    ids, col, row = ids[inside], col[inside], row[inside]
    return ids[near_uncovered[row, col] > 0]


def silhouette_loss(points: torch.Tensor, attract: torch.Tensor, target: SilhouetteTarget, iod: float,
                    settings: SilhouetteSettings, count: int = 478) -> torch.Tensor:
    """The outline term for (M, 2) projected outline vertices, ``attract`` (M,) bool: summed over the
    vertices and divided by ``count`` (the landmark term's mean is over the 478 landmarks)."""
    if len(points) == 0:
        return points.sum() * 0
    d = target.sample(points) / iod
    two_sided = attract & (d.detach() > -settings.attract_gate)
    r = torch.where(two_sided, d, torch.relu(d))
    return settings.weight * charbonnier(r * r, settings.robust_scale).sum() / count


class OutlineTerm:
    """The silhouette term of one fit: which model vertices form the outline now (``refresh``, no
    gradient) and their penalty (``__call__``, differentiable in shape, expression and camera)."""

    def __init__(self, model: HeadModel, target: SilhouetteTarget, iod: float, width: int, height: int,
                 settings: SilhouetteSettings = SilhouetteSettings()):
        self.model, self.target, self.iod, self.size, self.settings = model, target, iod, (width, height), settings
        self.basis = outline_basis(model, settings)
        self.ids = torch.zeros(0, dtype=torch.long)
        self.attract = torch.zeros(0, dtype=torch.bool)
        self._rows = (torch.zeros(0, 3), torch.zeros(model.num_shapes, 0, 3), torch.zeros(model.num_shapes, 0, 3),
                      torch.zeros(model.num_expressions, 0, 3))

    @torch.no_grad()
    def refresh(self, shape: torch.Tensor, expression: torch.Tensor, K: torch.Tensor, R: torch.Tensor,
                t: torch.Tensor) -> None:
        verts = self.model.shaped_vertices(shape, expression).numpy().astype(np.float64)
        ids = outline_vertices(self.basis, verts, K.numpy().astype(np.float64), R.numpy().astype(np.float64),
                               t.numpy().astype(np.float64), *self.size, self.settings)
        self.ids = torch.from_numpy(ids).long()
        m = self.model  # the model at the outline vertices, until the next refresh
        self._rows = (m.vertices[self.ids], m.shape_deltas_pos[:, self.ids], m.shape_deltas_neg[:, self.ids],
                      m.expression_deltas[:, self.ids])
        self.attract = self._open_outward(torch.from_numpy(verts).float(), K, R, t) & torch.from_numpy(
            self.basis.attract[ids])

    def _open_outward(self, verts: torch.Tensor, K: torch.Tensor, R: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """(M,) bool: the person mask ends within the gate along each outline vertex's outward normal."""
        ids = self.ids
        normals = self.model.vertex_normals(verts)[ids] @ R.T
        outward = torch.nn.functional.normalize(normals[:, :2], dim=-1)
        p = project(verts[ids], K, R, t)
        probe = p + outward * self.settings.attract_gate * self.iod
        return self.target.sample(probe) > 0

    def __call__(self, shape: torch.Tensor, expression: torch.Tensor, K: torch.Tensor, R: torch.Tensor,
                 t: torch.Tensor) -> torch.Tensor:
        pts = blend_points(*self._rows, shape, expression)
        return silhouette_loss(project(pts, K, R, t), self.attract, self.target, self.iod, self.settings)
