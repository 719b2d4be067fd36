"""Issue #13's identity target beside its baseline: dlib identity distance photo <-> render at the fitted
camera, (a) of our reconstruction and (b) of the photo projected onto MediaPipe's own face mesh
(:mod:`bench.groundtruth.mediapipe_baseline`), on the real test photos and on one benchmark render per head.

    python bench/bench_identity_baseline.py [--out bench_out/identity_baseline] [--photos astronaut ...]
                                            [--renders h0_y0_hdri-city ...]

Both are rendered by the same Cycles script with the same settings (:mod:`bench.groundtruth.likeness`):
the fitted camera of the same engine run in the face's window (:func:`likeness.face_window`), the identity surface
(no subsurface), under the neutral studio HDRI metered on the head (real photos) or under the photo's
own lighting with the photo's own exposure gain (benchmark renders). Ours is textured with the engine's
albedo; the baseline with the photo itself (used as the albedo, so it is lit a second time). Both are
compared with the photo's same window, with the same face box (the engine's fitted landmarks for
real photos, the true landmarks for benchmark renders), as bench_photos.py and bench_groundtruth.py do.

A second pair of columns ("matched") exposes the same EXRs so that the face (the baseline's coverage)
has the photo's mean linear luminance: the baseline's double lighting makes it darker or brighter than
the photo, and this shows how much of a gap is exposure alone.

"ours, estimated light" (real photos only): our reconstruction once more, under the engine's own estimate
of the photo's light instead of the studio HDRI (``params.json`` ``lighting.texture_sh_coeffs``, the
renderer's ``{"kind": "sh"}`` world), metered on the head like the studio render. The baseline carries the
photo's light baked into its texture; this column gives ours the light the engine believes the photo had,
so the two compare like for like. Benchmark renders are already rendered under their true light ('–').

Writes ``identity_baseline.json``, ``identity_baseline.md`` and ``sheet.png`` (photo | ours | ours under the
estimated light | baseline, face crops) into ``--out``; per case also each render exposed (``ours.png``,
``ours_estimated_light.png`` for real photos, ``baseline.png``), the engine's run and ``mediapipe_mesh.npz``.
In the JSON, ``*_matched_gain`` is the gain applied to the linear EXR (compare with the benchmark render's
``exposure_gain``); ``*_face_found`` says whether dlib's HOG detector found a face in the image at all (if
not, the descriptor is aligned on the landmark box as is); ``estimated_sh_coeffs`` (real photos) is the
lighting estimate the estimated-light render used; ``mesh`` compares the baseline's relief (MediaPipe's z)
with the fitted head's at the same landmarks.
About 4 minutes on 2 cores (11 engine runs, 27 Cycles renders of face windows, 8 samples).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

os.environ.setdefault("OPENCV_IO_ENABLE_OPENEXR", "1")
import cv2  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.groundtruth import likeness  # noqa: E402
from bench.groundtruth import mediapipe_baseline as mpb  # noqa: E402
from bench.groundtruth.generate import DEFAULT_CACHE, REPO, _bpy_python, load_scene  # noqa: E402
from bench.groundtruth.perturb import decode_srgb8, encode_srgb8, luminance  # noqa: E402
from bench.groundtruth.runner import EngineOutput, run_engine  # noqa: E402

PHOTOS = ("astronaut", "takeo", "einstein", "tongue", "breakingbad")
RENDERS = ("h0_y0_hdri-city", "h1_y25_hdri-studio", "h2_y-45_hdri-sunrise", "h3_y-25_hdri-courtyard",
           "h4_y45_hdri-studio", "h5_y0b_hdri-city")
"""One benchmark render per head (and so per view: yaw 0, 25, -45, -25, 45, 0 with another pitch), each
under an HDRI."""
KINDS = ("ours", "baseline")
ESTIMATED = "ours_estimated_light"
"""Real photos only: ours under the engine's estimate of the photo's light (its texture SH)."""
TARGET = 0.45
"""Issue #13's identity target (dlib descriptor distance, photo <-> render)."""
DEFAULT_OUT = REPO / "bench_out" / "identity_baseline"
SCRIPT = REPO / "bench" / "groundtruth" / "cycles_render.py"
TILE = 192
LABEL_H = 18
CROP_MARGIN = 0.7
"""Sheet crops: half-side = this x the landmark box's larger side, around its centre."""
BASELINE_EYE = [0.2, 0.15, 0.1]
"""The renderer's job needs an iris colour; the baseline has no eyeball, so it is never used."""


@dataclass
class Case:
    """One photo: ``rgb`` (H, W, 3) uint8 sRGB, the file the engine reads (also the baseline's texture),
    the lighting of its renders, the exposure gain (None: metered on the head), the face box's points
    (N, 2) full-size pixels, and the engine's run."""

    name: str
    kind: str
    path: Path
    rgb: np.ndarray
    lighting: dict
    gain: float | None
    box_points: np.ndarray | None = None
    out: EngineOutput | None = None
    mesh: mpb.MediaPipeMesh | None = None
    window: likeness.FaceWindow | None = None


def _read_rgb(path: Path) -> np.ndarray:
    return cv2.imread(str(path), cv2.IMREAD_COLOR)[..., ::-1].copy()


def _photo_case(name: str, out_dir: Path) -> Case:
    """A real test photo (copied to ``out_dir/name/original.png``), rendered under the neutral light."""
    from tests.photos import photo_path

    rgb = _read_rgb(photo_path(name))
    path = out_dir / name / "original.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), rgb[..., ::-1])
    return Case(name, "photo", path, rgb, likeness.NEUTRAL_LIGHT, None)


def _render_case(scene_id: str, cache: Path) -> Case:
    """A benchmark render (read from the cache, never written), rendered under its own lighting and gain."""
    folder = cache / "renders" / scene_id
    scene = load_scene(folder)
    return Case(scene_id, "render", folder / "photo.png", _read_rgb(folder / "photo.png"), scene["lighting"]["spec"],
                float(scene["exposure_gain"]), np.asarray(scene["landmarks478"], np.float64))


def _prepare(case: Case, out_dir: Path) -> list[dict]:
    """Runs the engine, writes its run and the baseline mesh; returns the two Cycles jobs."""
    folder = out_dir / case.name
    case.out = run_engine(case.path)
    case.out.save(folder / "run")
    if case.box_points is None:
        case.box_points = case.out.landmarks
    size = (case.rgb.shape[1], case.rgb.shape[0])
    case.window = likeness.face_window(case.box_points, size)
    o = case.out
    case.mesh = mpb.baseline_mesh(case.path, size, o.K, o.R, o.t, o.vertices)
    mpb.write_mesh(folder / "mediapipe_mesh.npz", case.mesh)
    textures = {"ours": (folder / "run" / "head_mesh.npz", folder / "run" / "albedo.png", list(o.eye_color_srgb)),
                "baseline": (folder / "mediapipe_mesh.npz", case.path, BASELINE_EYE)}
    jobs = [likeness.fitted_camera_job(folder / kind, mesh, albedo, eye, o.K, o.R, o.t, case.window, case.lighting,
                                       f"{case.name}-{kind}")
            for kind, (mesh, albedo, eye) in textures.items()]
    if case.kind == "photo":
        if o.texture_sh_coeffs is None:
            raise RuntimeError(f"{case.name}: the engine gave no lighting estimate (texture_sh_coeffs)")
        mesh, albedo, eye = textures["ours"]
        jobs.append(likeness.fitted_camera_job(folder / ESTIMATED, mesh, albedo, eye, o.K, o.R, o.t, case.window,
                                               likeness.estimated_light(o.texture_sh_coeffs),
                                               f"{case.name}-{ESTIMATED}"))
    return jobs


def _mask(folder: Path) -> np.ndarray:
    return cv2.imread(str(folder / "mask_head.png"), cv2.IMREAD_GRAYSCALE) > 127


def _matched_gain(folder: Path, photo: np.ndarray, face: np.ndarray) -> float:
    """Gain that gives ``folder/render.exr`` the mean linear luminance of ``photo`` ((H, W, 3) uint8 sRGB
    at the render's size) over ``face`` (H, W) bool."""
    lin = cv2.imread(str(folder / "render.exr"), cv2.IMREAD_UNCHANGED)[..., :3][..., ::-1].astype(np.float64)
    return float(luminance(decode_srgb8(photo))[face].mean() / max(luminance(lin)[face].mean(), 1e-6))


def _has_face(img: np.ndarray) -> bool:
    """Whether dlib's HOG detector finds any face (else the descriptor uses the given box as is)."""
    from bench.groundtruth.identity import detect_faces

    return bool(detect_faces(img))


def _score(case: Case, out_dir: Path) -> tuple[dict, dict[str, np.ndarray]]:
    """Identity distances and diagnostics of one case; also the exposed renders (render size) by kind."""
    folder = out_dir / case.name
    kinds = KINDS + ((ESTIMATED,) if case.kind == "photo" else ())
    renders = {kind: likeness.exposed_srgb(folder / kind, None if kind == ESTIMATED else case.gain)
               for kind in kinds}
    photo, box = case.window.crop(case.rgb), case.window.points(case.box_points)
    face = _mask(folder / "baseline")
    row: dict = {"kind": case.kind, "lighting": case.lighting.get("name"), "photo_face_found": _has_face(photo)}
    for kind, img in renders.items():
        cv2.imwrite(str(folder / f"{kind}.png"), img[..., ::-1])
        gain = _matched_gain(folder / kind, photo, face)
        matched = encode_srgb8(cv2.imread(str(folder / kind / "render.exr"), cv2.IMREAD_UNCHANGED)[..., :3][..., ::-1]
                               .astype(np.float64) * gain)
        row[kind] = likeness.identity_between(photo, img, box, box)
        row[f"{kind}_matched"] = likeness.identity_between(photo, matched, box, box)
        row[f"{kind}_face_found"] = _has_face(img)
        row[f"{kind}_matched_gain"] = gain
    if ESTIMATED not in renders:  # a benchmark render: ours is already under the true light
        row.update({ESTIMATED: math.nan, f"{ESTIMATED}_matched": math.nan, f"{ESTIMATED}_face_found": None,
                    f"{ESTIMATED}_matched_gain": math.nan})
    else:
        row["estimated_sh_coeffs"] = case.out.texture_sh_coeffs.tolist()
    fitted = mpb.fitted_landmark_depths(case.out.vertices, case.out.R, case.out.t)[:mpb.FACE_POINTS]
    row["mesh"] = {"anchor_depth_m": case.mesh.anchor_depth,
                   "relief_std_mm": 1000 * float(case.mesh.camera_depth.std()),
                   "fitted_relief_std_mm": 1000 * float(fitted.std()),
                   "relief_correlation": float(np.corrcoef(fitted, case.mesh.camera_depth)[0, 1]),
                   "face_share_of_frame": float(face.mean())}
    return row, {"photo": photo, **renders}


def _tile(img: np.ndarray, box_points: np.ndarray, label: str) -> np.ndarray:
    """A ``TILE`` square crop of ``img`` around ``box_points`` (N, 2) with a label strip above it."""
    lo, hi = box_points.min(0), box_points.max(0)
    c, r = (lo + hi) / 2, CROP_MARGIN * float((hi - lo).max())
    pad = math.ceil(r) + 1
    padded = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(255, 255, 255))
    x0, y0 = round(c[0] - r) + pad, round(c[1] - r) + pad
    side = max(round(2 * r), 1)
    crop = cv2.resize(padded[y0:y0 + side, x0:x0 + side], (TILE, TILE), interpolation=cv2.INTER_AREA)
    strip = np.zeros((LABEL_H, TILE, 3), np.uint8)
    cv2.putText(strip, label, (3, LABEL_H - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (255, 255, 255), 1, cv2.LINE_AA)
    return np.vstack([strip, crop])


def _sheet(path: Path, rows: dict[str, dict], images: dict[str, dict], boxes: dict[str, np.ndarray]) -> None:
    """photo | ours | ours under the estimated light | baseline per case, face crops at the render's size,
    distances in the labels (benchmark renders: a blank third tile, ours is under the true light)."""
    lines = []
    for name, row in rows.items():
        box = boxes[name]
        im = images[name]
        if ESTIMATED in im:
            est = _tile(im[ESTIMATED], box, f"ours, est. light {row[ESTIMATED]:.3f}")
        else:
            est = _tile(np.full_like(im["ours"], 96), box, "(true light: ours)")
        lines.append(np.hstack([_tile(im["photo"], box, name[:24]),
                                _tile(im["ours"], box, f"ours {row['ours']:.3f}"), est,
                                _tile(im["baseline"], box, f"MediaPipe mesh {row['baseline']:.3f}")]))
    cv2.imwrite(str(path), np.vstack(lines)[..., ::-1])


def _mean(rs: list[dict], col: str) -> float:
    """Mean of ``col`` over ``rs`` (NaNs left out); NaN when none is finite, and for the estimated-light
    columns over a group that holds benchmark renders (they have none: a mean over the photos alone would
    sit beside the others' means over all)."""
    if col.startswith(ESTIMATED) and any(r["kind"] != "photo" for r in rs):
        return math.nan
    vals = [v for v in (r.get(col, math.nan) for r in rs) if np.isfinite(v)]
    return float(np.mean(vals)) if vals else math.nan


def _means(rows: dict[str, dict]) -> dict[str, dict[str, float]]:
    """Mean of each distance column over the real photos, the renders and all (NaNs left out, counted)."""
    groups = {"photos": [r for r in rows.values() if r["kind"] == "photo"],
              "renders": [r for r in rows.values() if r["kind"] == "render"], "all": list(rows.values())}
    cols = [k for kind in (*KINDS, ESTIMATED) for k in (kind, f"{kind}_matched")]
    res = {}
    for group, rs in groups.items():
        res[group] = {c: _mean(rs, c) for c in cols}
        res[group]["n"] = len(rs)
        res[group]["ours_better"] = sum(r["ours"] < r["baseline"] for r in rs)
        res[group]["ours_within_target"] = sum(r["ours"] <= TARGET for r in rs)
        res[group]["baseline_within_target"] = sum(r["baseline"] <= TARGET for r in rs)
        if np.isfinite(res[group][ESTIMATED]):
            res[group][f"{ESTIMATED}_better"] = sum(r[ESTIMATED] < r["baseline"] for r in rs)
            res[group][f"{ESTIMATED}_within_target"] = sum(r[ESTIMATED] <= TARGET for r in rs)
    return res


def _dist(value) -> str:
    """A distance with 3 decimals, or '–' (absent or NaN: a benchmark render has no estimated-light column)."""
    return f"{value:.3f}" if value is not None and np.isfinite(value) else "–"


def markdown(doc: dict) -> str:
    lines = [(f"Identity distance photo↔render at the fitted camera (dlib descriptor; target ≤ {TARGET}), "
              f"commit `{doc['commit']}`, {doc['machine']}, {doc['date']}. Ours: real photos under the studio "
              "HDRI, benchmark renders under their true light; ours, estimated light: real photos under the "
              "engine's own estimate of the photo's light (its SH), like the baseline's baked-in light."), "",
             ("| photo / render | ours | ours, estimated light | MediaPipe mesh + photo | ours, matched exposure "
              "| baseline, matched exposure | dlib finds a face: photo / ours / ours, est. light / baseline |"),
             "|---|---|---|---|---|---|---|"]
    yes = lambda b: "–" if b is None else "y" if b else "n"  # noqa: E731
    for name, r in doc["rows"].items():
        lines.append(f"| {name} | {r['ours']:.3f} | {_dist(r.get(ESTIMATED))} | {r['baseline']:.3f} | "
                     f"{r['ours_matched']:.3f} | {r['baseline_matched']:.3f} | {yes(r['photo_face_found'])} / "
                     f"{yes(r['ours_face_found'])} / {yes(r.get(f'{ESTIMATED}_face_found'))} / "
                     f"{yes(r['baseline_face_found'])} |")
    for group, m in doc["means"].items():
        est = ""
        if f"{ESTIMATED}_better" in m:
            est = (f"; estimated light: better in {m[f'{ESTIMATED}_better']}, "
                   f"≤ {TARGET}: {m[f'{ESTIMATED}_within_target']}")
        lines.append(f"| **mean, {group}** ({m['n']}) | {m['ours']:.3f} | {_dist(m.get(ESTIMATED))} | "
                     f"{m['baseline']:.3f} | {m['ours_matched']:.3f} | {m['baseline_matched']:.3f} | ours better in "
                     f"{m['ours_better']}, ≤ {TARGET}: ours {m['ours_within_target']}, baseline "
                     f"{m['baseline_within_target']}{est} |")
    return "\n".join(lines) + "\n"


def run(out_dir: Path, photos: tuple[str, ...], renders: tuple[str, ...], cache: Path = DEFAULT_CACHE) -> dict:
    """Engine runs, one Cycles batch (ours + baseline per case, ours under the estimated light per real photo),
    distances; writes and returns the JSON."""
    from bench.bench_groundtruth import _commit, _machine

    start = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    cases = [_photo_case(n, out_dir) for n in photos] + [_render_case(s, cache) for s in renders]
    jobs = []
    for case in cases:
        t0 = time.perf_counter()
        jobs += _prepare(case, out_dir)
        print(f"{case.name}: engine + MediaPipe mesh {time.perf_counter() - t0:.1f} s")
    t_engine = time.perf_counter() - start
    likeness.render_jobs(jobs, _bpy_python(), SCRIPT, out_dir / "batch.json")
    t_render = time.perf_counter() - start - t_engine
    print(f"{len(jobs)} Cycles renders in {t_render:.1f} s")
    rows, images = {}, {}
    for case in cases:
        rows[case.name], images[case.name] = _score(case, out_dir)
    _sheet(out_dir / "sheet.png", rows, images, {c.name: c.window.points(c.box_points) for c in cases})
    doc = {"commit": _commit(), "machine": _machine(), "date": time.strftime("%Y-%m-%d %H:%M"), "target": TARGET,
           "face_px": likeness.FACE_PX,
           "seconds": {"engine_and_meshes": round(t_engine, 1), "renders": round(t_render, 1),
                       "total": round(time.perf_counter() - start, 1)},
           "rows": rows, "means": _means(rows)}
    (out_dir / "identity_baseline.json").write_text(json.dumps(doc, indent=1, default=float))
    (out_dir / "identity_baseline.md").write_text(markdown(doc))
    print(markdown(doc))
    return doc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    ap.add_argument("--photos", nargs="*", default=list(PHOTOS))
    ap.add_argument("--renders", nargs="*", default=list(RENDERS))
    args = ap.parse_args()
    run(args.out, tuple(args.photos), tuple(args.renders), args.cache)


if __name__ == "__main__":
    main()
