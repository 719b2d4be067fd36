"""Differentiable rendering with nvdiffrast's API shape: a pure-PyTorch CPU backend and optional nvdiffrast.

Typical pipeline (all tensors ``[B, H, W, C]``, row 0 = top of the photo)::

    ctx = make_context("cpu")
    clip = opencv_to_clip(vertices, K, R, t, width, height)        # [B, V, 4]
    rast, _ = rasterize(ctx, clip, faces, (height, width), grad_db=False)
    normals, _ = interpolate(vertex_normals, rast, faces)
    color = albedo * sh_shading(normals, coeffs)
    color = antialias(color, rast, clip, faces, topology)

CPU performance notes (torch backend; ``python bench/bench_render.py`` prints the figures):
    * pass ``grad_db=False`` unless ``rast_db`` is used (mip-mapping / ``diff_attrs``);
    * interpolate all per-vertex attributes in one call (``torch.cat`` them): each call re-finds the
      covered pixels and gathers the triangle corners;
    * build ``antialias_construct_topology_hash(faces)`` once per topology;
    * the backward passes of rasterize / interpolate / sh_shading are hand-written (first-order only).
"""
from __future__ import annotations

from engine.render.camera import opencv_to_clip, project_points, uv_to_clip
from engine.render.errors import BackendUnavailableError, RenderArgumentError
from engine.render.ops import (
    RenderContext,
    Topology,
    antialias,
    antialias_construct_topology_hash,
    interpolate,
    make_context,
    nvdiffrast_available,
    nvdiffrast_usable,
    rasterize,
    resolve_backend,
    sample_image,
    texture,
)
from engine.render.sh import sh_basis, sh_from_directional, sh_shading

__all__ = [
    "RenderContext",
    "Topology",
    "make_context",
    "nvdiffrast_available",
    "nvdiffrast_usable",
    "resolve_backend",
    "rasterize",
    "interpolate",
    "texture",
    "antialias",
    "antialias_construct_topology_hash",
    "sample_image",
    "opencv_to_clip",
    "project_points",
    "uv_to_clip",
    "sh_basis",
    "sh_shading",
    "sh_from_directional",
    "RenderArgumentError",
    "BackendUnavailableError",
]
