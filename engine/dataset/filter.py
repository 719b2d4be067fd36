"""``filter``: a subset index of the items that pass FFHQ-UV-style thresholds, without copying them.

An item is dropped for the first reason that applies, in this order: ``error:<kind>`` (not ``ok``),
``bs`` (BS error > max), ``yaw`` (|yaw| > max), ``confidence`` (mean face confidence < min),
``expression`` (L2 of the 52 weights > max), ``landmarks`` (landmark error > max). A threshold left
None is not applied; a metric that is missing (None/NaN) fails its threshold. Every reason that
applies is counted too (``reasons_all``), so the thresholds can be tuned one at a time.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from engine.dataset.index import open_dataset, write_table
from engine.errors import InputError

__all__ = ["Criteria", "FilterResult", "filter_dataset", "drop_reasons"]


@dataclass(frozen=True)
class Criteria:
    max_bs: float | None = None
    max_yaw: float | None = None
    min_confidence: float | None = None
    max_expression: float | None = None
    max_landmark_error: float | None = None


@dataclass
class FilterResult:
    output: Path
    total: int
    kept: int
    dropped: dict[str, int] = field(default_factory=dict)
    reasons_all: dict[str, int] = field(default_factory=dict)

    def describe(self) -> str:
        lines = [f"kept {self.kept} of {self.total} ({100.0 * self.kept / max(self.total, 1):.1f} %), "
                 f"dropped {self.total - self.kept} -> {self.output}"]
        lines += [f"  dropped for {reason}: {n}" for reason, n in sorted(self.dropped.items(), key=lambda kv: -kv[1])]
        return "\n".join(lines)


def _bad(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def drop_reasons(row: dict[str, Any], c: Criteria) -> list[str]:
    """Every reason ``row`` fails ``c`` (empty: kept), in the documented order."""
    if row["status"] != "ok":
        return [f"error:{row['status']}"]
    checks = [
        ("bs", c.max_bs, lambda: row.get("bs_error"), lambda v, t: v > t),
        ("yaw", c.max_yaw, lambda: None if _bad(row.get("yaw_deg")) else abs(row["yaw_deg"]), lambda v, t: v > t),
        ("confidence", c.min_confidence, lambda: row.get("confidence_mean"), lambda v, t: v < t),
        ("expression", c.max_expression, lambda: row.get("expression_l2"), lambda v, t: v > t),
        ("landmarks", c.max_landmark_error, lambda: row.get("landmark_error_iod"), lambda v, t: v > t),
    ]
    out = []
    for name, threshold, get, fails in checks:
        if threshold is None:
            continue
        value = get()
        if _bad(value) or fails(value, threshold):
            out.append(name)
    return out


def filter_dataset(dataset: str | os.PathLike, output: str | os.PathLike, criteria: Criteria) -> FilterResult:
    """Writes ``output/index.parquet`` (the kept rows) and ``output/dataset.json`` (``root``: the folder
    holding ``items/``, the criteria, the counts). ``output`` must not be the dataset itself."""
    src = open_dataset(dataset)
    out = Path(output).expanduser().resolve()
    if out == src.path:
        raise InputError("the subset must go to another folder than the dataset")
    out.mkdir(parents=True, exist_ok=True)
    kept, dropped, reasons_all = [], {}, {}
    for row in src.rows:
        reasons = drop_reasons(row, criteria)
        if not reasons:
            kept.append(row)
            continue
        dropped[reasons[0]] = dropped.get(reasons[0], 0) + 1
        for reason in reasons:
            reasons_all[reason] = reasons_all.get(reason, 0) + 1
    write_table(out / "index.parquet", kept)
    result = FilterResult(out, len(src.rows), len(kept), dropped, reasons_all)
    info = {**{k: v for k, v in src.info.items() if k != "root"}, "root": str(src.items.parent),
            "subset_of": str(src.path), "criteria": asdict(criteria),
            "funnel": {"inputs": result.total, "kept": result.kept, "dropped": dropped, "reasons_all": reasons_all}}
    tmp = out / ".tmp-dataset.json"
    tmp.write_text(json.dumps(info, indent=1))
    os.replace(tmp, out / "dataset.json")
    return result
