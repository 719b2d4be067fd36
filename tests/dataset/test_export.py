"""engine/dataset/export.py: WebDataset shards and the folder layout, from the built dataset."""
from __future__ import annotations

import json
import tarfile

from engine.dataset.export import export
from engine.dataset.index import open_dataset


def test_webdataset_shards(built, tmp_path):
    ok = open_dataset(built.path).ok_rows()
    summary = export(built.path, tmp_path / "wds", fmt="webdataset", shard_size=2)
    assert summary["items"] == len(ok) and len(summary["shards"]) == (len(ok) + 1) // 2
    names = []
    for shard in summary["shards"]:
        with tarfile.open(tmp_path / "wds" / shard) as tar:
            for member in tar.getmembers():
                names.append(member.name)
                assert member.mtime == 0
                if member.name.endswith(".json"):
                    meta = json.load(tar.extractfile(member))
                    assert meta["status"] == "ok" and len(meta["expression"]) == 52 and "bs_error" in meta
    for row in ok:
        assert {f"{row['id']}.png", f"{row['id']}.normal.png", f"{row['id']}.json"} <= set(names)
    first = (tmp_path / "wds" / summary["shards"][0]).read_bytes()
    export(built.path, tmp_path / "wds", fmt="webdataset", shard_size=2)  # reproducible bytes
    assert (tmp_path / "wds" / summary["shards"][0]).read_bytes() == first


def test_folder_layout(built, tmp_path):
    ok = open_dataset(built.path).ok_rows()
    summary = export(built.path, tmp_path / "f", fmt="folder")
    assert summary["items"] == len(ok)
    lines = (tmp_path / "f" / "metadata.jsonl").read_text().splitlines()
    assert len(lines) == len(ok)
    for line in lines:
        record = json.loads(line)
        assert (tmp_path / "f" / record["image"]).exists()
