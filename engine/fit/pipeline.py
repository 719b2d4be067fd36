"""The fitting stages end to end: landmarks -> (a) camera/pose/shape/expression -> (b) photometric refinement."""
from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
import torch

from engine import landmarks as lm
from engine.fit.camera import Camera
from engine.fit.contour import contour_candidates, marched_correspondence
from engine.fit.corrective import CorrectiveSettings, corrective_offsets
from engine.fit.correspondence import LandmarkCorrespondence, load_correspondence
from engine.fit.landmark_fit import (
    UNWRAP_FIT,
    LandmarkBasis,
    LandmarkFitSettings,
    fit_landmarks,
    initial_rotation,
    landmark_visibility,
    landmark_weights,
    refit_shape,
)
from engine.fit.landmark_prior import correct_landmarks, load_landmark_prior
from engine.fit.photometric import PhotometricSettings, refine_photometric
from engine.fit.result import FitResult, StageReport
from engine.fit.silhouette import OutlineTerm, SilhouetteSettings, mask_covers_face, silhouette_target
from engine.head.model import HeadModel
from engine.landmarks import FaceLandmarks
from engine.runtime import CPU, Runtime

__all__ = ["FitSettings", "fit_head", "landmark_basis", "landmark_groups"]


@dataclass(frozen=True)
class FitSettings:
    landmarks: LandmarkFitSettings = LandmarkFitSettings()
    photometric: PhotometricSettings | None = PhotometricSettings()
    corrective: CorrectiveSettings | None = CorrectiveSettings()
    march_contour: bool = True
    unwrap: LandmarkFitSettings | None = UNWRAP_FIT
    """The loose refit the texture's unwrap mesh starts from (None: the shape itself)."""
    silhouette: SilhouetteSettings | None = SilhouetteSettings()
    """The head's outline pulled onto the person mask's (:mod:`engine.fit.silhouette`); None: off, and
    off without a person mask or with one that misses the face."""
    landmark_prior: bool = True
    """Remove MediaPipe's known pose-dependent bias from the detected points and weight each by its known
    spread (:mod:`engine.fit.landmark_prior`) before fitting."""

    @staticmethod
    def for_quality(quality: str) -> "FitSettings":
        """``fast`` (the default, a few seconds on 2 cores) or ``best`` (more iterations, larger render)."""
        if quality == "best":
            return FitSettings(LandmarkFitSettings(pose_iterations=100, joint_iterations=500),
                               PhotometricSettings(iterations=80, resolution=256))
        return FitSettings()


@lru_cache(maxsize=1)
def landmark_groups() -> dict[str, np.ndarray]:
    """Named MediaPipe index sets the fit weights differently (derived once; treat as read-only)."""
    return {
        "face_oval": np.array(lm.FACE_OVAL), "left_eye": np.array(lm.LEFT_EYE),
        "right_eye": np.array(lm.RIGHT_EYE), "lips": np.array(lm.LIPS_OUTER + lm.LIPS_INNER),
        "left_iris": np.array(lm.LEFT_IRIS + (lm.LEFT_IRIS_CENTRE,)),
        "right_iris": np.array(lm.RIGHT_IRIS + (lm.RIGHT_IRIS_CENTRE,)),
    }


def landmark_basis(model: HeadModel, corr: LandmarkCorrespondence) -> LandmarkBasis:
    """The model's mean, shape and expression deltas evaluated at the 478 landmark points."""
    ranges = model.shape_ranges
    return LandmarkBasis(
        mean=corr.points(model, model.vertices),
        shape_incr=corr.points(model, model.shape_deltas_pos),
        shape_decr=corr.points(model, model.shape_deltas_neg),
        expression=corr.points(model, model.expression_deltas),
        shape_low=ranges[:, 0].float(),
        shape_high=ranges[:, 1].float(),
        shape_pairs=model.symmetric_shape_pairs.long().reshape(-1, 2),
        normals=torch.nn.functional.normalize(corr.points(model, model.vertex_normals(model.vertices)), dim=-1),
    )


def fit_head(photo_rgb: np.ndarray, face: FaceLandmarks, model: HeadModel, settings: FitSettings = FitSettings(),
             person_mask: np.ndarray | None = None, progress=None, runtime: Runtime = CPU) -> FitResult:
    """Fits the head to one photo. ``photo_rgb`` (H, W, 3) uint8 sRGB working image; pixels in its frame.

    ``runtime``: where the photometric stage renders (the landmark stages are tiny and stay on the CPU)."""
    height, width = photo_rgb.shape[:2]
    corr = load_correspondence()
    basis = landmark_basis(model, corr)
    groups = landmark_groups()
    weights = landmark_weights(groups)
    face, weights = _with_landmark_prior(face, basis, width, height, weights, settings)
    contour = contour_candidates(model, corr, groups["face_oval"]) if settings.march_contour else None
    outline = None
    if (settings.silhouette is not None and person_mask is not None
            and mask_covers_face(person_mask, face.points[groups["face_oval"]], settings.silhouette)):
        outline = OutlineTerm(model, silhouette_target(person_mask), face.inter_ocular, width, height,
                              settings.silhouette)
    state, report_a, weights, marched = fit_landmarks(basis, face.points, face.inter_ocular, width, height, weights,
                                                      settings.landmarks, progress, contour, outline)
    if marched is not None:
        corr = marched_correspondence(model, corr, contour.landmarks, marched)
    stages = [report_a]
    sh_coeffs = albedo_gain = None
    if settings.photometric is not None and settings.photometric.iterations > 0:
        sh_coeffs, albedo_gain, report_b = refine_photometric(
            state, basis, model, photo_rgb, face, weights, settings.photometric, person_mask, progress, runtime,
            settings.landmarks, outline)
        stages.append(report_b)
    loose = None
    if settings.unwrap is not None:
        loose = refit_shape(state, basis, face.points, face.inter_ocular, width, height, weights, settings.unwrap)
    return _assemble(state, basis, model, corr, face, width, height, sh_coeffs, albedo_gain, stages,
                     settings.corrective, weights, contour.landmarks if marched is not None else None, loose)


def _with_landmark_prior(face: FaceLandmarks, basis: LandmarkBasis, width: int, height: int, weights: torch.Tensor,
                         settings: FitSettings) -> tuple[FaceLandmarks, torch.Tensor]:
    """``face`` with its points' known bias for the head's rotation (a PnP on the detected points) removed,
    and ``weights`` times each point's trust (unchanged without the prior or with it disabled)."""
    prior = load_landmark_prior() if settings.landmark_prior else None
    if prior is None:
        return face, weights
    R = initial_rotation(basis, face.points, width, height)
    points, trust = correct_landmarks(face.points, face.face_size, R, prior)
    return replace(face, points=points), weights * torch.from_numpy(trust)


def _corrective_weights(weights: torch.Tensor, marched: torch.Tensor | None) -> np.ndarray:
    """Trust per landmark for the corrective field. Face-oval points that did not march get none: MediaPipe
    puts them on the visible outline, which is not a fixed point of the surface, so pulling the surface onto
    them raises ridges along the cheeks. Marched points are on the mesh's own outline and count half."""
    trust = (weights / weights.max()).numpy()
    w = trust.copy()
    w[landmark_groups()["face_oval"]] = 0.0
    if marched is not None:
        w[marched.numpy()] = 0.5 * trust[marched.numpy()]
    return w


def _rigid_inner_parts(model: HeadModel, offsets: np.ndarray, landmark_offsets: np.ndarray) -> np.ndarray:
    """Eyeballs, teeth and tongue move as whole pieces: the skin's corrective field would otherwise bend the
    eyeballs and pull the tongue through the lips next to the lip landmarks. An eyeball takes the field's
    mean at its iris landmarks (so the iris lands on the photo's), the others their mean offset, never
    forward."""
    iris = {"eye_l": list(lm.LEFT_IRIS) + [lm.LEFT_IRIS_CENTRE], "eye_r": list(lm.RIGHT_IRIS) + [lm.RIGHT_IRIS_CENTRE]}
    out = offsets.copy()
    faces, parts = model.faces.numpy(), model.face_part.numpy()
    for name in model.part_names:
        if name == "skin":
            continue
        ids = np.unique(faces[parts == model.part_id(name)])
        mean = landmark_offsets[iris[name]].mean(0) if name in iris else offsets[ids].mean(0)
        if name.startswith("teeth") or name == "tongue":
            mean = mean * np.array([1.0, 1.0, 0.0])  # never forward, toward the lips
        out[ids] = mean
    return out


def _unwrap_offsets(model: HeadModel, corr: LandmarkCorrespondence, camera: Camera, face: FaceLandmarks,
                    posed: np.ndarray, base: np.ndarray, corrective: CorrectiveSettings | None, trust: np.ndarray,
                    stages: list) -> tuple[np.ndarray, np.ndarray]:
    """The unwrap mesh as offsets from ``posed`` (V, 3), and its landmarks (478, 2) in the image: ``base``
    (the loose refit, or the shape itself), then the corrective field onto the detected landmarks."""
    unwrap = base
    if corrective is not None:
        base_lm = corr.points(model, torch.from_numpy(base)).numpy().astype(np.float64)
        both = corrective_offsets(np.concatenate([base, base_lm]), base_lm, face.points - camera.project(base_lm),
                                  camera.K, camera.R, camera.t, weights=trust, settings=corrective)
        field = _rigid_inner_parts(model, both[:len(base)], both[len(base):])
        unwrap = base + field
        stages.append(StageReport("corrective", 1, 0.0, {"max_offset_mm": float(np.abs(field).max() * 1000)}))
    lm2d = camera.project(corr.points(model, torch.from_numpy(unwrap)).numpy().astype(np.float64))
    return (unwrap - posed).astype(np.float32), lm2d


def _assemble(state, basis: LandmarkBasis, model: HeadModel, corr: LandmarkCorrespondence, face: FaceLandmarks,
              width: int, height: int, sh_coeffs, albedo_gain, stages, corrective: CorrectiveSettings | None,
              weights: torch.Tensor, marched_landmarks: torch.Tensor | None, loose=None) -> FitResult:
    with torch.no_grad():
        K, R, t = state.camera_matrices(width, height)
        neutral = model.shaped_vertices(state.shape.detach(), None).numpy()
        posed = model.shaped_vertices(state.shape.detach(), state.expression.detach()).numpy()
        base = posed if loose is None else model.shaped_vertices(loose.shape.detach(), loose.expression.detach()).numpy()
    camera = Camera(K.numpy().astype(np.float64), R.numpy().astype(np.float64), t.detach().numpy().astype(np.float64),
                    width, height)
    lm3d = corr.points(model, torch.from_numpy(posed)).numpy().astype(np.float64)
    lm2d_parametric = camera.project(lm3d)
    parametric_err = np.linalg.norm(lm2d_parametric - face.points, axis=1)
    offsets, lm2d = None, lm2d_parametric
    if corrective is not None or loose is not None:
        offsets, lm2d = _unwrap_offsets(model, corr, camera, face, posed, base, corrective,
                                        _corrective_weights(weights, marched_landmarks), stages)
    err = np.linalg.norm(lm2d - face.points, axis=1)
    visible = (landmark_visibility(state, basis, width, height) > 0.5).numpy()
    metrics = {
        "landmark_error_visible_iod": float(err[visible].mean() / face.inter_ocular),
        "landmarks_visible": int(visible.sum()),
        "landmark_error_parametric_iod": float(parametric_err.mean() / face.inter_ocular),
        "landmark_error_iod": float(err.mean() / face.inter_ocular),
        "landmark_error_px": float(err.mean()),
        "landmark_error_median_iod": float(np.median(err) / face.inter_ocular),
        "inter_ocular_px": float(face.inter_ocular),
        "focal_px": float(K[0, 0]),
    }
    return FitResult(camera=camera, vertices_neutral=neutral, vertices_posed=posed,
                     shape=state.shape.detach().numpy().copy(), expression=state.expression.detach().numpy().copy(),
                     landmarks_2d=lm2d, landmarks_3d=lm3d.astype(np.float32), landmarks_2d_parametric=lm2d_parametric,
                     unwrap_offsets=offsets,
                     sh_coeffs=sh_coeffs, albedo_gain=albedo_gain,
                     stages=stages, metrics=metrics)
