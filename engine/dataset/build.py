"""``build``: every input of a source -> an item folder and a committed index row, on a local process
pool (default: one worker per core, one torch thread each) or a Ray cluster (engine/dataset/ray_runner.py).

Resume: an input is skipped when a committed row has the same id, content hash and settings hash and
its status is not ``internal`` (internal errors, e.g. a crashed worker, are retried). Rows are
committed by this driver in parts (every 64 rows or 5 s), so a ``kill -9`` loses at most the rows not
yet committed, whose items are simply redone. One build at a time per dataset (``.lock``, flock).
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from engine import __version__
from engine.dataset.index import IndexStore, read_rows
from engine.dataset.item import BuildSettings, init_worker, process_item
from engine.dataset.progress import BuildProgress
from engine.dataset.sources import SourceItem, content_hash, iter_source
from engine.errors import InputError

__all__ = ["build", "Task", "pending_tasks", "COMMIT_EVERY_ROWS", "COMMIT_EVERY_S"]

COMMIT_EVERY_ROWS = 64
COMMIT_EVERY_S = 5.0
MAX_TASKS_PER_CHILD = 200
"""A worker is replaced after this many items: bounds memory growth from any leak in native libraries."""

Task = tuple[SourceItem, str]
"""(item, content hash)."""

def build(source: str | os.PathLike, dataset: str | os.PathLike, settings: BuildSettings = BuildSettings(),
          workers: int | None = None, progress: str = "none", ray_address: str | None = None) -> dict[str, Any]:
    """Builds (or resumes) ``dataset`` from ``source``; returns a summary (counts, seconds, rate).

    ``workers`` None = one per core; 0 runs in this process (debugging). ``ray_address`` (e.g. ``auto``,
    ``ray://host:10001``, ``local``) runs the items as Ray tasks instead of the local pool.
    """
    root = Path(dataset).expanduser().resolve()
    total = sum(1 for _ in iter_source(source))  # checks the source before anything is written
    root.mkdir(parents=True, exist_ok=True)
    workers = (os.cpu_count() or 1) if workers is None else int(workers)
    with _lock(root):
        _write_info(root, settings)
        _clean_stale(root)
        bar = BuildProgress(progress, total)
        store = IndexStore(root)
        committer = _Committer(store)
        start = time.perf_counter()

        def on_skip(item: SourceItem) -> None:
            bar.item(item.id, "ok", skipped=True)

        def on_row(row: dict) -> None:
            committer.add(row)
            bar.item(row["id"], row["status"], seconds=row.get("time_total_s"))

        tasks = pending_tasks(source, root, settings, on_skip)
        try:
            if ray_address:
                from engine.dataset.ray_runner import run_ray

                run_ray(tasks, settings, str(root), workers, on_row, address=ray_address)
            elif workers == 0:
                _run_inline(tasks, settings, str(root), on_row)
            else:
                with _single_threaded_children():
                    _run_pool(tasks, settings, str(root), workers, on_row)
        finally:  # Ctrl-C / SIGTERM / an error: the rows already received are complete, keep them
            committer.flush()
        store.compact()
        seconds = time.perf_counter() - start
        summary = {"dataset": str(root), "total": total, **bar.counts, "seconds": round(seconds, 2),
                   "rate_per_min": round(bar.rate_per_min(), 2), "settings_hash": settings.hash(),
                   "run_id": store.run_id}
        bar.finish(summary)
        return summary


def pending_tasks(source, root: Path, settings: BuildSettings,
                  on_skip: Callable[[SourceItem], None]) -> Iterator[Task]:
    """The inputs that still need work (lazily: hashes are computed as the runner pulls tasks)."""
    wanted = settings.hash()
    done = {r["id"]: (r["content_hash"], r["settings_hash"], r["status"])
            for r in read_rows(root, columns=("id", "content_hash", "settings_hash", "status", "committed_at"))
            if r["status"] != "internal"}
    for item in iter_source(source):
        digest = content_hash(item.path)
        prior = done.get(item.id)
        if (digest and prior is not None and prior[:2] == (digest, wanted)
                and (prior[2] != "ok" or (root / "items" / item.id).is_dir())):
            on_skip(item)
            continue
        yield item, digest


class _Committer:
    def __init__(self, store: IndexStore) -> None:
        self.store, self.rows, self.last = store, [], time.monotonic()

    def add(self, row: dict) -> None:
        self.rows.append(row)
        if len(self.rows) >= COMMIT_EVERY_ROWS or time.monotonic() - self.last >= COMMIT_EVERY_S:
            self.flush()

    def flush(self) -> None:
        self.store.commit(self.rows)
        self.rows, self.last = [], time.monotonic()


def _run_inline(tasks: Iterator[Task], settings: BuildSettings, root: str, on_row) -> None:
    init_worker()
    for item, digest in tasks:
        on_row(process_item(item, digest, settings, root))


SINGLE_THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
"""Native thread-pool sizes the spawned workers get (see :func:`_single_threaded_children`)."""


@contextmanager
def _single_threaded_children():
    """Spawned workers read these before numpy / OpenBLAS / OpenMP start their thread pools (Ray sets the
    same for its workers): one worker per core and one thread each, no oversubscription. The caller's
    own environment is restored afterwards."""
    saved = {k: os.environ.get(k) for k in SINGLE_THREAD_ENV}
    os.environ.update({k: "1" for k in SINGLE_THREAD_ENV})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _run_pool(tasks: Iterator[Task], settings: BuildSettings, root: str, workers: int, on_row,
              fn: Callable = process_item, initializer: Callable | None = init_worker) -> None:
    """A spawn process pool with at most ``2 * workers`` items in flight (bounded memory for any source
    size). A worker that dies (a native crash) breaks the pool: the pool is rebuilt and each item that was
    in flight is retried once, alone (so an innocent neighbour is not blamed); an item that crashes its
    worker again gets an ``internal`` row."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    crashes: dict[str, int] = {}
    retry: list[Task] = []
    tasks = iter(tasks)
    exhausted = False
    while True:
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=initializer,
                                   max_tasks_per_child=MAX_TASKS_PER_CHILD)
        inflight: dict[Any, Task] = {}
        broken = False
        try:
            while True:
                while len(inflight) < 2 * workers:
                    if any(crashes.get(t[0].id) for t in inflight.values()):
                        break  # a suspect runs alone
                    if retry:
                        if not inflight:
                            task = retry.pop(0)
                            inflight[pool.submit(fn, task[0], task[1], settings, root)] = task
                        break
                    task = None if exhausted else next(tasks, None)
                    if task is None:
                        exhausted = True
                        break
                    inflight[pool.submit(fn, task[0], task[1], settings, root)] = task
                if not inflight:
                    return
                done, _ = wait(inflight, return_when=FIRST_COMPLETED)
                for fut in done:
                    task = inflight.pop(fut)
                    try:
                        on_row(fut.result())
                    except BrokenProcessPool:
                        broken = True
                        inflight[fut] = task
                if broken:
                    break
        finally:
            pool.shutdown(wait=not broken, cancel_futures=True)
        for task in inflight.values():
            crashes[task[0].id] = crashes.get(task[0].id, 0) + 1
            if crashes[task[0].id] >= 2:
                on_row(_crash_row(task, settings))
            else:
                retry.append(task)


def _crash_row(task: Task, settings: BuildSettings) -> dict:
    item, digest = task
    return {"id": item.id, "source_path": item.path, "content_hash": digest, "status": "internal",
            "error": "the worker process crashed on this input (twice)", "engine_version": __version__,
            "settings_hash": settings.hash(), "texture_size": settings.texture_size, "quality": settings.quality,
            "meta_json": json.dumps(item.meta, sort_keys=True, default=str)}


def _write_info(root: Path, settings: BuildSettings) -> None:
    info = {"format": "ffhquv-dataset", "version": 1, "engine_version": __version__,
            "settings": asdict(settings), "settings_hash": settings.hash()}
    tmp = root / ".tmp-dataset.json"
    tmp.write_text(json.dumps(info, indent=1))
    os.replace(tmp, root / "dataset.json")


def _clean_stale(root: Path) -> None:
    """Temporary item folders of a killed run (this run holds the lock, so no one else writes them)."""
    items = root / "items"
    if items.is_dir():
        for stale in list(items.glob(".tmp-*")) + list(items.glob(".old-*")):
            shutil.rmtree(stale, ignore_errors=True)


@contextmanager
def _lock(root: Path):
    fh = open(root / ".lock", "w")
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as err:
            raise InputError(f"another build is running on {root}") from err
        yield
    finally:
        fh.close()
