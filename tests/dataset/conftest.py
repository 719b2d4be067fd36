"""Shared fixtures: the mixed source and one dataset built from it by a killed run plus a resumed run."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.dataset.sources_fixture import make_mixed_source

REPO = Path(__file__).resolve().parents[2]


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "engine.dataset", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)


def part_rows(dataset: Path) -> list[dict]:
    rows = []
    for part in sorted((dataset / "index" / "parts").glob("part-*.jsonl")):
        rows += [json.loads(line) for line in part.read_text().splitlines()]
    return rows


@dataclass
class Built:
    source: Path
    path: Path
    killed_rows: list[dict]  # rows committed before the kill -9
    killed_early: bool  # the first run was killed before it finished
    resume: subprocess.CompletedProcess


@pytest.fixture(scope="session")
def mixed_source(tmp_path_factory) -> Path:
    return make_mixed_source(tmp_path_factory.mktemp("source"))


@pytest.fixture(scope="session")
def built(mixed_source, tmp_path_factory) -> Built:
    """Run 1 (1 worker) is killed with SIGKILL (driver and workers) once its first part is committed;
    run 2 (2 workers) resumes it."""
    dataset = tmp_path_factory.mktemp("dataset") / "ds"
    cmd = [sys.executable, "-m", "engine.dataset", "build", str(mixed_source), "-o", str(dataset), "--workers", "1",
           "--progress", "json"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    parts = dataset / "index" / "parts"
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if parts.is_dir() and any(parts.glob("part-*.jsonl")):
                break
            time.sleep(0.05)
    finally:
        killed_early = proc.poll() is None
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    killed_rows = part_rows(dataset)
    resume = run_cli("build", str(mixed_source), "-o", str(dataset), "--workers", "2", "--progress", "json")
    return Built(mixed_source, dataset, killed_rows, killed_early, resume)
