"""Synthetic eyeglasses frames for the ground-truth renders: two rims around the eyes, a bridge over the
nose and two temples back to the ears, as opaque box-section ribbons that Cycles renders with a plain
Principled BSDF (:mod:`bench.groundtruth.cycles_render`, job field ``hair`` with ``"solid": true``).

The frames are built from the true head's own geometry, as a fitter would: the lenses are centred a
little below and outward of the eye centres (MediaPipe lid contours, head space) and sized by the eye
span; the frame front is a gently curved surface (wrap about Y, pantoscopic tilt about X) pushed forward
until its middle is VERTEX_DISTANCE_M in front of both corneas and RIM_CLEARANCE_M above the skin
under every rim (the cheeks, brow ridge and nose sides are close); the bridge bows forward where the
nose would come closer than BRIDGE_CLEARANCE_M; the temples run from the rims' outer edges to just
behind the ears, TEMPLE_GAP_M off the side of the head. Clearances are measured along the axis the
ribbon faces (+Z for the front, +-X for the temples) against the outermost skin over the ribbon.

The mesh is a :class:`bench.groundtruth.hair.HairCards` (one card per flat side of a ribbon, so that
smooth shading keeps the box's edges sharp): the renderer's and the npz's path is the hair cards'.

numpy only; deterministic (no randomness). Head space: metres, +Y up, +Z out of the face, +X the
head's left.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.groundtruth.hair import HairCards, HairSpec, smooth_polyline

__all__ = ["FrameStyle", "FRAME_STYLES", "GLASSES_VERSION", "glasses_cards", "outermost_skin",
           "LEFT_EYE_CONTOUR", "RIGHT_EYE_CONTOUR", "IRIS_CENTRES", "RIM_CLEARANCE_M", "BRIDGE_CLEARANCE_M",
           "TEMPLE_GAP_M"]

GLASSES_VERSION = 1
"""Bump to re-render every glasses scene when the frames' shader (cycles_render.py) changes."""
LEFT_EYE_CONTOUR = (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466)
RIGHT_EYE_CONTOUR = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246)
"""MediaPipe lid contours (the head's left at +X, its right at -X): their means are the eye centres."""
IRIS_CENTRES = (473, 468)
"""MediaPipe iris centres (left, right): on the cornea, the frame's VERTEX_DISTANCE_M is from them."""
EYE_SPAN = (33, 263)
REFERENCE_EYE_SPAN_M = 0.092
"""Outer eye-corner distance of a typical adult: the lens size is LENS_SIZE_M at this span, scaled
with the head's own."""
LENS_SIZE_M = (0.050, 0.036)
"""Lens width x height (along the rim's centre line) at the reference span."""
LENS_OFFSET_M = (0.003, -0.003)
"""Lens centre from the eye centre at the reference span: outward (toward the ear), up."""
LENS_EXPONENT = 3.2
"""Superellipse exponent of the lens outline (2: an ellipse; larger: a squarer rounded rectangle)."""
LENS_TAPER = 0.08
"""The lens is (1 + LENS_TAPER) as wide at its top as at its middle, (1 - LENS_TAPER) at its bottom."""
WRAP_RADIUS_M = 0.35
"""The frame front curves back about +Y with this radius (face form): ~5 mm back at the hinges."""
TILT_DEG = 8.0
"""Pantoscopic tilt: the frame's lower part leans toward the cheeks by this angle."""
VERTEX_DISTANCE_M = 0.013
"""Least distance (along Z) from a cornea to the frame's middle (between its front and back faces, where
a lens would sit). The nose and cheeks may push the frame further out."""
RIM_CLEARANCE_M = 0.003
"""Least height (along Z) of a rim's back face above the skin under the rim."""
BRIDGE_CLEARANCE_M = 0.002
"""Least height of the bridge's back face above the nose."""
TEMPLE_GAP_M = 0.0035
"""Least distance (along X) from a temple's inner face to the side of the head (ears included)."""
FOOTPRINT_MARGIN_M = 0.001
"""The skin is sampled this far beyond a ribbon's edges (the ribbon's samples are ~2.5 mm apart)."""
BRIDGE_HEIGHT = 0.45
"""The bridge meets the rims at this share of the lens half-height above the lens centres ..."""
BRIDGE_ARCH_M = 0.003
"""... and arches this much higher in the middle."""
HINGE_HEIGHT = 0.55
"""The temples leave the rims' outer edges at this share of the lens half-height above the centres."""
EAR_FLARE_M = 0.004
"""Skin this much wider than the skull above it (behind the eyes) is ear."""
EAR_SEARCH_M = (0.045, 0.03)
"""The ears are looked for from this far below to this far above the eye centres; the skull they
are compared with is the SKULL_BAND_M of skin above that."""
SKULL_BAND_M = 0.02
EAR_BEHIND_M = 0.06
"""... and at least this far behind the corneas."""
TEMPLE_OVER_EAR_M = 0.002
"""A temple's lower face passes this high above the ear's top."""
TEMPLE_PAST_EAR_M = 0.008
"""A temple ends this far behind the ear's back (or at the back of the skin, if nearer)."""
RIM_SEGMENTS = 64
BRIDGE_SEGMENTS = 16
TEMPLE_SEGMENTS = 32
SMOOTH_PASSES = 6
"""[1, 2, 1] passes over a temple's outward profile (each lifted back over its clearance)."""
SIDES = (1.0, -1.0)
"""The two halves of a frame, in this order: the head's left (+X), its right."""


@dataclass(frozen=True)
class FrameStyle:
    """A frame's look: linear ``rgb``, Principled ``roughness`` and ``metallic``; ribbon sizes in
    metres: the rims' and bridge's ``width`` (in the frame front) and ``depth`` (front to back), the
    temples' ``temple_height`` and ``temple_thickness``."""

    rgb: tuple[float, float, float]
    roughness: float
    metallic: float
    width: float
    depth: float
    temple_height: float
    temple_thickness: float


FRAME_STYLES = {
    "black": FrameStyle((0.02, 0.02, 0.02), 0.25, 0.0, 0.0045, 0.0035, 0.004, 0.0025),
    "gold": FrameStyle((0.8, 0.6, 0.3), 0.3, 1.0, 0.0018, 0.0012, 0.0022, 0.0012),
    "tortoise": FrameStyle((0.09, 0.04, 0.014), 0.2, 0.0, 0.0055, 0.004, 0.0055, 0.003),
}
"""Frame colours (HairSpec.colour for style "glasses"): black acetate and thin gold metal (the benchmark's),
and a wide dark tortoise-brown acetate (one plain colour, no mottle; the training scenes only): a frame
nearer the skin's hue than black or gold, and wider than the black."""


@dataclass(frozen=True)
class _Front:
    """The frame front: ``centre`` (2,) x, y of its middle; ``z0`` its depth there; the surface is
    z0 - (x - cx)^2 / (2 WRAP_RADIUS_M) + (y - cy) tan(TILT_DEG)."""

    centre: np.ndarray
    z0: float

    def z(self, xy: np.ndarray) -> np.ndarray:
        d = np.asarray(xy, np.float64) - self.centre
        return self.z0 - d[..., 0] ** 2 / (2.0 * WRAP_RADIUS_M) + d[..., 1] * np.tan(np.radians(TILT_DEG))


def outermost_skin(vertices: np.ndarray, skin_faces: np.ndarray, query: np.ndarray, axis: int, sign: float,
                   chunk: int = 256) -> np.ndarray:
    """(M,) the outermost skin coordinate along ``axis`` (0, 1, 2) in direction ``sign`` (+1 / -1) over
    each ``query`` (M, 2) point of the other two axes (in increasing order): where a line along ``axis``
    through it leaves the skin triangles ``skin_faces`` (F, 3) of ``vertices`` (V, 3). NaN where it
    misses the skin."""
    v = np.asarray(vertices, np.float64)
    others = [a for a in (0, 1, 2) if a != axis]
    tri = v[np.asarray(skin_faces, np.int64)]
    p, h = tri[:, :, others], tri[:, :, axis]
    e1, e2 = p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]
    det = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    ok = np.abs(det) > 1e-14
    p0, e1, e2, h, det = p[ok, 0], e1[ok], e2[ok], h[ok], det[ok]
    q = np.asarray(query, np.float64)
    out = np.full(len(q), np.nan)
    for lo in range(0, len(q), chunk):
        d = q[lo:lo + chunk, None, :] - p0[None]
        u = (d[..., 0] * e2[:, 1] - d[..., 1] * e2[:, 0]) / det
        w = (e1[:, 0] * d[..., 1] - e1[:, 1] * d[..., 0]) / det
        inside = (u >= 0) & (w >= 0) & (u + w <= 1)
        coord = sign * ((1 - u - w) * h[:, 0] + u * h[:, 1] + w * h[:, 2])
        best = np.where(inside, coord, -np.inf).max(1)
        out[lo:lo + chunk] = np.where(np.isfinite(best), sign * best, np.nan)
    return out


def _resample_closed(points: np.ndarray, n: int) -> np.ndarray:
    """(n, 2) points evenly spaced by arc length along the closed polyline ``points`` (M, 2)."""
    loop = np.concatenate([points, points[:1]])
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(loop, axis=0), axis=1))])
    t = np.linspace(0.0, s[-1], n, endpoint=False)
    return np.stack([np.interp(t, s, loop[:, k]) for k in range(2)], -1)


def _lens_outline(centre: np.ndarray, half: np.ndarray, outward: float) -> np.ndarray:
    """(RIM_SEGMENTS, 2) the rim's centre line: a tapered superellipse of half-sizes ``half`` around
    ``centre``, counter-clockwise from its outer (``outward`` = +1: +X) side."""
    a = np.linspace(0.0, 2.0 * np.pi, 16 * RIM_SEGMENTS, endpoint=False)
    c, s = np.cos(a), np.sin(a)
    y = np.sign(s) * np.abs(s) ** (2.0 / LENS_EXPONENT)
    x = np.sign(c) * np.abs(c) ** (2.0 / LENS_EXPONENT) * (1.0 + LENS_TAPER * y)
    return _resample_closed(centre + np.c_[outward * x * half[0], y * half[1]], RIM_SEGMENTS)


def _normals_2d(line: np.ndarray, closed: bool) -> np.ndarray:
    """(S, 2) unit normals of a 2D polyline (tangent turned clockwise: outward for a CCW loop)."""
    if closed:
        tangent = np.roll(line, -1, 0) - np.roll(line, 1, 0)
    else:
        tangent = np.gradient(line, axis=0)
    n = np.c_[tangent[:, 1], -tangent[:, 0]]
    return n / np.linalg.norm(n, axis=1, keepdims=True)


@dataclass(frozen=True)
class _Lenses:
    """Both rims' centre lines ``outlines`` (2, RIM_SEGMENTS, 2) and lens ``centres`` (2, 2) in SIDES
    order; the lens half-sizes ``half`` (2,)."""

    outlines: np.ndarray
    half: np.ndarray
    centres: np.ndarray


def _lenses(landmarks: np.ndarray) -> _Lenses:
    """The lenses, placed and sized from the eyes (module docstring), mirror-symmetric about the eyes'
    midpoint."""
    lm = np.asarray(landmarks, np.float64)
    eyes = np.stack([lm[list(LEFT_EYE_CONTOUR), :2].mean(0), lm[list(RIGHT_EYE_CONTOUR), :2].mean(0)])
    scale = np.linalg.norm(lm[EYE_SPAN[0]] - lm[EYE_SPAN[1]]) / REFERENCE_EYE_SPAN_M
    mid = eyes.mean(0)
    half_pd = 0.5 * (eyes[0, 0] - eyes[1, 0])  # symmetric frame: rigid glasses on a near-symmetric face
    half = 0.5 * np.asarray(LENS_SIZE_M) * scale
    centres, outlines = [], []
    for outward in SIDES:
        c = mid + np.array([outward * (half_pd + LENS_OFFSET_M[0] * scale), LENS_OFFSET_M[1] * scale])
        centres.append(c)
        outlines.append(_lens_outline(c, half, outward))
    return _Lenses(np.stack(outlines), half, np.stack(centres))


def _offsets(width: float) -> np.ndarray:
    """(5,) offsets across a ribbon of ``width`` where the skin is sampled: both edges (the ribbon's
    vertices), its middle, and FOOTPRINT_MARGIN_M beyond the edges."""
    half = 0.5 * width
    return np.array([-half - FOOTPRINT_MARGIN_M, -half, 0.0, half, half + FOOTPRINT_MARGIN_M])


def _across(line: np.ndarray, normal: np.ndarray, width: float) -> np.ndarray:
    """(S, 5, 2) the skin samples (:func:`_offsets`) across a ribbon of ``width`` on ``line`` (S, 2)."""
    return line[:, None, :] + _offsets(width)[None, :, None] * normal[:, None, :]


def _lack(vertices, skin_faces, footprint: np.ndarray, front: _Front, clearance: float, depth: float) -> np.ndarray:
    """(S,) how far the front surface must move forward over each row of ``footprint`` (S, K, 2) for a
    back face ``depth`` behind it to clear the skin by ``clearance`` (negative: room to spare)."""
    z = outermost_skin(vertices, skin_faces, footprint.reshape(-1, 2), 2, 1.0).reshape(footprint.shape[:2])
    need = np.where(np.isnan(z), -np.inf, z + clearance + depth - front.z(footprint))
    return need.max(axis=1)


def _front(vertices, skin_faces, landmarks, lenses: _Lenses, style: FrameStyle) -> _Front:
    """The frame front, as far back as the corneas and the skin under the rims allow."""
    lm = np.asarray(landmarks, np.float64)
    front = _Front(lenses.centres.mean(0), 0.0)
    iris = lm[list(IRIS_CENTRES)]
    need = [np.max(iris[:, 2] + VERTEX_DISTANCE_M + 0.5 * style.depth - front.z(iris[:, :2]))]
    for outline in lenses.outlines:
        foot = _across(outline, _normals_2d(outline, True), style.width)
        need.append(np.max(_lack(vertices, skin_faces, foot, front, RIM_CLEARANCE_M, style.depth)))
    return _Front(front.centre, float(max(need)))


def _box(edge0: np.ndarray, edge1: np.ndarray, back: np.ndarray, cap: bool) -> list[tuple[np.ndarray, np.ndarray]]:
    """The flat sides of a box-section ribbon as (edge, edge) pairs of (S, 3) polylines: the face
    between ``edge0`` and ``edge1``, the one ``back`` (S, 3) behind it, the two walls between them, and
    with ``cap`` the end wall at the last section."""
    b0, b1 = edge0 + back, edge1 + back
    sides = [(edge0, edge1), (b1, b0), (b0, edge0), (edge1, b1)]
    if cap:
        sides.append((np.stack([edge0[-1], b0[-1]]), np.stack([edge1[-1], b1[-1]])))
    return sides


def _rim(outline: np.ndarray, front: _Front, style: FrameStyle) -> list[tuple[np.ndarray, np.ndarray]]:
    """The rim around ``outline`` (S, 2): its front face on the frame front, closed (the seam repeats
    the first section)."""
    n = _normals_2d(outline, True)
    edges = []
    for sign in (-1.0, 1.0):
        xy = outline + sign * 0.5 * style.width * n
        edges.append(np.concatenate([np.c_[xy, front.z(xy)], np.c_[xy[:1], front.z(xy[:1])]]))
    back = np.zeros_like(edges[0])
    back[:, 2] = -style.depth
    return _box(edges[0], edges[1], back, cap=False)


def _side_x(outline: np.ndarray, centre: np.ndarray, y: float, toward: float) -> float:
    """x where the rim's centre line ``outline`` (S, 2) around ``centre`` (2,) crosses height ``y`` on
    its side ``toward`` (+1: +X, -1: -X)."""
    half = outline[toward * (outline[:, 0] - centre[0]) > 0]
    order = np.argsort(half[:, 1])
    return float(np.interp(y, half[order, 1], half[order, 0]))


def _bridge(vertices, skin_faces, lenses: _Lenses, front: _Front,
            style: FrameStyle) -> list[tuple[np.ndarray, np.ndarray]]:
    """From rim to rim (centre line to centre line) at BRIDGE_HEIGHT, arched up by BRIDGE_ARCH_M,
    bowed forward (a sin profile) as much as the nose needs."""
    y0 = lenses.centres[:, 1].mean() + BRIDGE_HEIGHT * lenses.half[1]
    x0, x1 = (_side_x(o, c, y0, -side) for o, c, side in zip(lenses.outlines, lenses.centres, SIDES, strict=True))
    s = np.linspace(0.0, 1.0, BRIDGE_SEGMENTS + 1)
    line = np.c_[x0 + (x1 - x0) * s, y0 + BRIDGE_ARCH_M * np.sin(np.pi * s)]
    n = _normals_2d(line, False)
    lack = np.maximum(_lack(vertices, skin_faces, _across(line, n, style.width), front, BRIDGE_CLEARANCE_M,
                            style.depth), 0.0)
    bow = np.sin(np.pi * s)
    push = np.max(lack / np.maximum(bow, 0.1)) * bow
    edges = [np.c_[xy, front.z(xy) + push] for xy in (line - 0.5 * style.width * n, line + 0.5 * style.width * n)]
    back = np.zeros_like(edges[0])
    back[:, 2] = -style.depth
    return _box(edges[0], edges[1], back, cap=False)


@dataclass(frozen=True)
class _Ear:
    """Where a temple rests: ``top`` the ear's highest y, ``back`` the z it must reach."""

    top: float
    back: float


def _ear(vertices: np.ndarray, skin_faces: np.ndarray, landmarks: np.ndarray, side: float) -> _Ear:
    """The ear on ``side`` (+1: +X): skin behind the eyes wider than the skull above it by EAR_FLARE_M;
    without one, a temple ends at eye height, TEMPLE_PAST_EAR_M in front of the back of the skin."""
    v = np.asarray(vertices, np.float64)[np.unique(skin_faces)]
    lm = np.asarray(landmarks, np.float64)
    eye_y, cornea_z = lm[list(LEFT_EYE_CONTOUR + RIGHT_EYE_CONTOUR), 1].mean(), lm[list(IRIS_CENTRES), 2].max()
    behind = (side * v[:, 0] > 0) & (v[:, 2] < cornea_z - EAR_BEHIND_M)
    low, high = EAR_SEARCH_M
    band = behind & (v[:, 1] > eye_y - low) & (v[:, 1] < eye_y + high)
    skull = behind & (v[:, 1] >= eye_y + high) & (v[:, 1] < eye_y + high + SKULL_BAND_M)
    end = v[:, 2].min() + TEMPLE_PAST_EAR_M
    if not band.any() or not skull.any():
        return _Ear(float(eye_y), float(end))
    ear = band & (side * v[:, 0] > (side * v[skull, 0]).max() + EAR_FLARE_M)
    if not ear.any():
        return _Ear(float(eye_y), float(end))
    return _Ear(float(v[ear, 1].max()), float(max(v[ear, 2].min() - TEMPLE_PAST_EAR_M, end)))


def _temple(vertices, skin_faces, lenses: _Lenses, front: _Front, ear: _Ear, index: int,
            style: FrameStyle) -> list[tuple[np.ndarray, np.ndarray]]:
    """On side SIDES[index]: from the rim's outer edge at HINGE_HEIGHT (its outer face flush with the
    rim's) straight back to the ear, pushed out (and smoothed) wherever the head or the ear comes
    closer than TEMPLE_GAP_M."""
    centre, outline, side = lenses.centres[index], lenses.outlines[index], SIDES[index]
    y_h = centre[1] + HINGE_HEIGHT * lenses.half[1]
    x_h = _side_x(outline, centre, y_h, side) + side * 0.5 * style.width
    z_h = float(front.z(np.array([x_h, y_h])))
    s = np.linspace(0.0, 1.0, TEMPLE_SEGMENTS + 1)
    z = z_h + (ear.back - z_h) * s
    y = y_h + (ear.top + TEMPLE_OVER_EAR_M + 0.5 * style.temple_height - y_h) * s
    foot = np.stack(np.broadcast_arrays(y[:, None] + _offsets(style.temple_height), z[:, None]), -1)
    skin = side * outermost_skin(vertices, skin_faces, foot.reshape(-1, 2), 0, side).reshape(foot.shape[:2])
    need = np.nanmax(np.where(np.isnan(skin), -np.inf, skin), 1) + TEMPLE_GAP_M + style.temple_thickness
    out = side * x_h + (max(need[-1], side * x_h) - side * x_h) * s
    out = np.maximum(out, need)
    for _ in range(SMOOTH_PASSES):
        out = np.maximum(smooth_polyline(out, 1), need)
    x = side * out
    edges = [np.c_[x, y + sign * 0.5 * style.temple_height, z] for sign in (-1.0, 1.0)]
    back = np.zeros_like(edges[0])
    back[:, 0] = -side * style.temple_thickness
    return _box(edges[0], edges[1], back, cap=True)


def _assemble(parts: list[tuple[str, list[tuple[np.ndarray, np.ndarray]]]]) -> HairCards:
    """One card per flat side: its two edges (S, 3) become 2 S vertices, u = 2 x card + (0 | 1),
    v = 0 -> 1 along it."""
    verts, faces, uvs, card, kinds = [], [], [], [], []
    base = 0
    for kind, sides in parts:
        for a, b in sides:
            k, n = len(kinds), len(a)
            v = np.linspace(0.0, 1.0, n)
            verts.append(np.concatenate([a, b]))
            quad = np.array([[0, n, n + 1], [0, n + 1, 1]])
            faces.append((base + np.arange(n - 1)[:, None, None] + quad[None]).reshape(-1, 3))
            uvs.append(np.concatenate([np.c_[np.full(n, 2.0 * k), v], np.c_[np.full(n, 2.0 * k + 1.0), v]]))
            card.append(np.full(2 * n, k))
            kinds.append(kind)
            base += 2 * n
    return HairCards(np.concatenate(verts).astype(np.float32), np.concatenate(faces).astype(np.int32),
                     np.concatenate(uvs).astype(np.float32), np.concatenate(card).astype(np.int32), tuple(kinds))


def glasses_cards(vertices: np.ndarray, skin_faces: np.ndarray, landmarks: np.ndarray, spec: HairSpec) -> HairCards:
    """The frame of ``spec`` (a :class:`bench.groundtruth.hair.HairSpec` with style "glasses" and a
    colour of :data:`FRAME_STYLES`; its seed is unused) on the head ``vertices`` (V, 3) whose skin
    triangles are ``skin_faces`` (F, 3); ``landmarks`` (478, 3) the head's MediaPipe-order points in
    head space. Card kinds: "rim", "bridge", "temple"."""
    if spec.style != "glasses":
        raise ValueError(f"glasses_cards needs style 'glasses', got {spec.style!r}")
    if spec.colour not in FRAME_STYLES:
        raise ValueError(f"glasses colour must be one of {sorted(FRAME_STYLES)}, got {spec.colour!r}")
    style = FRAME_STYLES[spec.colour]
    lenses = _lenses(landmarks)
    front = _front(vertices, skin_faces, landmarks, lenses, style)
    parts = [("rim", _rim(outline, front, style)) for outline in lenses.outlines]
    parts.append(("bridge", _bridge(vertices, skin_faces, lenses, front, style)))
    for index, side in enumerate(SIDES):
        ear = _ear(vertices, skin_faces, landmarks, side)
        parts.append(("temple", _temple(vertices, skin_faces, lenses, front, ear, index, style)))
    return _assemble(parts)
