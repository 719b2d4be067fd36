"""Export Avatar: GLB round trip (mesh, material with texture, shape keys), FBX round trip (shape keys),
OBJ + MTL with the texture copied, USD and USDZ with textures."""
from __future__ import annotations

import zipfile
from pathlib import Path

import bpy
import pytest

from ffhquv_bl_testutil import submodule

pytestmark = pytest.mark.usefixtures("installed")


@pytest.fixture()
def head(empty_scene, fake_result: Path) -> bpy.types.Object:
    assert bpy.ops.ffhquv.import_result(directory=str(fake_result), name="astronaut") == {"FINISHED"}
    other = bpy.data.objects.new("user_empty", None)  # something of the artist's that must not be exported
    bpy.context.scene.collection.objects.link(other)
    other.select_set(True)
    return bpy.data.objects["astronaut"]


def _export(fmt: str, path: Path) -> Path:
    assert bpy.ops.ffhquv.export_avatar(format=fmt, filepath=str(path)) == {"FINISHED"}
    out = Path(submodule("export").with_extension(str(path), fmt))
    assert out.is_file()
    return out


def test_glb_round_trip(head, tmp_path: Path) -> None:
    out = _export("GLB", tmp_path / "avatar")
    assert out.suffix == ".glb" and out.stat().st_size > 100_000  # textures embedded
    assert bpy.context.view_layer.objects.active == head and bpy.data.objects["user_empty"].select_get()
    bpy.ops.wm.read_homefile(use_empty=True)
    assert bpy.ops.import_scene.gltf(filepath=str(out)) == {"FINISHED"}
    meshes = [o for o in bpy.context.scene.objects if o.type == "MESH"]
    assert len(meshes) == 6 and not any(o.type == "EMPTY" and o.name == "user_empty" for o in bpy.context.scene.objects)
    imported_head = max(meshes, key=lambda o: len(o.data.vertices))
    keys = {k.name for k in imported_head.data.shape_keys.key_blocks}
    assert set(submodule("names").ARKIT_NAMES) <= keys
    nodes = imported_head.active_material.node_tree.nodes
    images = [n.image for n in nodes if n.type == "TEX_IMAGE" and n.image is not None]
    assert len(images) >= 3 and all(i.size[0] > 0 for i in images)  # base colour, normal, roughness
    assert imported_head.data.uv_layers


def test_fbx_round_trip_keeps_shape_keys(head, tmp_path: Path) -> None:
    out = _export("FBX", tmp_path / "avatar.fbx")
    assert out.stat().st_size > 100_000  # embedded textures
    bpy.ops.wm.read_homefile(use_empty=True)
    assert bpy.ops.import_scene.fbx(filepath=str(out)) == {"FINISHED"}
    imported_head = max((o for o in bpy.context.scene.objects if o.type == "MESH"), key=lambda o: len(o.data.vertices))
    assert "jawOpen" in imported_head.data.shape_keys.key_blocks
    assert len(imported_head.data.shape_keys.key_blocks) == 53


def test_obj_with_mtl_and_copied_texture(head, tmp_path: Path) -> None:
    out = _export("OBJ", tmp_path / "obj" / "avatar.glb")  # the wrong extension is replaced
    assert out.name == "avatar.obj"
    mtl = out.with_suffix(".mtl")
    assert mtl.is_file()
    maps = [line.split()[-1] for line in mtl.read_text().splitlines() if line.startswith("map_Kd")]
    assert maps and all((out.parent / m).is_file() for m in maps)


@pytest.mark.parametrize("fmt", ["USD", "USDZ"])
def test_usd_and_usdz(head, tmp_path: Path, fmt: str) -> None:
    out = _export(fmt, tmp_path / "usd" / "avatar")
    assert out.stat().st_size > 20_000
    if fmt == "USDZ":
        with zipfile.ZipFile(out) as zf:
            names = zf.namelist()
        assert any(n.endswith(".usdc") for n in names) and any(n.endswith(".png") for n in names)
    else:
        assert any(p.suffix == ".png" for p in out.parent.rglob("*"))  # textures written beside it


def test_export_needs_a_head(empty_scene, tmp_path: Path) -> None:
    assert not bpy.ops.ffhquv.export_avatar.poll()
