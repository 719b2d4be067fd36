"""Real photos, where no ground truth exists: BS error over the face texels seen on both sides (with the
filled share beside it), identity distance photo <-> reconstruction, and the photo-perturbation test
(the same photo at -1 / +1 EV and with its white balance set to 3200 K / 6500 K must give the same
albedo: the ΔE00 between the results).

The identity distance is measured twice, both renders metered on the head: the reconstruction under the
neutral studio HDRI (``identity_photo_render``) and under the engine's own estimate of the photo's light
(``identity_photo_render_estimated_light``: its texture SH, ``params.json`` ``lighting.texture_sh_coeffs``),
which is closer to the photo's own light.

    python bench/bench_photos.py [--out bench_out/photos] [--photos astronaut takeo ...] [--no-identity]

Writes ``photos.json``, ``photos.md`` and ``albedos.png`` (each photo beside its albedo's face) into
``--out``. The perturbed photos are made by bench/groundtruth/perturb.py (plain sRGB/linear maths).
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
from bench.groundtruth import metrics as M  # noqa: E402
from bench.groundtruth import perturb  # noqa: E402
from bench.groundtruth.generate import REPO, _bpy_python  # noqa: E402
from bench.groundtruth.layout import layout  # noqa: E402
from bench.groundtruth.runner import TEXTURE_SIZE, EngineOutput, run_engine  # noqa: E402
from bench.groundtruth.visibility import texel_view  # noqa: E402

PHOTOS = ("astronaut", "takeo", "einstein", "tongue", "breakingbad")
PERTURBATIONS = (("ev-1", lambda im: perturb.change_exposure(im, -1.0)),
                 ("ev+1", lambda im: perturb.change_exposure(im, +1.0)),
                 ("wb3200K", lambda im: perturb.shift_white_balance(im, 3200.0)),
                 ("wb6500K", lambda im: perturb.shift_white_balance(im, 6500.0)))
"""(name, transform of the uint8 sRGB photo)."""
DEFAULT_OUT = REPO / "bench_out" / "photos"
SCRIPT = REPO / "bench" / "groundtruth" / "cycles_render.py"


def _seen(out: EngineOutput, size: tuple[int, int]) -> np.ndarray:
    """Face skin the photo showed: the engine's own from-photo texels that our depth buffer also finds
    visible from the fitted camera on the fitted mesh."""
    lay = layout(TEXTURE_SIZE)
    view = texel_view(lay, out.vertices, out.K, out.R, out.t, *size)
    return out.from_photo & view.visible & lay.face_skin


def _bs(out: EngineOutput, seen: np.ndarray) -> M.BSResult:
    lay = layout(TEXTURE_SIZE)
    return M.bs_error(out.albedo, lay.mirror_rowcol, seen, lay.face_skin)


def _perturbed(name: str, rgb: np.ndarray, folder: Path, base: EngineOutput, base_seen: np.ndarray
               ) -> dict[str, float]:
    """ΔE00 between the albedo of the photo (``base``, seen on ``base_seen``) and of each perturbed copy,
    on face skin seen in both."""
    size = (rgb.shape[1], rgb.shape[0])
    res = {}
    for label, fn in PERTURBATIONS:
        path = folder / f"{label}.png"
        cv2.imwrite(str(path), fn(rgb)[..., ::-1])
        try:
            other = run_engine(path)
        except Exception as err:  # noqa: BLE001 - a lost face is a result too
            res[label] = float("nan")
            print(f"  {name} {label}: engine failed: {err}")
            continue
        mask = base_seen & _seen(other, size)
        res[label] = M.albedo_delta_e(other.albedo, base.albedo, mask).mean if mask.sum() > 100 else float("nan")
    return res


def _identity(name: str, out: EngineOutput, rgb: np.ndarray, run: Path) -> tuple[float, float]:
    """Identity distances photo <-> reconstruction at the fitted camera: under the studio HDRI, and under the
    engine's estimate of the photo's light (NaN when the run has none); both metered on the head."""
    out.save(run)
    lights = {"fitted": likeness.NEUTRAL_LIGHT}
    if out.texture_sh_coeffs is not None:
        lights["fitted_estimated_light"] = likeness.estimated_light(out.texture_sh_coeffs)
    window = likeness.face_window(out.landmarks, (rgb.shape[1], rgb.shape[0]))
    jobs = [likeness.fitted_camera_job(run / folder, run / "head_mesh.npz", run / "albedo.png",
                                       list(out.eye_color_srgb), out.K, out.R, out.t, window,
                                       light, f"{name}-{folder}") for folder, light in lights.items()]
    likeness.render_jobs(jobs, _bpy_python(), SCRIPT, run / "batch.json")
    box, photo = window.points(out.landmarks), window.crop(rgb)
    dist = {folder: likeness.identity_between(photo, likeness.exposed_srgb(run / folder, None), box, box)
            for folder in lights}
    return dist["fitted"], dist.get("fitted_estimated_light", float("nan"))


def _face_tile(out: EngineOutput, rgb: np.ndarray) -> np.ndarray:
    lay = layout(TEXTURE_SIZE)
    rows, cols = np.nonzero(lay.face)
    crop = out.albedo_srgb[rows.min():rows.max(), cols.min():cols.max()]
    lo, hi = out.landmarks.min(0), out.landmarks.max(0)
    c, r = (lo + hi) / 2, 0.65 * float((hi - lo).max())
    y0, y1 = int(max(c[1] - r, 0)), int(min(c[1] + r, rgb.shape[0]))
    x0, x1 = int(max(c[0] - r, 0)), int(min(c[0] + r, rgb.shape[1]))
    return np.hstack([cv2.resize(rgb[y0:y1, x0:x1], (192, 192)), cv2.resize(crop, (192, 192))])


def run(out_dir: Path, names: tuple[str, ...], identity: bool = True) -> dict:
    from tests.photos import photo_path

    out_dir.mkdir(parents=True, exist_ok=True)
    rows, tiles = {}, []
    for name in names:
        t0 = time.perf_counter()
        rgb = cv2.imread(str(photo_path(name)), cv2.IMREAD_COLOR)[..., ::-1].copy()
        folder = out_dir / name
        folder.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / "original.png"), rgb[..., ::-1])
        out = run_engine(folder / "original.png")
        seen = _seen(out, (rgb.shape[1], rgb.shape[0]))
        bs = _bs(out, seen)
        grey = bool(np.ptp(rgb.astype(np.int16), axis=2).max() <= 1)
        row = {"bs_both_seen": bs.error, "bs_counted_share": bs.counted_share, "filled_share": bs.filled_share,
               "black_and_white": grey, "centre_border_l": M.centre_border_lightness(out.albedo, seen),
               "warnings": out.warnings, "perturbation_de": _perturbed(name, rgb, folder, out, seen)}
        row["identity_photo_render"], row["identity_photo_render_estimated_light"] = (
            _identity(name, out, rgb, folder / "run") if identity else (float("nan"), float("nan")))
        row["seconds"] = time.perf_counter() - t0
        rows[name] = row
        tiles.append(_face_tile(out, rgb))
        print(f"{name}: BS {bs.error:.2f} (counted {100 * bs.counted_share:.0f} %, "
              f"filled {100 * bs.filled_share:.0f} %), identity {row['identity_photo_render']:.2f} "
              f"(estimated light {row['identity_photo_render_estimated_light']:.2f}), perturbation ΔE "
              + ", ".join(f"{k} {v:.2f}" for k, v in row["perturbation_de"].items()))
    cv2.imwrite(str(out_dir / "albedos.png"), np.vstack(tiles)[..., ::-1])
    from bench.bench_groundtruth import _commit, _machine

    doc = {"commit": _commit(), "machine": _machine(), "date": time.strftime("%Y-%m-%d %H:%M"), "photos": rows}
    (out_dir / "photos.json").write_text(json.dumps(doc, indent=1, default=float))
    (out_dir / "photos.md").write_text(markdown(doc))
    print(markdown(doc))
    return doc


def _signed(v: float) -> str:
    """``+1.2`` / ``-0.3``, or ``–`` for nan (the seen face had no centre band)."""
    return "–" if not np.isfinite(v) else f"{v:+.1f}"


def _plain(v: float | None) -> str:
    """``0.42``, or ``–`` for nan or absent (a run from before the estimated-light render)."""
    return "–" if v is None or not np.isfinite(v) else f"{v:.2f}"


def markdown(doc: dict) -> str:
    labels = [p[0] for p in PERTURBATIONS]
    lines = [f"Real photos, commit `{doc['commit']}`, {doc['machine']}, {doc['date']}.", "",
             "| photo | BS, both sides seen | face filled | centre − border L* | identity photo↔render | "
             "identity, estimated light | " + " | ".join(f"ΔE00 {lb}" for lb in labels) + " |",
             "|---|---|---|---|---|---|" + "---|" * len(labels)]
    for name, r in doc["photos"].items():
        label = f"{name} (b&w)" if r.get("black_and_white") else name
        lines.append(f"| {label} | {r['bs_both_seen']:.2f} | {100 * r['filled_share']:.0f} % | "
                     f"{_signed(r.get('centre_border_l', float('nan')))} | {r['identity_photo_render']:.2f} | "
                     f"{_plain(r.get('identity_photo_render_estimated_light'))} | "
                     + " | ".join(f"{r['perturbation_de'][lb]:.2f}" for lb in labels) + " |")
    if any(r.get("black_and_white") for r in doc["photos"].values()):
        lines += ["", "(b&w): a black-and-white photo. The engine keeps its albedo grey; a white-balance shift tints "
                  "it, and the engine reads a tinted (toned) scan as black and white too, so its wb columns show "
                  "that the tint does not reach the albedo, not colour constancy."]
    lines += ["", "identity photo↔render: dlib distance between the photo and the reconstruction rendered at the "
              "fitted camera under the studio HDRI; estimated light: the same under the engine's own estimate of "
              "the photo's light (its SH), as the photo was lit."]
    lines += ["", "centre − border L*: how much lighter the de-lit face's centre (beyond 60 texels of the seen face's "
              "border) is than its outer 10 texels; the completion matches the border, so a large value reads as a "
              "lighter face patch on the head (the benchmark's true albedos: see its table)."]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--photos", nargs="+", default=list(PHOTOS))
    ap.add_argument("--no-identity", action="store_true")
    args = ap.parse_args()
    run(args.out, tuple(args.photos), not args.no_identity)


if __name__ == "__main__":
    main()
