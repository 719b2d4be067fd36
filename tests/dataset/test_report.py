"""engine/dataset/report.py: one self-contained HTML page and a Markdown summary."""
from __future__ import annotations

import re

from tests.dataset.conftest import run_cli
from tests.dataset.sources_fixture import BROKEN, REAL


def test_report_on_the_built_dataset(built, tmp_path):
    result = run_cli("report", str(built.path), "-o", str(tmp_path))
    assert result.returncode == 0, result.stderr
    html = (tmp_path / "report.html").read_text()
    md = (tmp_path / "report.md").read_text()
    assert not re.search(r"""(src|href)=["'](?!data:)""", html), "every image is inlined"
    assert html.count("data:image/jpeg;base64,") == 3  # contact sheet: the three ok items
    assert html.count("data:image/png;base64,") == 2  # histograms + mean texture
    assert "Failures by kind" in html and "no_face" in html and "input" in html
    assert f"| inputs | {len(REAL) + len(BROKEN)} |" in md and "| processed ok | 3 |" in md
    assert "BS error" in md and "no_face" in md


def test_report_on_a_subset(built, tmp_path):
    assert run_cli("filter", str(built.path), "-o", str(tmp_path / "sub"), "--max-yaw", "45").returncode == 0
    result = run_cli("report", str(tmp_path / "sub"))
    assert result.returncode == 0, result.stderr
    md = (tmp_path / "sub" / "report.md").read_text()
    assert "| kept | 3 |" in md and "| processed ok | 3 |" in md
