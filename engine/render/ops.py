"""The renderer's public surface: nvdiffrast-shaped ops over two backends.

Backends
    ``"torch"``: vectorised pure PyTorch (any device, the default on CPU; see ``_torch_raster``).
    ``"nvdiffrast"``: ``nvdiffrast.torch`` on CUDA tensors, only if it imports (optional, never a
    dependency: its licence is non-commercial). ``"auto"`` picks nvdiffrast for CUDA tensors when it is
    importable, else torch. Both backends follow the same conventions, so callers never branch.

Conventions (nvdiffrast's, see docs/conventions.md)
    * ``pos``: clip-space positions float32 ``[B, V, 4]`` (instanced mode) or ``[V, 4]`` with
      ``ranges`` int32 ``[B, 2]`` = (first triangle, triangle count) per image (range mode).
    * ``tri``: int32 ``[F, 3]`` vertex indices (int64 accepted by the torch backend).
    * Pixel (row r, column c) samples NDC ``((2c + 1)/W - 1, (2r + 1)/H - 1)``: row 0 is NDC y = -1.
    * ``rast`` ``[B, H, W, 4]`` = ``(u, v, z/w, triangle_id + 1)``; 0 in all channels = background.
      ``(u, v)`` are perspective-correct barycentric weights of the triangle's vertices 0 and 1
      (vertex 2 gets ``1 - u - v``). In range mode the triangle id indexes ``tri`` globally.
    * Images are ``[B, H, W, C]`` float, row 0 = top (= NDC y -1).
    * UVs for :func:`texture` are v-up (OBJ): texel (row, col) of an ``[H, W, C]`` texture is centred at
      ``u = (col + 0.5)/W, v = 1 - (row + 0.5)/H``.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch

from engine.render import _nvdiffrast_backend as _ndr
from engine.render._checks import check_float, check_image, check_ranges, check_resolution, check_tri
from engine.render._torch_antialias import Topology, antialias_torch, construct_topology
from engine.render._torch_raster import interpolate_torch, make_instances, rasterize_torch
from engine.render._torch_texture import sample_image_torch, texture_torch
from engine.render.errors import BackendUnavailableError, RenderArgumentError

__all__ = [
    "BackendName",
    "RenderContext",
    "Topology",
    "nvdiffrast_available",
    "nvdiffrast_usable",
    "resolve_backend",
    "make_context",
    "rasterize",
    "interpolate",
    "texture",
    "antialias",
    "antialias_construct_topology_hash",
    "sample_image",
]

BackendName = Literal["auto", "torch", "nvdiffrast"]


@dataclass(frozen=True)
class RenderContext:
    """What :func:`rasterize` runs on (the counterpart of nvdiffrast's ``RasterizeCudaContext``).

    ``backend`` is the resolved backend ("torch" or "nvdiffrast"), ``device`` where tensors must live,
    ``native`` the nvdiffrast context object (None for torch).
    """

    backend: Literal["torch", "nvdiffrast"]
    device: torch.device
    native: object | None = None


def nvdiffrast_available() -> bool:
    """True if ``import nvdiffrast.torch`` works in this process."""
    return _ndr.nvdiffrast_module() is not None


def nvdiffrast_usable(device: torch.device | str) -> bool:
    """True if nvdiffrast imports *and* its CUDA extension builds and makes a context on ``device``
    (the first call may take minutes while nvdiffrast compiles itself; cached per device)."""
    dev = torch.device(device)
    return dev.type == "cuda" and nvdiffrast_available() and _ndr.native_context_works(dev)


def resolve_backend(backend: str, device: torch.device | str) -> Literal["torch", "nvdiffrast"]:
    """Turn ``"auto" | "torch" | "nvdiffrast"`` into the backend that will run for tensors on ``device``.

    Raises :class:`RenderArgumentError` for an unknown name and :class:`BackendUnavailableError` when
    nvdiffrast is asked for explicitly but is not importable or the device is not CUDA.
    """
    dev = torch.device(device)
    if backend == "torch":
        return "torch"
    if backend == "nvdiffrast":
        if dev.type != "cuda":
            raise BackendUnavailableError(f"The nvdiffrast backend needs CUDA tensors, got device {dev}.")
        if not nvdiffrast_available():
            raise BackendUnavailableError(
                "nvdiffrast is not installed.", hint="use backend='torch' or 'auto', or install nvdiffrast yourself"
            )
        return "nvdiffrast"
    if backend == "auto":
        return "nvdiffrast" if dev.type == "cuda" and nvdiffrast_available() else "torch"
    raise RenderArgumentError(f"backend must be 'auto', 'torch' or 'nvdiffrast', got {backend!r}.")


def make_context(device: torch.device | str = "cpu", backend: BackendName = "auto") -> RenderContext:
    """Create the rasterization context for ``device`` (cheap for torch; builds the CUDA context for nvdiffrast)."""
    dev = torch.device(device)
    name = resolve_backend(backend, dev)
    native = _ndr.make_native_context(dev) if name == "nvdiffrast" else None
    return RenderContext(name, dev, native)


def _check_device(ctx: RenderContext, t: torch.Tensor) -> None:
    if ctx.backend == "nvdiffrast" and t.device.type != "cuda":
        raise RenderArgumentError(f"This nvdiffrast context needs CUDA tensors, got pos on {t.device}.")


def rasterize(
    ctx: RenderContext | None,
    pos: torch.Tensor,
    tri: torch.Tensor,
    resolution: Sequence[int],
    ranges: torch.Tensor | None = None,
    grad_db: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rasterize triangles with a z-buffer.

    Args:
        ctx: from :func:`make_context`; None means ``make_context(pos.device)``.
        pos: clip-space vertices, float32 (float64 on the torch backend) ``[B, V, 4]`` or ``[V, 4]``.
        tri: int32 ``[F, 3]``.
        resolution: ``(height, width)``.
        ranges: range mode only, int32 ``[B, 2]`` (start, count) into ``tri``; None draws all of
            ``tri`` into one image.
        grad_db: compute ``rast_db`` (and propagate its gradient); False returns ``[B, H, W, 0]``.

    Returns:
        ``rast`` ``[B, H, W, 4]`` = (u, v, z/w, triangle_id + 1), gradients flow into ``pos`` through
        (u, v); ``rast_db`` ``[B, H, W, 4]`` = (du/dX, du/dY, dv/dX, dv/dY) in pixel units.

    Torch backend specifics: triangles with any vertex at ``w <= 0`` are skipped (no near-plane
    clipping), fragments with z/w outside [-1, 1] are discarded, no back-face culling, equal depths
    resolve to the lower triangle index.
    """
    pos = check_float("pos", pos, (2, 3), last=4)
    h, w = check_resolution(resolution)
    num_v = pos.shape[-2]
    tri64 = check_tri(tri, num_v)
    if pos.dim() == 2:
        rng = None if ranges is None else check_ranges(ranges, tri64.shape[0])
    else:
        rng = None
    if ctx is None:
        ctx = make_context(pos.device)
    _check_device(ctx, pos)
    if ctx.backend == "nvdiffrast":
        return _ndr.rasterize(ctx.native, pos, tri, (h, w), ranges if pos.dim() == 2 else None, grad_db)
    inst = make_instances(pos, tri64.to(pos.device), rng)
    return rasterize_torch(inst, h, w, bool(grad_db))


def _diff_list(diff_attrs: Sequence[int] | str | None, c: int) -> list[int] | None:
    if diff_attrs is None:
        return None
    if diff_attrs == "all":
        return list(range(c))
    if isinstance(diff_attrs, str):
        raise RenderArgumentError(f"diff_attrs must be a list of ints or 'all', got {diff_attrs!r}.")
    out = [int(i) + c if int(i) < 0 else int(i) for i in diff_attrs]
    if any(i < 0 or i >= c for i in out):
        raise RenderArgumentError(f"diff_attrs {list(diff_attrs)} out of range for {c} attributes.")
    return out


def interpolate(
    attr: torch.Tensor,
    rast: torch.Tensor,
    tri: torch.Tensor,
    rast_db: torch.Tensor | None = None,
    diff_attrs: Sequence[int] | str | None = None,
    backend: BackendName = "auto",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Interpolate per-vertex attributes with the rasterizer's barycentrics.

    Args:
        attr: float ``[V, C]`` (range mode, or shared by all images) or ``[B, V, C]`` (instanced mode;
            ``B = 1`` broadcasts).
        rast: ``rast`` from :func:`rasterize` ``[B, H, W, 4]``.
        tri: the ``tri`` given to :func:`rasterize`.
        rast_db: ``rast_db`` from :func:`rasterize`; needed with ``diff_attrs``.
        diff_attrs: attribute indices (or ``"all"``) whose screen-space derivatives to return.

    Returns:
        ``out`` ``[B, H, W, C]`` (0 on background) and ``out_da`` ``[B, H, W, 2 * len(diff_attrs)]``
        = (dA/dX, dA/dY) per selected attribute in pixel units (``[B, H, W, 0]`` when not asked for).
        Gradients flow into ``attr`` and into ``rast`` (u, v) / ``rast_db``.
    """
    attr = check_float("attr", attr, (2, 3))
    rast = check_image("rast", rast)
    if rast.shape[-1] != 4:
        raise RenderArgumentError(f"rast must be [B, H, W, 4], got {tuple(rast.shape)}.")
    if attr.dim() == 3 and attr.shape[0] not in (1, rast.shape[0]):
        raise RenderArgumentError(f"attr minibatch {attr.shape[0]} does not match rast minibatch {rast.shape[0]}.")
    tri64 = check_tri(tri, attr.shape[-2])
    dl = _diff_list(diff_attrs, attr.shape[-1])
    if dl and (rast_db is None or rast_db.shape[-1] != 4):
        raise RenderArgumentError("diff_attrs needs rast_db from rasterize(..., grad_db=True).")
    if resolve_backend(backend, rast.device) == "nvdiffrast":
        return _ndr.interpolate(attr, rast, tri, rast_db, dl)
    return interpolate_torch(attr, rast, tri64.to(rast.device), rast_db, dl)


def texture(
    tex: torch.Tensor,
    uv: torch.Tensor,
    filter_mode: str = "auto",
    boundary_mode: str = "wrap",
    backend: BackendName = "auto",
) -> torch.Tensor:
    """Sample a 2D texture.

    Args:
        tex: float ``[B, Ht, Wt, C]`` (``B = 1`` broadcasts), row 0 = top of the image.
        uv: float ``[B, H, W, 2]`` texture coordinates, **v up** (see module docstring).
        filter_mode: ``"auto"`` (= ``"linear"``, bilinear) or ``"nearest"``; mipmapped modes are not
            available on the torch backend.
        boundary_mode: ``"wrap"`` (default, as nvdiffrast), ``"clamp"`` (to border texel centres), ``"zero"``.

    Returns:
        ``[B, H, W, C]``; differentiable in ``tex`` and (bilinear) ``uv``.
    """
    tex = check_image("tex", tex)
    uv = check_float("uv", uv, (4,), last=2)
    if resolve_backend(backend, uv.device) == "nvdiffrast":
        return _ndr.texture(tex, uv, filter_mode, boundary_mode)
    return texture_torch(tex, uv, filter_mode, boundary_mode)


def antialias_construct_topology_hash(tri: torch.Tensor, backend: BackendName = "auto") -> Topology:
    """Precompute edge adjacency for :func:`antialias` (do it once per fixed topology, e.g. the head)."""
    tri64 = check_tri(tri)
    topo = construct_topology(tri64)
    if resolve_backend(backend, tri.device) == "nvdiffrast":
        return Topology(topo.opposite, _ndr.construct_topology_hash(tri))
    return topo


def antialias(
    color: torch.Tensor,
    rast: torch.Tensor,
    pos: torch.Tensor,
    tri: torch.Tensor,
    topology_hash: Topology | None = None,
    pos_gradient_boost: float = 1.0,
    backend: BackendName = "auto",
) -> torch.Tensor:
    """Blend silhouette pixels by analytic edge coverage so silhouettes get position gradients.

    Args:
        color: ``[B, H, W, C]`` shaded image (e.g. from :func:`interpolate` / :func:`texture`).
        rast, pos, tri: exactly what went into / came out of :func:`rasterize`.
        topology_hash: from :func:`antialias_construct_topology_hash` (built here if None).
        pos_gradient_boost: multiplier on the gradient sent to ``pos``.

    Returns:
        ``[B, H, W, C]`` antialiased image. The torch backend's approximation is described in
        ``engine/render/_torch_antialias.py`` (1D analytic coverage across one silhouette edge per
        adjacent pixel pair, as nvdiffrast).
    """
    color = check_image("color", color)
    rast = check_image("rast", rast)
    pos = check_float("pos", pos, (2, 3), last=4)
    tri64 = check_tri(tri, pos.shape[-2])
    if color.shape[:3] != rast.shape[:3]:
        raise RenderArgumentError(f"color {tuple(color.shape)} and rast {tuple(rast.shape)} differ in B, H, W.")
    if resolve_backend(backend, color.device) == "nvdiffrast":
        native = topology_hash.native if topology_hash is not None else None
        return _ndr.antialias(color, rast, pos, tri, native, pos_gradient_boost)
    topo = topology_hash if topology_hash is not None else construct_topology(tri64)
    return antialias_torch(color, rast, pos, tri64.to(color.device), topo, float(pos_gradient_boost))


def sample_image(img: torch.Tensor, pixel_xy: torch.Tensor, padding_mode: str = "border") -> torch.Tensor:
    """Bilinearly sample a photo ``img`` ``[B|1, H, W, C]`` at pixel coordinates ``pixel_xy`` ``[B, ..., 2]``.

    ``pixel_xy`` = (column, row) with pixel centres at integers (as ``pixel = K (R X + t)``), e.g. the
    projection of mesh vertices or of rasterized surface points. Returns ``[B, ..., C]``, differentiable
    in both inputs. ``padding_mode``: ``"border"`` (clamp) or ``"zeros"``.
    """
    img = check_image("img", img)
    pixel_xy = check_float("pixel_xy", pixel_xy, tuple(range(2, 8)), last=2)
    return sample_image_torch(img, pixel_xy, padding_mode)
