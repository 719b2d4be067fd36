"""``export``: the ok items in a layout a trainer reads directly.

* ``webdataset``: ``shard-000000.tar``... of ``--shard-size`` items each. Per item (key = item id, which
  is ``[A-Za-z0-9_-]`` only, so WebDataset splits key and extension at the first dot correctly):
  ``<key>.png`` (the albedo), ``<key>.normal.png``, ``<key>.confidence.png`` (when present),
  ``<key>.json`` (the index row's metrics plus ``shape``/``expression``/``K``/``R``/``t`` from params.json).
  Tar members are sorted and carry mtime 0, uid/gid 0, so an export is byte-reproducible; each shard is
  written to ``.tmp-*`` and renamed. ``index.json`` lists the shards and counts.
* ``folder``: ``images/<key>.png`` (albedo), ``normals/<key>.png``, ``meta/<key>.json`` (hard links when
  the file system allows, copies otherwise), plus ``metadata.jsonl`` with one line per item.
"""
from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
from pathlib import Path
from typing import Any

from engine.dataset.index import Dataset, open_dataset

__all__ = ["export", "item_metadata"]

_PARAM_KEYS = ("shape", "expression", "K", "R", "t", "image_size", "eye_color_srgb")
_ROW_SKIP = ("timings_json", "warnings_json", "meta_json", "worker", "run_id", "committed_at", "error")


def item_metadata(ds: Dataset, row: dict[str, Any]) -> dict[str, Any]:
    """The JSON a trainer gets for one item: index metrics, manifest metadata and fitted parameters."""
    meta = {k: v for k, v in row.items() if k not in _ROW_SKIP}
    meta["source_meta"] = json.loads(row.get("meta_json") or "{}")
    params_file = ds.item_dir(row["id"]) / "params.json"
    if params_file.exists():
        params = json.loads(params_file.read_text())
        meta.update({k: params.get(k) for k in _PARAM_KEYS})
    return meta


def export(dataset: str | os.PathLike, output: str | os.PathLike, fmt: str = "webdataset",
           shard_size: int = 1000) -> dict[str, Any]:
    """Exports the ok items of a dataset or subset; returns a summary (items, shards or folder)."""
    ds = open_dataset(dataset)
    out = Path(output).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    rows = ds.ok_rows()
    if fmt == "folder":
        return _folder(ds, rows, out)
    if fmt != "webdataset":
        raise ValueError(f"format must be folder or webdataset, got {fmt!r}")
    shards = []
    for number, start in enumerate(range(0, len(rows), max(1, shard_size))):
        shards.append(_shard(ds, rows[start:start + shard_size], out / f"shard-{number:06d}.tar"))
    summary = {"format": "webdataset", "items": len(rows), "shards": [p.name for p in shards], "output": str(out)}
    (out / "index.json").write_text(json.dumps(summary, indent=1))
    return summary


def _member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode, info.uid, info.gid = len(data), 0, 0o644, 0, 0
    tar.addfile(info, io.BytesIO(data))


def _shard(ds: Dataset, rows: list[dict], path: Path) -> Path:
    tmp = path.with_name(f".tmp-{path.name}")
    with tarfile.open(tmp, "w", format=tarfile.USTAR_FORMAT) as tar:
        for row in sorted(rows, key=lambda r: r["id"]):
            key, folder = row["id"], ds.item_dir(row["id"])
            _member(tar, f"{key}.png", (folder / "albedo.png").read_bytes())
            for extra in ("normal", "confidence"):
                if (folder / f"{extra}.png").exists():
                    _member(tar, f"{key}.{extra}.png", (folder / f"{extra}.png").read_bytes())
            _member(tar, f"{key}.json", json.dumps(item_metadata(ds, row), sort_keys=True).encode())
    os.replace(tmp, path)
    return path


def _link(src: Path, dst: Path) -> None:
    dst.unlink(missing_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def _folder(ds: Dataset, rows: list[dict], out: Path) -> dict[str, Any]:
    for sub in ("images", "normals", "meta"):
        (out / sub).mkdir(exist_ok=True)
    lines = []
    for row in rows:
        key, folder = row["id"], ds.item_dir(row["id"])
        _link(folder / "albedo.png", out / "images" / f"{key}.png")
        _link(folder / "normal.png", out / "normals" / f"{key}.png")
        meta = item_metadata(ds, row)
        (out / "meta" / f"{key}.json").write_text(json.dumps(meta, sort_keys=True))
        lines.append(json.dumps({"key": key, "image": f"images/{key}.png", **meta}, sort_keys=True))
    tmp = out / ".tmp-metadata.jsonl"
    tmp.write_text("\n".join(lines) + ("\n" if lines else ""))
    os.replace(tmp, out / "metadata.jsonl")
    return {"format": "folder", "items": len(rows), "output": str(out)}
