"""Build Blender objects from a loaded engine result (see ``result_data.py`` and ``MESH_NPZ.md``).

Layout of one import, all inside a new collection named after the photo (unique, never reusing or
overwriting existing datablocks):

* ``<name>`` — the skin mesh (textured), origin at its bounding-box centre, smooth shaded, UV map
  "UVMap", shape keys "Basis" + the 52 ARKit names (values = the photo's expression weights);
* ``<name>_eye_l`` / ``_eye_r`` / ``_teeth_upper`` / ``_teeth_lower`` / ``_tongue`` — children of the head,
  origin at their centroid, with the shape keys that move them, driven by the head's keys;
* ``<name>_camera`` (optional) — matched to the photo (K, R, t), the photo as background image.

Head space -> Blender: (x, y, z) -> (x, -z, y), metres; vertex data is baked, objects are unrotated.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import bpy
import numpy as np
from mathutils import Matrix

from . import materials
from .camera_math import blender_camera_from_opencv
from .names import PROP
from .result_data import EngineResult, HeadMesh, head_to_blender

__all__ = ["ImportOptions", "ImportedHead", "import_result", "unique_base_name", "find_head"]

UV_MAP = "UVMap"
RESIDUAL_KEY = "photoResidual"
_KEY_EPS_M = 1e-6  # a part gets a shape key only if the key moves it by more than this


@dataclass(frozen=True)
class ImportOptions:
    """``name``: wanted base name (the photo's stem); ``add_camera``: build the matched camera;
    ``pack_images``: pack textures into the .blend; ``photo``: photo for the camera background."""

    name: str
    add_camera: bool = True
    pack_images: bool = True
    photo: Path | None = None


@dataclass
class ImportedHead:
    """What one import created."""

    head: bpy.types.Object
    collection: bpy.types.Collection
    parts: dict[str, bpy.types.Object] = field(default_factory=dict)
    camera: bpy.types.Object | None = None


def unique_base_name(wanted: str) -> str:
    """``wanted`` or ``wanted.001``, ... such that no object, mesh or collection uses it (or its part names)."""
    wanted = (wanted.strip() or "Head")[:48]

    def taken(base: str) -> bool:
        return (base in bpy.data.objects or base in bpy.data.meshes or base in bpy.data.collections
                or any(n.startswith(base + "_") for n in bpy.data.objects.keys()))

    if not taken(wanted):
        return wanted
    index = 1
    while taken(f"{wanted}.{index:03d}"):
        index += 1
    return f"{wanted}.{index:03d}"


def _build_mesh(name: str, verts: np.ndarray, faces: np.ndarray, face_uvs: np.ndarray) -> bpy.types.Mesh:
    """Triangle mesh from (V, 3) float32 Blender-space vertices, (F, 3) faces, (F, 3, 2) UVs (v up)."""
    mesh = bpy.data.meshes.new(name)
    n_faces = len(faces)
    mesh.vertices.add(len(verts))
    mesh.vertices.foreach_set("co", np.ascontiguousarray(verts, np.float32).ravel())
    mesh.loops.add(3 * n_faces)
    mesh.loops.foreach_set("vertex_index", np.ascontiguousarray(faces, np.int32).ravel())
    mesh.polygons.add(n_faces)
    mesh.polygons.foreach_set("loop_start", np.arange(0, 3 * n_faces, 3, dtype=np.int32))
    if not bpy.types.MeshPolygon.bl_rna.properties["loop_total"].is_readonly:
        mesh.polygons.foreach_set("loop_total", np.full(n_faces, 3, np.int32))  # computed in newer Blender
    mesh.update(calc_edges=True)
    mesh.validate(clean_customdata=False)
    uv_layer = mesh.uv_layers.new(name=UV_MAP)
    uv_layer.data.foreach_set("uv", np.ascontiguousarray(face_uvs, np.float32).ravel())
    mesh.polygons.foreach_set("use_smooth", np.ones(n_faces, dtype=bool))
    mesh.update()
    return mesh


def _part_geometry(mesh: HeadMesh, part_ids: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(vertex indices into the full mesh, remapped (F, 3) faces, (F, 3, 2) UVs) of the given parts."""
    face_mask = np.isin(mesh.face_part, part_ids)
    faces = mesh.faces[face_mask]
    used = np.unique(faces)
    remap = np.full(len(mesh.vertices), -1, np.int64)
    remap[used] = np.arange(len(used))
    return used, remap[faces].astype(np.int32), mesh.face_uvs[face_mask]


def _add_shape_keys(obj: bpy.types.Object, basis: np.ndarray, deltas: np.ndarray, names: tuple[str, ...],
                    values: np.ndarray, residual: np.ndarray | None, only_moving: bool) -> list[str]:
    """Add Basis + one key per name (Blender-space (K, n, 3) deltas); returns the names added."""
    obj.shape_key_add(name="Basis", from_mix=False)
    added = []
    for k, name in enumerate(names):
        if only_moving and float(np.abs(deltas[k]).max(initial=0.0)) <= _KEY_EPS_M:
            continue
        key = obj.shape_key_add(name=name, from_mix=False)
        key.data.foreach_set("co", (basis + deltas[k]).astype(np.float32).ravel())
        key.slider_min, key.slider_max = 0.0, 1.0
        key.value = float(values[k])
        added.append(name)
    if residual is not None:
        key = obj.shape_key_add(name=RESIDUAL_KEY, from_mix=False)
        key.data.foreach_set("co", (basis + residual).astype(np.float32).ravel())
        key.value = 1.0
        added.append(RESIDUAL_KEY)
    obj.data.shape_keys.use_relative = True
    return added


def _drive_keys_from(child: bpy.types.Object, head: bpy.types.Object, names: list[str]) -> None:
    """Child key ``n`` follows the head's key ``n`` (moving jawOpen on the head moves the teeth)."""
    head_keys = head.data.shape_keys
    for name in names:
        fcurve = child.data.shape_keys.key_blocks[name].driver_add("value")
        driver = fcurve.driver
        driver.type = "AVERAGE"
        var = driver.variables.new()
        var.name, var.type = "v", "SINGLE_PROP"
        var.targets[0].id_type = "KEY"
        var.targets[0].id = head_keys
        var.targets[0].data_path = f'key_blocks["{name}"].value'


def _new_object(name: str, mesh: bpy.types.Mesh, collection: bpy.types.Collection, role: str,
                folder: Path, location: np.ndarray) -> bpy.types.Object:
    obj = bpy.data.objects.new(name, mesh)
    collection.objects.link(obj)
    obj.location = tuple(float(c) for c in location)
    obj[PROP.OBJECT_ROLE] = role
    obj[PROP.OBJECT_RESULT] = str(folder)
    return obj


def import_result(scene: bpy.types.Scene, result: EngineResult, options: ImportOptions) -> ImportedHead:
    """Create the head, its parts, materials, shape keys and (optionally) the matched camera in ``scene``."""
    base = unique_base_name(options.name)
    collection = bpy.data.collections.new(base)
    scene.collection.children.link(collection)
    mesh = result.mesh
    neutral = head_to_blender(mesh.neutral_vertices)
    deltas = head_to_blender(mesh.blendshape_deltas)
    residual = head_to_blender(mesh.residual) if mesh.has_residual else None
    values = mesh.expression_weights

    skin_id = mesh.part_names.index("skin")
    used, faces, uvs = _part_geometry(mesh, [skin_id])
    origin = 0.5 * (neutral[used].min(axis=0) + neutral[used].max(axis=0))
    head_mesh = _build_mesh(base, neutral[used] - origin, faces, uvs)
    head = _new_object(base, head_mesh, collection, "head", result.folder, origin)
    textures = materials.SkinTextures(result.albedo, result.normal, result.roughness)
    head_mesh.materials.append(materials.make_skin_material(f"{base}_skin", textures, options.pack_images, UV_MAP))
    _add_shape_keys(head, neutral[used] - origin, deltas[:, used], mesh.blendshape_names, values,
                    None if residual is None else residual[used], only_moving=False)
    imported = ImportedHead(head=head, collection=collection)

    for part_id, part in enumerate(mesh.part_names):
        if part_id == skin_id or not np.any(mesh.face_part == part_id):
            continue
        imported.parts[part] = _import_part(base, part, part_id, mesh, neutral, deltas, residual, result, head, collection)

    if options.add_camera and result.params.camera is not None:
        imported.camera = _add_camera(scene, base, result, collection, options.photo or result.params.photo)
    return imported


def _import_part(base: str, part: str, part_id: int, mesh: HeadMesh, neutral: np.ndarray, deltas: np.ndarray,
                 residual: np.ndarray | None, result: EngineResult, head: bpy.types.Object,
                 collection: bpy.types.Collection) -> bpy.types.Object:
    used, faces, uvs = _part_geometry(mesh, [part_id])
    origin = neutral[used].mean(axis=0)
    name = f"{base}_{part}"
    part_mesh = _build_mesh(name, neutral[used] - origin, faces, uvs)
    # The head is unrotated and unscaled, so the child's local location is the offset between origins
    # (set directly: the head's matrix_world is not evaluated yet at this point).
    obj = _new_object(name, part_mesh, collection, part, result.folder, origin - np.asarray(head.location))
    obj.parent = head
    if part.startswith("eye"):
        material = materials.make_eye_material(f"{name}_material", result.params.eye_color_srgb)
    elif part.startswith("teeth"):
        material = materials.make_teeth_material(f"{name}_material", result.params.teeth_color_srgb)
    else:
        material = materials.make_tongue_material(f"{name}_material")
    part_mesh.materials.append(material)
    part_residual = None if residual is None else residual[used]
    if part_residual is not None and float(np.abs(part_residual).max()) <= _KEY_EPS_M:
        part_residual = None
    moving = [n for k, n in enumerate(mesh.blendshape_names) if float(np.abs(deltas[k, used]).max()) > _KEY_EPS_M]
    if moving or part_residual is not None:
        _add_shape_keys(obj, neutral[used] - origin, deltas[:, used], mesh.blendshape_names,
                        mesh.expression_weights, part_residual, only_moving=True)
        _drive_keys_from(obj, head, moving + ([RESIDUAL_KEY] if part_residual is not None else []))
    return obj


def _add_camera(scene: bpy.types.Scene, base: str, result: EngineResult, collection: bpy.types.Collection,
                photo: Path | None) -> bpy.types.Object:
    """A camera that sees the head as the photo did; becomes the scene camera; resolution = photo size."""
    assert result.params.camera is not None
    params = blender_camera_from_opencv(result.params.camera)
    data = bpy.data.cameras.new(f"{base}_camera")
    data.sensor_fit, data.sensor_width, data.lens = "HORIZONTAL", params.sensor_width_mm, params.lens_mm
    data.shift_x, data.shift_y = params.shift_x, params.shift_y
    data.clip_start, data.clip_end = 0.01, 100.0
    cam = bpy.data.objects.new(f"{base}_camera", data)
    collection.objects.link(cam)
    cam.matrix_world = Matrix(params.matrix_world.tolist())
    cam[PROP.OBJECT_ROLE] = "camera"
    cam[PROP.OBJECT_RESULT] = str(result.folder)
    render = scene.render
    render.resolution_x, render.resolution_y = params.resolution
    render.resolution_percentage = 100
    render.pixel_aspect_x, render.pixel_aspect_y = params.pixel_aspect
    scene.camera = cam
    if photo is not None and Path(photo).is_file():
        image = bpy.data.images.load(str(photo), check_existing=True)
        background = data.background_images.new()
        background.image = image
        background.display_depth = "BACK"
        background.frame_method = "STRETCH"
        background.alpha = 1.0
        data.show_background_images = True
    return cam


def find_head(obj: bpy.types.Object | None) -> bpy.types.Object | None:
    """The imported head an object belongs to (itself, or its parent), or None."""
    while obj is not None:
        if obj.get(PROP.OBJECT_ROLE) == "head":
            return obj
        obj = obj.parent
    return None
