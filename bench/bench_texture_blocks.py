"""Benchmark the texture stage's image-space blocks at 1024² and 2048² on the head atlas.

Usage: ``python bench/bench_texture_blocks.py [--sizes 1024 2048] [--repeat 3] [--threads 2]``.
Prints the best and median wall time of each block (OpenCV thread count as given). Masks are the
realistic ones of the texture stage: FFHQ-UV's correction regions (eyes, nostrils, mouth, hairline)
for Poisson, the whole face for the Laplacian blend, the atlas gutters for push-pull.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.head.model import load_head_model  # noqa: E402
from engine.texture import template as template_mod  # noqa: E402
from engine.texture.blend import dilate_fill, feather, laplacian_pyramid_blend, poisson_blend  # noqa: E402
from engine.texture.color import (  # noqa: E402
    linear_rgb_to_lab,
    linear_to_srgb,
    match_color_stats,
    skin_stats,
    srgb_to_linear,
)
from engine.texture.metrics import brightness_symmetry_error, mirror_texel_map_from_mesh, psnr  # noqa: E402
from engine.texture.uv_raster import rasterize_uv  # noqa: E402


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times)


def atlas_masks(size: int) -> dict[str, np.ndarray]:
    """Region masks of the head atlas at ``size`` (float32 [H, W])."""
    m = load_head_model()
    r = rasterize_uv(m.uvs.numpy(), m.uv_faces.numpy(), size)
    lab = np.where(r.covered, m.face_region.numpy()[np.maximum(r.triangle, 0)], -1)

    def region(*names: str) -> np.ndarray:
        return np.isin(lab, [m.region_id(n) for n in names])

    k = max(3, size // 128) | 1
    grow = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
    features = cv2.dilate(region("eyelids", "nostrils", "lips").astype(np.uint8), grow) > 0
    scalp = region("scalp").astype(np.uint8)
    face = region("face", "eyebrows", "eyelids", "lips", "nostrils")
    hairline = (cv2.dilate(scalp, grow) > 0) & face & (np.arange(size)[:, None] < int(0.33 * size))
    return {
        "covered": r.covered.astype(np.float32),
        "correction": ((features | hairline) & r.covered).astype(np.float32),
        "face": face.astype(np.float32),
        "skin": region("face").astype(np.float32),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    cv2.setNumThreads(args.threads)
    model = load_head_model()
    print(f"OpenCV threads: {cv2.getNumThreads()}; best / median of {args.repeat} runs, seconds")
    for size in args.sizes:
        masks = atlas_masks(size)
        template_mod._albedo_cached.cache_clear()
        template_mod._grey_cached.cache_clear()
        t0 = time.perf_counter()
        tpl = template_mod.load_template_albedo(size)
        cold_load = time.perf_counter() - t0
        rng = np.random.default_rng(0)
        photo = np.clip(tpl * 0.8 + 0.05 * rng.random(tpl.shape, dtype=np.float32), 0, 1).astype(np.float32)
        t0 = time.perf_counter()
        mirror = mirror_texel_map_from_mesh(model.uvs, model.uv_faces, model.faces, model.mirror, size)
        mirror_time = time.perf_counter() - t0
        ref = skin_stats(photo, masks["skin"])
        corr = masks["correction"]
        print(f"\n== {size}x{size} ==  correction mask: {corr.mean() * 100:.1f}% of texels, "
              f"{cv2.connectedComponents(corr.astype(np.uint8))[0] - 1} components")
        rows: list[tuple[str, Callable[[], object]]] = [
            ("srgb_to_linear + linear_to_srgb", lambda: linear_to_srgb(srgb_to_linear(photo))),
            ("linear_rgb_to_lab (full image)", lambda: linear_rgb_to_lab(photo)),
            ("skin_stats (face skin)", lambda: skin_stats(photo, masks["skin"])),
            ("match_color_stats (template->photo)", lambda: match_color_stats(tpl, masks["skin"], ref)),
            ("laplacian_pyramid_blend (face)", lambda: laplacian_pyramid_blend(photo, tpl, masks["face"])),
            ("poisson_blend (eyes/nose/mouth/hairline)", lambda: poisson_blend(photo, tpl, corr)),
            ("poisson_blend (whole face)", lambda: poisson_blend(photo, tpl, masks["face"])),
            ("dilate_fill (atlas gutters)", lambda: dilate_fill(photo, masks["covered"])),
            ("feather (inside, r = size/128)", lambda: feather(masks["face"], size / 128)),
            ("brightness_symmetry_error", lambda: brightness_symmetry_error(photo, mirror, masks["skin"])),
            ("psnr (face)", lambda: psnr(photo, tpl, masks["face"])),
        ]
        for name, fn in rows:
            best, med = timed(fn, args.repeat)
            print(f"{name:42s} {best:7.3f} {med:7.3f}")
        print(f"{'load_template_albedo (cold, once)':42s} {cold_load:7.3f}")
        print(f"{'mirror_texel_map_from_mesh (once)':42s} {mirror_time:7.3f}")


if __name__ == "__main__":
    main()
