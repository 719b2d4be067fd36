"""What to process: a folder walked recursively, or a manifest (CSV, JSON lines, Parquet).

A manifest has a ``path`` column (absolute, or relative to the manifest's folder), an optional ``id``
column and any metadata columns (kept in the row's ``meta_json``). Ids are made safe for file and tar
member names: ``[A-Za-z0-9_-]`` only (a folder's ids come from the relative path, e.g.
``people/ann.jpg`` -> ``people__ann_jpg``); a duplicate id gets ``-2``, ``-3``... in source order.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from engine.errors import InputError

__all__ = ["SourceItem", "iter_source", "safe_id", "content_hash", "IMAGE_EXTENSIONS"]

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".bmp", ".ppm", ".pgm", ".pnm",
                              ".gif", ".jp2", ".heic", ".heif"})
_MANIFEST_EXTENSIONS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}


@dataclass(frozen=True)
class SourceItem:
    """One input: ``id`` (safe), ``path`` (absolute), ``meta`` (manifest columns other than path/id)."""

    id: str
    path: str
    meta: dict[str, Any] = field(default_factory=dict)


def safe_id(text: str) -> str:
    """``text`` -> ``[A-Za-z0-9_-]+`` (runs of other characters become one ``_``), at most 120 characters
    (longer ids keep 100 characters plus a 16-hex digest so they stay unique)."""
    out = re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_") or "item"
    if len(out) > 120:
        out = out[:100] + "_" + hashlib.sha256(text.encode()).hexdigest()[:16]
    return out


def content_hash(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """sha256 hex of the file's bytes; ``""`` when it cannot be read (the item then fails as an input error)."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            while block := fh.read(chunk):
                digest.update(block)
    except OSError:
        return ""
    return digest.hexdigest()


def iter_source(source: str | os.PathLike) -> Iterator[SourceItem]:
    """Yields the items of a folder (recursive, top-down, names sorted; image extensions; hidden entries
    skipped) or a manifest. Raises :class:`InputError` when ``source`` is neither."""
    src = Path(source).expanduser().resolve()
    if src.is_dir():
        raw = _walk(src)
    elif src.is_file() and src.suffix.lower() in _MANIFEST_EXTENSIONS:
        raw = _manifest(src, _MANIFEST_EXTENSIONS[src.suffix.lower()])
    elif src.exists():
        raise InputError(f"{src} is not a folder or a manifest (.csv, .jsonl, .parquet)")
    else:
        raise InputError(f"source {src} does not exist")
    seen: dict[str, int] = {}
    for ident, path, meta in raw:
        base = safe_id(ident)
        count = seen.get(base, 0) + 1
        seen[base] = count
        yield SourceItem(base if count == 1 else f"{base}-{count}", path, meta)


def _walk(root: Path) -> Iterator[tuple[str, str, dict]]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith(".") or Path(name).suffix.lower() not in IMAGE_EXTENSIONS:
                continue
            path = Path(dirpath) / name
            yield path.relative_to(root).as_posix(), str(path), {}


def _manifest(path: Path, kind: str) -> Iterator[tuple[str, str, dict]]:
    for number, record in enumerate(_records(path, kind), start=1):
        if not isinstance(record, dict) or not record.get("path"):
            raise InputError(f"{path}: row {number} has no 'path'")
        file = Path(str(record["path"])).expanduser()
        file = file if file.is_absolute() else path.parent / file
        ident = str(record["id"]) if record.get("id") not in (None, "") else Path(str(record["path"])).as_posix()
        meta = {k: v for k, v in record.items() if k not in ("path", "id")}
        yield ident, str(file.resolve()), meta


def _records(path: Path, kind: str) -> Iterator[dict]:
    if kind == "csv":
        with open(path, newline="", encoding="utf-8") as fh:
            yield from csv.DictReader(fh)
    elif kind == "jsonl":
        with open(path, encoding="utf-8") as fh:
            for number, line in enumerate(fh, start=1):
                if line.strip():
                    try:
                        yield json.loads(line)
                    except json.JSONDecodeError as err:
                        raise InputError(f"{path}: line {number} is not JSON: {err}") from err
    else:
        try:
            import pyarrow.parquet as pq
        except ImportError as err:  # pragma: no cover - pyarrow is in requirements-dataset.txt
            raise InputError("a Parquet manifest needs pyarrow", hint="pip install -r requirements-dataset.txt") from err
        for batch in pq.ParquetFile(path).iter_batches(batch_size=4096):
            yield from batch.to_pylist()
