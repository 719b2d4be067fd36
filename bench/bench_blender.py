"""Figures for the Blender add-on (prints; no assertions). Run with a bpy venv's Python:

    .venv-bpy50/bin/python bench/bench_blender.py [ENGINE_OUTPUT_DIR] [--tile 256 --samples 16]

Without a folder it uses a stand-in head (tools/make_fake_engine_output.py). Measures: the no-wheels zip
build, reading head_mesh.npz, building the objects (mesh, UVs, 52 shape keys, materials, camera),
one Cycles preview tile per lighting preset, the 4-preset preview sheet, and each export format.
Timings on a shared machine vary a lot; run twice and read the second.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _timed(label: str, fn, *args, **kwargs):
    started = time.perf_counter()
    value = fn(*args, **kwargs)
    print(f"{label:<44} {time.perf_counter() - started:8.3f} s", flush=True)
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("result", nargs="?", type=Path)
    parser.add_argument("--tile", type=int, default=256)
    parser.add_argument("--samples", type=int, default=16)
    args = parser.parse_args(argv)
    os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="ffhquv_bench_user_"))
    sys.path[:0] = [str(ROOT), str(ROOT / "tools")]
    import bpy

    import build
    import ffhquv_blender
    from ffhquv_blender import export, preview, result_data, scene

    work = Path(tempfile.mkdtemp(prefix="ffhquv_bench_"))
    print(f"Blender {bpy.app.version_string}, {os.cpu_count()} CPUs")
    zip_path = _timed("build.py --no-wheels", build.build, no_wheels=True, out_dir=work, staging=work / "stage")
    print(f"{'  zip size':<44} {zip_path.stat().st_size / 1e6:8.2f} MB")
    folder = args.result
    if folder is None:
        from make_fake_engine_output import make_fake_output

        folder = _timed("fake engine output (1024² maps)", make_fake_output, work / "fake")
    ffhquv_blender.register()
    try:
        bpy.ops.wm.read_homefile(use_empty=True)
        result = _timed("load_result (npz + params)", result_data.load_result, folder)
        mesh = result.mesh
        print(f"{'  vertices / faces / shape keys':<44} {len(mesh.vertices)} / {len(mesh.faces)} / "
              f"{len(mesh.blendshape_names)}")
        options = scene.ImportOptions(name="bench", photo=result.params.photo)
        imported = _timed("import_result (objects, keys, materials)", scene.import_result, bpy.context.scene,
                          result, options)
        head = imported.head
        sc = bpy.context.scene
        for preset in ("three_point", "studio", "night"):
            sheet = _timed(f"Cycles tile {args.tile}² {args.samples} spp: {preset}", preview.render_preview_sheet,
                           sc, head, [preset], args.tile, args.samples, "CYCLES", work / f"tile_{preset}.png")
        sheet = _timed("preview sheet, 4 presets", preview.render_preview_sheet, sc, head,
                       ["three_point", "studio", "forest", "sunset"], args.tile, args.samples, "CYCLES",
                       work / "sheet.png")
        print(f"{'  sheet':<44} {sheet.path}")
        bpy.context.view_layer.update()
        for fmt in ("GLB", "FBX", "OBJ", "USD", "USDZ"):
            out = _timed(f"export {fmt}", export.export_avatar, bpy.context, preview.head_objects(head), fmt,
                         work / "export" / fmt.lower() / "avatar")
            print(f"{'  size':<44} {out.stat().st_size / 1e6:8.2f} MB")
    finally:
        ffhquv_blender.unregister()  # bpy 4.2 segfaults at exit with operator classes still registered
    print(f"outputs in {work}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
