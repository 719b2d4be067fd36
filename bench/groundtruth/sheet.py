"""The benchmark's contact sheet: per head, the true albedo, then each lighting's photo and the engine's
albedo, face crops side by side (PNG)."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from bench.groundtruth.layout import Layout

__all__ = ["contact_sheet", "face_box", "TILE"]

TILE = 128
LABEL_H = 14


def face_box(lay: Layout) -> tuple[int, int, int, int]:
    """(row0, row1, col0, col1) of the face region in the atlas, padded by 2 % of its size."""
    rows, cols = np.nonzero(lay.face)
    pad = int(0.02 * lay.size)
    return max(rows.min() - pad, 0), rows.max() + pad, max(cols.min() - pad, 0), cols.max() + pad


def _tile(img: np.ndarray, label: str) -> np.ndarray:
    t = cv2.resize(img, (TILE, TILE), interpolation=cv2.INTER_AREA)
    out = np.zeros((TILE + LABEL_H, TILE, 3), np.uint8)
    out[LABEL_H:] = t
    cv2.putText(out, label[:20], (2, LABEL_H - 3), cv2.FONT_HERSHEY_SIMPLEX, 0.33, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def _photo_crop(photo: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    lo, hi = landmarks.min(0), landmarks.max(0)
    c, r = (lo + hi) / 2, 0.62 * float((hi - lo).max())
    x0, y0 = int(max(c[0] - r, 0)), int(max(c[1] - r, 0))
    x1, y1 = int(min(c[0] + r, photo.shape[1])), int(min(c[1] + r, photo.shape[0]))
    return photo[y0:y1, x0:x1]


def contact_sheet(path: Path, rows: list[dict], lay: Layout) -> None:
    """``rows``: per head ``{"head", "truth_srgb", "items": [{"label", "photo", "landmarks",
    "albedo_srgb"}]}`` (RGB uint8 images). Writes an RGB PNG."""
    r0, r1, c0, c1 = face_box(lay)
    lines = []
    for row in rows:
        tiles = [_tile(row["truth_srgb"][r0:r1, c0:c1], f"{row['head']} truth")]
        for it in row["items"]:
            tiles.append(_tile(_photo_crop(it["photo"], it["landmarks"]), it["label"]))
            tiles.append(_tile(it["albedo_srgb"][r0:r1, c0:c1], f"dE {it['de']:.1f}"))
        lines.append(np.hstack(tiles))
    width = max(line.shape[1] for line in lines)
    lines = [np.pad(line, ((0, 0), (0, width - line.shape[1]), (0, 0))) for line in lines]
    cv2.imwrite(str(path), np.vstack(lines)[..., ::-1])
