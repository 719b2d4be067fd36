"""Draw landmarks and a projected mesh wireframe over a photo, so a person can judge a fit.

All coordinates are pixels of ``photo_rgb`` (x right, y down, pixel centres at integer
coordinates). Colours (sRGB): detected landmarks green, fitted landmarks red, detected-to-fitted
residuals yellow, mesh wireframe light blue (semi-transparent).
"""
from __future__ import annotations

import cv2
import numpy as np

from engine.errors import InputError

__all__ = ["draw_overlay", "face_focus_box", "visible_edges", "COLOURS"]

COLOURS: dict[str, tuple[int, int, int]] = {
    "detected": (40, 230, 40),
    "fitted": (255, 60, 60),
    "residual": (255, 220, 0),
    "wireframe": (90, 200, 255),
    "landmark_edges": (40, 160, 40),
}
_SHIFT = 4  # cv2 fixed-point bits: coordinates drawn to 1/16 pixel
_ONE = 1 << _SHIFT


def visible_edges(faces: np.ndarray, face_visible: np.ndarray | None = None) -> np.ndarray:
    """Unique undirected edges ``(E, 2)`` int64 of the triangles ``faces (F, 3)`` whose
    ``face_visible (F,)`` flag is true (all triangles when ``None``)."""
    f = np.asarray(faces, dtype=np.int64)
    if f.ndim != 2 or f.shape[1] != 3:
        raise InputError(f"faces must have shape (F, 3), got {f.shape}.")
    if face_visible is not None:
        f = f[np.asarray(face_visible, dtype=bool)]
    e = np.sort(f[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1)
    return np.unique(e, axis=0)


def face_focus_box(
    bbox: tuple[float, float, float, float], image_size: tuple[int, int], margin: float = 0.6
) -> tuple[int, int, int, int]:
    """Square ``(x0, y0, x1, y1)`` (exclusive end) around a face ``bbox`` grown by ``margin``
    times its size on each side, clipped to ``image_size = (width, height)``."""
    x0, y0, x1, y1 = bbox
    side = max(x1 - x0, y1 - y0) * (1 + 2 * margin)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    w, h = image_size
    bx0, by0 = int(max(0, np.floor(cx - side / 2))), int(max(0, np.floor(cy - side / 2)))
    bx1, by1 = int(min(w, np.ceil(cx + side / 2))), int(min(h, np.ceil(cy + side / 2)))
    return bx0, by0, bx1, by1


def draw_overlay(
    photo_rgb: np.ndarray,
    points_detected: np.ndarray | None = None,
    points_fitted: np.ndarray | None = None,
    mesh_edges_2d: np.ndarray | None = None,
    *,
    vertices_2d: np.ndarray | None = None,
    faces: np.ndarray | None = None,
    face_visible: np.ndarray | None = None,
    landmark_edges: np.ndarray | None = None,
    focus: tuple[int, int, int, int] | None = None,
    long_side: int | None = 1024,
    wireframe_opacity: float = 0.45,
    point_radius: float | None = None,
    legend: bool = True,
) -> np.ndarray:
    """Draw a fit-inspection overlay.

    Args:
        photo_rgb: ``(H, W, 3)`` uint8 sRGB photo.
        points_detected: ``(N, 2)`` detected landmarks (green dots).
        points_fitted: ``(N, 2)`` fitted/projected landmarks (red dots), same order as
            ``points_detected``; a yellow line joins each pair when both are given.
        mesh_edges_2d: ``(E, 2, 2)`` line segments ``[[x0, y0], [x1, y1]]`` (wireframe).
        vertices_2d, faces, face_visible: projected mesh ``(V, 2)``, triangles ``(F, 3)`` and an
            optional ``(F,)`` bool visibility; their visible edges are drawn as a wireframe.
        landmark_edges: ``(K, 2)`` index pairs into ``points_detected`` to draw as thin lines
            (e.g. ``engine.landmarks.MESH_EDGES``).
        focus: optional ``(x0, y0, x1, y1)`` crop of the photo to show (see
            :func:`face_focus_box`); coordinates stay in full-photo pixels.
        long_side: the output's longer side in pixels (up- or down-scaled); ``None`` keeps the
            photo's (or focus crop's) size.
        wireframe_opacity: blend weight of the wireframe layer in [0, 1].
        point_radius: landmark dot radius in output pixels (default: long side / 500, >= 1).
        legend: write a one-line colour key at the top-left.

    Returns:
        ``(H', W', 3)`` uint8 sRGB image.
    """
    img = np.asarray(photo_rgb)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise InputError(f"photo_rgb must be (H, W, 3) uint8, got {img.shape} {img.dtype}.")
    origin, zoom, canvas = _canvas(img, focus, long_side)

    def to_canvas(p: np.ndarray) -> np.ndarray:
        return (np.asarray(p, dtype=np.float64) - origin + 0.5) * zoom - 0.5

    thick = max(1, round(max(canvas.shape[:2]) / 700))
    segments = _collect_segments(mesh_edges_2d, vertices_2d, faces, face_visible)
    if segments is not None:
        layer = canvas.copy()
        _draw_segments(layer, to_canvas(segments), COLOURS["wireframe"], 1)
        canvas = cv2.addWeighted(layer, wireframe_opacity, canvas, 1 - wireframe_opacity, 0)
    if points_detected is not None and landmark_edges is not None:
        pd = np.asarray(points_detected, dtype=np.float64)
        segs = pd[np.asarray(landmark_edges, dtype=np.int64)]
        layer = canvas.copy()
        _draw_segments(layer, to_canvas(segs), COLOURS["landmark_edges"], 1)
        canvas = cv2.addWeighted(layer, 0.5, canvas, 0.5, 0)
    if points_detected is not None and points_fitted is not None:
        pair = np.stack([np.asarray(points_detected), np.asarray(points_fitted)], axis=1)
        _draw_segments(canvas, to_canvas(pair), COLOURS["residual"], thick)
    radius = point_radius or max(1.0, max(canvas.shape[:2]) / 500)
    if points_detected is not None:
        _draw_points(canvas, to_canvas(points_detected), COLOURS["detected"], radius)
    if points_fitted is not None:
        _draw_points(canvas, to_canvas(points_fitted), COLOURS["fitted"], radius)
    if legend:
        _draw_legend(canvas, points_detected is not None, points_fitted is not None,
                     segments is not None)
    return canvas


def _canvas(
    img: np.ndarray, focus: tuple[int, int, int, int] | None, long_side: int | None
) -> tuple[np.ndarray, float, np.ndarray]:
    """Crop + resize; returns the crop origin ``(2,)``, the zoom factor and a writable copy."""
    x0, y0, x1, y1 = focus if focus is not None else (0, 0, img.shape[1], img.shape[0])
    crop = img[y0:y1, x0:x1]
    if crop.size == 0:
        raise InputError(f"The focus box {focus} lies outside the photo.")
    zoom = 1.0 if long_side is None else long_side / max(crop.shape[:2])
    if zoom != 1.0:
        size = (max(1, round(crop.shape[1] * zoom)), max(1, round(crop.shape[0] * zoom)))
        interp = cv2.INTER_AREA if zoom < 1 else cv2.INTER_LINEAR
        crop = cv2.resize(crop, size, interpolation=interp)
        zoom = crop.shape[1] / (x1 - x0)
    return np.array([x0, y0], dtype=np.float64), zoom, np.ascontiguousarray(crop.copy())


def _collect_segments(
    mesh_edges_2d: np.ndarray | None,
    vertices_2d: np.ndarray | None,
    faces: np.ndarray | None,
    face_visible: np.ndarray | None,
) -> np.ndarray | None:
    parts = []
    if mesh_edges_2d is not None:
        seg = np.asarray(mesh_edges_2d, dtype=np.float64)
        if seg.ndim != 3 or seg.shape[1:] != (2, 2):
            raise InputError(f"mesh_edges_2d must have shape (E, 2, 2), got {seg.shape}.")
        parts.append(seg)
    if vertices_2d is not None and faces is not None:
        v = np.asarray(vertices_2d, dtype=np.float64)
        parts.append(v[visible_edges(faces, face_visible)])
    return np.concatenate(parts) if parts else None


def _fixed(p: np.ndarray) -> np.ndarray:
    return np.round(p * _ONE).astype(np.int32)


def _draw_segments(
    canvas: np.ndarray, segments: np.ndarray, colour: tuple[int, int, int], thickness: int
) -> None:
    """Draw ``(E, 2, 2)`` canvas-pixel segments, anti-aliased, sub-pixel placed."""
    finite = np.isfinite(segments).all(axis=(1, 2))
    polys = list(_fixed(segments[finite]).reshape(-1, 2, 1, 2))
    if polys:
        cv2.polylines(canvas, polys, False, colour, thickness, cv2.LINE_AA, _SHIFT)


def _draw_points(
    canvas: np.ndarray, points: np.ndarray, colour: tuple[int, int, int], radius: float
) -> None:
    r = int(round(radius * _ONE))
    for x, y in _fixed(points[np.isfinite(points).all(axis=1)]):
        cv2.circle(canvas, (int(x), int(y)), r, colour, -1, cv2.LINE_AA, _SHIFT)


def _draw_legend(canvas: np.ndarray, detected: bool, fitted: bool, wire: bool) -> None:
    items = [("detected", detected), ("fitted", fitted), ("wireframe", wire)]
    scale = max(0.4, max(canvas.shape[:2]) / 1600)
    x, y = 8, int(22 * scale / 0.6)
    for name, shown in items:
        if not shown:
            continue
        cv2.putText(canvas, name, (x + 1, y + 1), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0),
                    2, cv2.LINE_AA)
        cv2.putText(canvas, name, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, COLOURS[name], 1,
                    cv2.LINE_AA)
        x += int(cv2.getTextSize(name, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)[0][0] + 14 * scale)
