"""Turns a :class:`engine.api.Reconstruction` into the files of the output folder (docs/conventions.md)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from engine import __version__
from engine.assets import Material, MeshArrays, write_glb, write_mesh_npz, write_obj, write_png
from engine.head.model import HeadModel, load_head_model
from engine.runtime import CPU, Runtime

__all__ = ["write_all", "mesh_arrays", "materials_for", "visible_faces", "params_dict"]

PARAMS_VERSION = 1


def mesh_arrays(model: HeadModel, vertices: np.ndarray) -> MeshArrays:
    return MeshArrays(vertices=np.asarray(vertices, np.float32), faces=model.faces.numpy(),
                      uvs=model.uvs.numpy(), uv_faces=model.uv_faces.numpy(),
                      face_part=model.face_part.numpy(), part_names=tuple(model.part_names))


DEFAULT_TEETH = (0.8, 0.77, 0.7)
"""Linear ivory of the teeth material when the photo shows no teeth."""


def materials_for(model: HeadModel, textured: bool, eye_color_srgb=(0.35, 0.25, 0.18),
                  teeth_color_srgb=None) -> dict[str, Material]:
    """One material per part; the skin maps the texture files when there is a texture, and so do the
    eyes (the albedo's eyeball islands hold the sclera, the iris in the photo's eye colour and the pupil);
    the teeth take the photo's teeth colour when it showed them (``teeth_color_srgb``, else ivory)."""
    eye = tuple(float(c) ** 2.2 for c in eye_color_srgb)
    teeth = DEFAULT_TEETH if teeth_color_srgb is None else tuple(float(c) ** 2.2 for c in teeth_color_srgb)
    skin = Material("skin", (0.8, 0.6, 0.5), 0.5,
                    "albedo.png" if textured else None, "normal.png" if textured else None,
                    "roughness.png" if textured else None)
    eyes = Material("eye", eye, 0.1, "albedo.png" if textured else None)
    table = {"skin": skin, "eye_l": eyes, "eye_r": eyes,
             "teeth_upper": Material("teeth", teeth, 0.3),
             "teeth_lower": Material("teeth", teeth, 0.3),
             "tongue": Material("tongue", (0.5, 0.18, 0.18), 0.35)}
    return {name: table.get(name, Material(name)) for name in model.part_names}


def visible_faces(model: HeadModel, vertices: np.ndarray, K: np.ndarray, R: np.ndarray, t: np.ndarray,
                  width: int, height: int, runtime: Runtime = CPU) -> np.ndarray:
    """(F,) bool: triangles that own at least one pixel of the camera view (z-buffered; rendered on
    ``runtime``)."""
    from engine.render import opencv_to_clip, rasterize

    clip = opencv_to_clip(torch.from_numpy(np.asarray(vertices, np.float32)), torch.tensor(K, dtype=torch.float32),
                          torch.tensor(R, dtype=torch.float32), torch.tensor(t, dtype=torch.float32), width, height)
    with torch.no_grad():
        rast, _ = rasterize(runtime.context(), runtime.tensor(clip[None]), runtime.index(model.faces),
                            (height, width), grad_db=False)
    seen = np.zeros(model.faces.shape[0] + 1, bool)
    seen[runtime.host(rast[..., 3]).reshape(-1).numpy().astype(np.int64)] = True
    return seen[1:]


def params_dict(rec, model: HeadModel, mesh_vertices: np.ndarray) -> dict:
    """Every fitted parameter in stable, documented keys (camera in pixels of the INPUT photo)."""
    from engine.fit.correspondence import load_correspondence

    fit, photo = rec.fit, rec.photo
    A = photo.input_from_working()
    K_in = A @ fit.camera.K
    lm3d = load_correspondence().points(model, torch.from_numpy(np.asarray(mesh_vertices, np.float32))).numpy()
    cam_pts = lm3d @ fit.camera.R.T + fit.camera.t
    proj = cam_pts @ K_in.T
    lm2d_input = proj[:, :2] / proj[:, 2:]
    params = {
        "format": "ffhquv-params", "version": PARAMS_VERSION, "engine_version": __version__,
        "photo": str(Path(photo.path).resolve()),
        "image_size": list(photo.original_size),
        "working_size": list(photo.size),
        "camera_convention": "pixel = K @ (R @ X + t), OpenCV axes (x right, y down, z forward); X in head.obj "
                             "coordinates (metres, +Y up, +Z out of the face); pixels of the input photo, "
                             "pixel centres at integer coordinates",
        "K": K_in.tolist(), "R": fit.camera.R.tolist(), "t": fit.camera.t.tolist(),
        "head_obj_expression": rec.options.expression,
        "landmarks478": lm2d_input.tolist(),
        "landmarks478_detected": photo.to_input_pixels(rec.face.points).tolist(),
        "landmarks478_3d": lm3d.tolist(),
        "shape": {name: float(v) for name, v in zip(model.shape_names, fit.shape)},
        "expression": {name: float(v) for name, v in zip(model.expression_names, fit.expression)},
        "blendshape_names": list(model.expression_names),
        "lighting": {"sh_coeffs": None if fit.sh_coeffs is None else np.asarray(fit.sh_coeffs).tolist(),
                     "convention": "order-2 real SH radiance coefficients (9, 3), linear RGB, head space normals; "
                                   "engine.render.sh.sh_shading"},
        "stages": [{"name": s.name, "iterations": s.iterations, "seconds": round(s.seconds, 4), "losses": s.losses}
                   for s in fit.stages],
        "metrics": dict(fit.metrics),
        "timings": dict(rec.timings),
        "warnings": list(rec.warnings),
        "options": {"texture_size": rec.options.texture_size, "quality": rec.options.quality,
                    "device": rec.options.device, "expression": rec.options.expression},
        "device_used": rec.device,
        "render_backend": rec.render_backend,
        "eye_color_srgb": None,
        "teeth_color_srgb": None,
    }
    if rec.texture is not None:
        params["metrics"].update(rec.texture.metrics)
        params["timings"].update({f"texture_{k}": v for k, v in rec.texture.timings.items()})
        params["eye_color_srgb"] = [float(c) for c in rec.texture.eye_color_srgb]
        teeth = rec.texture.teeth_color_srgb
        params["teeth_color_srgb"] = None if teeth is None else [float(c) for c in teeth]
        params["lighting"]["texture_sh_coeffs"] = np.asarray(rec.texture.sh_coeffs).tolist()
    return params


def write_all(rec, folder: Path, progress=None) -> None:
    progress = progress or (lambda *a: None)
    progress("write", 0.0, "writing files")
    model = load_head_model()
    fit = rec.fit
    vertices = fit.vertices_posed if rec.options.expression == "keep" else fit.vertices_neutral
    mesh = mesh_arrays(model, vertices)
    tex = rec.texture
    eye = tex.eye_color_srgb if tex is not None else (0.35, 0.25, 0.18)
    materials = materials_for(model, tex is not None, eye, None if tex is None else tex.teeth_color_srgb)
    write_obj(folder / "head.obj", mesh, materials)
    deltas = model.expression_deltas.numpy()
    write_mesh_npz(folder / "head_mesh.npz", mesh, fit.vertices_neutral, list(model.expression_names), deltas,
                   fit.expression if rec.options.expression == "keep" else None)
    textures = {}
    if tex is not None:
        textures = {"albedo.png": tex.albedo_srgb, "normal.png": tex.normal, "roughness.png": tex.roughness}
        for name, image in textures.items():
            write_png(folder / name, image)
        if getattr(tex, "relit_sheet", None) is not None:
            write_png(folder / "relit.png", tex.relit_sheet)
        if getattr(tex, "confidence", None) is not None:
            write_png(folder / "confidence.png", tex.confidence)
    progress("write", 0.5, "writing head.glb")
    write_glb(folder / "head.glb", mesh, materials, textures, list(model.expression_names), deltas)
    write_png(folder / "overlay.png", _overlay(rec, model, vertices))
    (folder / "params.json").write_text(json.dumps(params_dict(rec, model, vertices), indent=1))
    progress("write", 1.0, "done")


def _overlay(rec, model: HeadModel, vertices: np.ndarray) -> np.ndarray:
    from engine.overlay import draw_overlay, face_focus_box

    cam = rec.fit.camera
    visible = visible_faces(model, vertices, cam.K, cam.R, cam.t, cam.width, cam.height, rec.runtime or CPU)
    v2d = cam.project(np.asarray(vertices, np.float64))
    shape_lm = rec.fit.landmarks_2d_parametric if rec.fit.landmarks_2d_parametric is not None else rec.fit.landmarks_2d
    return draw_overlay(rec.photo.rgb, rec.face.points, shape_lm, vertices_2d=v2d,
                        faces=model.faces.numpy(), face_visible=visible,
                        focus=face_focus_box(_bbox(v2d[np.unique(model.faces.numpy()[visible])]), (cam.width, cam.height), 0.25))


def _bbox(points: np.ndarray) -> tuple[float, float, float, float]:
    lo, hi = points.min(0), points.max(0)
    return float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])
