"""engine/dataset/filter.py: thresholds, reasons, a subset that references the items without copies."""
from __future__ import annotations

import json

import pytest

from engine.dataset.filter import Criteria, drop_reasons, filter_dataset
from engine.dataset.index import open_dataset
from tests.dataset.conftest import run_cli


def _row(**kw):
    base = {"id": "x", "status": "ok", "bs_error": 5.0, "yaw_deg": -10.0, "confidence_mean": 0.6,
            "expression_l2": 0.3, "landmark_error_iod": 0.01}
    return {**base, **kw}


def test_drop_reasons():
    c = Criteria(max_bs=8, max_yaw=20, min_confidence=0.5, max_expression=1.0)
    assert drop_reasons(_row(), c) == []
    assert drop_reasons(_row(status="no_face"), c) == ["error:no_face"]
    assert drop_reasons(_row(bs_error=9.0, yaw_deg=-25.0), c) == ["bs", "yaw"]
    assert drop_reasons(_row(confidence_mean=None), c) == ["confidence"]  # missing fails its threshold
    assert drop_reasons(_row(expression_l2=float("nan")), c) == ["expression"]
    assert drop_reasons(_row(bs_error=100.0), Criteria()) == []


def test_filter_on_the_built_dataset(built, tmp_path):
    src = open_dataset(built.path)
    ok = src.ok_rows()
    threshold = sorted(r["bs_error"] for r in ok)[0] + 1e-6  # keeps the best item (takeo and its 16-bit copy tie)
    kept = sum(r["bs_error"] <= threshold for r in ok)
    assert 1 <= kept < len(ok)
    result = run_cli("filter", str(built.path), "-o", str(tmp_path / "sub"), "--max-bs", str(threshold),
                     "--max-yaw", "45", "--min-confidence", "0.05", "--max-expression", "5")
    assert result.returncode == 0, result.stderr
    assert f"kept {kept} of {len(src.rows)}" in result.stdout and "dropped for bs: " in result.stdout
    sub = open_dataset(tmp_path / "sub")
    assert len(sub.rows) == kept and sub.items == src.items
    assert (sub.item_dir(sub.rows[0]["id"]) / "albedo.png").exists()
    assert not (tmp_path / "sub" / "items").exists()
    info = json.loads((tmp_path / "sub" / "dataset.json").read_text())
    assert info["funnel"]["kept"] == kept and info["criteria"]["max_bs"] == pytest.approx(threshold)
    assert sum(info["funnel"]["dropped"].values()) == len(src.rows) - kept
    again = filter_dataset(tmp_path / "sub", tmp_path / "sub2", Criteria(max_yaw=45))  # a subset of a subset
    assert again.kept == kept and open_dataset(tmp_path / "sub2").items == src.items
