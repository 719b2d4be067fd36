"""The identity tables of bench/bench_identity_baseline.py and bench/bench_photos.py: the estimated-light
column beside the studio-light one, '–' where a row has none (benchmark renders, runs from before it)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from bench.bench_identity_baseline import ESTIMATED, _means
from bench.bench_identity_baseline import markdown as baseline_markdown
from bench.bench_photos import PERTURBATIONS
from bench.bench_photos import markdown as photos_markdown
from bench.groundtruth.likeness import estimated_light

STAMP = {"commit": "abc1234", "machine": "x86_64", "date": "2026-12-07 18:53"}


def _row(kind: str, ours: float, baseline: float, est: float | None) -> dict:
    row = {"kind": kind, "lighting": "studio", "photo_face_found": True, "ours": ours, "ours_matched": ours,
           "ours_face_found": True, "baseline": baseline, "baseline_matched": baseline, "baseline_face_found": False}
    if est is not None:
        found = True if kind == "photo" else None
        row.update({ESTIMATED: est, f"{ESTIMATED}_matched": est, f"{ESTIMATED}_face_found": found})
    return row


def _table(md: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip("|").split("|")] for line in md.splitlines() if line.startswith("|")]


def test_baseline_table_has_the_estimated_light_for_photos_only() -> None:
    rows = {"astronaut": _row("photo", 0.55, 0.49, 0.50), "takeo": _row("photo", 0.42, 0.27, 0.30),
            "h0_y0_hdri-city": _row("render", 0.26, 0.27, math.nan)}
    md = baseline_markdown({**STAMP, "rows": rows, "means": _means(rows)})
    table = _table(md)
    assert table[0][1:4] == ["ours", "ours, estimated light", "MediaPipe mesh + photo"]
    assert {len(r) for r in table} == {7}
    by_name = {r[0]: r for r in table[2:]}
    assert by_name["astronaut"][1:4] == ["0.550", "0.500", "0.490"]
    assert by_name["astronaut"][6] == "y / y / y / n"
    assert by_name["h0_y0_hdri-city"][2] == "–" and by_name["h0_y0_hdri-city"][6] == "y / y / – / n"
    assert by_name["**mean, photos** (2)"][2] == "0.400"
    assert "estimated light: better in 0, ≤ 0.45: 1" in by_name["**mean, photos** (2)"][6]
    assert by_name["**mean, renders** (1)"][2] == "–" and by_name["**mean, all** (3)"][2] == "–"
    assert by_name["**mean, all** (3)"][1] == f"{np.mean([0.55, 0.42, 0.26]):.3f}"


def test_baseline_table_reads_a_run_without_the_column() -> None:
    rows = {"astronaut": _row("photo", 0.55, 0.49, None)}
    means = {"photos": {"ours": 0.55, "baseline": 0.49, "ours_matched": 0.55, "baseline_matched": 0.49, "n": 1,
                        "ours_better": 0, "ours_within_target": 0, "baseline_within_target": 0}}
    table = _table(baseline_markdown({**STAMP, "rows": rows, "means": means}))
    assert table[2][:4] == ["astronaut", "0.550", "–", "0.490"] and table[2][6] == "y / y / – / n"
    assert table[3][2] == "–"


def test_photos_table_has_the_estimated_light_column() -> None:
    row = {"bs_both_seen": 3.2, "filled_share": 0.4, "centre_border_l": 1.0, "identity_photo_render": 0.55,
           "perturbation_de": {p[0]: 1.0 for p in PERTURBATIONS}}
    doc = {**STAMP, "photos": {"astronaut": {**row, "identity_photo_render_estimated_light": 0.48}, "takeo": row}}
    table = _table(photos_markdown(doc))
    assert table[0][4:6] == ["identity photo↔render", "identity, estimated light"]
    assert {len(r) for r in table} == {6 + len(PERTURBATIONS)}
    assert table[2][4:6] == ["0.55", "0.48"] and table[3][4:6] == ["0.55", "–"]


def test_estimated_light_is_the_renderers_sh_kind() -> None:
    coeffs = np.arange(27, dtype=np.float64).reshape(9, 3) / 10
    assert estimated_light(coeffs) == {"kind": "sh", "coeffs": coeffs.tolist()}
    with pytest.raises(ValueError):
        estimated_light(coeffs[:8])
    with pytest.raises(ValueError):
        estimated_light(np.full((9, 3), np.nan))
