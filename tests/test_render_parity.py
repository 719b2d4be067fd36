"""The GPU path against the CPU path: nvdiffrast vs the pure-PyTorch renderer, and a whole reconstruction.

Needs a CUDA device (and, for the nvdiffrast half, ``import nvdiffrast.torch``); every test here is
skipped with the reason where they are absent, i.e. on every CPU-only machine. ``bench/gpu_check.sh``
installs both on a GPU machine and runs this file with ``FFHQUV_REQUIRE_GPU=1``, which turns those
skips into failures.

Scene: the head model from the front at a known camera (256 x 256, the face fills about half of it).

Tolerances (stated here, checked below):
    * rasterize: coverage differs on at most ``COVERAGE_MISMATCH`` of the covered pixels (pixel centres
      that lie on a silhouette edge to within rounding); where both backends name the same triangle,
      barycentrics agree to ``BARY_ATOL`` and z/w to ``DEPTH_ATOL``; head-space position interpolated
      from each backend's own raster differs by less than ``POSITION_P99_M`` at the 99th percentile of
      the pixels both cover (ids may differ across a shared edge, the surface may not).
    * interpolate / texture, fed the same raster and UVs: equal to ``OP_ATOL`` (float32 rounding).
    * antialias, fed the same raster and colours: the mean absolute difference is at most
      ``AA_REL`` of the mean change nvdiffrast's antialias makes to the image.
    * whole reconstruction of the astronaut, ``cuda`` vs ``cpu``: landmark error (share of the
      inter-ocular distance) within ``LANDMARK_IOD_ATOL``, fitted 2-D landmarks within
      ``LANDMARK_SHIFT_IOD`` of each other (mean), albedo PSNR at least ``ALBEDO_PSNR_DB`` (sRGB 8-bit).
"""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from engine.render import (
    antialias,
    antialias_construct_topology_hash,
    interpolate,
    make_context,
    nvdiffrast_available,
    nvdiffrast_usable,
    opencv_to_clip,
    rasterize,
    texture,
)
from engine.runtime import CPU, Runtime

COVERAGE_MISMATCH = 0.005
BARY_ATOL = 2e-3
DEPTH_ATOL = 1e-4
POSITION_P99_M = 5e-4
OP_ATOL = 1e-4
AA_REL = 0.15
LANDMARK_IOD_ATOL = 0.002
LANDMARK_SHIFT_IOD = 0.005
ALBEDO_PSNR_DB = 30.0
SIZE = 256

REQUIRE = os.environ.get("FFHQUV_REQUIRE_GPU") == "1"  # the GPU check: run (and fail) rather than skip
CUDA = torch.cuda.is_available()
NVDIFFRAST = CUDA and nvdiffrast_available()
NO_CUDA = "no CUDA device (torch.cuda.is_available() is False)"
needs_cuda = pytest.mark.skipif(
    not (CUDA or REQUIRE), reason=f"{NO_CUDA}: the GPU path cannot run here; bench/gpu_check.sh runs it on a GPU machine")
needs_nvdiffrast = pytest.mark.skipif(
    not (NVDIFFRAST or REQUIRE),
    reason=NO_CUDA if not CUDA else "nvdiffrast is not installed (import nvdiffrast.torch failed); "
                                    "bench/gpu_check.sh installs it")


@pytest.fixture(scope="module")
def scene() -> dict:
    """The head model (all parts) from the front, clip positions on the CPU."""
    from engine.head.model import load_head_model

    m = load_head_model()
    v = torch.as_tensor(m.vertices, dtype=torch.float32)
    R = torch.diag(torch.tensor([1.0, -1.0, -1.0]))  # camera on +Z looking at the face, image y down
    centre = (v.max(0).values + v.min(0).values) / 2
    t = -(R @ centre) + torch.tensor([0.0, 0.0, 0.6])
    K = torch.tensor([[400.0, 0, SIZE / 2 - 0.5], [0, 400.0, SIZE / 2 - 0.5], [0, 0, 1]])
    clip = opencv_to_clip(v, K, R, t, SIZE, SIZE)[None].contiguous()
    return {"model": m, "v": v, "clip": clip, "tri": m.faces.to(torch.int32), "uvs": m.uvs.float(),
            "uv_tri": m.uv_faces.to(torch.int32)}


def _gpu() -> Runtime:
    return Runtime(torch.device("cuda", torch.cuda.current_device()), "nvdiffrast")


def _cpu_raster(scene: dict) -> torch.Tensor:
    rast, _ = rasterize(CPU.context(), scene["clip"], scene["tri"], (SIZE, SIZE), grad_db=False)
    return rast


@needs_nvdiffrast
def test_rasterize_matches(scene: dict) -> None:
    gpu = _gpu()
    r_cpu = _cpu_raster(scene)
    r_gpu, _ = rasterize(gpu.context(), gpu.tensor(scene["clip"]), gpu.index(scene["tri"]), (SIZE, SIZE),
                         grad_db=False)
    r_gpu = r_gpu.cpu()
    cov_c, cov_g = r_cpu[0, ..., 3] > 0, r_gpu[0, ..., 3] > 0
    assert cov_c.float().mean() > 0.2
    assert (cov_c ^ cov_g).sum() <= COVERAGE_MISMATCH * cov_c.sum()
    same = cov_c & cov_g & (r_cpu[0, ..., 3] == r_gpu[0, ..., 3])
    assert same.sum() > 0.9 * cov_c.sum()
    assert (r_cpu[0, ..., :2][same] - r_gpu[0, ..., :2][same]).abs().max() <= BARY_ATOL
    assert (r_cpu[0, ..., 2][same] - r_gpu[0, ..., 2][same]).abs().max() <= DEPTH_ATOL
    both = cov_c & cov_g
    p_cpu, _ = interpolate(scene["v"][None], r_cpu, scene["tri"], backend="torch")
    p_gpu, _ = interpolate(gpu.tensor(scene["v"][None]), gpu.tensor(r_gpu), gpu.index(scene["tri"]),
                           backend="nvdiffrast")
    dist = (p_cpu[0][both] - p_gpu.cpu()[0][both]).norm(dim=-1)
    assert torch.quantile(dist, 0.99) <= POSITION_P99_M


@needs_nvdiffrast
def test_interpolate_matches_on_the_same_raster(scene: dict) -> None:
    gpu = _gpu()
    rast = _cpu_raster(scene)
    attr = torch.cat([scene["v"], scene["model"].vertex_normals(scene["v"])], 1)[None]
    out_c, _ = interpolate(attr, rast, scene["tri"], backend="torch")
    out_g, _ = interpolate(gpu.tensor(attr), gpu.tensor(rast), gpu.index(scene["tri"]), backend="nvdiffrast")
    assert torch.allclose(out_c, out_g.cpu(), atol=OP_ATOL, rtol=0)
    # gradients into the attributes agree as well
    w = torch.rand_like(out_c)
    a_c, a_g = attr.clone().requires_grad_(), gpu.tensor(attr).clone().requires_grad_()
    (interpolate(a_c, rast, scene["tri"], backend="torch")[0] * w).sum().backward()
    out_g2, _ = interpolate(a_g, gpu.tensor(rast), gpu.index(scene["tri"]), backend="nvdiffrast")
    (out_g2 * gpu.tensor(w)).sum().backward()
    assert torch.allclose(a_c.grad, a_g.grad.cpu(), atol=1e-3, rtol=1e-4)


@needs_nvdiffrast
@pytest.mark.parametrize("boundary_mode", ["clamp", "wrap"])
def test_texture_matches_on_the_same_uvs(scene: dict, boundary_mode: str) -> None:
    gpu = _gpu()
    rast = _cpu_raster(scene)
    uv, _ = interpolate(scene["uvs"][None], rast, scene["uv_tri"], backend="torch")
    tex = torch.rand(1, 64, 48, 3, generator=torch.Generator().manual_seed(3))
    out_c = texture(tex, uv, filter_mode="linear", boundary_mode=boundary_mode, backend="torch")
    out_g = texture(gpu.tensor(tex), gpu.tensor(uv), filter_mode="linear", boundary_mode=boundary_mode,
                    backend="nvdiffrast")
    assert torch.allclose(out_c, out_g.cpu(), atol=OP_ATOL, rtol=0)


@needs_nvdiffrast
def test_antialias_matches_on_the_same_raster(scene: dict) -> None:
    gpu = _gpu()
    rast = _cpu_raster(scene)
    normals, _ = interpolate(scene["model"].vertex_normals(scene["v"])[None], rast, scene["tri"], backend="torch")
    color = torch.where(rast[..., 3:] > 0, 0.5 + 0.5 * normals, torch.zeros(()))
    aa_c = antialias(color, rast, scene["clip"], scene["tri"], antialias_construct_topology_hash(scene["tri"]),
                     backend="torch")
    tri_g = gpu.index(scene["tri"])
    aa_g = antialias(gpu.tensor(color), gpu.tensor(rast), gpu.tensor(scene["clip"]), tri_g,
                     antialias_construct_topology_hash(tri_g, backend="nvdiffrast"), backend="nvdiffrast").cpu()
    change = (aa_g - color).abs().mean()
    assert change > 0
    assert (aa_c - aa_g).abs().mean() <= AA_REL * change


@needs_cuda
def test_torch_renderer_on_cuda_matches_the_cpu(scene: dict) -> None:
    """The pure-PyTorch renderer is device-agnostic: on CUDA (the fallback without nvdiffrast) it gives
    the CPU's image up to float rounding."""
    dev = torch.device("cuda", torch.cuda.current_device())
    ctx = make_context(dev, "torch")
    rast_c = _cpu_raster(scene)
    rast_g, _ = rasterize(ctx, scene["clip"].to(dev), scene["tri"].to(dev), (SIZE, SIZE), grad_db=False)
    rast_g = rast_g.cpu()
    assert (rast_c[..., 3] != rast_g[..., 3]).float().mean() <= COVERAGE_MISMATCH
    same = rast_c[..., 3] == rast_g[..., 3]
    assert (rast_c[..., :3][same] - rast_g[..., :3][same]).abs().max() <= 1e-4


def _psnr8(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


@needs_cuda
def test_astronaut_on_cuda_matches_cpu() -> None:
    from engine.api import ReconstructOptions, reconstruct
    from tests.photos import photo_path

    runs = {dev: reconstruct(photo_path("astronaut"), ReconstructOptions(device=dev)) for dev in ("cpu", "cuda")}
    cpu, gpu = runs["cpu"], runs["cuda"]
    assert (cpu.device, cpu.render_backend) == ("cpu", "torch")
    expected = "nvdiffrast" if nvdiffrast_usable(torch.device("cuda", torch.cuda.current_device())) else "torch"
    assert gpu.device == "cuda" and gpu.render_backend == expected
    if REQUIRE:
        assert gpu.render_backend == "nvdiffrast", "the GPU check expects nvdiffrast to run"
    e_cpu, e_gpu = cpu.fit.metrics["landmark_error_iod"], gpu.fit.metrics["landmark_error_iod"]
    print(f"\nlandmark error: cpu {e_cpu:.4%} IOD, cuda ({gpu.render_backend}) {e_gpu:.4%} IOD")
    assert abs(e_cpu - e_gpu) <= LANDMARK_IOD_ATOL
    shift = np.linalg.norm(np.asarray(cpu.fit.landmarks_2d) - np.asarray(gpu.fit.landmarks_2d), axis=1).mean()
    assert shift <= LANDMARK_SHIFT_IOD * cpu.face.inter_ocular
    psnr = _psnr8(cpu.texture.albedo_srgb, gpu.texture.albedo_srgb)
    diff = np.abs(cpu.texture.albedo_srgb.astype(np.int16) - gpu.texture.albedo_srgb.astype(np.int16))
    print(f"albedo: PSNR {psnr:.1f} dB, mean |diff| {diff.mean():.2f}/255, max {diff.max()}/255")
    assert psnr >= ALBEDO_PSNR_DB
