"""The search for the sun's direction: closed-form scores of candidate directions, the sign
ambiguity, and the design matrix of the sun model for a fixed direction."""
from __future__ import annotations

import numpy as np

from engine.texture.delight.model import (
    _LUMA,
    _specular_lobe,
    fibonacci_sphere,
    lambert_basis,
)
from engine.texture.delight.samples import _Samples
from engine.texture.delight.settings import _DEFAULT_SETTINGS, DelightSettings
from engine.texture.delight.solve import _relative_weight, _ridge, _solve

_FINE_SPHERE = fibonacci_sphere(20000)
"""The grid the refinement cones are cut from (about 0.8° between neighbours)."""


def _cone(d: np.ndarray, max_deg: float) -> np.ndarray:
    """Directions of a fine sphere grid within ``max_deg`` of ``d`` (always including ``d``)."""
    sel = _FINE_SPHERE[_FINE_SPHERE @ d >= np.cos(np.deg2rad(max_deg))]
    return np.concatenate([d[None], sel], axis=0)


def _boundary_weight(vis: np.ndarray, settings: DelightSettings = _DEFAULT_SETTINGS) -> np.ndarray:
    """0 for samples partly shadowed in the coarse shadow map (their shadow state is uncertain)."""
    lo, hi = settings.penumbra
    return ((vis < lo) | (vis > hi)).astype(np.float64)


def _screen_candidates(s: _Samples, cands: np.ndarray, settings: DelightSettings,
                       vis: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """The candidates (C', 3) that light a plausible share of the samples, and their (M, C') shadowed
    Lambert terms ``max(0, n·d) * vis``."""
    cos = np.clip(s.normal @ cands.T, 0.0, None)  # (M, C)
    if vis is not None:
        cos *= vis[:, None]
    frac = (cos > settings.sun_lit_cos).mean(axis=0)
    keep = (frac > settings.min_lit_share) & (frac < settings.max_lit_share)
    return cands[keep], cos[:, keep]


def _ranked_suns(s: _Samples, wr: np.ndarray, cands: np.ndarray, settings: DelightSettings,
                 vis: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Sun directions among ``cands`` (C, 3) for the luminance channel with fixed robust weights, best first.

    For each candidate the model ``AO * SH(n) + c * max(0, n·d) * vis`` is solved in closed form
    (shared 9x9 block, one extra column per candidate; ``vis`` fixed cast-shadow visibility or 1);
    the cost is the robust (Cauchy) relative residual.
    Returns the directions (C', 3) that give a positive sun and their costs (C',), ascending.
    """
    lum = s.color @ _LUMA
    xb = lambert_basis(s.normal) * s.ao[:, None]
    w = s.weight * wr * _relative_weight(s.color, settings.relative_floor)
    wt = s.weight * (wr > 0)
    cands, cos = _screen_candidates(s, cands, settings, vis)
    xbw = xb * w[:, None]
    a_bb = xb.T @ xbw + np.diag(_ridge(xb, w, settings.ridge))
    a_bs = xbw.T @ cos  # (9, C)
    a_ss = np.einsum("mc,mc,m->c", cos, cos, w)
    r_b = xbw.T @ lum  # (9,)
    r_s = cos.T @ (w * lum)  # (C,)
    costs = np.full(len(cands), np.inf)
    a = np.empty((10, 10))
    a[:9, :9] = a_bb
    for c in range(len(cands)):
        a[:9, 9] = a[9, :9] = a_bs[:, c]
        a[9, 9] = a_ss[c] + 1e-12
        b = np.linalg.solve(a, np.concatenate([r_b, [r_s[c]]]))
        if b[9] <= 0:
            continue
        pred = xb @ b[:9] + cos[:, c] * b[9]
        rel = np.abs(pred - lum) / np.maximum(np.abs(pred), 1e-3)
        costs[c] = float(np.sum(wt * np.log1p((rel / settings.robust_scale) ** 2)))
    order = np.argsort(costs)
    order = order[np.isfinite(costs[order])]
    return cands[order], costs[order] / max(float(np.sum(wt)), 1e-12)


def _search_sun(s: _Samples, wr: np.ndarray, cands: np.ndarray, settings: DelightSettings,
                vis: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Best sun direction among ``cands`` (C, 3) (see :func:`_ranked_suns`); returns (d, cost) with
    d = 0 when no candidate gives a positive sun."""
    ranked, costs = _ranked_suns(s, wr, cands, settings, vis)
    if not len(ranked):
        return np.zeros(3), np.inf
    return ranked[0], float(costs[0])


def _restarts(ranked: np.ndarray, count: int, separation_deg: float) -> list[int]:
    """Indices of up to ``count`` of the ``ranked`` (C, 3) directions after the first, best first, each
    more than ``separation_deg`` from the first, from its opposite (the same fit without shadows) and
    from each other."""
    out: list[int] = []
    lim = np.cos(np.deg2rad(separation_deg))
    for i in range(1, len(ranked)):
        if len(out) >= count:
            break
        if all(abs(float(ranked[i] @ ranked[j])) < lim for j in [0, *out]):
            out.append(i)
    return out


def _resolve_sign(s: _Samples, wr: np.ndarray, d: np.ndarray, settings: DelightSettings) -> np.ndarray:
    """Pick ``d`` or ``-d``: without cast shadows, ``max(0, n·d) = max(0, -n·d) + n·d`` and the linear
    part is absorbed by the order-1 SH, so both fit the same. The physical one leaves an ambient
    that stays positive on the observed normals (the other needs a dark lobe opposite the light).
    """
    if not np.any(d):
        return d
    lum = s.color @ _LUMA
    xb = lambert_basis(s.normal) * s.ao[:, None]
    w = s.weight * wr * _relative_weight(s.color, settings.relative_floor)
    best, best_min = d, -np.inf
    for cand in (d, -d):
        x = np.concatenate([xb, np.clip(s.normal @ cand, 0.0, None)[:, None]], axis=1)
        b = _solve(x, lum[:, None], w, _ridge(x, w, settings.ridge))[:, 0]
        if b[9] <= 0:
            continue
        amb_min = float(np.percentile(xb @ b[:9], settings.sign_percentile))  # ambient at the observed normals
        if amb_min > best_min:
            best, best_min = cand, amb_min
    return best


def _sun_design(s: _Samples, xb: np.ndarray, d: np.ndarray, vis: np.ndarray | None, alpha: float | None) -> np.ndarray:
    """Design matrix (M, 10 or 11) of the sun model for direction ``d``: the AO-weighted SH basis
    ``xb`` (M, 9), the shadowed Lambert term, and with an exponent ``alpha`` the sheen lobe."""
    cos = np.clip(s.normal @ d, 0.0, None)
    if vis is not None:
        cos = cos * vis
    cols = [xb, cos[:, None]]
    if alpha is not None:
        spec = _specular_lobe(s.normal, s.view, d, alpha)
        cols.append((spec * (1.0 if vis is None else vis))[:, None])
    return np.concatenate(cols, axis=1)
