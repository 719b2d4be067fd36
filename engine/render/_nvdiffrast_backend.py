"""Optional nvdiffrast backend: thin calls into ``nvdiffrast.torch`` for CUDA tensors.

nvdiffrast (NVIDIA Source Code License, non-commercial) is never a dependency of this project: it is
imported lazily, only when a caller asks for it (``backend="nvdiffrast"``) or when ``backend="auto"``
sees CUDA tensors and the import succeeds. Nothing here is copied from nvdiffrast; these wrappers
only adapt our conventions to its documented API. The one convention that differs is texture
``v``: nvdiffrast samples row 0 at ``v = 0``; our UVs are v-up (row 0 at ``v = 1``), so
:func:`texture` passes ``(u, 1 - v)``.
"""
from __future__ import annotations

import functools
from types import ModuleType

import torch

__all__ = ["nvdiffrast_module", "native_context_works", "make_native_context", "rasterize", "interpolate", "texture",
           "antialias",
           "construct_topology_hash"]


@functools.lru_cache(maxsize=1)
def nvdiffrast_module() -> ModuleType | None:
    """``nvdiffrast.torch`` if it imports, else None (cached: the answer cannot change in a process)."""
    try:
        import nvdiffrast.torch as dr  # noqa: PLC0415  (optional, licence-restricted)
    except Exception:  # ImportError, or a broken CUDA extension build
        return None
    return dr


@functools.lru_cache(maxsize=8)
def native_context_works(device: torch.device) -> bool:
    """True if a rasterizer context can be made on the CUDA ``device`` (cached per device).

    ``import nvdiffrast.torch`` succeeds before its CUDA extension is built: the build happens at the
    first context, and fails without a compiler, ninja or the CUDA headers. This probe makes that
    failure a "not usable" answer instead of an error in the middle of a reconstruction.
    """
    if nvdiffrast_module() is None or torch.device(device).type != "cuda":
        return False
    try:
        make_native_context(torch.device(device))
    except Exception:  # the extension's build or load failed, or the device cannot be used
        return False
    return True


def _dr() -> ModuleType:
    dr = nvdiffrast_module()
    if dr is None:  # callers check availability first; this guards direct use
        from engine.render.errors import BackendUnavailableError

        raise BackendUnavailableError("nvdiffrast is not importable in this environment.")
    return dr


def _tri(tri: torch.Tensor, device: torch.device) -> torch.Tensor:
    """int32 contiguous triangle indices on ``device`` (nvdiffrast reads them on the GPU)."""
    return tri.to(device=device, dtype=torch.int32).contiguous()


def make_native_context(device: torch.device) -> object:
    """A ``RasterizeCudaContext`` on ``device`` (falls back to ``RasterizeGLContext`` on old versions)."""
    dr = _dr()
    if hasattr(dr, "RasterizeCudaContext"):
        return dr.RasterizeCudaContext(device=device)
    return dr.RasterizeGLContext(device=device)


def rasterize(native: object, pos: torch.Tensor, tri: torch.Tensor, resolution: tuple[int, int],
              ranges: torch.Tensor | None, grad_db: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """``nvdiffrast.torch.rasterize`` with float32 contiguous pos and int32 tri."""
    r = None if ranges is None else ranges.to("cpu", torch.int32).contiguous()
    return _dr().rasterize(native, pos.float().contiguous(), _tri(tri, pos.device), resolution,
                           ranges=r, grad_db=grad_db)


def interpolate(attr: torch.Tensor, rast: torch.Tensor, tri: torch.Tensor, rast_db: torch.Tensor | None,
                diff_attrs: list[int] | None) -> tuple[torch.Tensor, torch.Tensor]:
    """``nvdiffrast.torch.interpolate``."""
    return _dr().interpolate(attr.float().contiguous(), rast, _tri(tri, rast.device), rast_db=rast_db,
                             diff_attrs=diff_attrs)


def texture(tex: torch.Tensor, uv: torch.Tensor, filter_mode: str, boundary_mode: str) -> torch.Tensor:
    """``nvdiffrast.torch.texture`` with our v-up UVs flipped to its row-0-at-v=0 convention."""
    uv_dr = torch.stack((uv[..., 0], 1.0 - uv[..., 1]), -1).float().contiguous()
    return _dr().texture(tex.float().contiguous(), uv_dr, filter_mode=filter_mode, boundary_mode=boundary_mode)


def construct_topology_hash(tri: torch.Tensor) -> object:
    """``nvdiffrast.torch.antialias_construct_topology_hash``."""
    return _dr().antialias_construct_topology_hash(tri.int().contiguous())


def antialias(color: torch.Tensor, rast: torch.Tensor, pos: torch.Tensor, tri: torch.Tensor,
              topology_hash: object | None, pos_gradient_boost: float) -> torch.Tensor:
    """``nvdiffrast.torch.antialias``."""
    return _dr().antialias(color.float().contiguous(), rast, pos.float().contiguous(), _tri(tri, color.device),
                           topology_hash=topology_hash, pos_gradient_boost=pos_gradient_boost)
