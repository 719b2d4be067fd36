"""The photo's darkening toward the face outline: :func:`limb_factor` and its fit, :func:`fit_limb`."""
from __future__ import annotations

import numpy as np

from engine.texture.color import luminance
from engine.texture.delight.settings import (
    _DEFAULT_SETTINGS,
    LIMB_POWER,
    DelightSettings,
)

__all__ = ["fit_limb", "fit_limb_to_texels", "limb_factor"]


def limb_factor(normals: np.ndarray, view_dirs: np.ndarray, k: float, power: float = LIMB_POWER) -> np.ndarray:
    """(M,) ``1 - k (1 - max(0, n·v))^power``: the photo's darkening toward the face outline
    (``power``: :data:`LIMB_POWER` unless the settings say otherwise)."""
    u = 1.0 - np.clip(np.einsum("mc,mc->m", normals, view_dirs), 0.0, 1.0)
    return (1.0 - k * u ** power).astype(np.float64)


def fit_limb(ratio: np.ndarray, cos_view: np.ndarray, settings: DelightSettings = _DEFAULT_SETTINGS) -> float:
    """The darkening ``k`` of :func:`limb_factor` from skin texels' photo / predicted shading.

    A face seen in a photo darkens toward its outline more than an order-2 SH of the light can say
    (the jaw and cheek turn away faster than the fitted mesh near its silhouette, light comes from
    near the camera, hair and ears occlude): left in, that reads as a darker albedo ring along the
    face oval, which then fails the skin tests and is filled from the template, a lighter band in
    the re-rendered photo. ``ratio`` (M,) is the observed / predicted luminance (1 = explained),
    ``cos_view`` (M,) n·v. Medians per n·v bin (robust to hair or background on the outline), each
    relative to the well-seen face (n·v > 0.7), are fitted by least squares; ``k`` in [0, LIMB_MAX].
    (The figures are ``settings``' ``limb_*`` fields.)
    """
    front = cos_view > settings.limb_front_cos
    if front.sum() < settings.limb_min_front:
        return 0.0
    base = float(np.median(ratio[front]))
    if base <= 0:
        return 0.0
    width = settings.limb_bin_width
    us, rs, ns = [], [], []
    for lo in np.arange(settings.limb_min_cos, settings.limb_front_cos, width):
        sel = (cos_view >= lo) & (cos_view < lo + width)
        if sel.sum() >= settings.limb_min_bin:
            us.append(1.0 - (lo + 0.5 * width))
            rs.append(float(np.median(ratio[sel])) / base)
            ns.append(float(sel.sum()))
    if len(us) < 2:
        return 0.0
    x = np.asarray(us) ** settings.limb_power
    w = np.sqrt(np.asarray(ns))
    k = float(np.sum(w * x * (1.0 - np.asarray(rs))) / max(np.sum(w * x * x), 1e-12))
    return float(np.clip(k, 0.0, settings.limb_max))


def fit_limb_to_texels(col: np.ndarray, shade: np.ndarray, spec: np.ndarray, nrm: np.ndarray, vdir: np.ndarray,
                       skin: np.ndarray, settings: DelightSettings = _DEFAULT_SETTINGS) -> float:
    """:func:`fit_limb` on texels (M, 3) of photo colour ``col``, predicted shading ``shade`` and
    sheen ``spec``, unit normals ``nrm`` and view directions ``vdir``; ``skin`` (M,) bool selects the
    texels that take part."""
    obs = luminance((col - spec)[skin])
    pred = luminance(shade[skin])
    ok = pred > 1e-3
    cos_v = np.einsum("mc,mc->m", nrm[skin], vdir[skin])
    return fit_limb(obs[ok] / pred[ok], cos_v[ok], settings)
