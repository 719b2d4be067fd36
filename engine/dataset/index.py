"""The index: committed rows as JSON-lines parts, compacted into one ``index.parquet``.

Crash safety: a part is written to ``parts/.tmp-*`` and ``os.replace``d into place, so a part is either
whole or absent (``kill -9`` at any moment leaves no half row). Compaction writes
``index.parquet.tmp``, replaces ``index.parquet``, then deletes the parts it merged; a crash in between
only leaves parts that merge again to the same rows (the latest ``committed_at`` per id wins), so
compaction is idempotent. Readers (:func:`read_rows`) merge the parquet file and any parts.
"""
from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from engine.errors import InputError

__all__ = ["IndexStore", "read_rows", "write_table", "open_dataset", "Dataset", "COLUMNS"]

COLUMNS: dict[str, str] = {
    "id": "string", "source_path": "string", "content_hash": "string", "status": "string", "error": "string",
    "image_width": "int64", "image_height": "int64", "face_size_px": "float64", "face_count": "int64",
    "yaw_deg": "float64", "pitch_deg": "float64", "roll_deg": "float64",
    "landmark_error_iod": "float64", "landmark_error_parametric_iod": "float64",
    "bs_error": "float64", "bs_counted_share": "float64", "filled_share_face": "float64",
    "coverage_face": "float64", "psnr_self_consistency": "float64",
    "confidence_mean": "float64", "confidence_share": "float64", "shadow_share": "float64",
    "occlusion_share": "float64", "skin_L": "float64", "skin_a": "float64", "skin_b": "float64",
    "expression_l2": "float64", "time_total_s": "float64", "cpu_s": "float64", "peak_rss_mb": "float64",
    "timings_json": "string", "warnings_json": "string", "meta_json": "string", "engine_version": "string",
    "settings_hash": "string", "texture_size": "int64", "quality": "string", "worker": "string",
    "run_id": "string", "committed_at": "float64",
}
"""Every index column and its Arrow type (a row may leave any but id/status/settings_hash empty)."""


def _schema():
    import pyarrow as pa

    return pa.schema([(name, getattr(pa, kind)()) for name, kind in COLUMNS.items()])


def _normalise(row: dict[str, Any]) -> dict[str, Any]:
    return {name: row.get(name) for name in COLUMNS}


class IndexStore:
    """Appends committed rows for one run (``run_id``) of the dataset at ``root``."""

    def __init__(self, root: str | os.PathLike, run_id: str | None = None) -> None:
        self.root = Path(root)
        self.parts = self.root / "index" / "parts"
        self.parts.mkdir(parents=True, exist_ok=True)
        self.run_id = run_id or f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
        self._seq = 0

    def commit(self, rows: Iterable[dict[str, Any]]) -> Path | None:
        """Writes ``rows`` as one part (atomically). Returns its path, None when ``rows`` is empty."""
        now = time.time()
        lines = [json.dumps(_normalise({**row, "run_id": self.run_id, "committed_at": now}), allow_nan=True)
                 for row in rows]
        if not lines:
            return None
        self._seq += 1
        name = f"part-{self.run_id}-{self._seq:06d}.jsonl"
        tmp = self.parts / f".tmp-{name}"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        final = self.parts / name
        os.replace(tmp, final)
        return final

    def compact(self) -> Path:
        """Merges ``index.parquet`` and every part into ``index.parquet``; deletes the merged parts."""
        parts = _part_files(self.root)
        rows = read_rows(self.root, parts=parts)
        path = write_table(self.root / "index.parquet", rows)
        for part in parts:
            part.unlink(missing_ok=True)
        for stale in self.parts.glob(".tmp-*"):  # a writer killed before its os.replace
            stale.unlink(missing_ok=True)
        return path


def _part_files(root: Path) -> list[Path]:
    folder = Path(root) / "index" / "parts"
    return sorted(folder.glob("part-*.jsonl")) if folder.is_dir() else []


def read_rows(root: str | os.PathLike, parts: list[Path] | None = None,
              columns: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
    """Every committed row of the dataset at ``root`` (parquet + parts), one per id (the latest commit),
    in id order. A part that cannot be parsed (never written by this module) is skipped. ``columns``
    (must include ``id`` and ``committed_at``) reads only those, to keep a resume's memory small."""
    root = Path(root)
    keep = tuple(columns) if columns else tuple(COLUMNS)
    latest: dict[str, dict[str, Any]] = {}
    table = root / "index.parquet"
    if table.exists():
        import pyarrow.parquet as pq

        for row in pq.read_table(table, columns=list(keep)).to_pylist():
            latest[row["id"]] = row
    for part in (_part_files(root) if parts is None else parts):
        try:
            lines = part.read_text(encoding="utf-8").splitlines()
        except OSError:
            continue
        for line in lines:
            try:
                full = json.loads(line)
            except json.JSONDecodeError:
                continue
            row = {name: full.get(name) for name in keep}
            old = latest.get(row["id"])
            if old is None or (row.get("committed_at") or 0) >= (old.get("committed_at") or 0):
                latest[row["id"]] = row
    return [latest[k] for k in sorted(latest)]


def write_table(path: str | os.PathLike, rows: list[dict[str, Any]]) -> Path:
    """Writes ``rows`` (index columns) as Parquet, atomically (tmp + os.replace)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    tmp = path.with_name(f".tmp-{path.name}-{os.getpid()}")
    table = pa.Table.from_pylist([_normalise(r) for r in rows], schema=_schema())
    pq.write_table(table, tmp)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path


@dataclass(frozen=True)
class Dataset:
    """A dataset or a filtered subset: ``rows`` (index rows), ``items`` (the folder holding ``<id>/``)."""

    path: Path
    items: Path
    rows: list[dict[str, Any]]
    info: dict[str, Any]

    def item_dir(self, row_id: str) -> Path:
        return self.items / row_id

    def ok_rows(self) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["status"] == "ok"]


def open_dataset(path: str | os.PathLike) -> Dataset:
    """Opens a dataset or a subset folder. Raises :class:`InputError` if it has no index."""
    path = Path(path).expanduser().resolve()
    info_file = path / "dataset.json"
    info = json.loads(info_file.read_text()) if info_file.exists() else {}
    if not (path / "index.parquet").exists() and not _part_files(path):
        raise InputError(f"{path} is not a dataset (no index.parquet)")
    root = Path(info.get("root") or path)
    root = root if root.is_absolute() else (path / root).resolve()
    return Dataset(path=path, items=root / "items", rows=read_rows(path), info=info)
