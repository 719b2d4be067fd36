"""engine/dataset/index.py: atomic parts, compaction (idempotent), the latest commit wins."""
from __future__ import annotations

import pyarrow.parquet as pq

from engine.dataset.index import IndexStore, open_dataset, read_rows


def _row(i, status="ok"):
    return {"id": f"item{i}", "status": status, "settings_hash": "s", "content_hash": f"h{i}", "bs_error": float(i)}


def test_commit_read_compact(tmp_path):
    store = IndexStore(tmp_path)
    store.commit([_row(1), _row(2)])
    store.commit([_row(2, "no_face")])  # a later commit of the same id wins
    assert store.commit([]) is None
    (store.parts / ".tmp-part-x.jsonl").write_text('{"id": "half')  # a writer killed before os.replace
    rows = read_rows(tmp_path)
    assert [(r["id"], r["status"]) for r in rows] == [("item1", "ok"), ("item2", "no_face")]
    store.compact()
    assert not list(store.parts.iterdir())
    assert pq.read_table(tmp_path / "index.parquet").num_rows == 2
    assert read_rows(tmp_path) == rows
    store.compact()  # idempotent
    assert read_rows(tmp_path) == rows


def test_parts_left_after_a_crash_between_replace_and_delete_merge_again(tmp_path):
    store = IndexStore(tmp_path)
    part = store.commit([_row(1)])
    text = part.read_text()
    store.compact()
    part.write_text(text)  # as if the crash happened before the part was deleted
    store2 = IndexStore(tmp_path)
    store2.commit([_row(3)])
    assert [r["id"] for r in read_rows(tmp_path)] == ["item1", "item3"]
    store2.compact()
    ds = open_dataset(tmp_path)
    assert [r["id"] for r in ds.rows] == ["item1", "item3"] and ds.items == tmp_path / "items"
