"""De-lighting a whole unwrap: :func:`delight` and its result, :class:`Delit`."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from engine.head.model import HeadModel
from engine.runtime import CPU, Runtime
from engine.texture.delight.confidence import _texel_confidence
from engine.texture.delight.estimate import estimate_lighting
from engine.texture.delight.grid import _region_mask
from engine.texture.delight.limb import fit_limb_to_texels, limb_factor
from engine.texture.delight.model import LightingModel
from engine.texture.delight.repair import _find_outliers, _repair
from engine.texture.delight.samples import (
    SKIN_LIGHTING_REGIONS,
    _below_brows,
    _gather_samples,
    _local_dark,
)
from engine.texture.delight.settings import _DEFAULT_SETTINGS, DelightSettings
from engine.texture.delight.visibility import ShadowMap, texel_ambient_occlusion
from engine.texture.unwrap import Unwrap

__all__ = ["Delit", "delight"]


@dataclass
class Delit:
    """De-lit texture (grids ``(N, N, ...)`` float32, row 0 = top).

    ``albedo`` (N, N, 3) linear RGB (0 where unseen) in the photo's exposure: above 1 where an
    over-exposed photo's skin is (up to ``DelightSettings.albedo_ceiling``) until the calibration's gain; ``confidence`` (N, N) in [0, 1] (the unwrap
    weight times how well lit and how well explained the texel is, after repair); ``shading`` and
    ``specular`` (N, N, 3) the model's prediction; ``sun_visibility`` (N, N) cast-shadow term;
    ``outliers`` (N, N) bool texels that were repaired; ``lighting`` the estimated lighting;
    ``shadow_map`` the sun's shadow map (None without a sun).
    """

    albedo: np.ndarray
    confidence: np.ndarray
    shading: np.ndarray
    specular: np.ndarray
    sun_visibility: np.ndarray
    outliers: np.ndarray
    lighting: LightingModel
    info: dict[str, float] = field(default_factory=dict)
    shadow_map: ShadowMap | None = None


@dataclass
class _Prediction:
    """The model's prediction on the texels ``idx`` (flat indices into the ``n`` x ``n`` grid):
    their normals (M, 3), sun visibility (M,), shading and sheen (M, 3) and de-lit colour (M, 3),
    under ``light`` (the estimated lighting with its limb darkening fitted)."""

    n: int
    idx: np.ndarray
    normal: np.ndarray
    vis: np.ndarray
    shade: np.ndarray
    spec: np.ndarray
    albedo: np.ndarray
    light: LightingModel

    def grid(self, vals: np.ndarray, fill: float = 0.0) -> np.ndarray:
        """(N, N, ...) float32 grid holding ``vals`` (M, ...) at the texels, ``fill`` elsewhere."""
        n = self.n
        out = np.full((n * n,) + vals.shape[1:], fill, np.float32)
        out[self.idx] = vals
        return out.reshape((n, n) + vals.shape[1:])


def _predict(unwrap: Unwrap, ao: np.ndarray, light: LightingModel, smap: ShadowMap | None, skin: np.ndarray,
             seen: np.ndarray, settings: DelightSettings) -> _Prediction:
    """Shade every texel the camera sees, fit the limb darkening on skin (``settings.limb``) and
    divide the lighting out."""
    # De-lit colour on every texel the camera sees (grazing and silhouette-edge texels included, at
    # confidence 0 here): the pipeline may still use it where it is plainly skin (see
    # ``engine.texture.pipeline``'s grazing layer).
    idx = np.flatnonzero((seen | (unwrap.visible & unwrap.covered)).reshape(-1))
    nrm = unwrap.normal.reshape(-1, 3)[idx].astype(np.float64)
    pos = unwrap.position.reshape(-1, 3)[idx].astype(np.float64)
    vdir = unwrap.view_dir.reshape(-1, 3)[idx].astype(np.float64)
    a = ao.reshape(-1)[idx].astype(np.float64)
    if smap is not None:
        vis = smap.visibility(pos, nrm)
    else:
        vis = np.ones(len(idx), np.float32)
    shade = light.diffuse(nrm, a, vis)
    spec = light.specular(nrm, vdir, vis)
    col = unwrap.color.reshape(-1, 3)[idx]
    if settings.limb:
        on_skin = skin.reshape(-1)[idx] & ~unwrap.saturated.reshape(-1)[idx]
        k = fit_limb_to_texels(col, shade, spec, nrm, vdir, on_skin, settings)
        light = replace(light, limb=k, limb_power=settings.limb_power)
        shade = (shade * limb_factor(nrm, vdir, light.limb, light.limb_power)[:, None]).astype(np.float32)
    alb = (col - spec) / np.maximum(shade, 1e-3)
    return _Prediction(unwrap.color.shape[0], idx, nrm, vis, shade, spec, alb, light)


def delight(unwrap: Unwrap, model: HeadModel, vertices: np.ndarray, mirror_index: np.ndarray | None = None,
            ao: np.ndarray | None = None, settings: DelightSettings = _DEFAULT_SETTINGS,
            runtime: Runtime = CPU, exclude: np.ndarray | None = None) -> Delit:
    """Estimate the lighting on skin texels and divide it out of every seen texel.

    Args:
        unwrap: from :func:`engine.texture.unwrap.unwrap_photo`.
        model, vertices: the head model and the posed vertices (V, 3) the unwrap used.
        mirror_index: optional (N*N,) int64 flat index of each texel's mirror texel (-1 if none),
            used to repair outliers; see :func:`engine.texture.complete.mirror_lookup`.
        ao: optional (N, N) AO per texel (default: the template's, cached).
        runtime: where the depth maps (AO, shadows) are rasterized; the solve is numpy on the CPU.
        exclude: optional (N, N) bool texels kept out of the lighting estimate (hair found over the
            skin); they are still de-lit.
    """
    n = unwrap.color.shape[0]
    ao = texel_ambient_occlusion(model, n, runtime=runtime) if ao is None else ao
    skin = _region_mask(unwrap, model, SKIN_LIGHTING_REGIONS)
    lit_skin = skin if exclude is None else skin & ~exclude
    samples = _gather_samples(unwrap, ao, lit_skin & ~_local_dark(unwrap, skin, settings), settings,
                              _below_brows(unwrap, model))
    light, info, smap = estimate_lighting(samples, model, np.asarray(vertices, np.float64), settings, runtime)
    seen = unwrap.weight > 0.0
    pred = _predict(unwrap, ao, light, smap, lit_skin, seen, settings)
    light = pred.light
    if settings.limb:
        info["limb"] = light.limb
    albedo = np.clip(pred.grid(pred.albedo), 0.0, settings.albedo_ceiling)
    shading = pred.grid(pred.shade)
    specular = pred.grid(pred.spec)
    sunvis = pred.grid(pred.vis.astype(np.float32), fill=1.0)
    conf = _texel_confidence(unwrap, model, shading, sunvis, light, seen, pred.idx, pred.normal, settings)
    conf[unwrap.saturated] = 0.0  # clipped photo: colour unknown, repaired below
    outliers = _find_outliers(albedo, conf, shading, unwrap, model, mirror_index, settings) | unwrap.saturated
    albedo, conf = _repair(albedo, conf, outliers, mirror_index, settings)
    info["outlier_fraction"] = float(outliers.sum() / max(seen.sum(), 1))
    return Delit(albedo, conf.astype(np.float32), shading, specular, sunvis, outliers, light, info, smap)
