"""The head's UV layout as the benchmark sees it: which texel lies on which triangle, part and region.

The ground truth has to live in the head's UV atlas (that is what the engine outputs), so the layout
(topology, UVs, region labels, the left/right vertex mirror) is the one thing the benchmark shares
with the engine's head model. Besides, the template's shape only places texels in 3D, to find the
neighbourhoods across seams (:func:`template_positions`, :func:`island_seams`). Nothing else is taken
from it: no template colours, no shading model, no renderer.

Texture arrays are ``[N, N, C]`` with row 0 = the top texture row (v = 1), docs/conventions.md.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from bench.groundtruth.metrics import (
    SEAM_MAX_POINTS,
    SEAM_RADIUS_M,
    SeamSides,
    even_subsample,
    points_within,
    seam_ring_texels,
    seam_sides_csr,
)
from engine.head.model import load_head_model
from engine.texture.metrics import mirror_texel_map_from_mesh
from engine.texture.uv_raster import rasterize_uv, uv_to_texel

__all__ = ["Layout", "layout", "template_positions", "island_seams", "island_seams_from_mesh", "FACE_SKIN_EXCLUDE",
           "SEAM_SKIN_EXCLUDE", "SEAM_STEP_TEXELS", "SEAM_UV_REACH"]

FACE_SKIN_EXCLUDE = ("eyebrows", "nostrils", "eye_socket", "eyelids", "lips", "mouth_inside")
"""Regions left out of "face skin": brows, lips, eyes and holes are not skin-tone evidence."""
SEAM_SKIN_EXCLUDE = ("eye_socket", "mouth_inside")
"""Regions left out of the seam figures (:attr:`Layout.seam_skin`): the eye sockets and the mouth's
inside are holes whose island borders are real colour edges (eyelid / socket, lip / mouth: 7-16
ΔE00 on the true albedos), not seams."""
SEAM_STEP_TEXELS = 1.0
"""Seam points are sampled along every UV seam edge about this many texels apart (before subsampling)."""
SEAM_UV_REACH = 3.0
"""A ring texel belongs to a seam point's side only if its UV distance to the point's image on that
side, in metres via its triangle's texel size, is at most this times the 3D radius (rejects other
charts and far parts of the same chart that happen to be near in 3D, e.g. behind an ear)."""


@dataclass(frozen=True)
class Layout:
    """``triangle`` [N, N] int (-1 outside the atlas); ``bary`` [N, N, 3]; ``part`` / ``region`` [N, N]
    int (-1 outside) indexing ``part_names`` / ``region_names``; ``mirror_rowcol`` [N, N, 2] float32
    (row, col) of the mirrored surface point, (-1, -1) where none; ``faces`` [F, 3] vertex indices."""

    size: int
    triangle: np.ndarray
    bary: np.ndarray
    part: np.ndarray
    region: np.ndarray
    mirror_rowcol: np.ndarray
    faces: np.ndarray
    part_names: tuple[str, ...]
    region_names: tuple[str, ...]

    @property
    def covered(self) -> np.ndarray:
        return self.triangle >= 0

    def regions(self, *names: str) -> np.ndarray:
        """[N, N] bool: texels in any of the named regions."""
        return np.isin(self.region, [self.region_names.index(n) for n in names])

    @property
    def face(self) -> np.ndarray:
        """[N, N] bool: the whole face region (seen or not)."""
        return self.regions("face")

    @property
    def face_skin(self) -> np.ndarray:
        """[N, N] bool: face texels that are plain skin (see :data:`FACE_SKIN_EXCLUDE`)."""
        return self.face & ~self.regions(*FACE_SKIN_EXCLUDE)

    @property
    def skin(self) -> np.ndarray:
        """[N, N] bool: covered texels of the skin part (the whole head skin, not eyes, teeth, tongue)."""
        return self.covered & (self.part == self.part_names.index("skin"))

    @property
    def seam_skin(self) -> np.ndarray:
        """[N, N] bool: the head skin the seam figures look at (:data:`SEAM_SKIN_EXCLUDE` left out)."""
        return self.skin & ~self.regions(*SEAM_SKIN_EXCLUDE)

    def positions(self, vertices: np.ndarray) -> np.ndarray:
        """[N, N, 3] surface point of every texel on the mesh ``vertices`` (V, 3); NaN outside."""
        return _texel_positions(self.triangle, self.bary, self.faces, vertices)

    def normals(self, vertices: np.ndarray) -> np.ndarray:
        """[N, N, 3] unit normal (interpolated area-weighted vertex normals); NaN outside."""
        v = np.asarray(vertices, np.float64)
        f = self.faces
        fn = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
        vn = np.zeros_like(v)
        for k in range(3):
            np.add.at(vn, f[:, k], fn)
        vn /= np.maximum(np.linalg.norm(vn, axis=1, keepdims=True), 1e-12)
        n = self.positions(vn)
        return n / np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-12)


def _texel_positions(triangle: np.ndarray, bary: np.ndarray, faces: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """[N, N, 3] point of every texel (``triangle`` [N, N], ``bary`` [N, N, 3]) on ``vertices``; NaN outside."""
    out = np.full((*triangle.shape, 3), np.nan, np.float64)
    cov = triangle >= 0
    corners = np.asarray(vertices, np.float64)[np.asarray(faces)[triangle[cov]]]  # (n, 3, 3)
    out[cov] = np.einsum("nk,nkc->nc", np.asarray(bary)[cov].astype(np.float64), corners)
    return out


@lru_cache(maxsize=4)
def layout(size: int) -> Layout:
    """The layout at ``size`` x ``size`` texels (cached)."""
    m = load_head_model()
    faces = m.faces.numpy()
    raster = rasterize_uv(m.uvs.numpy(), m.uv_faces.numpy(), size)
    tri = raster.triangle.astype(np.int64)
    cov = tri >= 0
    part = np.full(tri.shape, -1, np.int64)
    region = np.full(tri.shape, -1, np.int64)
    part[cov] = m.face_part.numpy()[tri[cov]]
    region[cov] = m.face_region.numpy()[tri[cov]]
    mirror = mirror_texel_map_from_mesh(m.uvs.numpy(), m.uv_faces.numpy(), faces, m.mirror.numpy(), size)
    return Layout(size, tri, raster.bary, part, region, mirror, faces, m.part_names, m.region_names)


@lru_cache(maxsize=4)
def template_positions(size: int) -> np.ndarray:
    """[N, N, 3] texel points on the unfitted template head (metres; NaN outside). Cached, read-only."""
    pos = layout(size).positions(load_head_model().vertices.numpy())
    pos.flags.writeable = False
    return pos


@lru_cache(maxsize=4)
def island_seams(size: int) -> SeamSides:
    """The head atlas's UV island borders at ``size``² on the template (:func:`island_seams_from_mesh`). Cached."""
    m = load_head_model()
    return island_seams_from_mesh(m.vertices.numpy(), m.faces.numpy(), m.uvs.numpy(), m.uv_faces.numpy(), size)


def island_seams_from_mesh(vertices: np.ndarray, faces: np.ndarray, uvs: np.ndarray, uv_faces: np.ndarray,
                           size: int, ring_texels: int | None = None, radius_m: float = SEAM_RADIUS_M,
                           max_points: int = SEAM_MAX_POINTS) -> SeamSides:
    """Both sides of every UV seam (an edge whose two triangles have different UV corners) at ``size``².

    ``vertices`` (V, 3) metres, ``faces`` / ``uv_faces`` (F, 3), ``uvs`` (T, 2) (v up). Seam points
    are sampled along the seam edges (:data:`SEAM_STEP_TEXELS`, evenly subsampled to ``max_points``);
    each has a 3D point and a texel position on either side. Ring texels: covered texels within
    ``ring_texels`` (default ``seam_ring_texels(size)``) of an uncovered one (they touch a gutter).
    Side ``k`` of a point: the ring texels within ``radius_m`` of it in 3D that are nearer (in UV) to
    its image on side ``k`` than on the other side, on the UV chart (island) of that side, and within
    :data:`SEAM_UV_REACH` of that image.
    """
    raster = rasterize_uv(uvs, uv_faces, size)
    tri = raster.triangle.astype(np.int64)
    cov = tri >= 0
    ring = seam_ring_texels(size) if ring_texels is None else int(ring_texels)
    dist = cv2.distanceTransform(cov.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    cand = np.flatnonzero(cov & (dist <= ring))
    pos = _texel_positions(tri, raster.bary, faces, vertices).reshape(-1, 3)
    xyz, side_rc, side_uv = _seam_points(vertices, faces, uvs, uv_faces, size, max_points)
    point_of, texel = points_within(xyz, pos[cand], radius_m)
    texel = cand[texel]
    tri_q = tri.reshape(-1)[texel]
    chart = _uv_charts(uvs, uv_faces)
    rc = np.stack(np.divmod(texel, size), axis=1).astype(np.float64)
    d = np.linalg.norm(rc[:, None, :] - side_rc[point_of], axis=-1)  # (M, 2 sides)
    d[chart[np.asarray(uv_faces)[tri_q, 0]][:, None] != chart[side_uv[point_of]]] = np.inf
    side = d.argmin(axis=1)
    reach = d.min(axis=1) * _texel_metres(vertices, faces, uvs, uv_faces, size)[tri_q]
    near = reach <= SEAM_UV_REACH * radius_m
    keep = [near & (side == k) for k in (0, 1)]
    return seam_sides_csr(size, (point_of[keep[0]], point_of[keep[1]]), (texel[keep[0]], texel[keep[1]]), len(xyz))


def _uv_charts(uvs: np.ndarray, uv_faces: np.ndarray) -> np.ndarray:
    """(T,) chart label of every uv: the connected components of the UV triangles (the UV islands)."""
    uf = np.asarray(uv_faces, np.int64)
    rows = np.concatenate([uf[:, 0], uf[:, 1]])
    cols = np.concatenate([uf[:, 1], uf[:, 2]])
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(uvs), len(uvs)))
    return connected_components(graph, directed=False)[1]


def _texel_metres(vertices: np.ndarray, faces: np.ndarray, uvs: np.ndarray, uv_faces: np.ndarray,
                  size: int) -> np.ndarray:
    """(F,) 3D length of one texel on each triangle: sqrt(3D area / UV area in texels)."""
    v = np.asarray(vertices, np.float64)[np.asarray(faces)]
    t = np.asarray(uvs, np.float64)[np.asarray(uv_faces)] * size
    a3 = 0.5 * np.linalg.norm(np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0]), axis=1)
    e1, e2 = t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]
    auv = 0.5 * np.abs(e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0])
    return np.sqrt(a3 / np.maximum(auv, 1e-12))


def _seam_edges(faces: np.ndarray, uv_faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edges shared by two triangles with different UV corners: vertex ids (E, 2) and, per side, the
    uv ids at those two vertices (E, 2 sides, 2)."""
    f, uf = np.asarray(faces, np.int64), np.asarray(uv_faces, np.int64)
    a, b = f.ravel(), f[:, [1, 2, 0]].ravel()
    ua, ub = uf.ravel(), uf[:, [1, 2, 0]].ravel()
    swap = a > b
    lo, hi = np.where(swap, b, a), np.where(swap, a, b)
    ulo, uhi = np.where(swap, ub, ua), np.where(swap, ua, ub)
    order = np.lexsort((hi, lo))
    lo, hi, ulo, uhi = lo[order], hi[order], ulo[order], uhi[order]
    pair = np.flatnonzero((lo[1:] == lo[:-1]) & (hi[1:] == hi[:-1]))
    seam = pair[(ulo[pair] != ulo[pair + 1]) | (uhi[pair] != uhi[pair + 1])]
    sides = np.stack([np.stack([ulo[s], uhi[s]], axis=1) for s in (seam, seam + 1)], axis=1)
    return np.stack([lo[seam], hi[seam]], axis=1), sides


def _seam_points(vertices: np.ndarray, faces: np.ndarray, uvs: np.ndarray, uv_faces: np.ndarray, size: int,
                 max_points: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points along the seam edges: 3D (P, 3), texel (row, col) on each side (P, 2, 2) and a uv id of
    each side's triangle (P, 2)."""
    verts, uv_ids = _seam_edges(faces, uv_faces)
    rc = uv_to_texel(np.asarray(uvs, np.float64)[uv_ids], size, size)  # (E, 2 sides, 2 ends, 2)
    length = np.linalg.norm(rc[:, :, 1] - rc[:, :, 0], axis=-1).max(axis=1) if len(rc) else np.zeros(0)
    count = np.maximum(1, np.ceil(length / SEAM_STEP_TEXELS)).astype(np.int64)
    edge = np.repeat(np.arange(len(count)), count)
    t = (np.arange(len(edge)) - np.repeat(np.cumsum(count) - count, count) + 0.5) / count[edge]
    sel = even_subsample(np.arange(len(edge)), max_points)
    edge, t = edge[sel], t[sel]
    v = np.asarray(vertices, np.float64)
    xyz = v[verts[edge, 0]] * (1.0 - t)[:, None] + v[verts[edge, 1]] * t[:, None]
    side_rc = rc[edge, :, 0] * (1.0 - t)[:, None, None] + rc[edge, :, 1] * t[:, None, None]
    return xyz, side_rc, uv_ids[edge, :, 0]
