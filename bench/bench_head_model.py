"""Print head-model figures: load time, sizes, shaped_vertices and atlas timings.

Run: ``python bench/bench_head_model.py``
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without installing


def main() -> None:
    t0 = time.perf_counter()
    from engine.head.atlas import region_mask_image, remap_body_atlas_image
    from engine.head.model import DATA_PATH, load_head_model

    t1 = time.perf_counter()
    m = load_head_model()
    t2 = time.perf_counter()
    load_head_model.cache_clear()
    reps = 5
    t = time.perf_counter()
    for _ in range(reps):
        load_head_model.cache_clear()
        m = load_head_model()
    t_load = (time.perf_counter() - t) / reps
    print(f"import engine.head            : {t1 - t0:8.3f} s")
    print(f"first load_head_model()       : {t2 - t1:8.3f} s")
    print(f"load_head_model() (uncached)  : {t_load * 1e3:8.1f} ms (mean of {reps})")
    print(f"npz size                      : {DATA_PATH.stat().st_size / 1e6:8.3f} MB")
    print(f"V / F / uvs                   : {m.num_vertices} / {m.faces.shape[0]} / {m.uvs.shape[0]}")
    counts = torch.bincount(m.face_part, minlength=len(m.part_names)).tolist()
    print("faces per part                : " + ", ".join(f"{n} {c}" for n, c in zip(m.part_names, counts)))
    print(f"shape sliders / pairs         : {m.num_shapes} / {len(m.symmetric_shape_pairs)}")
    print(f"expressions                   : {m.num_expressions}")
    print(f"fill ratio                    : {m.meta['fill_ratio']:.4f}")
    print(f"max float16 quantisation error: {m.meta['max_quantisation_error_m'] * 1e6:.1f} um")
    mem = sum(x.numel() * x.element_size() for x in (m.shape_deltas_pos, m.shape_deltas_neg, m.expression_deltas))
    print(f"dense delta tensors in memory : {mem / 1e6:8.1f} MB")

    s = torch.zeros(m.num_shapes)
    e = torch.zeros(m.num_expressions)
    for batch in (None, 8):
        ss = s if batch is None else s.expand(batch, -1).clone()
        ee = e if batch is None else e.expand(batch, -1).clone()
        ss.requires_grad_(True)
        n = 20
        t = time.perf_counter()
        for _ in range(n):
            m.shaped_vertices(ss, ee).sum().backward()
        print(f"shaped_vertices fwd+bwd B={batch or 1:<3}   : {(time.perf_counter() - t) / n * 1e3:8.2f} ms")
    v = m.shaped_vertices(s, e)
    t = time.perf_counter()
    for _ in range(20):
        m.vertex_normals(v)
    print(f"vertex_normals                : {(time.perf_counter() - t) / 20 * 1e3:8.2f} ms")
    for size in (1024, 2048):
        t = time.perf_counter()
        region_mask_image(size)
        t_mask = time.perf_counter() - t
        img = np.zeros((2048, 2048, 3), np.uint8)
        t = time.perf_counter()
        remap_body_atlas_image(img, size)
        print(f"atlas {size}: region mask {t_mask:6.3f} s (cold), remap RGB 2048->{size} {time.perf_counter() - t:6.3f} s")


if __name__ == "__main__":
    main()
