"""The head's UV layout as the benchmark sees it: which texel lies on which triangle, part and region.

The ground truth has to live in the head's UV atlas (that is what the engine outputs), so the layout
(topology, UVs, region labels, the left/right vertex mirror) is the one thing the benchmark shares
with the engine's head model. Nothing else is taken from it: no template colours, no shading model,
no renderer.

Texture arrays are ``[N, N, C]`` with row 0 = the top texture row (v = 1), docs/conventions.md.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from engine.head.model import load_head_model
from engine.texture.metrics import mirror_texel_map_from_mesh
from engine.texture.uv_raster import rasterize_uv

__all__ = ["Layout", "layout", "FACE_SKIN_EXCLUDE"]

FACE_SKIN_EXCLUDE = ("eyebrows", "nostrils", "eye_socket", "eyelids", "lips", "mouth_inside")
"""Regions left out of "face skin": brows, lips, eyes and holes are not skin-tone evidence."""


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

    def positions(self, vertices: np.ndarray) -> np.ndarray:
        """[N, N, 3] surface point of every texel on the mesh ``vertices`` (V, 3); NaN outside."""
        out = np.full((self.size, self.size, 3), np.nan, np.float64)
        cov = self.covered
        corners = np.asarray(vertices, np.float64)[self.faces[self.triangle[cov]]]  # (n, 3, 3)
        out[cov] = np.einsum("nk,nkc->nc", self.bary[cov].astype(np.float64), corners)
        return out

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
