"""``build --ray ADDRESS``: the same per-item function (:func:`engine.dataset.item.process_item`) as Ray tasks.

Workers write the item folders straight into DATASET (it must be on storage every node sees, at the
same path); the driver receives the rows and commits the index parts, exactly as with the local pool.
``ADDRESS`` is passed to ``ray.init`` (``auto``, ``ray://head:10001``, ``127.0.0.1:6379``); ``local``
starts a private local Ray with ``workers`` CPUs for this build. Each task asks for 1 CPU; at most
``2 x cluster CPUs`` tasks are in flight, so the driver's memory stays bounded for any source size.
Ray is an optional extra (``pip install -r requirements-dataset.txt`` or ``ffhquv[ray]``).
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

from engine.dataset.item import BuildSettings
from engine.errors import InputError

__all__ = ["run_ray"]

_REPO = str(Path(__file__).resolve().parents[2])
_remote = None


def _task(item, digest: str, settings: BuildSettings, root: str) -> dict:
    """The Ray task body: one-time worker setup (model, one torch thread), then the item."""
    from engine.dataset import item as item_module

    if not getattr(item_module, "_ray_worker_ready", False):
        item_module.init_worker()
        item_module._ray_worker_ready = True
    return item_module.process_item(item, digest, settings, root)


def run_ray(tasks: Iterator, settings: BuildSettings, root: str, workers: int, on_row: Callable[[dict], None],
            address: str = "auto") -> None:
    try:
        import ray
    except ImportError as err:
        raise InputError("--ray needs the ray package", hint="pip install -r requirements-dataset.txt") from err
    global _remote
    started = False
    if not ray.is_initialized():
        env = {"env_vars": {"PYTHONPATH": os.pathsep.join(p for p in (_REPO, os.environ.get("PYTHONPATH")) if p),
                            "OMP_NUM_THREADS": "1"}}
        if address == "local":
            ray.init(num_cpus=max(1, workers), include_dashboard=False, runtime_env=env, log_to_driver=False)
        else:
            ray.init(address=address, runtime_env=env, log_to_driver=False)
        started = True
    try:
        if _remote is None:
            _remote = ray.remote(num_cpus=1, max_retries=1)(_task)
        limit = 2 * max(1, int(ray.cluster_resources().get("CPU", workers or 1)))
        inflight: dict = {}
        tasks = iter(tasks)
        exhausted = False
        while True:
            while not exhausted and len(inflight) < limit:
                task = next(tasks, None)
                if task is None:
                    exhausted = True
                    break
                inflight[_remote.remote(task[0], task[1], settings, root)] = task
            if not inflight:
                return
            done, _ = ray.wait(list(inflight), num_returns=1)
            for ref in done:
                item, digest = inflight.pop(ref)
                try:
                    on_row(ray.get(ref))
                except ray.exceptions.RayError as err:  # the worker died twice: one internal row
                    from engine.dataset.build import _crash_row

                    row = _crash_row((item, digest), settings)
                    row["error"] = f"Ray task failed: {type(err).__name__}"
                    on_row(row)
    finally:
        if started:
            ray.shutdown()
