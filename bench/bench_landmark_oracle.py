"""How far a landmark-only fit can go (issue #13): the engine's fit from MediaPipe's points beside the same
fit from the **true** landmarks (the benchmark head's own landmark points, projected by the true camera),
each with and without the photometric stage, scored against the true mesh.

    python bench/bench_landmark_oracle.py [--out bench_out/landmark_oracle] [--lightings hdri-city ...]

The true landmarks are what a perfect detector would give; the gap between the two rows is what better
landmarks alone could still win, and what is left with them is the fit's own limit (the head model's
sliders, its shape prior, the benchmark heads' off-model shape). Only the geometry is fitted (no texture).
Scores as ``bench_groundtruth.py``: face and whole-head surface error after similarity alignment beside
the unfitted template's (ratio), and the inner-face landmark error of the fitted head (before the
corrective field) in % of the true inter-ocular distance. The true landmarks go in without MediaPipe's
known-error correction (:mod:`engine.fit.landmark_prior`), which is for MediaPipe's points.

Reads the renders ``bench_groundtruth.py`` made (``.cache/groundtruth``). Writes ``landmark_oracle.json`` and
``landmark_oracle.md`` into ``--out``. About 2 minutes for the 6 default renders on 2 cores.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_groundtruth import DEFAULT_CACHE, _commit, _machine, _model_parts, load_scene  # noqa: E402
from bench.groundtruth import metrics as M  # noqa: E402

DEFAULT_OUT = ROOT / "bench_out" / "landmark_oracle"
DEFAULT_RENDERS = ("h0_y0_hdri-city", "h1_y25_hdri-studio", "h2_y-45_hdri-sunrise", "h3_y-25_hdri-courtyard",
                   "h4_y45_hdri-studio", "h5_y0b_hdri-city")
"""One render per benchmark head and view (the identity baseline's)."""
CONFIGS = ("mediapipe", "mediapipe, no photometric", "true landmarks", "true landmarks, no photometric")


def _settings(config: str):
    from engine.fit.pipeline import FitSettings

    s = FitSettings()
    if "true" in config:
        s = replace(s, landmark_prior=False)
    if "no photometric" in config:
        s = replace(s, photometric=None)
    return s


def _fit_one(folder: Path, parts: dict, model) -> dict[str, dict[str, float]]:
    """Per config: face / head surface error (mm) and ratio to the template's, inner landmark error."""
    from engine.fit.pipeline import fit_head
    from engine.images import load_photo
    from engine.landmarks import detect_landmarks, segment_person

    scene = load_scene(folder)
    truth = np.load(scene["mesh"])["vertices"].astype(np.float64)
    photo = load_photo(folder / "photo.png")
    detected = detect_landmarks(photo)
    true_in = np.asarray(scene["landmarks478"], np.float64)
    faces = {"mediapipe": detected, "true": replace(detected, points=photo.to_working_pixels(true_in))}
    person = segment_person(photo, detected)
    iod = M.inter_ocular(true_in)
    tmpl_face = M.surface_error(parts["template"], truth, model.faces.numpy(), parts["face_vertices"]).mean_mm
    tmpl_head = M.surface_error(parts["template"], truth, model.faces.numpy(), parts["skin_vertices"]).mean_mm
    out = {}
    for config in CONFIGS:
        face = faces["true" if "true" in config else "mediapipe"]
        fit = fit_head(photo.rgb, face, model, _settings(config), person)
        verts = np.asarray(fit.vertices_posed, np.float64)
        f_mm = M.surface_error(verts, truth, model.faces.numpy(), parts["face_vertices"]).mean_mm
        h_mm = M.surface_error(verts, truth, model.faces.numpy(), parts["skin_vertices"]).mean_mm
        lm = photo.to_input_pixels(fit.landmarks_2d_parametric)
        out[config] = {"face_mm": f_mm, "face_ratio": f_mm / tmpl_face, "head_mm": h_mm, "head_ratio": h_mm / tmpl_head,
                       "lm_inner_iod": M.landmark_error(lm, true_in, iod, parts["inner_landmarks"])}
    return out


def markdown(doc: dict) -> str:
    lines = [f"Landmark-only fit, MediaPipe's points beside the true ones, commit `{doc['commit']}`, {doc['machine']}, "
             f"{doc['date']}: face / whole-head surface error over the unfitted template's, inner landmarks before "
             "the corrective field (% of the true IOD).", "",
             "| render | " + " | ".join(CONFIGS) + " |", "|---|" + "---|" * len(CONFIGS)]
    rows = doc["renders"]
    for rid, r in rows.items():
        lines.append(f"| {rid} | " + " | ".join(
            f"{r[c]['face_ratio']:.2f} / {r[c]['head_ratio']:.2f} / {100 * r[c]['lm_inner_iod']:.2f}" for c in CONFIGS) + " |")
    mean = {c: {k: float(np.mean([r[c][k] for r in rows.values()])) for k in ("face_ratio", "head_ratio", "lm_inner_iod")}
            for c in CONFIGS}
    worst = {c: max(r[c]["face_ratio"] for r in rows.values()) for c in CONFIGS}
    lines.append("| **mean** | " + " | ".join(
        f"{mean[c]['face_ratio']:.2f} / {mean[c]['head_ratio']:.2f} / {100 * mean[c]['lm_inner_iod']:.2f}" for c in CONFIGS) + " |")
    lines.append("| worst face ratio | " + " | ".join(f"{worst[c]:.2f}" for c in CONFIGS) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    ap.add_argument("--renders", nargs="+", default=list(DEFAULT_RENDERS))
    args = ap.parse_args()
    from engine.head.model import load_head_model

    model = load_head_model()
    parts = _model_parts()
    start = time.perf_counter()
    rows = {}
    for rid in args.renders:
        rows[rid] = _fit_one(args.cache / "renders" / rid, parts, model)
        print(rid, "  ".join(f"{c}: {rows[rid][c]['face_ratio']:.2f}" for c in CONFIGS), flush=True)
    doc = {"commit": _commit(), "machine": _machine(), "date": time.strftime("%Y-%m-%d %H:%M"),
           "seconds": time.perf_counter() - start, "renders": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "landmark_oracle.json").write_text(json.dumps(doc, indent=1))
    md = markdown(doc)
    (args.out / "landmark_oracle.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
