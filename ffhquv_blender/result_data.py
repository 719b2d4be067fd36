"""Read an engine output folder into typed arrays (numpy only, no Blender import).

The folder layout is ``docs/conventions.md`` § Engine output folder; ``head_mesh.npz`` is specified in
``MESH_NPZ.md`` next to this file. Every problem becomes a :class:`ResultFormatError` with one line.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ResultFormatError
from .names import MSG

__all__ = [
    "MESH_FILE", "PARAMS_FILE", "ALBEDO_FILE", "NORMAL_FILE", "ROUGHNESS_FILE", "HeadMesh",
    "PhotoCamera", "EngineParams", "EngineResult", "load_result", "load_head_mesh", "load_params",
    "head_to_blender",
]

MESH_FILE = "head_mesh.npz"
PARAMS_FILE = "params.json"
ALBEDO_FILE = "albedo.png"
NORMAL_FILE = "normal.png"
ROUGHNESS_FILE = "roughness.png"

# Head space (x, y, z) -> Blender (x, -z, y): head +Y up -> Blender +Z, head +Z forward -> Blender -Y.
HEAD_TO_BLENDER = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
RESIDUAL_TOLERANCE_M = 1e-4


def head_to_blender(points: np.ndarray) -> np.ndarray:
    """Map ``(..., 3)`` head-space points or offsets (metres) to Blender world axes, float32."""
    p = np.asarray(points)
    return np.stack([p[..., 0], -p[..., 2], p[..., 1]], axis=-1).astype(np.float32)


@dataclass(frozen=True)
class HeadMesh:
    """``head_mesh.npz`` contents, validated. Head space, metres; UV v up in [0, 1].

    vertices, neutral_vertices: (V, 3) float32. faces: (F, 3) int32. face_uvs: (F, 3, 2) float32.
    face_part: (F,) int32 into part_names. blendshape_deltas: (52, V, 3) float32.
    expression_weights: (52,) float32 in [0, 1]. residual: (V, 3) float32, vertices minus the
    linear expression model (zeros when the model is exact).
    """

    vertices: np.ndarray
    neutral_vertices: np.ndarray
    faces: np.ndarray
    face_uvs: np.ndarray
    face_part: np.ndarray
    part_names: tuple[str, ...]
    blendshape_names: tuple[str, ...]
    blendshape_deltas: np.ndarray
    expression_weights: np.ndarray
    residual: np.ndarray

    @property
    def has_residual(self) -> bool:
        return bool(np.abs(self.residual).max(initial=0.0) > RESIDUAL_TOLERANCE_M)


@dataclass(frozen=True)
class PhotoCamera:
    """The fitted camera: ``pixel = K (R X + t)`` for head-space X, OpenCV axes, input-photo pixels."""

    K: np.ndarray  # (3, 3) float64
    R: np.ndarray  # (3, 3) float64, a rotation
    t: np.ndarray  # (3,) float64, metres
    image_size: tuple[int, int]  # (width, height) in pixels


@dataclass(frozen=True)
class EngineParams:
    """The parts of ``params.json`` the add-on uses. ``eye_color_srgb`` in [0, 1]; ``teeth_color_srgb``
    in [0, 1] when the photo showed teeth, else None."""

    camera: PhotoCamera | None
    eye_color_srgb: tuple[float, float, float]
    photo: Path | None
    raw: dict
    teeth_color_srgb: tuple[float, float, float] | None = None


@dataclass(frozen=True)
class EngineResult:
    """A loaded engine output folder. Image paths are None when the file is absent."""

    folder: Path
    mesh: HeadMesh
    params: EngineParams
    albedo: Path
    normal: Path | None
    roughness: Path | None


def load_result(folder: Path) -> EngineResult:
    """Load and validate an engine output folder (``head_mesh.npz``, ``albedo.png`` required)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ResultFormatError(MSG.RESULT_NO_FOLDER.format(folder=folder))
    albedo = folder / ALBEDO_FILE
    if not albedo.is_file():
        raise ResultFormatError(MSG.RESULT_MISSING.format(what=ALBEDO_FILE, folder=folder))
    optional = {name: (folder / name if (folder / name).is_file() else None) for name in (NORMAL_FILE, ROUGHNESS_FILE)}
    params = load_params(folder / PARAMS_FILE)
    expression = params.raw.get("expression")
    options = params.raw.get("options") if isinstance(params.raw.get("options"), dict) else {}
    neutral = params.raw.get("head_obj_expression", options.get("expression")) == "neutral"
    fallback = ({str(k): float(v) for k, v in expression.items()}
                if isinstance(expression, dict) and not neutral else {})
    return EngineResult(
        folder=folder, mesh=load_head_mesh(folder / MESH_FILE, fallback), params=params,
        albedo=albedo, normal=optional[NORMAL_FILE], roughness=optional[ROUGHNESS_FILE],
    )


def _bad(path: Path, detail: str) -> ResultFormatError:
    return ResultFormatError(MSG.RESULT_BAD.format(file=path.name, detail=detail))


def _array(data: "np.lib.npyio.NpzFile", key: str, path: Path, ndim: int) -> np.ndarray:
    if key not in data.files:
        raise _bad(path, f"missing array '{key}'")
    arr = data[key]
    if arr.ndim != ndim:
        raise _bad(path, f"'{key}' has {arr.ndim} dimensions, expected {ndim}")
    return arr


def load_head_mesh(path: Path, fallback_weights: dict[str, float] | None = None) -> HeadMesh:
    """Read ``head_mesh.npz`` (see MESH_NPZ.md) and check shapes, index ranges and the expression model.

    ``fallback_weights`` (name -> weight, e.g. params.json "expression") is used when the npz has no
    ``expression_weights`` array.
    """
    path = Path(path)
    if not path.is_file():
        raise ResultFormatError(MSG.RESULT_MISSING.format(what=path.name, folder=path.parent))
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise _bad(path, f"cannot be read ({err})") from err
    with data:
        verts = _array(data, "vertices", path, 2).astype(np.float32)
        neutral = _array(data, "neutral_vertices", path, 2).astype(np.float32) if "neutral_vertices" in data.files else verts
        faces = _array(data, "faces", path, 2).astype(np.int64)
        face_uvs = _array(data, "face_uvs", path, 3).astype(np.float32)
        face_part = _array(data, "face_part", path, 1).astype(np.int32)
        part_names = tuple(str(n) for n in _array(data, "part_names", path, 1))
        names = tuple(str(n) for n in _array(data, "blendshape_names", path, 1))
        deltas = _array(data, "blendshape_deltas", path, 3).astype(np.float32)
        if "expression_weights" in data.files:
            weights = data["expression_weights"].astype(np.float32)
        else:
            weights = np.array([(fallback_weights or {}).get(n, 0.0) for n in names], np.float32)
    n_verts, n_faces = verts.shape[0], faces.shape[0]
    checks = (
        (verts.shape[1] == 3, "'vertices' must be (V, 3)"),
        (neutral.shape == verts.shape, "'neutral_vertices' must have the shape of 'vertices'"),
        (faces.shape[1] == 3, "'faces' must be (F, 3) triangles"),
        (n_faces > 0 and faces.min() >= 0 and faces.max() < n_verts, "'faces' index outside 'vertices'"),
        (face_uvs.shape == (n_faces, 3, 2), "'face_uvs' must be (F, 3, 2)"),
        (face_part.shape == (n_faces,), "'face_part' must be (F,)"),
        (face_part.min() >= 0 and face_part.max() < len(part_names), "'face_part' index outside 'part_names'"),
        ("skin" in part_names, "'part_names' has no 'skin'"),
        (deltas.shape == (len(names), n_verts, 3), "'blendshape_deltas' must be (len(blendshape_names), V, 3)"),
        (len(set(names)) == len(names), "'blendshape_names' has duplicates"),
        (weights.shape == (len(names),), "'expression_weights' must have one weight per blendshape"),
        (bool(np.isfinite(verts).all() and np.isfinite(deltas).all() and np.isfinite(face_uvs).all()),
         "non-finite coordinates"),
    )
    for ok, detail in checks:
        if not ok:
            raise _bad(path, detail)
    residual = verts - (neutral + np.einsum("k,kvc->vc", weights, deltas))
    return HeadMesh(
        vertices=verts, neutral_vertices=neutral, faces=faces.astype(np.int32), face_uvs=face_uvs,
        face_part=face_part, part_names=part_names, blendshape_names=names, blendshape_deltas=deltas,
        expression_weights=np.clip(weights, 0.0, 1.0), residual=residual.astype(np.float32),
    )


def load_params(path: Path) -> EngineParams:
    """Read ``params.json``; the camera is None when K/R/t/image_size are absent or unusable."""
    path = Path(path)
    raw: dict = {}
    if path.is_file():
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise _bad(path, f"not valid JSON ({err})") from err
        if not isinstance(raw, dict):
            raise _bad(path, "the top level is not an object")
    teeth = raw.get("teeth_color_srgb")
    return EngineParams(camera=_camera(raw, path), eye_color_srgb=_eye_color(raw.get("eye_color_srgb")),
                        photo=Path(raw["photo"]) if isinstance(raw.get("photo"), str) else None, raw=raw,
                        teeth_color_srgb=None if teeth is None else _eye_color(teeth))


def _camera(raw: dict, path: Path) -> PhotoCamera | None:
    if not all(k in raw for k in ("K", "R", "t", "image_size")):
        return None
    try:
        K = np.asarray(raw["K"], np.float64).reshape(3, 3)
        R = np.asarray(raw["R"], np.float64).reshape(3, 3)
        t = np.asarray(raw["t"], np.float64).reshape(3)
        w, h = (int(v) for v in raw["image_size"])
    except (TypeError, ValueError) as err:
        raise _bad(path, f"camera K/R/t/image_size have wrong shapes ({err})") from err
    if w <= 0 or h <= 0 or K[0, 0] <= 0 or K[1, 1] <= 0:
        raise _bad(path, "camera focal length and image size must be positive")
    if not np.allclose(R @ R.T, np.eye(3), atol=1e-3) or np.linalg.det(R) < 0:
        raise _bad(path, "camera R is not a rotation")
    return PhotoCamera(K=K, R=R, t=t, image_size=(w, h))


def _eye_color(value: object) -> tuple[float, float, float]:
    default = (0.32, 0.22, 0.13)  # a mid brown, sRGB
    if not isinstance(value, (list, tuple)) or len(value) != 3:
        return default
    try:
        rgb = [float(v) for v in value]
    except (TypeError, ValueError):
        return default
    if not all(math.isfinite(v) for v in rgb):
        return default
    if max(rgb) > 1.0:
        rgb = [v / 255.0 for v in rgb]
    return tuple(min(max(v, 0.0), 1.0) for v in rgb)  # type: ignore[return-value]
