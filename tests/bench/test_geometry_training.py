"""bench/bench_geometry_training.py: the turned training scenes it scores."""
from __future__ import annotations

from bench.bench_geometry_training import TURNED_MIN_YAW, turned_scenes
from bench.groundtruth.scenes import scenes


def test_turned_scenes_are_turned_training_heads_two_per_head() -> None:
    turned = turned_scenes()
    heads = {s.head.name for s in turned}
    assert len(turned) == 2 * len(heads) and len({s.id for s in turned}) == len(turned)
    assert all(abs(s.view.yaw_deg) >= TURNED_MIN_YAW for s in turned)
    assert heads.isdisjoint({s.head.name for s in scenes(False)})  # never a benchmark head
