"""Builds ``engine/data/landmark_mirror.json``: for each of MediaPipe's 478 landmarks, its mirror image
(the same point on the other side of the face; points on the midline map to themselves).

    python -m engine.build_landmark_mirror

MediaPipe's mesh is left/right symmetric but ships no such table. It is measured on perfectly symmetric
faces: the public-domain astronaut photo (scikit-image) with each half of the face mirrored onto the
other. On such a face every landmark's reflection across the symmetry line lands on its mirror
landmark; an optimal one-to-one assignment (Hungarian) of the reflected points to the points gives the
table. Both symmetric images must give the same table, and it must be an involution (checked).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

OUT = Path(__file__).with_name("data") / "landmark_mirror.json"


def _plain_points(rgb: np.ndarray) -> np.ndarray:
    """(478, 2) MediaPipe's points on ``rgb`` (H, W, 3) uint8, one run (no crops, no mirror average: the
    table is what the mirror average needs)."""
    from engine.images import Photo
    from engine.landmarks import detect_landmarks

    h, w = rgb.shape[:2]
    photo = Photo(rgb=rgb, path=Path("symmetric.png"), original_size=(w, h), scale=1.0)
    return detect_landmarks(photo, ensemble=False, mirror=False).points


def _symmetric_faces() -> list[np.ndarray]:
    """Two (H, W, 3) uint8 RGB images: the astronaut's face with its left / right half mirrored."""
    from skimage import data

    rgb = np.ascontiguousarray(data.astronaut())
    w = rgb.shape[1]
    cx = int(round(_plain_points(rgb)[[1, 4, 5, 6, 168, 197, 195], 0].mean()))  # the nose ridge
    out = []
    for keep_left in (True, False):
        img = rgb.copy()
        half = min(cx, w - cx - 1)
        if keep_left:
            img[:, cx + 1:cx + 1 + half] = rgb[:, cx - half:cx][:, ::-1]
        else:
            img[:, cx - half:cx] = rgb[:, cx + 1:cx + 1 + half][:, ::-1]
        out.append(img)
    return out


def measured_tables() -> list[np.ndarray]:
    """The table measured on each symmetric face (:func:`_symmetric_faces`)."""
    return [mirror_table(_plain_points(img)) for img in _symmetric_faces()]


def mirror_table(points: np.ndarray) -> np.ndarray:
    """(478,) mirror index from the (478, 2) landmarks of a symmetric face (reflected across the vertical
    line through their midline points' mean), the face mesh and the irises each among themselves."""
    from scipy.optimize import linear_sum_assignment

    cx = float(points[[1, 4, 5, 6, 168, 197, 195, 0, 17, 152, 10], 0].mean())
    reflected = points.copy()
    reflected[:, 0] = 2 * cx - points[:, 0]
    table = np.empty(len(points), np.int64)
    # The face mesh and the irises (468-477) separately: a gaze a pixel off would pair an iris point with
    # the lid point under it.
    for idx in (np.arange(0, 468), np.arange(468, len(points))):
        cost = ((reflected[idx][:, None] - points[idx][None]) ** 2).sum(-1)
        _, cols = linear_sum_assignment(cost)
        table[idx] = idx[cols]
    return table


def main() -> None:
    a, b = measured_tables()
    agree = float((a == b).mean())
    if agree < 0.99 or not np.array_equal(a[a], np.arange(len(a))):
        raise SystemExit(f"mirror tables disagree ({agree:.3f} agree) or are not an involution")
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps({"source": "MediaPipe FaceMesh on the astronaut photo with each face half mirrored "
                                         "(engine/build_landmark_mirror.py)", "agreement": agree,
                               "mirror": [int(i) for i in a]}) + "\n")
    print(f"wrote {OUT}: {int((a == np.arange(len(a))).sum())} midline points, the two faces agree on {agree:.3f}")


if __name__ == "__main__":
    main()
