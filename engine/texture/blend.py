"""Image-space blending for UV textures: multi-band (Laplacian pyramid), Poisson (seamless cloning),
push-pull hole filling and mask feathering.

Conventions: images ``[H, W, C]`` float32 (linear RGB for colour, any C works), masks ``[H, W]``
float in [0, 1]; row 0 is the top texture row (v = 1 - (row + 0.5) / H, docs/conventions.md).
Functions accept numpy arrays or CPU torch tensors and return the kind of their first image input.
All work is vectorised (OpenCV pyramids / filters); nothing here is differentiable.
"""
from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

from engine.texture._arrays import ArrayLike, ShapeError, check_image, check_mask, like

__all__ = ["laplacian_pyramid_blend", "poisson_blend", "dilate_fill", "feather"]


def _as3(x: np.ndarray) -> np.ndarray:
    """OpenCV drops a trailing channel axis of size 1; put it back."""
    return x if x.ndim == 3 else x[..., None]


def _down(x: np.ndarray) -> np.ndarray:
    h, w = x.shape[:2]
    out = cv2.pyrDown(x, dstsize=((w + 1) // 2, (h + 1) // 2))
    return _as3(out) if x.ndim == 3 else out


def _up(x: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    out = cv2.pyrUp(x, dstsize=(shape[1], shape[0]))
    return _as3(out) if x.ndim == 3 else out


def _default_levels(h: int, w: int, smallest: int = 8) -> int:
    return max(1, int(np.floor(np.log2(max(min(h, w), 1) / smallest))) + 1)


# --------------------------------------------------------------------------------------------------
# Laplacian pyramid (multi-band) blending
# --------------------------------------------------------------------------------------------------


def laplacian_pyramid_blend(a: ArrayLike, b: ArrayLike, mask: ArrayLike, levels: int | None = None) -> ArrayLike:
    """Multi-band blend of two images (Burt & Adelson 1983): ``mask = 1`` takes ``a``, ``0`` takes ``b``.

    Each band of the Laplacian pyramid is blended with the matching level of the mask's Gaussian
    pyramid, so low frequencies cross-fade over a wide zone and fine detail over a narrow one: no
    visible seam, no ghosting. Because the pyramid is linear this is computed as
    ``b + collapse(G(mask)_l * L(a - b)_l)``.

    Args:
        a, b: ``[H, W, C]`` float32 images (same shape), e.g. linear RGB in [0, 1].
        mask: ``[H, W]`` in [0, 1], hard or soft.
        levels: number of pyramid levels including the coarsest Gaussian level; default: until the
            coarsest level is about 8 px on its short side.

    Returns:
        ``[H, W, C]`` float32, same kind as ``a``. Values stay within the range spanned by a and b
        up to small pyramid ringing; no clipping is applied.
    """
    av = check_image(a, "a", channels=None)
    bv = check_image(b, "b", channels=None)
    if av.shape != bv.shape:
        raise ShapeError(f"a {tuple(av.shape)} and b {tuple(bv.shape)} must have the same shape.")
    m = np.clip(check_mask(mask, "mask", av.shape[:2]), 0.0, 1.0)
    n = _default_levels(*av.shape[:2]) if levels is None else int(levels)
    if n < 1:
        raise ShapeError(f"levels must be >= 1, got {levels}.")
    gauss = [av - bv]
    masks = [m]
    for _ in range(n - 1):
        if min(gauss[-1].shape[:2]) < 2:
            break
        gauss.append(_down(gauss[-1]))
        masks.append(cv2.pyrDown(masks[-1], dstsize=(gauss[-1].shape[1], gauss[-1].shape[0])))
    out = gauss[-1] * masks[-1][..., None]
    for lvl in range(len(gauss) - 2, -1, -1):
        g = gauss[lvl]
        band = g - _up(gauss[lvl + 1], g.shape[:2])
        out = _up(out, g.shape[:2]) + band * masks[lvl][..., None]
    return like((bv + out).astype(np.float32), a)


# --------------------------------------------------------------------------------------------------
# Poisson blending (seamless cloning) with a masked multigrid solver
# --------------------------------------------------------------------------------------------------

_QUARTER_CROSS = np.array([[0, 0.25, 0], [0.25, 0, 0.25], [0, 0.25, 0]], dtype=np.float32)
_LAPLACE = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=np.float32)
# Operator of every level: A x = 4 x - N(x), where N is the 4-neighbour sum with replicated borders.
# Replication makes an outside neighbour equal the pixel itself, i.e. A is the 5-point Laplacian
# with a zero-flux (Neumann) condition at the image border, so masks may touch the border.


def _quarter_neighbours(x: np.ndarray) -> np.ndarray:
    return _as3(cv2.filter2D(x, -1, _QUARTER_CROSS, borderType=cv2.BORDER_REPLICATE))


def _checker(h: int, w: int) -> np.ndarray:
    tile = np.array([[1, 0], [0, 1]], dtype=np.uint8)
    return np.tile(tile, ((h + 1) // 2, (w + 1) // 2))[:h, :w]


class _Level:
    """One multigrid level: unknown mask (uint8) and its red/black split."""

    def __init__(self, unknown: np.ndarray) -> None:
        h, w = unknown.shape
        u8 = unknown.astype(np.uint8)
        red = _checker(h, w)
        self.unknown = unknown
        self.u8 = u8
        self.red = u8 & red
        self.black = u8 & (1 - red)


def _smooth(x: np.ndarray, b4: np.ndarray | None, lv: _Level, sweeps: int) -> None:
    """Red-black Gauss-Seidel sweeps on ``4 x - N(x) = b`` at unknown pixels (in place; b4 = b / 4)."""
    for _ in range(sweeps):
        for colour in (lv.red, lv.black):
            new = _quarter_neighbours(x)
            if b4 is None:
                cv2.copyTo(new, colour, x)
            else:
                cv2.add(new, b4, dst=x, mask=colour)


def _residual(x: np.ndarray, b: np.ndarray | None, lv: _Level) -> np.ndarray:
    """``b - A x`` on unknown pixels, 0 elsewhere."""
    r = _as3(cv2.filter2D(x, -1, _LAPLACE, borderType=cv2.BORDER_REPLICATE))
    if b is not None:
        r = _as3(cv2.add(r, b))
    out = np.zeros_like(x)
    cv2.copyTo(r, lv.u8, out)
    return out


def _restrict_sum(r: np.ndarray) -> np.ndarray:
    """Sum over 2x2 blocks (full weighting for cell-centred grids); odd sizes are zero-padded."""
    h, w = r.shape[:2]
    hp, wp = h + (h & 1), w + (w & 1)
    if (hp, wp) != (h, w):
        r = np.pad(r, ((0, hp - h), (0, wp - w), (0, 0)))
    return _as3(cv2.resize(r, (wp // 2, hp // 2), interpolation=cv2.INTER_AREA)) * np.float32(4.0)


def _restrict_all(u: np.ndarray) -> np.ndarray:
    """A coarse cell is unknown only if its four children are: keeps a Dirichlet ring on every level."""
    h, w = u.shape
    hp, wp = h + (h & 1), w + (w & 1)
    if (hp, wp) != (h, w):
        u = np.pad(u, ((0, hp - h), (0, wp - w)))
    return u.reshape(hp // 2, 2, wp // 2, 2).all(axis=(1, 3))


def _prolong(e: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Cell-centred bilinear interpolation of a coarse correction to the (possibly odd) fine grid."""
    h, w = shape
    up = _as3(cv2.resize(e, (2 * e.shape[1], 2 * e.shape[0]), interpolation=cv2.INTER_LINEAR))
    return np.ascontiguousarray(up[:h, :w])


def _build_levels(unknown: np.ndarray, coarsest: int = 4) -> list[_Level]:
    levels = [_Level(unknown)]
    u = unknown
    while max(u.shape) > coarsest:
        u = _restrict_all(u)
        if not u.any():
            break
        levels.append(_Level(u))
    return levels


def _v_cycle(x: np.ndarray, b: np.ndarray | None, levels: list[_Level], k: int, pre: int, post: int) -> None:
    """One V(pre, post) cycle for ``A x = b`` on level ``k`` (in place; ``b=None`` means 0).

    ``x`` is only changed on unknown pixels.
    """
    lv = levels[k]
    b4 = None if b is None else b * np.float32(0.25)
    if k == len(levels) - 1:
        _smooth(x, b4, lv, 2 * max(x.shape[:2]) + 8)  # a handful of pixels: converge outright
        return
    _smooth(x, b4, lv, pre)
    rc = _restrict_sum(_residual(x, b, lv))
    ec = np.zeros_like(rc)
    _v_cycle(ec, rc, levels, k + 1, pre, post)
    cv2.add(x, _prolong(ec, x.shape[:2]), dst=x, mask=lv.u8)
    _smooth(x, b4, lv, post)


def _solve_laplace(values: np.ndarray, unknown: np.ndarray, tol: float, max_cycles: int) -> np.ndarray:
    """Discrete harmonic interpolation: ``x = values`` on known pixels, ``A x = 0`` on unknown ones.

    ``A`` is the 5-point Laplacian with a Neumann condition at the image border. Solved by flexible
    conjugate gradients (Notay 2000) preconditioned with one multigrid V(2,2) cycle (red-black
    Gauss-Seidel, full-weighting restriction, bilinear prolongation, a coarse cell is unknown only
    if its 4 children are), started from a push-pull fill of the known values. All channels share
    one CG (the operator is the same for each). Stops when the largest residual is below ``tol``
    or after ``max_cycles`` V-cycles; the error shrinks about 8x per cycle.
    """
    x = _push_pull(values, ~unknown)
    levels = _build_levels(unknown)
    r = _residual(x, None, levels[0])
    if cv2.norm(r, cv2.NORM_INF) < tol:
        return x
    z = np.zeros_like(r)
    _v_cycle(z, r, levels, 0, 2, 2)
    p = z.copy()
    rz = float(np.vdot(r.ravel(), z.ravel()))
    for _ in range(max_cycles - 1):
        q = _residual(p, None, levels[0])  # = -A p, since p is zero on known pixels
        alpha = rz / max(-float(np.vdot(p.ravel(), q.ravel())), 1e-30)  # <r, z> / <p, A p>
        cv2.scaleAdd(p, alpha, x, dst=x)
        r_new = _as3(cv2.scaleAdd(q, alpha, r))  # r - alpha A p
        if cv2.norm(r_new, cv2.NORM_INF) < tol:
            break
        z_new = np.zeros_like(r_new)
        _v_cycle(z_new, r_new, levels, 0, 2, 2)
        beta = float(np.vdot(z_new.ravel(), (r_new - r).ravel())) / max(rz, 1e-30)
        rz = float(np.vdot(r_new.ravel(), z_new.ravel()))
        p = _as3(cv2.scaleAdd(p, beta, z_new))
        r = r_new
    return x


def _clusters(unknown: np.ndarray, gap: int) -> list[tuple[slice, slice, np.ndarray]]:
    """Groups of mask components closer than ``gap`` px: (rows, cols, the group's unknown texels in
    that box). Boxes have a 1-px known ring where the image allows; groups never touch each other."""
    u8 = unknown.astype(np.uint8)
    grown = cv2.dilate(u8, np.ones((2 * gap + 1, 2 * gap + 1), np.uint8)) if gap > 0 else u8
    n, labels, stats, _ = cv2.connectedComponentsWithStats(grown, connectivity=8)
    h, w = unknown.shape
    out = []
    for i in range(1, n):
        x0, y0, bw, bh = stats[i, :4]
        rows = slice(max(y0 - 1, 0), min(y0 + bh + 1, h))
        cols = slice(max(x0 - 1, 0), min(x0 + bw + 1, w))
        mine = unknown[rows, cols] & (labels[rows, cols] == i)
        if mine.any():
            out.append((rows, cols, mine))
    return out


def poisson_blend(
    target: ArrayLike,
    source: ArrayLike,
    mask: ArrayLike,
    tol: float = 1e-4,
    max_cycles: int = 20,
    cluster_gap: int = 16,
) -> ArrayLike:
    """Seamless cloning (Perez et al. 2003): paste ``source``'s gradients into ``target`` inside ``mask``.

    Solves, for every texel p with ``mask > 0.5``, the discrete Poisson equation
    ``sum_q (f_p - f_q) = sum_q (s_p - s_q)`` over its 4-neighbours q inside the image, with
    ``f_q = target_q`` for neighbours outside the mask (Dirichlet) and no flux across the image border
    (Neumann), so masks may touch the border. Written as ``f = source + d`` this is a Laplace problem
    for the correction ``d`` with ``d = target - source`` on the mask's outer ring, solved by a masked
    multigrid on the bounding box of each group of nearby mask components (many disjoint regions
    cost what their boxes cost). Texels with ``mask <= 0.5`` are returned unchanged.

    Args:
        target: ``[H, W, C]`` float32 image that receives the patch (e.g. the unwrapped photo texture).
        source: ``[H, W, C]`` float32 image whose detail is pasted (e.g. the colour-matched template);
            must be valid inside the mask and on its 1-texel outer ring.
        mask: ``[H, W]`` in [0, 1]; ``> 0.5`` marks the texels to replace.
        tol: stop when the largest equation residual (in image units) is below this.
        max_cycles: cap on multigrid cycles per region (4-8 are typical for tol=1e-4).
        cluster_gap: mask components closer than this many texels are solved together.

    Returns:
        ``[H, W, C]`` float32, same kind as ``target``; not clipped. If the mask covers the whole
        image (no boundary) the source is returned unchanged.
    """
    t = check_image(target, "target", channels=None)
    s = check_image(source, "source", channels=None)
    if t.shape != s.shape:
        raise ShapeError(f"target {tuple(t.shape)} and source {tuple(s.shape)} must have the same shape.")
    unknown = check_mask(mask, "mask", t.shape[:2]) > 0.5
    out = t.copy()
    if not unknown.any():
        return like(out, target)
    if unknown.all():
        return like(s.copy(), target)
    for rows, cols, u in _clusters(unknown, cluster_gap):
        diff = t[rows, cols] - s[rows, cols]
        d = _solve_laplace(diff, u, tol, max_cycles)
        np.copyto(out[rows, cols], s[rows, cols] + d, where=u[..., None])
    return like(out, target)


# --------------------------------------------------------------------------------------------------
# Push-pull hole filling
# --------------------------------------------------------------------------------------------------


def _push_pull(img: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Fill unknown texels by a normalised Gaussian pyramid (push) and a coarse-to-fine pull.

    ``known`` ``[H, W]`` bool marks the texels to keep (returned unchanged). On every level the
    normalised average of the known texels (5x5 Gaussian) replaces the upsampled coarser estimate
    with weight ``min(1, 4 * local coverage)``. Every texel is defined as long as one is known.
    """
    u8 = known.astype(np.uint8)
    c0 = np.zeros_like(img)
    cv2.copyTo(img, u8, c0)
    cs = [c0]
    ws = [known.astype(np.float32)]
    while max(ws[-1].shape) > 1:
        cs.append(_down(cs[-1]))
        ws.append(cv2.pyrDown(ws[-1], dstsize=(cs[-1].shape[1], cs[-1].shape[0])))
    wsum = float(ws[-1].sum())
    col = cs[-1].sum(axis=(0, 1), keepdims=True) / max(wsum, 1e-12) + np.zeros_like(cs[-1])
    for lvl in range(len(cs) - 1, 0, -1):
        c, w = cs[lvl], ws[lvl]
        if lvl < len(cs) - 1:
            col = _up(col, c.shape[:2])
        own = c / np.maximum(w, 1e-12)[..., None]
        alpha = np.minimum(w * 4.0, 1.0)[..., None]
        col += alpha * (own - col)
    col = _up(col, img.shape[:2]) if len(cs) > 1 else col
    # Level 0: normalised 5x5 Gaussian average of the known neighbours where there are some.
    g0 = _as3(cv2.GaussianBlur(cs[0], (5, 5), 1.0, borderType=cv2.BORDER_REFLECT_101))
    w0 = cv2.GaussianBlur(ws[0], (5, 5), 1.0, borderType=cv2.BORDER_REFLECT_101)
    c = img.shape[2]
    inv = _as3(cv2.merge([1.0 / np.maximum(w0, np.float32(1e-12))] * c))
    alpha = _as3(cv2.merge([np.minimum(w0 * np.float32(4.0), np.float32(1.0))] * c))
    col = np.ascontiguousarray(col, dtype=np.float32)
    delta = _as3(cv2.subtract(_as3(cv2.multiply(g0, inv)), col))
    out = _as3(cv2.add(col, _as3(cv2.multiply(alpha, delta))))
    cv2.copyTo(img, u8, out)
    return out


def dilate_fill(img: ArrayLike, mask: ArrayLike) -> ArrayLike:
    """Fill unknown texels from known ones (push-pull pyramid inpainting); known texels are kept.

    Used to bleed colour across UV gutters (so mip-mapping and bilinear lookups near chart edges do
    not pick up background) and to fill small holes smoothly. Near the known region the fill follows
    the nearest known colours; far away it tends to a smooth average.

    Args:
        img: ``[H, W, C]`` float32.
        mask: ``[H, W]`` in [0, 1]; ``> 0.5`` marks known texels. Must select at least one texel.

    Returns:
        ``[H, W, C]`` float32, same kind as ``img``; equal to ``img`` where ``mask > 0.5``.
    """
    a = check_image(img, "img", channels=None)
    known = check_mask(mask, "mask", a.shape[:2]) > 0.5
    if not known.any():
        raise ShapeError("dilate_fill: the mask marks no known texel.")
    return like(_push_pull(a, known), img)


# --------------------------------------------------------------------------------------------------
# Feathering
# --------------------------------------------------------------------------------------------------


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def feather(
    mask: ArrayLike, radius: float, mode: Literal["inside", "outside", "centered"] = "inside"
) -> ArrayLike:
    """Soften a mask's edge over ``radius`` texels.

    Modes (``m`` = ``mask > 0.5``):
        ``inside``: 0 outside m, rising smoothly to 1 at ``radius`` texels inside m (never grows m).
        ``outside``: 1 on m, falling smoothly to 0 at ``radius`` texels outside m (never shrinks m).
        ``centered``: Gaussian blur (sigma = radius / 2) of the binary mask; 0.5 on the edge.
    Distances are Euclidean (OpenCV's exact distance transform). Returns ``[H, W]`` float32 in [0, 1].
    """
    m = check_mask(mask, "mask") > 0.5
    if radius <= 0:
        return like(m.astype(np.float32), mask)
    if mode == "inside":
        dist = cv2.distanceTransform(m.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
        out = _smoothstep(dist / float(radius))
    elif mode == "outside":
        dist = cv2.distanceTransform((~m).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
        out = 1.0 - _smoothstep((dist - 0.5) / float(radius))
    elif mode == "centered":
        out = cv2.GaussianBlur(m.astype(np.float32), (0, 0), sigmaX=radius / 2.0, borderType=cv2.BORDER_REPLICATE)
    else:
        raise ShapeError(f"feather: unknown mode {mode!r} (inside, outside, centered).")
    return like(np.clip(out, 0.0, 1.0).astype(np.float32), mask)
