"""Materials for an imported head: textured skin, procedural eyes, teeth and tongue (Principled BSDF).

Colour spaces: ``albedo.png`` is sRGB (Blender converts it to linear); ``normal.png`` (OpenGL tangent
space, +Y up — Blender's convention) and ``roughness.png`` are Non-Color data. Node colour values are
linear, so sRGB colours from ``params.json`` go through :func:`srgb_to_linear`.
Principled BSDF socket names changed in Blender 4.0 ("Subsurface" -> "Subsurface Weight",
"Clearcoat" -> "Coat Weight", "Specular" -> "Specular IOR Level"); :func:`set_input` tries each name.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import bpy

__all__ = [
    "SkinTextures", "srgb_to_linear", "set_input", "load_image", "make_skin_material",
    "make_eye_material", "make_teeth_material", "make_tongue_material",
]

# Skin scattering: red light travels furthest (radius per RGB channel, times the scale in metres).
SKIN_SUBSURFACE_RADIUS = (1.0, 0.35, 0.2)
SKIN_SUBSURFACE_SCALE_M = 0.004
SKIN_SUBSURFACE_WEIGHT = 0.35


@dataclass(frozen=True)
class SkinTextures:
    """Texture files of one result. ``normal``/``roughness`` may be absent (None)."""

    albedo: Path
    normal: Path | None
    roughness: Path | None


def srgb_to_linear(c: float) -> float:
    """One sRGB-encoded channel in [0, 1] -> linear light (IEC 61966-2-1)."""
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def set_input(node: bpy.types.Node, names: Iterable[str], value: object) -> bool:
    """Set the first input socket of ``node`` found among ``names`` (version-dependent names)."""
    for name in names:
        socket = node.inputs.get(name)
        if socket is not None:
            socket.default_value = value
            return True
    return False


def _input(node: bpy.types.Node, *names: str) -> bpy.types.NodeSocket:
    for name in names:
        socket = node.inputs.get(name)
        if socket is not None:
            return socket
    raise KeyError(f"{node.bl_idname} has none of the inputs {names}")


def load_image(path: Path, name: str, non_color: bool, pack: bool) -> bpy.types.Image:
    """Load an image file as a new datablock (never reusing a user's image of the same name)."""
    image = bpy.data.images.load(str(path), check_existing=False)
    image.name = name
    image.colorspace_settings.name = "Non-Color" if non_color else "sRGB"
    if pack:
        image.pack()
    return image


def _new_material(name: str) -> tuple[bpy.types.Material, bpy.types.Node, bpy.types.NodeTree]:
    mat = bpy.data.materials.new(name)
    if bpy.app.version < (5, 0, 0):  # always node-based (and the flag deprecated) from 5.0
        mat.use_nodes = True
    tree = mat.node_tree
    bsdf = next(n for n in tree.nodes if n.bl_idname == "ShaderNodeBsdfPrincipled")
    return mat, bsdf, tree


def _image_node(tree: bpy.types.NodeTree, image: bpy.types.Image, label: str, y: float) -> bpy.types.Node:
    node = tree.nodes.new("ShaderNodeTexImage")
    node.image, node.label, node.name = image, label, label
    node.location = (-700.0, y)
    return node


def make_skin_material(name: str, textures: SkinTextures, pack: bool, uv_map: str = "UVMap") -> bpy.types.Material:
    """Principled skin: albedo -> Base Color, roughness map -> Roughness, normal map -> Normal, subsurface."""
    mat, bsdf, tree = _new_material(name)
    links = tree.links
    albedo = _image_node(tree, load_image(textures.albedo, f"{name}_albedo", False, pack), "Albedo", 300.0)
    links.new(albedo.outputs["Color"], _input(bsdf, "Base Color"))
    if textures.roughness is not None:
        rough = _image_node(tree, load_image(textures.roughness, f"{name}_roughness", True, pack), "Roughness", 0.0)
        links.new(rough.outputs["Color"], _input(bsdf, "Roughness"))
    else:
        set_input(bsdf, ("Roughness",), 0.5)
    if textures.normal is not None:
        normal = _image_node(tree, load_image(textures.normal, f"{name}_normal", True, pack), "Normal", -300.0)
        normal_map = tree.nodes.new("ShaderNodeNormalMap")
        normal_map.space, normal_map.uv_map, normal_map.location = "TANGENT", uv_map, (-300.0, -300.0)
        links.new(normal.outputs["Color"], normal_map.inputs["Color"])
        links.new(normal_map.outputs["Normal"], _input(bsdf, "Normal"))
    set_input(bsdf, ("Subsurface Weight", "Subsurface"), SKIN_SUBSURFACE_WEIGHT)
    set_input(bsdf, ("Subsurface Radius",), SKIN_SUBSURFACE_RADIUS)
    set_input(bsdf, ("Subsurface Scale",), SKIN_SUBSURFACE_SCALE_M)
    set_input(bsdf, ("IOR",), 1.4)
    return mat


def make_eye_material(name: str, iris_srgb: tuple[float, float, float]) -> bpy.types.Material:
    """Procedural eye in object space: the eye object's origin is the eyeball centre, it looks down -Y.

    cos(angle to -Y) drives a colour ramp: sclera, a dark limbal ring, the iris (``iris_srgb``), the pupil.
    A glossy coat stands in for the cornea.
    """
    mat, bsdf, tree = _new_material(name)
    nodes, links = tree.nodes, tree.links
    coords = nodes.new("ShaderNodeTexCoord")
    normalize = nodes.new("ShaderNodeVectorMath")
    normalize.operation = "NORMALIZE"
    dot = nodes.new("ShaderNodeVectorMath")
    dot.operation = "DOT_PRODUCT"
    dot.inputs[1].default_value = (0.0, -1.0, 0.0)
    to_unit = nodes.new("ShaderNodeMapRange")  # cos in [-1, 1] -> [0, 1]
    to_unit.inputs["From Min"].default_value = -1.0
    ramp = nodes.new("ShaderNodeValToRGB")
    iris = tuple(srgb_to_linear(c) for c in iris_srgb)
    dark = tuple(c * 0.35 for c in iris)
    # (cos + 1) / 2 of the angle from the gaze axis: iris edge ~30 deg (0.933), pupil edge ~9 deg (0.994).
    stops = ((0.0, (0.80, 0.76, 0.72)), (0.924, (0.80, 0.76, 0.72)), (0.931, (0.05, 0.04, 0.035)),
             (0.937, dark), (0.955, iris), (0.985, dark), (0.988, (0.005, 0.005, 0.005)), (1.0, (0.0, 0.0, 0.0)))
    elements = ramp.color_ramp.elements
    elements[0].position, elements[0].color = stops[0][0], (*stops[0][1], 1.0)
    elements[1].position, elements[1].color = stops[-1][0], (*stops[-1][1], 1.0)
    for position, color in stops[1:-1]:
        elements.new(position).color = (*color, 1.0)
    for i, node in enumerate((coords, normalize, dot, to_unit, ramp)):
        node.location = (-1100.0 + 220.0 * i, 200.0)
    links.new(coords.outputs["Object"], normalize.inputs[0])
    links.new(normalize.outputs["Vector"], dot.inputs[0])
    links.new(dot.outputs["Value"], to_unit.inputs["Value"])
    links.new(to_unit.outputs["Result"], ramp.inputs["Fac"])
    links.new(ramp.outputs["Color"], _input(bsdf, "Base Color"))
    set_input(bsdf, ("Roughness",), 0.35)
    set_input(bsdf, ("Coat Weight", "Clearcoat"), 1.0)
    set_input(bsdf, ("Coat Roughness", "Clearcoat Roughness"), 0.02)
    set_input(bsdf, ("Subsurface Weight", "Subsurface"), 0.1)
    set_input(bsdf, ("Subsurface Scale",), 0.002)
    return mat


def _solid(name: str, srgb: tuple[float, float, float], roughness: float, subsurface: float) -> bpy.types.Material:
    mat, bsdf, _ = _new_material(name)
    color = tuple(srgb_to_linear(c) for c in srgb)
    set_input(bsdf, ("Base Color",), (*color, 1.0))
    set_input(bsdf, ("Roughness",), roughness)
    set_input(bsdf, ("Subsurface Weight", "Subsurface"), subsurface)
    set_input(bsdf, ("Subsurface Radius",), SKIN_SUBSURFACE_RADIUS)
    set_input(bsdf, ("Subsurface Scale",), 0.002)
    mat.diffuse_color = (*color, 1.0)  # viewport solid colour
    return mat


def make_teeth_material(name: str, color_srgb: tuple[float, float, float] | None = None) -> bpy.types.Material:
    """Fairly glossy, a little translucent; ivory, or the photo's teeth colour (sRGB in [0, 1]) when it
    showed them."""
    return _solid(name, (0.93, 0.90, 0.82) if color_srgb is None else tuple(color_srgb), 0.25, 0.15)


def make_tongue_material(name: str) -> bpy.types.Material:
    """Moist pink-red with subsurface scattering."""
    return _solid(name, (0.78, 0.40, 0.40), 0.35, 0.4)
