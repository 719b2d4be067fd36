"""Renders fitted heads beside the truth at 0, 45 and 90 degrees (issue #13's look at likeness).

    python bench/likeness_sheet.py [--gt bench_out/groundtruth] [--photos bench_out/photos] [--out docs/likeness.png]

Reads what ``bench/bench_groundtruth.py`` and ``bench/bench_photos.py`` left behind (each run's
``head_mesh.npz``, ``albedo.png`` and ``engine.json``), renders every head with the same independent
Cycles script as the ground truth under the neutral studio HDRI, and writes one sheet:

* benchmark heads: photo | truth at 0 / 45 / 90 degrees | reconstruction at 0 / 45 / 90 degrees;
* real photos: photo | reconstruction at 0 / 45 / 90 degrees.

Every head is shown with its own albedo, so the sheet shows the shape and the texture together.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.groundtruth import likeness  # noqa: E402
from bench.groundtruth.generate import REPO, _bpy_python, load_scene  # noqa: E402
from bench.groundtruth.scenes import View  # noqa: E402

SCRIPT = REPO / "bench" / "groundtruth" / "cycles_render.py"
YAWS = (0.0, 45.0, 90.0)
TILE = 256
RENDER_SIZE = 512
GT_RUNS = ("h0_y0_hdri-city", "h2_y-45_hdri-sunrise", "h4_y45_hdri-studio")
"""One render per benchmark head shown (frontal, turned left, turned right)."""
PHOTOS = ("astronaut", "breakingbad", "einstein", "takeo", "tongue")


def _views() -> list[View]:
    return [View(f"like{int(y)}", y, 0.0, 85.0, RENDER_SIZE) for y in YAWS]


def _jobs(folder: Path, mesh: Path, albedo: Path, eye: list[float], tag: str) -> list[dict]:
    return [likeness.view_job(folder / view.name, mesh, albedo, eye, view, f"{tag}-{view.name}") for view in _views()]


def _tile(img: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    s = TILE / max(h, w)
    small = cv2.resize(img, (max(1, int(w * s)), max(1, int(h * s))), interpolation=cv2.INTER_AREA)
    out = np.full((TILE, TILE, 3), 255, np.uint8)
    y0, x0 = (TILE - small.shape[0]) // 2, (TILE - small.shape[1]) // 2
    out[y0:y0 + small.shape[0], x0:x0 + small.shape[1]] = small
    return out


def _photo_crop(rgb: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    lo, hi = landmarks.min(0), landmarks.max(0)
    c, r = (lo + hi) / 2, 0.75 * float((hi - lo).max())
    y0, y1 = int(max(c[1] - r, 0)), int(min(c[1] + r, rgb.shape[0]))
    x0, x1 = int(max(c[0] - r, 0)), int(min(c[0] + r, rgb.shape[1]))
    return rgb[y0:y1, x0:x1]


def _head_crop(folder: Path) -> np.ndarray:
    """The exposed render cropped to the head (its mask's box plus a margin)."""
    img = likeness.exposed_srgb(folder, None)
    ys, xs = np.nonzero(cv2.imread(str(folder / "mask_head.png"), cv2.IMREAD_GRAYSCALE) > 127)
    if not len(xs):
        return img
    m = int(0.08 * max(np.ptp(xs), np.ptp(ys)))
    return img[max(ys.min() - m, 0):ys.max() + m, max(xs.min() - m, 0):xs.max() + m]


def _rendered(folder: Path) -> list[np.ndarray]:
    return [_tile(_head_crop(folder / v.name)) for v in _views()]


def _label(tile: np.ndarray, text: str) -> np.ndarray:
    out = tile.copy()
    cv2.putText(out, text, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 2, cv2.LINE_AA)
    cv2.putText(out, text, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def run(gt: Path, photos: Path, out: Path, work: Path) -> None:
    start = time.perf_counter()
    jobs, rows = [], []
    for run_id in GT_RUNS:
        scene = load_scene(REPO / ".cache" / "groundtruth" / "renders" / run_id)
        engine_run = gt / "runs" / run_id
        eye = json.loads((engine_run / "engine.json").read_text())["eye_color_srgb"]
        jobs += _jobs(work / run_id / "truth", Path(scene["mesh"]), Path(scene["albedo"]), scene["eye_color_srgb"],
                      f"{run_id}-truth")
        jobs += _jobs(work / run_id / "fit", engine_run / "head_mesh.npz", engine_run / "albedo.png", eye, f"{run_id}-fit")
        rows.append(("gt", run_id, REPO / ".cache" / "groundtruth" / "renders" / run_id / "photo.png",
                     np.asarray(scene["landmarks478"])))
    for name in PHOTOS:
        engine_run = photos / name / "run"
        if not (engine_run / "head_mesh.npz").is_file():
            continue
        info = json.loads((engine_run / "engine.json").read_text())
        jobs += _jobs(work / name / "fit", engine_run / "head_mesh.npz", engine_run / "albedo.png",
                      info["eye_color_srgb"], f"{name}-fit")
        rows.append(("photo", name, photos / name / "original.png", np.asarray(info["landmarks478"])))
    likeness.render_jobs(jobs, _bpy_python(), SCRIPT, work / "batch.json")
    blank = np.full((TILE, TILE, 3), 255, np.uint8)
    lines = []
    for kind, name, photo_path, lms in rows:
        photo = _label(_tile(_photo_crop(cv2.imread(str(photo_path))[..., ::-1], lms)), name)
        truth = _rendered(work / name / "truth") if kind == "gt" else [blank] * len(YAWS)
        fit = _rendered(work / name / "fit")
        lines.append(np.hstack([photo, *truth, *fit]))
    head = [_label(blank, t) for t in ("photo", *[f"truth {int(y)}" for y in YAWS], *[f"fit {int(y)}" for y in YAWS])]
    sheet = np.vstack([np.hstack(head)[:28], *lines])
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), sheet[..., ::-1])
    print(f"{len(jobs)} Cycles renders, sheet {out} in {time.perf_counter() - start:.0f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gt", type=Path, default=REPO / "bench_out" / "groundtruth")
    ap.add_argument("--photos", type=Path, default=REPO / "bench_out" / "photos")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "likeness.png")
    ap.add_argument("--work", type=Path, default=REPO / "bench_out" / "likeness")
    args = ap.parse_args()
    run(args.gt, args.photos, args.out, args.work)


if __name__ == "__main__":
    main()
