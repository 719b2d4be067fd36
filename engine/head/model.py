"""The head model: MakeHuman hm08 head template, shape sliders, ARKit expressions, head UV atlas.

Load it with :func:`load_head_model` (cached; reads ``engine/head/data/head_model.npz``, which
``python -m engine.head.build_head_model`` regenerates).

Head space (docs/conventions.md): metres, right-handed, +X toward the head's left, +Y up, +Z out of
the face. Origin: x = 0 on the symmetry plane, y = height of the eyeball centres (mean of both),
z = midway between the nose tip and the back of the skull. (MakeHuman's frame, scaled dm -> m and
translated by ``HeadModel.origin_makehuman``.)
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from engine.errors import EngineError

__all__ = ["HeadModel", "load_head_model", "blend_points", "DATA_PATH", "write_debug_obj"]

DATA_PATH = Path(__file__).resolve().parent / "data" / "head_model.npz"


def blend_points(mean: torch.Tensor, shape_incr: torch.Tensor, shape_decr: torch.Tensor,
                 expression_deltas: torch.Tensor, shape: torch.Tensor, expression: torch.Tensor) -> torch.Tensor:
    """The model's sliders (piecewise linear) and expressions (linear) on any set of points: ``mean`` (..., 3),
    ``shape_incr``/``shape_decr`` (S, ..., 3) and ``expression_deltas`` (E, ..., 3) the model there, ``shape``
    (S,) and ``expression`` (E,) unbatched. :meth:`HeadModel.shaped_vertices` is the same on every vertex."""
    return (mean + torch.einsum("s,s...->...", torch.relu(shape), shape_incr)
            + torch.einsum("s,s...->...", torch.relu(-shape), shape_decr)
            + torch.einsum("e,e...->...", expression, expression_deltas))


@dataclass(frozen=True, eq=False)
class HeadModel:
    """Immutable head model; all tensors are CPU, float32 or int64.

    Geometry
        vertices (V,3) float32: template in head space, metres.
        faces (F,3) int64: triangles, counter-clockwise seen from outside (normals point outward).
        uvs (T,2) float32: head-atlas uvs in [0,1], v up (OBJ convention, origin bottom-left).
        uv_faces (F,3) int64: uv indices per face corner (a vertex on a seam has several uvs).
        face_part (F,) int64: index into ``part_names`` = (skin, eye_l, eye_r, teeth_upper,
            teeth_lower, tongue); eye_l is on +X.
        source_vertex (V,) int64: index of each vertex in the full hm08 base mesh (19,158 v).
    Shape (S sliders, MakeHuman modifiers ``group/modifier``)
        shape_names, shape_ranges (S,2) float32: [-1,1] for two-sided sliders, [0,1] one-sided.
        shape_deltas_pos / shape_deltas_neg (S,V,3) float32 metres: target applied for c > 0 / c < 0
            (``shape_deltas_neg`` is zero for one-sided sliders).
        symmetric_shape_pairs (P,2) int64: (left slider, right slider) index pairs.
    Expression
        expression_names: the 52 ARKit names; expression_deltas (52,V,3) float32 metres.
    Labels
        mirror (V,) int64: index of the mirrored vertex (x -> -x).
        vertex_region (V,) / face_region (F,) int64: index into ``region_names``.
        uv_island (T,) int64: island id per uv; island_names, island_kinds;
        island_transforms (I,2,3) float64: affine ``body-atlas uv -> head-atlas uv`` per island.
        uvs_body (T,2) float32: the original MakeHuman full-body atlas uvs (v up).
    """

    vertices: torch.Tensor
    faces: torch.Tensor
    uvs: torch.Tensor
    uv_faces: torch.Tensor
    face_part: torch.Tensor
    part_names: tuple[str, ...]
    source_vertex: torch.Tensor
    shape_names: tuple[str, ...]
    shape_ranges: torch.Tensor
    shape_deltas_pos: torch.Tensor
    shape_deltas_neg: torch.Tensor
    symmetric_shape_pairs: torch.Tensor
    expression_names: tuple[str, ...]
    expression_deltas: torch.Tensor
    mirror: torch.Tensor
    region_names: tuple[str, ...]
    vertex_region: torch.Tensor
    face_region: torch.Tensor
    uv_island: torch.Tensor
    island_names: tuple[str, ...]
    island_kinds: tuple[str, ...]
    island_transforms: np.ndarray
    uvs_body: torch.Tensor
    origin_makehuman: tuple[float, float, float]
    meta: dict

    @property
    def num_vertices(self) -> int:
        return int(self.vertices.shape[0])

    @property
    def num_shapes(self) -> int:
        return len(self.shape_names)

    @property
    def num_expressions(self) -> int:
        return len(self.expression_names)

    def part_id(self, name: str) -> int:
        """Index of a part name in ``part_names``."""
        if name not in self.part_names:
            raise EngineError(f"Unknown head part '{name}'.", hint=f"use one of {self.part_names}")
        return self.part_names.index(name)

    def region_id(self, name: str) -> int:
        """Index of a region name in ``region_names``."""
        if name not in self.region_names:
            raise EngineError(f"Unknown head region '{name}'.", hint=f"use one of {self.region_names}")
        return self.region_names.index(name)

    def shaped_vertices(self, shape: torch.Tensor | None = None,
                        expression: torch.Tensor | None = None) -> torch.Tensor:
        """Template + shape + expression offsets; differentiable w.r.t. both coefficient tensors.

        shape: (S,) or (B,S) float, slider values (see ``shape_ranges``; values outside are
            extrapolated linearly, not clamped). Piecewise linear: ``relu(c)*pos + relu(-c)*neg``.
        expression: (52,) or (B,52) float, ARKit weights (normally [0,1]); linear.
        Returns (V,3) if no input is batched, else (B,V,3); float32 (or the inputs' float dtype), metres.
        """
        base = self.vertices
        batched = (shape is not None and shape.dim() == 2) or (expression is not None and expression.dim() == 2)
        out = base.unsqueeze(0) if batched else base
        v3 = self.num_vertices * 3
        if shape is not None:
            _check_coeffs(shape, self.num_shapes, "shape")
            pos = self.shape_deltas_pos.reshape(self.num_shapes, v3).to(shape.dtype)
            neg = self.shape_deltas_neg.reshape(self.num_shapes, v3).to(shape.dtype)
            d = torch.relu(shape) @ pos + torch.relu(-shape) @ neg
            out = out + d.reshape(*shape.shape[:-1], self.num_vertices, 3)
        if expression is not None:
            _check_coeffs(expression, self.num_expressions, "expression")
            e = self.expression_deltas.reshape(self.num_expressions, v3).to(expression.dtype)
            out = out + (expression @ e).reshape(*expression.shape[:-1], self.num_vertices, 3)
        return out

    def vertex_normals(self, vertices: torch.Tensor) -> torch.Tensor:
        """Area-weighted unit vertex normals of ``vertices`` (V,3) or (B,V,3) with this topology."""
        f = self.faces
        v0, v1, v2 = vertices[..., f[:, 0], :], vertices[..., f[:, 1], :], vertices[..., f[:, 2], :]
        fn = torch.cross(v1 - v0, v2 - v0, dim=-1)
        n = torch.zeros_like(vertices)
        for k in range(3):
            n = n.index_add(-2, f[:, k], fn)
        return torch.nn.functional.normalize(n, dim=-1, eps=1e-12)

    def mask_faces(self, part: str) -> torch.Tensor:
        """Bool (F,) mask of the faces of one part."""
        return self.face_part == self.part_id(part)


def _check_coeffs(c: torch.Tensor, n: int, what: str) -> None:
    if c.dim() not in (1, 2) or c.shape[-1] != n:
        raise EngineError(f"{what} coefficients must have shape ({n},) or (B, {n}), got {tuple(c.shape)}.")
    if not torch.is_floating_point(c):
        raise EngineError(f"{what} coefficients must be a floating-point tensor, got {c.dtype}.")


def _unpack_sparse(ptr: np.ndarray, idx: np.ndarray, val: np.ndarray, nv: int) -> torch.Tensor:
    """(ptr (K+1,), idx (nnz,), val (nnz,3) float16) -> dense (K,V,3) float32."""
    k = len(ptr) - 1
    out = np.zeros((k * nv, 3), np.float32)
    rows = np.repeat(np.arange(k, dtype=np.int64) * nv, np.diff(ptr)) + idx.astype(np.int64)
    out[rows] = val.astype(np.float32)
    return torch.from_numpy(out.reshape(k, nv, 3))


def _names(a: np.ndarray) -> tuple[str, ...]:
    return tuple(str(x) for x in a.tolist())


@lru_cache(maxsize=2)
def load_head_model(path: str | Path = DATA_PATH) -> HeadModel:
    """Read the shipped npz (cached per path). Raises EngineError if it is missing."""
    p = Path(path)
    if not p.is_file():
        raise EngineError(f"Head model data not found at {p}.",
                          hint="run `python -m engine.head.build_head_model`")
    with np.load(p) as z:
        d = {k: z[k] for k in z.files}
    nv = int(d["vertices"].shape[0])
    meta = json.loads(str(d["meta"]))

    def t64(name: str) -> torch.Tensor:
        return torch.from_numpy(d[name].astype(np.int64))

    return HeadModel(
        vertices=torch.from_numpy(d["vertices"].astype(np.float32)),
        faces=t64("faces"),
        uvs=torch.from_numpy(d["uvs"].astype(np.float32)),
        uv_faces=t64("uv_faces"),
        face_part=t64("face_part"),
        part_names=_names(d["part_names"]),
        source_vertex=t64("source_vertex"),
        shape_names=_names(d["shape_names"]),
        shape_ranges=torch.from_numpy(d["shape_ranges"].astype(np.float32)),
        shape_deltas_pos=_unpack_sparse(d["shape_pos_ptr"], d["shape_pos_idx"], d["shape_pos_delta"], nv),
        shape_deltas_neg=_unpack_sparse(d["shape_neg_ptr"], d["shape_neg_idx"], d["shape_neg_delta"], nv),
        symmetric_shape_pairs=t64("symmetric_shape_pairs"),
        expression_names=_names(d["expression_names"]),
        expression_deltas=_unpack_sparse(d["expr_ptr"], d["expr_idx"], d["expr_delta"], nv),
        mirror=t64("mirror"),
        region_names=_names(d["region_names"]),
        vertex_region=t64("vertex_region"),
        face_region=t64("face_region"),
        uv_island=t64("uv_island"),
        island_names=_names(d["island_names"]),
        island_kinds=_names(d["island_kinds"]),
        island_transforms=d["island_transforms"].astype(np.float64),
        uvs_body=torch.from_numpy(d["uvs_body"].astype(np.float32)),
        origin_makehuman=tuple(float(x) for x in meta["origin_in_makehuman_metres"]),
        meta=meta,
    )


def write_debug_obj(path: str | Path, model: HeadModel, vertices: torch.Tensor | None = None,
                    parts: tuple[str, ...] | None = None) -> None:
    """Quick OBJ (v, vt, f with ``g``/``usemtl`` per part) for debugging; not the product writer."""
    v = (model.vertices if vertices is None else vertices).detach().cpu().numpy()
    uv = model.uvs.numpy()
    f = model.faces.numpy() + 1
    ft = model.uv_faces.numpy() + 1
    fp = model.face_part.numpy()
    lines = [f"v {a:.6f} {b:.6f} {c:.6f}" for a, b, c in v]
    lines += [f"vt {a:.6f} {b:.6f}" for a, b in uv]
    for pid, name in enumerate(model.part_names):
        if parts is not None and name not in parts:
            continue
        lines += [f"g {name}", f"usemtl {name}"]
        sel = np.where(fp == pid)[0]
        lines += [f"f {f[i,0]}/{ft[i,0]} {f[i,1]}/{ft[i,1]} {f[i,2]}/{ft[i,2]}" for i in sel]
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")
