"""The output folder: checked before any work, written into a temporary sibling, published by a rename.

* :func:`check_output` runs first (no torch import, well under a second): an output that exists (unless
  ``overwrite``) or a place where nothing can be created (``/proc/x``, a read-only disk, a file in the
  way) is an :class:`engine.errors.OutputError` (exit code 2) before the photo is even read.
* :func:`staging_folder` makes the temporary sibling ``.NAME.XXXXXXXX`` with the permissions of a
  ``mkdir`` under the user's umask (``tempfile.mkdtemp`` alone gives 0700) and removes it on any error,
  cancel included.
* :func:`publish` renames it to ``NAME``, replacing an existing folder *or file* (``--overwrite``)
  without leaving the old one behind.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from engine.errors import OutputError

__all__ = ["check_output", "staging_folder", "publish", "STAGING_PREFIX"]

STAGING_PREFIX = "."
"""Temporary siblings are named ``.<output name>.<random>`` (callers that kill the engine may remove them)."""

_FULL_ACCESS = 0o777


def check_output(output: str | os.PathLike, overwrite: bool) -> Path:
    """The absolute output path, after checking it can be written. Raises :class:`OutputError`.

    An existing empty folder is fine; an existing non-empty folder or a file needs ``overwrite``.
    The nearest existing ancestor must accept a new folder (probed by creating and removing one).
    """
    path = Path(output).expanduser().absolute()
    if path.exists() and not overwrite and (not path.is_dir() or any(path.iterdir())):
        raise OutputError(f"output folder {path} already exists", hint="use --overwrite or another folder")
    ancestor = _nearest_existing(path.parent)
    if not ancestor.is_dir():
        raise OutputError(f"cannot create the output folder {path}: {ancestor} is not a folder")
    _probe_writable(ancestor, path)
    return path


def _nearest_existing(folder: Path) -> Path:
    while not folder.exists() and folder.parent != folder:
        folder = folder.parent
    return folder


def _probe_writable(folder: Path, output: Path) -> None:
    try:
        probe = tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{output.name}.probe-", dir=folder)
    except OSError as err:
        raise OutputError(f"cannot write the output folder {output}: {err.strerror or err}",
                          hint="choose a folder you can write to") from err
    os.rmdir(probe)


def _read_umask() -> int:
    """The process umask (read once, at import, before any helper thread runs: reading it means setting it)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


@contextmanager
def staging_folder(output: Path) -> Iterator[Path]:
    """A fresh temporary sibling of ``output`` (parents created), removed if the block raises anything."""
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{output.name}.", dir=output.parent))
    try:
        os.chmod(tmp, _FULL_ACCESS & ~_UMASK)
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def publish(tmp: Path, output: Path) -> Path:
    """Rename ``tmp`` to ``output``; an existing ``output`` (folder or file) is moved aside first and
    deleted after the rename, so the folder is never half-written and nothing old is left behind."""
    if not output.exists() and not output.is_symlink():
        tmp.rename(output)
        return output
    old = output.with_name(f"{STAGING_PREFIX}{output.name}.old-{os.getpid()}")
    output.rename(old)
    try:
        tmp.rename(output)
    except OSError:
        old.rename(output)
        raise
    _remove(old)
    return output


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
