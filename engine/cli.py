"""`ffhquv reconstruct PHOTO -o OUTDIR` (also `python -m engine reconstruct ...`), and `ffhquv serve`."""
from __future__ import annotations

import argparse
import os
import sys

from engine.control import RunControl
from engine.errors import Cancelled
from engine.jobs import DEMO_CACHE

__all__ = ["main", "run", "build_parser"]

CANCELLED_EXIT = Cancelled.exit_code

_EPILOG = """exit codes: 0 done, 2 bad input or unwritable output, 3 no face, 4 face too small, 5 fit failed,
70 internal error, 130 cancelled (Ctrl-C, SIGTERM, or a "cancel" line on stdin with --progress json)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ffhquv", description=__doc__, epilog=_EPILOG)
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("reconstruct", help="reconstruct a textured head from one face photo", epilog=_EPILOG)
    rec.add_argument("photo", nargs="?", help="the face photo (JPEG, PNG, TIFF, WebP, ...)")
    rec.add_argument("--demo", action="store_true",
                     help="use the built-in public-domain demo photo (scikit-image's astronaut); it is written "
                          f"once to {DEMO_CACHE}/astronaut.png (FFHQUV_CACHE overrides the folder)")
    rec.add_argument("-o", "--output", required=True,
                     help="output folder (created; must not exist, or be empty, unless --overwrite); checked "
                          "before any work")
    rec.add_argument("--overwrite", action="store_true",
                     help="replace an existing output folder or file (only once the new folder is complete)")
    rec.add_argument("--texture-size", type=int, choices=(1024, 2048, 4096), default=1024,
                     help="texels per side of the albedo, normal and roughness maps (default 1024; 2048 and "
                          "4096 are analysed at 1024 and get the photo's full-resolution detail; 4096 takes "
                          "about 4 s more on 2 cores)")
    rec.add_argument("--quality", choices=("fast", "best"), default="fast",
                     help="fast (default): the standard fitting schedule, a few seconds; best: more landmark "
                          "and photometric iterations at a larger render size (slower)")
    rec.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                     help="where the renders run: auto picks CUDA when torch sees a CUDA device (nvdiffrast "
                          "when installed), else the CPU; cuda without one is an error. GPU path implemented, not "
                          "yet verified on a GPU (the CPU is the tested path); params.json says what ran")
    rec.add_argument("--expression", choices=("keep", "neutral"), default="keep",
                     help="head.obj with the photo's expression (keep) or neutral; both are in head_mesh.npz")
    rec.add_argument("--no-texture", action="store_true", help="geometry only (skip the texture stages)")
    rec.add_argument("--progress", choices=("bar", "json", "none"), default="bar",
                     help="a terminal bar (stderr), or JSON lines on stdout for programs (the Blender add-on); "
                          "with json the engine also reads commands on stdin (a 'cancel' line stops it)")
    rec.add_argument("--debug", action="store_true",
                     help="print tracebacks of internal errors and MediaPipe's native log lines")
    sub.add_parser("dataset", help="build / filter / report / pca / sample / export a UV-texture dataset from "
                   "many photos (`ffhquv dataset --help`; docs/dataset.md)", add_help=False)
    srv = sub.add_parser("serve", help="stay loaded and run reconstructions sent as JSON lines on stdin "
                                       "(the Blender add-on's warm engine; see engine/serve.py)")
    srv.add_argument("--debug", action="store_true",
                     help="print tracebacks of internal errors and MediaPipe's native log lines")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Runs one command; returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["dataset"]:  # its own argument parser: engine/dataset/cli.py
        from engine.dataset.cli import main as dataset_main

        return dataset_main(argv[1:])
    args = build_parser().parse_args(argv)
    from engine import native_logs

    debug = bool(args.debug or os.environ.get("FFHQUV_DEBUG"))
    native_logs.set_verbose(debug)
    _cancel_on_sigterm()
    if args.command == "serve":
        from engine.serve import serve

        return serve(debug)
    return _reconstruct_command(args, debug)


def run(argv: list[str] | None = None) -> None:
    """Program entry point (``ffhquv``, ``python -m engine``): :func:`main`, then exit. A cancelled run and a
    server that was told to stop leave without Python's interpreter teardown (torch's alone takes ~0.45 s),
    once stdout and stderr are flushed: nothing is left to write, and the caller waits for the exit."""
    argv = sys.argv[1:] if argv is None else argv
    code = main(argv)
    if code == CANCELLED_EXIT or argv[:1] == ["serve"]:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):  # the reading end is gone
                pass
        os._exit(code)
    sys.exit(code)


def _reconstruct_command(args: argparse.Namespace, debug: bool) -> int:
    from engine.jobs import describe_error
    from engine.progress import make_progress

    control = RunControl()
    if args.progress == "json":
        _read_commands(control)
    progress = make_progress("quiet" if args.progress == "none" else args.progress, check=control.check)
    try:
        with control.running():
            return _reconstruct(args, progress)
    except KeyboardInterrupt:
        err: BaseException = Cancelled()
    except Exception as caught:  # noqa: BLE001 - the one place that turns errors into a user message
        err = caught
    progress.close()
    report = describe_error(err, debug)
    progress.emit(report.record())
    print(f"ffhquv: {report.message}", file=sys.stderr)
    return report.exit_code


def _read_commands(control: RunControl) -> None:
    """``--progress json``: a ``cancel`` line on stdin stops the run (engine/control.py). The end of stdin
    means nothing here (a program may close it at once); invalid lines are ignored."""
    from engine.control import CommandReader, install_interrupt_handler

    install_interrupt_handler()

    def on_command(command) -> None:
        if command.name == "cancel":
            control.cancel()

    CommandReader(on_command).start()


def _cancel_on_sigterm() -> None:
    """SIGTERM becomes KeyboardInterrupt, so the temporary output folder is removed and the process exits
    130 like a Ctrl-C (POSIX; the cross-platform way is a ``cancel`` line on stdin)."""
    import signal

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread (embedded use): keep the default
        pass


def _reconstruct(args: argparse.Namespace, progress) -> int:
    from pathlib import Path

    from engine.jobs import ReconstructJob, run_job

    job = ReconstructJob(output=Path(args.output), photo=Path(args.photo) if args.photo else None, demo=args.demo,
                         overwrite=args.overwrite, texture_size=args.texture_size, quality=args.quality,
                         device=args.device, expression=args.expression, with_texture=not args.no_texture)
    result = run_job(job, progress)
    progress.close()
    for warning in result.warnings:
        print(f"ffhquv: warning: {warning}", file=sys.stderr)
    progress.emit({"stage": "done", "fraction": 1.0, "output": str(result.output), "message": "done",
                   "warnings": result.warnings})
    if args.progress != "json":
        print(result.output)
    return 0


if __name__ == "__main__":
    run()
