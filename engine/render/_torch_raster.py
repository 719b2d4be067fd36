"""Pure-PyTorch rasterizer and attribute interpolation (the CPU backend).

Two phases:

1. **Visibility, no autograd.** Every triangle instance is scan-converted into exact per-pixel
   fragments: rows whose centre lies in ``[y_top, y_bottom)``, then per row the columns whose centre
   lies in ``[x_left, x_right)``. Edge crossings are computed from the edge's two endpoints in a
   canonical (top, bottom) order, so two triangles sharing an edge get bit-identical crossings and
   the pixel set is partitioned exactly (watertight, no double coverage). Each fragment gets its
   ``z/w`` (affine in screen space) and a packed int64 key ``bits(float32(z/w + 2)) << 31 | instance``;
   a ``scatter_reduce('amin')`` over the pixel buffer is the z-buffer (ties: lower triangle index wins).
   Everything is flat tensor arithmetic: no Python loop over triangles, rows or pixels.
2. **Barycentrics, with autograd.** For the winning triangle of each covered pixel the perspective-
   correct barycentrics are recomputed from the clip-space positions: with rows ``r_i = (x_i, y_i,
   w_i)`` and the pixel centre ``(p_x, p_y)`` in NDC, ``b_k ∝ (r_{k+1} × r_{k+2}) · (p_x, p_y, 1)``
   (the point ``Σ b_i r_i`` projects onto the pixel centre). ``(u, v) = (b_0, b_1)``, as nvdiffrast.
   Gradients reach ``pos`` through these barycentrics only; ``z/w`` carries no gradient (as nvdiffrast).
   The backward passes of rasterize and interpolate are written by hand (scatter-adds over covered
   pixels), which is several times faster than letting autograd record the gathers; they support
   first-order gradients only (no double backward).

Triangles with a vertex at ``w <= 0`` are dropped (no near-plane clipping); fragments with
``z/w`` outside ``[-1, 1]`` are discarded (near/far clipping). Back faces are not culled.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.render.errors import RenderArgumentError

__all__ = ["Instances", "make_instances", "rasterize_torch", "interpolate_torch"]

_W_EPS = 1e-12
_SPAN_BITS = 31
_SPAN_MASK = (1 << _SPAN_BITS) - 1
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


def _depth_key(z: torch.Tensor, frag_row: torch.Tensor) -> torch.Tensor:
    """Pack fragment depth and its row-span index into an int64 ordered by (depth, row span).

    ``z + 2`` is positive for z in [-1, 1], so its float32 bit pattern (< 2**31) sorts like the
    value; it goes above 31 bits of row-span index (spans are ordered by triangle, so equal depths
    resolve to the lower triangle index).
    """
    bits = (z.to(torch.float32) + 2.0).view(torch.int32).to(torch.int64)
    return (bits << _SPAN_BITS) | frag_row


def _depth_from_key(key: torch.Tensor) -> torch.Tensor:
    """z/w (float32) stored in a key from :func:`_depth_key` (exact to float32 rounding of z + 2)."""
    return (key >> _SPAN_BITS).to(torch.int32).view(torch.float32) - 2.0


def _ceil_index(v: torch.Tensor, hi: int) -> torch.Tensor:
    """``ceil(v - 0.5)`` clamped to ``[0, hi]`` as int64: first pixel whose centre is >= v."""
    return torch.ceil(torch.clamp(v - 0.5, -1.0, hi + 1.0)).to(torch.int64).clamp_(0, hi)


@torch.no_grad()
def _screen_vertices(pos_flat: torch.Tensor, h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-vertex screen coords [3, N_v] = rows (X px, Y px, z/w) (pixel centres at i + 0.5), validity [N_v]."""
    p = pos_flat.T
    ok = (p[3] > _W_EPS) & torch.isfinite(p).all(0)
    inv = torch.where(ok, 1.0 / torch.where(ok, p[3], torch.ones_like(p[3])), torch.zeros_like(p[3]))
    scr = torch.stack(((p[0] * inv + 1.0) * (0.5 * w), (p[1] * inv + 1.0) * (0.5 * h), p[2] * inv))
    return scr, ok


def _cswap(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Compare-swap two [3, N] corner tables (rows X, Y, Z) so that ``a`` has the smaller Y (stable)."""
    c = a[1] > b[1]
    return torch.where(c, b, a), torch.where(c, a, b)


@torch.no_grad()
def _triangle_setup(inst: Instances, h: int, w: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, bool]:
    """Per-instance scan-conversion constants.

    Returns ``nrows`` [N] int64, an int table [3, N] = (first row, first row of the lower half,
    batch pixel offset) and a float table [10, N] = (X0, Y0, X1, Y1, dX/dY of edges 0-2, 0-1, 1-2,
    z-plane constant, dz/dX, dz/dY), with vertices sorted by Y (0 = top). Tables are
    structure-of-arrays so that gathered columns stay contiguous. The flag says whether any drawn
    triangle reaches outside z/w in [-1, 1] (z/w is affine over a triangle, so only those need a
    per-fragment depth-range test).
    """
    scr, ok = _screen_vertices(inst.pos_flat.detach(), h, w)
    corners = [scr.index_select(1, inst.vidx[:, i]) for i in range(3)]  # [3, N] each
    tri_ok = ok[inst.vidx[:, 0]] & ok[inst.vidx[:, 1]] & ok[inst.vidx[:, 2]]
    v0, v1 = _cswap(corners[0], corners[1])
    v1, v2 = _cswap(v1, corners[2])
    v0, v1 = _cswap(v0, v1)
    (x0, y0, z0), (x1, y1, z1), (x2, y2, z2) = v0, v1, v2
    j0, j1, j2 = _ceil_index(y0, h), _ceil_index(y1, h), _ceil_index(y2, h)
    nrows = (j2 - j0).clamp_(min=0) * tri_ok
    # z/w is affine in screen space: z = zc + az X + bz Y
    ex1, ey1, ez1 = x1 - x0, y1 - y0, z1 - z0
    ex2, ey2, ez2 = x2 - x0, y2 - y0, z2 - z0
    nz = ex1 * ey2 - ey1 * ex2
    safe = nz.abs() > 1e-20
    inv_nz = torch.where(safe, 1.0 / torch.where(safe, nz, torch.ones_like(nz)), torch.zeros_like(nz))
    az = (ez1 * ey2 - ey1 * ez2) * inv_nz
    bz = (ex1 * ez2 - ez1 * ex2) * inv_nz
    zc = z0 - az * x0 - bz * y0
    ftab = torch.stack((x0, y0, x1, y1, (x2 - x0) / (y2 - y0), (x1 - x0) / (y1 - y0), (x2 - x1) / (y2 - y1),
                        zc, az, bz))
    itab = torch.stack((j0, j1, inst.batch * (h * w)))
    zmin = torch.minimum(torch.minimum(z0, z1), z2)
    zmax = torch.maximum(torch.maximum(z0, z1), z2)
    clip_z = bool(((nrows > 0) & ((zmin < -1.0) | (zmax > 1.0))).any())
    return nrows, itab, ftab, clip_z


@torch.no_grad()
def visibility(inst: Instances, h: int, w: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Z-buffered visibility.

    Returns ``pix`` [P] int64 flat index into ``B*H*W`` of every covered pixel (ascending),
    ``win`` [P] int64 index of the winning instance, ``zw`` [P] float32 its z/w at the pixel centre.
    """
    nrows, itab, ftab, clip_z = _triangle_setup(inst, h, w)
    dev = nrows.device
    # instances -> rows
    rinst = torch.repeat_interleave(nrows)
    itab[0] -= torch.cumsum(nrows, 0) - nrows
    ti = itab.index_select(1, rinst)
    tf = ftab.index_select(1, rinst)
    row = torch.arange(rinst.numel(), device=dev) + ti[0]
    upper = row < ti[1]
    yc = row.to(tf.dtype) + 0.5
    x0, y0, x1, y1, k02, k01, k12, zc, az, bz = tf.unbind(0)
    xa = x0 + (yc - y0) * k02
    xb = torch.where(upper, x0 + (yc - y0) * k01, x1 + (yc - y1) * k12)
    c0 = _ceil_index(torch.minimum(xa, xb), w)
    ncols = (_ceil_index(torch.maximum(xa, xb), w) - c0).clamp_(min=0)
    # rows -> pixel fragments: pix = arange + (row start - fragment offset), z = z(first) + az * local
    fcol = torch.cumsum(ncols, 0) - ncols
    rtab_i = torch.stack((ti[2] + row * w + c0 - fcol, fcol))
    rtab_f = torch.stack((zc + az * (c0.to(tf.dtype) + 0.5) + bz * yc, az))
    if row.numel() > _SPAN_MASK:
        raise RenderArgumentError(f"{row.numel()} row spans exceed the z-buffer key's {_SPAN_BITS} bits.")
    rid = torch.repeat_interleave(ncols)
    gi = rtab_i.index_select(1, rid)
    gf = rtab_f.index_select(1, rid)
    ar = torch.arange(rid.numel(), device=dev)
    pix = ar + gi[0]
    z = gf[0] + gf[1] * (ar - gi[1]).to(gf.dtype)
    if clip_z:  # some triangle crosses the near or far plane: drop fragments outside [-1, 1]
        keep = torch.nonzero((z >= -1.0) & (z <= 1.0)).squeeze(1)
        pix, z, rid = pix.index_select(0, keep), z.index_select(0, keep), rid.index_select(0, keep)
    key = _depth_key(z, rid)

    zbuf = torch.full((inst.batch_size * h * w,), _KEY_EMPTY, dtype=torch.int64, device=dev)
    zbuf.scatter_reduce_(0, pix, key, reduce="amin", include_self=True)
    cov = torch.nonzero(zbuf != _KEY_EMPTY).squeeze(1)
    kc = zbuf.index_select(0, cov)
    win = rinst.index_select(0, kc & _SPAN_MASK)
    return cov, win, _depth_from_key(kc)


def _pixel_ndc(pix: torch.Tensor, h: int, w: int, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """NDC coordinates (x [P], y [P]) of the centres of flat pixel indices ``pix`` (row 0 = NDC y -1).

    Float64 floor arithmetic instead of int64 ``//`` and ``%`` (exact below 2**53, twice as fast).
    """
    pf = pix.to(torch.float64)
    rows = torch.floor(pf / w)
    col = pf - rows * w
    row = rows - torch.floor(rows / h) * h
    return ((col * 2.0 + 1.0) / w - 1.0).to(dtype), ((row * 2.0 + 1.0) / h - 1.0).to(dtype)


def _columns(cols: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """[P] tensors -> [P, K] (column writes; ``torch.stack(dim=1)`` takes a slow path on CPU)."""
    out = torch.empty(cols[0].shape[0], len(cols), dtype=cols[0].dtype, device=cols[0].device)
    for k, c in enumerate(cols):
        out[:, k] = c
    return out


def _cross(a: tuple[torch.Tensor, ...], b: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    """Cross product of 3-vectors given as component tuples (avoids slow size-3 tensor dims)."""
    return (a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0])


def _vertex_rows(pos_flat: torch.Tensor, vidx: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """For each triangle corner i: ``r_i = (x_i, y_i, w_i)`` as three [N] tensors."""
    out = []
    for i in range(3):
        p = pos_flat.index_select(0, vidx[:, i])
        out.append((p[:, 0], p[:, 1], p[:, 3]))
    return out


def _edge_planes(r: list[tuple[torch.Tensor, ...]]) -> torch.Tensor:
    """``M_k = r_{k+1} x r_{k+2}`` as a [9, N] table, row ``3k + j`` (j = x, y, 1 coefficient)."""
    return torch.stack([c for k in range(3) for c in _cross(r[(k + 1) % 3], r[(k + 2) % 3])])


def _bary_db(m: torch.Tensor, win: torch.Tensor, px: torch.Tensor, py: torch.Tensor, h: int, w: int,
             want_db: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """From edge planes ``m`` [9, N]: (u, v) [2, P], 1/s [P] and, if asked, d(u, v)/d(X, Y) [4, P] in pixels."""
    mp = m.index_select(1, win)  # [9, P]
    bu = [mp[3 * k] * px + mp[3 * k + 1] * py + mp[3 * k + 2] for k in range(3)]
    inv_s = 1.0 / (bu[0] + bu[1] + bu[2])
    uv = torch.stack((bu[0] * inv_s, bu[1] * inv_s))
    if not want_db:
        return uv, inv_s, None
    # d b_k / d p = (M_k - b_k sum_j M_j) / s ; NDC per pixel: 2/W in x, 2/H in y.
    sx = mp[0] + mp[3] + mp[6]
    sy = mp[1] + mp[4] + mp[7]
    db = [((mp[3 * k] - uv[k] * sx) * (2.0 / w), (mp[3 * k + 1] - uv[k] * sy) * (2.0 / h)) for k in range(2)]
    return uv, inv_s, torch.stack([d * inv_s for pair in db for d in pair])


class _Rasterize(torch.autograd.Function):
    """Dense ``rast`` / ``rast_db`` from the visibility result; hand-written backward for (u, v)."""

    @staticmethod
    def forward(ctx, pos_flat, vidx, pix, win, zw, tid, shape, want_db):  # type: ignore[override]
        b, h, w = shape
        m = _edge_planes(_vertex_rows(pos_flat, vidx))
        px, py = _pixel_ndc(pix, h, w, pos_flat.dtype)
        uv, inv_s, db = _bary_db(m, win, px, py, h, w, want_db)
        dt, dev = uv.dtype, uv.device
        vals = _columns((uv[0], uv[1], zw.to(dt), tid.to(dt)))
        rast = torch.zeros(b * h * w, 4, dtype=dt, device=dev).index_copy_(0, pix, vals)
        if want_db:
            rast_db = torch.zeros(b * h * w, 4, dtype=dt, device=dev).index_copy_(0, pix, db.T)
        else:
            rast_db = torch.zeros(b * h * w, 0, dtype=dt, device=dev)
        ctx.save_for_backward(pos_flat, vidx, pix, win, px, py, uv, inv_s)
        ctx.meta = (h, w, want_db)
        ctx.set_materialize_grads(False)
        return rast.view(b, h, w, 4), rast_db.view(b, h, w, -1)

    @staticmethod
    def backward(ctx, g_rast, g_db):  # type: ignore[override]
        pos_flat, vidx, pix, win, px, py, uv, inv_s = ctx.saved_tensors
        h, w, want_db = ctx.meta
        r = _vertex_rows(pos_flat.detach(), vidx)
        n = vidx.shape[0]
        g_m = torch.zeros(9, n, dtype=uv.dtype, device=uv.device)
        if g_rast is not None:
            g = g_rast.reshape(-1, 4).index_select(0, pix)
            gu, gv = g[:, 0], g[:, 1]
            t = gu * uv[0] + gv * uv[1]
            g_bu = ((gu - t) * inv_s, (gv - t) * inv_s, -t * inv_s)  # dL/d(unnormalised b_k)
            g_mp = torch.stack([gb * qj for gb in g_bu for qj in (px, py, torch.ones_like(px))])
            g_m.index_add_(1, win, g_mp)
        if want_db and g_db is not None:
            with torch.enable_grad():
                pf = pos_flat.detach().requires_grad_(True)
                m = _edge_planes(_vertex_rows(pf, vidx))
                _, _, db = _bary_db(m, win, px, py, h, w, True)
                (g_m_db,) = torch.autograd.grad(db, m, g_db.reshape(-1, 4).index_select(0, pix).T)
            g_m = g_m + g_m_db
        # M_k = a x c with a = r_{k+1}, c = r_{k+2}: dL/da = c x gM, dL/dc = gM x a
        g_r = [[torch.zeros_like(r[0][0])] * 3 for _ in range(3)]
        for k in range(3):
            gm = (g_m[3 * k], g_m[3 * k + 1], g_m[3 * k + 2])
            ia, ic = (k + 1) % 3, (k + 2) % 3
            ga, gc = _cross(r[ic], gm), _cross(gm, r[ia])
            g_r[ia] = [x + y for x, y in zip(g_r[ia], ga, strict=True)]
            g_r[ic] = [x + y for x, y in zip(g_r[ic], gc, strict=True)]
        g_pos = torch.zeros_like(pos_flat)
        zero = torch.zeros_like(g_r[0][0])
        for i in range(3):
            gx, gy, gw = g_r[i]
            g_pos.index_add_(0, vidx[:, i], torch.stack((gx, gy, zero, gw), 1))
        return g_pos, None, None, None, None, None, None, None


def rasterize_torch(
    inst: Instances, h: int, w: int, grad_db: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rasterize ``inst`` into ``(rast [B,H,W,4], rast_db [B,H,W,4 or 0])`` (see module docstring)."""
    pix, win, zw = visibility(inst, h, w)
    tid = inst.tri_id.index_select(0, win) + 1
    return _Rasterize.apply(inst.pos_flat, inst.vidx, pix, win, zw, tid, (inst.batch_size, h, w), bool(grad_db))


class _Interpolate(torch.autograd.Function):
    """``u a_0 + v a_1 + (1 - u - v) a_2`` on covered pixels with a hand-written backward.

    ``verts`` [3, P] holds the attribute rows of each covered pixel's triangle corners.
    """

    @staticmethod
    def forward(ctx, attr_flat, rast, pix, verts):  # type: ignore[override]
        b, h, w, _ = rast.shape
        c = attr_flat.shape[1]
        a0, a1, a2 = (attr_flat.index_select(0, verts[k]) for k in range(3))
        uv = rast.reshape(-1, 4).index_select(0, pix)
        u, v = uv[:, 0:1], uv[:, 1:2]
        d0, d1 = a0 - a2, a1 - a2
        vals = a2 + u * d0 + v * d1
        out = torch.zeros(b * h * w, c, dtype=vals.dtype, device=vals.device).index_copy_(0, pix, vals)
        ctx.save_for_backward(attr_flat, pix, verts, u, v, d0, d1)
        ctx.rast_shape = rast.shape
        return out.view(b, h, w, c)

    @staticmethod
    def backward(ctx, g_out):  # type: ignore[override]
        attr_flat, pix, verts, u, v, d0, d1 = ctx.saved_tensors
        c = attr_flat.shape[1]
        g = g_out.reshape(-1, c).index_select(0, pix)  # [P, C]
        g_attr = g_rast = None
        if ctx.needs_input_grad[0]:
            gu_, gv_ = u * g, v * g
            g_attr = torch.zeros_like(attr_flat)
            g_attr.index_add_(0, verts[0], gu_)
            g_attr.index_add_(0, verts[1], gv_)
            g_attr.index_add_(0, verts[2], g - gu_ - gv_)
        if ctx.needs_input_grad[1]:
            gu = (g * d0).sum(1)
            gv = (g * d1).sum(1)
            zero = torch.zeros_like(gu)
            b, h, w, _ = ctx.rast_shape
            g_rast = torch.zeros(b * h * w, 4, dtype=g.dtype, device=g.device).index_copy_(
                0, pix, _columns((gu, gv, zero, zero)))
            g_rast = g_rast.view(ctx.rast_shape)
        return g_attr, g_rast, None, None


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
    tid = rast.detach().reshape(-1, 4)[:, 3]
    pix = torch.nonzero(tid > 0).squeeze(1)
    verts = tri.T.index_select(1, tid.index_select(0, pix).long() - 1)  # [3, P]
    if attr.dim() == 3 and attr.shape[0] > 1:
        verts = verts + (pix // (h * w)) * attr.shape[1]
    attr_flat = attr.reshape(-1, c)
    out = _Interpolate.apply(attr_flat, rast, pix, verts)
    if not diff_attrs or rast_db is None or rast_db.shape[-1] != 4:
        return out, torch.zeros(b, h, w, 0, dtype=out.dtype, device=out.device)
    sel = torch.tensor(diff_attrs, dtype=torch.int64, device=out.device)
    a0, a1, a2 = (attr_flat.index_select(1, sel).index_select(0, verts[k]) for k in range(3))
    d0, d1 = a0 - a2, a1 - a2
    db = rast_db.reshape(-1, 4).index_select(0, pix)
    dx = db[:, 0:1] * d0 + db[:, 2:3] * d1
    dy = db[:, 1:2] * d0 + db[:, 3:4] * d1
    da = torch.stack((dx, dy), -1).reshape(-1, 2 * sel.numel())
    out_da = torch.zeros(b * h * w, da.shape[1], dtype=da.dtype, device=da.device).index_copy(0, pix, da)
    return out, out_da.view(b, h, w, -1)
