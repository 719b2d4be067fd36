"""Ground-truth heads: the head mesh with varied sliders and expressions, plus shape the fit's slider
space cannot reproduce (a smooth random normal displacement of a few mm and an anisotropic scale).

The eyeballs, teeth and tongue are the head model's own meshes (real geometry, rendered with their own
materials); they move rigidly with the skin around them, so the lids and lips still close on them.
Head space: metres, +Y up, +Z out of the face (docs/conventions.md).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from engine.head.model import HeadModel

__all__ = ["HeadSpec", "GroundTruthHead", "make_head", "EXPRESSIONS", "true_landmarks_3d"]

EXPRESSIONS: dict[str, dict[str, float]] = {
    "neutral": {},
    "smile": {"mouthSmileLeft": 0.55, "mouthSmileRight": 0.5, "cheekSquintLeft": 0.2, "cheekSquintRight": 0.2},
    "open": {"jawOpen": 0.3, "browInnerUp": 0.3},
    "talk": {"jawOpen": 0.15, "mouthFunnel": 0.2, "browOuterUpLeft": 0.3},
    "smirk": {"mouthSmileLeft": 0.45, "eyeSquintLeft": 0.2, "browDownRight": 0.25},
}
"""Named ARKit weight sets (a head's expression)."""

SLIDER_COUNT = 40
"""Sliders set per head (the rest stay 0)."""
SLIDER_SPREAD = 0.55
"""Slider values are uniform in [-SLIDER_SPREAD, SLIDER_SPREAD] (clipped to the slider's range)."""
BUMPS = 14
"""Gaussian bumps in the smooth displacement field."""
BUMP_SIGMA_M = (0.018, 0.035)
BUMP_AMPLITUDE_M = 0.0025
"""Peak displacement of one bump along the normal (metres)."""
SCALE_JITTER = 0.035
"""Per-axis scale in [1 - j, 1 + j]: a proportion change the sliders do not span."""
QUIET_RADIUS_M = 0.018
"""The displacement fades to 0 within this distance of an eyeball centre (lids stay on the eyes)."""


@dataclass(frozen=True)
class HeadSpec:
    """One ground-truth head: ``seed`` draws its sliders, bumps and scale; ``expression`` names an
    entry of :data:`EXPRESSIONS`; ``albedo`` names a ground-truth albedo."""

    name: str
    seed: int
    expression: str
    albedo: str


@dataclass
class GroundTruthHead:
    """``vertices`` (V, 3) posed head-space metres; ``shape`` (S,) sliders; ``expression`` (52,);
    ``displacement_rms_mm`` of the off-model displacement; ``scale`` (3,)."""

    spec: HeadSpec
    vertices: np.ndarray
    shape: np.ndarray
    expression: np.ndarray
    displacement_rms_mm: float
    scale: np.ndarray
    info: dict = field(default_factory=dict)


def _sliders(model: HeadModel, rng: np.random.Generator) -> np.ndarray:
    s = np.zeros(model.num_shapes, np.float32)
    pick = rng.choice(model.num_shapes, SLIDER_COUNT, replace=False)
    s[pick] = rng.uniform(-SLIDER_SPREAD, SLIDER_SPREAD, SLIDER_COUNT)
    for left, right in model.symmetric_shape_pairs.numpy():
        s[right] = s[left]
    lo, hi = model.shape_ranges.numpy().T
    return np.clip(s, lo, hi).astype(np.float32)


def _expression(model: HeadModel, name: str) -> np.ndarray:
    e = np.zeros(model.num_expressions, np.float32)
    for key, w in EXPRESSIONS[name].items():
        e[model.expression_names.index(key)] = w
    return e


def _part_vertices(model: HeadModel, part: str) -> np.ndarray:
    f = model.faces.numpy()
    return np.unique(f[model.face_part.numpy() == model.part_id(part)])


def _displacement(model: HeadModel, verts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(V,) normal displacement in metres on the skin, zero on the other parts and near the eyes."""
    skin = _part_vertices(model, "skin")
    normals = model.vertex_normals(torch.from_numpy(verts)).numpy()
    centres = verts[rng.choice(skin, BUMPS, replace=False)]
    sigma = rng.uniform(*BUMP_SIGMA_M, BUMPS)
    amp = rng.uniform(-BUMP_AMPLITUDE_M, BUMP_AMPLITUDE_M, BUMPS)
    d2 = ((verts[:, None, :] - centres[None]) ** 2).sum(-1)
    field_m = (amp * np.exp(-0.5 * d2 / sigma ** 2)).sum(1)
    for eye in ("eye_l", "eye_r"):
        c = verts[_part_vertices(model, eye)].mean(0)
        r = np.linalg.norm(verts - c, axis=1)
        field_m *= np.clip((r - QUIET_RADIUS_M) / QUIET_RADIUS_M, 0.0, 1.0)
    out = np.zeros_like(verts)
    out[skin] = normals[skin] * field_m[skin, None]
    return out


def make_head(model: HeadModel, spec: HeadSpec) -> GroundTruthHead:
    """The posed ground-truth head for ``spec`` (deterministic in ``spec.seed``)."""
    rng = np.random.default_rng(spec.seed)
    shape = _sliders(model, rng)
    expr = _expression(model, spec.expression)
    with torch.no_grad():
        verts = model.shaped_vertices(torch.from_numpy(shape), torch.from_numpy(expr)).numpy().astype(np.float64)
    disp = _displacement(model, verts, rng)
    scale = rng.uniform(1.0 - SCALE_JITTER, 1.0 + SCALE_JITTER, 3)
    out = (verts + disp) * scale
    rms = float(np.sqrt((disp ** 2).sum(1)[_part_vertices(model, "skin")].mean()) * 1000)
    return GroundTruthHead(spec, out.astype(np.float32), shape, expr, rms, scale)


def true_landmarks_3d(model: HeadModel, vertices: np.ndarray) -> np.ndarray:
    """(478, 3) MediaPipe-order landmark points on ``vertices``: the same surface points the head
    model's landmark correspondence defines (barycentric points on the skin), carried by the mesh."""
    from engine.fit.correspondence import load_correspondence

    corr = load_correspondence()
    return corr.points(model, torch.from_numpy(np.asarray(vertices, np.float32))).numpy().astype(np.float64)


def mesh_arrays(model: HeadModel, vertices: np.ndarray) -> dict[str, np.ndarray]:
    """The npz arrays the Cycles renderer reads (the engine's ``head_mesh.npz`` keys)."""
    return {
        "vertices": np.asarray(vertices, np.float32),
        "faces": model.faces.numpy().astype(np.int32),
        "face_uvs": model.uvs.numpy()[model.uv_faces.numpy()].astype(np.float32),
        "face_part": model.face_part.numpy().astype(np.int32),
        "part_names": np.array(model.part_names, dtype=str),
    }
