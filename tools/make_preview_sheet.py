"""Render the Cycles preview sheet of a reconstructed head under 4 lighting presets to a PNG.

Runs on Blender as a Python module (the `bpy` wheel), with the add-on straight from this repository:

    .venv-bpy50/bin/python tools/make_preview_sheet.py ENGINE_OUTPUT_DIR -o docs/preview_sheet.png
    .venv-bpy50/bin/python tools/make_preview_sheet.py --fake -o /tmp/sheet.png   # stand-in head

ENGINE_OUTPUT_DIR is a folder written by `python -m engine reconstruct PHOTO -o DIR`. The sheet is the same
one the add-on's "Preview Sheet" button renders (portrait camera, one tile per preset, labels).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PRESETS = ("three_point", "studio", "forest", "sunset")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("result", nargs="?", type=Path, help="engine output folder")
    parser.add_argument("--fake", action="store_true", help="use tools/make_fake_engine_output.py's stand-in head")
    parser.add_argument("-o", "--output", type=Path, default=Path("preview_sheet.png"))
    parser.add_argument("--presets", nargs="+", default=list(DEFAULT_PRESETS),
                        help="three_point, city, courtyard, forest, interior, night, studio, sunrise, sunset")
    parser.add_argument("--tile", type=int, default=384, help="tile size in pixels")
    parser.add_argument("--samples", type=int, default=32, help="Cycles samples per tile")
    args = parser.parse_args(argv)
    if (args.result is None) == (not args.fake):
        parser.error("give an engine output folder or --fake")

    os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="ffhquv_sheet_user_"))
    sys.path.insert(0, str(ROOT))
    import bpy

    import ffhquv_blender
    from ffhquv_blender import preview

    result = args.result
    if args.fake:
        sys.path.insert(0, str(ROOT / "tools"))
        from make_fake_engine_output import make_fake_output

        result = make_fake_output(Path(tempfile.mkdtemp(prefix="ffhquv_fake_")) / "out")
    ffhquv_blender.register()
    try:
        bpy.ops.wm.read_homefile(use_empty=True)
        bpy.ops.ffhquv.import_result(directory=str(result.resolve()), name="head", add_camera=False)
        head = next(o for o in bpy.data.objects if o.get("ffhquv_role") == "head")
        started = time.monotonic()
        sheet = preview.render_preview_sheet(bpy.context.scene, head, args.presets, args.tile, args.samples,
                                             "CYCLES", args.output.resolve())
        print(f"{sheet.path} ({sheet.pixels.shape[1]}x{sheet.pixels.shape[0]}, "
              f"{len(args.presets)} presets, {time.monotonic() - started:.1f} s)")
    finally:
        ffhquv_blender.unregister()  # bpy 4.2 segfaults at exit with operator classes still registered
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
