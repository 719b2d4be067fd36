"""Relight previews: Blender's bundled HDRIs as World light, a 3-point studio rig, render-engine switch.

HDRIs: ``bpy.utils.system_resource('DATAFILES', path='studiolights/world')/<name>.exr`` (CC0, shipped
with every Blender). Worlds and the rig are the add-on's own datablocks, tagged with a custom property
and reused on the next call; the artist's worlds and lights are never modified (the scene's world
pointer is switched, which one undo step restores).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import bpy
from mathutils import Vector

from .errors import UserInputError
from .names import HDRI_PRESETS, MSG, RIG_PRESET

__all__ = [
    "PRESET_TAG", "RIG_COLLECTION", "HeadFrame", "eevee_engine_id", "set_render_engine", "hdri_path",
    "apply_preset", "apply_hdri", "apply_three_point", "head_frame", "hide_rig",
]

PRESET_TAG = "ffhquv_preset"          # custom property on our worlds / rig collection
RIG_COLLECTION = "FFHQ-UV Studio Rig"
_HDRI_IDS = tuple(p[0] for p in HDRI_PRESETS)


@dataclass(frozen=True)
class HeadFrame:
    """Where the subject is: bounding-box ``center`` (world, metres) and ``size`` (largest extent, metres)."""

    center: Vector
    size: float


def eevee_engine_id() -> str:
    """``BLENDER_EEVEE_NEXT`` (Blender 4.2–4.5) or ``BLENDER_EEVEE`` (5.0+), whichever this build has."""
    items = bpy.types.RenderSettings.bl_rna.properties["engine"].enum_items.keys()
    return "BLENDER_EEVEE_NEXT" if "BLENDER_EEVEE_NEXT" in items else "BLENDER_EEVEE"


def set_render_engine(scene: bpy.types.Scene, engine: str) -> str:
    """Switch to 'CYCLES' or 'EEVEE' (mapped to this build's id). Returns the engine id set."""
    engine_id = "CYCLES" if engine.upper() == "CYCLES" else eevee_engine_id()
    scene.render.engine = engine_id
    return engine_id


def hdri_path(name: str) -> Path:
    """Absolute path of a bundled HDRI (``city``, ``courtyard``, ... ``sunset``)."""
    folder = bpy.utils.system_resource("DATAFILES", path="studiolights/world")
    path = Path(folder) / f"{name}.exr"
    if name not in _HDRI_IDS or not path.is_file():
        raise UserInputError(MSG.NO_HDRI.format(name=name), hint=str(path))
    return path


def head_frame(objects: list[bpy.types.Object]) -> HeadFrame:
    """World-space bounding box of ``objects`` (meshes); a 0.25 m box at the origin when empty."""
    corners = [obj.matrix_world @ Vector(c) for obj in objects if obj.type == "MESH" for c in obj.bound_box]
    if not corners:
        return HeadFrame(Vector((0.0, 0.0, 0.0)), 0.25)
    lo = Vector(tuple(min(c[i] for c in corners) for i in range(3)))
    hi = Vector(tuple(max(c[i] for c in corners) for i in range(3)))
    return HeadFrame((lo + hi) / 2, max(hi - lo))


def _preset_world(name: str) -> bpy.types.World:
    """Our world for a preset (reused if it exists and carries our tag), else a new one."""
    title = f"FFHQ-UV {name}"
    for world in bpy.data.worlds:
        if world.get(PRESET_TAG) == name and world.name.startswith(title):
            return world
    world = bpy.data.worlds.new(title)
    world[PRESET_TAG] = name
    if bpy.app.version < (5, 0, 0):  # always node-based (and the flag deprecated) from 5.0
        world.use_nodes = True
    return world


def apply_hdri(scene: bpy.types.Scene, name: str, strength: float = 1.0, rotation_deg: float = 0.0) -> bpy.types.World:
    """Light ``scene`` with a bundled HDRI (World: Environment Texture -> Background); hides the rig."""
    path = hdri_path(name)
    world = _preset_world(name)
    tree = world.node_tree
    tree.nodes.clear()
    coords = tree.nodes.new("ShaderNodeTexCoord")
    mapping = tree.nodes.new("ShaderNodeMapping")
    mapping.inputs["Rotation"].default_value = (0.0, 0.0, math.radians(rotation_deg))
    env = tree.nodes.new("ShaderNodeTexEnvironment")
    image = next((im for im in bpy.data.images if im.get(PRESET_TAG) == name), None)
    if image is None:
        image = bpy.data.images.load(str(path), check_existing=False)
        image.name = f"FFHQ-UV {name}.exr"
        image[PRESET_TAG] = name
    env.image = image
    background = tree.nodes.new("ShaderNodeBackground")
    background.inputs["Strength"].default_value = strength
    output = tree.nodes.new("ShaderNodeOutputWorld")
    for i, node in enumerate((coords, mapping, env, background, output)):
        node.location = (-900.0 + 250.0 * i, 0.0)
    tree.links.new(coords.outputs["Generated"], mapping.inputs["Vector"])
    tree.links.new(mapping.outputs["Vector"], env.inputs["Vector"])
    tree.links.new(env.outputs["Color"], background.inputs["Color"])
    tree.links.new(background.outputs["Background"], output.inputs["Surface"])
    scene.world = world
    hide_rig(scene, True)
    return world


def _rig_collection(scene: bpy.types.Scene) -> bpy.types.Collection:
    collection = next((c for c in bpy.data.collections if c.get(PRESET_TAG) == RIG_PRESET[0]), None)
    if collection is None:
        collection = bpy.data.collections.new(RIG_COLLECTION)
        collection[PRESET_TAG] = RIG_PRESET[0]
    if collection.name not in scene.collection.children:
        scene.collection.children.link(collection)
    return collection


def _rig_light(collection: bpy.types.Collection, role: str) -> bpy.types.Object:
    for obj in collection.objects:
        if obj.get(PRESET_TAG) == role:
            return obj
    data = bpy.data.lights.new(f"FFHQ-UV {role}", "AREA")
    obj = bpy.data.objects.new(f"FFHQ-UV {role}", data)
    obj[PRESET_TAG] = role
    collection.objects.link(obj)
    return obj


def _aim(obj: bpy.types.Object, location: Vector, target: Vector) -> None:
    obj.location = location
    obj.rotation_euler = (target - location).to_track_quat("-Z", "Y").to_euler()


def apply_three_point(scene: bpy.types.Scene, frame: HeadFrame, strength: float = 1.0) -> bpy.types.Collection:
    """Key (front-left, high), fill (front-right, soft, weak) and rim (behind) area lights; dark world.

    The head faces Blender -Y; the head's left is +X. Powers scale with the square of the distance so the
    exposure is the same for any head size.
    """
    collection = _rig_collection(scene)
    d = max(frame.size, 0.1) * 4.0
    c = frame.center
    # (role, direction from the head, size factor, watts per m^2 of distance)
    setup = (("key", Vector((0.75, -1.0, 0.55)), 0.5, 28.0), ("fill", Vector((-1.0, -0.8, 0.1)), 1.0, 8.0),
             ("rim", Vector((-0.4, 1.0, 0.8)), 0.35, 45.0))
    for role, direction, size, watts in setup:
        light = _rig_light(collection, role)
        _aim(light, c + direction.normalized() * d, c)
        light.data.size = size * d
        light.data.energy = watts * d * d * strength
        light.data.color = (1.0, 0.95, 0.9) if role == "key" else (0.9, 0.95, 1.0)
    world = _preset_world(RIG_PRESET[0])
    world.node_tree.nodes.clear()
    background = world.node_tree.nodes.new("ShaderNodeBackground")
    background.inputs["Color"].default_value = (0.02, 0.02, 0.022, 1.0)
    background.inputs["Strength"].default_value = 1.0
    output = world.node_tree.nodes.new("ShaderNodeOutputWorld")
    world.node_tree.links.new(background.outputs["Background"], output.inputs["Surface"])
    scene.world = world
    hide_rig(scene, False)
    return collection


def hide_rig(scene: bpy.types.Scene, hidden: bool) -> None:
    """Show or hide the studio rig's lights in renders and the viewport (no-op without a rig)."""
    for collection in bpy.data.collections:
        if collection.get(PRESET_TAG) == RIG_PRESET[0]:
            collection.hide_render = hidden
            collection.hide_viewport = hidden


def apply_preset(scene: bpy.types.Scene, preset: str, frame: HeadFrame, strength: float = 1.0) -> None:
    """Apply a preset from ``names.LIGHT_PRESETS`` ('three_point' or an HDRI name)."""
    if preset == RIG_PRESET[0]:
        apply_three_point(scene, frame, strength)
    else:
        apply_hdri(scene, preset, strength)
