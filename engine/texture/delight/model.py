"""The image model: the lighting (:class:`LightingModel`), its SH Lambert basis, the sheen lobe and
the reference normals that fix the albedo/exposure scale (see :mod:`engine.texture.delight`)."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from engine.head.model import HeadModel
from engine.render.sh import LAMBERT_BANDS, sh_basis
from engine.texture.delight.limb import limb_factor
from engine.texture.delight.settings import LIMB_POWER
from engine.texture.unwrap import vertex_normals

__all__ = [
    "REFERENCE_SHADING",
    "LightingModel",
    "fibonacci_sphere",
    "lambert_basis",
    "reference_mean_shading",
    "reference_normals",
]

REFERENCE_SHADING = 1.0
"""Shading averaged over :func:`reference_normals` after normalisation (per channel): a white
face-shaped object would average 1.0, so a frontally lit, well exposed face keeps its photo colour."""

_LUMA = np.array([0.2126, 0.7152, 0.0722])
"""Rec.709 luminance weights (float64); :data:`_LUMA32` the same in float32."""
_LUMA32 = np.array([0.2126, 0.7152, 0.0722], np.float32)

_BAND_OF = np.array([0, 1, 1, 1, 2, 2, 2, 2, 2])
_LAMBERT = np.array([LAMBERT_BANDS[b] / np.pi for b in _BAND_OF], np.float64)


def fibonacci_sphere(n: int) -> np.ndarray:
    """(n, 3) float64 unit vectors spread evenly over the sphere (golden-angle spiral)."""
    i = np.arange(n) + 0.5
    z = 1.0 - 2.0 * i / n
    r = np.sqrt(np.clip(1.0 - z * z, 0.0, 1.0))
    phi = np.pi * (3.0 - np.sqrt(5.0)) * i
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1)


def lambert_basis(normals: np.ndarray) -> np.ndarray:
    """(M, 9) float64 basis ``B_k(n) = (A_l/π) Y_k(n)``: shading = ``B @ L`` for radiance SH ``L`` (9, 3)."""
    y = sh_basis(torch.from_numpy(np.ascontiguousarray(normals, np.float64))).numpy()
    return y * _LAMBERT


@lru_cache(maxsize=2)
def reference_normals(model: HeadModel) -> np.ndarray:
    """(K, 3) float64 unit normals of the template's face-skin vertices (region ``face``), head space.

    The lighting normalisation averages shading over these directions (see the package docstring).
    """
    v = model.vertices.numpy()
    f = model.faces.numpy()
    n = vertex_normals(v, f).astype(np.float64)
    face = model.vertex_region.numpy() == model.region_id("face")
    return n[face]


@dataclass(frozen=True)
class LightingModel:
    """The estimated lighting, head space, linear RGB (see the package docstring for the model).

    ``sh`` (9, 3): ambient radiance SH (``engine.render.sh`` convention), multiplied by AO.
    ``sun_direction`` (3,): unit vector toward the dominant distant light (zeros when none).
    ``sun_rgb`` (3,): shading the sun adds at normal incidence (before cast shadows).
    ``specular_rgb`` (3,): peak of the Blinn-Phong lobe; ``shininess``: its exponent α.
    ``limb``: the photo's darkening toward the face outline (:func:`limb_factor`), 0 for none;
    ``limb_power``: that darkening's exponent.
    """

    sh: np.ndarray
    sun_direction: np.ndarray
    sun_rgb: np.ndarray
    specular_rgb: np.ndarray
    shininess: float
    limb: float = 0.0
    limb_power: float = LIMB_POWER

    def diffuse(self, normals: np.ndarray, ao: np.ndarray | None = None, vis: np.ndarray | None = None,
                view_dirs: np.ndarray | None = None) -> np.ndarray:
        """Shading S (M, 3) for unit normals (M, 3), AO (M,) and sun visibility (M,) (1 = lit).

        With ``view_dirs`` (M, 3) (a re-render of the photo) the photo's darkening toward the face
        outline, :func:`limb_factor`, is applied too; relighting leaves it out."""
        amb = lambert_basis(normals) @ self.sh
        if ao is not None:
            amb = amb * ao[:, None]
        cos = np.clip(normals @ self.sun_direction, 0.0, None)
        if vis is not None:
            cos = cos * vis
        shade = amb + cos[:, None] * self.sun_rgb[None, :]
        if view_dirs is not None and self.limb > 0.0:
            shade = shade * limb_factor(normals, view_dirs, self.limb, self.limb_power)[:, None]
        return shade.astype(np.float32)

    def specular(self, normals: np.ndarray, view_dirs: np.ndarray, vis: np.ndarray | None = None) -> np.ndarray:
        """Specular radiance (M, 3) added on top of ``albedo * S``."""
        lobe = _specular_lobe(normals, view_dirs, self.sun_direction, self.shininess)
        if vis is not None:
            lobe = lobe * vis
        return (lobe[:, None] * self.specular_rgb[None, :]).astype(np.float32)

    def equivalent_sh(self) -> np.ndarray:
        """(9, 3) radiance SH of the whole diffuse lighting (ambient + sun band-limited to order 2)."""
        y = lambert_basis(self.sun_direction[None])[0] / _LAMBERT  # Y_k(d)
        # A distant light of shading strength s at normal incidence: L_k = s * Y_k(d) (see sh_from_directional).
        return (self.sh + np.pi * y[:, None] * self.sun_rgb[None, :]).astype(np.float32)


def reference_mean_shading(normals: np.ndarray, sh: np.ndarray, sun_direction: np.ndarray,
                           sun_rgb: np.ndarray) -> np.ndarray:
    """(3,) mean unoccluded shading over ``normals`` (K, 3), e.g. :func:`reference_normals`."""
    amb = lambert_basis(normals) @ sh
    sun = np.clip(normals @ sun_direction, 0.0, None)[:, None] * sun_rgb[None, :]
    return (amb + sun).mean(axis=0)


def _specular_lobe(n: np.ndarray, v: np.ndarray, d: np.ndarray, alpha: float) -> np.ndarray:
    """(M,) Blinn-Phong lobe ``max(0, n·h)^α`` with ``h = normalize(d + v)``, 0 where ``n·d <= 0`` or
    without a sun (``d`` = 0), for unit normals ``n`` and view directions ``v`` (M, 3)."""
    if not np.any(d):
        return np.zeros(n.shape[0], np.float64)
    h = v + d[None, :]
    h /= np.maximum(np.linalg.norm(h, axis=1, keepdims=True), 1e-12)
    nh = np.clip(np.einsum("ij,ij->i", n, h), 0.0, None)
    lit = (n @ d) > 0.0
    return np.where(lit, nh**alpha, 0.0)
