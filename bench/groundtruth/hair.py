"""Synthetic hair for the ground-truth renders: a fringe over the forehead and strands over the cheeks,
as thin curved cards that Cycles renders with a procedural strand-like alpha
(:mod:`bench.groundtruth.cycles_render`, job field ``hair``).

Cards are placed from the true head's own geometry. Rays leave a point inside the skull (the middle
of the skin's bounding box at eye height) in spherical directions: azimuth about +Y from +Z (+ toward
the head's left, +X), elevation above the horizontal. A strand is a path in (azimuth, elevation); its
centre line is where those rays leave the skin, lifted off it along the surface normal, and the card
spans a width across it in the skin's tangent plane. The brow and mouth-corner landmarks (MediaPipe
order, head space) set how far the strands hang: the fringe from the scalp down to about the brows,
the side strands from the temples down to about the mouth corners, drifting forward over the cheeks.

numpy only; deterministic in :attr:`HairSpec.seed`. Head space: metres, +Y up, +Z out of the face.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["HairSpec", "HairCards", "HAIR_STYLES", "HAIR_COLOURS", "HAIR_ROUGHNESS", "HAIR_VERSION", "hair_cards",
           "skull_centre", "cast_to_skin", "smooth_polyline", "BROW_LANDMARKS", "MOUTH_CORNERS", "EYE_CORNERS"]

HAIR_STYLES = ("fringe", "fringe+cheeks", "glasses")
"""Card styles: "glasses" is an eyeglasses frame (:mod:`bench.groundtruth.glasses`), opaque cards the
same machinery places, writes and renders."""
HAIR_COLOURS = {
    "brown": (0.045, 0.022, 0.011),
    "blonde": (0.42, 0.27, 0.11),
    "black": (0.012, 0.010, 0.009),
}
"""Hair base colours, linear RGB (dark brown, dark blonde, near black); the shader (cycles_render.py)
varies each strand by +-HAIR_SHADE_JITTER around it."""
HAIR_ROUGHNESS = 0.38
HAIR_VERSION = 2
"""Bump to re-render every hair scene when the cards' shader (cycles_render.py) changes: the render
cache keys on the job, which holds the cards' digest but not the renderer's code."""
BROW_LANDMARKS = (70, 63, 105, 66, 107, 336, 296, 334, 293, 300)
"""MediaPipe upper-brow points: the fringe's lower edge follows their elevation."""
MOUTH_CORNERS = (61, 291)
EYE_CORNERS = (33, 263)
SEGMENTS = 16
"""Segments along each card (17 cross-sections)."""
FRINGE_LAYERS = 2
FRINGE_CARDS = 14
"""Cards per fringe layer, spread over the fringe's azimuth span."""
FRINGE_ROOT_ELEVATION_DEG = 68.0
FRINGE_MARGIN_DEG = 6.0
"""The fringe spans the outer brow points' azimuths widened by this on each side."""
FRINGE_END_DEG = (-3.0, 5.0)
"""A fringe strand ends this many degrees of elevation around the brow line (- = below it)."""
FRINGE_ROOT_CONVERGE = 0.8
"""At the root a fringe strand's azimuth is this share of its tip's (strands fan out from the crown)."""
CHEEK_CARDS = 7
"""Side strands per side (fringe+cheeks only)."""
CHEEK_ROOT_AZIMUTH_DEG = (58.0, 76.0)
CHEEK_ROOT_ELEVATION_DEG = (32.0, 48.0)
CHEEK_END_AZIMUTH_DEG = (26.0, 46.0)
CHEEK_END_DEG = (-6.0, 8.0)
"""A side strand ends this many degrees of elevation around the mouth corners' elevation."""
CARD_WIDTH_M = {"fringe": 0.014, "cheek": 0.012}
TIP_TAPER = 0.45
"""A card's width at the tip is (1 - TIP_TAPER) of its root's."""
OFFSET_M = {"fringe": (0.0025, 0.0045), "cheek": (0.003, 0.0045)}
"""Height of a card above the skin: (first layer, each later layer adds the difference)."""
OFFSET_JITTER_M = 0.0008
SWAY_DEG = 2.5
"""Peak sideways sway (azimuth) along a strand: the cards curve a little, not only along the skin."""
SMOOTH_PASSES = 2
"""Moving-average passes over a card's centre line (the ray hits follow the mesh's facets)."""
RAY_EPS = 1e-9


@dataclass(frozen=True)
class HairSpec:
    """A scene's hair: ``style`` one of :data:`HAIR_STYLES`; ``colour`` a key of
    :data:`HAIR_COLOURS` (for "glasses" of :data:`bench.groundtruth.glasses.FRAME_STYLES`); ``seed``
    draws the strands (a frame ignores it)."""

    style: str
    colour: str
    seed: int = 0

    @property
    def name(self) -> str:
        return f"{self.style.replace('+', '-')}-{self.colour}"


@dataclass(frozen=True)
class HairCards:
    """``vertices`` (V, 3) float32 head-space metres; ``faces`` (F, 3) int32 triangles; ``uvs`` (V, 2)
    float32: u = 2 x card index + (0 | 1) across the card, v = 0 at the root -> 1 at the tip; ``card``
    (V,) int32 card index; ``kind`` (C,) the card kinds ("fringe" / "cheek"; a frame's "rim" / "bridge" /
    "temple")."""

    vertices: np.ndarray
    faces: np.ndarray
    uvs: np.ndarray
    card: np.ndarray
    kind: tuple[str, ...]

    def arrays(self) -> dict[str, np.ndarray]:
        """The ``hair_cards.npz`` arrays the Cycles renderer reads."""
        return {"vertices": self.vertices, "faces": self.faces, "uvs": self.uvs, "card": self.card}


def skull_centre(vertices: np.ndarray, skin_faces: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """(3,) the rays' origin: the skin bounding box's middle in x and z, at the eye corners' height."""
    skin = np.asarray(vertices, np.float64)[np.unique(skin_faces)]
    mid = (skin.min(0) + skin.max(0)) / 2.0
    return np.array([mid[0], np.asarray(landmarks)[list(EYE_CORNERS), 1].mean(), mid[2]])


def _directions(azimuth_deg: np.ndarray, elevation_deg: np.ndarray) -> np.ndarray:
    """(..., 3) unit directions for azimuth (about +Y, from +Z toward +X) and elevation (degrees)."""
    az, el = np.deg2rad(azimuth_deg), np.deg2rad(elevation_deg)
    return np.stack([np.cos(el) * np.sin(az), np.sin(el), np.cos(el) * np.cos(az)], -1)


def _angles(points: np.ndarray, centre: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(azimuth, elevation) in degrees of ``points`` (M, 3) seen from ``centre``."""
    d = np.asarray(points, np.float64) - centre
    az = np.degrees(np.arctan2(d[:, 0], d[:, 2]))
    el = np.degrees(np.arctan2(d[:, 1], np.hypot(d[:, 0], d[:, 2])))
    return az, el


def _vertex_normals(v: np.ndarray, f: np.ndarray) -> np.ndarray:
    fn = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    vn = np.zeros_like(v)
    for k in range(3):
        np.add.at(vn, f[:, k], fn)
    return vn / np.maximum(np.linalg.norm(vn, axis=1, keepdims=True), 1e-12)


def cast_to_skin(vertices: np.ndarray, skin_faces: np.ndarray, origin: np.ndarray,
                 directions: np.ndarray, chunk: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Outermost hits of rays from ``origin`` (3,) along ``directions`` (M, 3) on the triangles
    ``skin_faces`` (F, 3) of ``vertices`` (V, 3): (points (M, 3), outward unit normals (M, 3)
    interpolated from area-weighted vertex normals). NaN where a ray misses (Möller–Trumbore)."""
    v = np.asarray(vertices, np.float64)
    f = np.asarray(skin_faces, np.int64)
    vn = _vertex_normals(v, f)
    a, e1, e2 = v[f[:, 0]], v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]]
    s = origin - a  # (F, 3): the same origin for every ray
    q = np.cross(s, e1)
    points = np.full((len(directions), 3), np.nan)
    normals = np.full((len(directions), 3), np.nan)
    for lo in range(0, len(directions), chunk):
        d = np.asarray(directions[lo:lo + chunk], np.float64)
        p = np.cross(d[:, None, :], e2[None])  # (m, F, 3)
        det = np.einsum("mfc,fc->mf", p, e1)
        inv = np.where(np.abs(det) > RAY_EPS, 1.0 / np.where(det == 0, 1.0, det), 0.0)
        u = np.einsum("mfc,fc->mf", p, s) * inv
        w = np.einsum("mc,fc->mf", d, q) * inv
        t = np.einsum("fc,fc->f", e2, q)[None] * inv
        hit = (np.abs(det) > RAY_EPS) & (u >= 0) & (w >= 0) & (u + w <= 1) & (t > 0)
        t = np.where(hit, t, -np.inf)
        best = np.argmax(t, axis=1)
        ok = np.isfinite(t[np.arange(len(d)), best])
        tb, ub, wb = t[np.arange(len(d)), best], u[np.arange(len(d)), best], w[np.arange(len(d)), best]
        tri = f[best]
        n = (1 - ub - wb)[:, None] * vn[tri[:, 0]] + ub[:, None] * vn[tri[:, 1]] + wb[:, None] * vn[tri[:, 2]]
        n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
        n *= np.sign(np.einsum("mc,mc->m", n, d))[:, None]  # outward along the ray
        points[lo:lo + chunk][ok] = origin + tb[ok, None] * d[ok]
        normals[lo:lo + chunk][ok] = n[ok]
    return points, normals


@dataclass(frozen=True)
class _Strand:
    """A card's path: ``azimuth`` / ``elevation`` (SEGMENTS + 1,) degrees, root first; ``offset``
    metres above the skin; ``width`` metres at the root; ``kind`` fringe or cheek."""

    azimuth: np.ndarray
    elevation: np.ndarray
    offset: float
    width: float
    kind: str


def _sway(rng: np.random.Generator, s: np.ndarray) -> np.ndarray:
    """(S,) sideways sway in degrees along ``s`` (0 at the root)."""
    return SWAY_DEG * rng.uniform(0.4, 1.0) * np.sin(np.pi * s * rng.uniform(0.8, 1.6) + rng.uniform(0, np.pi)) * s


def _brow_elevation(landmarks: np.ndarray, centre: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(azimuths, elevations) of the brow points sorted by azimuth (for np.interp)."""
    az, el = _angles(np.asarray(landmarks)[list(BROW_LANDMARKS)], centre)
    order = np.argsort(az)
    return az[order], el[order]


def _fringe(rng: np.random.Generator, landmarks: np.ndarray, centre: np.ndarray, s: np.ndarray) -> list[_Strand]:
    brow_az, brow_el = _brow_elevation(landmarks, centre)
    half = max(abs(brow_az[0]), abs(brow_az[-1])) + FRINGE_MARGIN_DEG
    step = 2.0 * half / FRINGE_CARDS
    low, high = OFFSET_M["fringe"]
    strands = []
    for layer in range(FRINGE_LAYERS):
        ends = -half + step * (np.arange(FRINGE_CARDS) + 0.5 * (1 + layer % 2) - 0.25)
        for az_end in ends + rng.uniform(-0.2, 0.2, FRINGE_CARDS) * step:
            el_end = np.interp(az_end, brow_az, brow_el) + rng.uniform(*FRINGE_END_DEG) + 2.0 * layer
            az = az_end * (FRINGE_ROOT_CONVERGE + (1 - FRINGE_ROOT_CONVERGE) * s ** 0.7) + _sway(rng, s)
            el = FRINGE_ROOT_ELEVATION_DEG + (el_end - FRINGE_ROOT_ELEVATION_DEG) * s
            offset = low + layer * (high - low) + rng.uniform(-1, 1) * OFFSET_JITTER_M
            strands.append(_Strand(az, el, offset, CARD_WIDTH_M["fringe"] * rng.uniform(0.85, 1.15), "fringe"))
    return strands


def _cheeks(rng: np.random.Generator, landmarks: np.ndarray, centre: np.ndarray, s: np.ndarray) -> list[_Strand]:
    _, mouth_el = _angles(np.asarray(landmarks)[list(MOUTH_CORNERS)], centre)
    ease = s * s * (3 - 2 * s)
    low, high = OFFSET_M["cheek"]
    strands = []
    for side in (-1.0, 1.0):
        for k in range(CHEEK_CARDS):
            az0, az1 = rng.uniform(*CHEEK_ROOT_AZIMUTH_DEG), rng.uniform(*CHEEK_END_AZIMUTH_DEG)
            el0, el1 = rng.uniform(*CHEEK_ROOT_ELEVATION_DEG), mouth_el.mean() + rng.uniform(*CHEEK_END_DEG)
            az = side * (az0 + (az1 - az0) * ease + _sway(rng, s))
            el = el0 + (el1 - el0) * s
            offset = (low if k % 2 == 0 else high) + rng.uniform(-1, 1) * OFFSET_JITTER_M
            strands.append(_Strand(az, el, offset, CARD_WIDTH_M["cheek"] * rng.uniform(0.85, 1.15), "cheek"))
    return strands


def smooth_polyline(x: np.ndarray, passes: int = SMOOTH_PASSES) -> np.ndarray:
    """(S, ...) polyline or profile smoothed by ``passes`` [1, 2, 1] passes, ends fixed."""
    for _ in range(passes):
        x = np.concatenate([x[:1], (x[:-2] + 2 * x[1:-1] + x[2:]) / 4.0, x[-1:]])
    return x


def _card(vertices: np.ndarray, skin_faces: np.ndarray, centre: np.ndarray, strand: _Strand,
          s: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(left, right) edge points (S, 3) of one card, or None where a ray misses the skin."""
    hits, normals = cast_to_skin(vertices, skin_faces, centre, _directions(strand.azimuth, strand.elevation))
    if not np.all(np.isfinite(hits)):
        return None
    line = smooth_polyline(hits + normals * strand.offset)
    normals = smooth_polyline(normals)
    tangent = np.gradient(line, axis=0)
    side = np.cross(normals, tangent)
    side /= np.maximum(np.linalg.norm(side, axis=1, keepdims=True), 1e-12)
    half = 0.5 * strand.width * (1.0 - TIP_TAPER * s)[:, None]
    return line - side * half, line + side * half


def hair_cards(vertices: np.ndarray, skin_faces: np.ndarray, landmarks: np.ndarray, spec: HairSpec) -> HairCards:
    """The cards of ``spec`` on the head ``vertices`` (V, 3) whose skin triangles are ``skin_faces``
    (F, 3); ``landmarks`` (478, 3) the head's MediaPipe-order points in head space. Style "glasses"
    is :func:`bench.groundtruth.glasses.glasses_cards`."""
    if spec.style not in HAIR_STYLES:
        raise ValueError(f"hair style must be one of {HAIR_STYLES}, got {spec.style!r}")
    if spec.style == "glasses":
        from bench.groundtruth.glasses import glasses_cards  # glasses.py builds on this module's HairCards

        return glasses_cards(vertices, skin_faces, landmarks, spec)
    if spec.colour not in HAIR_COLOURS:
        raise ValueError(f"hair colour must be one of {sorted(HAIR_COLOURS)}, got {spec.colour!r}")
    rng = np.random.default_rng(spec.seed)
    centre = skull_centre(vertices, skin_faces, landmarks)
    s = np.linspace(0.0, 1.0, SEGMENTS + 1)
    strands = _fringe(rng, landmarks, centre, s)
    if spec.style == "fringe+cheeks":
        strands += _cheeks(rng, landmarks, centre, s)
    verts, faces, uvs, card, kinds = [], [], [], [], []
    n = len(s)
    quad = np.array([[0, n, n + 1], [0, n + 1, 1]])
    for strand in strands:
        edges = _card(vertices, skin_faces, centre, strand, s)
        if edges is None:
            continue
        k = len(kinds)
        base = k * 2 * n
        verts.append(np.concatenate(edges))
        faces.append((base + np.arange(n - 1)[:, None, None] + quad[None]).reshape(-1, 3))
        uvs.append(np.concatenate([np.c_[np.full(n, 2.0 * k), s], np.c_[np.full(n, 2.0 * k + 1.0), s]]))
        card.append(np.full(2 * n, k))
        kinds.append(strand.kind)
    return HairCards(np.concatenate(verts).astype(np.float32), np.concatenate(faces).astype(np.int32),
                     np.concatenate(uvs).astype(np.float32), np.concatenate(card).astype(np.int32), tuple(kinds))
