"""engine.outdir: the output folder is checked before any work, staged, published without leftovers."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from engine.errors import OutputError
from engine.outdir import check_output, publish, staging_folder


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_check_output_accepts_new_and_empty_folders(tmp_path: Path) -> None:
    assert check_output(tmp_path / "new" / "deeper", overwrite=False) == tmp_path / "new" / "deeper"
    assert not (tmp_path / "new").exists()  # nothing created by the check
    (tmp_path / "empty").mkdir()
    assert check_output(tmp_path / "empty", overwrite=False) == tmp_path / "empty"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"]  # the probe folder is gone


@pytest.mark.parametrize("existing", ["folder", "file"])
def test_check_output_refuses_existing_without_overwrite(tmp_path: Path, existing: str) -> None:
    out = tmp_path / "out"
    if existing == "folder":
        out.mkdir()
        (out / "mine.txt").write_text("keep")
    else:
        out.write_text("keep")
    with pytest.raises(OutputError, match="already exists"):
        check_output(out, overwrite=False)
    assert check_output(out, overwrite=True) == out


def test_check_output_refuses_places_nothing_can_be_created(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="is not a folder"):
        check_output(tmp_path / "file" / "out", overwrite=False)
    with pytest.raises(OutputError, match="cannot write the output folder /proc/x") as info:
        check_output("/proc/x", overwrite=False)
    assert info.value.exit_code == 2


def test_staging_folder_follows_the_umask_and_is_removed_on_error(tmp_path: Path) -> None:
    out = tmp_path / "a" / "out"
    with pytest.raises(KeyboardInterrupt):
        with staging_folder(out) as tmp:
            assert tmp.parent == out.parent and tmp.name.startswith(".out.")
            assert stat.S_IMODE(tmp.stat().st_mode) == 0o777 & ~_umask()
            (tmp / "half.obj").write_text("partial")
            raise KeyboardInterrupt  # a cancel mid-write
    assert list(out.parent.iterdir()) == []


@pytest.mark.parametrize("existing", [None, "folder", "file"])
def test_publish_replaces_anything_and_leaves_nothing_behind(tmp_path: Path, existing: str | None) -> None:
    out = tmp_path / "out"
    if existing == "folder":
        out.mkdir()
        (out / "old.txt").write_text("old")
    elif existing == "file":
        out.write_text("old")
    with staging_folder(out) as tmp:
        (tmp / "head.obj").write_text("new")
        publish(tmp, out)
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    assert [p.name for p in out.iterdir()] == ["head.obj"]
