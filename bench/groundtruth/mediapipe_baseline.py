"""The identity baseline of issue #13: the photo projected onto MediaPipe's own face mesh, placed in the
engine's fitted camera (bench only; the engine never uses it).

Construction, from a photo and the engine's fitted camera ``K``, ``R``, ``t`` of the same run:

* **Points.** MediaPipe FaceMesh's 468 face landmarks as the engine detects them
  (:func:`engine.landmarks.detect_landmarks`): pixel ``(x, y)`` and MediaPipe's relative depth ``z``
  (pixels, the scale of ``x``; smaller is closer). Each point is back-projected through ``K`` to the
  camera depth ``d_i = d_ref + (z_i - mean z) * d_ref / f``: MediaPipe's own relief, turned into metres
  with the weak-perspective scale ``d_ref / f`` of the face, around ``d_ref``, the mean camera depth of
  the fitted head's 468 landmark points (the engine's landmark correspondence on its posed mesh). So the
  mesh projects exactly onto MediaPipe's detected pixels, and only its distance from the camera comes
  from our fit; its shape is MediaPipe's. The 10 iris points are left out (no triangles use them).
* **Triangles.** MediaPipe's tessellation (``FACEMESH_TESSELATION``, 1,322 edges): its 3-cliques are
  the 852 triangles of the open face mesh plus 2 spurious 3-cycles, which are dropped (every edge of
  theirs is shared by three cliques). MediaPipe's canonical face model (898 triangles) is that mesh with
  the eyes and the mouth closed (852 + 14 + 14 + 18); it is not in the mediapipe wheel, so the eye and
  inner-lip loops are closed here with a strip of triangles from corner to corner, the same count. The
  triangles are oriented consistently and so that they face the camera.
* **Texture.** The photo itself, UV = the landmark's pixel centre over the image size (v up), i.e. the
  photo projected from the fitted camera: rendered there, the mesh reproduces the photo's own pixels
  inside the face, lighting included.

It has no back of the head, no ears, no neck and no eyeballs: that is what the baseline is. The mesh is
written as the Cycles renderer's ``head_mesh.npz`` (one ``skin`` part; see
:mod:`bench.groundtruth.cycles_render`).
"""
from __future__ import annotations

from collections import Counter, defaultdict, deque
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

__all__ = ["MediaPipeMesh", "FACE_POINTS", "tessellation", "detected_points", "fitted_landmark_depths",
           "place_points", "baseline_mesh", "write_mesh"]

FACE_POINTS = 468
"""MediaPipe's face-mesh points (the 10 iris points after them are not part of the tessellation)."""
OPEN_MESH_TRIANGLES = 852
"""Triangles of MediaPipe's open face mesh (eyes and mouth open), as the tessellation's edges give them."""
CLOSED_LOOPS = ("LEFT_EYE", "RIGHT_EYE", "LIPS_INNER")
"""The :mod:`engine.landmarks` loops closed to make the canonical mesh (eyes and mouth closed)."""


@dataclass(frozen=True)
class MediaPipeMesh:
    """MediaPipe's face mesh of one photo at the fitted camera.

    ``vertices`` (468, 3) float64 head-space metres (the engine's head frame, so ``K (R X + t)`` is the
    photo pixel); ``faces`` (898, 3) int64; ``face_uvs`` (898, 3, 2) float32 per-corner UV into the photo
    (v up); ``pixels`` (468, 2) the detected points, ``z_px`` (468,) MediaPipe's depths (pixels);
    ``camera_depth`` (468,) each point's depth along the camera axis (metres); ``anchor_depth`` the
    mean depth of the fitted head's landmark points (metres)."""

    vertices: np.ndarray
    faces: np.ndarray
    face_uvs: np.ndarray
    pixels: np.ndarray
    z_px: np.ndarray
    camera_depth: np.ndarray
    anchor_depth: float


# ------------------------------------------------------------------------------------------ topology

def _cliques(edges: set[tuple[int, int]]) -> list[tuple[int, int, int]]:
    """Every 3-cycle (sorted vertex triple) of an undirected edge set."""
    adj: dict[int, set[int]] = defaultdict(set)
    for a, b in edges:
        adj[a].add(b)
        adj[b].add(a)
    return sorted({tuple(sorted((a, b, c))) for a, b in edges for c in adj[a] & adj[b]})


def _edges_of(tri) -> list[tuple[int, int]]:
    a, b, c = tri
    return [tuple(sorted(e)) for e in ((a, b), (b, c), (c, a))]


def _drop_spurious(tris: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """Removes 3-cycles that are not faces: those whose three edges each lie in more than two cycles
    (a manifold mesh has at most two faces per edge)."""
    count = Counter(e for t in tris for e in _edges_of(t))
    return [t for t in tris if not all(count[e] > 2 for e in _edges_of(t))]


def _strip(loop: tuple[int, ...]) -> list[tuple[int, int, int]]:
    """A closed loop (n points, starting at a corner) filled with n - 2 triangles zig-zagging from the
    first point to the opposite side (no new vertex)."""
    n = len(loop)
    lo, hi, tris, take_lo = 1, n - 1, [(loop[0], loop[1], loop[n - 1])], True
    while hi - lo > 1:
        if take_lo:
            tris.append((loop[lo], loop[lo + 1], loop[hi]))
            lo += 1
        else:
            tris.append((loop[lo], loop[hi - 1], loop[hi]))
            hi -= 1
        take_lo = not take_lo
    return tris


def _orient(tris: np.ndarray) -> np.ndarray:
    """(F, 3) triangles re-wound so that neighbours agree (each shared edge runs opposite ways in its
    two triangles); breadth-first over the triangles sharing edges, one component at a time."""
    tris = tris.copy()
    by_edge: dict[tuple[int, int], list[int]] = defaultdict(list)
    for i, t in enumerate(tris):
        for e in _edges_of(t):
            by_edge[e].append(i)
    done = np.zeros(len(tris), bool)
    for seed in range(len(tris)):
        if done[seed]:
            continue
        done[seed] = True
        queue = deque([seed])
        while queue:
            i = queue.popleft()
            directed = {(int(tris[i][k]), int(tris[i][(k + 1) % 3])) for k in range(3)}
            for e in _edges_of(tris[i]):
                for j in by_edge[e]:
                    if done[j]:
                        continue
                    mine = {(int(tris[j][k]), int(tris[j][(k + 1) % 3])) for k in range(3)}
                    if mine & directed:  # same direction on the shared edge: flip j
                        tris[j] = tris[j][::-1]
                    done[j] = True
                    queue.append(j)
    return tris


@lru_cache(maxsize=1)
def tessellation() -> np.ndarray:
    """(898, 3) int64 triangles over MediaPipe's 468 face points: the open mesh from
    ``FACEMESH_TESSELATION`` plus the eyes and mouth closed (see the module doc), wound consistently
    (which side faces the camera is settled per photo in :func:`baseline_mesh`)."""
    from mediapipe.python.solutions import face_mesh_connections as fmc

    from engine import landmarks as lm

    edges = {tuple(sorted(e)) for e in fmc.FACEMESH_TESSELATION}
    open_mesh = _drop_spurious(_cliques(edges))
    if len(open_mesh) != OPEN_MESH_TRIANGLES:
        raise RuntimeError(f"MediaPipe's tessellation gave {len(open_mesh)} triangles, "
                           f"expected {OPEN_MESH_TRIANGLES}")
    fills = [t for name in CLOSED_LOOPS for t in _strip(getattr(lm, name))]
    tris = _orient(np.array(open_mesh + fills, np.int64))
    per_edge = Counter(e for t in tris for e in _edges_of(t))
    if max(per_edge.values()) > 2 or max(tris.max(), 0) >= FACE_POINTS:
        raise RuntimeError("MediaPipe's closed face mesh is not a manifold over its 468 points")
    return tris


# ------------------------------------------------------------------------------------------ geometry

def detected_points(photo: Path) -> tuple[np.ndarray, np.ndarray]:
    """MediaPipe's landmarks of ``photo`` as the engine detects them: ``(478, 2)`` pixels ``(x, y)``
    (integer pixel centres) and ``(478,)`` relative depths in pixels (smaller is closer)."""
    from engine.images import load_photo
    from engine.landmarks import detect_landmarks

    image = load_photo(photo)
    if image.scale != 1.0:
        raise ValueError(f"{photo}: the engine downscales this photo; keep benchmark photos <= 2048 px")
    face = detect_landmarks(image)
    return np.asarray(face.points, np.float64), np.asarray(face.depth, np.float64)


def fitted_landmark_depths(vertices: np.ndarray, R: np.ndarray, t: np.ndarray) -> np.ndarray:
    """(478,) camera depths (metres) of the fitted head's landmark points: the engine's landmark
    correspondence on ``vertices`` (V, 3) posed head space, through the camera ``R``, ``t``."""
    import torch

    from engine.fit.correspondence import load_correspondence
    from engine.head.model import load_head_model

    points = load_correspondence().points(load_head_model(), torch.as_tensor(vertices, dtype=torch.float32))
    cam = points.double().numpy() @ np.asarray(R, np.float64).T + np.asarray(t, np.float64)
    return cam[:, 2]


def place_points(pixels: np.ndarray, z_px: np.ndarray, K: np.ndarray, R: np.ndarray, t: np.ndarray,
                 anchor_depth: float) -> tuple[np.ndarray, np.ndarray]:
    """(N, 3) head-space points and (N,) camera depths: ``pixels`` (N, 2) back-projected through ``K`` to
    ``anchor_depth + (z_px - mean z_px) * anchor_depth / f`` (metres), then taken to head space with
    the inverse of ``X_cam = R X + t``."""
    K, R, t = (np.asarray(a, np.float64) for a in (K, R, t))
    depth = anchor_depth + (z_px - z_px.mean()) * anchor_depth / K[0, 0]
    rays = np.linalg.solve(K, np.c_[pixels, np.ones(len(pixels))].T).T  # (N, 3), z = 1
    cam = rays * depth[:, None]
    return (cam - t) @ R, depth


def _face_camera(faces: np.ndarray, cam: np.ndarray) -> np.ndarray:
    """``faces`` flipped as a whole if most of them face away from the camera (camera-space points
    ``cam``): front = counter-clockwise, as Blender reads it."""
    a, b, c = cam[faces[:, 0]], cam[faces[:, 1]], cam[faces[:, 2]]
    toward = np.einsum("ij,ij->i", np.cross(b - a, c - a), a) < 0
    return faces if toward.mean() >= 0.5 else faces[:, ::-1].copy()


def baseline_mesh(photo: Path, size: tuple[int, int], K: np.ndarray, R: np.ndarray, t: np.ndarray,
                  vertices: np.ndarray) -> MediaPipeMesh:
    """MediaPipe's mesh of ``photo`` ((width, height) ``size``) placed at the fitted camera ``K``, ``R``,
    ``t`` at the depth of the fitted head ``vertices`` (V, 3); see the module doc."""
    pixels, z_px = detected_points(photo)
    pixels, z_px = pixels[:FACE_POINTS], z_px[:FACE_POINTS]
    anchor = float(fitted_landmark_depths(vertices, R, t)[:FACE_POINTS].mean())
    points, depth = place_points(pixels, z_px, K, R, t, anchor)
    cam = points @ np.asarray(R, np.float64).T + np.asarray(t, np.float64)
    faces = _face_camera(tessellation(), cam)
    w, h = size
    uv = np.c_[(pixels[:, 0] + 0.5) / w, 1.0 - (pixels[:, 1] + 0.5) / h].astype(np.float32)
    return MediaPipeMesh(points, faces, uv[faces], pixels, z_px, depth, anchor)


def write_mesh(path: Path, mesh: MediaPipeMesh) -> None:
    """``mesh`` as the Cycles renderer's ``head_mesh.npz`` (one ``skin`` part, textured by the photo)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, vertices=mesh.vertices.astype(np.float32), faces=mesh.faces.astype(np.int32),
                        face_uvs=mesh.face_uvs, face_part=np.zeros(len(mesh.faces), np.int32),
                        part_names=np.array(["skin"], dtype=str))
