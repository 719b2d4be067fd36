"""Stage 4 of the texture pipeline: complete the texels the photo did not see.

Every texel ends up with a colour from one of three sources, in order of preference:

1. its own de-lit photo colour (confidence from the unwrap weight, the de-lighting and the
   corrections);
2. the de-lit colour of its *mirror texel* (left/right symmetric surface point), where that one was
   seen well: the far cheek, ear and side of the neck of a turned head;
3. the template albedo, colour-matched to the subject's skin (mean and spread in CIELAB).

Own and mirror colours (both de-lit albedo of the same face) cross-fade over the confidence ramp;
that photo layer is joined to the template with a multi-band (Laplacian pyramid) blend whose mask is
the smoothed confidence, so low frequencies cross-fade over a wide zone and fine detail over a
narrow one: no visible seam. Both layers are smooth extensions into the UV gutters (push-pull fill,
dilated template), so the result is defined everywhere and mip-mapping never bleeds black.

The mirror lookup is computed once per topology and texture size from the mesh's vertex mirror map:
a texel at barycentrics ``b`` in triangle ``f`` maps to the same barycentrics in the triangle made of
the mirrored vertices (exact for a symmetric triangulation; texels without one get no mirror).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from engine.head.model import HeadModel
from engine.texture.blend import dilate_fill, laplacian_pyramid_blend
from engine.texture.unwrap import AtlasTexels, uv_raster

__all__ = ["MirrorMap", "mirror_lookup", "CompleteSettings", "Completed", "complete", "coarse_fill"]


@dataclass(frozen=True, eq=False)
class MirrorMap:
    """Left/right symmetry of an ``N x N`` atlas.

    ``rowcol`` (N, N, 2) float32: continuous (row, col) of each texel's mirror point, (-1, -1) where
    none (the format of :func:`engine.texture.metrics.mirror_texel_map_from_mesh`).
    ``index`` (N*N,) int64: flat index of the nearest texel to the mirror point, -1 where none.
    """

    rowcol: np.ndarray
    index: np.ndarray


@lru_cache(maxsize=4)
def mirror_lookup(model: HeadModel, size: int) -> MirrorMap:
    """The symmetry map of ``model``'s atlas at ``size`` (cached per model object and size)."""
    raster = uv_raster(model, size)
    faces = model.faces.numpy()
    uvf = model.uv_faces.numpy()
    uv = model.uvs.numpy().astype(np.float64)
    mir = model.mirror.numpy()
    key = {tuple(k): i for i, k in enumerate(np.sort(faces, axis=1).tolist())}
    mf = mir[faces]
    g = np.array([key.get(tuple(k), -1) for k in np.sort(mf, axis=1).tolist()], np.int64)
    ok = g >= 0
    gs = np.where(ok, g, 0)
    match = faces[gs][:, None, :] == mf[:, :, None]  # [F, corner of f, corner of g]
    ok &= match.any(axis=2).all(axis=1)
    corner = match.argmax(axis=2)
    corner_uv = uv[uvf[gs[:, None], corner]]  # [F, 3, 2]: uv of the mirror of each corner of f
    return _mirror_from_raster(raster, corner_uv, ok)


def _mirror_from_raster(raster: AtlasTexels, corner_uv: np.ndarray, ok: np.ndarray) -> MirrorMap:
    n = raster.size
    f = raster.tex_face
    muv = np.einsum("mk,mkc->mc", raster.tex_bary.astype(np.float64), corner_uv[f])
    row = (1.0 - muv[:, 1]) * n - 0.5
    col = muv[:, 0] * n - 0.5
    good = ok[f]
    rc = np.full((n * n, 2), -1.0, np.float32)
    rc[raster.texels[good]] = np.stack([row[good], col[good]], 1)
    ri = np.clip(np.rint(row), 0, n - 1).astype(np.int64)
    ci = np.clip(np.rint(col), 0, n - 1).astype(np.int64)
    idx = np.full(n * n, -1, np.int64)
    flat = ri * n + ci
    covered = raster.face_id.reshape(-1) >= 0
    good &= covered[flat]
    idx[raster.texels[good]] = flat[good]
    return MirrorMap(rc.reshape(n, n, 2), idx)


@dataclass(frozen=True)
class CompleteSettings:
    """``full_confidence``: confidence at which a source is used alone (smoothstep from 0).
    ``mask_blur``: extra blur (fraction of N) of the blend masks before the pyramid blend.
    ``keep_band``: width (fraction of N) of the band inside the fully photo-sourced region over which
    the result cross-fades from the pyramid blend to the photo layer itself.
    ``outer_band``: width (fraction of N) beyond the seen region over which the (extended) photo
    layer fades into the template."""

    full_confidence: float = 0.5
    mask_blur: float = 0.004
    keep_band: float = 0.015
    outer_band: float = 0.015


@dataclass
class Completed:
    """The completed albedo (N, N, 3) linear RGB and the share of each source per texel (N, N)."""

    albedo: np.ndarray
    from_photo: np.ndarray
    from_mirror: np.ndarray
    from_template: np.ndarray


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _mirrored(img: np.ndarray, mirror: MirrorMap) -> np.ndarray:
    rows = np.ascontiguousarray(mirror.rowcol[..., 0])
    cols = np.ascontiguousarray(mirror.rowcol[..., 1])
    return cv2.remap(np.ascontiguousarray(img, np.float32), cols, rows, cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def _soft(mask: np.ndarray, blur: float) -> np.ndarray:
    if blur <= 0.5:
        return mask.astype(np.float32)
    return cv2.GaussianBlur(mask.astype(np.float32), (0, 0), blur)


def complete(albedo: np.ndarray, confidence: np.ndarray, template: np.ndarray, covered: np.ndarray,
             mirror: MirrorMap, settings: CompleteSettings = CompleteSettings()) -> Completed:
    """Fill every covered texel: own photo colour, else mirror's, else ``template`` (see module doc).

    Args:
        albedo: (N, N, 3) linear de-lit (and corrected) photo albedo; anything where confidence is 0.
        confidence: (N, N) in [0, 1].
        template: (N, N, 3) linear template albedo already colour-matched to the subject, defined on
            every texel (gutters included).
        covered: (N, N) bool texels inside the atlas.
        mirror: :func:`mirror_lookup` for this size.
    Returns:
        :class:`Completed`; ``albedo`` is defined on every texel, gutters included (both blended
        layers are smooth extensions there, so mip-mapping does not bleed black).
    """
    n = albedo.shape[0]
    c = np.where(covered, np.clip(confidence, 0.0, 1.0), 0.0).astype(np.float32)
    a_own = _smoothstep(c / settings.full_confidence)
    # Mirror source: premultiplied so gutter zeros do not darken bilinear lookups at island edges.
    num = _mirrored(albedo * a_own[..., None], mirror)
    den = _mirrored(a_own, mirror)
    has_m = (mirror.rowcol[..., 0] >= 0) & covered
    a_mir = np.where(has_m, np.clip(den, 0.0, 1.0), 0.0)
    alb_m = num / np.maximum(den, 1e-6)[..., None]
    # Photo layer: own colour, cross-faded into the mirror's where the own confidence drops (both
    # are de-lit albedo of the same face, so a plain cross-fade over the confidence ramp is seamless).
    photo = albedo * a_own[..., None] + alb_m * ((1.0 - a_own) * (a_mir > 0.02))[..., None]
    a_photo = a_own + (1.0 - a_own) * a_mir
    wsum = a_own + (1.0 - a_own) * (a_mir > 0.02)
    photo = photo / np.maximum(wsum, 1e-6)[..., None]
    photo = coarse_fill(photo, wsum > 0.02, template)
    blur = settings.mask_blur * n
    # The join to the template lies outside the seen region: the photo layer (smoothly extended)
    # fades out over ``outer_band`` beyond it, so texels the photo saw keep their own colour.
    a_join = _outward(a_photo, covered, settings.outer_band * n)
    out = laplacian_pyramid_blend(photo, template.astype(np.float32), np.clip(_soft(a_join, blur), 0.0, 1.0))
    # The pyramid's coarse levels mix the template's low frequencies far into the seen region (a
    # face island is only a few coarse texels wide): well inside it, keep the photo layer exactly,
    # cross-fading into the pyramid result over a band toward the seen region's border.
    inner = _inner_weight(a_join, settings.keep_band * n)
    out = inner[..., None] * photo + (1.0 - inner[..., None]) * out
    out = np.clip(out, 0.0, 1.0)
    return Completed(out.astype(np.float32), a_own, (1.0 - a_own) * a_mir, 1.0 - a_photo)


def _outward(a_photo: np.ndarray, covered: np.ndarray, band: float) -> np.ndarray:
    """``a_photo`` extended outward: 1 on texels mostly seen (> 0.5), falling smoothly to 0 over
    ``band`` texels beyond them (never below ``a_photo``)."""
    if band < 1.0:
        return a_photo
    dist = cv2.distanceTransform((a_photo <= 0.5).astype(np.uint8), cv2.DIST_L2, 3)
    ramp = 1.0 - _smoothstep(dist / band)
    return np.maximum(a_photo, np.where(covered, ramp, 0.0)).astype(np.float32)


def _inner_weight(a_photo: np.ndarray, band: float) -> np.ndarray:
    """(N, N) float32 in [0, 1]: 1 deeper than ``band`` texels inside the region where the photo
    layer is used alone (``a_photo`` > 0.98), ramping smoothly to 0 at its border."""
    full = (a_photo > 0.98).astype(np.uint8)
    if not full.any():
        return np.zeros_like(a_photo, dtype=np.float32)
    dist = cv2.distanceTransform(full, cv2.DIST_L2, 3)
    x = np.clip(dist / max(band, 1.0), 0.0, 1.0)
    return (x * x * (3.0 - 2.0 * x)).astype(np.float32)


def coarse_fill(img: np.ndarray, known: np.ndarray, fallback: np.ndarray | None = None,
                max_size: int = 512) -> np.ndarray:
    """``img`` (N, N, C) where ``known`` (N, N) bool, elsewhere a smooth extension of it.

    The extension is a push-pull fill (:func:`engine.texture.blend.dilate_fill`) computed on a grid of
    at most ``max_size``² and upsampled: the filled texels are only ever used as smooth context
    (under a blend mask, as Poisson boundary values), so a coarse fill loses nothing and is 4-16x
    cheaper at 1024-2048². With no known texel at all, ``fallback`` (or zeros) is returned.
    """
    if not known.any():
        return (np.zeros_like(img) if fallback is None else fallback).astype(np.float32)
    n = img.shape[0]
    k = known.astype(np.float32)
    f = max(1, int(np.ceil(n / max_size)))
    if f > 1:
        m = n // f
        wsum = cv2.resize(k, (m, m), interpolation=cv2.INTER_AREA)
        small = cv2.resize(img * k[..., None], (m, m), interpolation=cv2.INTER_AREA)
        small = small.reshape(m, m, -1) / np.maximum(wsum, 1e-6)[..., None]
        filled = np.asarray(dilate_fill(small.astype(np.float32), (wsum > 0.25).astype(np.float32)), np.float32)
        filled = cv2.resize(filled, (n, n), interpolation=cv2.INTER_LINEAR).reshape(img.shape)
    else:
        filled = np.asarray(dilate_fill(img.astype(np.float32), k), np.float32)
    return np.where(known[..., None], img, filled).astype(np.float32)
