"""Figures for the Blender add-on (prints; no assertions). Run with a bpy venv's Python:

    .venv-bpy50/bin/python bench/bench_blender.py [ENGINE_OUTPUT_DIR] [--tile 256 --samples 16]
    .venv-bpy50/bin/python bench/bench_blender.py --engine real [--photo PHOTO]   # the warm engine only

Without a folder it uses a stand-in head (tools/make_fake_engine_output.py). Measures: the no-wheels zip
build, reading head_mesh.npz, building the objects (mesh, UVs, 52 shape keys, materials, camera),
one Cycles preview tile per lighting preset, the 4-preset preview sheet, and each export format.
With ``--engine real`` (the repository's engine run by the main .venv) or ``fake``: the Reconstruct
operator in one Blender session: with an engine that starts (what every Reconstruct cost before the
engine stayed warm) against a second one on the warm engine, ``--rounds`` pairs, medians compared
(target: second <= 60 % of first), Cancel latency in the middle of the fit and of the texture (target
< 1 s, no files left), and recovery from ``kill -9`` of the engine (an error in the panel, then a
Reconstruct that works).
Timings on a shared machine vary a lot; run twice and read the second.
"""
from __future__ import annotations

import argparse
import os
import signal
import statistics
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
    parser.add_argument("--engine", choices=("real", "fake"), help="measure the warm engine (only that)")
    parser.add_argument("--photo", type=Path, help="photo for --engine (default: the astronaut)")
    parser.add_argument("--rounds", type=int, default=3, help="--engine: (starting, warm) Reconstruct pairs")
    args = parser.parse_args(argv)
    os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="ffhquv_bench_user_"))
    sys.path[:0] = [str(ROOT), str(ROOT / "tools")]
    if args.engine:
        return bench_engine(args.engine, args.photo, args.rounds)
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


# ----------------------------------------------------------------------------- the warm engine

TEXTURE_CANCEL_AT = ("texture", 0.2)  # the de-lighting: seconds between two progress reports (worst case)
FIT_CANCEL_AT = ("fit", 0.3)


def bench_engine(kind: str, photo: Path | None, rounds: int) -> int:
    """Reconstruct with a starting engine and again with the warm one (``rounds`` times), cancel twice, survive
    a kill -9: all in one Blender session, through the operators. A starting engine is what every
    Reconstruct cost before the engine stayed warm."""
    import bpy

    import ffhquv_blender
    from ffhquv_blender import engine_session, operators

    os.environ["FFHQUV_ENGINE_PYTHON"] = str(ROOT / ".venv" / "bin" / "python") if kind == "real" else sys.executable
    os.environ["FFHQUV_ENGINE_PATH"] = str(ROOT if kind == "real" else ROOT / "tests" / "blender" / "fake_engine")
    os.environ.setdefault("FFHQUV_FAKE_DELAY", "0.3")
    photo = photo or next(ROOT.glob(".venv/lib/python3*/site-packages/skimage/data/astronaut.png"))
    print(f"Blender {bpy.app.version_string}, {os.cpu_count()} CPUs, {kind} engine, photo {photo.name}")
    ffhquv_blender.register()
    try:
        bpy.ops.wm.read_homefile(use_empty=True)
        bpy.context.scene.ffhquv.photo_path = str(photo)
        cold, warm = [], []
        for index in range(1, rounds + 1):  # alternating, so that a drifting machine load hits both alike
            engine_session.SESSION.shutdown()
            cold.append(_timed(f"Reconstruct, engine starts (round {index})", _reconstruct))
            server = engine_session.SESSION.server
            warm.append(_timed(f"Reconstruct again, warm engine (round {index})", _reconstruct))
            assert engine_session.SESSION.server is server and server.alive, "the engine was not reused"
        first, second = statistics.median(cold), statistics.median(warm)
        print(f"{'  median first / second':<44} {first:8.3f} s {second:8.3f} s")
        print(f"{'  second / first (target <= 0.60)':<44} {second / first:8.2f}")
        for stage, fraction in (FIT_CANCEL_AT, TEXTURE_CANCEL_AT):
            _bench_cancel(operators, stage, fraction)
        _bench_crash(operators, engine_session)
    finally:
        ffhquv_blender.unregister()
    return 0


def _reconstruct() -> float:
    import bpy

    started = time.perf_counter()
    if bpy.ops.ffhquv.reconstruct() != {"FINISHED"}:
        raise SystemExit(bpy.context.window_manager.ffhquv_job.error)
    return time.perf_counter() - started


def _start_until(operators, stage: str, fraction: float):
    """Start an interactive Reconstruct and follow it until ``stage`` reaches ``fraction``; returns the job."""
    import bpy

    assert bpy.ops.ffhquv.reconstruct(mode="ASYNC") == {"FINISHED"}
    job = operators.active_job().job
    while not (job.stage == stage and job.fraction >= fraction):
        job.poll()
        if not job.running:
            raise SystemExit(f"the job ended before {stage} {fraction}: {job.state} {job.failure}")
        time.sleep(0.01)
    return job


def _bench_cancel(operators, stage: str, fraction: float) -> None:
    import bpy

    job = _start_until(operators, stage, fraction)
    parent = job.request.output_dir.parent
    started = time.perf_counter()
    bpy.ops.ffhquv.cancel()
    elapsed = time.perf_counter() - started
    leftovers = [p.name for p in parent.iterdir() if p.name.startswith(f".{job.request.output_dir.name}")]
    leftovers += [job.request.output_dir.name] if job.request.output_dir.exists() else []
    print(f"{f'Cancel during {stage} {fraction:g} (target < 1 s)':<44} {elapsed:8.3f} s  "
          f"engine {'still warm' if job.process.poll() is None else 'killed'}, "
          f"files left: {leftovers or 'none'}", flush=True)


def _bench_crash(operators, engine_session) -> None:
    import bpy

    job = _start_until(operators, *FIT_CANCEL_AT)
    os.kill(job.process.pid, signal.SIGKILL)
    while operators.tick_active_job() is not None:  # timers never fire in module mode: tick by hand
        time.sleep(0.05)
    if bpy.app.timers.is_registered(operators.tick_active_job):
        bpy.app.timers.unregister(operators.tick_active_job)
    print(f"{'kill -9 of the engine: panel error':<44} {bpy.context.window_manager.ffhquv_job.error[:70]}")
    after = _timed("Reconstruct after the kill (engine restarts)", _reconstruct)
    restarted = engine_session.SESSION.server
    print(f"{'  new engine process':<44} {'yes' if restarted.pid != job.process.pid else 'NO':>8}  ({after:.1f} s)")


if __name__ == "__main__":
    raise SystemExit(main())
