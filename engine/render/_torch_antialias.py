"""Analytic silhouette antialiasing in pure PyTorch (the CPU counterpart of nvdiffrast's ``antialias``).

What it approximates: the box-filtered coverage of a silhouette edge, measured in one dimension.
For every pair of horizontally or vertically adjacent pixels whose triangle ids differ, the nearer
triangle (or the only one, next to background) is taken as the occluder. If the edge through which
the centre-to-centre segment leaves that triangle is a *silhouette edge* (a mesh boundary, or an edge
whose neighbouring triangle folds back behind it in screen space) and is closer to perpendicular to
the segment than parallel to it, the crossing point ``d`` (0 = occluder pixel centre, 1 = the other
centre) tells how far the occluding surface reaches: the pixel on whose half the crossing lies is
blended with its neighbour by ``|0.5 - d|``. Gradients flow into ``pos`` through ``d`` (so silhouettes
move under the loss) and into ``color``. Limits: one edge per pixel pair, no corner or sub-pixel
triangle coverage, interior (non-silhouette) discontinuities are left alone — the same scope as
nvdiffrast's ``antialias`` (Laine et al. 2020, "Modular Primitives for High-Performance
Differentiable Rendering", Sec. 3.4), re-derived here, not copied.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["Topology", "construct_topology", "antialias_torch"]

_EPS = 1.0 / 16.0  # tolerated crossing slack beyond the segment (pixels)


@dataclass(frozen=True)
class Topology:
    """Edge adjacency of a triangle list, built once per topology.

    ``opposite`` [F, 3] int64: for edge k of triangle f (the edge facing vertex k, i.e. between
    vertices k+1 and k+2), the vertex of the neighbouring triangle across that edge that is not on
    the edge, or -1 where the edge is a mesh boundary (or a third+ face of a non-manifold edge).
    ``native`` is the nvdiffrast topology hash when that backend built it, else None.
    """

    opposite: torch.Tensor
    native: object | None = None


def construct_topology(tri: torch.Tensor) -> Topology:
    """Build :class:`Topology` for ``tri`` int [F, 3] (vectorised: sort edges by their vertex pair)."""
    tri = tri.long()
    f = tri.shape[0]
    a = tri[:, (1, 2, 0)].reshape(-1)
    b = tri[:, (2, 0, 1)].reshape(-1)
    lo, hi = torch.minimum(a, b), torch.maximum(a, b)
    nv = int(tri.max()) + 1 if f else 1
    key = lo * nv + hi
    order = torch.argsort(key, stable=True)
    ks = key[order]
    opp_vertex = tri.reshape(-1)  # edge k of face f faces vertex tri[f, k]
    opposite = torch.full((3 * f,), -1, dtype=torch.int64, device=tri.device)
    pair = torch.nonzero(ks[1:] == ks[:-1]).squeeze(1)
    e0, e1 = order[pair], order[pair + 1]
    opposite[e0] = opp_vertex[e1]
    opposite[e1] = opp_vertex[e0]
    return Topology(opposite.view(f, 3))


def _silhouette_edges(scr: torch.Tensor, vi: torch.Tensor, op: torch.Tensor) -> torch.Tensor:
    """[N, 3] bool: edge k (vertices k+1, k+2) of each triangle is a silhouette in screen space.

    True when the vertex across the edge (``op``; the triangle's own vertex k where the edge is a
    boundary) lies on the same side of the edge as the triangle itself, i.e. the surface folds there.
    ``scr`` [N_v, 2] screen positions, ``vi`` / ``op`` [N, 3] vertex rows.
    """
    p = scr[vi]  # [N, 3, 2]
    o = scr[op]
    x, y = p[..., 0], p[..., 1]
    bb = (x[:, 1] - x[:, 0]) * (y[:, 2] - y[:, 0]) - (x[:, 2] - x[:, 0]) * (y[:, 1] - y[:, 0])
    k1, k2 = (1, 2, 0), (2, 0, 1)
    ox, oy = o[..., 0], o[..., 1]
    wing = (x[:, k1] - ox) * (y[:, k2] - oy) - (x[:, k2] - ox) * (y[:, k1] - oy)
    return _same_sign(wing, bb[:, None])


def _same_sign(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.signbit(a) == torch.signbit(b)


def _candidate_pairs(
    tid: torch.Tensor, has_sil: torch.Tensor, h: int, w: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Adjacent pixel pairs (p0, p1) with different triangle ids where either triangle has a silhouette edge.

    ``tid`` [B*H*W] int64 (0 = background), ``has_sil`` [F + 1] bool indexed by ``tid``. Returns flat
    indices p0, p1 = p0 + 1 (horizontal) or p0 + W (vertical) and a bool 'vertical' flag.
    """
    t = tid.view(-1, h, w)
    s = has_sil.index_select(0, tid).view(-1, h, w)
    hmask = (t[:, :, :-1] != t[:, :, 1:]) & (s[:, :, :-1] | s[:, :, 1:])
    vmask = (t[:, :-1, :] != t[:, 1:, :]) & (s[:, :-1, :] | s[:, 1:, :])
    bh, rh, ch = torch.nonzero(hmask, as_tuple=True)
    bv, rv, cv = torch.nonzero(vmask, as_tuple=True)
    ph = (bh * h + rh) * w + ch
    pv = (bv * h + rv) * w + cv
    p0 = torch.cat((ph, pv))
    vert = torch.cat((torch.zeros_like(ph, dtype=torch.bool), torch.ones_like(pv, dtype=torch.bool)))
    return p0, p0 + torch.where(vert, w, 1), vert


def _screen(pflat: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Screen positions [N_v, 2] in pixels (pixel centres at i + 0.5), differentiable."""
    inv = 1.0 / pflat[:, 3]
    return torch.stack(((pflat[:, 0] * inv + 1.0) * (0.5 * w), (pflat[:, 1] * inv + 1.0) * (0.5 * h)), 1)


@dataclass(frozen=True)
class _Pairs:
    """Candidate pixel pairs with their occluding triangle (all [N]; no autograd)."""

    p0: torch.Tensor  # first pixel (left / upper), flat index into B*H*W
    p1: torch.Tensor  # second pixel (right / lower)
    vert: torch.Tensor  # bool: vertical pair
    ds: torch.Tensor  # +1 if the occluder covers p0, -1 if it covers p1
    inst: torch.Tensor  # occluding triangle instance (image * F + triangle)
    ox: torch.Tensor  # occluder pixel centre, screen x (pixels)
    oy: torch.Tensor  # occluder pixel centre, screen y


@torch.no_grad()
def _occluders(tid: torch.Tensor, zw: torch.Tensor, p0: torch.Tensor, p1: torch.Tensor, vert: torch.Tensor,
               f: int, h: int, w: int, instanced: bool, dtype: torch.dtype) -> _Pairs:
    """Pick the nearer triangle of each pair (the only one next to background) as the occluder."""
    t0, t1 = tid.index_select(0, p0), tid.index_select(0, p1)
    z0, z1 = zw.index_select(0, p0), zw.index_select(0, p1)
    use1 = (t0 == 0) | ((t1 > 0) & ~(z0 < z1))
    own = torch.where(use1, p1, p0)
    img = own // (h * w) if instanced else torch.zeros_like(own)
    inst = img * f + torch.where(use1, t1, t0) - 1
    ox = (own % w).to(dtype) + 0.5
    oy = ((own // w) % h).to(dtype) + 0.5
    return _Pairs(p0, p1, vert, torch.where(use1, -1.0, 1.0).to(dtype), inst, ox, oy)


def _crossings(pairs: _Pairs, scr: torch.Tensor, vi_all: torch.Tensor, sil: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """Where the occluder's exit edge crosses the centre-to-centre segment.

    Returns the indices of the pairs whose exit edge is a steep-enough silhouette edge crossing the
    segment, and for them the crossing position ``d`` in [0, 1] measured from the occluder's pixel
    centre (differentiable w.r.t. ``scr``).
    """
    vi = vi_all.index_select(0, pairs.inst)  # [N, 3]
    pv = scr[vi]  # [N, 3, 2]
    sx = pv[..., 0] - pairs.ox[:, None]
    sy = pv[..., 1] - pairs.oy[:, None]
    vert = pairs.vert[:, None]
    x = torch.where(vert, sy, sx)  # vertical pairs: swap axes so the segment is always along +x
    y = torch.where(vert, sx, sy)
    k1, k2 = (1, 2, 0), (2, 0, 1)  # edge k runs from vertex k+1 to k+2
    xa, ya, yb = x[:, k1], y[:, k1], y[:, k2]
    dx, dy = x[:, k2] - xa, yb - ya
    ds = pairs.ds
    with torch.no_grad():
        crosses = ~_same_sign(ya.detach(), yb.detach())
        dyd = torch.where(crosses, dy.detach(), torch.ones_like(dy))
        rd = ds[:, None] * (xa.detach() - ya.detach() * torch.where(crosses, dx.detach(), 0.0) / dyd)
        rd = torch.where(crosses, rd, torch.full_like(rd, -torch.inf))
        k = rd.argmax(1, keepdim=True)  # the exit edge: farthest crossing towards the neighbour
        steep = (dy.detach().abs() >= dx.detach().abs()).gather(1, k).squeeze(1)
        ok = sil.index_select(0, pairs.inst).gather(1, k).squeeze(1) & steep & crosses.gather(1, k).squeeze(1)
        dsel = rd.gather(1, k).squeeze(1)
        ok &= (dsel > -_EPS) & (dsel < 1.0 + _EPS)
        keep = torch.nonzero(ok).squeeze(1)
    kk = k[keep]
    xa_, ya_ = xa[keep].gather(1, kk).squeeze(1), ya[keep].gather(1, kk).squeeze(1)
    dx_, dy_ = dx[keep].gather(1, kk).squeeze(1), dy[keep].gather(1, kk).squeeze(1)
    return keep, (ds[keep] * (xa_ - ya_ * dx_ / dy_)).clamp(0.0, 1.0)


def antialias_torch(
    color: torch.Tensor,
    rast: torch.Tensor,
    pos: torch.Tensor,
    tri: torch.Tensor,
    topology: Topology,
    pos_gradient_boost: float = 1.0,
) -> torch.Tensor:
    """Antialias ``color`` [B,H,W,C] at silhouettes of the mesh rasterized into ``rast`` (see module doc)."""
    b, h, w, c = color.shape
    f = tri.shape[0]
    flat_r = rast.detach().reshape(-1, 4)
    tid = flat_r[:, 3].long()
    col = color.reshape(-1, c)
    pflat = pos.reshape(-1, 4)
    if pos_gradient_boost != 1.0:
        pflat = pflat * pos_gradient_boost - pflat.detach() * (pos_gradient_boost - 1.0)
    scr = _screen(pflat, h, w)
    # silhouette edges per (image, triangle); vertex rows offset per image in instanced mode
    nb = pos.shape[0] if pos.dim() == 3 else 1
    vbase = (torch.arange(nb, device=tri.device) * (pos.shape[1] if pos.dim() == 3 else 0))[:, None, None]
    opp = topology.opposite.to(tri.device)
    vi_all = (tri[None] + vbase).reshape(-1, 3)
    op_all = (torch.where(opp < 0, tri, opp)[None] + vbase).reshape(-1, 3)
    with torch.no_grad():
        sil = _silhouette_edges(scr.detach(), vi_all, op_all)  # [nb * F, 3]
        # indexed by triangle id + 1; in instanced mode a triangle counts if it folds in any image
        has_sil = torch.cat((torch.zeros(1, dtype=torch.bool, device=tid.device), sil.any(1).view(nb, f).any(0)))
        p0, p1, vert = _candidate_pairs(tid, has_sil, h, w)
    if p0.numel() == 0:
        return color.clone()
    pairs = _occluders(tid, flat_r[:, 2], p0, p1, vert, f, h, w, pos.dim() == 3, pos.dtype)
    keep, dc = _crossings(pairs, scr, vi_all, sil)
    if keep.numel() == 0:
        return color.clone()
    # the pixel on whose half the crossing lies takes |0.5 - d| of its neighbour's colour
    alpha = pairs.ds[keep] * (0.5 - dc)
    q0, q1 = p0[keep], p1[keep]
    target = torch.where(alpha.detach() > 0, q0, q1)
    delta = alpha[:, None] * (col.index_select(0, q1) - col.index_select(0, q0))
    return torch.index_add(col, 0, target, delta).view(b, h, w, c)
