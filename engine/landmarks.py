"""MediaPipe FaceMesh landmarks (478 points with irises) and person segmentation, on a Photo.

Coordinates are pixels of the *working image* ``Photo.rgb`` (x right, y down, pixel centres at
integer coordinates); map them to the input photo with ``Photo.to_input_pixels``.

MediaPipe reports ``(x, y)`` normalised by the image width and height. Measured with 2x..8x
upscaled copies of two photos: the landmarks move by ``(f - 1) / 2`` upscaled pixels, which is
what an integer-centred convention predicts (an edge-origin convention predicts no shift), so
``pixel = normalised * size`` with no half-pixel offset. ``z`` is normalised by the image width
like ``x``, so ``depth = z * width`` is in pixels; smaller (more negative) is closer to the camera,
0 is roughly the depth of the head's centre.

Left and right are the person's own (``LEFT_*`` is on the image right in an unmirrored photo),
matching ``docs/conventions.md`` (``eye_l`` is on the head's +X).

Every MediaPipe call runs under :func:`engine.native_logs.quiet`: MediaPipe's C++ log lines on stderr
are dropped unless ``--debug`` asks for them.
"""
from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import cv2
import numpy as np
from mediapipe.python.solutions import face_mesh_connections as _fmc

from engine.errors import FaceTooSmallError, NoFaceError
from engine.images import Photo
from engine.native_logs import quiet

__all__ = [
    "FaceLandmarks",
    "iris_circle",
    "detect_landmarks",
    "segment_person",
    "warm_up",
    "NUM_LANDMARKS",
    "MIN_FACE_SIZE",
    "MAX_FACES",
    "FACE_OVAL",
    "LEFT_EYE",
    "RIGHT_EYE",
    "LEFT_EYE_OUTER",
    "LEFT_EYE_INNER",
    "RIGHT_EYE_OUTER",
    "RIGHT_EYE_INNER",
    "LEFT_IRIS",
    "RIGHT_IRIS",
    "LEFT_IRIS_CENTRE",
    "RIGHT_IRIS_CENTRE",
    "LEFT_EYEBROW",
    "RIGHT_EYEBROW",
    "LIPS_OUTER",
    "LIPS_INNER",
    "NOSE",
    "NOSE_TIP",
    "CHIN",
    "MESH_EDGES",
    "IBUG68",
]

NUM_LANDMARKS = 478
"""468 face-mesh points + 2 x 5 iris points (``refine_landmarks=True``)."""

MIN_FACE_SIZE = 64.0
"""Smallest accepted face size in working-image pixels (see ``FaceLandmarks.face_size``)."""

MAX_FACES = 5
"""FaceMesh's ``max_num_faces``."""

_MIN_TILE = 160
_MAX_TILES = 300
_REFINE_CROP = 3.0
_ENSEMBLE_CROPS = (2.2, 2.6, 3.0, 3.4)


# ---------------------------------------------------------------------------------------------
# Named landmark index sets, derived from MediaPipe's connection sets (directed edge lists).
# ---------------------------------------------------------------------------------------------

Edges = frozenset[tuple[int, int]]


def _out_in_degree(edges: Edges) -> tuple[dict[int, int], dict[int, int]]:
    out_deg: dict[int, int] = defaultdict(int)
    in_deg: dict[int, int] = defaultdict(int)
    for a, b in edges:
        out_deg[a] += 1
        in_deg[b] += 1
    return out_deg, in_deg


def _loop(edges: Edges) -> tuple[int, ...]:
    """Order a closed contour. MediaPipe draws eye and lip loops as two directed chains from one
    corner to the other: the walk starts at the corner with two outgoing edges (for the eyes the
    outer corner, for the lips the corner at the person's right) and takes the lower-indexed
    outgoing edge first; a plain directed cycle (the face oval) starts at its smallest index."""
    adj: dict[int, set[int]] = defaultdict(set)
    for a, b in edges:
        adj[a].add(b)
        adj[b].add(a)
    out_deg, _ = _out_in_degree(edges)
    forks = [n for n, d in out_deg.items() if d == 2]
    start = forks[0] if forks else min(adj)
    order = [start, min(b for a, b in edges if a == start)]
    while True:
        nxt = [n for n in adj[order[-1]] if n != order[-2]]
        if len(nxt) != 1 or nxt[0] == start:
            break
        order.append(nxt[0])
    if len(order) != len(adj):
        raise RuntimeError("MediaPipe contour is not a simple loop")  # a packaging error
    return tuple(order)


def _components(edges: Edges) -> list[Edges]:
    """Split an edge set into connected components (each returned as its own edge set)."""
    parent: dict[int, int] = {}

    def root(n: int) -> int:
        while parent.setdefault(n, n) != n:
            n = parent[n]
        return n

    for a, b in edges:
        parent[root(a)] = root(b)
    groups: dict[int, set[tuple[int, int]]] = defaultdict(set)
    for a, b in edges:
        groups[root(a)].add((a, b))
    return [frozenset(g) for g in groups.values()]


def _chains(edges: Edges) -> tuple[int, ...]:
    """Concatenate the directed chains of an edge set, each from its source node."""
    out_deg, in_deg = _out_in_degree(edges)
    nxt = dict(edges)
    result: list[int] = []
    for start in sorted(n for n in out_deg if in_deg[n] == 0):
        node = start
        result.append(node)
        while node in nxt:
            node = nxt[node]
            result.append(node)
    return tuple(result)


def _corner(edges: Edges, which: str) -> int:
    out_deg, in_deg = _out_in_degree(edges)
    deg = out_deg if which == "fork" else in_deg
    (node,) = [n for n, d in deg.items() if d == 2]
    return node


def _lips() -> tuple[tuple[int, ...], tuple[int, ...]]:
    loops = [_loop(c) for c in _components(_fmc.FACEMESH_LIPS)]
    outer = next(lp for lp in loops if 0 in lp)  # 0 = top of the upper lip's outer edge
    inner = next(lp for lp in loops if 0 not in lp)
    return outer, inner


FACE_OVAL: tuple[int, ...] = _loop(_fmc.FACEMESH_FACE_OVAL)
"""Silhouette loop (36 points), starting at the top of the forehead."""
LEFT_EYE: tuple[int, ...] = _loop(_fmc.FACEMESH_LEFT_EYE)
"""Person's left eye lid contour (16 points), starting at the outer corner."""
RIGHT_EYE: tuple[int, ...] = _loop(_fmc.FACEMESH_RIGHT_EYE)
"""Person's right eye lid contour (16 points), starting at the outer corner."""
LEFT_EYE_OUTER: int = _corner(_fmc.FACEMESH_LEFT_EYE, "fork")
LEFT_EYE_INNER: int = _corner(_fmc.FACEMESH_LEFT_EYE, "join")
RIGHT_EYE_OUTER: int = _corner(_fmc.FACEMESH_RIGHT_EYE, "fork")
RIGHT_EYE_INNER: int = _corner(_fmc.FACEMESH_RIGHT_EYE, "join")
LEFT_IRIS: tuple[int, ...] = _loop(_fmc.FACEMESH_LEFT_IRIS)
"""4 points on the left iris boundary."""
RIGHT_IRIS: tuple[int, ...] = _loop(_fmc.FACEMESH_RIGHT_IRIS)
LEFT_IRIS_CENTRE: int = min(LEFT_IRIS) - 1  # MediaPipe stores each iris as centre + 4 ring points
RIGHT_IRIS_CENTRE: int = min(RIGHT_IRIS) - 1
LEFT_EYEBROW: tuple[int, ...] = _chains(_fmc.FACEMESH_LEFT_EYEBROW)
"""Two 5-point chains (lower edge then upper edge), each from the outer end inward."""
RIGHT_EYEBROW: tuple[int, ...] = _chains(_fmc.FACEMESH_RIGHT_EYEBROW)
LIPS_OUTER, LIPS_INNER = _lips()
"""Outer and inner lip loops (20 points each), starting at the mouth corner on the person's
right."""
NOSE: tuple[int, ...] = tuple(sorted({i for e in _fmc.FACEMESH_NOSE for i in e}))
"""Points of MediaPipe's nose outline (bridge, tip, nostrils), sorted."""
MESH_EDGES: np.ndarray = np.array(sorted(_fmc.FACEMESH_TESSELATION), dtype=np.int64)
"""``(2556, 2)`` edges of the 468-point face-mesh tessellation (for drawing)."""
MESH_EDGES.setflags(write=False)



def iris_circle(points: np.ndarray, centre: int, ring: tuple[int, ...]) -> tuple[np.ndarray, float]:
    """(centre (2,), radius) of one iris from landmarks (N, 2): the centre point and the mean distance
    of its ring points (``LEFT_IRIS_CENTRE``/``LEFT_IRIS`` or the right pair); radius NaN if undefined."""
    c = np.asarray(points[centre], np.float64)
    return c, float(np.mean(np.linalg.norm(np.asarray(points)[list(ring)] - c, axis=1)))


def _tessellation_distance(sources: tuple[int, ...]) -> dict[int, int]:
    """Breadth-first hop count from ``sources`` over the face-mesh tessellation."""
    adj: dict[int, set[int]] = defaultdict(set)
    for a, b in _fmc.FACEMESH_TESSELATION:
        adj[a].add(b)
        adj[b].add(a)
    dist = {s: 0 for s in sources}
    frontier = list(sources)
    while frontier:
        nxt = []
        for n in frontier:
            for m in adj[n] - dist.keys():
                dist[m] = dist[n] + 1
                nxt.append(m)
        frontier = nxt
    return dist


def _upper_brow(brow: tuple[int, ...], eye: tuple[int, ...]) -> tuple[int, ...]:
    """The eyebrow chain farther from the eye (over the mesh) is the upper edge; outer end
    first."""
    dist = _tessellation_distance(eye)
    a, b = brow[:5], brow[5:]
    return a if sum(dist[i] for i in a) > sum(dist[i] for i in b) else b


def _arc(loop: tuple[int, ...], start: int, end: int) -> list[int]:
    """Indices of ``loop`` from ``start`` to ``end`` (inclusive), walking forward."""
    i, j = loop.index(start), loop.index(end)
    return [loop[(i + k) % len(loop)] for k in range((j - i) % len(loop) + 1)]


def _sample(chain: list[int], n: int) -> list[int]:
    """``n`` entries of ``chain`` evenly spaced by position, both ends included."""
    return [chain[round(p)] for p in np.linspace(0, len(chain) - 1, n)]


CHIN = 152  # lowest point of the face oval (MediaPipe's documented indices)
NOSE_TIP = 1
_LIP_TOP, _LIP_BOTTOM = 0, 17  # outer lip contour, mid-line
_INNER_TOP, _INNER_BOTTOM = 13, 14  # inner lip contour, mid-line
_JAW_STEPS = 12  # oval steps from the chin to each end of the iBUG jaw (about eye-corner height)


def _ibug68() -> tuple[int, ...]:
    """iBUG/300-W 68-point order (the person's right side first) built from the contours above,
    spacing points evenly by index between anatomical anchors. Not fitted to any annotation.
    Approximate on the jaw: iBUG's jaw follows the 2D silhouette, MediaPipe's oval is fixed on
    the 3D surface."""
    oval, n = FACE_OVAL, len(FACE_OVAL)
    c = oval.index(CHIN)  # the oval runs over the person's left side first, so +k is their right
    jaw = _sample([oval[(c + k) % n] for k in range(_JAW_STEPS, -_JAW_STEPS - 1, -1)], 17)
    brows = list(_upper_brow(RIGHT_EYEBROW, RIGHT_EYE))
    brows += list(_upper_brow(LEFT_EYEBROW, LEFT_EYE))[::-1]
    r_up = _arc(RIGHT_EYE, RIGHT_EYE_INNER, RIGHT_EYE_OUTER)[::-1]  # outer -> upper -> inner
    r_lo = _arc(RIGHT_EYE, RIGHT_EYE_OUTER, RIGHT_EYE_INNER)[::-1]  # inner -> lower -> outer
    l_up = _arc(LEFT_EYE, LEFT_EYE_INNER, LEFT_EYE_OUTER)  # inner -> upper -> outer
    l_lo = _arc(LEFT_EYE, LEFT_EYE_OUTER, LEFT_EYE_INNER)  # outer -> lower -> inner
    eyes = _sample(r_up, 4) + _sample(r_lo, 4)[1:3] + _sample(l_up, 4) + _sample(l_lo, 4)[1:3]
    return tuple(jaw + brows + _ibug_nose() + eyes + _ibug_lips())


def _ibug_nose() -> list[int]:
    """27-30: nasion to tip along the bridge; 31-35: the lower nose loop, 2 steps either side of
    the subnasale (where the bridge chain meets that loop)."""
    edges = _fmc.FACEMESH_NOSE
    _, in_deg = _out_in_degree(edges)
    nasion = next(a for a, _ in edges if in_deg[a] == 0)
    bridge = [nasion]  # nasion -> tip -> subnasale; at the fork after 4, 4 -> 1 sorts first
    while NOSE_TIP not in bridge or in_deg[bridge[-1]] != 2:
        bridge.append(next(b for a, b in sorted(edges) if a == bridge[-1]))
    subnasale = bridge[-1]
    nxt = dict(edges)
    prev = {b: a for a, b in edges if a not in bridge}
    left = [prev[prev[subnasale]], prev[subnasale]]
    right = [nxt[subnasale], nxt[nxt[subnasale]]]
    tip = bridge.index(NOSE_TIP)
    return _sample(bridge[: tip + 1], 4) + left + [subnasale] + right


def _ibug_lips() -> list[int]:
    """48-59: outer lips from the person's right corner over the upper lip and back under the
    lower lip; 60-67 the same on the inner contour. Corners are where MediaPipe's two directed
    lip chains fork and join."""
    comps = _components(_fmc.FACEMESH_LIPS)
    outer_e = next(e for e in comps if any(_LIP_TOP in pair for pair in e))
    inner_e = next(e for e in comps if e is not outer_e)

    def ring(loop: tuple[int, ...], edges: Edges, top: int, bottom: int, per_side: int
             ) -> list[int]:
        r, lc = _corner(edges, "fork"), _corner(edges, "join")
        sides = [
            _arc(loop, top, r)[::-1],  # right corner -> top
            _arc(loop, lc, top)[::-1],  # top -> left corner
            _arc(loop, bottom, lc)[::-1],  # left corner -> bottom
            _arc(loop, r, bottom)[::-1],  # bottom -> right corner
        ]
        return [i for side in sides for i in _sample(side, per_side + 1)[:per_side]]

    return ring(LIPS_OUTER, outer_e, _LIP_TOP, _LIP_BOTTOM, 3) + ring(
        LIPS_INNER, inner_e, _INNER_TOP, _INNER_BOTTOM, 2
    )


IBUG68: tuple[int, ...] = _ibug68()
"""For each of the 68 iBUG/300-W points (0-based order), a MediaPipe landmark index."""


# ---------------------------------------------------------------------------------------------
# Detection
# ---------------------------------------------------------------------------------------------


@dataclass
class FaceLandmarks:
    """Landmarks of the selected (largest) face.

    Attributes:
        points: ``(478, 2)`` float64 ``(x, y)`` in working-image pixels.
        depth: ``(478,)`` float64 MediaPipe's relative depth in pixels (same scale as x; smaller is
            closer to the camera; roughly 0 at the head's centre). Weakly constrained: use for
            ordering and visibility, not metric depth.
        bbox: ``(x0, y0, x1, y1)`` of the 478 points in working pixels.
        inter_ocular: distance in working pixels between the two eye centres, each the midpoint
            of that eye's inner and outer corner (33/133 and 362/263): stable under gaze and
            blinks. (The 300-W "inter-ocular" normaliser uses the outer corners instead.)
        face_size: the larger side of the 478 points' bounding box after rotating the eye line
            horizontal (roughly forehead-to-chin height for a frontal face), working pixels.
        face_count: how many distinct faces were found (``MAX_FACES`` means that many or more).
        image_size: ``(width, height)`` of the working image the points refer to.
        search: how the face was found: ``"full"`` (FaceMesh on the whole image),
            ``"detector"`` (the full-range face detector) or ``"tiles"`` (the small-face search
            on overlapping crops).
        warnings: one-line notes for the user.
    """

    points: np.ndarray
    depth: np.ndarray
    bbox: tuple[float, float, float, float]
    inter_ocular: float
    face_size: float
    face_count: int
    image_size: tuple[int, int]
    search: str = "full"
    warnings: list[str] = field(default_factory=list)

    @property
    def centre(self) -> np.ndarray:
        """``(2,)`` centre of :attr:`bbox`."""
        x0, y0, x1, y1 = self.bbox
        return np.array([(x0 + x1) / 2, (y0 + y1) / 2])


def detect_landmarks(
    photo: Photo, min_face_size: float = MIN_FACE_SIZE, ensemble: bool = True, mirror: bool = True
) -> FaceLandmarks:
    """Find the largest face in ``photo.rgb`` and return its 478 landmarks.

    FaceMesh runs on the whole image first; its short-range detector sees a 128x128 frame and
    misses faces under ~15-20 % of the frame height (a full-body shot) and erratically misses
    smaller second faces. MediaPipe's full-range face detector (192x192, faces down to ~5 % of
    the frame) then looks for faces FaceMesh did not report; each is measured with FaceMesh on a
    crop 3x its size. Only if both find nothing, overlapping square crops of half, quarter, ...
    the short side (down to 160 px, at most 300 crops per level) are searched with FaceMesh
    (a 65 px face in a 2048x2048 photo: ~0.3-1 s). ``FaceLandmarks.search`` says which found the
    selected face.

    MediaPipe's landmarks depend on the face box its detector proposes (a few pixels on hard
    photos). With ``ensemble`` the selected face is also measured on square crops of
    2.2/2.6/3.0/3.4x its size centred on it, and the per-point median of all runs is returned
    (measured: iBUG-51 error on two hard annotated photos drops by 15-20 %, unchanged on an easy
    one; about 4 extra FaceMesh runs).

    With ``mirror`` the selected face is measured again the same way in the left/right-mirrored
    photo, and each point is averaged with its mirror landmark's measurement there
    (:func:`landmark_mirror`): FaceMesh's errors are not mirror-symmetric, and half of them cancel. The
    result is mirror-equivariant (a mirrored photo gives the mirrored points). Measured on 189 Cycles
    renders of 21 training heads at yaw -50...+50 degrees: inner-face error against the true points
    7.50 -> 7.30 % of the inter-ocular distance, and 6.31 -> 5.90 % after the known-error correction
    (:mod:`engine.fit.landmark_prior`, refitted on mirror-averaged points, leave-one-head-out); about 5
    more FaceMesh runs (the mirrored photo's whole-image run and its crops).

    Raises:
        NoFaceError: no face anywhere.
        FaceTooSmallError: the largest face is smaller than ``min_face_size`` working pixels.
    """
    rgb = photo.rgb
    faces = _find_faces(rgb)
    if not faces:
        raise NoFaceError(
            f"No face was found in {photo.path.name}.",
            hint="use a well-lit photo where the face is visible and not heavily covered",
        )
    faces = sorted(faces, key=lambda f: -_measure(f[0], rgb).face_size)
    largest, how = faces[0]
    size = _measure(largest, rgb).face_size
    if size < min_face_size:
        raise FaceTooSmallError(
            f"The face in {photo.path.name} is only {size:.0f} pixels tall; "
            f"at least {min_face_size:.0f} are needed.",
            hint="use a closer or higher-resolution photo, or crop the photo around the face",
        )
    xyz = _ensemble(rgb, largest) if ensemble else largest
    if mirror:
        xyz = _mirror_average(rgb, xyz, ensemble)
    best = _measure(xyz, rgb)
    best.face_count = len(faces)
    best.search = how
    if len(faces) > 1:
        many = f"{len(faces)} or more" if len(faces) >= MAX_FACES else str(len(faces))
        best.warnings.append(f"Found {many} faces in the photo; using the largest.")
    return best


@lru_cache(maxsize=1)
@quiet
def _face_mesh() -> tuple[Any, threading.Lock]:
    """One FaceMesh graph per process (measured: ~10-25 ms to create, ~70 ms more for the
    first call's model set-up, then ~5-8 ms per call) and the lock that serialises its use (a
    MediaPipe graph is not re-entrant)."""
    from mediapipe.python.solutions import face_mesh

    mesh = face_mesh.FaceMesh(
        static_image_mode=True, refine_landmarks=True, max_num_faces=MAX_FACES
    )
    return mesh, threading.Lock()


@quiet
def _run_mesh(rgb: np.ndarray, x0: int = 0, y0: int = 0) -> list[np.ndarray]:
    """FaceMesh on ``(H, W, 3)`` uint8 RGB; each face as ``(478, 3)`` ``(x, y, depth)`` pixels,
    shifted by ``(x0, y0)`` (the crop's offset in the working image)."""
    mesh, lock = _face_mesh()
    h, w = rgb.shape[:2]
    with lock:
        result = mesh.process(np.ascontiguousarray(rgb))
    faces = []
    for face in result.multi_face_landmarks or []:
        xyz = np.array([(p.x, p.y, p.z) for p in face.landmark], dtype=np.float64)
        xyz *= np.array([w, h, w], dtype=np.float64)
        xyz[:, 0] += x0
        xyz[:, 1] += y0
        faces.append(xyz)
    return faces


@lru_cache(maxsize=1)
@quiet
def _face_detector() -> tuple[Any, threading.Lock]:
    """MediaPipe's full-range face detector (``model_selection=1``) and its lock."""
    from mediapipe.python.solutions import face_detection

    return face_detection.FaceDetection(model_selection=1, min_detection_confidence=0.5), (
        threading.Lock()
    )


@quiet
def _detector_boxes(rgb: np.ndarray) -> list[tuple[float, float, float]]:
    """Full-range detections as ``(centre_x, centre_y, side)`` in pixels."""
    detector, lock = _face_detector()
    h, w = rgb.shape[:2]
    with lock:
        result = detector.process(np.ascontiguousarray(rgb))
    boxes = []
    for det in result.detections or []:
        box = det.location_data.relative_bounding_box
        side = max(box.width * w, box.height * h)
        boxes.append(((box.xmin + box.width / 2) * w, (box.ymin + box.height / 2) * h, side))
    return boxes


def _find_faces(rgb: np.ndarray) -> list[tuple[np.ndarray, str]]:
    """All distinct faces as ``(xyz (478, 3), how_found)``; see :func:`detect_landmarks`."""
    faces = [(f, "full") for f in _run_mesh(rgb)]
    for cx, cy, side in _detector_boxes(rgb):
        if any(_contains(f, cx, cy) for f, _ in faces):
            continue
        half = side / 2
        probe = np.array([[cx - half, cy - half, 0.0], [cx + half, cy + half, 0.0]])
        found = _run_on_crop(rgb, probe, _REFINE_CROP)[1]
        if found is None:
            continue
        fx, fy = found[:, :2].mean(axis=0)
        if not any(_contains(f, fx, fy) for f, _ in faces):
            faces.append((found, "detector"))
    if not faces:
        faces = [(f, "tiles") for f in _tile_search(rgb)]
    return faces


def _contains(face: np.ndarray, x: float, y: float) -> bool:
    (x0, y0), (x1, y1) = face[:, :2].min(axis=0), face[:, :2].max(axis=0)
    return bool(x0 <= x <= x1 and y0 <= y <= y1)


def _tile_origins(length: int, tile: int) -> list[int]:
    step = tile // 2
    starts = list(range(0, max(length - tile, 0) + 1, step))
    if starts[-1] + tile < length:
        starts.append(length - tile)
    return starts


def _tile_search(rgb: np.ndarray) -> list[np.ndarray]:
    """Search overlapping square crops, largest crops first; stop at the first level that finds
    a face. Returns de-duplicated faces re-measured on crops centred on them."""
    h, w = rgb.shape[:2]
    tile = min(h, w) // 2
    while tile >= _MIN_TILE:
        xs, ys = _tile_origins(w, tile), _tile_origins(h, tile)
        if len(xs) * len(ys) > _MAX_TILES:
            break
        found = [
            f for y in ys for x in xs for f in _run_mesh(rgb[y : y + tile, x : x + tile], x, y)
        ]
        if found:
            return [_refine(rgb, f) for f in _dedupe(found)]
        tile //= 2
    return []


def _size_of(xyz: np.ndarray) -> float:
    return float(np.ptp(xyz[:, :2], axis=0).max())


def _dedupe(faces: list[np.ndarray]) -> list[np.ndarray]:
    """Drop faces whose centre lies within half a face size of a larger face already kept."""
    kept: list[np.ndarray] = []
    for face in sorted(faces, key=lambda f: -_size_of(f)):
        c = face[:, :2].mean(axis=0)
        if all(np.linalg.norm(c - k[:, :2].mean(axis=0)) > 0.5 * _size_of(k) for k in kept):
            kept.append(face)
    return kept


def _crop_box(
    shape: tuple[int, ...], centre: np.ndarray, side: int
) -> tuple[int, int, int, int]:
    """Square ``(x0, y0, x1, y1)`` of ``side`` centred on ``centre``, shifted (and, when the
    image is smaller, clipped) to lie inside an image of ``shape = (H, W, ...)``."""
    h, w = shape[:2]
    x0 = int(np.clip(round(centre[0] - side / 2), 0, max(w - side, 0)))
    y0 = int(np.clip(round(centre[1] - side / 2), 0, max(h - side, 0)))
    return x0, y0, min(w, x0 + side), min(h, y0 + side)


def _run_on_crop(
    rgb: np.ndarray, face: np.ndarray, scale: float
) -> tuple[tuple[int, int, int, int], np.ndarray | None]:
    """FaceMesh on a square crop ``scale`` x the face's size centred on it; returns the crop box
    and the face found there nearest to the expected centre (``None`` if none within half a face
    size)."""
    centre = face[:, :2].mean(axis=0)
    box = _crop_box(rgb.shape, centre, int(max(_MIN_TILE, scale * _size_of(face))))
    x0, y0, x1, y1 = box
    return box, _nearest(_run_mesh(rgb[y0:y1, x0:x1], x0, y0), face)


def _refine(rgb: np.ndarray, face: np.ndarray) -> np.ndarray:
    """Re-measure a face found on a tile on a crop 3x its size centred on it, so it is well
    inside the crop; keep the original if that fails."""
    again = _run_on_crop(rgb, face, _REFINE_CROP)[1]
    return face if again is None else again


def _ensemble(rgb: np.ndarray, face: np.ndarray, include: bool = True) -> np.ndarray | None:
    """Per-point median of ``face`` (unless not ``include``d: it only says where the face is) and its
    re-measurements on centred crops (distinct crops only; crops that lose the face are skipped).
    ``(478, 3)``; None when nothing was measured."""
    runs, boxes = ([face] if include else []), set()
    for scale in _ENSEMBLE_CROPS:
        box, again = _run_on_crop(rgb, face, scale)
        if box in boxes or again is None:
            continue
        boxes.add(box)
        runs.append(again)
    return np.median(np.stack(runs), axis=0) if runs else None


def _nearest(faces: list[np.ndarray], face: np.ndarray) -> np.ndarray | None:
    """The face of ``faces`` whose centre is nearest ``face``'s, None beyond half a face size."""
    centre = face[:, :2].mean(axis=0)
    dist = [np.linalg.norm(f[:, :2].mean(axis=0) - centre) for f in faces]
    if not faces or min(dist) > 0.5 * _size_of(face):
        return None
    return faces[int(np.argmin(dist))]


@lru_cache(maxsize=1)
def landmark_mirror() -> np.ndarray:
    """(478,) int: each landmark's mirror landmark on the other side of the face (midline points map to
    themselves; an involution). Measured by ``engine/build_landmark_mirror.py``."""
    import json
    from pathlib import Path

    path = Path(__file__).with_name("data") / "landmark_mirror.json"
    table = np.asarray(json.loads(path.read_text())["mirror"], np.int64)
    table.setflags(write=False)
    return table


def _mirror_average(rgb: np.ndarray, face: np.ndarray, ensemble: bool) -> np.ndarray:
    """``face`` (478, 3) averaged point by point with the face measured in the mirrored ``rgb`` (with the
    ensemble's crops, or one crop), mapped back: x reflected, each point to its mirror landmark. ``face``
    as it is when the mirrored photo loses the face."""
    w = rgb.shape[1]
    flipped = np.ascontiguousarray(rgb[:, ::-1])
    guess = face.copy()
    guess[:, 0] = w - 1 - guess[:, 0]
    whole = _nearest(_run_mesh(flipped), guess)  # the mirrored photo's own whole-image run, as on the original
    if not ensemble:
        found = whole if whole is not None else _run_on_crop(flipped, guess, _REFINE_CROP)[1]
    else:
        found = _ensemble(flipped, guess if whole is None else whole, include=whole is not None)
    if found is None:
        return face
    back = found.copy()
    back[:, 0] = w - 1 - back[:, 0]
    return 0.5 * (face + back[landmark_mirror()])


def _measure(xyz: np.ndarray, rgb: np.ndarray) -> FaceLandmarks:
    points = np.ascontiguousarray(xyz[:, :2])
    right_eye = points[[RIGHT_EYE_OUTER, RIGHT_EYE_INNER]].mean(axis=0)
    left_eye = points[[LEFT_EYE_OUTER, LEFT_EYE_INNER]].mean(axis=0)
    dx, dy = left_eye - right_eye
    angle = np.arctan2(dy, dx)
    c, s = np.cos(-angle), np.sin(-angle)
    upright = points @ np.array([[c, s], [-s, c]])
    x0, y0 = points.min(axis=0)
    x1, y1 = points.max(axis=0)
    return FaceLandmarks(
        points=points,
        depth=np.ascontiguousarray(xyz[:, 2]),
        bbox=(float(x0), float(y0), float(x1), float(y1)),
        inter_ocular=float(np.hypot(dx, dy)),
        face_size=float(np.ptp(upright, axis=0).max()),
        face_count=1,
        image_size=(int(rgb.shape[1]), int(rgb.shape[0])),
    )


def warm_up(rgb: np.ndarray) -> None:
    """Build every MediaPipe graph and run each once on ``rgb`` (``(H, W, 3)`` uint8; a face need not be
    there): the ~0.5 s of model set-up a first photo would pay (``ffhquv serve`` does it at start)."""
    _run_mesh(rgb)
    _detector_boxes(rgb)
    _segment(rgb)


# ---------------------------------------------------------------------------------------------
# Person segmentation
# ---------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
@quiet
def _selfie_segmentation() -> tuple[Any, threading.Lock]:
    from mediapipe.python.solutions import selfie_segmentation

    return selfie_segmentation.SelfieSegmentation(model_selection=0), threading.Lock()


@quiet
def _segment(rgb: np.ndarray) -> np.ndarray:
    model, lock = _selfie_segmentation()
    with lock:
        mask = model.process(np.ascontiguousarray(rgb)).segmentation_mask
    return np.clip(np.asarray(mask, dtype=np.float32), 0.0, 1.0)


def segment_person(photo: Photo, face: FaceLandmarks | None = None) -> np.ndarray:
    """Soft person mask (head, hair, body vs background) of the working image.

    MediaPipe's general selfie-segmentation model (256x256 input, upsampled). On its own it
    misses people who fill little of the frame (Einstein at 9 % of the frame height: all zero).
    With ``face``, a square crop of 4x the face size around it is segmented again and blended
    in, fading to the whole-image mask over the crop's inner 10 % margin (no fade along image
    borders): trust the mask around the head; farther away it is the whole-image guess.

    Returns:
        ``(H, W)`` float32 in [0, 1], 1 = person.
    """
    mask = _segment(photo.rgb)
    if face is None:
        return mask
    h, w = mask.shape
    side = int(min(max(h, w), 4.0 * face.face_size))
    x0, y0, x1, y1 = _crop_box(mask.shape, face.centre, side)
    if min(x1 - x0, y1 - y0) < 32 or (x1 - x0, y1 - y0) == (w, h):
        return mask
    crop_mask = _segment(photo.rgb[y0:y1, x0:x1])
    weight = _border_fade(crop_mask.shape, 0.1 * side, (x0 == 0, y0 == 0, x1 == w, y1 == h))
    region = mask[y0:y1, x0:x1]
    mask[y0:y1, x0:x1] = weight * crop_mask + (1.0 - weight) * region
    return mask


def _border_fade(
    shape: tuple[int, int], width: float, open_sides: tuple[bool, bool, bool, bool]
) -> np.ndarray:
    """``(h, w)`` float32 weight rising from 0 at the box border to 1 at ``width`` pixels
    inside; sides flagged in ``open_sides = (left, top, right, bottom)`` do not fade."""
    h, w = shape
    big = float(max(h, w))
    cols, rows = np.arange(w, dtype=np.float32) + 0.5, np.arange(h, dtype=np.float32) + 0.5
    left = np.full(w, big, np.float32) if open_sides[0] else cols
    right = np.full(w, big, np.float32) if open_sides[2] else w - cols
    top = np.full(h, big, np.float32) if open_sides[1] else rows
    bottom = np.full(h, big, np.float32) if open_sides[3] else h - rows
    dist = np.minimum(np.minimum(left, right)[None, :], np.minimum(top, bottom)[:, None])
    return np.clip(dist / max(width, 1.0), 0.0, 1.0).astype(np.float32)
