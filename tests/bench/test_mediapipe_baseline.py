"""bench/groundtruth/mediapipe_baseline.py: MediaPipe's closed face mesh and its placement at a camera
(pure numpy; no photo, engine run or Blender)."""
from __future__ import annotations

from collections import Counter

import numpy as np

from bench.groundtruth import mediapipe_baseline as mpb
from engine.landmarks import FACE_OVAL


def _directed(tris: np.ndarray) -> Counter:
    return Counter((int(t[k]), int(t[(k + 1) % 3])) for t in tris for k in range(3))


def test_tessellation_is_the_canonical_mesh_with_only_the_face_oval_open() -> None:
    tris = mpb.tessellation()
    assert tris.shape == (898, 3)
    assert set(np.unique(tris)) == set(range(mpb.FACE_POINTS))
    directed = _directed(tris)
    assert max(directed.values()) == 1  # consistent winding: no directed edge twice
    boundary = [e for e in directed if (e[1], e[0]) not in directed]
    assert {v for e in boundary for v in e} == set(FACE_OVAL) and len(boundary) == len(FACE_OVAL)


def test_strip_fills_a_loop_with_n_minus_2_triangles() -> None:
    loop = tuple(range(10, 26))
    tris = mpb._strip(loop)
    assert len(tris) == len(loop) - 2
    undirected = Counter(tuple(sorted(e)) for t in tris for e in mpb._edges_of(t))
    rim = {tuple(sorted((loop[i], loop[(i + 1) % len(loop)]))) for i in range(len(loop))}
    assert {e for e, n in undirected.items() if n == 1} == rim


def test_points_project_onto_their_pixels_around_the_anchor_depth() -> None:
    rng = np.random.default_rng(0)
    K = np.array([[900.0, 0.0, 320.0], [0.0, 900.0, 240.0], [0.0, 0.0, 1.0]])
    a = np.radians(20.0)
    R = np.array([[np.cos(a), 0.0, np.sin(a)], [0.0, 1.0, 0.0], [-np.sin(a), 0.0, np.cos(a)]])
    t = np.array([0.01, -0.02, 0.6])
    pixels = rng.uniform([200, 150], [440, 330], (50, 2))
    z = rng.normal(0.0, 20.0, 50)
    points, depth = mpb.place_points(pixels, z, K, R, t, 0.6)
    cam = points @ R.T + t
    np.testing.assert_allclose(cam[:, 2], depth, atol=1e-12)
    np.testing.assert_allclose(cam[:, :2] / cam[:, 2:] * 900.0 + [320.0, 240.0], pixels, atol=1e-9)
    np.testing.assert_allclose(depth.mean(), 0.6, atol=1e-12)
    np.testing.assert_allclose(np.ptp(depth), np.ptp(z) * 0.6 / 900.0, rtol=1e-12)  # pixels -> metres at 0.6 m


def test_faces_are_turned_toward_the_camera() -> None:
    cam = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    away = np.array([[0, 1, 2]])  # (b - a) x (c - a) = +z, pointing away from a camera at the origin
    np.testing.assert_array_equal(mpb._face_camera(away, cam), [[2, 1, 0]])
    np.testing.assert_array_equal(mpb._face_camera(np.array([[2, 1, 0]]), cam), [[2, 1, 0]])
