"""engine.assets: the glTF tangent frame matches the normal map's convention (R = +u, G = +v up)."""
from __future__ import annotations

import numpy as np

from engine.assets import unweld, vertex_normals, vertex_tangents
from engine.head.model import load_head_model


def test_tangents_of_a_flat_quad_follow_u_and_v() -> None:
    # A quad in the z = 0 plane facing +z; u grows along +x, v (up) along +y: a right-handed frame, w = +1.
    p = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], np.float32)
    f = np.array([[0, 1, 2], [0, 2, 3]])
    n = np.tile([0.0, 0.0, 1.0], (4, 1)).astype(np.float32)
    t = vertex_tangents(p, n, p[:, :2], f)
    assert np.allclose(t, [[1, 0, 0, 1]] * 4, atol=1e-6)
    # Mirrored texture (u along -x): the tangent flips and the frame becomes left-handed.
    uv = p[:, :2].copy()
    uv[:, 0] = 1 - uv[:, 0]
    assert np.allclose(vertex_tangents(p, n, uv, f), [[-1, 0, 0, -1]] * 4, atol=1e-6)


def test_head_tangents_are_unit_orthogonal_and_follow_the_uvs() -> None:
    m = load_head_model()
    src_v, src_uv, faces = unweld(m.faces.numpy(), m.uv_faces.numpy())
    pos = m.vertices.numpy()[src_v]
    normals = vertex_normals(m.vertices.numpy(), m.faces.numpy())[src_v]
    uv = m.uvs.numpy()[src_uv]
    t = vertex_tangents(pos, normals, uv, faces)
    assert np.allclose(np.linalg.norm(t[:, :3], axis=1), 1.0, atol=1e-4)
    assert np.abs((t[:, :3] * normals).sum(1)).max() < 1e-4
    assert set(np.unique(t[:, 3])) <= {-1.0, 1.0}
    # Per triangle, moving along the tangent increases u (the mesh's UV map is smooth almost everywhere).
    e = pos[faces[:, 1]] - pos[faces[:, 0]]
    du = uv[faces[:, 1], 0] - uv[faces[:, 0], 0]
    along = (e * t[faces[:, 0], :3]).sum(1)
    big = np.abs(du) > 1e-4
    assert np.mean(np.sign(along[big]) == np.sign(du[big])) > 0.9
