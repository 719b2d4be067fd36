"""engine/dataset/sources.py: folders, CSV / JSON-lines / Parquet manifests, safe unique ids."""
from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from engine.dataset.sources import content_hash, iter_source, safe_id
from engine.errors import InputError


def _tree(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    for rel in ("a/x.jpg", "a/b/y.PNG", "a/notes.txt", "a/.hidden.jpg", "z.jpeg"):
        (tmp_path / rel).write_bytes(rel.encode())
    return tmp_path


def test_folder_is_walked_recursively_in_order(tmp_path):
    items = list(iter_source(_tree(tmp_path)))
    assert [i.id for i in items] == ["z_jpeg", "a_x_jpg", "a_b_y_PNG"]  # top-down, names sorted
    assert all(i.path.startswith(str(tmp_path)) for i in items)


def test_manifests_resolve_relative_paths_and_keep_metadata(tmp_path):
    _tree(tmp_path)
    (tmp_path / "m.csv").write_text("path,id,age\na/x.jpg,one,30\nz.jpeg,,40\n")
    (tmp_path / "m.jsonl").write_text(json.dumps({"path": "a/x.jpg", "id": "one", "age": 30}) + "\n\n"
                                      + json.dumps({"path": str(tmp_path / "z.jpeg"), "age": 40}) + "\n")
    pq.write_table(pa.table({"path": ["a/x.jpg", "z.jpeg"], "id": ["one", None], "age": [30, 40]}), tmp_path / "m.parquet")
    for name in ("m.csv", "m.jsonl", "m.parquet"):
        items = list(iter_source(tmp_path / name))
        assert [i.id for i in items][0] == "one", name
        assert items[0].path == str(tmp_path / "a" / "x.jpg")
        assert items[1].path == str(tmp_path / "z.jpeg")
        assert str(items[1].meta["age"]) == "40"


def test_duplicate_and_odd_ids(tmp_path):
    (tmp_path / "m.csv").write_text("path,id\na.jpg,x/y\nb.jpg,x/y\nc.jpg,\u00e9t\u00e9 photo.jpg\n")
    assert [i.id for i in iter_source(tmp_path / "m.csv")] == ["x_y", "x_y-2", "t_photo_jpg"]
    assert len(safe_id("a" * 500)) <= 120 and safe_id("a" * 500) != safe_id("a" * 499)


def test_bad_sources(tmp_path):
    with pytest.raises(InputError):
        list(iter_source(tmp_path / "missing"))
    (tmp_path / "m.jsonl").write_text('{"id": "x"}\n')
    with pytest.raises(InputError, match="no 'path'"):
        list(iter_source(tmp_path / "m.jsonl"))
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(InputError):
        list(iter_source(tmp_path / "f.txt"))


def test_content_hash(tmp_path):
    (tmp_path / "f").write_bytes(b"abc")
    assert content_hash(tmp_path / "f") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert content_hash(tmp_path / "missing") == ""


def test_build_checks_the_source_before_writing(tmp_path):
    from tests.dataset.conftest import run_cli

    result = run_cli("build", str(tmp_path / "missing"), "-o", str(tmp_path / "ds"))
    assert result.returncode == 2 and "does not exist" in result.stderr
    assert not (tmp_path / "ds").exists()
