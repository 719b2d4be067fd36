"""Geometry-only scores of the fit on **training** renders, the tool the fit's settings are tuned with (#13).

    python bench/bench_geometry_training.py [--render] [--set 'landmarks=replace(s.landmarks, shape_prior=5e-4)']

Scores every render of two training caches (never benchmark heads) as ``bench_groundtruth.py`` scores its
geometry: face and whole-head surface error over the unfitted template's after similarity alignment, and
the inner-face landmark error before the corrective field (% of the true inter-ocular distance):

- ``.cache/groundtruth_train``: the bare training and calibration scenes (``train_scenes``), mostly frontal;
- ``.cache/groundtruth_lm``: 42 of the landmark error model's scenes (``landmark_scenes``), two yaws of
  ±20...±50 degrees per training head; ``--render`` makes them (about 7 minutes on 2 cores).

``--set`` evaluates a Python expression of ``s`` (the :class:`engine.fit.pipeline.FitSettings`) and
``replace`` to try other settings. Only the fit runs (no texture); MediaPipe's detections are cached in
``--det-cache``. About 1.5 minutes for both caches on 2 cores once detected.
"""
from __future__ import annotations

import argparse
import os
import pickle
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_groundtruth import _model_parts, load_scene  # noqa: E402
from bench.groundtruth import metrics as M  # noqa: E402

CACHES = (ROOT / ".cache" / "groundtruth_train", ROOT / ".cache" / "groundtruth_lm")
TURNED_MIN_YAW = 20.0


def turned_scenes():
    """Two landmark-model scenes per training head, yaw at least ``TURNED_MIN_YAW`` (cycled per head)."""
    from bench.groundtruth.landmark_scenes import landmark_scenes

    pick = [s for s in landmark_scenes() if abs(s.view.yaw_deg) >= TURNED_MIN_YAW]
    out = []
    for h, name in enumerate(sorted({s.head.name for s in pick})):
        mine = [s for s in pick if s.head.name == name]
        out += [mine[h % len(mine)], mine[(h + 3) % len(mine)]]
    return out


def _detections(folder: Path, det_cache: Path):
    from engine.images import load_photo
    from engine.landmarks import detect_landmarks, segment_person

    photo = load_photo(folder / "photo.png")
    path = det_cache / f"{folder.parent.parent.name}_{folder.name}.pkl"
    if path.is_file():
        return (photo, *pickle.loads(path.read_bytes()))
    face = detect_landmarks(photo)
    person = segment_person(photo, face)
    det_cache.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps((face, person)))
    return photo, face, person


def score(job: tuple[Path, str, Path]) -> tuple[str, dict]:
    """Face / head ratio and inner landmark error (%) of one render under the settings expression."""
    import torch

    from engine.fit.pipeline import FitSettings, fit_head
    from engine.head.model import load_head_model

    torch.set_num_threads(1)
    folder, expr, det_cache = job
    model, parts = load_head_model(), _model_parts()
    scene = load_scene(folder)
    truth = np.load(scene["mesh"])["vertices"].astype(np.float64)
    photo, face, person = _detections(folder, det_cache)
    settings = FitSettings(unwrap=None, corrective=None)
    if expr:
        settings = eval(expr, {"s": settings, "replace": replace})  # noqa: S307 - a bench-only tuning switch
    start = time.perf_counter()
    fit = fit_head(photo.rgb, face, model, settings, person)
    seconds = time.perf_counter() - start
    faces = model.faces.numpy()
    true_lm = np.asarray(scene["landmarks478"], np.float64)

    def ratio(verts: np.ndarray, region: str) -> float:
        fitted = M.surface_error(verts, truth, faces, parts[region]).mean_mm
        return fitted / M.surface_error(parts["template"], truth, faces, parts[region]).mean_mm

    verts = np.asarray(fit.vertices_posed, np.float64)
    lm = photo.to_input_pixels(fit.landmarks_2d_parametric)
    return folder.name, {"face": ratio(verts, "face_vertices"), "head": ratio(verts, "skin_vertices"),
                         "lm": 100 * M.landmark_error(lm, true_lm, M.inter_ocular(true_lm), parts["inner_landmarks"]),
                         "s": seconds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--render", action="store_true", help="render the turned scenes first")
    ap.add_argument("--set", default="", help="settings expression of s and replace")
    ap.add_argument("--det-cache", type=Path, default=ROOT / ".cache" / "geometry_detections")
    args = ap.parse_args()
    if args.render:
        from bench.groundtruth.generate import SAMPLES, render_scenes

        render_scenes(turned_scenes(), CACHES[1], SAMPLES["subset"])
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from multiprocessing import Pool

    for cache in CACHES:
        folders = sorted(p for p in (cache / "renders").glob("*") if (p / "scene.json").is_file())
        if not folders:
            print(f"{cache.name}: no renders")
            continue
        with Pool(2) as pool:
            rows = dict(pool.map(score, [(f, args.set, args.det_cache) for f in folders], chunksize=1))
        mean = {k: float(np.mean([r[k] for r in rows.values()])) for k in ("face", "head", "lm", "s")}
        print(f"{cache.name} ({len(rows)}): face {mean['face']:.3f}  head {mean['head']:.3f}  "
              f"inner landmarks {mean['lm']:.2f} % IOD  worst face {max(r['face'] for r in rows.values()):.3f}  "
              f"fit {mean['s']:.1f} s", flush=True)


if __name__ == "__main__":
    main()
