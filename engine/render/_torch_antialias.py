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


def _pairs(tid: torch.Tensor, h: int, w: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Flat indices (p0, p1) of adjacent pixel pairs with different triangle ids, and a 'vertical' flag."""
    bhw = tid.numel()
    idx = torch.arange(bhw, device=tid.device).view(-1, h, w)
    t = tid.view(-1, h, w)
    hmask = t[:, :, :-1] != t[:, :, 1:]
    vmask = t[:, :-1, :] != t[:, 1:, :]
    ph = idx[:, :, :-1][hmask]
    pv = idx[:, :-1, :][vmask]
    p0 = torch.cat((ph, pv))
    vert = torch.cat((torch.zeros_like(ph, dtype=torch.bool), torch.ones_like(pv, dtype=torch.bool)))
    p1 = p0 + torch.where(vert, w, 1)
    return p0, p1, vert


def _same_sign(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.signbit(a) == torch.signbit(b)


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
    flat_r = rast.detach().reshape(-1, 4)
    tid = flat_r[:, 3].long()
    p0, p1, vert = _pairs(tid, h, w)
    col = color.reshape(-1, c)
    if p0.numel() == 0:
        return color.clone()
    t0, t1 = tid[p0], tid[p1]
    z0, z1 = flat_r[p0, 2], flat_r[p1, 2]
    use1 = (t0 == 0) | ((t1 > 0) & ~(z0 < z1))
    own = torch.where(use1, p1, p0)
    ds = torch.where(use1, -1.0, 1.0).to(pos.dtype)
    tri_idx = torch.where(use1, t1, t0) - 1
    vi = tri[tri_idx]  # [N, 3]
    op = topology.opposite.to(tri.device)[tri_idx]
    op = torch.where(op < 0, vi, op)
    if pos.dim() == 3:
        base = (own // (h * w))[:, None] * pos.shape[1]
        vi, op = vi + base, op + base
    pflat = pos.reshape(-1, 4)
    if pos_gradient_boost != 1.0:
        pflat = pflat * pos_gradient_boost - pflat.detach() * (pos_gradient_boost - 1.0)
    # pixel-space coords relative to the occluder pixel centre; vertical pairs swap x and y
    ox = (own % w).to(pos.dtype) + 0.5
    oy = ((own // w) % h).to(pos.dtype) + 0.5
    pv = pflat[vi]  # [N, 3, 4]
    sx = (pv[..., 0] / pv[..., 3] + 1.0) * (0.5 * w) - ox[:, None]
    sy = (pv[..., 1] / pv[..., 3] + 1.0) * (0.5 * h) - oy[:, None]
    x = torch.where(vert[:, None], sy, sx)
    y = torch.where(vert[:, None], sx, sy)
    with torch.no_grad():
        po = pflat.detach()[op]
        oxs = (po[..., 0] / po[..., 3] + 1.0) * (0.5 * w) - ox[:, None]
        oys = (po[..., 1] / po[..., 3] + 1.0) * (0.5 * h) - oy[:, None]
        qx = torch.where(vert[:, None], oys, oxs)
        qy = torch.where(vert[:, None], oxs, oys)
        xd, yd = x.detach(), y.detach()
        k1, k2 = (1, 2, 0), (2, 0, 1)
        bb = (xd[:, 1] - xd[:, 0]) * (yd[:, 2] - yd[:, 0]) - (xd[:, 2] - xd[:, 0]) * (yd[:, 1] - yd[:, 0])
        wing = (xd[:, k1] - qx) * (yd[:, k2] - qy) - (xd[:, k2] - qx) * (yd[:, k1] - qy)  # [N, 3]
        silhouette = _same_sign(wing, bb[:, None])
    # edge k runs from vertex k+1 to k+2; its crossing of the line y = 0 (the pixel-pair segment)
    xa, ya, xb, yb = x[:, k1], y[:, k1], x[:, k2], y[:, k2]
    dx, dy = xb - xa, yb - ya
    with torch.no_grad():
        crosses = ~_same_sign(ya.detach(), yb.detach())
        dyd = torch.where(crosses, dy.detach(), torch.ones_like(dy))
        rd = ds[:, None] * (xa.detach() * dyd - ya.detach() * torch.where(crosses, dx.detach(), 0.0)) / dyd
        rd = torch.where(crosses, rd, torch.full_like(rd, -torch.inf))
        k = rd.argmax(1, keepdim=True)
        steep = (dy.detach().abs() >= dx.detach().abs()).gather(1, k).squeeze(1)
        ok = silhouette.gather(1, k).squeeze(1) & steep & crosses.gather(1, k).squeeze(1)
        dsel = rd.gather(1, k).squeeze(1)
        ok &= (dsel > -_EPS) & (dsel < 1.0 + _EPS)
    keep = torch.nonzero(ok).squeeze(1)
    if keep.numel() == 0:
        return color.clone()
    kk = k[keep]
    xa_, ya_ = xa[keep].gather(1, kk).squeeze(1), ya[keep].gather(1, kk).squeeze(1)
    dx_, dy_ = dx[keep].gather(1, kk).squeeze(1), dy[keep].gather(1, kk).squeeze(1)
    dc = ds[keep] * (xa_ - ya_ * dx_ / dy_)
    dc = dc.clamp(0.0, 1.0)
    alpha = ds[keep] * (0.5 - dc)
    q0, q1 = p0[keep], p1[keep]
    target = torch.where(alpha.detach() > 0, q0, q1)
    delta = alpha[:, None] * (col[q1] - col[q0])
    return torch.index_add(col, 0, target, delta).view(b, h, w, c)
