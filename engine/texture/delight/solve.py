"""Robust linear least squares: weighted ridge solves, relative-error weights and IRLS with Cauchy
weights on the relative residual (the lighting model is linear for a fixed sun direction)."""
from __future__ import annotations

import numpy as np

from engine.texture.delight.model import _LUMA
from engine.texture.delight.settings import _RELATIVE_FLOOR

_SOLVE_JITTER = 1e-9
"""Relative diagonal added to every normal-equation matrix (see :func:`_solve`)."""


def _solve(x: np.ndarray, y: np.ndarray, w: np.ndarray, ridge: np.ndarray,
           shared: np.ndarray | None = None) -> np.ndarray:
    """Weighted ridge least squares: argmin Σ w (x b - y)^2 + Σ ridge b^2, for (M, P) x and (M, C) y.

    With ``shared`` (M,), one more column whose coefficient is the same for every channel (the
    white specular sheen) is solved jointly; its coefficient is returned as an extra row (P+1, C).
    """
    xw = x * w[:, None]
    g = x.T @ xw + np.diag(ridge[: x.shape[1]])
    # A column can be all zero (a sun that lights none of the samples): a tiny relative jitter keeps
    # the system solvable (that coefficient comes out 0) without moving any well-posed solution.
    g += np.eye(len(g)) * (_SOLVE_JITTER * max(float(np.trace(g)) / len(g), 1e-12))
    if shared is None:
        return np.linalg.solve(g, xw.T @ y)
    return _solve_shared(g, xw, y, w, shared)


def _solve_shared(g: np.ndarray, xw: np.ndarray, y: np.ndarray, w: np.ndarray, shared: np.ndarray) -> np.ndarray:
    """:func:`_solve` with the ``shared`` column: the per-channel blocks ``g`` (P, P) side by side,
    coupled through the one coefficient they share."""
    p, c = xw.shape[1], y.shape[1]
    gs = xw.T @ shared
    a = np.zeros((p * c + 1, p * c + 1))
    rhs = np.zeros(p * c + 1)
    for k in range(c):
        a[k * p:(k + 1) * p, k * p:(k + 1) * p] = g
        a[k * p:(k + 1) * p, -1] = a[-1, k * p:(k + 1) * p] = gs
        rhs[k * p:(k + 1) * p] = xw.T @ y[:, k]
    a[-1, -1] = c * float(shared @ (w * shared)) + 1e-12
    rhs[-1] = float((shared * w) @ y.sum(axis=1))
    sol = np.linalg.solve(a, rhs)
    return np.concatenate([sol[:-1].reshape(c, p).T, np.full((1, c), sol[-1])], axis=0)


def _cauchy(rel: np.ndarray, scale: float) -> np.ndarray:
    return 1.0 / (1.0 + (rel / scale) ** 2)


def _rel_residual(pred: np.ndarray, obs: np.ndarray) -> np.ndarray:
    lum_p = pred @ _LUMA
    err = np.abs(pred - obs) @ _LUMA
    return err / np.maximum(np.abs(lum_p), 1e-3)


def _relative_weight(y: np.ndarray, floor: float = _RELATIVE_FLOOR) -> np.ndarray:
    """``1 / (lum + f * median(lum))²`` (``f`` = ``floor``): between absolute and relative least
    squares, so dark texels (shadowed side) count more than in plain least squares without letting
    the darkest, least explainable texels (deep creases, unmodelled shadows) dominate."""
    lum = y @ _LUMA
    offset = floor * float(np.median(lum)) + 1e-3
    return 1.0 / (np.maximum(lum, 0.0) + offset) ** 2


def _irls(x: np.ndarray, y: np.ndarray, w0: np.ndarray, ridge: np.ndarray, iters: int, scale: float,
          w_robust: np.ndarray | None = None, shared: np.ndarray | None = None, floor: float = _RELATIVE_FLOOR
          ) -> tuple[np.ndarray, np.ndarray, float]:
    """Iteratively re-weighted (Cauchy on the relative residual) least squares; returns (b, weights, cost).

    ``floor``: the :func:`_relative_weight` floor."""
    wr = np.ones(len(y)) if w_robust is None else w_robust
    wf = w0 * _relative_weight(y, floor)
    xs = x if shared is None else np.concatenate([x, shared[:, None]], axis=1)
    for _ in range(iters):
        b = _solve(x, y, wf * wr, ridge, shared)
        rel = _rel_residual(xs @ b, y)
        wr = _cauchy(rel, scale)
    b = _solve(x, y, wf * wr, ridge, shared)
    rel = _rel_residual(xs @ b, y)
    cost = float(np.sum(w0 * np.log1p((rel / scale) ** 2)) / max(np.sum(w0), 1e-12))
    return b, wr, cost


def _ridge(x: np.ndarray, w: np.ndarray, strength: float) -> np.ndarray:
    """Tikhonov weights on the order-1 (x1) and order-2 (x4) SH coefficients, relative to the data."""
    n_extra = x.shape[1] - 9
    scale = float(np.einsum("mp,mp,m->", x[:, :9], x[:, :9], w)) / 9.0
    return np.array([0.0, 1, 1, 1, 4, 4, 4, 4, 4] + [0.0] * n_extra) * strength * scale
