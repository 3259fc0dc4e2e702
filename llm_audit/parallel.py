"""The one place that decides how a parallel stage shares the cores: how many workers it runs and how many
threads each worker's native libraries (OpenMP, BLAS, torch) may use, so that workers x threads never exceeds
the cores the process may use.

Why one place: every stage used to pick its own. The bootstrap's and the cross-fitting's workers each ran
gradient boosting with OpenMP threads for every core, so on a 2-core machine a 282-text audit with
``--propensity hgb --outcome hgb`` took 299 s instead of 6 s under ``OMP_NUM_THREADS=1`` (gradient boosting on a
few hundred rows with 2 threads on a busy machine ran 50x slower than with 1). The rule here: a stage with
several independent tasks runs them on ``min(cores, tasks)`` workers; the cores left over are shared out as
threads inside each worker (``threadpool_limits``); nested stages get the worker's threads as their budget.

BLAS stays at one thread inside every worker: the nuisance models' design matrices are tall and thin (a few
dozen columns), where a threaded BLAS gains little, and a reduction split over threads may round differently
with their number, which would break the promise that any ``jobs`` gives the same estimates.json bytes.
OpenMP (scikit-learn's gradient boosting) gets the worker's threads: its results do not depend on them.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence, TypeVar

import joblib
from threadpoolctl import threadpool_limits

# Units from which cross-fitting folds of small models are worth worker processes: below it a fold's logistic or
# outcome fit takes less than starting the workers (1,000 units on 2 cores: a logistic audit 3.0 s on one core,
# 5.0 s with its folds on two processes, most of it their start). Gradient-boosting propensity folds use the
# workers at any size (estimate/propensity.py).
PROCESS_FOLDS_FROM = 20_000

T = TypeVar("T")
R = TypeVar("R")


def usable_cores() -> int:
    """Cores this process may use: joblib's count honours the CPU affinity mask (``os.sched_getaffinity``),
    the cgroup CPU quota (``cpu.max`` / ``cpu.cfs_quota_us``) and ``LOKY_MAX_CPU_COUNT``."""
    return max(1, int(joblib.cpu_count()))


def total_threads(jobs: int, cores: int | None = None) -> int:
    """How many cores ``jobs`` asks for, capped at the usable ones: ``-1`` all of them, ``-k`` all but k - 1
    (joblib's convention), a positive number at most the cores (more would only oversubscribe them)."""
    if jobs == 0:
        raise ValueError("jobs: must be a positive number of jobs or negative (-1: all cores), not 0")
    cores = usable_cores() if cores is None else cores
    wanted = cores + 1 + jobs if jobs < 0 else jobs
    return max(1, min(wanted, cores))


@dataclass(frozen=True)
class Layout:
    """``workers`` run a stage's tasks side by side; each may use ``threads`` native threads (and passes them
    on as the ``jobs`` of any stage nested inside it)."""

    workers: int
    threads: int


def thread_cap() -> int | None:
    """The OpenMP thread count the environment sets (``OMP_NUM_THREADS``, its first level), if any: a limit
    someone chose, which no worker exceeds."""
    first = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    return int(first) if first.isdigit() and int(first) > 0 else None


def plan(jobs: int, tasks: int | None = None, *, max_workers: int | None = None, cores: int | None = None) -> Layout:
    """The layout of a stage of ``tasks`` independent tasks under a budget of ``jobs``: as many workers as
    there are tasks (at most the budget, and ``max_workers``, e.g. what memory allows), the rest of the
    budget as threads inside each (at most ``thread_cap``)."""
    total = total_threads(jobs, cores)
    workers = total if tasks is None else max(1, min(total, tasks))
    if max_workers is not None:
        workers = max(1, min(workers, max_workers))
    threads = max(1, total // workers)
    cap = thread_cap()
    return Layout(workers, threads if cap is None else min(threads, cap))


@contextmanager
def worker_limits(threads: int) -> Iterator[None]:
    """Inside one worker: OpenMP limited to ``threads``, BLAS to one (see the module docstring)."""
    with threadpool_limits(limits={"openmp": threads, "blas": 1}):
        yield


def _limited(fn: Callable[[T], R], threads: int) -> Callable[[T], R]:
    def call(item: T) -> R:
        with worker_limits(threads):
            return fn(item)

    return call


def parallel_map(fn: Callable[[T], R], items: Sequence[T], *, jobs: int, processes: bool = False,
                 max_workers: int | None = None) -> list[R]:
    """``[fn(item) for item in items]`` on the layout ``plan(jobs, len(items))``, in order.

    Threads by default: the stages here spend their time in numpy, scikit-learn's compiled code and BLAS,
    which release the GIL, and threads share the arrays without copies. ``processes`` for work that holds
    the GIL (each worker process is limited the same way). One worker runs the items in the calling thread."""
    layout = plan(jobs, len(items), max_workers=max_workers)
    call = _limited(fn, layout.threads)
    if layout.workers == 1:
        return [call(item) for item in items]
    if processes:
        return joblib.Parallel(n_jobs=layout.workers)(joblib.delayed(call)(item) for item in items)
    # BLAS's thread count is global to the process: set once here, not by each thread (their restores race)
    with threadpool_limits(limits=1, user_api="blas"):
        return joblib.Parallel(n_jobs=layout.workers, prefer="threads")(joblib.delayed(call)(item) for item in items)


@contextmanager
def torch_threads(jobs: int = -1) -> Iterator[None]:
    """torch's intra-op threads capped at the cores ``jobs`` asks for, restored afterwards. torch's default
    counts the machine's cores, not the process's share (under a 2-core cgroup quota on a 64-core host it
    would run 64 threads); a lower count someone set (``torch.set_num_threads``) is kept. Tokenization needs no
    cap: the tokenizers library sizes its thread pool from Rust's ``available_parallelism``, which honours the
    affinity mask and the cgroup quota."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(max(1, min(before, total_threads(jobs))))
    try:
        yield
    finally:
        torch.set_num_threads(before)
