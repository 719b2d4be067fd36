"""A unit check of the de-lighter's algebra, NOT a quality figure.

The scenes here are rendered with the de-lighter's own image model (engine/synthetic.py: its
reference shading, sun visibility, vertex AO, an ambient that spherical harmonics represent exactly)
and the engine's own template as the albedo, so a good number only says the algebra inverts its own
forward model. Quality is measured by bench/bench_groundtruth.py (Cycles renders that share nothing
with the engine); no figure of this script goes into the README.

For each subject (seed): the template head with random shape and a varied skin albedo is rendered
under the standard lights of :mod:`engine.synthetic` (soft frontal, hard side light with cast
shadows, two coloured lights, top light; all with a specular lobe, exposure/white-balance
normalised), and :func:`engine.texture.pipeline.build_texture` runs with the TRUE geometry and camera
(landmarks detected by MediaPipe on the render). Reported over the face texels that every light saw:

* mean CIEDE2000 between the recovered albedos of every pair of lights (target <= 4),
* mean CIEDE2000 of each recovered albedo against the known albedo, on the face texels taken from
  the photo ("dE truth") and on the whole face region including mirror/template fill ("dE face"),
* BS error of the raw unwrap and of the final albedo, re-render PSNR, time.

With ``--fit`` the geometry and camera come from the engine's fit (``engine.fit.pipeline.fit_head``
on the rendered photo and its detected landmarks) instead of the truth: the full single-photo path.
The albedos are still compared texel by texel (same UV layout).

Run: ``python bench/check_delight_algebra.py [--seeds 0 1 2] [--size 512] [--fit] [--out /tmp/bench_lighting]``
"""
from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.head.model import load_head_model  # noqa: E402
from engine.synthetic import STANDARD_LIGHTS, make_scene  # noqa: E402
from engine.texture.color import delta_e_ciede2000, linear_rgb_to_lab  # noqa: E402
from engine.texture.pipeline import TextureInputs, TextureSettings, build_texture  # noqa: E402
from engine.texture.unwrap import uv_raster  # noqa: E402

TARGET_PAIRWISE_DE = 4.0


def _face_mask(model, n: int) -> np.ndarray:
    r = uv_raster(model, n)
    reg = np.full(n * n, -1, np.int64)
    reg[r.texels] = model.face_region.numpy()[r.tex_face]
    return (reg == model.region_id("face")).reshape(n, n)


def _mean_de(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    return float(np.mean(delta_e_ciede2000(linear_rgb_to_lab(a[mask]), linear_rgb_to_lab(b[mask]))))


def _fitted(scene, model) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(K, R, t, posed vertices, landmarks) from the engine's fit on the rendered photo."""
    from engine.fit.pipeline import FitSettings, fit_head
    from engine.images import Photo
    from engine.landmarks import detect_landmarks

    h, w = scene.photo_srgb.shape[:2]
    face = detect_landmarks(Photo(rgb=scene.photo_srgb, path=Path("synthetic.png"), original_size=(w, h), scale=1.0))
    fit = fit_head(scene.photo_srgb, face, model, FitSettings(), scene.person_mask)
    cam = fit.camera
    return cam.K, cam.R, cam.t, fit.vertices_unwrap, face.points


def run(seeds: list[int], size: int, image_size: int, out: Path | None, use_fit: bool = False) -> dict[str, float]:
    model = load_head_model()
    face = _face_mask(model, size)
    names = [li.name for li in STANDARD_LIGHTS]
    pair_all, truth_all, face_all = [], [], []
    print(f"texture {size}², image {image_size}², geometry: {'engine fit' if use_fit else 'true'}, "
          f"lights: {', '.join(names)}")
    header = (f"{'seed':>4} {'light':>13} {'dE truth':>9} {'dE face':>8} {'photo %':>8} {'BS unwrap':>10}"
              f" {'BS final':>9} {'PSNR':>6} {'sun':>4} {'time s':>7}")
    print(header)
    for seed in seeds:
        albedos, seen = {}, []
        truth = None
        for name in names:
            scene = make_scene(seed, name, texture_size=size, image_size=image_size, model=model)
            truth = scene.albedo
            if use_fit:
                K, R, t, verts, lms = _fitted(scene, model)
            else:
                K, R, t, verts, lms = scene.K, scene.R, scene.t, scene.vertices, scene.landmarks
            inp = TextureInputs(scene.photo, K, R, t, verts, lms, scene.person_mask, size)
            t0 = time.perf_counter()
            res = build_texture(inp, model, settings=TextureSettings(relit_sheet=out is not None))
            dt = time.perf_counter() - t0
            alb = res.debug["albedo_linear"]
            albedos[name] = alb
            m = face & (res.debug["from_photo"] > 0.5)
            seen.append(m)
            de_t = _mean_de(alb, truth, m)
            de_face = _mean_de(alb, truth, face)
            truth_all.append(de_t)
            face_all.append(de_face)
            mt = res.metrics
            print(f"{seed:>4} {name:>13} {de_t:>9.2f} {de_face:>8.2f} {100 * m.sum() / face.sum():>8.1f} "
                  f"{mt['bs_error_unwrap']:>10.2f} {mt['bs_error']:>9.2f} "
                  f"{mt.get('psnr_self_consistency', float('nan')):>6.1f} {int(mt['delight_sun_used']):>4} {dt:>7.2f}"
                  + ("" if scene.landmarks is not None else "  (no landmarks)"))
            if out is not None:
                out.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(out / f"albedo_{seed}_{name}.png"), res.albedo_srgb[..., ::-1])
                cv2.imwrite(str(out / f"photo_{seed}_{name}.png"), scene.photo_srgb[..., ::-1])
                if res.relit_sheet is not None:
                    cv2.imwrite(str(out / f"relit_{seed}_{name}.png"), res.relit_sheet[..., ::-1])
        common = np.logical_and.reduce(seen)
        pairs = []
        for a, b in itertools.combinations(names, 2):
            pairs.append(_mean_de(albedos[a], albedos[b], common))
        pair_all += pairs
        worst = max(zip(pairs, itertools.combinations(names, 2)))
        print(f"     seed {seed}: pairwise dE over {int(common.sum())} common face texels: mean {np.mean(pairs):.2f}, "
              f"worst {worst[0]:.2f} ({worst[1][0]} vs {worst[1][1]})")
    summary = {"pairwise_de_mean": float(np.mean(pair_all)), "pairwise_de_max": float(np.max(pair_all)),
               "truth_de_mean": float(np.mean(truth_all)), "truth_de_face_mean": float(np.mean(face_all))}
    ok = "OK" if summary["pairwise_de_mean"] <= TARGET_PAIRWISE_DE else "ABOVE TARGET"
    print(f"pairwise CIEDE2000 between lights: mean {summary['pairwise_de_mean']:.2f} "
          f"(target <= {TARGET_PAIRWISE_DE}: {ok}), "
          f"max {summary['pairwise_de_max']:.2f}; vs known albedo: mean {summary['truth_de_mean']:.2f} on the texels "
          f"taken from the photo, {summary['truth_de_face_mean']:.2f} on the whole face region (mirror and "
          f"template fill included)")
    return summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--size", type=int, default=512, help="texture size")
    ap.add_argument("--image", type=int, default=640, help="rendered photo size")
    ap.add_argument("--out", type=Path, default=None, help="folder for albedo / relit PNGs")
    ap.add_argument("--fit", action="store_true", help="use the engine's fit instead of the true geometry")
    args = ap.parse_args()
    run(args.seeds, args.size, args.image, args.out, args.fit)


if __name__ == "__main__":
    main()
