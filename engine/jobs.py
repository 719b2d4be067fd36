"""One reconstruction job as the command line and ``serve`` mode both run it: typed request, checks, run.

``ffhquv reconstruct`` builds a :class:`ReconstructJob` from its arguments, ``ffhquv serve`` from a JSON
``reconstruct`` command; both call :func:`prepare` (cheap checks, before any work) and :func:`run_job`,
and turn errors into one line with :func:`describe_error`.
"""
from __future__ import annotations

import os
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from engine.errors import EngineError, InputError, ProtocolError

__all__ = ["ReconstructJob", "JobResult", "ErrorReport", "prepare", "run_job", "describe_error", "demo_photo",
           "DEMO_CACHE", "INTERNAL_ERROR_EXIT"]

INTERNAL_ERROR_EXIT = 70
"""Exit code for an error that is the engine's fault (a bug), as sysexits' EX_SOFTWARE."""

DEMO_CACHE = Path.home() / ".cache" / "ffhquv"
"""Where ``--demo`` writes its photo (``astronaut.png``) once; ``FFHQUV_CACHE`` overrides it."""

_OPTION_KEYS = ("texture_size", "quality", "device", "expression")


@dataclass(frozen=True)
class ReconstructJob:
    """``photo`` (a file) or ``demo``; ``output`` folder; options as :class:`engine.api.ReconstructOptions`."""

    output: Path
    photo: Path | None = None
    demo: bool = False
    overwrite: bool = False
    texture_size: int = 1024
    quality: str = "fast"
    device: str = "auto"
    expression: str = "keep"
    with_texture: bool = True

    @classmethod
    def from_command(cls, args: Mapping[str, Any]) -> "ReconstructJob":
        """From a ``serve`` mode ``reconstruct`` object. Raises :class:`ProtocolError` on missing/odd fields."""
        if not args.get("output"):
            raise ProtocolError("a reconstruct command needs 'output'")
        if not args.get("photo") and not args.get("demo"):
            raise ProtocolError("a reconstruct command needs 'photo' (or 'demo': true)")
        try:
            options = {k: (int(args[k]) if k == "texture_size" else str(args[k])) for k in _OPTION_KEYS if k in args}
        except (TypeError, ValueError) as err:
            raise ProtocolError(f"bad option in reconstruct command: {err}") from err
        return cls(output=Path(str(args["output"])), photo=Path(str(args["photo"])) if args.get("photo") else None,
                   demo=bool(args.get("demo", False)), overwrite=bool(args.get("overwrite", False)),
                   with_texture=not bool(args.get("no_texture", False)), **options)

    def options(self):
        """The :class:`engine.api.ReconstructOptions` (validated: raises InputError)."""
        from engine.api import ReconstructOptions

        return ReconstructOptions(texture_size=self.texture_size, quality=self.quality, device=self.device,
                                  expression=self.expression, with_texture=self.with_texture)


@dataclass(frozen=True)
class JobResult:
    output: Path
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ErrorReport:
    """One error as the user sees it: ``message`` (one line), ``exit_code``, ``kind`` (class name)."""

    message: str
    exit_code: int
    kind: str

    def record(self) -> dict[str, Any]:
        """The final ``--progress json`` line."""
        return {"stage": "error", "fraction": 1.0, "message": self.message, "kind": self.kind}


def prepare(job: ReconstructJob) -> Path:
    """Checks that need no photo and no torch (well under a second): photo xor demo, options, and that the
    output folder can be written. Returns the absolute output path. Raises InputError / OutputError."""
    from engine.outdir import check_output

    if job.demo == (job.photo is not None):
        raise InputError("give exactly one of PHOTO or --demo")
    job.options()
    return check_output(job.output, job.overwrite)


def run_job(job: ReconstructJob, progress) -> JobResult:
    """Reconstruct and write the output folder; ``progress(stage, fraction, message)`` is the cancellation
    point (it may raise :class:`engine.errors.Cancelled`)."""
    from engine.api import reconstruct, write_outputs

    output = prepare(job)
    photo = job.photo if job.photo is not None else demo_photo()
    result = reconstruct(photo, job.options(), progress=progress)
    final = write_outputs(result, output, progress=progress)
    return JobResult(output=final.resolve(), warnings=list(result.warnings))


def describe_error(err: BaseException, debug: bool = False) -> ErrorReport:
    """Any exception -> one line for the user. Engine errors carry their message and exit code; anything
    else is an internal error (exit 70), whose traceback goes to stderr only with ``debug``."""
    if isinstance(err, EngineError):
        return ErrorReport(err.user_message(), err.exit_code, type(err).__name__)
    if debug or os.environ.get("FFHQUV_DEBUG"):
        traceback.print_exception(err)
    return ErrorReport(f"internal error: {type(err).__name__}: {err}", INTERNAL_ERROR_EXIT, type(err).__name__)


def demo_photo() -> Path:
    """scikit-image's astronaut (public domain, NASA), written once to ``$FFHQUV_CACHE`` or ``~/.cache/ffhquv``."""
    try:
        from skimage import data
    except ImportError as err:
        raise InputError("the demo photo needs scikit-image", hint="pip install scikit-image") from err
    from PIL import Image

    cache = Path(os.environ.get("FFHQUV_CACHE", DEMO_CACHE))
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / "astronaut.png"
    if not path.exists():
        Image.fromarray(data.astronaut()).save(path)
    return path
