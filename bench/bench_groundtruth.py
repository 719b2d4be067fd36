"""The ground-truth benchmark: the engine on Cycles renders of heads whose albedo, shape, landmarks and
light are known, and which owe nothing to the engine's own models (see bench/groundtruth/).

    python bench/bench_groundtruth.py [--subset] [--out bench_out/groundtruth] [--no-identity]

Prints the figures per lighting class (mean and worst), and writes into ``--out``:
``groundtruth.json`` (every per-render figure, the aggregates, the machine and the commit),
``groundtruth.md`` (the tables) and ``contact_sheet.png`` (true albedo | photo | engine albedo).
``--subset`` (2 heads x 3 lightings, 512 px) is the machinery check the tests run.
"""
from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.groundtruth import likeness  # noqa: E402
from bench.groundtruth.generate import DEFAULT_CACHE, REPO, SUBSET_CACHE, _bpy_python, generate, load_scene  # noqa: E402
from bench.groundtruth.layout import layout  # noqa: E402
from bench.groundtruth.runner import TEXTURE_SIZE, run_engine  # noqa: E402
from bench.groundtruth.score import aggregate, pairwise_between_lightings, pairwise_summary, score_render, seen_face_skin  # noqa: E402,E501

DEFAULT_OUT = REPO / "bench_out" / "groundtruth"
SUBSET_OUT = REPO / "bench_out" / "groundtruth_subset"
SCRIPT = REPO / "bench" / "groundtruth" / "cycles_render.py"


def _read_rgb(path: Path) -> np.ndarray:
    import cv2

    return cv2.imread(str(path), cv2.IMREAD_COLOR)[..., ::-1].copy()


def _read_linear(path: Path) -> np.ndarray:
    from bench.groundtruth.perturb import decode_srgb8

    return decode_srgb8(_read_rgb(path)).astype(np.float32)


def _model_parts() -> dict[str, np.ndarray]:
    from engine.head.model import load_head_model
    from engine.landmarks import FACE_OVAL

    m = load_head_model()
    f, fp = m.faces.numpy(), m.face_part.numpy()
    skin = np.zeros(m.num_vertices, bool)
    skin[np.unique(f[fp == m.part_id("skin")])] = True
    inner = np.ones(478, bool)
    inner[list(FACE_OVAL)] = False
    return {"template": m.vertices.numpy(), "skin_vertices": skin,
            "face_vertices": skin & (m.vertex_region.numpy() == m.region_id("face")), "inner_landmarks": inner}


def _digest(*paths: Path) -> str:
    """Short content hash of files (cached truth-view renders follow their head and albedo)."""
    import hashlib

    h = hashlib.sha256()
    for p in paths:
        h.update(p.read_bytes())
    return h.hexdigest()[:10]


def _commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                               capture_output=True, text=True).stdout.strip()
        return out.stdout.strip() + ("+dirty" if dirty else "")
    except OSError:
        return "unknown"


def _machine() -> str:
    import os

    return f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}"


def _run_all(folders: list[Path], out_dir: Path, log) -> tuple[list[dict], dict]:
    """The engine on every render; per-render scores; albedos kept per head for the pairwise ΔE."""
    lay = layout(TEXTURE_SIZE)
    parts = _model_parts()
    rows, per_head = [], {}
    for i, folder in enumerate(folders):
        scene = load_scene(folder)
        truth_verts = np.load(scene["mesh"])["vertices"].astype(np.float64)
        truth = _read_linear(Path(scene["albedo"]))
        try:
            out = run_engine(folder / "photo.png")
        except Exception as err:  # noqa: BLE001 - a failed reconstruction is a row, not a stopped bench
            log(f"[{i + 1}/{len(folders)}] {scene['id']}: engine failed: {err}")
            rows.append({"id": scene["id"], "klass": scene["lighting"]["klass"], "failed": str(err)})
            continue
        out.save(out_dir / "runs" / scene["id"])
        seen = seen_face_skin(lay, scene, truth_verts)
        row = {"id": scene["id"], "head": scene["head"]["name"], "view": scene["view"]["name"],
               "lighting": scene["lighting"]["name"], "klass": scene["lighting"]["klass"],
               "warnings": out.warnings, **score_render(out, truth, truth_verts, scene, lay, parts, seen),
               "engine_calibration": {k: v for k, v in out.engine_metrics.items()
                                      if k.startswith(("calibration_", "delight_"))}}
        rows.append(row)
        head = per_head.setdefault(scene["head"]["name"], {"albedos": {}, "seen": None, "runs": []})
        head["albedos"][scene["lighting"]["name"]] = out.albedo
        head["seen"] = seen
        head["runs"].append((folder, scene, out))
        log(f"[{i + 1}/{len(folders)}] {scene['id']}: dE seen {row['de_seen']:.1f}, tone {row['tone_de']:.1f}, "
            f"BS {row['bs_both_seen']:.1f}, seams {row['seam_seen_border']:.1f}/{row['seam_uv_islands']:.1f}, "
            f"geom face {row['geom_face_mm']:.2f} mm (template {row['geom_face_template_mm']:.2f}), "
            f"lm inner {100 * row['lm_inner_before_iod']:.1f}%/{100 * row['lm_inner_after_iod']:.1f}% IOD, "
            f"{row['seconds']:.1f} s")
    return rows, per_head


def _identity(per_head: dict, rows: list[dict], out_dir: Path, cache: Path, log) -> dict[str, dict]:
    """Photo <-> reconstruction at the fitted camera (per render) and between views (per head)."""
    by_id = {r["id"]: r for r in rows}
    jobs, views, windows = [], {}, {}
    for head, data in per_head.items():
        for folder, scene, out in data["runs"]:
            run = out_dir / "runs" / scene["id"]
            window = windows[scene["id"]] = likeness.face_window(scene["landmarks478"], tuple(scene["image_size"]))
            jobs.append(likeness.fitted_camera_job(run / "fitted", run / "head_mesh.npz", run / "albedo.png",
                                                   list(out.eye_color_srgb), out.K, out.R, out.t, window,
                                                   scene["lighting"]["spec"], f"{scene['id']}-fitted"))
        folder, scene, out = data["runs"][0]
        run = out_dir / "runs" / scene["id"]
        truth_root = cache / "views" / f"{head}-{_digest(Path(scene['mesh']), Path(scene['albedo']))}"
        for v in likeness.VIEW_PAIR:
            truth_dir = truth_root / v.name
            if not (truth_dir / "render.exr").is_file():
                jobs.append(likeness.view_job(truth_dir, Path(scene["mesh"]), Path(scene["albedo"]),
                                              list(scene["eye_color_srgb"]), v, f"{head}-truth-{v.name}"))
            jobs.append(likeness.view_job(run / v.name, run / "head_mesh.npz", run / "albedo.png",
                                          list(out.eye_color_srgb), v, f"{scene['id']}-{v.name}"))
        views[head] = (truth_root, run)
    start = time.perf_counter()
    likeness.render_jobs(jobs, _bpy_python(), SCRIPT, out_dir / "identity_batch.json")
    log(f"identity renders: {len(jobs)} in {time.perf_counter() - start:.1f} s")
    for head, data in per_head.items():
        for folder, scene, out in data["runs"]:
            fitted = likeness.exposed_srgb(out_dir / "runs" / scene["id"] / "fitted", scene["exposure_gain"])
            window = windows[scene["id"]]
            photo, lms = window.crop(_read_rgb(folder / "photo.png")), window.points(scene["landmarks478"])
            by_id[scene["id"]]["identity_photo_render"] = likeness.identity_between(photo, fitted, lms, lms)
    result = {}
    for head, (truth_root, run) in views.items():
        t = [likeness.exposed_srgb(truth_root / v.name, None) for v in likeness.VIEW_PAIR]
        r = [likeness.exposed_srgb(run / v.name, None) for v in likeness.VIEW_PAIR]
        result[head] = {"truth": likeness.identity_between(*t), "reconstruction": likeness.identity_between(*r),
                        "truth_vs_reconstruction_-25": likeness.identity_between(t[0], r[0])}
    return result


def _pairwise(per_head: dict) -> dict[str, dict[str, float]]:
    return {h: pairwise_between_lightings(d["albedos"], d["seen"]) for h, d in per_head.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subset", action="store_true", help="2 heads x 3 lightings (the machinery check)")
    ap.add_argument("--out", type=Path, default=None, help=f"default {DEFAULT_OUT} (the subset: {SUBSET_OUT})")
    ap.add_argument("--cache", type=Path, default=None,
                    help=f"default {DEFAULT_CACHE} (the subset: {SUBSET_CACHE})")
    ap.add_argument("--no-identity", action="store_true", help="skip the identity renders and distances")
    args = ap.parse_args()
    # The subset renders some of the full set's scene ids at another size and sample count: in a folder of
    # its own it neither re-renders the full set's cache nor overwrites the JSON the README is made from.
    out = args.out or (SUBSET_OUT if args.subset else DEFAULT_OUT)
    cache = args.cache or (SUBSET_CACHE if args.subset else DEFAULT_CACHE)
    run(out, cache, args.subset, not args.no_identity)


def run(out_dir: Path, cache: Path, subset: bool, identity: bool = True, log=print) -> dict:
    """The whole benchmark; returns (and writes) the JSON document."""
    from bench.groundtruth import report_gt

    start = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    folders = generate(cache, subset, log)
    t_gen = time.perf_counter() - start
    rows, per_head = _run_all(folders, out_dir, log)
    views = _identity(per_head, rows, out_dir, cache, log) if identity else {}
    klass_of = {r["lighting"]: r["klass"] for r in rows if "lighting" in r}
    pairs = _pairwise(per_head)
    doc = {
        "commit": _commit(), "machine": _machine(), "date": time.strftime("%Y-%m-%d %H:%M"),
        "subset": subset, "texture_size": TEXTURE_SIZE, "renders": len(folders),
        "seconds": {"generate": round(t_gen, 1), "total": round(time.perf_counter() - start, 1)},
        "rows": rows, "by_class": aggregate([r for r in rows if "failed" not in r]),
        "pairwise": pairs, "pairwise_by_class": pairwise_summary(pairs, klass_of), "views": views,
    }
    (out_dir / "groundtruth.json").write_text(json.dumps(doc, indent=1, default=float))
    (out_dir / "groundtruth.md").write_text(report_gt.markdown(doc))
    report_gt.sheet(out_dir / "contact_sheet.png", doc, per_head, out_dir)
    log(report_gt.markdown(doc))
    return doc


if __name__ == "__main__":
    main()
