"""Executors that train a sweep's missing runs: a local process pool, or Ray.

Both leave their results in the run store, so the caller reads every run back the same way
whatever trained it, a re-launched sweep only does what is missing, and the same configs give
the same results under any executor (each run is seeded by its config alone).

Ctrl-C stops a sweep and loses nothing, whoever receives it. In a terminal it reaches every
process of the group; in JupyterLab ("interrupt the kernel") only the notebook's process, which
passes it on to the pool's workers (Ray: cancels the tasks). Either way each running run rolls
back to its last step boundary and checkpoints, the queued runs are cancelled, and
KeyboardInterrupt is raised to the caller; the next call resumes. A worker acts on its first
SIGINT only, so the one passed on does not cut short the checkpoint the first one started.

Ray: ``ray.init()`` starts a local cluster when no ``ray_address`` is given; with an address
(``"auto"`` on a node of a running cluster, or ``"ray://head:10001"``) runs go to that cluster.
Every node must have fisherlab installed and see the same run-store folder (a shared file
system). ``gpus_per_run`` may be fractional (0.25: four small runs share one GPU).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from fisherlab.config import TrainConfig, check_choice
from fisherlab.runs import RunStore, run_in_worker
from fisherlab.training import RunResult

__all__ = ["EXECUTORS", "run_all", "train_missing"]

EXECUTORS = ("local", "ray")
_POLL_S = 0.5  # how often a waiting sweep returns to Python (so a Ctrl-C is acted on)


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


_stop: Any = None  # in a pool worker: the sweep's stop event (set once the sweep is interrupted)
_running = False  # in a pool worker: whether a run is executing
_interrupted = False  # in a pool worker: whether it got a Ctrl-C (then it starts no more runs)


def _init_worker(stop: Any) -> None:
    """Pool-worker initializer. The first SIGINT marks the worker interrupted: a run executing
    then raises KeyboardInterrupt (and checkpoints), and the worker starts no further run, even
    one handed to it before the notebook's process set the stop event. Later SIGINTs are
    ignored, so the one the sweep passes on does not cut that checkpoint short; an idle worker
    does not die of it (its death would break the pool, which then terminates the others)."""
    global _stop
    _stop = stop

    def handler(signum: int, frame: object) -> None:
        global _interrupted
        _interrupted = True
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if _running:
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handler)


def _worker(root: str, config: dict[str, Any]) -> None:
    """One run in a pool worker, unless the sweep or this worker was interrupted before."""
    global _running
    if _interrupted or _stop.is_set():
        raise KeyboardInterrupt("the sweep was interrupted before this run started")
    _running = True
    try:
        run_in_worker(root, config)
    finally:
        _running = False


def _pool(
    store: RunStore, todo: list[TrainConfig], workers: int, progress: bool, desc: str
) -> dict[str, str]:
    failed: dict[str, str] = {}
    ctx = multiprocessing.get_context("spawn")
    stop = ctx.Event()
    pool = ProcessPoolExecutor(
        min(workers, len(todo)), mp_context=ctx, initializer=_init_worker, initargs=(stop,)
    )
    futures: dict[Future, TrainConfig] = {}
    bar = tqdm(total=len(todo), desc=desc, unit="run", disable=not progress)
    try:
        futures = {pool.submit(_worker, str(store.root), c.to_dict()): c for c in todo}
        pending = set(futures)
        while pending:
            # short waits: a Ctrl-C the OS hands to another thread than this one only runs its
            # handler once this thread executes Python again; an unbounded wait would hold it
            # until the next run finished
            done, pending = wait(pending, timeout=_POLL_S, return_when=FIRST_COMPLETED)
            for future in done:
                err = future.exception()
                if isinstance(err, KeyboardInterrupt):  # a worker got the Ctrl-C: stop
                    raise KeyboardInterrupt(f"run {futures[future].key()} interrupted")
                if err is not None:
                    failed[futures[future].key()] = repr(err)
                bar.update(1)
    except KeyboardInterrupt:
        stop.set()  # runs already handed to a worker do not start
        for future in futures:
            future.cancel()  # the queued runs; the running ones are interrupted below
        # the executor exposes no public handle on its processes
        for process in list((pool._processes or {}).values()):
            if process.is_alive():
                os.kill(process.pid, signal.SIGINT)
        raise
    finally:
        bar.close()
        pool.shutdown(wait=True, cancel_futures=True)
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
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    task = ray.remote(num_cpus=1, num_gpus=gpus_per_run, max_retries=0)(run_in_worker)
    pending = {task.remote(str(store.root), c.to_dict()): c for c in todo}
    failed: dict[str, str] = {}
    bar = tqdm(total=len(pending), desc=desc, unit="run", disable=not progress)
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=_POLL_S)  # see _pool
            for ref in ready:
                config = pending.pop(ref)
                try:
                    ray.get(ref)
                except Exception as err:  # a failed run is recorded; the sweep goes on
                    failed[config.key()] = repr(err)
                bar.update(1)
    except KeyboardInterrupt:
        for ref in pending:  # KeyboardInterrupt in each running task: it checkpoints
            ray.cancel(ref)
        ray.wait(list(pending), num_returns=len(pending), timeout=60)
        raise
    finally:
        bar.close()
    return failed


_EMPTY = pd.DataFrame(columns=["step", "epoch", "metric", "value"])


def run_all(
    store: RunStore,
    configs: Iterable[TrainConfig],
    *,
    executor: str = "local",
    workers: int = 1,
    ray_address: str | None = None,
    gpus_per_run: float = 0.0,
    progress: bool = True,
    desc: str = "runs",
) -> list[RunResult]:
    """Every config's finished run, in order; the missing ones trained by ``executor``.

    ``local`` with ``workers=1`` trains in this process, one run after another, each with its
    own progress bar; with ``workers>1`` in a pool of that many processes. Each run uses its
    config's ``threads`` whatever trains it, so the executor never changes a number. ``ray``
    sends each missing run to a Ray cluster. A run that raises is reported with status
    ``failed`` (its error in the summary) and the others go on; a diverging run is an ordinary
    finished record with status ``diverged``.
    """
    check_choice("executor", executor, EXECUTORS)
    configs = list(configs)
    todo = list({c.key(): c for c in configs if not store.is_done(c)}.values())
    store.plan(todo)  # `python -m fisherlab.runs status` then lists the queued runs too
    failed: dict[str, str] = {}
    if executor != "local" or (workers > 1 and len(todo) > 1):
        failed = train_missing(
            store,
            todo,
            executor=executor,
            workers=workers,
            ray_address=ray_address,
            gpus_per_run=gpus_per_run,
            progress=progress,
            desc=desc,
        )
    results = []
    for c in configs:
        if c.key() in failed:
            results.append(
                RunResult(c, _EMPTY.copy(), {"status": "failed", "error": failed[c.key()]})
            )
            continue
        try:
            results.append(store.run(c, progress=progress))
        except Exception as err:
            results.append(RunResult(c, _EMPTY.copy(), {"status": "failed", "error": repr(err)}))
    return results
