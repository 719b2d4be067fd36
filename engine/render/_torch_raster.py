"""Pure-PyTorch rasterizer and attribute interpolation (the CPU backend).

Two phases:

1. **Visibility, no autograd.** Every triangle instance is scan-converted into exact per-pixel
   fragments: rows whose centre lies in ``[y_top, y_bottom)``, then per row the columns whose centre
   lies in ``[x_left, x_right)``. Edge crossings are computed from the edge's two endpoints in a
   canonical (top, bottom) order, so two triangles sharing an edge get bit-identical crossings and
   the pixel set is partitioned exactly (watertight, no double coverage). Each fragment gets its
   ``z/w`` (affine in screen space) and a packed int64 key ``sortable(z/w) << 31 | instance``; a
   ``scatter_reduce('amin')`` over the pixel buffer is the z-buffer (ties: lower triangle index wins).
2. **Barycentrics, with autograd.** For the winning triangle of each covered pixel the perspective-
   correct barycentrics are recomputed from the clip-space positions: with rows ``r_i = (x_i, y_i,
   w_i)`` and the pixel centre ``(p_x, p_y)`` in NDC, ``b_k ∝ (r_{k+1} × r_{k+2}) · (p_x, p_y, 1)``
   (the point ``Σ b_i r_i`` projects onto the pixel centre). ``(u, v) = (b_0, b_1)``, as nvdiffrast.
   Gradients reach ``pos`` through these barycentrics only; ``z/w`` carries no gradient (as nvdiffrast).

Triangles with a vertex at ``w <= 0`` are dropped (no near-plane clipping); fragments with
``z/w`` outside ``[-1, 1]`` are discarded (near/far clipping). Back faces are not culled.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["Instances", "make_instances", "rasterize_torch", "interpolate_torch"]

_W_EPS = 1e-12
_INST_BITS = 31
_INST_MASK = (1 << _INST_BITS) - 1
_KEY_EMPTY = torch.iinfo(torch.int64).max


@dataclass(frozen=True)
class Instances:
    """The triangles to draw, flattened over the minibatch.

    ``pos_flat`` [N_v, 4] clip positions; ``vidx`` [N, 3] int64 rows of ``pos_flat``;
    ``tri_id`` [N] int64 index into ``tri`` (what the rasterizer reports, minus one);
    ``batch`` [N] int64 minibatch index; ``batch_size`` B.
    """

    pos_flat: torch.Tensor
    vidx: torch.Tensor
    tri_id: torch.Tensor
    batch: torch.Tensor
    batch_size: int


def make_instances(pos: torch.Tensor, tri: torch.Tensor, ranges: torch.Tensor | None) -> Instances:
    """Flatten instanced mode (pos [B, V, 4]) or range mode (pos [V, 4] + ranges [B, 2]) to instances."""
    dev = pos.device
    if pos.dim() == 3:
        b, v = pos.shape[0], pos.shape[1]
        f = tri.shape[0]
        offs = torch.arange(b, device=dev).mul_(v).repeat_interleave(f)
        vidx = tri.repeat(b, 1) + offs[:, None]
        tri_id = torch.arange(f, device=dev).repeat(b)
        batch = torch.arange(b, device=dev).repeat_interleave(f)
        return Instances(pos.reshape(b * v, 4), vidx, tri_id, batch, b)
    if ranges is None:
        ranges = torch.tensor([[0, tri.shape[0]]], dtype=torch.int64)
    starts, counts = ranges[:, 0].to(dev), ranges[:, 1].to(dev)
    b = int(ranges.shape[0])
    batch = torch.arange(b, device=dev).repeat_interleave(counts)
    first = torch.cumsum(counts, 0) - counts
    tri_id = torch.arange(batch.numel(), device=dev) - first[batch] + starts[batch]
    return Instances(pos, tri[tri_id], tri_id, batch, b)


def _sortable_key(z: torch.Tensor) -> torch.Tensor:
    """Map float32 values to int64 in [0, 2**32) with the same order (IEEE bit trick)."""
    bits = z.to(torch.float32).view(torch.int32).to(torch.int64)
    return torch.where(bits >= 0, bits + (1 << 31), -bits - 1)


def _unsortable(key: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`_sortable_key`: int64 in [0, 2**32) -> float32."""
    bits = torch.where(key >= (1 << 31), key - (1 << 31), -key - 1)
    return bits.to(torch.int32).view(torch.float32)


def _ceil_index(v: torch.Tensor, hi: int) -> torch.Tensor:
    """``ceil(v - 0.5)`` clamped to ``[0, hi]`` as int64: first pixel whose centre is >= v."""
    return torch.ceil(torch.clamp(v - 0.5, -1.0, hi + 1.0)).clamp_(0, hi).to(torch.int64)


@torch.no_grad()
def _screen_vertices(pos_flat: torch.Tensor, h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-vertex screen coords [N_v, 3] = (X px, Y px, z/w) (pixel centres at i + 0.5) and validity."""
    x, y, z, ww = pos_flat.unbind(-1)
    ok = (ww > _W_EPS) & torch.isfinite(pos_flat).all(-1)
    inv = torch.where(ok, 1.0 / torch.where(ok, ww, torch.ones_like(ww)), torch.zeros_like(ww))
    scr = torch.stack(((x * inv + 1.0) * (0.5 * w), (y * inv + 1.0) * (0.5 * h), z * inv), -1)
    return scr, ok


@torch.no_grad()
def _row_spans(
    scr: torch.Tensor, h: int, w: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Scan-convert sorted triangles into rows.

    ``scr`` [N, 3(vertex, sorted by Y), 3(X, Y, Z)]. Returns per row: instance index [R], row [R],
    first column [R], column count [R], z/w at the first column centre [R] (plus ``dz/dX`` [R]).
    """
    X, Y, Z = scr.unbind(-1)
    x0, x1, x2 = X.unbind(-1)
    y0, y1, y2 = Y.unbind(-1)
    j0, j1, j2 = _ceil_index(y0, h), _ceil_index(y1, h), _ceil_index(y2, h)
    nrows = (j2 - j0).clamp_(min=0)
    # z/w plane: z = Z0 + az (X - X0) + bz (Y - Y0).
    ex1, ey1, ez1 = x1 - x0, y1 - y0, Z[:, 1] - Z[:, 0]
    ex2, ey2, ez2 = x2 - x0, y2 - y0, Z[:, 2] - Z[:, 0]
    nz = ex1 * ey2 - ey1 * ex2
    safe = nz.abs() > 1e-20
    inv_nz = torch.where(safe, 1.0 / torch.where(safe, nz, torch.ones_like(nz)), torch.zeros_like(nz))
    az = -(ey1 * ez2 - ez1 * ey2) * inv_nz
    bz = -(ez1 * ex2 - ex1 * ez2) * inv_nz
    # inverse slopes dX/dY of the long edge 0-2 and the short edges 0-1, 1-2 (top -> bottom order)
    k02 = (x2 - x0) / (y2 - y0)
    k01 = (x1 - x0) / (y1 - y0)
    k12 = (x2 - x1) / (y2 - y1)

    inst = torch.repeat_interleave(torch.arange(nrows.numel(), device=X.device), nrows)
    first = torch.cumsum(nrows, 0) - nrows
    row = torch.arange(inst.numel(), device=X.device) + (j0 - first)[inst]
    yc = row.to(X.dtype) + 0.5
    upper = row < j1[inst]
    xa = x0[inst] + (yc - y0[inst]) * k02[inst]
    xs_up = x0[inst] + (yc - y0[inst]) * k01[inst]
    xs_lo = x1[inst] + (yc - y1[inst]) * k12[inst]
    xb = torch.where(upper, xs_up, xs_lo)
    c0 = _ceil_index(torch.minimum(xa, xb), w)
    c1 = _ceil_index(torch.maximum(xa, xb), w)
    ncols = (c1 - c0).clamp_(min=0)
    azr = az[inst]
    zfirst = Z[inst, 0] + azr * (c0.to(X.dtype) + 0.5 - x0[inst]) + bz[inst] * (yc - y0[inst])
    keep = ncols > 0
    return inst[keep], row[keep], c0[keep], ncols[keep], torch.stack((zfirst[keep], azr[keep]), -1)


@torch.no_grad()
def visibility(inst: Instances, h: int, w: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Z-buffered visibility.

    Returns ``pix`` [P] int64 flat index into ``B*H*W`` of every covered pixel (ascending),
    ``win`` [P] int64 index of the winning instance, ``zw`` [P] float32 its z/w at the pixel centre.
    """
    scr, ok = _screen_vertices(inst.pos_flat.detach(), h, w)
    tri_scr = scr[inst.vidx]  # [N, 3, 3]
    tri_ok = ok[inst.vidx].all(-1)
    live = torch.nonzero(tri_ok).squeeze(1)
    tri_scr = tri_scr[live]
    order = torch.argsort(tri_scr[..., 1], dim=1, stable=True)
    tri_scr = torch.gather(tri_scr, 1, order[..., None].expand(-1, -1, 3))
    rinst, row, c0, ncols, zinfo = _row_spans(tri_scr, h, w)

    # rows -> pixel fragments
    rid = torch.repeat_interleave(torch.arange(ncols.numel(), device=row.device), ncols)
    first = torch.cumsum(ncols, 0) - ncols
    local = torch.arange(rid.numel(), device=row.device) - first[rid]
    zi = zinfo[rid]
    z = zi[:, 0] + zi[:, 1] * local.to(zi.dtype)
    inst_global = live[rinst]
    base = inst.batch[inst_global] * (h * w) + row * w + c0
    pix = base[rid] + local
    inside = (z >= -1.0) & (z <= 1.0)
    key = (_sortable_key(z) << _INST_BITS) | inst_global[rid]
    if not bool(inside.all()):
        pix, key = pix[inside], key[inside]

    zbuf = torch.full((inst.batch_size * h * w,), _KEY_EMPTY, dtype=torch.int64, device=row.device)
    zbuf.scatter_reduce_(0, pix, key, reduce="amin", include_self=True)
    cov = torch.nonzero(zbuf != _KEY_EMPTY).squeeze(1)
    kc = zbuf[cov]
    return cov, kc & _INST_MASK, _unsortable(kc >> _INST_BITS)


def _pixel_ndc(pix: torch.Tensor, h: int, w: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """NDC coordinates of the centres of flat pixel indices ``pix`` (row 0 = NDC y -1)."""
    col = pix % w
    row = (pix // w) % h
    px = (col.to(dtype) * 2.0 + 1.0) / w - 1.0
    py = (row.to(dtype) * 2.0 + 1.0) / h - 1.0
    return px, py


def rasterize_torch(
    inst: Instances, h: int, w: int, grad_db: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rasterize ``inst`` into ``(rast [B,H,W,4], rast_db [B,H,W,4 or 0])`` (see module docstring)."""
    pos = inst.pos_flat
    b = inst.batch_size
    pix, win, zw = visibility(inst, h, w)
    px, py = _pixel_ndc(pix, h, w, pos.dtype)

    # Per-instance "edge planes": M_k = r_{k+1} x r_{k+2}, r_i = (x_i, y_i, w_i).
    r = pos[inst.vidx][..., (0, 1, 3)]  # [N, 3, 3]
    m = torch.cross(r[:, (1, 2, 0)], r[:, (2, 0, 1)], dim=-1)  # [N, 3(k), 3(x, y, 1)]
    mp = m.reshape(-1, 9).index_select(0, win).view(-1, 3, 3)
    bu = mp[..., 0] * px[:, None] + mp[..., 1] * py[:, None] + mp[..., 2]  # [P, 3]
    s = bu.sum(-1)
    inv_s = 1.0 / s
    u = bu[:, 0] * inv_s
    v = bu[:, 1] * inv_s
    tid = (inst.tri_id[win] + 1).to(pos.dtype)
    vals = torch.stack((u, v, zw.to(pos.dtype), tid), -1)
    rast = torch.zeros(b * h * w, 4, dtype=pos.dtype, device=pos.device).index_copy(0, pix, vals)
    rast = rast.view(b, h, w, 4)
    if not grad_db:
        return rast, torch.zeros(b, h, w, 0, dtype=pos.dtype, device=pos.device)
    # d b_k / d p = (M_k s - bu_k sum_j M_j) / s^2 ; NDC per pixel: 2/W in x, 2/H in y.
    msum = mp.sum(1)  # [P, 3]
    db = []
    for k in (0, 1):
        ddx = (mp[:, k, 0] - bu[:, k] * inv_s * msum[:, 0]) * inv_s * (2.0 / w)
        ddy = (mp[:, k, 1] - bu[:, k] * inv_s * msum[:, 1]) * inv_s * (2.0 / h)
        db += [ddx, ddy]
    dbv = torch.stack(db, -1)
    rast_db = torch.zeros(b * h * w, 4, dtype=pos.dtype, device=pos.device).index_copy(0, pix, dbv)
    return rast, rast_db.view(b, h, w, 4)


def interpolate_torch(
    attr: torch.Tensor,
    rast: torch.Tensor,
    tri: torch.Tensor,
    rast_db: torch.Tensor | None,
    diff_attrs: list[int] | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``out = u a_0 + v a_1 + (1 - u - v) a_2`` at covered pixels, 0 elsewhere (nvdiffrast semantics).

    ``attr`` [V, C] or [B|1, V, C]; ``tri`` int64 [F, 3]; returns ``(out [B,H,W,C], out_da)`` where
    ``out_da`` [B,H,W,2*len(diff_attrs)] holds (dA/dX, dA/dY) per selected attribute (pixel units).
    """
    b, h, w, _ = rast.shape
    c = attr.shape[-1]
    flat = rast.reshape(-1, 4)
    tid = flat[:, 3].detach()
    pix = torch.nonzero(tid > 0).squeeze(1)
    verts = tri[tid[pix].long() - 1]  # [P, 3]
    if attr.dim() == 3 and attr.shape[0] > 1:
        verts = verts + (pix // (h * w))[:, None] * attr.shape[1]
    a = attr.reshape(-1, c).index_select(0, verts.reshape(-1)).view(-1, 3, c)
    uv = flat.index_select(0, pix)
    a2 = a[:, 2]
    d0 = a[:, 0] - a2
    d1 = a[:, 1] - a2
    vals = a2 + uv[:, 0:1] * d0 + uv[:, 1:2] * d1
    out = torch.zeros(b * h * w, c, dtype=vals.dtype, device=vals.device).index_copy(0, pix, vals)
    out = out.view(b, h, w, c)
    if not diff_attrs or rast_db is None or rast_db.shape[-1] != 4:
        return out, torch.zeros(b, h, w, 0, dtype=vals.dtype, device=vals.device)
    sel = torch.tensor(diff_attrs, dtype=torch.int64, device=vals.device)
    db = rast_db.reshape(-1, 4).index_select(0, pix)
    s0, s1 = d0.index_select(1, sel), d1.index_select(1, sel)
    dx = db[:, 0:1] * s0 + db[:, 2:3] * s1
    dy = db[:, 1:2] * s0 + db[:, 3:4] * s1
    da = torch.stack((dx, dy), -1).reshape(-1, 2 * sel.numel())
    out_da = torch.zeros(b * h * w, da.shape[1], dtype=vals.dtype, device=vals.device).index_copy(0, pix, da)
    return out, out_da.view(b, h, w, -1)
