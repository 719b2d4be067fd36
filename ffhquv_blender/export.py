"""Export a reconstructed head (and its eye/teeth/tongue parts) with Blender's own exporters.

| format | exporter | textures | shape keys |
|---|---|---|---|
| GLB  | ``export_scene.gltf(export_format='GLB')`` | embedded | morph targets |
| FBX  | ``export_scene.fbx(path_mode='COPY', embed_textures=True)`` | embedded | blend shapes |
| OBJ  | ``wm.obj_export(path_mode='COPY')`` + .mtl | copied next to the .obj | no (OBJ has none) |
| USD / USDZ | ``wm.usd_export`` | written next to it / packed in .usdz | blend shapes |

Exporter option names differ between Blender versions (USD textures: ``export_textures`` in 4.2,
``export_textures_mode`` in 5.0); options are filtered against the operator's RNA so each version
receives only what it knows. Selection and active object are restored afterwards.
"""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

import bpy

from .errors import AddonError, UserInputError
from .names import EXPORT_FORMATS, MSG

__all__ = ["EXTENSIONS", "export_avatar", "with_extension"]

EXTENSIONS = {fmt: ext for fmt, _, _, ext in EXPORT_FORMATS}


def with_extension(path: str, fmt: str) -> str:
    """``path`` with the extension of ``fmt`` (replacing another export format's extension)."""
    p = Path(path)
    known = set(EXTENSIONS.values()) | {".usd", ".usda", ".gltf"}
    stem = p.with_suffix("") if p.suffix.lower() in known else p
    return str(stem) + EXTENSIONS[fmt]


@contextlib.contextmanager
def _selected_only(context: bpy.types.Context, objects: list[bpy.types.Object]) -> Iterator[None]:
    view_layer = context.view_layer
    before = [o for o in view_layer.objects if o.select_get()]
    active = view_layer.objects.active
    for obj in before:
        obj.select_set(False)
    for obj in objects:
        obj.select_set(True)
    view_layer.objects.active = objects[0]
    try:
        yield
    finally:
        for obj in objects:
            if obj.name in view_layer.objects:
                obj.select_set(False)
        for obj in before:
            if obj.name in view_layer.objects:
                obj.select_set(True)
        view_layer.objects.active = active


def _supported(operator: object, options: dict) -> dict:
    """Keep only the keyword options this Blender's exporter defines."""
    known = {p.identifier for p in operator.get_rna_type().properties}
    return {k: v for k, v in options.items() if k in known}


def _run(operator: object, filepath: Path, options: dict) -> None:
    result = operator(filepath=str(filepath), **_supported(operator, options))
    if "FINISHED" not in result:
        raise AddonError(MSG.EXPORT_FAILED.format(detail=f"the exporter returned {sorted(result)}."))


def export_avatar(context: bpy.types.Context, objects: list[bpy.types.Object], fmt: str, filepath: Path) -> Path:
    """Export ``objects`` (the head first) as ``fmt`` ('GLB', 'FBX', 'OBJ', 'USD', 'USDZ') to ``filepath``.

    Returns the written file. Raises :class:`UserInputError` (nothing to export, unknown format) or
    :class:`AddonError` (the exporter failed; its message is in the text).
    """
    if not objects:
        raise UserInputError(MSG.NO_HEAD)
    if fmt not in EXTENSIONS:
        raise UserInputError(MSG.UNKNOWN_FORMAT.format(fmt=fmt))
    path = Path(with_extension(str(filepath), fmt))
    path.parent.mkdir(parents=True, exist_ok=True)
    if context.mode != "OBJECT":
        bpy.ops.object.mode_set(mode="OBJECT")
    try:
        with _selected_only(context, objects):
            _export(fmt, path)
        if fmt == "OBJ":
            _write_packed_textures(objects, path.parent)
    except RuntimeError as err:  # exporters raise RuntimeError with their report text
        raise AddonError(MSG.EXPORT_FAILED.format(detail=str(err).strip().splitlines()[-1])) from err
    if not path.is_file():
        raise AddonError(MSG.EXPORT_FAILED.format(detail=f"{path.name} was not written."))
    return path


def _write_packed_textures(objects: list[bpy.types.Object], folder: Path) -> None:
    """The OBJ exporter references packed images by file name without writing them: write them beside the .mtl."""
    for obj in objects:
        for slot in obj.material_slots:
            tree = slot.material.node_tree if slot.material is not None else None
            for node in (tree.nodes if tree is not None else ()):
                image = getattr(node, "image", None)
                if image is None or image.packed_file is None or not image.filepath:
                    continue
                target = folder / Path(bpy.path.abspath(image.filepath)).name
                if not target.exists():
                    target.write_bytes(image.packed_file.data)


def _export(fmt: str, path: Path) -> None:
    if fmt == "GLB":
        _run(bpy.ops.export_scene.gltf, path, dict(
            export_format="GLB", use_selection=True, export_yup=True, export_apply=False, export_morph=True,
            export_morph_normal=True, export_image_format="AUTO", export_materials="EXPORT",
            export_cameras=False, export_lights=False, export_animations=False,
        ))
    elif fmt == "FBX":
        _run(bpy.ops.export_scene.fbx, path, dict(
            use_selection=True, object_types={"MESH"}, path_mode="COPY", embed_textures=True,
            use_mesh_modifiers=False, add_leaf_bones=False, bake_anim=False, axis_forward="-Z", axis_up="Y",
        ))
    elif fmt == "OBJ":
        _run(bpy.ops.wm.obj_export, path, dict(
            export_selected_objects=True, export_materials=True, path_mode="COPY", export_uv=True,
            export_normals=True, forward_axis="NEGATIVE_Z", up_axis="Y",
        ))
    else:  # USD / USDZ
        usd = bpy.ops.wm.usd_export
        known = {p.identifier for p in usd.get_rna_type().properties}
        textures = {"export_textures_mode": "NEW"} if "export_textures_mode" in known else {"export_textures": True}
        _run(usd, path, dict(
            selected_objects_only=True, export_materials=True, export_uvmaps=True, export_normals=True,
            export_shapekeys=True, overwrite_textures=True, relative_paths=True, export_animation=False,
            **textures,
        ))
