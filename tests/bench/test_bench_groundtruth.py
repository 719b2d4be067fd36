"""The ground-truth benchmark's machinery, end to end on its subset (2 heads x 3 lightings): real Cycles
renders, the real engine, every metric present and finite, the tables, the contact sheet and the
README block written from the JSON."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from bench.groundtruth.report_gt import COLUMNS
from tests.cycles import require_cycles


@pytest.fixture(scope="module")
def subset_doc(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    require_cycles()
    from bench.bench_groundtruth import run

    out = tmp_path_factory.mktemp("gt_out")
    cache = tmp_path_factory.mktemp("gt_cache")
    return run(out, cache, subset=True, log=lambda *a: None), out


def test_every_metric_is_present_and_finite(subset_doc) -> None:
    doc, _ = subset_doc
    rows = doc["rows"]
    assert len(rows) == 6 and not [r for r in rows if "failed" in r]
    keys = [k for k, *_ in COLUMNS]
    for row in rows:
        for key in keys:
            assert key in row and math.isfinite(row[key]), (row["id"], key, row.get(key))
        assert row["geom_face_template_mm"] > 0.3  # the heads are not the template
        assert 0.0 <= row["filled_share"] <= 1.0
        assert 0.0 <= row["seam_seen_border"] < 30.0 and 0.0 <= row["seam_uv_islands"] < 30.0
    assert {"hdri", "hard", "coloured", "all"} <= set(doc["by_class"])
    for head, pairs in doc["pairwise"].items():
        assert len(pairs) == 3 and all(math.isfinite(v) for v in pairs.values()), head
    for head, v in doc["views"].items():
        assert all(math.isfinite(x) for x in v.values()), (head, v)


def test_outputs_are_written(subset_doc) -> None:
    import cv2

    doc, out = subset_doc
    saved = json.loads((out / "groundtruth.json").read_text())
    assert saved["commit"] and saved["machine"] and saved["subset"] is True
    md = (out / "groundtruth.md").read_text()
    assert "ΔE00 vs truth, seen face skin" in md and "hard" in md
    assert "seam ΔE00, photo/fill border" in md and "seam ΔE00, UV island borders" in md
    sheet = cv2.imread(str(out / "contact_sheet.png"))
    assert sheet is not None and sheet.shape[0] >= 2 * 128 and float(np.std(sheet)) > 10


def test_readme_block_comes_from_the_json(subset_doc) -> None:
    from bench.report import BEGIN, END, block, replace_block

    _, out = subset_doc
    text = replace_block("# Title\n\nintro\n", block(out / "groundtruth.json", None))
    assert BEGIN in text and END in text and "Ground truth" in text
    assert replace_block(text, block(out / "groundtruth.json", None)) == text  # idempotent


def test_a_partial_run_keeps_the_sections_it_did_not_measure() -> None:
    from bench.report import BEGIN, END, keep_missing

    old = (f"# T\n\n{BEGIN}\n<!-- generated -->\n\n**Ground truth** (`a`): old gt, commit `1`\n\n"
           f"**Real photos** (`b`): old photos\n\n**Hair over the face** (`c`): hair, commit `2`\n\n{END}\n")
    fresh = f"{BEGIN}\n<!-- generated -->\n\n**Real photos** (`b`): new photos, commit `3`\n{END}"
    merged = keep_missing(old, fresh)
    assert merged.index("old gt") < merged.index("new photos") < merged.index("hair, commit `2`")
    assert "old photos" not in merged and merged.startswith(BEGIN) and merged.endswith(END)
    assert "commit `1`\n\n**Real photos**" in merged and "commit `3`\n\n**Hair" in merged  # blank lines kept
    unchanged = keep_missing(old, f"{BEGIN}\n{END}")  # nothing measured: the same sections, the same spacing
    assert unchanged.split("\n", 2)[2] == old[old.index(BEGIN):old.index(END) + len(END)].split("\n", 2)[2]


def test_cached_renders_follow_the_landmark_correspondence(tmp_path: Path) -> None:
    """The true landmarks are the correspondence's points on the true mesh: a render made before the
    correspondence changed gets them recomputed (and the file's hash stamped), its pixels untouched."""
    from bench.groundtruth.generate import _refresh_landmarks, correspondence_hash
    from bench.groundtruth.heads import mesh_arrays, true_landmarks_3d
    from engine.head.model import load_head_model

    model = load_head_model()
    verts = model.vertices.numpy()
    mesh = tmp_path / "head_mesh.npz"
    np.savez_compressed(mesh, **mesh_arrays(model, verts))
    K, R, t = [[500.0, 0, 255.5], [0, 500.0, 255.5], [0, 0, 1]], np.diag([1.0, -1.0, -1.0]).tolist(), [0, 0, 0.6]
    stale = {"mesh": str(mesh), "K": K, "R": R, "t": t, "landmarks478": [[0.0, 0.0]] * 478,
             "landmarks478_3d": [[0.0, 0.0, 0.0]] * 478, "correspondence": "an older file"}
    path = tmp_path / "scene.json"
    path.write_text(json.dumps(stale))
    _refresh_landmarks(path, dict(stale))
    fresh = json.loads(path.read_text())
    assert fresh["correspondence"] == correspondence_hash()
    np.testing.assert_allclose(fresh["landmarks478_3d"], true_landmarks_3d(model, verts), atol=1e-6)
    cam = np.asarray(fresh["landmarks478_3d"]) @ np.asarray(R).T + t
    px = cam @ np.asarray(K).T
    np.testing.assert_allclose(fresh["landmarks478"], px[:, :2] / px[:, 2:], atol=1e-6)
    before = path.stat().st_mtime_ns
    _refresh_landmarks(path, fresh)  # up to date: left alone
    assert path.stat().st_mtime_ns == before
