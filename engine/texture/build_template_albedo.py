"""Regenerate the shipped template textures from the head model (deterministic).

    python -m engine.texture.build_template_albedo [--size 1024] [--out-dir DIR] [--preview PNG]

Writes into ``engine/texture/data/`` (or ``--out-dir``):
    template_albedo.png     sRGB 8-bit RGB, the smooth template (no pore detail; added at load time)
    template_roughness.png  8-bit grey, roughness value * 255 (linear, not sRGB)
    template_detail.png     8-bit grey, where pore detail applies (skin)

The layout comes from :mod:`engine.head`: the atlas is rasterized with our UV rasterizer; broad skin
regions (scalp, neck, face, ears) are per-vertex weights smoothed over the mesh and interpolated, so
they are continuous across UV seams; small features (lips, brows, eyelids, nostrils) use the
per-triangle region labels with a slight blur; eyes, teeth, tongue, mouth and eye sockets use hard
labels (own islands).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import scipy.sparse as sp

from engine.head.model import HeadModel, load_head_model
from engine.texture.template import (
    DATA_DIR,
    REGION_NAMES,
    TemplateLayout,
    generate_template_albedo,
    generate_template_roughness,
    to_srgb8,
)
from engine.texture.uv_raster import interpolate_uv, rasterize_uv

__all__ = ["head_template_layout", "build", "main"]

_BROAD = ("scalp", "neck", "face", "ears")
_FEATURES = ("lips", "eyebrows", "eyelids", "nostrils")
_SEED = 20240611


def _smoothed_vertex_weights(model: HeadModel, region: str, iterations: int) -> np.ndarray:
    """Per-vertex one-hot of ``region`` averaged with mesh neighbours ``iterations`` times -> [V]."""
    f = model.faces.numpy()
    nv = model.num_vertices
    rows = np.concatenate([f[:, 0], f[:, 1], f[:, 2], f[:, 1], f[:, 2], f[:, 0]])
    cols = np.concatenate([f[:, 1], f[:, 2], f[:, 0], f[:, 0], f[:, 1], f[:, 2]])
    adj = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(nv, nv))
    adj.data[:] = 1.0
    deg = np.asarray(adj.sum(1)).ravel()
    avg = sp.diags(1.0 / np.maximum(deg, 1.0)) @ adj
    w = (model.vertex_region.numpy() == model.region_id(region)).astype(np.float32)
    for _ in range(iterations):
        w = 0.5 * w + 0.5 * (avg @ w)
    return w


def _anchors(model: HeadModel) -> dict[str, tuple[float, float, float]]:
    v = model.vertices.numpy().astype(np.float64)
    face = model.vertex_region.numpy() == model.region_id("face")

    def surface_point(x: float, y: float, tol: float = 0.008) -> tuple[float, float, float]:
        sel = face & (np.abs(v[:, 0] - x) < tol) & (np.abs(v[:, 1] - y) < tol)
        if not sel.any():
            sel = face
        i = np.flatnonzero(sel)[np.argmax(v[sel, 2])]
        return tuple(float(c) for c in v[i])

    nose = face & (np.abs(v[:, 0]) < 0.005) & (v[:, 1] < 0.0) & (v[:, 1] > -0.06)
    nose_tip = tuple(float(c) for c in v[np.flatnonzero(nose)[np.argmax(v[nose, 2])]])
    out: dict[str, tuple[float, float, float]] = {
        "nose_tip": nose_tip,
        "cheek_l": surface_point(0.042, -0.03),
        "cheek_r": surface_point(-0.042, -0.03),
        "chin": surface_point(0.0, -0.10),
    }
    for part in ("eye_l", "eye_r"):
        pv = v[model.vertex_region.numpy() == model.region_id(part)]
        out[part] = tuple(float(c) for c in 0.5 * (pv.min(0) + pv.max(0)))
    return out


def head_template_layout(size: int = 1024, model: HeadModel | None = None) -> TemplateLayout:
    """The :class:`TemplateLayout` of the head atlas at ``size``² (see the module docstring)."""
    model = model or load_head_model()
    faces = model.faces.numpy()
    raster = rasterize_uv(model.uvs.numpy(), model.uv_faces.numpy(), size)
    cov = raster.covered
    position = interpolate_uv(raster, model.vertices.numpy()[faces])
    labels = np.where(cov, model.face_region.numpy()[np.maximum(raster.triangle, 0)], -1)
    masks: dict[str, np.ndarray] = {}
    blur = 1.2 * size / 1024.0
    for name in REGION_NAMES:
        if name not in model.region_names:
            continue
        rid = model.region_id(name)
        hard = (labels == rid).astype(np.float32)
        if name in _BROAD:
            w = _smoothed_vertex_weights(model, name, iterations=6)
            masks[name] = np.clip(interpolate_uv(raster, w[faces]), 0.0, 1.0) * cov
        elif name in _FEATURES:
            # Normalised over covered texels: holes (mouth, eye openings) do not fade the edges.
            num = cv2.GaussianBlur(hard, (0, 0), blur)
            den = cv2.GaussianBlur(cov.astype(np.float32), (0, 0), blur)
            masks[name] = np.clip(num / np.maximum(den, 1e-6), 0.0, 1.0) * cov
        else:
            masks[name] = hard
    return TemplateLayout(masks=masks, covered=cov, position=position, anchors=_anchors(model))


def build(size: int = 1024, out_dir: Path = DATA_DIR, preview: Path | None = None) -> dict[str, Path]:
    """Generate and write the three template PNGs; returns their paths."""
    layout = head_template_layout(size)
    albedo = generate_template_albedo(layout, seed=_SEED, detail=False)
    rough = generate_template_roughness(layout)
    skin = np.zeros(layout.size, np.float32)
    for name in ("scalp", "neck", "face", "ears", "eyebrows", "eyelids", "lips", "nostrils"):
        skin += layout.mask(name)
    skin = np.clip(skin, 0.0, 1.0)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "albedo": out_dir / "template_albedo.png",
        "roughness": out_dir / "template_roughness.png",
        "detail": out_dir / "template_detail.png",
    }
    png = [cv2.IMWRITE_PNG_COMPRESSION, 9]
    cv2.imwrite(str(paths["albedo"]), to_srgb8(albedo)[..., ::-1], png)
    cv2.imwrite(str(paths["roughness"]), np.round(rough * 255).astype(np.uint8), png)
    cv2.imwrite(str(paths["detail"]), np.round(skin * 255).astype(np.uint8), png)
    if preview is not None:
        full = generate_template_albedo(layout, seed=_SEED, detail=True)
        cv2.imwrite(str(preview), to_srgb8(full)[..., ::-1])
    return paths


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--out-dir", type=Path, default=DATA_DIR)
    ap.add_argument("--preview", type=Path, default=None, help="also write the full-detail albedo here")
    args = ap.parse_args(argv)
    for name, path in build(args.size, args.out_dir, args.preview).items():
        print(f"{name}: {path} ({path.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
