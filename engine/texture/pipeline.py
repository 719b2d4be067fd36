"""The texture pipeline: photo + fitted head -> evenly lit, complete UV albedo + PBR maps.

FFHQ-UV's recipe (Bai et al. 2023) with its StyleGAN lighting normalisation replaced by physically
based de-lighting:

0. a black-and-white photo, grey or toned (:mod:`.monochrome`), is read as its luminance and keeps a grey
   albedo (its tint is the print's, not the skin's);
1. unwrap (:mod:`.unwrap`): sample the photo into the atlas through the fitted mesh, with a
   per-texel visibility weight (depth test, grazing angle, edges, segmentation);
2. de-light (:mod:`.delight`): estimate SH ambient + dominant light with cast shadows + sheen on skin
   texels, divide it out, repair highlights / unexplained shadows; then colour constancy
   (:mod:`.calibrate`): the photo's exposure and light colour from the eye whites, bounded by a
   skin prior, divided out of the albedo; then the highlights the lighting model left taken off the
   white-balanced albedo (:mod:`.delight.shine`, a dichromatic model; what it finds moves the roughness);
3. correct (:mod:`.correct`): eyes, nostrils, inner mouth, hair/glasses/beard, scalp -> template
   (Poisson blending for enclosed regions);
4. complete (:mod:`.complete`): unseen texels from the mirror texel, else the colour-matched
   template, joined with Laplacian-pyramid blends; gutters filled;
5. maps (:mod:`.maps`): sRGB albedo, tangent-space normal, roughness (the template's, moved by the photo's
   shine), eye colour;
6. metrics: BS error over the face texels seen on both sides, the filled share, coverage, and the
   re-render PSNR in the face (:mod:`.relight`; a self-consistency check: the photo against the
   engine's own image model, not a measure of albedo quality), plus the relit sheet.

Conventions: ``photo`` is float32 **linear** RGB, row 0 = top; textures row 0 = top (v = 1); head
space metres (+Y up, +Z out of the face); camera ``pixel = K (R X + t)``.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from engine.head.model import HeadModel
from engine.runtime import CPU, Runtime
from engine.texture._arrays import ShapeError
from engine.texture.calibrate import (
    Calibration,
    CalibrationSettings,
    ScleraSample,
    apply_gain,
    calibrate_gain,
    calibration_warnings,
    eye_centres_px,
    provisional_balance,
    sclera_colour,
    sclera_pixels,
    sclera_shading,
)
from engine.texture.color import luminance, match_color_stats, skin_stats
from engine.texture.complete import Completed, MirrorMap, complete, mirror_lookup
from engine.texture.correct import (
    Corrected,
    CorrectionMasks,
    CorrectSettings,
    Occluders,
    correct,
    correction_masks,
    find_occluders,
    skin_reference_mask,
)
from engine.texture.delight import (
    DelightSettings,
    Delit,
    delight,
    remove_sheen,
    expected_shine,
    Shine,
    remove_shine,
    template_ambient_occlusion,
    texel_ambient_occlusion,
)
from engine.texture.detail import DetailInputs, add_detail
from engine.texture.diagnostics import Diagnostics, DiagnosticSettings, diagnose
from engine.texture.maps import (
    albedo_srgb8,
    eye_color,
    normal_map,
    paint_iris,
    roughness_map,
)
from engine.texture.monochrome import is_monochrome
from engine.texture.metrics import brightness_symmetry_error
from engine.texture.relight import render_relit_sheet, rerender
from engine.texture.skin_detail import SkinDetailSettings, transfer_skin_detail
from engine.texture.teeth import teeth_color
from engine.texture.template import load_template_albedo
from engine.texture.unclip import (
    Unclipped,
    UnclipSettings,
    face_skin_pixels,
    reconstruct_clipped,
    reconstruct_clipped_set,
)
from engine.texture.unwrap import CameraView, Unwrap, camera_view, unwrap_photo

__all__ = ["ProgressFn", "TextureInputs", "TextureResult", "TextureSettings", "build_texture"]

ProgressFn = Callable[[str, float, str], None]

ANALYSIS_SIZE = 1024
"""Texture sizes above this are analysed (lighting, masks, completion) at this size; the result is
upsampled with the photo's and the template's full-resolution detail added (see ``_add_detail``)."""

ALBEDO_FLOOR = 0.01
"""Lowest linear albedo written (per channel)."""
_BS_REGIONS = ("face",)
SHINE_REGIONS = ("face", "eyebrows", "eyelids", "nostrils", "ears", "neck")
"""Skin the shine is taken off (:mod:`engine.texture.delight.shine`); the diffuse skin's colour is gathered
on the face alone (``SHINE_REFERENCE_REGIONS``)."""
SHINE_REFERENCE_REGIONS = ("face",)
_COVERAGE_EXCLUDE = ("scalp", "mouth_inside", "eye_socket", "eye_l", "eye_r", "teeth_upper", "teeth_lower", "tongue")
_TEMPLATE_SKIN_REGIONS = ("scalp", "neck", "face", "ears", "eyebrows", "nostrils", "eye_socket", "eyelids")


@dataclass(frozen=True)
class TextureInputs:
    """What the texture stage needs (see docs/conventions.md).

    ``photo`` (H, W, 3) float32 linear RGB in [0, 1], the working image, row 0 = top.
    ``K`` (3, 3), ``R`` (3, 3), ``t`` (3,): the working image's camera, ``pixel = K (R X + t)``.
    ``vertices`` (V, 3): posed head-space vertices (the photo's expression), metres.
    ``landmarks`` (478, 2): MediaPipe landmarks in working-image pixels.
    ``person_mask`` (H, W) in [0, 1] or None: selfie segmentation.
    ``texture_size``: N of the N x N output maps.
    """

    photo: np.ndarray
    K: np.ndarray
    R: np.ndarray
    t: np.ndarray
    vertices: np.ndarray
    landmarks: np.ndarray
    person_mask: np.ndarray | None
    texture_size: int = 1024


@dataclass
class TextureResult:
    """The texture stage's outputs.

    ``albedo_srgb`` (N, N, 3) uint8 sRGB, row 0 = top (v = 1); ``normal`` (N, N, 3) uint8 tangent
    space (OpenGL, +Y up); ``roughness`` (N, N) uint8 linear; ``eye_color_srgb`` sRGB in [0, 1];
    ``teeth_color_srgb`` the teeth's albedo, sRGB in [0, 1], when the photo shows them (else None);
    ``sh_coeffs`` (9, 3) the estimated lighting as radiance SH (``engine.render.sh`` convention,
    head space, the dominant light band-limited into it); ``metrics`` (``bs_error``,
    ``bs_error_unwrap``, ``coverage``, ``psnr_self_consistency``, ...); ``timings`` seconds per stage; ``debug``
    images for looking at; ``relit_sheet`` (uint8) the photo beside 4 relit renders, or None;
    ``confidence`` (N, N) uint8 how much each texel owes to the photo (255 = seen well, 0 = filled);
    ``warnings`` one line each where the albedo cannot be trusted (:mod:`.diagnostics`).
    """

    albedo_srgb: np.ndarray
    normal: np.ndarray
    roughness: np.ndarray
    eye_color_srgb: tuple[float, float, float]
    sh_coeffs: np.ndarray
    metrics: dict[str, float]
    timings: dict[str, float]
    debug: dict[str, np.ndarray] = field(default_factory=dict)
    relit_sheet: np.ndarray | None = None
    confidence: np.ndarray | None = None
    warnings: list[str] = field(default_factory=list)
    teeth_color_srgb: tuple[float, float, float] | None = None


@dataclass(frozen=True)
class TextureSettings:
    """Per-stage settings and optional outputs."""

    delight: DelightSettings = DelightSettings()
    calibrate: CalibrationSettings = CalibrationSettings()
    correct: CorrectSettings = CorrectSettings()
    diagnostics: DiagnosticSettings = DiagnosticSettings()
    skin_detail: SkinDetailSettings = SkinDetailSettings()
    relit_sheet: bool = True
    rerender: bool = True
    debug: bool = True


def _check(inputs: TextureInputs, model: HeadModel) -> tuple[np.ndarray, np.ndarray | None]:
    photo = np.asarray(inputs.photo)
    if photo.ndim != 3 or photo.shape[2] != 3 or min(photo.shape[:2]) < 16:
        raise ShapeError(f"photo must be (H, W, 3) with H, W >= 16, got {tuple(photo.shape)}.")
    photo = np.ascontiguousarray(np.clip(photo, 0.0, 1.0), np.float32)
    for name, shape in (("K", (3, 3)), ("R", (3, 3))):
        if np.asarray(getattr(inputs, name)).shape != shape:
            raise ShapeError(f"{name} must be {shape}, got {np.asarray(getattr(inputs, name)).shape}.")
    if np.asarray(inputs.t).size != 3:
        raise ShapeError(f"t must have 3 values, got {np.asarray(inputs.t).shape}.")
    if np.asarray(inputs.vertices).shape != (model.num_vertices, 3):
        raise ShapeError(f"vertices must be ({model.num_vertices}, 3), got {np.asarray(inputs.vertices).shape}.")
    if inputs.landmarks is not None and np.asarray(inputs.landmarks).shape[-1] != 2:
        raise ShapeError(f"landmarks must be (478, 2), got {np.asarray(inputs.landmarks).shape}.")
    if inputs.texture_size not in (128, 256, 512, 1024, 2048, 4096):
        raise ShapeError(f"texture_size must be a power of two in [128, 4096], got {inputs.texture_size}.")
    mask = None if inputs.person_mask is None else np.asarray(inputs.person_mask, np.float32)
    if mask is not None and mask.shape != photo.shape[:2]:
        raise ShapeError(f"person_mask must be {photo.shape[:2]}, got {mask.shape}.")
    return photo, mask


def _regions(unwrap: Unwrap, model: HeadModel, names: tuple[str, ...]) -> np.ndarray:
    return np.isin(unwrap.region, [model.region_id(n) for n in names])


def _eyeballs(unwrap: Unwrap, model: HeadModel, n: int) -> np.ndarray:
    """(n, n) bool: the texels of the two eyeball parts (the analysis-size labels resized to the output)."""
    import cv2

    eyes = np.isin(unwrap.part, [model.part_id("eye_l"), model.part_id("eye_r")])
    if eyes.shape[0] == n:
        return eyes
    return cv2.resize(eyes.astype(np.uint8), (n, n), interpolation=cv2.INTER_NEAREST) > 0


def _matched_template(template: np.ndarray, albedo: np.ndarray, confidence: np.ndarray, unwrap: Unwrap,
                      model: HeadModel, ref: np.ndarray) -> np.ndarray:
    """The template colour-matched (Lab mean/spread) to the subject.

    Skin regions follow the subject's well-seen face skin; the lips follow the subject's lips when
    enough of them were seen (else the skin transform); eyes, teeth, tongue and the mouth lining keep
    the template's own colours. ``ref`` (N, N) bool: the subject's reference skin texels.
    """
    if ref.sum() < 50:
        return template
    tmpl_face = _regions(unwrap, model, ("face",)).astype(np.float32)
    lips = _regions(unwrap, model, ("lips",))
    skin_like = _regions(unwrap, model, _TEMPLATE_SKIN_REGIONS)
    apply = (skin_like | lips) & unwrap.covered
    out = np.asarray(match_color_stats(template, tmpl_face, skin_stats(albedo, ref.astype(np.float32)), max_gain=1.5,
                                       apply_mask=_feathered(apply, template.shape[0])), np.float32)
    seen_lips = lips & (confidence > 0.5)
    if seen_lips.sum() >= 50 and lips.sum() >= 50:
        lip_ref = skin_stats(albedo, seen_lips.astype(np.float32))
        out = np.asarray(match_color_stats(out, lips.astype(np.float32), lip_ref, max_gain=1.5,
                                           apply_mask=_feathered(lips, template.shape[0])), np.float32)
    return out


def _own_skin_detail(done: Completed, unwrap: Unwrap, model: HeadModel, source: np.ndarray,
                     settings: SkinDetailSettings) -> np.ndarray:
    """The completed albedo with the person's own fine skin detail (:mod:`.skin_detail`) where its colour
    came from the template on bare skin (not lips, eyes, brows or the mouth)."""
    skin = _regions(unwrap, model, ("scalp", "neck", "face", "ears")) & (unwrap.part == 0)
    weight = done.from_template * skin
    return transfer_skin_detail(done.albedo, weight, source & (done.from_photo > 0.95), settings)


def _feathered(mask: np.ndarray, n: int) -> np.ndarray:
    """A region mask softened over ~0.5% of the texture (no hard colour step at region borders)."""
    import cv2

    return cv2.GaussianBlur(mask.astype(np.float32), (0, 0), max(0.5, 0.005 * n))


def _bs(albedo: np.ndarray, rowcol: np.ndarray, mask: np.ndarray) -> float:
    try:
        return brightness_symmetry_error(albedo, rowcol, mask.astype(np.float32))
    except ShapeError:
        return float("nan")


def _seen_both(conf: np.ndarray, index: np.ndarray, thr: float = 0.5) -> np.ndarray:
    n = conf.shape[0]
    safe = np.where(index >= 0, index, 0)
    cm = conf.reshape(-1)[safe].reshape(n, n)
    return (conf > thr) & (cm > thr) & (index.reshape(n, n) >= 0)


@dataclass(frozen=True)
class _Frame:
    """The checked inputs of one run: the linear ``photo`` (H, W, 3) and its clip-rebuilt copy, the camera,
    vertices, landmarks, output size ``n``, analysis size ``a``, whether the photo is black and white
    (grey or toned: :mod:`.monochrome`; ``photo`` is then its luminance), and the unit direction toward the
    camera (head space)."""

    photo: np.ndarray
    unclipped: Unclipped
    person_mask: np.ndarray | None
    K: np.ndarray
    R: np.ndarray
    t: np.ndarray
    verts: np.ndarray
    lms: np.ndarray | None
    n: int
    a: int
    grey: bool
    cam_dir: np.ndarray

    @property
    def size(self) -> tuple[int, int]:
        return self.photo.shape[0], self.photo.shape[1]


@dataclass(frozen=True)
class _Lit:
    """Unwrap, mirror map, camera view, calibrated de-lighting, its calibration and the occluders found
    on the first de-lighting (hair and other regions that are not skin)."""

    view: CameraView
    unwrap: Unwrap
    mirror: MirrorMap
    delit: Delit
    calib: Calibration
    occluders: Occluders
    shine: Shine | None = None


@dataclass(frozen=True)
class _Filled:
    """Correction masks and results, the colour-matched template and the completed albedo (``final``: at
    the output size, floored, grey for a black-and-white photo, before the iris is painted)."""

    masks: CorrectionMasks
    corrected: Corrected
    matched: np.ndarray
    conf: np.ndarray
    done: Completed
    final: np.ndarray


class _Clock:
    """Seconds per stage, in order."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.timings[name] = round(now - self._last, 4)
        self._last = now


def build_texture(inputs: TextureInputs, model: HeadModel, progress: ProgressFn | None = None,
                  settings: TextureSettings = TextureSettings(), runtime: Runtime = CPU) -> TextureResult:
    """Run the whole texture pipeline (see the module docstring) and return maps, metrics, timings.

    ``runtime``: where the renders run (camera view, AO and shadow maps, re-render, relit sheet); every
    other step is numpy on the CPU.
    """
    report = progress if progress is not None else (lambda stage, fraction, message: None)
    f = _frame(inputs, model)
    clock = _Clock()
    lit = _light(f, model, settings, runtime, report, clock)
    filled = _fill(f, lit, model, settings, report, clock)
    report("texture", 0.8, "writing PBR maps")
    eye = eye_color(f.photo, f.lms, lit.delit.lighting, f.cam_dir)
    teeth = None if f.grey else teeth_color(f.photo, f.lms, lit.delit.lighting, f.cam_dir)
    final = paint_iris(filled.final, _eyeballs(lit.unwrap, model, f.n), eye)
    gloss = None if lit.shine is None else lit.shine.glossiness
    albedo_srgb, normal, rough = albedo_srgb8(final), normal_map(f.n), roughness_map(f.n, gloss)
    clock.lap("maps")
    metrics, diag = _measure(f, lit, filled, model, settings, runtime, report, clock)
    sheet = None
    if settings.relit_sheet:
        report("texture", 0.94, "rendering the relit preview")
        sheet = render_relit_sheet(albedo_srgb8(f.photo), model, f.verts, f.K, f.R, f.t, filled.done.albedo,
                                   runtime=runtime)
        clock.lap("relit_sheet")
    clock.timings["total"] = round(sum(clock.timings.values()), 4)
    report("texture", 1.0, f"texture done (BS error {metrics['bs_error']:.2f})")
    return TextureResult(
        albedo_srgb=albedo_srgb, normal=normal, roughness=rough, eye_color_srgb=eye, teeth_color_srgb=teeth,
        sh_coeffs=lit.delit.lighting.equivalent_sh(), metrics=metrics, timings=clock.timings,
        debug=_debug_layers(lit, filled, final) if settings.debug else {}, relit_sheet=sheet,
        confidence=_confidence8(filled.conf, filled.done, f.n),
        warnings=diag.warnings + calibration_warnings(lit.calib),
    )


def _frame(inputs: TextureInputs, model: HeadModel) -> _Frame:
    photo, person_mask = _check(inputs, model)
    grey = is_monochrome(photo)
    if grey:  # a toned (sepia, tinted) photo's colour is the print's, not the person's: keep its luminance
        photo = _grey(photo)
    lms = None if inputs.landmarks is None else np.asarray(inputs.landmarks, np.float64)
    unclipped = reconstruct_clipped(photo, None if lms is None else face_skin_pixels(lms, photo.shape[:2]))
    R = np.asarray(inputs.R, np.float64)
    t = np.asarray(inputs.t, np.float64).reshape(3)
    cam_dir = -R.T @ t
    n = int(inputs.texture_size)
    return _Frame(photo, unclipped, person_mask, np.asarray(inputs.K, np.float64), R, t,
                  np.asarray(inputs.vertices, np.float32), lms, n, min(n, ANALYSIS_SIZE), grey,
                  cam_dir / max(np.linalg.norm(cam_dir), 1e-9))


def _light(f: _Frame, model: HeadModel, settings: TextureSettings, runtime: Runtime, report: ProgressFn,
           clock: _Clock) -> _Lit:
    """Unwrap the (clip-rebuilt) photo, de-light it and calibrate exposure and light colour."""
    report("texture", 0.0, "unwrapping the photo into UV space")
    h, w = f.size
    view = camera_view(model, f.verts, f.K, f.R, f.t, w, h, runtime=runtime)
    unwrap = unwrap_photo(f.unclipped.rgb, f.K, f.R, f.t, f.verts, model, f.a, f.person_mask, view=view,
                          runtime=runtime, clipped=f.unclipped.lost)
    mirror = mirror_lookup(model, f.a)
    clock.lap("unwrap")
    report("texture", 0.2, "estimating the lighting and de-lighting")
    delit = delight(unwrap, model, f.verts, mirror_index=mirror.index, settings=settings.delight, runtime=runtime)
    # The occluder cues read the albedo on [0, 1] (the de-lit one is still in the photo's exposure).
    occluders = find_occluders(np.minimum(delit.albedo, 1.0), delit.confidence, unwrap, model, f.photo, f.lms,
                               settings.correct)
    not_skin = occluders.union()
    face = _regions(unwrap, model, ("face",)) & (delit.confidence > 0.05)
    if (occluders.hair & face).sum() > settings.correct.relight_hair_share * max(int(face.sum()), 1):
        # Hair over the skin is not shading: estimate the light again from the skin it leaves bare.
        report("texture", 0.3, "estimating the lighting again without the hair")
        delit = delight(unwrap, model, f.verts, mirror_index=mirror.index, settings=settings.delight,
                        runtime=runtime, exclude=not_skin)
    vertex_ao = template_ambient_occlusion(model, runtime)
    ao = (vertex_ao, texel_ambient_occlusion(model, f.a, vertex_ao))
    d = settings.delight
    calib = _calibration(f.photo, f.lms, delit, unwrap, model, f.verts, (f.K, f.R, f.t), settings.calibrate, ao,
                         f.grey, not_skin)
    clock.lap("delight")
    calibrated = apply_gain(delit, calib.gain, calib.adapt)
    if d.sheen_f0 > 0.0:
        calibrated = remove_sheen(calibrated, unwrap, ao[1], d.sheen_f0, d.sheen_keep)
    shine = None
    if d.shine and not f.grey:  # after the white balance: the light's colour is white there
        calibrated, shine = _take_shine(calibrated, unwrap, model, ao[1], not_skin, d)
    return _Lit(view, unwrap, mirror, calibrated, calib, occluders, shine)


def _take_shine(delit: Delit, unwrap: Unwrap, model: HeadModel, ao: np.ndarray, not_skin: np.ndarray,
                d: DelightSettings) -> tuple[Delit, Shine]:
    """The de-lit albedo without the shine the lighting model left (:mod:`engine.texture.delight.shine`) on
    the seen skin of ``SHINE_REGIONS``, the diffuse skin gathered on ``SHINE_REFERENCE_REGIONS`` but the
    occluders ``not_skin`` (N, N) bool (``ao`` (N, N) the texels' ambient occlusion)."""
    seen = delit.confidence > 0.0
    reference = _regions(unwrap, model, SHINE_REFERENCE_REGIONS) & seen & ~not_skin
    taken = remove_shine(delit.albedo, _regions(unwrap, model, SHINE_REGIONS) & seen, d, reference,
                         expected_shine(delit, unwrap, ao))
    return replace(delit, albedo=taken.albedo), taken


def _fill(f: _Frame, lit: _Lit, model: HeadModel, settings: TextureSettings, report: ProgressFn,
          clock: _Clock) -> _Filled:
    """Correct the unreliable regions, complete the unseen texels, add the output size's detail."""
    report("texture", 0.45, "correcting eyes, mouth, nostrils and hair")
    unwrap, delit = lit.unwrap, lit.delit
    template = load_template_albedo(f.a)
    ref = skin_reference_mask(unwrap, model, delit.confidence, f.lms, f.size)
    masks = correction_masks(unwrap, delit.albedo, delit.confidence, f.lms, f.size, model, settings.correct, f.photo,
                             lit.occluders.union())
    not_face_skin = masks.union() | delit.outliers | _regions(unwrap, model, ("eyebrows", "nostrils"))
    ring = _ring_reference(unwrap, model, delit.albedo, delit.confidence, ref, not_face_skin)
    matched = _matched_template(template, delit.albedo, delit.confidence, unwrap, model, ring)
    corrected = correct(delit.albedo, delit.confidence, matched, masks, settings.correct)
    clock.lap("correct")
    report("texture", 0.65, "completing unseen regions")
    conf = _with_grazing(corrected.confidence, delit.albedo, unwrap, model, lit.view, f.person_mask, ref,
                         not_face_skin)
    done: Completed = complete(corrected.albedo, conf, matched, unwrap.covered, lit.mirror)
    final = _own_skin_detail(done, unwrap, model, ref & (conf > 0.8) & ~not_face_skin, settings.skin_detail)
    clock.lap("complete")
    if f.n > f.a:
        report("texture", 0.75, f"adding {f.n}² detail")
        final = _add_detail(f.n, f.unclipped.rgb, unwrap, delit, done, final, conf, matched, template)
        clock.lap("detail")
    # No real surface reflects less than ~1-2%; a black texel (the template's mouth lining after the
    # colour match) would also read as a hole when the texture is mip-mapped.
    final = np.maximum(final, ALBEDO_FLOOR)
    if f.grey:
        # A black-and-white photo has no skin colour to give: the completed albedo stays grey rather
        # than mixing the grey face with the template's colours (lips, ears, neck, scalp).
        final = _grey(final)
        done = Completed(_grey(done.albedo), done.from_photo, done.from_mirror, done.from_template)
    return _Filled(masks, corrected, matched, conf, done, final)


def _measure(f: _Frame, lit: _Lit, filled: _Filled, model: HeadModel, settings: TextureSettings,
             runtime: Runtime, report: ProgressFn, clock: _Clock) -> tuple[dict[str, float], Diagnostics]:
    """Metrics (BS, coverage, de-lighting and calibration figures, diagnostics, re-render PSNR) and the
    diagnosis behind the warnings."""
    report("texture", 0.88, "measuring")
    unwrap, delit, masks, done = lit.unwrap, lit.delit, filled.masks, filled.done
    metrics = _metrics(unwrap, delit.albedo, delit.confidence, done, lit.mirror.rowcol, lit.mirror.index, model)
    metrics.update({f"delight_{k}": float(v) for k, v in delit.info.items()})
    metrics.update({f"calibration_{k}": float(v) for k, v in lit.calib.info.items()})
    face = _regions(unwrap, model, ("face",))
    metrics.update(_shine_metrics(lit, face & (delit.confidence > 0.0)))
    diag = diagnose(delit.albedo, delit.shading, unwrap.weight, unwrap.saturated, masks.hair,
                    face & (unwrap.part == 0), unwrap.position, f.grey,
                    settings.diagnostics)
    metrics.update(diag.shares)
    if settings.rerender:
        not_skin = masks.hair | masks.nostrils | _regions(unwrap, model, ("eyebrows", "nostrils"))
        rr = rerender(f.photo, model, f.verts, f.K, f.R, f.t, done.albedo, delit.lighting, f.lms, delit.shadow_map,
                      lit.view.rast, not_skin=not_skin, person_mask=f.person_mask, runtime=runtime)
        metrics["psnr_self_consistency"] = rr.psnr
    clock.lap("metrics")
    return metrics, diag


SHINE_TEXEL = 0.01
"""A texel lost more than this (linear albedo) to the shine removal counts in ``shine_removed_share``."""


def _shine_metrics(lit: _Lit, face: np.ndarray) -> dict[str, float]:
    """``shine_removed_share``: the seen face's share (``face`` (N, N) bool) that lost more than
    :data:`SHINE_TEXEL` to the shine removal; ``shine_removed_mean``: the mean linear albedo it lost."""
    if lit.shine is None or not face.any():
        return {"shine_removed_share": 0.0, "shine_removed_mean": 0.0}
    h = lit.shine.removed[face]
    return {"shine_removed_share": float((h > SHINE_TEXEL).mean()), "shine_removed_mean": float(h.mean())}


def _debug_layers(lit: _Lit, filled: _Filled, final: np.ndarray) -> dict[str, np.ndarray]:
    """Intermediate images for looking at (``TextureResult.debug``)."""
    unwrap, delit, masks, corrected, done = lit.unwrap, lit.delit, filled.masks, filled.corrected, filled.done
    return {
        "weight": unwrap.weight, "unwrap_srgb": albedo_srgb8(unwrap.color), "delit_srgb": albedo_srgb8(delit.albedo),
        "confidence": corrected.confidence, "shading": delit.shading, "sun_visibility": delit.sun_visibility,
        "outliers": delit.outliers, "mask_eyes": masks.eyes, "mask_mouth": masks.mouth,
        "mask_nostrils": masks.nostrils, "mask_hair": masks.hair, "poisson": corrected.poisson,
        "dropped": corrected.dropped, "from_photo": done.from_photo, "from_mirror": done.from_mirror,
        "from_template": done.from_template, "template_matched_srgb": albedo_srgb8(filled.matched),
        "albedo_linear": final,
    }


def _calibration(photo: np.ndarray, lms: np.ndarray | None, delit, unwrap, model: HeadModel, verts: np.ndarray,
                 camera: tuple[np.ndarray, np.ndarray, np.ndarray], settings: CalibrationSettings,
                 ao: tuple[np.ndarray, np.ndarray], grey: bool, not_skin: np.ndarray) -> Calibration:
    """Exposure and light colour (:mod:`.calibrate`) from the sclera and the de-lit face skin (``not_skin``
    (N, N) bool, the occluders, left out)."""
    skin = _regions(unwrap, model, ("face",)) & (delit.confidence > 0.5) & ~delit.outliers & ~not_skin
    skin_rgb = delit.albedo[skin].mean(0).astype(np.float64) if skin.sum() > 100 else np.full(3, 0.3)
    # A black-and-white photo's grey levels depend on how it was converted from colour (a red filter
    # lightens skin, a blue one darkens it, the white eye stays): its eye whites cannot measure the skin,
    # so its exposure comes from the skin prior (albedo change under -1/+1 EV, ΔE00, with the eye whites ->
    # without: einstein 5.3/6.3 -> 1.7/3.0, tongue 3.7/8.1 -> 4.1/5.7, takeo 0.8/1.9 -> 1.0/2.2).
    eyes = [] if lms is None or grey else _sclera_samples(photo, lms, delit, unwrap, model, verts, camera, settings,
                                                          ao, skin_rgb, provisional_balance(skin_rgb, settings))
    return calibrate_gain(skin_rgb, eyes, settings, grey=grey)


def _sclera_samples(photo: np.ndarray, lms: np.ndarray, delit, unwrap, model: HeadModel, verts: np.ndarray,
                    camera: tuple[np.ndarray, np.ndarray, np.ndarray], settings: CalibrationSettings,
                    ao: tuple[np.ndarray, np.ndarray], skin_rgb: np.ndarray,
                    balance: np.ndarray | None = None) -> list[ScleraSample]:
    """Each eye's sclera colour in the photo beside the shading of the eyeball it belongs to (the
    fitted eyeball whose centre projects nearer the iris); ``skin_rgb`` (3,) the de-lit mean face skin (see
    :func:`sclera_shading`); ``balance``: see :func:`provisional_balance`."""
    K, R, t = camera
    centres = eye_centres_px(model, verts, K, R, t)
    vertex_ao, lid_ao = ao
    out = []
    for iris, px in sclera_pixels(photo, lms, settings, balance):
        px, lost = reconstruct_clipped_set(px, UnclipSettings(clipped=settings.clipped))
        colour = sclera_colour(px, settings, balance)
        if colour is None:
            continue
        part = min(centres, key=lambda p: float(np.linalg.norm(centres[p] - iris)))
        shade = sclera_shading(delit, unwrap, model, verts, -R.T @ t, part, vertex_ao, lid_ao, settings, skin_rgb)
        if shade is not None:
            out.append(ScleraSample(colour, shade, len(px), float(lost.mean()) if len(lost) else 0.0))
    return out


def _confidence8(confidence: np.ndarray, done: Completed, n: int) -> np.ndarray:
    """(n, n) uint8: the texel's confidence where its colour came from the photo, 0 where it was filled."""
    import cv2

    c = np.clip(confidence, 0.0, 1.0) * (done.from_photo > 0.5)
    if c.shape[0] != n:
        c = cv2.resize(c.astype(np.float32), (n, n), interpolation=cv2.INTER_LINEAR)
    return (c * 255 + 0.5).astype(np.uint8)


GRAZING_CONFIDENCE = 0.3
"""Confidence given to a plainly-skin texel the camera sees at a grazing angle (or right at the
silhouette), before the angle / person-mask / skin-colour factors of :func:`_with_grazing`."""
RING_WIDTH = 0.02
"""Width (fraction of N) of the ring of de-lit face skin the template colour is matched to."""


def _ring_reference(unwrap: Unwrap, model: HeadModel, albedo: np.ndarray, confidence: np.ndarray, ref: np.ndarray,
                    excluded: np.ndarray) -> np.ndarray:
    """(N, N) bool: the de-lit skin just inside the border of the well-seen face, the reference the
    template's colour is matched to (where the completion joins the template to the photo, both then
    have the same tone). Texels in ``excluded`` and texels whose colour is not skin (against the
    cheek reference ``ref``) are left out; falls back to ``ref`` when the ring is too small."""
    import cv2

    from engine.texture.color import linear_rgb_to_lab
    from engine.texture.correct import skin_lab_model

    n = confidence.shape[0]
    seen = (confidence > 0.3) & _regions(unwrap, model, ("face",))
    if ref.sum() < 50 or seen.sum() < 200:
        return ref
    dist = cv2.distanceTransform(seen.astype(np.uint8), cv2.DIST_L2, 3)
    ring = seen & (dist <= RING_WIDTH * n) & ~excluded
    if ring.sum() < 200:
        return ref
    skin = skin_lab_model(np.asarray(linear_rgb_to_lab(albedo[ref]), np.float64))
    lab = np.asarray(linear_rgb_to_lab(albedo[ring]), np.float64)
    ok = (skin.chroma_distance(lab) < 3.0) & (np.abs(skin.darkness(lab)) < 4.0)
    out = np.zeros_like(ring)
    out[ring] = ok
    return out if out.sum() >= 200 else ref


def _with_grazing(confidence: np.ndarray, albedo: np.ndarray, unwrap: Unwrap, model: HeadModel, view,
                  person_mask: np.ndarray | None, ref: np.ndarray, excluded: np.ndarray) -> np.ndarray:
    """``confidence`` (N, N) raised where the photo sees skin at a grazing angle or near the silhouette.

    The unwrap weight drops texels below 15 degrees and near silhouettes (their colour is less
    certain), which leaves a ring along the face oval filled from the mirror or the template: a tone
    step where the photo itself shows the face's own skin. Here such a texel keeps its own de-lit
    colour with a confidence ``GRAZING_CONFIDENCE`` x smoothstep(view angle / 15 deg) x the person
    mask x (not on the photo's silhouette pixel itself) x (its colour is skin: chroma and L* close to
    the reference skin ``ref``), so background and hair at the silhouette are not pulled in.
    ``excluded`` (N, N) bool: texels the corrections / outlier repair own (never raised).
    """
    import cv2

    from engine.texture.color import linear_rgb_to_lab
    from engine.texture.correct import skin_lab_model

    cand = (unwrap.visible & unwrap.covered & (unwrap.part == 0) & ~unwrap.saturated & ~excluded
            & _regions(unwrap, model, ("face", "neck", "ears")))
    if ref.sum() < 50 or not cand.any():
        return confidence
    cos = np.einsum("ijc,ijc->ij", unwrap.normal, unwrap.view_dir)
    w = GRAZING_CONFIDENCE * _smooth01(cos / np.sin(np.deg2rad(15.0)))
    px = np.ascontiguousarray(unwrap.pixel[..., 0])
    py = np.ascontiguousarray(unwrap.pixel[..., 1])
    edge = cv2.remap(np.ascontiguousarray(view.edge_distance, np.float32), px, py, cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    w = w * _smooth01((edge - 0.5) / 1.5)
    if person_mask is not None:
        pm = cv2.remap(np.ascontiguousarray(person_mask, np.float32), px, py, cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        w = w * _smooth01((pm - 0.5) / 0.3)
    cand &= w > 0.02
    if not cand.any():
        return confidence
    skin = skin_lab_model(np.asarray(linear_rgb_to_lab(albedo[ref]), np.float64))
    lab = np.asarray(linear_rgb_to_lab(albedo[cand]), np.float64)
    chroma, dark = skin.chroma_distance(lab), skin.darkness(lab)
    ok = _smooth01((3.0 - chroma) / 1.5) * _smooth01((3.0 - dark) / 1.5) * _smooth01((3.0 + dark) / 1.5)
    out = confidence.copy()
    out[cand] = np.maximum(confidence[cand], (w[cand] * ok).astype(np.float32))
    return out


def _grey(img: np.ndarray) -> np.ndarray:
    return np.repeat(luminance(img)[..., None], 3, axis=2).astype(np.float32)


def _smooth01(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _nearest_fill(img: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``img`` (N, N, C) with every invalid texel set to its nearest valid texel's value."""
    import cv2

    if valid.all() or not valid.any():
        return img
    _, labels = cv2.distanceTransformWithLabels((~valid).astype(np.uint8), cv2.DIST_L2, 3,
                                                labelType=cv2.DIST_LABEL_PIXEL)
    ys, xs = np.nonzero(valid)
    lut = np.zeros(labels.max() + 1, np.int64)
    # OpenCV numbers the zero (valid) pixels in row-major order starting at 1.
    lut[1:len(ys) + 1] = ys * img.shape[1] + xs
    return img.reshape(-1, img.shape[-1])[lut[labels]].reshape(img.shape)


def _add_detail(n: int, photo: np.ndarray, unwrap: Unwrap, delit, done: Completed, albedo_a: np.ndarray,
                confidence: np.ndarray, matched: np.ndarray, template_a: np.ndarray) -> np.ndarray:
    """The ``n x n`` albedo: the analysis-size result ``albedo_a`` plus the photo's and the template's
    full-resolution detail (:mod:`.detail`)."""
    layers = DetailInputs(
        pixel=_nearest_fill(unwrap.pixel, unwrap.visible), shading=_nearest_fill(delit.shading, unwrap.visible),
        specular=delit.specular, albedo=albedo_a, own=done.from_photo * (confidence > 0.05),
        template=done.from_template, ratio=matched / np.maximum(template_a, 1e-3))
    return add_detail(n, photo, layers, load_template_albedo(n))


def _metrics(unwrap: Unwrap, delit_albedo: np.ndarray, delit_conf: np.ndarray, done: Completed,
             rowcol: np.ndarray, index: np.ndarray, model: HeadModel) -> dict[str, float]:
    """BS errors count only face texels the photo showed on both sides (a texel filled from its mirror
    or from the symmetric template is symmetric by construction and would flatter the figure);
    ``bs_error_with_fill`` keeps the whole face for comparison, beside the share that was filled."""
    face = _regions(unwrap, model, _BS_REGIONS)
    both = _seen_both(unwrap.weight, index) & face
    both_delit = both & _seen_both(delit_conf, index)
    both_final = face & _seen_both(done.from_photo, index)
    skin = (unwrap.part == 0) & unwrap.covered & ~_regions(unwrap, model, _COVERAGE_EXCLUDE)
    images = [done.albedo, done.albedo, unwrap.color, delit_albedo]
    masks = [both_final, face, both, both_delit]
    rc = rowcol
    n = face.shape[0]
    if n > 1024:  # the BS error is defined on a blurred luma: measure it on every other texel
        step = n // 1024
        images = [im[::step, ::step] for im in images]
        masks = [m[::step, ::step] for m in masks]
        rc = np.where(rowcol[::step, ::step] >= 0, rowcol[::step, ::step] / step, -1.0).astype(np.float32)
    seen_face = float((done.from_photo[face] > 0.5).mean()) if face.any() else 0.0
    return {
        "bs_error": _bs(images[0], rc, masks[0]),
        "bs_error_with_fill": _bs(images[1], rc, masks[1]),
        "bs_error_unwrap": _bs(images[2], rc, masks[2]),
        "bs_error_delit": _bs(images[3], rc, masks[3]),
        "bs_counted_share": float(both_final.sum() / max(face.sum(), 1)),
        "filled_share_face": 1.0 - seen_face,
        "coverage": float((done.from_photo[skin] > 0.5).mean()) if skin.any() else 0.0,
        "coverage_face": seen_face,
        "mirror_fill": float((done.from_mirror[skin] > 0.5).mean()) if skin.any() else 0.0,
        "template_fill": float((done.from_template[skin] > 0.5).mean()) if skin.any() else 0.0,
    }
