"""Estimating the lighting from skin samples: :func:`estimate_lighting` and its steps."""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from engine.head.model import HeadModel
from engine.runtime import CPU, Runtime
from engine.texture.delight.model import (
    REFERENCE_SHADING,
    LightingModel,
    _specular_lobe,
    fibonacci_sphere,
    lambert_basis,
    reference_mean_shading,
    reference_normals,
)
from engine.texture.delight.samples import _Samples, _subsample
from engine.texture.delight.search import (
    _boundary_weight,
    _cone,
    _ranked_suns,
    _resolve_sign,
    _restarts,
    _search_sun,
    _sun_design,
)
from engine.texture.delight.settings import _DEFAULT_SETTINGS, DelightSettings
from engine.texture.delight.solve import (
    _cauchy,
    _irls,
    _rel_residual,
    _relative_weight,
    _ridge,
)
from engine.texture.delight.visibility import ShadowMap, shadow_map, sun_visibility

__all__ = ["estimate_lighting"]


@dataclass(frozen=True)
class _Problem:
    """What every solve of one estimation shares: the samples ``s``, their colours ``y`` (M, 3), the
    AO-weighted SH basis ``xb`` (M, 9), the relative-error weights ``rw`` (M,) the ridge is scaled
    by, and the settings (their ``robust_scale`` adapted to the photo, see :func:`_core_weights`)."""

    s: _Samples
    y: np.ndarray
    xb: np.ndarray
    rw: np.ndarray
    settings: DelightSettings

    def irls(self, x: np.ndarray, iters: int, w_robust: np.ndarray | None,
             shared: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, float]:
        """:func:`~engine.texture.delight.solve._irls` of the colours on design ``x`` (M, P)."""
        st = self.settings
        return _irls(x, self.y, self.s.weight, _ridge(x, self.rw, st.ridge), iters, st.robust_scale, w_robust,
                     shared, st.relative_floor)


def _core_weights(s: _Samples, xb: np.ndarray, y: np.ndarray,
                  settings: DelightSettings) -> tuple[np.ndarray | None, float]:
    """Initial robust weights and the robust scale, from an ambient fit on the core samples.

    Hair over the forehead is a broad region much darker than skin; started from uniform weights,
    the relative-error fit bends toward it (measured on the astronaut photo: median relative
    residual 0.47 and a light from below, against 0.14 and a frontal light without the forehead).
    Fitted first on the skin below the brows, every sample is then weighed by how well that fit
    explains it. The Cauchy scale follows the core fit's typical residual (a fitted mesh on a real
    photo leaves more than ``robust_scale``; with the fixed scale most texels would be weighted
    out and the fit would lock onto a few), never below ``robust_scale``.
    """
    c = s.core
    if c is None or c.sum() < settings.min_core_samples:
        return None, settings.robust_scale
    rwc = s.weight[c] * _relative_weight(y[c], settings.relative_floor)
    b, _, _ = _irls(xb[c], y[c], s.weight[c], _ridge(xb[c], rwc, settings.ridge), settings.irls_iters,
                    settings.robust_scale, floor=settings.relative_floor)
    rel = _rel_residual(xb @ b, y)
    scale = float(np.clip(1.4826 * float(np.median(rel[c])), settings.robust_scale,
                          settings.max_robust_scale * settings.robust_scale))
    return _cauchy(rel, scale), scale


def _problem(s: _Samples, settings: DelightSettings) -> tuple[_Problem, np.ndarray | None]:
    """The shared data of the estimation and the initial robust weights (see :func:`_core_weights`)."""
    y = s.color.astype(np.float64)
    xb = lambert_basis(s.normal) * s.ao[:, None]
    rw = s.weight * _relative_weight(y, settings.relative_floor)
    wr0, scale = _core_weights(s, xb, y, settings)
    return _Problem(s, y, xb, rw, replace(settings, robust_scale=scale)), wr0


def _coarse_suns(p: _Problem, wr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coarse search of the sun direction over the sphere (on a subsample): directions (C, 3) and
    costs (C,), best first."""
    sub = _subsample(len(p.y), p.settings.search_samples)
    return _ranked_suns(p.s.take(sub), wr[sub], fibonacci_sphere(p.settings.sun_candidates), p.settings)


def _search_unshadowed(p: _Problem, wr: np.ndarray, d: np.ndarray, cost_d: float
                       ) -> tuple[np.ndarray, float, np.ndarray]:
    """From the coarse direction ``d``: its sign, then refinements in shrinking cones, each after
    re-weighting with the sun model. Returns (direction or 0, its search cost, the robust weights)."""
    st, s = p.settings, p.s
    d = _resolve_sign(s, wr, d, st)
    w_cur = wr
    for cone in st.sun_refine_cones:
        if not np.any(d):
            break
        x = _sun_design(s, p.xb, d, None, None)
        _, w_cur, _ = p.irls(x, st.reweight_iters, w_cur)
        d_new, c_new = _search_sun(s, w_cur, _cone(d, cone), st)
        if not np.any(d_new):
            break
        d, cost_d = d_new, c_new
    return d, cost_d, w_cur


def _search_shadowed(p: _Problem, d: np.ndarray, cost_d: float, w_cur: np.ndarray, vertices: np.ndarray,
                     faces: np.ndarray, runtime: Runtime) -> tuple[np.ndarray, float, np.ndarray]:
    """Alternate: cast shadows for the current direction, then re-search the direction nearby with
    those shadows held fixed (texels near the shadow boundary left out), then shadows again.

    Returns (direction, its search cost, the robust weights)."""
    st, s = p.settings, p.s
    for cone in st.shadow_refine_cones:
        vis = sun_visibility(vertices, faces, s.position, s.normal, d, st.search_shadow_resolution,
                             runtime=runtime)
        x = _sun_design(s, p.xb, d, vis, None)
        _, w_cur, _ = p.irls(x, st.reweight_iters, w_cur)
        d_new, c_new = _search_sun(s, w_cur * _boundary_weight(vis, st), _cone(d, cone), st, vis)
        if not np.any(d_new):  # no positive sun near d with these shadows: keep d
            break
        d, cost_d = d_new, c_new
    return d, cost_d, w_cur


def _fit_sun(p: _Problem, d: np.ndarray, vis: np.ndarray,
             w_cur: np.ndarray) -> tuple[np.ndarray, float, float] | None:
    """Final fit with the sun toward ``d`` (cast-shadow visibility ``vis``) and the sheen lobe, for
    each of the settings' exponents; returns the best (coefficients (11, 3), cost, exponent), or
    None when no exponent gives a positive sun."""
    st, s = p.settings, p.s
    x = _sun_design(s, p.xb, d, vis, None)
    best = None
    for alpha in st.shininess:
        spec = _specular_lobe(s.normal, s.view, d, alpha) * vis
        b, _, cost = p.irls(x, st.irls_iters, w_cur, shared=spec)
        if b[10, 0] < 0:  # a negative lobe is not physical: refit without it
            b, _, cost = p.irls(x, st.irls_iters, w_cur)
            b = np.concatenate([b, np.zeros((1, 3))])
        if np.all(b[9] > 0) and (best is None or cost < best[1]):
            best = (b, cost, alpha)
    return best


def _normalised(model: HeadModel, sh: np.ndarray, d: np.ndarray, sun_rgb: np.ndarray, spec_rgb: np.ndarray,
                alpha: float) -> tuple[LightingModel, np.ndarray]:
    """The lighting scaled so that its mean shading over the reference normals is
    :data:`REFERENCE_SHADING` per channel; also returns the scale, the skin albedo ``a0`` (3,).

    The fitted shading includes the (unknown, constant) skin albedo a0 per channel."""
    mean = reference_mean_shading(reference_normals(model), sh, d, sun_rgb)
    a0 = np.maximum(mean, 1e-6) / REFERENCE_SHADING
    light = LightingModel(sh=(sh / a0).astype(np.float64), sun_direction=d.astype(np.float64),
                          sun_rgb=(sun_rgb / a0).astype(np.float64), specular_rgb=np.clip(spec_rgb, 0.0, None),
                          shininess=float(alpha))
    return light, a0


def _keeps_sun(best: tuple[np.ndarray, float, float] | None, cost_sh: float, settings: DelightSettings) -> bool:
    """Whether the final sun fit ``best`` (coefficients, cost, exponent) lowers the ambient-only fit's
    robust cost ``cost_sh`` by at least ``settings.min_sun_gain``."""
    return best is not None and best[1] < cost_sh * (1.0 - settings.min_sun_gain)


def _sun_from(p: _Problem, wr: np.ndarray, start: np.ndarray, cost: float, model: HeadModel, vertices: np.ndarray,
              runtime: Runtime, info: dict[str, float]
              ) -> tuple[np.ndarray, tuple[np.ndarray, float, float] | None, ShadowMap | None]:
    """Steps 2-4 of :func:`estimate_lighting` from the coarse direction ``start``: (direction, the best
    final fit or None, its shadow map); the search costs go into ``info``."""
    d, cost_d, w_cur = _search_unshadowed(p, wr, start, cost)
    info["cost_sun_search"] = cost_d
    if not np.any(d):
        return d, None, None
    faces = model.faces.numpy()
    d, cost_d, w_cur = _search_shadowed(p, d, cost_d, w_cur, vertices, faces, runtime)
    info["cost_shadowed_search"] = cost_d
    smap = shadow_map(vertices, faces, d, p.settings.shadow_map_resolution, runtime)
    return d, _fit_sun(p, d, smap.visibility(p.s.position, p.s.normal), w_cur), smap


def estimate_lighting(samples: _Samples, model: HeadModel, vertices: np.ndarray,
                      settings: DelightSettings = _DEFAULT_SETTINGS, runtime: Runtime = CPU
                      ) -> tuple[LightingModel, dict[str, float], ShadowMap | None]:
    """Fit the lighting model to skin samples; returns the normalised lighting, fit figures and the
    sun's shadow map (None without a sun). The shadow maps are rasterized on ``runtime``.

    1. ambient SH alone (IRLS) -> robust weights; 2. coarse search of the sun direction over the
    sphere, then two refinements in shrinking cones, each after re-weighting with the sun model;
    3. if the sun helps: alternate cast shadows (coarse shadow map) and a search in a shrinking cone
    with those shadows fixed; 4. final fit with shadows + specular lobe (a few exponents), IRLS; the
    sun is kept only if it lowers the robust cost; when it does not, steps 2-4 start again from the
    next-best coarse directions far from the first (``sun_restarts``): near a threshold the first
    can settle beside the real light. 5. normalisation (package docstring).
    """
    p, wr0 = _problem(samples, settings)
    st = p.settings
    b_sh, wr, cost_sh = p.irls(p.xb, st.irls_iters, wr0)
    ranked, costs = _coarse_suns(p, wr)
    info = {"cost_sh": cost_sh}
    best, kept = None, False
    starts = [0, *_restarts(ranked, st.sun_restarts, st.restart_separation_deg)] if len(ranked) else []
    for n, i in enumerate(starts):
        d, best, smap = _sun_from(p, wr, ranked[i], float(costs[i]), model, vertices, runtime, info)
        kept = _keeps_sun(best, cost_sh, st)
        if kept:
            info["sun_start"] = float(n)
            break
    if kept:
        b, cost, alpha = best
        sh, sun_rgb, spec_rgb = b[:9], b[9], b[10]
        info.update(cost=cost, sun_used=1.0)
    else:
        d = np.zeros(3)
        smap = None
        sh, sun_rgb, spec_rgb, alpha = b_sh, np.zeros(3), np.zeros(3), st.shininess[0]
        info.update(cost=cost_sh, sun_used=0.0)
    light, a0 = _normalised(model, sh, d, sun_rgb, spec_rgb, alpha)
    info.update({f"skin_albedo_{c}": float(a0[i]) for i, c in enumerate("rgb")})
    return light, info, smap
