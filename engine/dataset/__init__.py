"""The dataset builder: many photos -> a filtered, normalised UV-texture dataset (issue 12).

One idea per module: :mod:`sources` (what to process), :mod:`item` (one photo -> one item folder and
one index row, the per-item function every runner calls), :mod:`index` (crash-safe JSON-lines parts
compacted into ``index.parquet``), :mod:`build` (the local process pool, resume, progress),
:mod:`ray_runner` (the same per-item function as Ray tasks), :mod:`filter`, :mod:`report`, :mod:`pca`,
:mod:`export`. ``python -m engine.dataset --help`` is the command line. Never imports bpy.

Layout of a dataset folder::

    DATASET/items/<id>/{albedo,normal,confidence,thumb}.png, params.json
    DATASET/index/parts/*.jsonl      committed rows not yet compacted (each written tmp + os.replace)
    DATASET/index.parquet            compacted rows (one per id, the latest commit wins)
    DATASET/dataset.json             what built it (settings, settings hash, engine version)

A subset made by ``filter`` has ``index.parquet`` and ``dataset.json`` with ``"root"``: the folder
whose ``items/`` it references.
"""
from __future__ import annotations

__all__ = ["BuildSettings", "build", "open_dataset"]

from engine.dataset.build import build
from engine.dataset.index import open_dataset
from engine.dataset.item import BuildSettings
