"""Stage (b): photometric refinement of pose, shape and expression against the photo.

The face skin is rendered with 9x3 spherical-harmonics shading of a uniform skin colour: for fixed
geometry the colour-times-lighting product is linear in the SH coefficients, so it is solved in closed
form (least squares) at every step and the optimiser only moves geometry. The landmark term of stage
(a) stays on, so shading can refine shape where landmarks say nothing (nose, cheeks, forehead) without
dragging the contours. Rendering happens on a square crop around the face at ``resolution`` pixels.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from engine.fit.landmark_fit import LandmarkBasis, LandmarkFitSettings, LandmarkFitState, _loss
from engine.fit.optim import Adam
from engine.fit.result import StageReport
from engine.head.model import HeadModel
from engine.landmarks import FACE_OVAL, FaceLandmarks
from engine.texture.color import srgb_to_linear
from engine.render import interpolate, opencv_to_clip, rasterize, sh_basis
from engine.runtime import CPU, Runtime

__all__ = ["PhotometricSettings", "refine_photometric", "face_crop", "SKIN_FIT_REGIONS"]

SKIN_FIT_REGIONS = ("face",)
"""Regions whose pixels drive the photometric term (brows, eyes, lips, nostrils and hair are excluded)."""


@dataclass(frozen=True)
class PhotometricSettings:
    iterations: int = 30
    resolution: int = 160
    learning_rate: float = 0.003
    photo_weight: float = 0.3  # 0.02 before; more moves the shape with a uniform-albedo shading model that
    # does not hold (tuned with the landmark priors on the training renders: 0.3 best, 1.0 worse)
    landmark_weight: float = 1.0


def face_crop(face: FaceLandmarks, resolution: int, margin: float = 1.25) -> np.ndarray:
    """(2, 3) affine from working-image pixels to a square crop around the face (integer pixel centres)."""
    x0, y0, x1, y1 = face.bbox
    side = max(x1 - x0, y1 - y0) * margin
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    s = resolution / side
    left, top = cx - side / 2, cy - side / 2
    return np.array([[s, 0.0, (0.5 - left) * s - 0.5], [0.0, s, (0.5 - top) * s - 0.5]])


def _skin_vertex_mask(model: HeadModel) -> torch.Tensor:
    ids = [model.region_id(r) for r in SKIN_FIT_REGIONS if r in model.region_names]
    return torch.isin(model.vertex_region, torch.tensor(ids)).float()[:, None]


def _oval_mask(face: FaceLandmarks, affine: np.ndarray, resolution: int) -> np.ndarray:
    pts = face.points[list(FACE_OVAL)] @ affine[:, :2].T + affine[:, 2]
    mask = np.zeros((resolution, resolution), np.uint8)
    cv2.fillPoly(mask, [np.round(pts * 4).astype(np.int32)], 1, shift=2)
    return cv2.erode(mask, np.ones((3, 3), np.uint8)).astype(np.float32)


def refine_photometric(state: LandmarkFitState, basis: LandmarkBasis, model: HeadModel, photo_rgb: np.ndarray,
                       face: FaceLandmarks, weights: torch.Tensor, settings: PhotometricSettings,
                       person_mask: np.ndarray | None = None, progress=None, runtime: Runtime = CPU,
                       lm_settings: LandmarkFitSettings = LandmarkFitSettings(), outline=None
                       ) -> tuple[np.ndarray, np.ndarray, StageReport]:
    """Refines ``state`` in place. Returns SH coefficients (9, 3) in head space (linear RGB, for a white
    albedo scaled by the skin colour), the skin colour (3,) and the stage report. ``lm_settings``: the
    landmark term and priors of stage (a), kept on here so this stage does not undo their balance;
    ``outline`` (an :class:`engine.fit.silhouette.OutlineTerm`, or None) likewise.

    Only the render (rasterize + interpolate) runs on ``runtime``'s device; the clip-space vertices go
    there and the interpolated attributes come back, so the optimiser and its state stay on the CPU."""
    start = time.perf_counter()
    res = settings.resolution
    height, width = photo_rgb.shape[:2]
    affine = face_crop(face, res)
    crop = cv2.warpAffine(photo_rgb, affine, (res, res), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)
    target = torch.from_numpy(np.asarray(srgb_to_linear(crop.astype(np.float32) / 255.0), np.float32))
    valid = _oval_mask(face, affine, res)
    if person_mask is not None:
        valid *= cv2.warpAffine(person_mask.astype(np.float32), affine, (res, res)) > 0.5
    valid_t = torch.from_numpy(valid)
    A = torch.tensor(np.vstack([affine, [0, 0, 1]]), dtype=torch.float32)
    ctx = runtime.context()
    faces = runtime.index(model.faces)
    skin = _skin_vertex_mask(model)
    target_lm = torch.as_tensor(face.points, dtype=torch.float32)
    params = [state.rotvec, state.translation, state.shape, state.expression]
    t_scale = 0.01 * float(state.translation.detach()[2])
    opt = Adam(params, settings.learning_rate, settings.iterations, scales=[0.1, t_scale * 0.3, 1.0, 1.0])
    coeffs = torch.zeros(9, 3)
    terms: dict[str, float] = {}
    for it in range(settings.iterations):
        opt.zero_grad()
        K, R, t = state.camera_matrices(width, height)
        verts = model.shaped_vertices(state.shape, state.expression)
        normals = model.vertex_normals(verts)
        clip = opencv_to_clip(verts, A @ K, R, t, res, res)
        rast, _ = rasterize(ctx, runtime.tensor(clip[None]), faces, (res, res), grad_db=False)
        attrs, _ = interpolate(runtime.tensor(torch.cat([normals, skin], 1)[None]), rast, faces,
                               backend=runtime.backend)
        attrs, covered = runtime.host(attrs), runtime.host(rast[0, ..., 3] > 0)
        n = torch.nn.functional.normalize(attrs[0, ..., :3], dim=-1)
        mask = (attrs[0, ..., 3] > 0.99) & covered & (valid_t > 0)
        Y = sh_basis(n[mask])
        obs = target[mask]
        with torch.no_grad():
            coeffs = _solve_sh(Y.detach(), obs)
        pred = Y @ coeffs
        photo_loss = (pred - obs).abs().mean() if len(obs) else pred.sum() * 0
        lm_loss, terms = _loss(state, basis, target_lm, weights, face.inter_ocular, width, height, lm_settings)
        if outline is not None:
            lm_loss = lm_loss + outline(state.shape, state.expression, K, R, t)
        total = settings.photo_weight * photo_loss + settings.landmark_weight * lm_loss
        total.backward()
        opt.step()
        state.clamp_to_ranges(basis)
        terms["photometric_l1"] = photo_loss.item()
        terms["photometric_pixels"] = int(mask.sum())
        if progress is not None and it % 5 == 0:
            progress("refine", it / settings.iterations, f"photometric L1 {photo_loss.item():.4f}")
    # Y @ coeffs is the shading itself; sh_shading() scales band l by A_l / pi, so undo that to return
    # radiance coefficients that sh_shading() accepts.
    band = torch.tensor([1.0] + [2.0 / 3.0] * 3 + [0.25] * 5)[:, None]
    coeffs = coeffs / band
    skin_colour = coeffs[0] * 0.28209479177387814
    skin_colour = (skin_colour / skin_colour.max().clamp_min(1e-6)).numpy()
    report = StageReport("photometric", settings.iterations, time.perf_counter() - start, terms)
    return coeffs.numpy().astype(np.float64), skin_colour, report


def _solve_sh(Y: torch.Tensor, obs: torch.Tensor, ridge: float = 1e-3) -> torch.Tensor:
    """Least-squares SH coefficients (9, 3) with a small ridge on the higher bands."""
    if len(obs) < 50:
        return torch.zeros(9, 3)
    reg = torch.full((9,), ridge)
    reg[0] = 0.0
    lhs = Y.T @ Y / len(obs) + torch.diag(reg)
    rhs = Y.T @ obs / len(obs)
    return torch.linalg.solve(lhs, rhs)
