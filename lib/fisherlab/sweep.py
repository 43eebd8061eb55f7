"""Executors that train a sweep's missing runs: a local process pool, or Ray.

Both leave their results in the run store, so the caller reads every run back the same way
whatever trained it, a re-launched sweep only does what is missing, and the same configs give
the same results under any executor (each run is seeded by its config alone).

Ray: ``ray.init()`` starts a local cluster when no ``ray_address`` is given; with an address
(``"auto"`` on a node of a running cluster, or ``"ray://head:10001"``) runs go to that cluster.
Every node must have fisherlab installed and see the same run-store folder (a shared file
system). ``gpus_per_run`` may be fractional (0.25: four small runs share one GPU).
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import TYPE_CHECKING

from tqdm.auto import tqdm

from fisherlab.config import TrainConfig, check_choice

if TYPE_CHECKING:
    from fisherlab.runs import RunStore

__all__ = ["EXECUTORS", "train_missing"]

EXECUTORS = ("local", "ray")


def train_missing(
    store: RunStore,
    todo: list[TrainConfig],
    *,
    executor: str = "local",
    workers: int = 2,
    ray_address: str | None = None,
    gpus_per_run: float = 0.0,
    progress: bool = True,
    desc: str = "runs",
) -> dict[str, str]:
    """Train ``todo`` into ``store``; returns {config key: error} for the runs that raised."""
    check_choice("executor", executor, EXECUTORS)
    if not todo:
        return {}
    if executor == "ray":
        return _ray(store, todo, ray_address, gpus_per_run, progress, desc)
    return _pool(store, todo, workers, progress, desc)


def _pool(
    store: RunStore, todo: list[TrainConfig], workers: int, progress: bool, desc: str
) -> dict[str, str]:
    from fisherlab.runs import _run_in_worker

    failed: dict[str, str] = {}
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(min(workers, len(todo)), mp_context=ctx) as pool:
        futures = {pool.submit(_run_in_worker, str(store.root), c.to_dict()): c for c in todo}
        done = tqdm(
            as_completed(futures), total=len(futures), desc=desc, unit="run", disable=not progress
        )
        for future in done:
            if future.exception() is not None:
                failed[futures[future].key()] = repr(future.exception())
    return failed


def _ray(
    store: RunStore,
    todo: list[TrainConfig],
    address: str | None,
    gpus_per_run: float,
    progress: bool,
    desc: str,
) -> dict[str, str]:
    try:
        import ray
    except ImportError as err:
        raise ImportError("executor='ray' needs Ray: pip install 'fisherlab[ray]'") from err
    from fisherlab.runs import _run_in_worker

    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    task = ray.remote(num_cpus=1, num_gpus=gpus_per_run, max_retries=0)(_run_in_worker)
    pending = {task.remote(str(store.root), c.to_dict()): c for c in todo}
    failed: dict[str, str] = {}
    bar = tqdm(total=len(pending), desc=desc, unit="run", disable=not progress)
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        for ref in ready:
            config = pending.pop(ref)
            try:
                ray.get(ref)
            except Exception as err:  # a failed run is recorded; the sweep goes on
                failed[config.key()] = repr(err)
            bar.update(1)
    bar.close()
    return failed
