"""engine/dataset/ray_runner.py: the same rows on a local Ray (started and stopped by the build) as on the pool."""
from __future__ import annotations

import json
import math
import shutil

import pytest

from engine.dataset.index import open_dataset
from tests.dataset.conftest import run_cli

pytest.importorskip("ray", reason="ray is an optional extra (requirements-dataset.txt)")

_VOLATILE = {"time_total_s", "cpu_s", "peak_rss_mb", "worker", "run_id", "committed_at", "timings_json",
             "source_path"}


def test_ray_rows_equal_the_local_pools(built, tmp_path):
    src = tmp_path / "src"
    for rel in ("real/takeo.ppm", "odd/grey.png", "odd/not_an_image.jpg"):
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(built.source / rel, src / rel)
    out = tmp_path / "ray_ds"
    result = run_cli("build", str(src), "-o", str(out), "--ray", "local", "--workers", "2", "--progress", "none")
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1])["total"] == 3
    pool = {r["id"]: r for r in open_dataset(built.path).rows}
    ray_rows = open_dataset(out).rows
    assert len(ray_rows) == 3
    for row in ray_rows:
        ref = pool[row["id"]]
        for key, value in row.items():
            if key in _VOLATILE:
                continue
            if isinstance(value, float) and not math.isnan(value):
                assert value == pytest.approx(ref[key], rel=1e-9, abs=1e-12), key
            else:
                assert value == ref[key], key
    ok = next(r for r in ray_rows if r["status"] == "ok")
    assert (out / "items" / ok["id"] / "albedo.png").read_bytes() == \
        (built.path / "items" / ok["id"] / "albedo.png").read_bytes()
