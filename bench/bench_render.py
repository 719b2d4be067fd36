"""Benchmark the CPU renderer: rasterize + interpolate + loss + backward to vertex positions.

Usage: ``python bench/bench_render.py [--res 512] [--threads 2] [--iters 20] [--fill 0.6 0.9] [--synthetic]
[--profile]``. Prints median / min wall times and process CPU time per pipeline, and peak memory
growth. The machine is shared: the load average is printed; when it is high, wall medians mostly
measure the other processes; the minima (and ``--threads 1`` CPU minima, which contention barely
inflates) estimate the uncontended cost. Uses the real head model
(``engine.head.model.load_head_model``) when it exists, else a synthetic ~10k-triangle ellipsoid
sized like a head that fills ~60% of the frame height.
"""
from __future__ import annotations

import argparse
import math
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.render import (  # noqa: E402
    antialias,
    antialias_construct_topology_hash,
    interpolate,
    make_context,
    opencv_to_clip,
    rasterize,
    sh_from_directional,
    sh_shading,
)


def ellipsoid(n_lat: int = 50, n_lon: int = 101, axes: tuple[float, float, float] = (0.075, 0.11, 0.095)
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """A closed UV ellipsoid (head-sized, metres, +Y up) with 2 * n_lon * (n_lat - 1) triangles."""
    lat = torch.linspace(0, math.pi, n_lat + 1)[1:-1]
    lon = torch.linspace(0, 2 * math.pi, n_lon + 1)[:-1]
    la, lo = torch.meshgrid(lat, lon, indexing="ij")
    ring = torch.stack((torch.sin(la) * torch.sin(lo), torch.cos(la), torch.sin(la) * torch.cos(lo)), -1).reshape(-1, 3)
    v = torch.cat((torch.tensor([[0.0, 1.0, 0.0]]), ring, torch.tensor([[0.0, -1.0, 0.0]]))) * torch.tensor(axes)
    nr = n_lat - 1
    idx = lambda i, j: 1 + i * n_lon + (j % n_lon)  # noqa: E731
    faces = [[0, idx(0, j + 1), idx(0, j)] for j in range(n_lon)]
    for i in range(nr - 1):
        for j in range(n_lon):
            a, b, c, d = idx(i, j), idx(i, j + 1), idx(i + 1, j), idx(i + 1, j + 1)
            faces += [[a, b, c], [b, d, c]]
    last = 1 + nr * n_lon
    faces += [[last, idx(nr - 1, j), idx(nr - 1, j + 1)] for j in range(n_lon)]
    return v, torch.tensor(faces, dtype=torch.int32)


def load_mesh(synthetic: bool) -> tuple[torch.Tensor, torch.Tensor, str]:
    if not synthetic:
        try:
            from engine.head.model import load_head_model  # noqa: PLC0415
        except ImportError:
            pass
        else:
            m = load_head_model()
            v = torch.as_tensor(m.vertices, dtype=torch.float32)
            f = torch.as_tensor(m.faces, dtype=torch.int32)
            return v, f, "head model"
    v, f = ellipsoid()
    return v, f, "synthetic ellipsoid"


def vertex_normals(v: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
    fl = f.long()
    fn = torch.cross(v[fl[:, 1]] - v[fl[:, 0]], v[fl[:, 2]] - v[fl[:, 0]], dim=-1)
    n = torch.zeros_like(v).index_add(0, fl.reshape(-1), fn.repeat_interleave(3, 0))
    return n / n.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def camera(v: torch.Tensor, res: int, fill: float = 0.6) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A frontal OpenCV camera (head looks toward +Z, camera on +Z looking back) framing the mesh."""
    height = float(v[:, 1].max() - v[:, 1].min())
    centre = (v.max(0).values + v.min(0).values) / 2
    dist = 0.6
    f = fill * res * dist / height
    K = torch.tensor([[f, 0, (res - 1) / 2], [0, f, (res - 1) / 2], [0, 0, 1.0]])
    R = torch.diag(torch.tensor([-1.0, -1.0, 1.0])) @ torch.diag(torch.tensor([-1.0, 1.0, -1.0]))
    # camera looks along -Z of head space: X_cam = (X, -Y, -Z) rotated; centre at depth dist
    t = -(R @ centre) + torch.tensor([0.0, 0.0, dist])
    return K, R, t


def timeit(fn: Callable[[], object], iters: int) -> tuple[float, float, float, float]:
    """(median wall, min wall, median process CPU, min process CPU) in ms over ``iters`` runs after two warm-ups."""
    fn()
    fn()
    ts, cpu = [], []
    for _ in range(iters):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        ts.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
    return statistics.median(ts), min(ts), statistics.median(cpu), min(cpu)


def run_config(v: torch.Tensor, f: torch.Tensor, res: int, fill: float, iters: int) -> None:
    """Time the three pipelines for one framing and print one block of figures."""
    K, R, t = camera(v, res, fill)
    ctx = make_context("cpu", backend="torch")
    topo = antialias_construct_topology_hash(f)
    colors = torch.rand(v.shape[0], 3, generator=torch.Generator().manual_seed(0))
    target = torch.rand(1, res, res, 6, generator=torch.Generator().manual_seed(1))
    coeffs = sh_from_directional(torch.tensor([0.3, -0.4, -1.0]), 0.8, 0.3)
    verts = v.clone().requires_grad_(True)

    def raster_only() -> None:
        with torch.no_grad():
            clip = opencv_to_clip(verts, K, R, t, res, res)[None]
            rasterize(ctx, clip, f, (res, res), grad_db=False)

    def fwd_bwd() -> None:
        clip = opencv_to_clip(verts, K, R, t, res, res)[None]
        rast, _ = rasterize(ctx, clip, f, (res, res), grad_db=False)
        attr = torch.cat((vertex_normals(verts, f), colors), -1)[None]
        out, _ = interpolate(attr, rast, f)
        loss = (out - target).square().mean()
        verts.grad = None
        loss.backward()

    def fwd_bwd_aa() -> None:
        clip = opencv_to_clip(verts, K, R, t, res, res)[None]
        rast, _ = rasterize(ctx, clip, f, (res, res), grad_db=False)
        attr = torch.cat((vertex_normals(verts, f), colors), -1)[None]
        out, _ = interpolate(attr, rast, f)
        col = out[..., 3:] * sh_shading(out[..., :3], coeffs)
        col = antialias(col, rast, clip, f, topo)
        loss = (col - target[..., :3]).square().mean()
        verts.grad = None
        loss.backward()

    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    fwd_bwd()
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with torch.no_grad():
        rast, _ = rasterize(ctx, opencv_to_clip(verts, K, R, t, res, res)[None], f, (res, res), grad_db=False)
    cov = int((rast[..., 3] > 0).sum())
    print(f"-- {res}x{res}, mesh height {fill:.0%} of the frame: {cov} covered pixels ({100 * cov / res / res:.0f}%)")
    for label, fn in (("rasterize (no grad)", raster_only), ("rasterize+interpolate+loss+backward", fwd_bwd),
                      ("  ... + SH shading + antialias", fwd_bwd_aa)):
        med, best, cpu, cpu_min = timeit(fn, iters)
        print(f"{label:38s} wall median {med:6.1f} min {best:6.1f} ms | process CPU median {cpu:6.1f} "
              f"min {cpu_min:6.1f} ms")
    print(f"peak RSS growth of the first rasterize+interpolate+loss+backward: {(rss1 - rss0) / 1024:.0f} MiB")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--res", type=int, default=512)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--synthetic", action="store_true")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--fill", type=float, nargs="+", default=[0.6, 0.9],
                    help="mesh height as a fraction of the frame height (one block of figures each)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    v, f, name = load_mesh(args.synthetic)
    print(f"mesh: {name}, {v.shape[0]} vertices, {f.shape[0]} triangles; torch {torch.__version__}, "
          f"threads={torch.get_num_threads()}, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    for fill in args.fill:
        run_config(v, f, args.res, fill, args.iters)
    if args.profile:
        from torch.profiler import ProfilerActivity, profile  # noqa: PLC0415

        K, R, t = camera(v, args.res, args.fill[0])
        verts = v.clone().requires_grad_(True)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(5):
                clip = opencv_to_clip(verts, K, R, t, args.res, args.res)[None]
                rast, _ = rasterize(None, clip, f, (args.res, args.res), grad_db=False)
                out, _ = interpolate(vertex_normals(verts, f)[None], rast, f)
                out.square().mean().backward()
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25))


if __name__ == "__main__":
    main()
