"""Says when the texture cannot be trusted: how much of the face was in deep shade, clipped, covered
or unseen, and whether the de-lit skin colour is one human skin can have. Shares go into
``params.json`` ``metrics``; above the thresholds of :class:`DiagnosticSettings` a one-line warning
goes to ``params.json`` ``warnings``, the CLI, ``--progress json`` and the Blender panel, so a bad
albedo is never silent.

All masks are ``(N, N)`` texel grids (row 0 = the top texture row); the face is the layout's ``face``
region of the skin part; "seen" means an unwrap weight above ``SEEN_WEIGHT``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from engine.texture.color import linear_rgb_to_lab, luminance

__all__ = ["DiagnosticSettings", "Diagnostics", "diagnose"]

SEEN_WEIGHT = 0.2


@dataclass(frozen=True)
class DiagnosticSettings:
    """``deep_shade_rel``: a seen texel is in deep shade when its shading is below this fraction of the
    face's 90th-percentile shading. ``warn_*``: share of the face (or of its seen part) above which a
    warning is given. ``skin_hue_deg``: the CIELAB hue range of human skin (measured skin colours lie
    at roughly 40-70°; a margin either side); ``min_chroma``: below it the hue is not judged (grey)."""

    deep_shade_rel: float = 0.25
    warn_deep_shade: float = 0.2
    warn_overexposed: float = 0.05
    warn_occluded: float = 0.2
    warn_unseen: float = 0.7
    skin_hue_deg: tuple[float, float] = (25.0, 85.0)
    min_chroma: float = 6.0


@dataclass
class Diagnostics:
    """``shares``: ``deep_shade_share``, ``overexposed_share``, ``occluded_share`` (of the seen face),
    ``unseen_share`` (of the face), ``skin_hue_deg``, ``skin_chroma``; ``warnings``: one line each."""

    shares: dict[str, float]
    warnings: list[str] = field(default_factory=list)


def _side(mask: np.ndarray, position: np.ndarray) -> str:
    """'left' / 'right' (the person's own) / 'both' for where the masked texels lie (x > 0 is the left)."""
    x = position[..., 0][mask]
    if x.size == 0:
        return "both"
    left = float((x > 0).mean())
    return "left" if left > 0.75 else "right" if left < 0.25 else "both"


def _skin_colour(albedo: np.ndarray, face_seen: np.ndarray) -> tuple[float, float]:
    """(hue in degrees, chroma) of the mean de-lit colour of the seen face skin (CIELAB)."""
    lab = np.asarray(linear_rgb_to_lab(albedo[face_seen].mean(0).astype(np.float32)), np.float64)
    return float(np.degrees(np.arctan2(lab[2], lab[1])) % 360.0), float(np.hypot(lab[1], lab[2]))


def diagnose(albedo: np.ndarray, shading: np.ndarray, weight: np.ndarray, saturated: np.ndarray,
             occluded: np.ndarray, face: np.ndarray, position: np.ndarray, grey_photo: bool,
             settings: DiagnosticSettings = DiagnosticSettings()) -> Diagnostics:
    """Shares and warnings for one texture (see the module docstring).

    ``albedo`` (N, N, 3) de-lit linear RGB; ``shading`` (N, N, 3) the fitted shading; ``weight`` (N, N)
    the unwrap weight; ``saturated`` / ``occluded`` / ``face`` (N, N) bool (clipped photo; hair, glasses
    and the like; the face region); ``position`` (N, N, 3) head-space texel positions."""
    seen = face & (weight > SEEN_WEIGHT)
    n_face, n_seen = max(int(face.sum()), 1), max(int(seen.sum()), 1)
    lum = luminance(shading)
    bright = float(np.percentile(lum[seen], 90)) if seen.any() else 0.0
    deep = seen & (lum < settings.deep_shade_rel * bright) & ~occluded
    shares = {
        "deep_shade_share": float(deep.sum() / n_seen),
        "overexposed_share": float((seen & saturated).sum() / n_seen),
        "occluded_share": float((seen & occluded).sum() / n_seen),
        "unseen_share": float(1.0 - seen.sum() / n_face),
    }
    clean = seen & ~deep & ~saturated & ~occluded
    hue, chroma = _skin_colour(albedo, clean) if clean.sum() > 50 else (float("nan"), float("nan"))
    shares.update(skin_hue_deg=hue, skin_chroma=chroma)
    return Diagnostics(shares, _warnings(shares, _side(deep, position), grey_photo, settings))


def _warnings(s: dict[str, float], shade_side: str, grey: bool, cfg: DiagnosticSettings) -> list[str]:
    out = []
    if s["deep_shade_share"] > cfg.warn_deep_shade:
        where = "the face" if shade_side == "both" else f"the {shade_side} side of the face"
        out.append(f"{100 * s['deep_shade_share']:.0f} % of {where} is in deep shadow: its colour there is "
                   "guessed from the lit side or the skin around it, and may keep some of the shadow")
    if s["overexposed_share"] > cfg.warn_overexposed:
        out.append(f"{100 * s['overexposed_share']:.0f} % of the face is over-exposed (clipped): its colour "
                   "there is filled from the skin around it")
    if s["occluded_share"] > cfg.warn_occluded:
        out.append(f"{100 * s['occluded_share']:.0f} % of the seen face was taken for hair, glasses or another "
                   "occluder: that part of the albedo is filled in, not taken from the photo")
    if s["unseen_share"] > cfg.warn_unseen:
        out.append(f"only {100 * (1 - s['unseen_share']):.0f} % of the face was seen (turned or covered): "
                   "the rest is filled from the mirror side and the template")
    hue, chroma = s["skin_hue_deg"], s["skin_chroma"]
    lo, hi = cfg.skin_hue_deg
    if not grey and np.isfinite(hue) and chroma >= cfg.min_chroma and not lo <= hue <= hi:
        out.append(f"the de-lit skin colour (CIELAB hue {hue:.0f}°) is not one human skin has: the light's "
                   "colour is probably still in the albedo")
    return out
