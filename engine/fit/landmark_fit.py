"""Stage (a): camera, pose, shape and expression from the 478 MediaPipe landmarks.

Only the landmark points of the head are evaluated here (each landmark is a barycentric point of a
mesh triangle), so one iteration costs a few hundred points, not the whole mesh.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from engine.fit.camera import (
    HEAD_TO_OPENCV_FRONT,
    axis_angle_to_matrix,
    intrinsics,
    project,
)
from engine.fit.contour import ContourCandidates, march_contour
from engine.fit.optim import Adam, charbonnier
from engine.fit.result import StageReport
from engine.head.model import blend_points
from engine.landmarks import LIPS_INNER, LIPS_OUTER

__all__ = [
    "UNWRAP_FIT",
    "LandmarkBasis",
    "LandmarkFitSettings",
    "LandmarkFitState",
    "fit_landmarks",
    "initial_rotation",
    "landmark_visibility",
    "landmark_weights",
    "refit_shape",
]


@dataclass(frozen=True)
class LandmarkBasis:
    """The head model evaluated at the landmark points (N = 478).

    ``mean`` (N, 3) and unit ``normals`` (N, 3) of the template; ``shape_incr``/``shape_decr`` (S, N, 3); ``expression`` (E, N, 3); all float32
    head space. ``shape_low``/``shape_high`` (S,) slider ranges; ``shape_pairs`` (P, 2) left/right
    slider index pairs used by the symmetry prior.
    """

    mean: torch.Tensor
    shape_incr: torch.Tensor
    shape_decr: torch.Tensor
    expression: torch.Tensor
    shape_low: torch.Tensor
    shape_high: torch.Tensor
    shape_pairs: torch.Tensor
    normals: torch.Tensor

    def points(self, shape: torch.Tensor, expression: torch.Tensor) -> torch.Tensor:
        """(N, 3) landmark positions for slider values ``shape`` (S,) and weights ``expression`` (E,)."""
        return blend_points(self.mean, self.shape_incr, self.shape_decr, self.expression, shape, expression)


@dataclass(frozen=True)
class LandmarkFitSettings:
    """Stage (a)'s iterations and priors.

    MediaPipe's inner-face points miss the true surface points by 4-6 % of the inter-ocular distance on
    Cycles renders of known heads, and the miss is systematic per face (the same under every light), so
    the 478 points carry far fewer independent measurements than their count. Tuned on 36 training renders
    (12 heads, yaw 0-45 degrees, none of them in the benchmark): a shape prior 20x the old 5e-5 and a
    robust scale of 1.5 % IOD take the face surface error from 1.06x to 0.87x the unfitted template's.
    With the outline term (:mod:`engine.fit.silhouette`) the prior is halved again (1e-3 -> 5e-4), chosen
    on 70 training renders (28 frontal: 0.737x -> 0.713x; 42 at yaw 20-50: 0.896x -> 0.874x; 2.5e-4 and
    2e-3 worse); the benchmark agreed (0.786x -> 0.780x).
    """

    pose_iterations: int = 60
    joint_iterations: int = 180  # 240 before: the same error on the training renders with the stronger prior
    learning_rate: float = 0.03
    shape_prior: float = 5e-4
    expression_prior: float = 5e-5
    symmetry_prior: float = 2e-3
    focal_prior: float = 1e-3
    robust_scale: float = 0.015  # in inter-ocular distances: residuals beyond it count less than squared


UNWRAP_FIT = LandmarkFitSettings(joint_iterations=150, shape_prior=5e-5, robust_scale=0.03)
"""The loose fit of :func:`refit_shape` for the texture's unwrap mesh: the weak prior follows the detected
landmarks closely, which the texture needs (with the shape's prior the unwrap mesh misses the far side of a
turned face and the albedo's left/right asymmetry doubles on the ground-truth benchmark)."""


@dataclass
class LandmarkFitState:
    """Optimisation variables (leaf tensors). Rotation is axis-angle of head space -> OpenCV camera."""

    rotvec: torch.Tensor
    translation: torch.Tensor
    log_focal: torch.Tensor
    shape: torch.Tensor
    expression: torch.Tensor
    log_focal_prior: float

    @torch.no_grad()
    def clamp_to_ranges(self, basis: LandmarkBasis) -> None:
        """Projects the sliders onto their ranges and the expression weights onto [0, 1] (in place)."""
        self.shape.copy_(torch.maximum(torch.minimum(self.shape, basis.shape_high), basis.shape_low))
        self.expression.clamp_(0.0, 1.0)

    def camera_matrices(self, width: int, height: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        K = intrinsics(torch.exp(self.log_focal), width, height)
        return K, axis_angle_to_matrix(self.rotvec), self.translation


def landmark_weights(groups: dict[str, np.ndarray], n: int = 478) -> torch.Tensor:
    """Per-landmark weights: eyelid and lip contours count 3x, irises 2x, the face oval 0.5x."""
    w = np.ones(n, dtype=np.float32)
    for name, factor in (("face_oval", 0.5), ("left_eye", 3.0), ("right_eye", 3.0), ("lips", 3.0),
                         ("left_iris", 2.0), ("right_iris", 2.0)):
        idx = groups.get(name)
        if idx is not None:
            w[np.asarray(idx)] = factor
    return torch.from_numpy(w / w.mean())


def _initial_pose(basis: LandmarkBasis, target: np.ndarray, focal: float, width: int, height: int):
    """Rotation and translation from EPnP on the template landmarks, then refined by Levenberg-Marquardt."""
    import cv2

    K = np.array([[focal, 0, (width - 1) / 2], [0, focal, (height - 1) / 2], [0, 0, 1]], dtype=np.float64)
    obj = basis.mean.detach().numpy().astype(np.float64)
    img = target.astype(np.float64)
    R0, _ = cv2.Rodrigues(HEAD_TO_OPENCV_FRONT)
    span = np.ptp(img, axis=0).max()
    depth = focal * np.ptp(obj[:, 0]) / max(span, 1.0)
    centre = (img.mean(axis=0) - K[:2, 2]) * depth / focal
    t0 = np.array([centre[0], centre[1], depth])
    ok, rvec, tvec = cv2.solvePnP(obj, img, K, None, rvec=R0.copy(), tvec=t0.reshape(3, 1).copy(),
                                  useExtrinsicGuess=True, flags=cv2.SOLVEPNP_ITERATIVE)
    if not ok or tvec[2, 0] <= 0:
        rvec, tvec = R0, t0.reshape(3, 1)
    return rvec.reshape(3), tvec.reshape(3)


def initial_rotation(basis: LandmarkBasis, target: np.ndarray, width: int, height: int) -> np.ndarray:
    """(3, 3) head-to-camera rotation of :func:`_initial_pose` at the default focal length (1.5x the longer
    side), for (N, 2) pixel landmarks ``target``."""
    import cv2

    rvec, _ = _initial_pose(basis, np.asarray(target, np.float64), 1.5 * max(width, height), width, height)
    return cv2.Rodrigues(np.asarray(rvec, np.float64).reshape(3, 1))[0]


def _loss(state: LandmarkFitState, basis: LandmarkBasis, target: torch.Tensor, weights: torch.Tensor,
          iod: float, width: int, height: int, settings: LandmarkFitSettings) -> tuple[torch.Tensor, dict]:
    K, R, t = state.camera_matrices(width, height)
    pts = basis.points(state.shape, state.expression)
    proj = project(pts, K, R, t)
    res_sq = ((proj - target) ** 2).sum(-1) / (iod * iod)
    data = (weights * charbonnier(res_sq, settings.robust_scale)).mean()
    shape_reg = (state.shape ** 2).sum() * settings.shape_prior
    expr_reg = state.expression.sum() * settings.expression_prior
    pairs = basis.shape_pairs
    sym = ((state.shape[pairs[:, 0]] - state.shape[pairs[:, 1]]) ** 2).sum() * settings.symmetry_prior if len(pairs) else data * 0
    focal_reg = (state.log_focal - state.log_focal_prior) ** 2 * settings.focal_prior
    total = data + shape_reg + expr_reg + sym + focal_reg
    mean_px = torch.sqrt(((proj - target) ** 2).sum(-1)).mean()
    terms = {"landmark": data.item(), "shape_prior": shape_reg.item(), "expression_prior": expr_reg.item(),
             "symmetry": sym.item(), "mean_error_iod": mean_px.item() / iod}
    return total, terms


def _run(params: list[torch.Tensor], scales: list[float], state: LandmarkFitState, basis: LandmarkBasis,
         iterations: int, lr: float, closure_args: tuple, progress=None, progress_range=(0.0, 1.0),
         every_20=None, outline=None) -> dict:
    opt = Adam(params, lr, iterations, scales=scales)
    terms: dict = {}
    for it in range(iterations):
        if every_20 is not None and it % 20 == 0:
            every_20()
        opt.zero_grad()
        total, terms = _loss(state, basis, *closure_args)
        if outline is not None:
            sil = outline(state.shape, state.expression, *state.camera_matrices(*outline.size))
            total = total + sil
            terms["silhouette"] = sil.item()
        total.backward()
        opt.step()
        state.clamp_to_ranges(basis)
        if progress is not None and it % 20 == 0:
            lo, hi = progress_range
            progress("fit", lo + (hi - lo) * it / iterations, f"landmarks {terms['mean_error_iod'] * 100:.2f}% IOD")
    return terms


def landmark_facing(state: LandmarkFitState, basis: LandmarkBasis, width: int, height: int) -> torch.Tensor:
    """(N,) cosine between each landmark's template normal and the direction to the camera."""
    with torch.no_grad():
        K, R, t = state.camera_matrices(width, height)
        pts = basis.points(state.shape, state.expression) @ R.T + t
        normals = basis.normals @ R.T
        return (normals * -torch.nn.functional.normalize(pts, dim=-1)).sum(-1)


def visibility_weight(facing: torch.Tensor) -> torch.Tensor:
    """1 for surfaces facing the camera (cos > 0.35), falling to 0 at grazing angles (cos < 0.05)."""
    return ((facing - 0.05) / 0.3).clamp(0.0, 1.0)


def inner_lips_visibility(visibility: torch.Tensor, basis: LandmarkBasis) -> torch.Tensor:
    """``visibility`` (N,) with each inner-lip point's replaced by that of the outer-lip point nearest to it on
    the template. The inner lip contour is where the lips turn into the mouth, so its surface points face up or
    down (often away from the camera) and yet are seen whenever the lips in front of them are; with their own
    facing the fit would drop them and could never open the mouth."""
    inner, outer = torch.tensor(LIPS_INNER), torch.tensor(LIPS_OUTER)
    nearest = outer[torch.cdist(basis.mean[inner], basis.mean[outer]).argmin(1)]
    out = visibility.clone()
    out[inner] = visibility[nearest]
    return out


def landmark_visibility(state: LandmarkFitState, basis: LandmarkBasis, width: int, height: int) -> torch.Tensor:
    """(N,) weight in [0, 1] of each landmark as the camera sees it: :func:`visibility_weight` of its facing,
    with the inner lips taking the outer lips' (:func:`inner_lips_visibility`)."""
    return inner_lips_visibility(visibility_weight(landmark_facing(state, basis, width, height)), basis)


def refit_shape(state: LandmarkFitState, basis: LandmarkBasis, target: np.ndarray, iod: float, width: int,
                height: int, weights: torch.Tensor, settings: LandmarkFitSettings = UNWRAP_FIT) -> LandmarkFitState:
    """A copy of ``state`` whose shape and expression are refitted under ``settings`` with the camera held
    fixed (so both meshes share one camera). ``weights``: the per-landmark weights the fit ended with."""
    def leaf(x: torch.Tensor) -> torch.Tensor:
        return x.detach().clone().requires_grad_(True)

    loose = LandmarkFitState(rotvec=state.rotvec.detach().clone(), translation=state.translation.detach().clone(),
                             log_focal=state.log_focal.detach().clone(), shape=leaf(state.shape),
                             expression=leaf(state.expression), log_focal_prior=state.log_focal_prior)
    args = (torch.as_tensor(target, dtype=torch.float32), weights, iod, width, height, settings)
    _run([loose.shape, loose.expression], [1.0, 1.0], loose, basis, settings.joint_iterations,
         settings.learning_rate, args)
    return loose


def fit_landmarks(basis: LandmarkBasis, target: np.ndarray, iod: float, width: int, height: int,
                  weights: torch.Tensor, settings: LandmarkFitSettings = LandmarkFitSettings(),
                  progress=None, contour: ContourCandidates | None = None, outline=None
                  ) -> tuple[LandmarkFitState, StageReport, torch.Tensor, torch.Tensor | None]:
    """Fits pose, focal length, shape sliders and expression weights to (N, 2) pixel landmarks.

    Returns the state, the stage report, the landmark weights used in the end (visibility included) and,
    with ``contour``, the vertex each marching outline landmark ended on (``basis`` is updated in place).
    ``outline``: an :class:`engine.fit.silhouette.OutlineTerm` added to the joint stage (None: landmarks only).

    ``iod`` is the inter-ocular distance in pixels (the error unit). The focal length starts at
    1.5x the longer image side (a ~37 degree field of view) and is pulled back toward it by a weak prior:
    landmarks alone barely constrain it (measured on Cycles renders at 35-135 mm: the fit stays near the
    prior, and the true focal length in its place leaves the surface error unchanged).
    """
    start = time.perf_counter()
    focal0 = 1.5 * max(width, height)
    rvec, tvec = _initial_pose(basis, target, focal0, width, height)
    state = LandmarkFitState(
        rotvec=torch.tensor(rvec, dtype=torch.float32, requires_grad=True),
        translation=torch.tensor(tvec, dtype=torch.float32, requires_grad=True),
        log_focal=torch.tensor(np.log(focal0), dtype=torch.float32, requires_grad=True),
        # relu(c) and relu(-c) both have zero gradient at exactly 0: start a hair away from it.
        shape=torch.full((basis.shape_incr.shape[0],), 1e-4).requires_grad_(True),
        expression=torch.zeros(basis.expression.shape[0], requires_grad=True),
        log_focal_prior=float(np.log(focal0)),
    )
    target_t = torch.as_tensor(target, dtype=torch.float32)
    args = (target_t, weights, iod, width, height, settings)
    # Adam steps are ~lr in every coordinate: translation (metres) moves on the scale of the head's size
    # relative to its depth, so its step is scaled down; rotation in radians takes a third of the step.
    t_scale = 0.01 * float(tvec[2])
    _run([state.rotvec, state.translation], [0.3, t_scale], state, basis, settings.pose_iterations,
         settings.learning_rate, args, progress, (0.0, 0.2))
    # Landmarks on surfaces that face away from the camera (the far cheek of a turned head) are placed by
    # MediaPipe on the visible outline, not on their own surface point: let them count less.
    # Marching outline landmarks are on the outline by construction and keep their full weight.
    visibility = landmark_visibility(state, basis, width, height)
    marched: list[torch.Tensor] = []

    def march() -> None:
        camera = [x.detach() for x in state.camera_matrices(width, height)]
        if outline is not None:
            outline.refresh(state.shape.detach(), state.expression.detach(), *camera)
        if contour is not None:
            marched[:] = [march_contour(contour, basis, state.shape.detach(), state.expression.detach(), *camera,
                                        target_t)]

    march()
    if contour is not None:
        visibility[contour.landmarks] = 1.0
    weights = weights * visibility
    args = (target_t, weights, iod, width, height, settings)
    terms = _run([state.rotvec, state.translation, state.log_focal, state.shape, state.expression],
                 [0.1, t_scale * 0.3, 0.3, 1.0, 1.0], state, basis, settings.joint_iterations,
                 settings.learning_rate, args, progress, (0.2, 1.0), every_20=march, outline=outline)
    march()
    report = StageReport("landmarks", settings.pose_iterations + settings.joint_iterations,
                         time.perf_counter() - start, terms)
    return state, report, weights, (marched[0] if marched else None)
