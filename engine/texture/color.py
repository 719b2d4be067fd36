"""Colour spaces and colour statistics for UV textures.

Conventions (see docs/conventions.md): images are ``[H, W, 3]`` float32 **linear** RGB in [0, 1]
unless a name says ``srgb``; masks are ``[H, W]`` float in [0, 1] (a texel counts when > 0.5).
CIELAB uses the D65 white point of sRGB (L in [0, 100], a/b roughly [-128, 127]).
Every function accepts numpy arrays or CPU torch tensors and returns the kind it was given.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import cv2
import numpy as np

from engine.texture._arrays import ArrayLike, ShapeError, check_image, check_mask, is_torch, like, to_numpy

__all__ = [
    "srgb_to_linear",
    "linear_to_srgb",
    "linear_rgb_to_lab",
    "lab_to_linear_rgb",
    "delta_e_ciede2000",
    "luminance",
    "saturation",
    "linear_rgb_to_lch",
    "lch_to_linear_rgb",
    "adaptation_matrix",
    "ColorStats",
    "skin_stats",
    "match_color_stats",
]

# Rec.709 / sRGB primaries, D65: relative luminance weights (the Y row of the RGB->XYZ matrix).
_REC709_Y = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)
_HUE_EPS = 1e-9  # degrees


def _check_last3(a: np.ndarray, name: str) -> None:
    if a.ndim < 1 or a.shape[-1] != 3:
        raise ShapeError(f"{name} must have a last axis of size 3, got shape {tuple(a.shape)}.")


def _pow(a: np.ndarray, e: float) -> np.ndarray:
    """``a ** e`` for float32 ``a >= 0`` of any shape (OpenCV's vectorised pow, ~5x numpy's)."""
    flat = np.ascontiguousarray(a, dtype=np.float32).reshape(-1, 1)
    return cv2.pow(flat, e).reshape(a.shape) if flat.size else flat.reshape(a.shape)


def srgb_to_linear(x: ArrayLike) -> ArrayLike:
    """sRGB-encoded values in [0, 1] (any shape) -> linear values (IEC 61966-2-1 piecewise curve).

    Values outside [0, 1] are clipped first.
    """
    a = np.clip(to_numpy(x), 0.0, 1.0)
    out = np.asarray(_pow((a + np.float32(0.055)) * np.float32(1.0 / 1.055), 2.4))
    np.copyto(out, a * np.float32(1.0 / 12.92), where=a <= np.float32(0.04045))
    return like(out, x)


def linear_to_srgb(x: ArrayLike) -> ArrayLike:
    """Linear values in [0, 1] (any shape) -> sRGB-encoded values in [0, 1]; clips first."""
    a = np.clip(to_numpy(x), 0.0, 1.0)
    out = np.asarray(_pow(a, 1.0 / 2.4) * np.float32(1.055) - np.float32(0.055))
    np.copyto(out, a * np.float32(12.92), where=a <= np.float32(0.0031308))
    return like(out, x)


def _float64(x: ArrayLike) -> np.ndarray:
    if is_torch(x):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def _cv_convert(a: np.ndarray, code: int) -> np.ndarray:
    """Run an OpenCV colour conversion on ``[..., 3]`` float32 data of any leading shape."""
    shape = a.shape
    flat = np.ascontiguousarray(a.reshape(-1, 3), dtype=np.float32)
    n = flat.shape[0]
    width = 1024 if n >= 1024 else max(n, 1)
    rows = -(-n // width)
    if rows * width != n:
        flat = np.concatenate([flat, np.zeros((rows * width - n, 3), np.float32)], axis=0)
    out = cv2.cvtColor(flat.reshape(rows, width, 3), code)
    return out.reshape(-1, 3)[:n].reshape(shape)


def linear_rgb_to_lab(rgb: ArrayLike) -> ArrayLike:
    """Linear RGB ``[..., 3]`` in [0, 1] -> CIELAB (D65) ``[..., 3]`` float32.

    Uses OpenCV's float path (``COLOR_LRGB2Lab``: sRGB primaries, D65 white, CIE 1976 formulas),
    which agrees with the textbook formulas to < 0.01 in L, a and b. Input is clipped to [0, 1].
    """
    a = to_numpy(rgb)
    _check_last3(a, "rgb")
    return like(_cv_convert(a, cv2.COLOR_LRGB2Lab), rgb)


def lab_to_linear_rgb(lab: ArrayLike) -> ArrayLike:
    """CIELAB (D65) ``[..., 3]`` -> linear RGB ``[..., 3]`` float32, clipped to [0, 1] (out-of-gamut)."""
    a = to_numpy(lab)
    _check_last3(a, "lab")
    return like(_cv_convert(a, cv2.COLOR_Lab2LRGB), lab)


def delta_e_ciede2000(
    lab1: ArrayLike, lab2: ArrayLike, k_l: float = 1.0, k_c: float = 1.0, k_h: float = 1.0
) -> ArrayLike:
    """CIEDE2000 colour difference between CIELAB colours ``[..., 3]`` (broadcasting), shape ``[...]``.

    Implements Sharma, Wu & Dalal (2005), "The CIEDE2000 color-difference formula: implementation
    notes, supplementary test data, and mathematical observations", including their notes on the
    hue-angle mean/difference when a chroma is zero. Computed in float64, returned as float64.
    """
    p, q = _float64(lab1), _float64(lab2)
    _check_last3(p, "lab1")
    _check_last3(q, "lab2")
    l1, a1, b1 = p[..., 0], p[..., 1], p[..., 2]
    l2, a2, b2 = q[..., 0], q[..., 1], q[..., 2]
    c_bar = 0.5 * (np.hypot(a1, b1) + np.hypot(a2, b2))
    c7 = c_bar**7
    g = 0.5 * (1.0 - np.sqrt(c7 / (c7 + 25.0**7)))
    a1p, a2p = (1.0 + g) * a1, (1.0 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.where(c1p == 0, 0.0, np.degrees(np.arctan2(b1, a1p)) % 360.0)
    h2p = np.where(c2p == 0, 0.0, np.degrees(np.arctan2(b2, a2p)) % 360.0)
    zero = (c1p * c2p) == 0

    d_l = l2 - l1
    d_c = c2p - c1p
    dh = h2p - h1p
    # Sharma's tests 13-14 sit exactly on |h1' - h2'| = 180 deg, where float rounding of the two
    # atan2 results would otherwise pick the wrong branch: compare with a 1e-9 deg tolerance.
    dh = np.where(dh > 180.0 + _HUE_EPS, dh - 360.0, np.where(dh < -180.0 - _HUE_EPS, dh + 360.0, dh))
    dh = np.where(zero, 0.0, dh)
    d_h = 2.0 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh) / 2.0)

    l_bar = 0.5 * (l1 + l2)
    cp_bar = 0.5 * (c1p + c2p)
    hsum = h1p + h2p
    far = np.abs(h1p - h2p) > 180.0 + _HUE_EPS
    h_bar = np.where(far, np.where(hsum < 360.0, (hsum + 360.0) / 2.0, (hsum - 360.0) / 2.0), hsum / 2.0)
    h_bar = np.where(zero, hsum, h_bar)

    t = (
        1.0
        - 0.17 * np.cos(np.radians(h_bar - 30.0))
        + 0.24 * np.cos(np.radians(2.0 * h_bar))
        + 0.32 * np.cos(np.radians(3.0 * h_bar + 6.0))
        - 0.20 * np.cos(np.radians(4.0 * h_bar - 63.0))
    )
    d_theta = 30.0 * np.exp(-(((h_bar - 275.0) / 25.0) ** 2))
    cp7 = cp_bar**7
    r_c = 2.0 * np.sqrt(cp7 / (cp7 + 25.0**7))
    s_l = 1.0 + 0.015 * (l_bar - 50.0) ** 2 / np.sqrt(20.0 + (l_bar - 50.0) ** 2)
    s_c = 1.0 + 0.045 * cp_bar
    s_h = 1.0 + 0.015 * cp_bar * t
    r_t = -np.sin(np.radians(2.0 * d_theta)) * r_c
    tl, tc, th = d_l / (k_l * s_l), d_c / (k_c * s_c), d_h / (k_h * s_h)
    out = np.sqrt(tl**2 + tc**2 + th**2 + r_t * tc * th)
    return like(out, lab1)


def luminance(rgb: ArrayLike) -> ArrayLike:
    """Rec.709 weighted sum ``0.2126 R + 0.7152 G + 0.0722 B`` of ``[..., 3]`` -> ``[...]`` float32.

    On linear RGB this is the relative luminance Y; on sRGB-encoded values it is the Rec.709 luma.
    """
    a = to_numpy(rgb)
    _check_last3(a, "rgb")
    return like(a @ _REC709_Y, rgb)


@dataclass(frozen=True)
class ColorStats:
    """Robust per-channel colour statistics in CIELAB (D65).

    ``mean`` is the trimmed mean of (L, a, b); ``std`` the trimmed standard deviation rescaled to
    estimate the full standard deviation of a normal distribution; ``count`` the texels used.
    """

    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    count: int


def saturation(rgb: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """HSV saturation ``(max - min) / max`` of ``[..., 3]`` RGB -> ``[...]`` (``max`` floored at ``eps``).

    Whatever the light's colour, skin stays more saturated than the eye white and the teeth, and a
    highlight less than the skin around it."""
    a = np.asarray(rgb)
    hi = a.max(-1)
    return (hi - a.min(-1)) / np.maximum(hi, eps)


def linear_rgb_to_lch(rgb: np.ndarray) -> tuple[float, float, float]:
    """One linear RGB colour (3,) -> CIELAB (lightness, hue angle in degrees, chroma)."""
    lab = np.asarray(linear_rgb_to_lab(np.clip(rgb, 1e-6, None).astype(np.float32)[None, None]))[0, 0]
    return float(lab[0]), float(np.degrees(np.arctan2(lab[2], lab[1]))), float(np.hypot(lab[1], lab[2]))


def lch_to_linear_rgb(lightness: float, hue: float, chroma: float) -> np.ndarray:
    """CIELAB (lightness, hue angle in degrees, chroma) -> one linear RGB colour (3,) float64 (clipped to
    [0, 1] out of gamut)."""
    h = np.radians(hue)
    lab = np.array([[[lightness, chroma * np.cos(h), chroma * np.sin(h)]]], np.float32)
    return np.asarray(lab_to_linear_rgb(lab))[0, 0].astype(np.float64)


# Linear sRGB (D65) -> XYZ (IEC 61966-2-1), then XYZ -> CAT02 "sharpened" cone responses (CIE 159:2004,
# CIECAM02). A white balance is a von Kries gain per cone, not per display primary.
_SRGB_TO_XYZ = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
_CAT02 = np.array([[0.7328, 0.4296, -0.1624], [-0.7036, 1.6975, 0.0061], [0.0030, 0.0136, 0.9834]])
_CONES_FROM_LINEAR = _CAT02 @ _SRGB_TO_XYZ
_LINEAR_FROM_CONES = np.linalg.inv(_CONES_FROM_LINEAR)


def adaptation_matrix(white_from: np.ndarray, white_to: np.ndarray) -> np.ndarray:
    """(3, 3) linear-RGB matrix ``M`` of the von Kries chromatic adaptation in CAT02 cone space that takes
    the colour ``white_from`` (3,) linear RGB to ``white_to`` (3,) (``M @ white_from == white_to``).

    Why cones and not RGB: a camera white-balances with one gain per *sensor* channel, and sensors (like
    cones) overlap less than the display primaries do; a light's colour is a per-cone gain far more
    nearly than a per-primary one (Finlayson, Drew & Funt 1994, spectral sharpening). A 3200 K white
    balance error applied as a cone-space (Bradford) shift leaves 5-8 ΔE00 on skin when undone per
    primary and 0.3-0.4 when undone with this matrix; a renderer that multiplies RGB primaries (Cycles) is
    undone exactly per primary and to about 3 ΔE00 on skin by this matrix under a saturated amber key.
    Equal whites up to a scale give that scale times the identity."""
    src = _CONES_FROM_LINEAR @ np.asarray(white_from, np.float64)
    dst = _CONES_FROM_LINEAR @ np.asarray(white_to, np.float64)
    return _LINEAR_FROM_CONES @ np.diag(dst / np.where(np.abs(src) > 1e-12, src, 1e-12)) @ _CONES_FROM_LINEAR


def _masked_samples(img: np.ndarray, mask: np.ndarray, max_samples: int, seed: int) -> np.ndarray:
    idx = np.flatnonzero(mask.reshape(-1) > 0.5)
    if idx.size > max_samples:
        idx = np.random.default_rng(seed).choice(idx, size=max_samples, replace=False)
    return img.reshape(-1, 3)[idx]


def _trimmed_mean_std(x: np.ndarray, trim: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-column trimmed mean/std of ``x [N, C]``; the std is rescaled for a normal distribution."""
    if trim <= 0.0:
        return x.mean(0), x.std(0)
    lo, hi = np.quantile(x, [trim, 1.0 - trim], axis=0)
    keep = (x >= lo) & (x <= hi)
    n = np.maximum(keep.sum(0), 1)
    mean = np.where(keep, x, 0.0).sum(0) / n
    var = np.where(keep, (x - mean) ** 2, 0.0).sum(0) / n
    z = NormalDist().inv_cdf(1.0 - trim)
    pdf = math.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    shrink = 1.0 - 2.0 * z * pdf / (1.0 - 2.0 * trim)  # variance of a normal truncated at +-z
    return mean, np.sqrt(var / shrink)


def skin_stats(
    img: ArrayLike, mask: ArrayLike, trim: float = 0.1, max_samples: int = 200_000, seed: int = 0
) -> ColorStats:
    """Robust Lab statistics of the texels of ``img`` (``[H, W, 3]`` linear RGB) where ``mask > 0.5``.

    ``trim`` drops that fraction of the lowest and of the highest values per channel (specular
    highlights, shadows, stray hair) before the mean/std. At most ``max_samples`` texels are
    sampled (deterministically with ``seed``). Raises ShapeError when the mask selects no texel.
    """
    a = check_image(img, "img")
    m = check_mask(mask, "mask", a.shape[:2])
    if not 0.0 <= trim < 0.5:
        raise ShapeError(f"trim must be in [0, 0.5), got {trim}.")
    samples = _masked_samples(a, m, max_samples, seed)
    if samples.shape[0] == 0:
        raise ShapeError("skin_stats: the mask selects no texel (no value > 0.5).")
    lab = np.asarray(linear_rgb_to_lab(samples), dtype=np.float64)
    mean, std = _trimmed_mean_std(lab, trim)
    return ColorStats(
        mean=tuple(float(v) for v in mean), std=tuple(float(v) for v in std), count=int(samples.shape[0])
    )


def match_color_stats(
    src: ArrayLike,
    src_mask: ArrayLike,
    ref_stats: ColorStats,
    trim: float = 0.1,
    max_gain: float = 2.0,
    apply_mask: ArrayLike | None = None,
) -> ArrayLike:
    """Shift/scale ``src`` in CIELAB so that its masked statistics equal ``ref_stats``.

    Per Lab channel: ``out = (x - mean_src) * clip(std_ref / std_src, 1/max_gain, max_gain) + mean_ref``,
    where ``mean_src``/``std_src`` are the robust statistics of ``src`` over ``src_mask > 0.5``
    (same estimator as :func:`skin_stats`). The transform is applied to every texel of ``src``, or
    blended in by ``apply_mask`` (e.g. the template's skin, so eyes, teeth and the mouth interior keep
    their own colours).

    Args:
        src: ``[H, W, 3]`` linear RGB in [0, 1] (e.g. the template albedo).
        src_mask: ``[H, W]`` texels whose statistics are measured (e.g. the template's skin).
        ref_stats: target statistics, e.g. ``skin_stats(photo_texture, visible_skin_mask)``.
        trim: trimmed fraction for the source statistics.
        max_gain: bound on the std ratio so a flat reference cannot erase, nor a noisy one blow up,
            the source's detail.
        apply_mask: optional ``[H, W]`` in [0, 1]: ``out = lerp(src, matched, apply_mask)``.

    Returns:
        ``[H, W, 3]`` linear RGB in [0, 1] (out-of-gamut colours clipped), same kind as ``src``.
    """
    a = check_image(src, "src")
    src_s = skin_stats(a, src_mask, trim=trim)
    mu_s, sd_s = np.array(src_s.mean), np.array(src_s.std)
    mu_r, sd_r = np.array(ref_stats.mean), np.array(ref_stats.std)
    gain = np.clip(sd_r / np.maximum(sd_s, 1e-6), 1.0 / max_gain, max_gain)
    gain = np.where(sd_s < 1e-6, 1.0, gain)
    lab = np.asarray(linear_rgb_to_lab(a))
    lab = (lab - mu_s.astype(np.float32)) * gain.astype(np.float32) + mu_r.astype(np.float32)
    out = np.asarray(lab_to_linear_rgb(lab.astype(np.float32)))
    if apply_mask is not None:
        m = np.clip(check_mask(apply_mask, "apply_mask", a.shape[:2]), 0.0, 1.0)[..., None]
        out = (a + m * (out - a)).astype(np.float32)
    return like(out, src)
