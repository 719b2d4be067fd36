"""Compose preview tiles into one labelled sheet (numpy only; no Blender import).

Tiles are ``(H, W, 4)`` float32 RGBA in [0, 1], already display-encoded (sRGB, as Blender writes PNGs),
row 0 = top. Labels use a built-in 5x7 pixel font (upper-case letters, digits, ``-``, space), scaled.
"""
from __future__ import annotations

import numpy as np

__all__ = ["compose_sheet", "draw_text", "text_width"]

_GLYPHS: dict[str, tuple[str, ...]] = {
    "A": ("01110", "10001", "10001", "11111", "10001", "10001", "10001"),
    "B": ("11110", "10001", "10001", "11110", "10001", "10001", "11110"),
    "C": ("01110", "10001", "10000", "10000", "10000", "10001", "01110"),
    "D": ("11110", "10001", "10001", "10001", "10001", "10001", "11110"),
    "E": ("11111", "10000", "10000", "11110", "10000", "10000", "11111"),
    "F": ("11111", "10000", "10000", "11110", "10000", "10000", "10000"),
    "G": ("01110", "10001", "10000", "10111", "10001", "10001", "01111"),
    "H": ("10001", "10001", "10001", "11111", "10001", "10001", "10001"),
    "I": ("01110", "00100", "00100", "00100", "00100", "00100", "01110"),
    "J": ("00111", "00010", "00010", "00010", "00010", "10010", "01100"),
    "K": ("10001", "10010", "10100", "11000", "10100", "10010", "10001"),
    "L": ("10000", "10000", "10000", "10000", "10000", "10000", "11111"),
    "M": ("10001", "11011", "10101", "10101", "10001", "10001", "10001"),
    "N": ("10001", "10001", "11001", "10101", "10011", "10001", "10001"),
    "O": ("01110", "10001", "10001", "10001", "10001", "10001", "01110"),
    "P": ("11110", "10001", "10001", "11110", "10000", "10000", "10000"),
    "Q": ("01110", "10001", "10001", "10001", "10101", "10010", "01101"),
    "R": ("11110", "10001", "10001", "11110", "10100", "10010", "10001"),
    "S": ("01111", "10000", "10000", "01110", "00001", "00001", "11110"),
    "T": ("11111", "00100", "00100", "00100", "00100", "00100", "00100"),
    "U": ("10001", "10001", "10001", "10001", "10001", "10001", "01110"),
    "V": ("10001", "10001", "10001", "10001", "10001", "01010", "00100"),
    "W": ("10001", "10001", "10001", "10101", "10101", "10101", "01010"),
    "X": ("10001", "10001", "01010", "00100", "01010", "10001", "10001"),
    "Y": ("10001", "10001", "01010", "00100", "00100", "00100", "00100"),
    "Z": ("11111", "00001", "00010", "00100", "01000", "10000", "11111"),
    "0": ("01110", "10001", "10011", "10101", "11001", "10001", "01110"),
    "1": ("00100", "01100", "00100", "00100", "00100", "00100", "01110"),
    "2": ("01110", "10001", "00001", "00010", "00100", "01000", "11111"),
    "3": ("11111", "00010", "00100", "00010", "00001", "10001", "01110"),
    "4": ("00010", "00110", "01010", "10010", "11111", "00010", "00010"),
    "5": ("11111", "10000", "11110", "00001", "00001", "10001", "01110"),
    "6": ("00110", "01000", "10000", "11110", "10001", "10001", "01110"),
    "7": ("11111", "00001", "00010", "00100", "01000", "01000", "01000"),
    "8": ("01110", "10001", "10001", "01110", "10001", "10001", "01110"),
    "9": ("01110", "10001", "10001", "01111", "00001", "00010", "01100"),
    "-": ("00000", "00000", "00000", "11111", "00000", "00000", "00000"),
    " ": ("00000",) * 7,
}
_MASKS = {ch: np.array([[c == "1" for c in row] for row in rows]) for ch, rows in _GLYPHS.items()}
_LABEL_BG = np.array([0.08, 0.08, 0.09, 1.0], np.float32)
_LABEL_FG = np.array([0.95, 0.95, 0.95, 1.0], np.float32)


def text_width(text: str, scale: int) -> int:
    """Width in pixels of ``text`` drawn at ``scale`` (6 columns per character incl. spacing)."""
    return max(0, 6 * len(text) - 1) * scale


def draw_text(image: np.ndarray, text: str, x: int, y: int, scale: int, color: np.ndarray) -> None:
    """Draw upper-cased ``text`` into ``image`` (H, W, C) in place; (x, y) = top-left, row 0 = top.

    Characters outside the font are drawn as spaces; pixels outside the image are clipped.
    """
    h, w = image.shape[:2]
    for i, ch in enumerate(text.upper()):
        mask = np.kron(_MASKS.get(ch, _MASKS[" "]), np.ones((scale, scale), bool))
        x0, y0 = x + 6 * scale * i, y
        ys, xs = np.nonzero(mask)
        ys, xs = ys + y0, xs + x0
        keep = (ys >= 0) & (ys < h) & (xs >= 0) & (xs < w)
        image[ys[keep], xs[keep]] = color[: image.shape[2]]


def compose_sheet(tiles: list[np.ndarray], labels: list[str], gap: int = 4) -> np.ndarray:
    """Tiles side by side with a label bar under each: (H + bar, N*W + (N+1)*gap, 4) float32, row 0 = top."""
    if not tiles or len(tiles) != len(labels):
        raise ValueError("compose_sheet needs one label per tile and at least one tile")
    h, w = tiles[0].shape[:2]
    scale = max(1, w // 128)
    bar = 7 * scale + 6 * scale
    sheet = np.empty((h + bar + 2 * gap, len(tiles) * (w + gap) + gap, 4), np.float32)
    sheet[:] = _LABEL_BG
    for i, (tile, label) in enumerate(zip(tiles, labels)):
        x = gap + i * (w + gap)
        sheet[gap:gap + h, x:x + w, : tile.shape[2]] = tile[:h, :w]
        sheet[gap:gap + h, x:x + w, 3] = 1.0
        tx = x + max(0, (w - text_width(label, scale)) // 2)
        draw_text(sheet, label, tx, gap + h + 3 * scale, scale, _LABEL_FG)
    return sheet
