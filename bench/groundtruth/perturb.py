"""Photo perturbations for "same photo, other exposure / white balance" tests.

Benchmark / test tool only, independent of ``engine/``. All operations work on 8-bit sRGB photos
((..., 3) uint8, RGB order) through linear light:

* :func:`change_exposure` - the photo as it would have been recorded ``ev`` stops brighter/darker
  (linear scaling, clipped like a sensor/encoder would clip).
* :func:`shift_white_balance` - the photo as a camera with a mis-set white balance would record it
  (von Kries adaptation in the Bradford cone space between two Planckian whites).
"""
from __future__ import annotations

import numpy as np

__all__ = [
    "srgb_to_linear", "linear_to_srgb", "decode_srgb8", "encode_srgb8", "change_exposure",
    "planckian_white_xy", "white_balance_matrix", "shift_white_balance",
    "SRGB_TO_XYZ", "XYZ_TO_SRGB", "BRADFORD",
]

# ---------------------------------------------------------------------------------------------
# sRGB transfer function (IEC 61966-2-1:1999)
# ---------------------------------------------------------------------------------------------


def srgb_to_linear(v: np.ndarray) -> np.ndarray:
    """IEC 61966-2-1 decoding: sRGB-encoded values in [0, 1] -> linear light (float64).

    ``v / 12.92`` for ``v <= 0.04045``, else ``((v + 0.055) / 1.055) ** 2.4``. Values outside
    [0, 1] follow the same formulas (negatives take the linear segment)."""
    v = np.asarray(v, dtype=np.float64)
    return np.where(v <= 0.04045, v / 12.92, ((np.maximum(v, 0.04045) + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(v: np.ndarray) -> np.ndarray:
    """IEC 61966-2-1 encoding: linear light -> sRGB-encoded values (float64).

    ``12.92 * v`` for ``v <= 0.0031308``, else ``1.055 * v ** (1 / 2.4) - 0.055``."""
    v = np.asarray(v, dtype=np.float64)
    return np.where(v <= 0.0031308, 12.92 * v,
                    1.055 * np.maximum(v, 0.0031308) ** (1.0 / 2.4) - 0.055)


REC709_LUMA = np.array([0.2126, 0.7152, 0.0722])
"""Relative luminance weights of linear sRGB-primaries RGB."""


def luminance(linear: np.ndarray) -> np.ndarray:
    """``[..., 3]`` linear RGB -> ``[...]`` relative luminance (float64)."""
    return np.asarray(linear, np.float64) @ REC709_LUMA


def decode_srgb8(rgb_uint8: np.ndarray) -> np.ndarray:
    """8-bit sRGB codes -> linear light in [0, 1] (float64)."""
    arr = np.asarray(rgb_uint8)
    if arr.dtype != np.uint8:
        raise ValueError(f"expected uint8 sRGB codes, got {arr.dtype}")
    return srgb_to_linear(arr / 255.0)


def encode_srgb8(linear: np.ndarray) -> np.ndarray:
    """Linear light -> 8-bit sRGB codes: clipped to [0, 1], encoded, rounded to nearest."""
    return np.rint(linear_to_srgb(np.clip(linear, 0.0, 1.0)) * 255.0).astype(np.uint8)


# ---------------------------------------------------------------------------------------------
# Exposure
# ---------------------------------------------------------------------------------------------


def change_exposure(rgb_uint8: np.ndarray, ev: float) -> np.ndarray:
    """The photo ``ev`` stops brighter (``ev > 0``) or darker: linear light times ``2 ** ev``,
    clipped to [0, 1], re-encoded to 8-bit sRGB (rounded). Any shape of uint8 codes."""
    return encode_srgb8(decode_srgb8(rgb_uint8) * (2.0 ** float(ev)))


# ---------------------------------------------------------------------------------------------
# White balance
# ---------------------------------------------------------------------------------------------

_KIM_T_MIN, _KIM_T_MAX = 1667.0, 25000.0


def planckian_white_xy(cct_kelvin: float) -> tuple[float, float]:
    """CIE 1931 (x, y) chromaticity of a blackbody (Planckian radiator) at ``cct_kelvin``.

    Uses the cubic-spline approximation of the Planckian locus by Kim et al.:
    B. Kang, O. Moon, C. Hong, H. Lee, B. Cho, Y. Kim, "Design of Advanced Color Temperature
    Control System for HDTV Applications", Journal of the Korean Physical Society 41(6),
    865-871 (2002) (also US patent 7,024,034 B2, Kim et al.). It fits the chromaticity obtained by
    integrating Planck's law against the CIE 1931 2-degree colour-matching functions, valid for
    1667 K <= T <= 25000 K, to about 1e-3 in x and y (e.g. 6504 K -> (0.3134, 0.3236);
    2856 K -> (0.4471, 0.4075); the integrated values are (0.3135, 0.3237), (0.4476, 0.4074)).
    Note that D65 (0.3127, 0.3290) is a daylight phase slightly off (above) this locus.
    """
    t = float(cct_kelvin)
    if not _KIM_T_MIN <= t <= _KIM_T_MAX:
        raise ValueError(f"cct_kelvin must be in [{_KIM_T_MIN:g}, {_KIM_T_MAX:g}] K, got {t:g}")
    u = 1.0e3 / t  # the published coefficients are in powers of 10^3 / T
    if t <= 4000.0:
        x = -0.2661239 * u**3 - 0.2343589 * u**2 + 0.8776956 * u + 0.179910
    else:
        x = -3.0258469 * u**3 + 2.1070379 * u**2 + 0.2226347 * u + 0.240390
    if t <= 2222.0:
        y = -1.1063814 * x**3 - 1.34811020 * x**2 + 2.18555832 * x - 0.20219683
    elif t <= 4000.0:
        y = -0.9549476 * x**3 - 1.37418593 * x**2 + 2.09137015 * x - 0.16748867
    else:
        y = 3.0817580 * x**3 - 5.87338670 * x**2 + 3.75112997 * x - 0.37001483
    return float(x), float(y)


def _xyz_from_primaries() -> np.ndarray:
    """Linear sRGB -> CIE XYZ (D65 white has Y = 1), from the IEC 61966-2-1 primaries and white."""
    prim = np.array([[0.64, 0.33], [0.30, 0.60], [0.15, 0.06]])
    white = np.array([0.3127 / 0.3290, 1.0, (1.0 - 0.3127 - 0.3290) / 0.3290])
    cols = np.stack([prim[:, 0] / prim[:, 1], np.ones(3), (1 - prim.sum(1)) / prim[:, 1]])
    return cols * np.linalg.solve(cols, white)


SRGB_TO_XYZ = _xyz_from_primaries()
"""Linear sRGB -> XYZ (rows X, Y, Z; ~[[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722],
[0.0193, 0.1192, 0.9505]])."""
XYZ_TO_SRGB = np.linalg.inv(SRGB_TO_XYZ)
BRADFORD = np.array([[0.8951, 0.2664, -0.1614],
                     [-0.7502, 1.7135, 0.0367],
                     [0.0389, -0.0685, 1.0296]])
"""XYZ -> Bradford "cone" (sharpened RGB) responses (Lam 1985)."""


def _white_xyz(cct_kelvin: float) -> np.ndarray:
    x, y = planckian_white_xy(cct_kelvin)
    return np.array([x / y, 1.0, (1.0 - x - y) / y])


def white_balance_matrix(to_kelvin: float, from_kelvin: float = 5500.0) -> np.ndarray:
    """The 3x3 matrix ``M`` (linear sRGB -> linear sRGB, applied as ``rgb @ M.T``) of
    :func:`shift_white_balance`: ``XYZ_TO_SRGB @ inv(B) @ diag(B w_from / B w_to) @ B @
    SRGB_TO_XYZ`` with ``B`` the Bradford matrix and ``w`` the Planckian whites at Y = 1. It maps
    the ``to_kelvin`` white onto the ``from_kelvin`` white (von Kries)."""
    cones = BRADFORD @ _white_xyz(from_kelvin) / (BRADFORD @ _white_xyz(to_kelvin))
    return XYZ_TO_SRGB @ np.linalg.inv(BRADFORD) @ np.diag(cones) @ BRADFORD @ SRGB_TO_XYZ


def shift_white_balance(rgb_uint8: np.ndarray, to_kelvin: float,
                        from_kelvin: float = 5500.0) -> np.ndarray:
    """The photo as a camera with its white balance set to ``to_kelvin`` would have recorded it,
    given that ``rgb_uint8`` is the correctly balanced record of a scene lit by a ``from_kelvin``
    blackbody (the camera's white balance then was ``from_kelvin``).

    A camera set to ``T`` K assumes the light is a ``T`` K blackbody and maps that white to
    neutral. The scene's light is ``from_kelvin``; read with the wrong assumption, every colour
    goes through the von Kries adaptation that takes the ``to_kelvin`` white to the
    ``from_kelvin`` white, i.e. cone responses (Bradford space) are scaled by
    ``(B w_from) / (B w_to)`` (both whites Planckian, :func:`planckian_white_xy`, Y = 1). So with
    the default ``from_kelvin=5500``: ``to_kelvin=3200`` (tungsten setting) turns the photo
    blue, ``to_kelvin=6500`` turns it slightly warm (orange), and ``to_kelvin == from_kelvin``
    changes nothing.

    Steps: decode sRGB to linear, linear sRGB -> XYZ -> Bradford -> scale -> XYZ -> linear sRGB
    (:func:`white_balance_matrix`), clip to [0, 1], encode to 8-bit sRGB (rounded).
    ``rgb_uint8`` is (..., 3) uint8 RGB."""
    arr = np.asarray(rgb_uint8)
    if arr.ndim < 1 or arr.shape[-1] != 3:
        raise ValueError(f"expected (..., 3) RGB codes, got shape {arr.shape}")
    linear = decode_srgb8(arr)
    return encode_srgb8(linear @ white_balance_matrix(to_kelvin, from_kelvin).T)
