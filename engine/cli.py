"""`ffhquv reconstruct PHOTO -o OUTDIR` (also `python -m engine reconstruct ...`)."""
from __future__ import annotations

import argparse
import os
import sys
import traceback
from pathlib import Path

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ffhquv", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("reconstruct", help="reconstruct a textured head from one face photo")
    rec.add_argument("photo", nargs="?", help="the face photo (JPEG, PNG, TIFF, WebP, ...)")
    rec.add_argument("--demo", action="store_true",
                     help="use the built-in public-domain demo photo (scikit-image's astronaut)")
    rec.add_argument("-o", "--output", required=True, help="output folder (created; must not exist unless --overwrite)")
    rec.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    rec.add_argument("--texture-size", type=int, choices=(1024, 2048), default=1024)
    rec.add_argument("--quality", choices=("fast", "best"), default="fast")
    rec.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    rec.add_argument("--expression", choices=("keep", "neutral"), default="keep",
                     help="head.obj with the photo's expression (keep) or neutral; both are in head_mesh.npz")
    rec.add_argument("--no-texture", action="store_true", help="geometry only (skip the texture stages)")
    rec.add_argument("--progress", choices=("bar", "json", "none"), default="bar",
                     help="progress as a terminal bar (stderr) or JSON lines on stdout (for the Blender add-on)")
    rec.add_argument("--debug", action="store_true", help="print tracebacks of internal errors")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from engine.progress import make_progress

    progress = make_progress("quiet" if args.progress == "none" else args.progress)
    _cancel_on_sigterm()
    try:
        return _reconstruct(args, progress)
    except KeyboardInterrupt:
        progress.emit({"stage": "error", "fraction": 1.0, "message": "cancelled", "kind": "Cancelled"})
        print("ffhquv: cancelled", file=sys.stderr)
        return 130
    except Exception as err:  # noqa: BLE001 - the one place that turns errors into a user message
        from engine.errors import EngineError

        progress.close()
        if isinstance(err, EngineError):
            message, code = err.user_message(), err.exit_code
        else:
            message, code = f"internal error: {type(err).__name__}: {err}", 70
            if args.debug or os.environ.get("FFHQUV_DEBUG"):
                traceback.print_exc()
        progress.emit({"stage": "error", "fraction": 1.0, "message": message, "kind": type(err).__name__})
        print(f"ffhquv: {message}", file=sys.stderr)
        return code


def _cancel_on_sigterm() -> None:
    """SIGTERM (the Blender add-on's Cancel) becomes KeyboardInterrupt, so the temporary output folder is
    removed and the process exits 130 like a Ctrl-C."""
    import signal

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread (embedded use): keep the default
        pass


def _reconstruct(args: argparse.Namespace, progress) -> int:
    from engine.api import ReconstructOptions, reconstruct, write_outputs
    from engine.errors import InputError

    if args.demo == bool(args.photo):
        raise InputError("give exactly one of PHOTO or --demo")
    output = Path(args.output)
    if output.exists() and not args.overwrite and (not output.is_dir() or any(output.iterdir())):
        raise InputError(f"output folder {output} already exists", hint="use --overwrite or another folder")
    options = ReconstructOptions(
        texture_size=args.texture_size,
        quality=args.quality,
        device=args.device,
        expression=args.expression,
        with_texture=not args.no_texture,
    )
    photo = args.photo or _demo_photo()
    result = reconstruct(photo, options, progress=progress)
    final = write_outputs(result, output, progress=progress)
    progress.close()
    for warning in result.warnings:
        print(f"ffhquv: warning: {warning}", file=sys.stderr)
    progress.emit({"stage": "done", "fraction": 1.0, "output": str(final.resolve()), "message": "done",
                   "warnings": result.warnings})
    if args.progress != "json":
        print(final)
    return 0


def _demo_photo() -> Path:
    """scikit-image's astronaut (public domain, NASA), written once to a cache file."""
    from engine.errors import InputError

    try:
        from skimage import data
    except ImportError as err:
        raise InputError("the demo photo needs scikit-image", hint="pip install scikit-image") from err
    from PIL import Image

    cache = Path(os.environ.get("FFHQUV_CACHE", Path.home() / ".cache" / "ffhquv"))
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / "astronaut.png"
    if not path.exists():
        Image.fromarray(data.astronaut()).save(path)
    return path


if __name__ == "__main__":
    sys.exit(main())
