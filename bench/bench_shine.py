"""Shine left in the albedo (issue #9): benchmark scenes rendered again with the skin's specular layer off.

    python bench/bench_shine.py [--out bench_out/shine] [--cache .cache/groundtruth_matte]

Each chosen scene of the ground-truth benchmark (:data:`SCENES`: every head under its first HDRI and
under the hard top light, where the T-zone shines most) gets a **matte twin**: the same head, albedo,
camera, light, samples and exposure gain, rendered by the same Cycles script with the Principled BSDF's
"Specular IOR Level" at 0 over the whole skin (the ground truth's ``spec_rough.png`` with its G channel
zeroed), so the twin's photo differs from the original only by the skin's surface reflection. The engine
runs on both photos exactly as in ``bench_groundtruth.py``. Figures, over the face skin the true camera saw:

* ``shine_left``: mean ΔE00 between the two albedos (what the shine changed in the albedo; 0 is a
  de-lighter that removes all of it and nothing else);
* ``shine_left_tone``: ΔE00 between their mean colours;
* ``de_shiny`` / ``de_matte``: each albedo's mean ΔE00 against the true albedo.

Unlike the benchmark's own figures these cannot be flattered or spoiled by what the true albedos keep of
their source photos' light: both photos share the truth, and only the shine differs.

Writes ``shine.json`` (every figure, the commit, the machine), ``shine.md`` (the table) and
``contact_sheet.png`` (per scene: photo | matte twin | albedo | the twin's albedo) into ``--out``.
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

from bench.bench_groundtruth import _commit, _machine, _read_linear  # noqa: E402
from bench.groundtruth import metrics as M  # noqa: E402
from bench.groundtruth.generate import (  # noqa: E402
    DEFAULT_CACHE, REPO, SAMPLES, _job, _key, _render, _write_srgb, load_scene)
from bench.groundtruth.layout import layout  # noqa: E402
from bench.groundtruth.runner import TEXTURE_SIZE, run_engine  # noqa: E402
from bench.groundtruth.scenes import scenes  # noqa: E402
from bench.groundtruth.score import seen_face_skin  # noqa: E402

MATTE_CACHE = REPO / ".cache" / "groundtruth_matte"
SCENES = ("h0_y0_hdri-city", "h0_y0_hard_top", "h1_y25_hdri-interior", "h1_y25_hard_top",
          "h2_y-45_hdri-sunrise", "h2_y-45_hard_top", "h3_y-25_hdri-courtyard", "h3_y-25_hard_top",
          "h4_y45_hdri-night", "h4_y45_hard_top", "h5_y0b_hdri-sunset", "h5_y0b_hard_top")
"""Each head under its first HDRI and under the hard top light (ids of the benchmark's scenes)."""


def matte_map(spec_rough: Path, out: Path) -> Path:
    """``out``: ``spec_rough`` (R roughness, G specular level, B subsurface) with the specular level at 0."""
    img = cv2.imread(str(spec_rough), cv2.IMREAD_COLOR)
    img[..., 1] = 0  # OpenCV's BGR: G is channel 1 either way
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), img)
    return out


def render_twins(ids: tuple[str, ...], cache: Path, log=print) -> list[tuple[Path, Path]]:
    """(original, matte twin) render folders of the benchmark scenes ``ids``; renders the twins that
    ``cache`` lacks (or whose job changed). Each twin's ``photo.png`` uses its original's exposure gain."""
    by_id = {s.id: s for s in scenes()}
    matte = matte_map(DEFAULT_CACHE / "albedos" / "spec_rough.png", cache / "spec_rough_matte.png")
    pairs, todo = [], []
    for sid in ids:
        scene = by_id[sid]
        job = {**_job(DEFAULT_CACHE, scene, SAMPLES["full"]), "out_dir": str(cache / "renders" / sid),
               "spec_rough": str(matte)}
        key = _key(job, scene)
        meta = cache / "renders" / sid / "scene.json"
        if not (meta.is_file() and json.loads(meta.read_text()).get("key") == key):
            todo.append((job, key))
        pairs.append((DEFAULT_CACHE / "renders" / sid, cache / "renders" / sid))
    log(f"matte twins: {len(ids)} scenes, {len(todo)} to render")
    if todo:
        _render([j for j, _ in todo], cache)
        for job, key in todo:
            _finish_twin(Path(job["out_dir"]), DEFAULT_CACHE / "renders" / job["id"], key)
    return pairs


def _finish_twin(folder: Path, original: Path, key: str) -> None:
    """The twin's photo at its original's exposure gain, and its scene.json (the original's, new key)."""
    meta = load_scene(original)
    lin = cv2.imread(str(folder / "render.exr"), cv2.IMREAD_UNCHANGED)[..., :3][..., ::-1].astype(np.float64)
    _write_srgb(folder / "photo.png", lin * meta["exposure_gain"])  # as the originals' photos are written
    (folder / "scene.json").write_text(json.dumps({**meta, "key": key}))


def score_pair(original: Path, twin: Path, lay, log=print) -> tuple[dict, np.ndarray]:
    """The figures of one scene and its contact-sheet row."""
    scene = load_scene(original)
    truth = _read_linear(Path(scene["albedo"]))
    seen = seen_face_skin(lay, scene, np.load(scene["mesh"])["vertices"].astype(np.float64))
    shiny, matte = run_engine(original / "photo.png"), run_engine(twin / "photo.png")
    row = {"id": scene["id"], "klass": scene["lighting"]["klass"],
           "shine_left": M.albedo_delta_e(shiny.albedo, matte.albedo, seen).mean,
           "shine_left_tone": M.mean_colour_delta_e(shiny.albedo, matte.albedo, seen),
           "de_shiny": M.albedo_delta_e(shiny.albedo, truth, seen).mean,
           "de_matte": M.albedo_delta_e(matte.albedo, truth, seen).mean,
           "removed_share": float(shiny.engine_metrics.get("shine_removed_share", float("nan")))}
    log(f"{row['id']:26s} shine left {row['shine_left']:.2f} (tone {row['shine_left_tone']:.2f}), "
        f"vs truth {row['de_shiny']:.2f} / matte {row['de_matte']:.2f}")
    return row, _sheet_row(original, twin, shiny.albedo_srgb, matte.albedo_srgb)


def _sheet_row(original: Path, twin: Path, albedo: np.ndarray, twin_albedo: np.ndarray, size: int = 320) -> np.ndarray:
    tiles = [cv2.imread(str(p / "photo.png"))[..., ::-1] for p in (original, twin)] + [albedo, twin_albedo]
    return np.concatenate([cv2.resize(t, (size, size), interpolation=cv2.INTER_AREA) for t in tiles], axis=1)


KEYS = ("shine_left", "shine_left_tone", "de_shiny", "de_matte", "removed_share")


def _table(rows: list[dict]) -> str:
    lines = ["| scene | shine left ΔE00 | shine left, mean colour | vs truth | matte twin vs truth "
             "| face texels de-shined |", "|---|---|---|---|---|---|"]
    cell = lambda k, v: f"{100 * v:.0f} %" if k == "removed_share" else f"{v:.2f}"  # noqa: E731
    lines += [f"| {r['id']} | " + " | ".join(cell(k, r[k]) for k in KEYS) + " |" for r in rows]
    lines.append("| **mean** | " + " | ".join(cell(k, float(np.mean([r[k] for r in rows]))) for k in KEYS) + " |")
    return "\n".join(lines)


def markdown(doc: dict) -> str:
    """The README's section: the run's stamp and the table."""
    return (f"Shine left in the albedo ({len(doc['rows'])} benchmark scenes beside their matte twins, texture "
            f"{doc['texture_size']}²), commit `{doc['commit']}`, {doc['machine']}, {doc['date']}: ΔE00 between the "
            "albedo of the photo and that of its twin rendered without the skin's specular layer, over the face "
            "skin the camera saw (0: the shine leaves no trace), and each against the true albedo.\n\n"
            + _table(doc["rows"]) + "\n")


def run(out: Path, cache: Path, log=print) -> dict:
    start = time.perf_counter()
    lay = layout(TEXTURE_SIZE)
    rows, sheet = [], []
    for original, twin in render_twins(SCENES, cache, log):
        row, tile = score_pair(original, twin, lay, log)
        rows.append(row)
        sheet.append(tile)
    result = {"commit": _commit(), "machine": _machine(), "date": time.strftime("%Y-%m-%d %H:%M"),
              "texture_size": TEXTURE_SIZE, "rows": rows, "seconds": round(time.perf_counter() - start, 1),
              "mean": {k: float(np.mean([r[k] for r in rows])) for k in ("shine_left", "shine_left_tone", "de_shiny",
                                                                          "de_matte")}}
    out.mkdir(parents=True, exist_ok=True)
    (out / "shine.json").write_text(json.dumps(result, indent=1))
    (out / "shine.md").write_text(_table(rows) + "\n")
    cv2.imwrite(str(out / "contact_sheet.png"), np.concatenate(sheet, axis=0)[..., ::-1])
    log(_table(rows))
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "bench_out" / "shine")
    ap.add_argument("--cache", type=Path, default=MATTE_CACHE)
    args = ap.parse_args()
    run(args.out, args.cache)


if __name__ == "__main__":
    main()
