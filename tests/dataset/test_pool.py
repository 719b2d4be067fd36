"""engine/dataset/build.py's process pool: a worker that dies costs one ``internal`` row, not the run."""
from __future__ import annotations

from engine.dataset.build import _run_pool
from engine.dataset.item import BuildSettings
from engine.dataset.sources import SourceItem
from tests.dataset.crashy import fake_item


def test_a_crashing_input_gets_an_internal_row_and_the_others_finish(tmp_path):
    ids = ["a", "b", "crash_me", "c", "d", "e", "f", "g", "crash_too", "h"]
    tasks = iter([(SourceItem(i, f"/x/{i}.jpg"), "h") for i in ids])
    rows = []
    _run_pool(tasks, BuildSettings(), str(tmp_path), 2, rows.append, fn=fake_item, initializer=None)
    by_id = {r["id"]: r for r in rows}
    assert set(by_id) == set(ids) and len(rows) == len(ids)
    for bad in ("crash_me", "crash_too"):
        assert by_id[bad]["status"] == "internal" and "crashed" in by_id[bad]["error"]
    assert all(by_id[i]["status"] == "ok" for i in ids if not i.startswith("crash"))  # neighbours not blamed
