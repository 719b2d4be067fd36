"""Relight previews: lighting presets, engine switch, the Cycles preview sheet, and an Eevee render
(in a subprocess: without a usable GL driver Eevee aborts the whole process)."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import bpy
import numpy as np
import pytest

from ffhquv_bl_testutil import REPO, submodule

pytestmark = pytest.mark.usefixtures("installed")


@pytest.fixture()
def head(empty_scene, fake_result: Path) -> bpy.types.Object:
    assert bpy.ops.ffhquv.import_result(directory=str(fake_result), name="astronaut", add_camera=False) == {"FINISHED"}
    return bpy.data.objects["astronaut"]


def test_apply_lighting_presets(head) -> None:
    scene = bpy.context.scene
    assert bpy.ops.ffhquv.apply_lighting(preset="sunset", strength=1.5) == {"FINISHED"}
    env = next(n for n in scene.world.node_tree.nodes if n.type == "TEX_ENVIRONMENT")
    assert Path(env.image.filepath).name == "sunset.exr" and env.image.size[0] > 0
    assert next(n for n in scene.world.node_tree.nodes if n.type == "BACKGROUND").inputs["Strength"].default_value == 1.5
    assert bpy.ops.ffhquv.apply_lighting(preset="three_point") == {"FINISHED"}
    lights = [o for o in scene.objects if o.type == "LIGHT"]
    assert len(lights) == 3 and not lights[0].users_collection[0].hide_render
    for light in lights:  # every light aims at the head (its -Z axis points to the head centre)
        to_head = (head.matrix_world.translation - light.matrix_world.translation).normalized()
        aim = -(light.matrix_world.to_3x3().col[2]).normalized()
        assert to_head.dot(aim) > 0.95
    assert bpy.ops.ffhquv.apply_lighting(preset="studio") == {"FINISHED"}
    assert lights[0].users_collection[0].hide_render  # the rig is off under an HDRI
    assert bpy.ops.ffhquv.apply_lighting(preset="three_point") == {"FINISHED"}
    assert len([o for o in scene.objects if o.type == "LIGHT"]) == 3  # reused, not duplicated


def test_render_engine_switch(head) -> None:
    scene = bpy.context.scene
    bpy.ops.ffhquv.set_render_engine(engine="EEVEE")
    assert scene.render.engine == ("BLENDER_EEVEE_NEXT" if bpy.app.version < (5, 0, 0) else "BLENDER_EEVEE")
    bpy.ops.ffhquv.set_render_engine(engine="CYCLES")
    assert scene.render.engine == "CYCLES"


def _head_mask(tile: np.ndarray) -> np.ndarray:
    background = submodule("preview").TILE_BACKGROUND
    return np.abs(tile[..., :3] - background).max(axis=-1) > 0.02


def test_cycles_preview_sheet_lights_the_head_differently(head, tmp_path: Path) -> None:
    scene = bpy.context.scene
    preview = submodule("preview")
    before = (scene.render.engine, scene.render.resolution_x, scene.world, scene.camera, len(bpy.data.objects))
    sheet = preview.render_preview_sheet(scene, head, ["three_point", "night"], tile=96, samples=8,
                                         engine="CYCLES", path=tmp_path / "sheet.png")
    assert sheet.path.is_file() and sheet.path.stat().st_size > 5000
    assert (scene.render.engine, scene.render.resolution_x, scene.world, scene.camera, len(bpy.data.objects)) == before
    pixels = sheet.pixels
    assert pixels.shape[1] == 2 * 96 + 3 * 4 and pixels.shape[0] > 96
    tiles = [pixels[4:100, 4:100, :3], pixels[4:100, 104:200, :3]]
    masks = [_head_mask(t) for t in tiles]
    for mask, tile in zip(masks, tiles):
        assert 0.15 < mask.mean() < 0.9, "the head should fill a good part of the tile"
        assert tile[mask].std() > 0.03, "a lit head has shading, not one flat colour"
    both = masks[0] & masks[1]
    difference = np.abs(tiles[0][both] - tiles[1][both]).mean()
    assert difference > 0.05, f"three-point vs night lighting differ by only {difference:.3f}"
    assert tiles[0][both].mean() > tiles[1][both].mean()  # the studio rig is brighter than night
    label_rows = pixels[100:, 4:100, :3]
    assert label_rows.max() > 0.9  # the label text is drawn


def test_preview_sheet_operator(head, tmp_path: Path) -> None:
    scene = bpy.context.scene
    settings = scene.ffhquv
    settings.sheet_presets, settings.sheet_tile, settings.sheet_samples = {"studio"}, 64, 4
    scene.render.engine = "CYCLES"
    bpy.context.view_layer.objects.active = head.children[0]  # a part selects its head
    out = tmp_path / "op_sheet.png"
    assert bpy.ops.ffhquv.preview_sheet(filepath=str(out)) == {"FINISHED"}
    assert out.is_file()
    image = next(i for i in bpy.data.images if i.get("ffhquv_sheet"))
    assert tuple(image.size)[0] == 64 + 2 * 4


EEVEE_SCRIPT = textwrap.dedent("""
    import os, sys, tempfile
    os.environ["BLENDER_USER_RESOURCES"] = tempfile.mkdtemp()
    sys.path.insert(0, sys.argv[1])
    import bpy
    import ffhquv_blender
    from ffhquv_blender import lighting, preview
    ffhquv_blender.register()
    bpy.ops.wm.read_homefile(use_empty=True)
    bpy.ops.ffhquv.import_result(directory=sys.argv[2], name="head", add_camera=False)
    head = bpy.data.objects["head"]
    sheet = preview.render_preview_sheet(bpy.context.scene, head, ["three_point"], tile=64, samples=4,
                                         engine="EEVEE", path=__import__("pathlib").Path(sys.argv[3]))
    print("EEVEE_ENGINE", lighting.eevee_engine_id(), "MEAN", float(sheet.pixels[..., :3].mean()))
    ffhquv_blender.unregister()  # bpy 4.2 segfaults at exit with operator classes still registered
""")


def test_eevee_render_in_a_subprocess(fake_result: Path, tmp_path: Path) -> None:
    out = tmp_path / "eevee.png"
    env = dict(os.environ, MESA_SHADER_CACHE_DIR=str(Path.home() / ".cache" / "ffhquv_mesa_shaders"))
    proc = subprocess.run([sys.executable, "-c", EEVEE_SCRIPT, str(REPO), str(fake_result), str(out)],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, f"Eevee render failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}"
    assert out.is_file()
    image = bpy.data.images.load(str(out))
    pixels = np.empty(image.size[0] * image.size[1] * 4, np.float32)
    image.pixels.foreach_get(pixels)
    tile = pixels.reshape(image.size[1], image.size[0], 4)[::-1][4:68, 4:68, :3]
    mask = _head_mask(tile)
    assert 0.15 < mask.mean() < 0.9 and tile[mask].std() > 0.03
